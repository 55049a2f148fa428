"""The commands that start and issue a plan: layouts, new, import, template, and diff."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from .cli_common import parse_date, print_problems, refuse_overwrite
from .errors import XlplanError
from .problems import plural


@click.command()
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


@click.command()
@_master_options("the layout's")
@click.option(
    "--contacts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Load the Services sheet (service, contact names, email addresses, cc) from a CSV.",
)
def new(output: Path, layout_name: str, title: str | None, force: bool, contacts: Path | None) -> None:
    """Write an empty master plan."""
    from .importer import new_plan

    refuse_overwrite(output, force)
    _read_contacts_first(contacts)
    plan = new_plan(output, layout_name=layout_name, title=title)
    _load_contacts(output, contacts)
    click.echo(
        f"Wrote an empty {plan.layout.name} plan to {output}. Add actions on the "
        f"{plan.layout.sheet!r} sheet, then run `xlplan template {output} -o outbox/`."
    )


def _read_contacts_first(contacts: Path | None) -> None:
    """A contacts file that cannot be read stops the command before the master is written."""
    if contacts is not None:
        from .csvfile import read_contacts_csv

        read_contacts_csv(contacts)


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
        print_problems(problems)
    if without:
        click.echo(f"No email address on the Services sheet for: {', '.join(without)}.", err=True)


@click.command(name="import")
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

    refuse_overwrite(output, force)
    _read_contacts_first(contacts)
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
        print_problems(shown)
    if any(p.is_error for p in result.problems):
        sys.exit(1)


@click.command()
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder to write one workbook per service into.",
)
@click.option("--cycle", help="A label for this round, e.g. 2025-Q1 (default: this month).")
@click.option("--due", callback=parse_date, help="The date services must return by (31/03/2025).")
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
        print_problems(notes)


@click.command()
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
