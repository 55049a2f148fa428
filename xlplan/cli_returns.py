"""The commands over what services send back: validate, merge, chase, and the committee report."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from .cli_common import parse_date, print_problems
from .errors import XlplanError
from .problems import plural


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--plan",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check against the master: same plan, known service, locked cells as issued.",
)
@click.option("--as-of", callback=parse_date, help="The date overdue is judged against (default today).")
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
            print_problems(checked.problems, err=False)
        for skipped in result.skipped:
            click.echo(f"{skipped.file}: {skipped.message}")  # the message says what became of it
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


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("inbox", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the consolidated master here (default: update PLAN, keeping a copy).",
)
@click.option("--as-of", callback=parse_date, help="The date overdue is judged against (default today).")
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
        f"{result.errors} refused, {result.conflicts} conflict(s), "
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


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("inbox", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder to write one reminder draft (.eml) per chased service into.",
)
@click.option("--as-of", callback=parse_date, help="The date overdue is judged against (default today).")
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
        print_problems(result.problems)


# --- the committee pack (#17) -------------------------------------------------------------
@click.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the committee pack (a PDF) here.",
)
@click.option("--as-of", callback=parse_date, help="The date overdue is judged against (default today).")
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
