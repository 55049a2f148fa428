"""The command line: parse flags, call the library, print, pick the exit code. No workbook code here."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .cli_plan import diff, import_, layouts, new, template
from .cli_returns import chase, merge, report, validate
from .errors import XlplanError

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


# Each command lives with the others of its stage: cli_plan.py (layouts, new, import, template,
# diff) and cli_returns.py (validate, merge, chase, report).
for command in (layouts, new, import_, template, validate, merge, chase, diff, report):
    main.add_command(command)


if __name__ == "__main__":
    main()
