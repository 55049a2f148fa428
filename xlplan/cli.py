"""The command line: parse flags, call the library, print, pick the exit code. No workbook code here."""

from __future__ import annotations

import datetime as dt
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import XlplanError
from .problems import plural

ISSUE_URL = "the xlplan maintainers (include the command and this message)"


class XlplanGroup(click.Group):
    """Turns XlplanError into a message and an exit code; anything else into one line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except XlplanError as exc:
            click.echo(f"xlplan: {exc.message}", err=True)
            if ctx.obj and ctx.obj.get("debug") and exc.__cause__ is not None:
                # The library's own words, for whoever reports a problem; never shown otherwise.
                cause = exc.__cause__
                click.echo(f"  (--debug: {type(cause).__name__}: {cause})", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`xlplan validate … | head`): stop quietly, as Unix tools do.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("xlplan: interrupted; nothing was half-written.", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last guard before a user sees a traceback
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            text = " ".join(str(exc).split())  # one line, whatever the exception holds
            click.echo(
                f"xlplan: unexpected error in `{ctx.invoked_subcommand}`{_failed_on(ctx, exc)}: "
                f"{type(exc).__name__}: {text}. Please report it to {ISSUE_URL}; rerun with "
                "--debug for details.",
                err=True,
            )
            ctx.exit(3)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["xlplan.args"] = list(args)  # for naming the files in an unexpected error
        return super().parse_args(ctx, args)


def _failed_on(ctx: click.Context, exc: Exception) -> str:
    """Which file it failed on: the one the library was working on (an exception note such as
    "while checking inbox/CHS.xlsx"), else the files and folders the command was given."""
    notes = [n for n in getattr(exc, "__notes__", ()) if n.startswith("while ")]
    if notes:
        return " " + notes[-1]
    paths = [
        a
        for a in ctx.meta.get("xlplan.args", [])
        if a != ctx.invoked_subcommand and not a.startswith("-") and Path(a).exists()
    ]
    return f" on {', '.join(paths)}" if paths else ""


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
    for group in by_code.values():
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

    \b
    By email: `template … --drafts` writes a draft per service to send; the
    inbox may hold saved emails (.eml, .msg) or a .zip; `chase` drafts reminders.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@main.command()
@click.option("--show", "show", metavar="NAME", help="Print one layout's columns and scale.")
@click.option(
    "--toml",
    "as_toml",
    is_flag=True,
    help="With --show: print the whole layout file, every key explained, to start your own.",
)
@click.option(
    "--check",
    "check",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check a layout file and say what is wrong with it, key by key.",
)
def layouts(show: str | None, as_toml: bool, check: Path | None) -> None:
    """List the built-in layouts (or show one, or check your own)."""
    from .layout import LAYOUT_GUIDE, builtin_layouts, load_layout

    if check:
        if not check.is_file():
            raise XlplanError(f"Layout file {check} not found.")
        layout, _ = load_layout(check)
        click.echo(
            f"{check}: a valid layout {layout.name!r}: {len(layout.columns)} columns "
            f"({len(layout.service_fields)} filled in by services), routed by "
            f"{layout.column(layout.route).header!r}, ratings " + ", ".join(layout.rating_values) + "."
        )
        return
    if as_toml and not show:
        raise XlplanError("--toml prints one layout: add --show NAME (e.g. --show cqc --toml).")
    if show:
        layout, text = load_layout(show)
        if as_toml:
            click.echo(LAYOUT_GUIDE + text, nl=False)
            return
        click.echo(f"{layout.name}: {layout.description or layout.title}")
        click.echo(
            f"  sheet {layout.sheet!r}; reference column {layout.column(layout.reference).header!r}; "
            f"routed by {layout.column(layout.route).header!r}"
        )
        for column in layout.columns:
            click.echo(f"  {column.owner:<9} {column.type:<9} {column.field:<24} {column.header[:70]}")
        click.echo("  ratings: " + ", ".join(r.value for r in layout.ratings))
        click.echo(f"  (the whole file: xlplan layouts --show {show} --toml)")
        return
    for name, path in builtin_layouts().items():
        layout, _ = load_layout(path)
        click.echo(f"{name:<8} {len(layout.columns):>2} columns  {layout.description or layout.title}")


def _master_options(title_default: str):
    """The options of every command that writes a new master (new, import)."""

    def decorate(command):
        for option in reversed(
            [
                click.option(
                    "-o",
                    "--output",
                    type=click.Path(dir_okay=False, path_type=Path),
                    required=True,
                    help="The master workbook to write.",
                ),
                click.option(
                    "--layout",
                    "layout_name",
                    default="cqc",
                    show_default=True,
                    help="A built-in layout name or a .toml layout file.",
                ),
                click.option("--title", help=f"The plan's title (default: {title_default})."),
                click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists."),
            ]
        ):
            command = option(command)
        return command

    return decorate


@main.command()
@_master_options("the layout's")
@click.option(
    "--contacts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Load the Services sheet (service, contact names, email addresses, cc) from a CSV.",
)
def new(output: Path, layout_name: str, title: str | None, force: bool, contacts: Path | None) -> None:
    """Write an empty master plan."""
    from .importer import new_plan

    _refuse_overwrite(output, force)
    plan = new_plan(output, layout_name=layout_name, title=title)
    _load_contacts(output, contacts)
    click.echo(
        f"Wrote an empty {plan.layout.name} plan to {output}. Add actions on the "
        f"{plan.layout.sheet!r} sheet, then run `xlplan template {output} -o outbox/`."
    )


def _load_contacts(plan: Path, contacts: Path | None) -> None:
    """--contacts FILE.csv on a master just written: its Services sheet filled from the file."""
    if contacts is None:
        return
    from .send import update_services

    update = update_services(plan, contacts, keep_backup=False)
    click.echo(f"Loaded {update.loaded} service contact(s) from {contacts} into the Services sheet.")
    _print_contact_problems(update.plan.contacts, update.problems)


def _print_contact_problems(contacts, problems) -> None:
    without = [c.service for c in contacts if not c.to]
    if problems:
        click.echo(f"{len(problems)} address problem(s):", err=True)
        _print_problems(problems)
    if without:
        click.echo(f"No email address on the Services sheet for: {', '.join(without)}.", err=True)


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise XlplanError(f"{path} exists; choose another -o or add --force to overwrite it.", 2)


@main.command(name="import")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@_master_options("the source's title row")
@click.option(
    "--contacts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Load the Services sheet (service, contact names, email addresses, cc) from a CSV.",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar='"HEADER=FIELD"',
    help="Read your column HEADER as the layout's FIELD (or header), e.g. "
    '--map "Responsible Lead=owner". Repeatable.',
)
@click.option(
    "--route",
    metavar="COLUMN",
    help="The column that routes actions to services (a layout field or header, or a column of your source).",
)
@click.option(
    "--map-rating",
    "rating_maps",
    multiple=True,
    metavar='"TEXT=VALUE"',
    help='Read the rating TEXT as the scale VALUE, e.g. --map-rating "Complete=Blue". Repeatable.',
)
def import_(
    source: Path,
    output: Path,
    layout_name: str,
    title: str | None,
    force: bool,
    maps: tuple[str, ...],
    route: str | None,
    rating_maps: tuple[str, ...],
    contacts: Path | None,
) -> None:
    """Build a master plan from an existing plan (.xlsx, .xls, .ods or .csv).

    Exit 0: imported; 1: imported, with errors to look at; 2: nothing written (the source
    cannot be read, or its reference, routing or action column was not found).
    """
    from .importer import import_plan

    _refuse_overwrite(output, force)
    result = import_plan(
        source,
        output,
        layout_name=layout_name,
        title=title,
        maps=list(maps),
        route=route,
        rating_map=list(rating_maps),
    )
    _load_contacts(output, contacts)
    where = f"sheet {result.source_sheet!r}, " if result.source_sheet else ""
    click.echo(
        f"Imported {result.actions} actions from {source} ({where}header on row "
        f"{result.header_row}) into {output}."
    )
    exact = [c for c in result.columns if c.how == "header"]
    click.echo(
        f"Columns: {len(exact)} of {len(result.columns)} under the layout's own header"
        + ("; the others:" if len(exact) < len(result.columns) else ".")
    )
    for c in result.columns:
        if c.how == "kept":
            click.echo(
                f"  {c.letter} {c.source!r} kept as the central column {c.header!r} (not issued to services)"
            )
        elif c.how != "header":
            click.echo(f"  {c.letter} {c.source!r} -> {c.header!r} ({c.how})")
    for line in result.skipped_summary():
        click.echo(line[0].upper() + line[1:] + ".")
    if result.carried_sheets:
        click.echo("Kept sheets as they are: " + ", ".join(repr(s) for s in result.carried_sheets) + ".")
    click.echo(
        f"{plural(len(result.services), 'service')}: "
        + ", ".join(f"{name} ({count})" for name, count in result.services.items())
        + f" (routed by {result.route_header!r})"
    )
    shown = [p for p in result.problems if p.code not in ("skipped-row", "sheet-kept")]
    if shown:
        click.echo(f"{len(shown)} note(s):", err=True)
        _print_problems(shown)
    if any(p.is_error for p in result.problems):
        sys.exit(1)


@main.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder to write one workbook per service into.",
)
@click.option("--cycle", help="A label for this round, e.g. 2025-Q1 (default: this month).")
@click.option("--due", callback=_date, help="The date services must return by (31/03/2025).")
@click.option("--service", "services", multiple=True, help="Only this service (repeatable).")
@click.option("--password", default="", help="Password for the sheet and workbook protection.")
@click.option(
    "--drafts", is_flag=True, help="Also write one email draft (.eml, opens unsent in Outlook) per service."
)
@click.option(
    "--message",
    "message_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The drafts' text, with {service} {plan} {cycle} {due} {actions}; a first "
    "line 'Subject: …' sets the subject.",
)
@click.option(
    "--contacts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Load the Services sheet of PLAN from a CSV first.",
)
def template(
    plan: Path,
    outdir: Path,
    cycle: str | None,
    due: dt.date | None,
    services: tuple[str, ...],
    password: str,
    drafts: bool,
    message_file: Path | None,
    contacts: Path | None,
) -> None:
    """Write one locked workbook per service from the master PLAN."""
    from .send import load_message, update_services, write_drafts
    from .template import issue_templates

    message = load_message(message_file) if drafts or message_file else None
    update = update_services(plan, contacts)
    if update.written:
        what = [f"loaded {update.loaded} contact(s) from {contacts}"] if contacts else []
        what += [f"added {', '.join(update.added)}"] if update.added else []
        kept = f"; the previous master is kept as {update.backup}" if update.backup else ""
        click.echo(f"Updated the Services sheet of {plan} ({'; '.join(what) or 'rewritten'}){kept}.")
    elif update.not_written:
        click.echo(
            f"Note: the Services sheet of {plan} lacks {', '.join(update.added)}, and could "
            f"not be updated: {update.not_written}",
            err=True,
        )
    result = issue_templates(
        plan,
        outdir,
        cycle=cycle,
        due=due,
        services=list(services) or None,
        password=password,
        read=(update.plan, update.read_from),
    )
    for issued in result.files:
        click.echo(f"  {issued.path}  {issued.service}: {issued.actions} action(s)")
    click.echo(f"Wrote {len(result.files)} service workbook(s) to {outdir}.")
    click.echo(
        f"Recorded what was issued in {plan}, so returns are judged against it"
        + (f" (the previous master is kept as {result.backup.name})." if result.backup else ".")
    )
    if message is not None:
        written, no_address = write_drafts(update.plan, result, message)
        click.echo(
            f"Wrote {len(written)} email draft(s) (.eml) beside them: open each in Outlook, "
            "check it and send it. xlplan sends nothing itself."
        )
        if no_address:
            click.echo(
                "No address, so the To of these drafts is empty: "
                + ", ".join(p.service or "" for p in no_address)
                + ".",
                err=True,
            )
    notes = [
        p for p in result.problems + update.problems if p.severity != "info" or p.code == "joint-action-split"
    ]
    if notes:
        click.echo(f"{len(notes)} note(s):", err=True)
        _print_problems(notes)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--plan",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check against the master: same plan, known service, locked cells as issued.",
)
@click.option("--as-of", callback=_date, help="The date overdue is judged against (default today).")
@click.option("--cycle", help="Warn about returns issued for another cycle.")
@click.option(
    "--accept-cycle", metavar="LABEL", help="Accept returns of this earlier cycle instead of refusing them."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--annotate",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write a copy of each return with its problem cells marked into this folder.",
)
def validate(
    files: tuple[Path, ...],
    plan: Path | None,
    as_of: dt.date | None,
    cycle: str | None,
    accept_cycle: str | None,
    as_json: bool,
    annotate: Path | None,
) -> None:
    """Check returned workbooks (files or folders) and say exactly what is wrong.

    Exit 0: no errors (warnings allowed); 1: errors found; 2: a file could not be read.
    """
    from .mail import shown_path
    from .validate import validate as run_validate

    if annotate:
        from .annotate import refuse_inbox_as_outdir

        refuse_inbox_as_outdir(annotate, list(files))
    result = run_validate(list(files), plan=plan, as_of=as_of, cycle=cycle, accept_cycle=accept_cycle)
    if annotate:
        from .annotate import annotate as write_annotated

        for checked in result.checked:
            target = write_annotated(checked, annotate)
            if target and not as_json:
                kind = checked.ret.path.suffix.lower()
                how = "" if kind in (".xlsx", ".xlsm") else f" (an .xlsx of the {kind}'s values)"
                click.echo(f"  annotated copy: {target}{how}")
    if as_json:
        click.echo(result.to_json())
    else:
        for checked in result.checked:
            ret = checked.ret
            counts = _counts(checked.problems)
            who = f"{ret.service}, cycle {ret.cycle}" if ret.service else "service unknown"
            click.echo(f"{shown_path(ret.path)}: {checked.status.upper()} ({who}){counts}")
            _print_problems(checked.problems, err=False)
        for skipped in result.skipped:
            click.echo(f"{skipped.file}: skipped: {skipped.message}")
        if not result.checked:
            click.echo("No workbooks found to validate.", err=True)
        if plan is not None:
            due = f" (due {result.due:%d/%m/%Y})" if result.due else ""
            click.echo(
                f"No return yet from: {', '.join(result.awaiting)}{due}."
                if result.awaiting
                else f"Every service issued has returned{due}."
            )
    if plan is None and result.checked:
        click.echo(
            "Note: without --plan each return was judged by the layout hidden in the file "
            "itself, which the sender can change. Give --plan MASTER to judge returns by "
            "the master.",
            err=True,
        )
    sys.exit(result.exit_code if result.checked else 2)


def _counts(problems) -> str:
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = sum(1 for p in problems if p.severity == "warning")
    parts = [f"{errors} error(s)"] if errors else []
    parts += [f"{warnings} warning(s)"] if warnings else []
    return (": " + ", ".join(parts)) if parts else ""


@main.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("inbox", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the consolidated master here (default: update PLAN, keeping a copy).",
)
@click.option("--as-of", callback=_date, help="The date overdue is judged against (default today).")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a machine-readable report to this file.",
)
@click.option("--strict", is_flag=True, help="Exit 1 when any error or warning was found.")
@click.option(
    "--accept-cycle", metavar="LABEL", help="Merge returns of this earlier cycle instead of refusing them."
)
def merge(
    plan: Path,
    inbox: tuple[Path, ...],
    output: Path | None,
    as_of: dt.date | None,
    json_path: Path | None,
    strict: bool,
    accept_cycle: str | None,
) -> None:
    """Merge the returns in INBOX (folders or files) into the master PLAN.

    Exit 0: written; 1: written, but --strict and problems were found; 2: nothing written.
    """
    from .merge import merge as run_merge

    bar = _ProgressBar()
    try:
        result = run_merge(
            plan, list(inbox), output=output, as_of=as_of, progress=bar.update, accept_cycle=accept_cycle
        )
    finally:
        bar.close()
    problems = result.problems
    click.echo(
        f"Read {result.returns_read} return(s): {len(result.changes)} cell(s) changed, "
        f"{result.refused} refused, {result.conflicts} conflict(s), "
        f"{sum(1 for s in result.statuses if not s.returned)} service(s) with no return."
    )
    if problems:
        _print_merge_problems(problems)
    if result.backup:
        click.echo(f"The previous master is kept as {result.backup}.")
    click.echo(
        f"Wrote {result.output}: open it and start with the Summary sheet; changed cells "
        "are highlighted on the plan sheet with the previous value in their note."
    )
    if json_path:
        from .report_json import merge_json

        try:
            json_path.write_text(merge_json(result), encoding="utf-8")
        except OSError as exc:
            raise XlplanError(f"Cannot write {json_path}: {exc.strerror or exc}.") from exc
    serious = [p for p in problems if p.severity in ("error", "warning")]
    sys.exit(1 if strict and serious else 0)


def _print_merge_problems(problems, limit: int = 25) -> None:
    """Errors one by one (they were refused); the rest counted by kind and service."""
    errors = [p for p in problems if p.severity == "error"]
    for problem in errors[:limit]:
        click.echo(f"  {problem.file or problem.service or ''}: {problem.line()}", err=True)
    if len(errors) > limit:
        click.echo(
            f"  … and {plural(len(errors) - limit, 'more error', 'more errors')}: see the Issues sheet.",
            err=True,
        )
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for problem in problems:
        if problem.severity != "error":
            by_service = groups.setdefault((str(problem.severity), problem.code), {})
            key = problem.service or problem.file or "plan"
            by_service[key] = by_service.get(key, 0) + 1
    for (severity, code), by_service in groups.items():
        detail = ", ".join(f"{name} {count}" for name, count in by_service.items())
        click.echo(f"  {severity}: [{code}] x{sum(by_service.values())} ({detail})", err=True)
    if groups:
        click.echo("  (every problem is listed on the Issues sheet)", err=True)


class _ProgressBar:
    """A progress bar on stderr while many returns are read, only when stderr is a terminal."""

    def __init__(self) -> None:
        self._bar = None

    def update(self, path: Path, index: int, total: int) -> None:
        if not sys.stderr.isatty() or total < 5:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label="Reading returns", file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@main.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("inbox", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder to write one reminder draft (.eml) per chased service into.",
)
@click.option("--as-of", callback=_date, help="The date overdue is judged against (default today).")
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder `xlplan template` wrote: each reminder attaches the workbook again, "
    "and the due date is read from it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON on stdout.")
def chase(
    plan: Path,
    inbox: tuple[Path, ...],
    outdir: Path,
    as_of: dt.date | None,
    outbox: Path | None,
    as_json: bool,
) -> None:
    """Draft a reminder to each service that has not returned by the due date, whose return
    was refused, or that has overdue actions (INBOX: the returns so far, folders or files)."""
    from .chase import chase as run_chase

    result = run_chase(plan, list(inbox), outdir, as_of=as_of, outbox=outbox)
    if as_json:
        click.echo(result.to_json())
    else:
        for chased in result.chased:
            to = "; ".join(chased.to) or "(no address)"
            click.echo(f"{chased.service}: {' '.join(chased.reasons)}")
            click.echo(f"  to {to}: {chased.draft}")
            for item in chased.overdue[:10]:
                click.echo(f"  - {item.reference}: {item.action[:60]} (due {item.due:%d/%m/%Y})")
            if len(chased.overdue) > 10:
                click.echo(f"  … and {len(chased.overdue) - 10} more overdue (see the draft).")
        click.echo(
            f"{len(result.chased)} reminder draft(s) written to {outdir}"
            if result.chased
            else "Nobody to chase: every service has returned and nothing is overdue."
        )
    if result.problems:
        _print_problems(result.problems)


@main.command()
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write NEW's plan highlighted against OLD to this workbook.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def diff(old: Path, new: Path, output: Path | None, as_json: bool) -> None:
    """What changed between two versions of a master."""
    from .diff import diff as run_diff
    from .diff import diff_json, write_diff

    result = run_diff(old, new)
    if as_json:
        click.echo(diff_json(result))
    else:
        click.echo(
            f"{len(result.changed)} cell(s) changed, {len(result.added)} action(s) added, "
            f"{len(result.removed)} removed."
        )
        from .excel import display
        from .problems import short

        for c in result.changed[:50]:
            click.echo(
                f"  {c.action}  {short(c.column, 40)}: {short(display(c.old), 40)!r} -> "
                f"{short(display(c.new), 40)!r}"
            )
        if len(result.changed) > 50:
            click.echo(f"  … and {len(result.changed) - 50} more (use -o or --json).")
        for a in result.added:
            click.echo(f"  added {result.new.ref(a)}")
        for a in result.removed:
            click.echo(f"  removed {result.old.ref(a)}")
    if output:
        write_diff(result, output)
        click.echo(f"Wrote {output}.", err=as_json)


# --- the committee pack (#17) -------------------------------------------------------------
@main.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the committee pack (a PDF) here.",
)
@click.option("--as-of", callback=_date, help="The date overdue is judged against (default today).")
@click.option(
    "--stuck-days",
    type=click.IntRange(min=0),
    default=90,
    show_default=True,
    help="An action overdue by more than this many days is listed as stuck.",
)
def report(plan: Path, output: Path, as_of: dt.date | None, stuck_days: int) -> None:
    """Write the committee pack for the consolidated master PLAN: summary, progress over
    cycles, exceptions and this cycle's changes, as a PDF to print."""
    from .pack import report as run_report

    result = run_report(plan, output, as_of=as_of, stuck_days=stuck_days)
    listed = ", ".join(f"{count} {name.lower()}" for name, count in result.exceptions.items())
    click.echo(
        f"Wrote {result.output} ({result.pages} page(s)), cycle {result.cycle or '(none)'}, "
        f"as of {result.as_of:%d/%m/%Y}: {listed}."
    )


if __name__ == "__main__":
    main()
