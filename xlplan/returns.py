"""Reading a returned service workbook: who it is from, its rows by ID, and what was issued."""

from __future__ import annotations

from pathlib import Path

from .errors import XlplanError
from .excel import CellValue, display, row_as_seen, shown_number
from .layout import Layout
from .masterread import column_positions, find_header_row, read_metadata
from .metadata import (
    HIDDEN_CELL_LIMIT,
    ID_HEADER,
    ISSUED_SHEET,
    META_SHEET,
    SPARE_PREFIX,
    Metadata,
    NewerFormat,
)
from .plan import Plan, layout_of, normal_ref
from .problems import Problem
from .safety_gate import UnreadableWorkbook
from .service_return import ReturnRow, ServiceReturn
from .sheet_styles import number_formats
from .workbook import Workbook, open_workbook


# Files in an inbox folder that are never returns: Excel/LibreOffice lock files, OS litter.
def read_return(path: Path, plan: Plan | None = None) -> ServiceReturn:
    """Read one returned workbook; never raises for a bad file: problems say what is wrong."""
    try:
        result = _read_return(path, plan)
    except UnreadableWorkbook as exc:
        result = ServiceReturn(path=path, meta=None, layout=None, unreadable=True)
        problem = exc.problem
        result.problems.append(Problem(problem.code, problem.message, file=path.name))
    result.content = file_digest(path)
    return result


def file_digest(path: Path) -> str:
    import hashlib

    digest = hashlib.blake2b(digest_size=10)
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def _read_return(path: Path, plan: Plan | None) -> ServiceReturn:
    book = open_workbook(path)
    try:
        meta = read_metadata(book)
    except NewerFormat as exc:
        result = ServiceReturn(path=path, meta=None, layout=None, unreadable=True)
        result.problem("newer-format", exc.message)
        return result
    except XlplanError as exc:
        meta = None
        damaged = exc.message
    else:
        damaged = None
    result = ServiceReturn(path=path, meta=meta, layout=None, saved_at=book.saved_at)
    if book.has_macros:
        result.problem(
            "macros-ignored",
            "the workbook holds macros. They were not run and will not "
            "be carried anywhere; save as .xlsx (Excel Workbook) next time.",
        )
    if meta is None:
        return _read_without_metadata(book, result, plan, damaged)
    if meta.kind != "template":
        result.problem(
            "not-a-template",
            "this is an xlplan master plan, not a service's return. "
            "Returns are the workbooks `xlplan template` wrote.",
        )
        result.unreadable = True
        return result
    if META_SHEET in book.hidden and book.hidden[META_SHEET] == "visible":
        result.problem(
            "metadata-visible",
            "the hidden xlplan sheets are visible in this file "
            "(another program, such as Gnumeric, saved it and does not keep Excel's "
            "'very hidden' sheets). Nothing was lost; ask the service not to edit the "
            f"sheets {META_SHEET!r} and {ISSUED_SHEET!r}.",
        )
    if plan is not None:
        # The master decides: which columns a service may change, which sheet and headers
        # to read. The layout the file carries is evidence, compared, never obeyed.
        result.layout = plan.layout
        if meta.layout_toml != plan.meta.layout_toml:
            _compare_layouts(result, meta, plan.layout, book)
    else:
        try:
            result.layout = layout_of(meta, path.name)
        except XlplanError as exc:
            message = (
                CUT_SHORT + ". Check it against the master (give --plan), or ask the "
                "service to send back the workbook as they received it."
                if _cut_short(book)
                else exc.message
            )
            result.problem("not-a-template", message)
            result.unreadable = True
            return result
    if not _read_plan_sheet(book, result, meta.header_row - 1):
        return result
    rows = book.extents.get(ISSUED_SHEET) if ISSUED_SHEET not in book.refused else None
    if rows and plan is not None:
        # Judged against the master, a return needs its copy of the issued values only
        # where a row's locked cells were edited: read it then, if ever.
        layout = result.layout
        result.read_issued_later(lambda: _read_issued(book, layout), at_most=rows - 1)
    else:
        result.issued = _read_issued(book, result.layout)
    if not rows and result.issued is None:
        result.problem(
            "no-metadata",
            "the hidden sheet of values as issued is gone; changes are "
            "judged against the master instead (give --plan).",
        )
    return result


CUT_SHORT = (
    f"it was saved by a program that keeps only {HIDDEN_CELL_LIMIT} characters of each "
    "hidden cell (as some web tools do when saving as .xls), so the layout stored in it "
    "was cut short"
)


def _cut_short(book: Workbook) -> bool:
    """Was the file's own layout cut at 255 characters? xlplan writes pieces of at most 250
    (an older xlplan wrote one long cell), so a piece of exactly 255 was cut."""
    try:
        rows = book.raw_rows(META_SHEET)
    except UnreadableWorkbook:
        return False
    return any(
        len(row) > 1
        and row[0] == "layout_toml"
        and isinstance(row[1], str)
        and len(row[1]) == HIDDEN_CELL_LIMIT
        for row in rows
    )


def _compare_layouts(result: ServiceReturn, meta: Metadata, master: Layout, book: Workbook) -> None:
    """Say how the layout the file carries differs from the master's, in a person's words."""
    try:
        carried: Layout | None = layout_of(meta, result.path.name)
    except XlplanError:
        carried = None
    if carried is None:
        why = CUT_SHORT if _cut_short(book) else "the layout stored in its hidden sheet is damaged"
        result.problem(
            "metadata-mismatch",
            f"{why}. The file was read with the master's layout; "
            "only what the master lets the service change is applied.",
        )
        return
    differences: list[str] = []
    for column in master.columns:
        theirs = next((c for c in carried.columns if c.field == column.field), None)
        if theirs is None:
            differences.append(f"column {column.header!r} is missing")
        elif theirs.owner != column.owner:
            differences.append(f"column {column.header!r} is given to {theirs.owner}, not {column.owner}")
        elif theirs.header != column.header or theirs.type != column.type:
            differences.append(f"column {column.header!r} is described differently")
    extra = [c.header for c in carried.columns if c.field not in master.fields]
    if extra:
        differences.append(
            "it names column(s) the master does not have: " + ", ".join(repr(h) for h in extra[:5])
        )
    for name in ("sheet", "reference", "route", "rating_values"):
        if getattr(carried, name) != getattr(master, name):
            differences.append(f"its {name.replace('_', ' ')} differs")
    if differences:
        result.problem(
            "metadata-mismatch",
            "the layout in this file's hidden metadata disagrees "
            "with the master's ("
            + "; ".join(differences[:6])
            + (f"; and {len(differences) - 6} more" if len(differences) > 6 else "")
            + "). The master's layout was used: only what it lets the service change "
            "is applied.",
        )


def _read_plan_sheet(book: Workbook, result: ServiceReturn, header_hint: int | None) -> bool:
    layout = result.layout
    assert layout is not None
    sheet = layout.sheet if layout.sheet in book.sheets else None
    if sheet is None:
        visible = [s for s in book.sheets if book.hidden.get(s) == "visible"]
        sheet = next(
            (
                s
                for s in visible
                if find_header_row(book.rows(s), [c.header for c in layout.columns], None) is not None
            ),
            None,
        )
        if sheet is None:
            result.problem(
                "missing-sheet",
                f"there is no sheet {layout.sheet!r} (renamed or "
                "deleted). Rename the action plan sheet back and send it again.",
            )
            result.unreadable = True
            return False
    result.sheet = sheet
    rows = book.rows(sheet)
    header_index = find_header_row(rows, [c.header for c in layout.columns], header_hint)
    if header_index is None:
        result.problem(
            "missing-column",
            f"the header row of sheet {sheet!r} is gone or was changed; restore the headers as issued.",
            sheet=sheet,
        )
        result.unreadable = True
        return False
    header = rows[header_index]
    result.positions = column_positions(header, layout)
    for column in layout.columns:
        if column.field not in result.positions:
            result.problem(
                "missing-column",
                f"column {column.header!r} is missing or its header "
                "was edited; its cells cannot be read. Restore the header as issued.",
                sheet=sheet,
                column=column.header,
            )
    id_col = next((i for i, c in enumerate(header) if display(c).strip() == ID_HEADER), None)
    result.special_cells = book.special.get(sheet, {})
    # A date typed into a text column is the text the person saw, not a date serial; so is
    # a number shown through a format (86% is stored as 0.86).
    types = {c.field: c.type for c in layout.columns}
    shown = _numbers_as_shown(book, sheet, result.positions, types, rows)
    for index in range(header_index + 1, len(rows)):
        row = rows[index]
        values = row_as_seen(
            {f: (row[c] if c < len(row) else None) for f, c in result.positions.items()}, types
        )
        if shown:
            for field_name, text in shown.get(index, {}).items():
                values[field_name] = text
        action_id = display(row[id_col]).strip() if id_col is not None and id_col < len(row) else ""
        if action_id.startswith(SPARE_PREFIX):
            if any(v is not None for v in values.values()):
                result.proposals.append(ReturnRow(action_id, index, values))
            continue
        if not action_id and all(v is None for v in values.values()):
            continue
        result.rows.append(ReturnRow(action_id, index, values))
    return True


TEXT_TYPES = ("text", "long_text", "reference")


def _numbers_as_shown(
    book: Workbook, sheet: str, positions: dict[str, int], types: dict[str, str], rows: list[list[CellValue]]
) -> dict[int, dict[str, str]]:
    """Row -> {field: the text shown} for numbers typed into text columns through a format."""
    if book.path.suffix.lower() not in (".xlsx", ".xlsm"):
        return {}
    fields = {col: f for f, col in positions.items() if types.get(f) in TEXT_TYPES}
    shown: dict[int, dict[str, str]] = {}
    for (row, col), code in number_formats(book.path, sheet, set(fields)).items():
        value = rows[row][col] if row < len(rows) and col < len(rows[row]) else None
        try:
            number = float(value)  # the number as read ("0.86"): cell_text keeps its digits
        except (TypeError, ValueError):
            continue
        text = shown_number(number, code)
        if text is not None:
            shown.setdefault(row, {})[fields[col]] = text
    return shown


def _read_issued(book: Workbook, layout: Layout) -> dict[str, dict[str, CellValue]] | None:
    if ISSUED_SHEET not in book.sheets:
        return None
    rows = book.rows(ISSUED_SHEET)
    if not rows:
        return None
    known = set(layout.fields)
    columns = [(i, display(c)) for i, c in enumerate(rows[0]) if display(c) in known]
    types = {c.field: c.type for c in layout.columns}
    issued: dict[str, dict[str, CellValue]] = {}
    for row in rows[1:]:
        if not row or row[0] is None:
            continue
        size = len(row)
        issued[display(row[0])] = row_as_seen(
            {name: (row[i] if i < size else None) for i, name in columns}, types
        )
    return issued


def _read_without_metadata(
    book: Workbook, result: ServiceReturn, plan: Plan | None, damaged: str | None
) -> ServiceReturn:
    """A return pasted into a new workbook: match it by its headers and action references."""
    if plan is None:
        result.problem(
            "not-a-template",
            (damaged or "the workbook has no xlplan metadata")
            + ". If it is a return copied into a new workbook, give the master with "
            "--plan so it can be matched by its headers and references.",
        )
        result.unreadable = True
        return result
    result.layout = plan.layout
    headers = [c.header for c in plan.layout.columns]
    if not any(
        find_header_row(book.rows(s), headers, None) is not None
        for s in book.sheets
        if book.hidden.get(s) == "visible"
    ):
        result.problem(
            "not-a-template",
            (damaged + " " if damaged else "") + "this workbook has "
            "no xlplan metadata and no sheet with the plan's headers: it is not a return "
            "of this plan. Ask the service for the workbook they were sent.",
        )
        result.unreadable = True
        return result
    if not _read_plan_sheet(book, result, None):
        return result
    by_ref: dict[str, str] = {}
    for action in plan.actions:
        by_ref.setdefault(normal_ref(display(action.get(plan.layout.reference))), action.id)
    routes, _ = plan.routes()
    services: dict[str, int] = {}
    for row in result.rows:
        ref = normal_ref(display(row.values.get(plan.layout.reference)))
        row.action_id = by_ref.get(ref, "")
        for service in routes.get(row.action_id, []):
            services[service] = services.get(service, 0) + 1
    result.issued = None
    if services:
        best = max(services, key=lambda s: services[s])
        result.service_override = best
    taken_as = f" and the return taken as {result.service_override!r}'s" if result.service_override else ""
    matched_by = (
        "their grey (read-only) cells, as issued,"
        if plan.record.rows
        else repr(plan.layout.column(plan.layout.reference).header)
    )
    result.problem(
        "no-metadata",
        (damaged + " " if damaged else "") + "the hidden xlplan metadata "
        "is gone (the actions were probably copied into a new workbook); rows were matched "
        f"to the plan by {matched_by}" + taken_as + ". Next time send back the workbook as issued.",
    )
    return result
