"""Issuing one locked workbook per service from the master plan."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import master_patch, style
from .central import audit_central_edits
from .errors import XlplanError
from .excel import clean_for_cell
from .layout import Layout
from .masterbook import atomic_write, keep_backup, plan_lock, stamp_metadata, write_master
from .masterread import file_state, read_plan, require_plan
from .metadata import ID_HEADER, ISSUED_SHEET, new_metadata
from .plan import Action, Plan, now
from .plan_sheet import SheetRow, TemplateLock, write_plan_sheet
from .print_setup import print_one_page
from .problems import Problem
from .record import issued_row
from .rowxml import Cells
from .sheets import HEADER_ROW, Book, row_height, write_metadata_sheet
from .template_pool import TemplateWriters

_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}


@dataclass
class IssuedFile:
    service: str
    path: Path
    actions: int


@dataclass
class TemplateResult:
    files: list[IssuedFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # The master, updated with the record of what was issued, and the copy kept of it.
    backup: Path | None = None
    cycle: str = ""  # as issued (the default is this month)
    due: dt.date | None = None
    # Only the master's hidden record and metadata were rewritten (see xlplan.master_patch).
    master_patched: bool = False


def safe_filename(name: str) -> str:
    """A file name Windows, macOS and Linux all accept, still recognisably the service."""
    text = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "-", name)
    text = re.sub(r"\s+", " ", text).strip(" .") or "service"
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text += "_"
    return text[:100]


def issue_templates(
    plan_path: Path,
    outdir: Path,
    *,
    cycle: str | None = None,
    due: dt.date | None = None,
    services: list[str] | None = None,
    password: str = "",
    read: tuple[Plan, tuple[int, ...] | None] | None = None,
) -> TemplateResult:
    """`read`: the plan already read by the caller and the master's file_state then; it is
    used instead of reading the master again if the file is still in that state once locked."""
    plan_path = require_plan(plan_path)
    with plan_lock(plan_path):
        if read is not None and read[1] is not None and file_state(plan_path) == read[1]:
            plan = read[0]
        else:
            plan = read_plan(plan_path, lazy_log=True)
        return _issue_templates(
            plan, plan_path, outdir, cycle=cycle, due=due, services=services, password=password
        )


def _issue_templates(
    plan: Plan,
    plan_path: Path,
    outdir: Path,
    *,
    cycle: str | None,
    due: dt.date | None,
    services: list[str] | None,
    password: str,
) -> TemplateResult:
    routes, problems = plan.routes()
    result = TemplateResult(problems=plan.read_problems + problems)
    known = plan.services()
    if services:
        by_lower = {s.lower(): s for s in known}
        unknown = [s for s in services if s.lower() not in by_lower]
        if unknown:
            raise XlplanError(
                f"The plan has no service named {', '.join(map(repr, unknown))}. "
                f"Services in {plan_path}: {', '.join(known)}."
            )
        wanted = list(dict.fromkeys(by_lower[s.lower()] for s in services))
    else:
        wanted = known
    if not plan.actions:
        raise XlplanError(
            f"Plan {plan_path} holds no actions: nothing to issue. Add actions to "
            f"the {plan.layout.sheet!r} sheet, or import a plan with `xlplan import`."
        )
    issued_at = now()
    cycle = cycle or issued_at.strftime("%Y-%m")
    result.cycle, result.due = cycle, due
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XlplanError(f"Cannot create the output folder {outdir}: {exc.strerror}.") from exc
    # What a child needs of the plan to write a workbook (not its actions: each job has its own).
    light = Plan(meta=plan.meta.model_copy(), layout=plan.layout, actions=[])
    jobs = [
        TemplateJob(service, path, actions, light, cycle, due, issued_at, password)
        for service, path, actions in issue_jobs(plan, routes, wanted, outdir)
    ]
    # The children write the workbooks from now on, while this process records them and writes
    # the master; the master replaces the old one only once every workbook is written.
    writers = TemplateWriters(jobs, write_job, rows=sum(len(job.actions) for job in jobs))

    def publish_when_all_written(built: Path) -> None:
        writers.finish()
        result.backup = keep_backup(plan_path, "template")

    def stamp_and_publish(built: Path) -> None:
        master_patch.stamp(built, plan)
        publish_when_all_written(built)

    writers.start()
    try:
        stamp = issued_at.strftime("%Y-%m-%d %H:%M")
        # The master remembers what went out, so each return is judged against what was issued
        # to that service, not against the copy the service sends back.
        plan.record.replace_all(
            {
                job.service: [
                    issued_row(plan.layout, a.id, a.values, service=job.service, cycle=cycle, issued_at=stamp)
                    for a in job.actions
                ]
                for job in jobs
            }
        )
        start_cycle(plan, cycle, due, stamp)
        # Issued again in the same cycle, a master xlplan wrote and no one saved since changes
        # only in its hidden record and metadata: those two sheets are replaced, the rest copied.
        stamp_metadata(plan)
        patch = master_patch.patcher(plan, plan_path)
        if patch is not None:
            try:
                atomic_write(plan_path, patch, publish_when_all_written)
                result.master_patched = True
            except master_patch.NotPatchable:
                patch = None
        if patch is None:
            write_master(plan, plan_path, before_publish=stamp_and_publish)
    except XlplanError as exc:
        if writers.told:
            raise
        writers.stop()  # the master could not be written: say which workbooks went out anyway
        raise writers.stopped(exc.message) from exc
    finally:
        writers.stop()
    result.files = [IssuedFile(job.service, job.path, len(job.actions)) for job in jobs]
    return result


@dataclass
class TemplateJob:
    """One service's workbook to write; it goes to a child process whole (it pickles)."""

    service: str
    path: Path
    actions: list[Action]
    plan: Plan  # the plan's metadata and layout, without its actions
    cycle: str
    due: dt.date | None
    issued_at: dt.datetime
    password: str


def write_job(job: TemplateJob) -> None:
    try:
        write_template(
            job.plan,
            job.service,
            job.actions,
            job.path,
            cycle=job.cycle,
            due=job.due,
            issued_at=job.issued_at,
            password=job.password,
        )
    except XlplanError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError):  # said for this file alone: the issue's message says the rest
            raise XlplanError(f"Cannot write {job.path}: {cause.strerror or cause}.") from cause
        raise


def issue_jobs(
    plan: Plan, routes: dict[str, list[str]], wanted: list[str], outdir: Path
) -> list[tuple[str, Path, list[Action]]]:
    """Each wanted service, the file its workbook goes to (named after it) and its actions
    in plan order."""
    by_service: dict[str, list[Action]] = {service: [] for service in wanted}
    for action in plan.actions:
        for service in set(routes[action.id]):  # an action routed twice to one service goes once
            if service in by_service:
                by_service[service].append(action)
    jobs: list[tuple[str, Path, list[Action]]] = []
    taken: set[str] = set()
    for service in wanted:
        name = safe_filename(service)
        while name.lower() in taken:
            name += "_"
        taken.add(name.lower())
        jobs.append((service, outdir / f"{name}.xlsx", by_service[service]))
    return jobs


def start_cycle(plan: Plan, cycle: str, due: dt.date | None, stamp: str) -> None:
    """Issuing a new cycle closes the last one: its Changes go to the Change log and its
    highlights and Issues are cleared. Issuing some services again in the same cycle keeps them."""
    plan.log.extend(audit_central_edits(plan, plan.meta.cycle or cycle, stamp))
    if plan.meta.cycle != cycle:
        plan.log.extend(plan.cycle_changes)
        plan.cycle_changes = []
        plan.cycle_issues = []
    plan.meta.cycle = cycle
    plan.meta.due = due or plan.meta.due


def write_template(
    plan: Plan,
    service: str,
    actions: list[Action],
    path: Path,
    *,
    cycle: str,
    due: dt.date | None,
    issued_at: dt.datetime,
    password: str,
    shown: list[Action] | None = None,
) -> None:
    """One service's workbook. `shown` (default `actions`) is what the plan sheet displays:
    demos and benchmarks pass edited values to make a return as a service would send it."""
    layout = plan.layout
    shown = actions if shown is None else shown
    meta = new_metadata(
        "template",
        plan_id=plan.plan_id,
        title=plan.meta.title,
        layout_name=layout.name,
        layout_toml=plan.meta.layout_toml,
        next_id=plan.meta.next_id,
        cycle=cycle,
        service=service,
        issued_at=issued_at,
        due=due,
        header_row=HEADER_ROW + 1,
        spare_rows=style.SPARE_ROWS,
    )
    due_text = f"return by {due:%d/%m/%Y}" if due else "return date: as agreed"
    footer = "&L" + f"{service} · cycle {cycle}".replace("&", "&&") + "&RPage &P of &N"

    def build(target: Path) -> None:
        book = Book(target, lock_structure=True, password=password)
        write_plan_sheet(
            book,
            layout,
            (SheetRow(a.id, a.values) for a in shown),
            title=f"{plan.meta.title} — {service}",
            subtitle=f"Cycle {cycle} · {due_text} · type only in the white columns; "
            "grey columns are read-only. See the Guidance sheet.",
            status_column=False,
            lock=TemplateLock(password=password, spare_rows=style.SPARE_ROWS, footer=footer),
            row_count=len(actions),
        )
        write_guidance_sheet(
            book, layout, service=service, cycle=cycle, due=due, title=plan.meta.title, count=len(actions)
        )
        write_issued_sheet(book, layout, actions, password)
        write_metadata_sheet(book, meta, password)
        book.close()

    atomic_write(path, build)


def write_issued_sheet(book: Book, layout: Layout, actions: list[Action], password: str = "") -> None:
    """The values as issued: what a return is compared with, even with protection removed."""
    ws = book.workbook.add_worksheet(ISSUED_SHEET)
    ws.protect(password)
    cells = Cells(book.rows_of(ws))
    cells.string(0, 0, ID_HEADER)
    for col, name in enumerate(layout.fields, start=1):
        cells.string(0, col, name)
    plain, dated = book.fmt(), book.fmt(num_format="dd/mm/yyyy")
    for row, action in enumerate(actions, start=1):
        cells.string(row, 0, action.id)
        for col, name in enumerate(layout.fields, start=1):
            value = action.get(name)
            if value is not None:
                cells.value(row, col, value, plain, dated)
    cells.close()
    ws.very_hidden()


def write_guidance_sheet(
    book: Book, layout: Layout, *, service: str, cycle: str, due: dt.date | None, title: str, count: int
) -> None:
    ws = book.workbook.add_worksheet("Guidance")
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 90)
    wrap = book.fmt(text_wrap=True)
    per_line = [int(90 * 1.1)]  # characters a line of the 90-wide column holds

    def say(row: int, text: str) -> None:
        """Wrapped text, its row as tall as its lines: LibreOffice does not grow a row itself,
        and the next row's text would print over it."""
        ws.write_string(row, 1, text, wrap)
        ws.set_row(row, row_height([text], per_line))

    bold = book.fmt(bold=True, text_wrap=True)
    row = 0
    ws.write_string(
        row,
        0,
        clean_for_cell(f"{title}: how to fill in this workbook"),
        book.fmt(bold=True, font_size=style.TITLE_SIZE),
    )
    facts = [
        ("Service", service),
        ("Cycle", cycle),
        ("Return by", due.strftime("%d/%m/%Y") if due else "as agreed with the central team"),
        ("Your actions", f"{count} on the {layout.sheet!r} sheet"),
    ]
    row += 2
    for label, text in facts:
        ws.write_string(row, 0, label, bold)
        say(row, clean_for_cell(text))
        row += 1
    row += 1
    steps = [
        "Type only in the white columns. Grey columns belong to the central team or the "
        "committee: they are locked, and changes to them are refused when the file comes back.",
        "Pick ratings from the dropdown; other values are refused. The scale is below.",
        "A Purple or Blue rating (complete) needs evidence or a comment saying where the evidence is.",
        "To propose a new action, use the green spare rows below your actions.",
        "Do not add, delete or move rows or sheets, rename the file's sheets, or copy the actions "
        "into another workbook: the file carries hidden information xlplan needs to merge it.",
        "Save as Excel Workbook (.xlsx) and send the file back. Renaming the file is fine.",
    ]
    ws.write_string(row, 0, "What to do", bold)
    for number, text in enumerate(steps, start=1):
        say(row, f"{number}. {text}")
        row += 1
    row += 1
    ws.write_string(row, 0, "Your columns", bold)
    for column in layout.columns:
        if column.owner == "service":
            text = column.header + (f" — {column.help}" if column.help else "")
            say(row, clean_for_cell(text))
            row += 1
    row += 1
    ws.write_string(row, 0, "Rating scale", bold)
    for rating in layout.ratings:
        ws.write_string(
            row,
            0,
            rating.value,
            book.fmt(bold=True, bg_color=rating.fill, font_color=rating.font, align="center", border=1),
        )
        say(row, rating.meaning + (" — complete" if rating.complete else ""))
        row += 1
    print_one_page(ws)
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True})
