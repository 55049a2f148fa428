"""What the command modules share: the date option, printing problems, refusing to overwrite."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from .errors import XlplanError


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    from .dates import parse_date_option

    try:
        return parse_date_option(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def print_problems(problems, *, limit: int = 40, err: bool = True) -> None:
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


def refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise XlplanError(f"{path} exists; choose another -o or add --force to overwrite it.", 2)
