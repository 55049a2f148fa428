"""The command line: parse flags, call the library, print, pick the exit code. No workbook code here."""

from __future__ import annotations

import datetime as dt
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import XlplanError

ISSUE_URL = "the xlplan maintainers (include the command and this message)"


class XlplanGroup(click.Group):
    """Turns XlplanError into a message and an exit code; anything else into one line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except XlplanError as exc:
            click.echo(f"xlplan: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("xlplan: interrupted; nothing was half-written.", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last guard before a user sees a traceback
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(
                f"xlplan: unexpected error in `{ctx.invoked_subcommand}`: {type(exc).__name__}: "
                f"{exc}. Please report it to {ISSUE_URL}; rerun with --debug for details.",
                err=True)
            ctx.exit(3)


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    from .dates import parse_date_option

    try:
        return parse_date_option(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _print_problems(problems, *, limit: int = 40, err: bool = True) -> None:
    """Errors and warnings one by one; routine notes (info) counted by kind, with an example."""
    serious = [p for p in problems if p.severity != "info"]
    for problem in serious[:limit]:
        click.echo("  " + problem.line(), err=err)
    if len(serious) > limit:
        click.echo(f"  … and {len(serious) - limit} more (use --json for all).", err=err)
    by_code: dict[str, list] = {}
    for problem in problems:
        if problem.severity == "info":
            by_code.setdefault(problem.code, []).append(problem)
    for code, group in by_code.items():
        more = f" ({len(group)} like this)" if len(group) > 1 else ""
        click.echo(f"  {group[0].line()}{more}", err=err)


@click.group(cls=XlplanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xlplan")
@click.option("--debug", is_flag=True, help="Show the full traceback of an unexpected error.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Issue locked action-plan workbooks to services, validate what comes back, and merge it
    into a consolidated master.

    \b
    The round trip:
      xlplan import plan-as-we-have-it.xlsx -o plan.xlsx
      xlplan template plan.xlsx -o outbox/ --cycle 2025-Q1 --due 2025-03-31
      (services fill in their workbooks and send them back)
      xlplan validate inbox/ --plan plan.xlsx
      xlplan merge plan.xlsx inbox/ -o consolidated.xlsx
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@main.command()
@click.option("--show", "show", metavar="NAME", help="Print one layout's columns and scale.")
def layouts(show: str | None) -> None:
    """List the built-in layouts (or show one)."""
    from .layout import builtin_layouts, load_layout

    if show:
        layout, _ = load_layout(show)
        click.echo(f"{layout.name}: {layout.description or layout.title}")
        click.echo(f"  sheet {layout.sheet!r}; reference column {layout.column(layout.reference).header!r}; "
                   f"routed by {layout.column(layout.route).header!r}")
        for column in layout.columns:
            click.echo(f"  {column.owner:<9} {column.type:<9} {column.field:<24} {column.header[:70]}")
        click.echo("  ratings: " + ", ".join(r.value for r in layout.ratings))
        return
    for name, path in builtin_layouts().items():
        layout, _ = load_layout(path)
        click.echo(f"{name:<8} {len(layout.columns):>2} columns  {layout.description or layout.title}")


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The master workbook to write.")
@click.option("--layout", "layout_name", default="cqc", show_default=True,
              help="A built-in layout name or a .toml layout file.")
@click.option("--title", help="The plan's title (default: the layout's).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def new(output: Path, layout_name: str, title: str | None, force: bool) -> None:
    """Write an empty master plan."""
    from .importer import new_plan

    _refuse_overwrite(output, force)
    plan = new_plan(output, layout_name=layout_name, title=title)
    click.echo(f"Wrote an empty {plan.layout.name} plan to {output}. Add actions on the "
               f"{plan.layout.sheet!r} sheet, then run `xlplan template {output} -o outbox/`.")


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise XlplanError(f"{path} exists; choose another -o or add --force to overwrite it.", 2)


@main.command(name="import")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The master workbook to write.")
@click.option("--layout", "layout_name", default="cqc", show_default=True,
              help="A built-in layout name or a .toml layout file.")
@click.option("--title", help="The plan's title (default: the source's title row).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def import_(source: Path, output: Path, layout_name: str, title: str | None, force: bool) -> None:
    """Build a master plan from an existing plan (.xlsx, .xls, .ods or .csv)."""
    from .importer import import_plan

    _refuse_overwrite(output, force)
    result = import_plan(source, output, layout_name=layout_name, title=title)
    where = f"sheet {result.source_sheet!r}, " if result.source_sheet else ""
    click.echo(f"Imported {result.actions} actions from {source} ({where}header on row "
               f"{result.header_row}) into {output}.")
    click.echo(f"{len(result.services)} services: " + ", ".join(
        f"{name} ({count})" for name, count in result.services.items()))
    if result.problems:
        click.echo(f"{len(result.problems)} note(s):", err=True)
        _print_problems(result.problems)
    if any(p.is_error for p in result.problems):
        sys.exit(1)


@main.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The folder to write one workbook per service into.")
@click.option("--cycle", help="A label for this round, e.g. 2025-Q1 (default: this month).")
@click.option("--due", callback=_date, help="The date services must return by (31/03/2025).")
@click.option("--service", "services", multiple=True, help="Only this service (repeatable).")
@click.option("--password", default="", help="Password for the sheet and workbook protection.")
def template(plan: Path, outdir: Path, cycle: str | None, due: dt.date | None,
             services: tuple[str, ...], password: str) -> None:
    """Write one locked workbook per service from the master PLAN."""
    from .template import issue_templates

    result = issue_templates(plan, outdir, cycle=cycle, due=due, services=list(services) or None,
                             password=password)
    for issued in result.files:
        click.echo(f"  {issued.path}  {issued.service}: {issued.actions} action(s)")
    click.echo(f"Wrote {len(result.files)} service workbook(s) to {outdir}.")
    notes = [p for p in result.problems if p.severity != "info"]
    if notes:
        click.echo(f"{len(notes)} note(s):", err=True)
        _print_problems(notes)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--plan", type=click.Path(dir_okay=False, path_type=Path),
              help="Check against the master: same plan, known service, locked cells as issued.")
@click.option("--as-of", callback=_date, help="The date overdue is judged against (default today).")
@click.option("--cycle", help="Warn about returns issued for another cycle.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--annotate", type=click.Path(file_okay=False, path_type=Path),
              help="Write a copy of each return with its problem cells marked into this folder.")
def validate(files: tuple[Path, ...], plan: Path | None, as_of: dt.date | None, cycle: str | None,
             as_json: bool, annotate: Path | None) -> None:
    """Check returned workbooks (files or folders) and say exactly what is wrong.

    Exit 0: no errors (warnings allowed); 1: errors found; 2: a file could not be read.
    """
    from .validate import validate as run_validate

    result = run_validate(list(files), plan=plan, as_of=as_of, cycle=cycle)
    if annotate:
        from .annotate import annotate as write_annotated

        for checked in result.checked:
            target = write_annotated(checked, annotate)
            if target and not as_json:
                click.echo(f"  annotated copy: {target}")
    if as_json:
        click.echo(result.to_model().model_dump_json(indent=2))
    else:
        for checked in result.checked:
            ret = checked.ret
            counts = _counts(checked.problems)
            who = f"{ret.service}, cycle {ret.cycle}" if ret.service else "service unknown"
            click.echo(f"{ret.path}: {checked.status.upper()} ({who}){counts}")
            _print_problems(checked.problems, err=False)
        for skipped in result.skipped:
            click.echo(f"{skipped.file}: skipped: {skipped.message}")
        if not result.checked:
            click.echo("No workbooks found to validate.", err=True)
    sys.exit(result.exit_code if result.checked else 2)


def _counts(problems) -> str:
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = sum(1 for p in problems if p.severity == "warning")
    parts = [f"{errors} error(s)"] if errors else []
    parts += [f"{warnings} warning(s)"] if warnings else []
    return (": " + ", ".join(parts)) if parts else ""


if __name__ == "__main__":
    main()
