"""Reading the master: the plan as it is now, including what the central team edited in Excel
(titles, hand-added rows, their own columns, formulas and sheets, ratings mapped on the Key
sheet), and xlplan's own record kept in it (what it issued, the returns merged, the history)."""

from __future__ import annotations

from pathlib import Path

from .carry import ExtraColumn, column_format, extra_cells, with_formulas
from .errors import XlplanError
from .excel import CellValue, cell_name, display, row_as_seen
from .layout import Layout, normal_header
from .master_tables import OWNED_SHEETS, read_own_tables, with_key_aliases
from .metadata import ID_HEADER, META_SHEET, STATUS_HEADER, Metadata, parse_metadata
from .plan import (
    KEY_SHEET,
    LOG_SHEET,
    Action,
    CarriedSheet,
    Plan,
    layout_of,
    parse_decision,
    parse_proposal,
)
from .plan_sheet import own_fills
from .problems import Problem
from .safety_gate import MASTER_LIMITS, UnreadableWorkbook
from .sheet_layers import SheetLayer, sheet_layers
from .workbook import Workbook, open_workbook, release_freed_memory


def require_plan(path: Path) -> Path:
    """The master's path, or a message saying it is not there."""
    path = Path(path)
    if not path.exists():
        raise XlplanError(
            f"Plan {path} not found. Give the master workbook made by `xlplan import` or `xlplan new`."
        )
    return path


def read_metadata(book: Workbook) -> Metadata | None:
    if META_SHEET not in book.sheets:
        return None
    return parse_metadata(book.raw_rows(META_SHEET), str(book.path))


def read_plan(path: Path, *, lazy_log: bool = False) -> Plan:
    """The master as it is now, including what compliance staff edited in Excel.

    `lazy_log`: for a verb that writes the master again (merge, template). The Change log's
    rows are not parsed when they can be copied into the new master as they stand
    (xlplan.logpart); they are parsed the first time something asks for all of them."""
    path = require_plan(path)
    try:
        book = open_workbook(path, MASTER_LIMITS, defer=frozenset({LOG_SHEET}) if lazy_log else frozenset())
        plan = _read_plan(path, book, lazy_log)
    except UnreadableWorkbook as exc:
        raise XlplanError(f"Plan {path}: {exc.problem.message}") from exc
    del book
    release_freed_memory()
    return plan


def file_state(path: Path) -> tuple[int, ...] | None:
    """What changes whenever a file is replaced or written (its inode, size and times): a
    plan read when the file was in this state can stand for reading it again."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _read_plan(path: Path, book: Workbook, lazy_log: bool = False) -> Plan:
    meta, layout = _master_layout(path, book)
    raw = book.raw_rows(layout.sheet)
    rows = book.values(raw)
    header_index, positions = _header(path, layout, meta, rows)
    header = rows[header_index]
    id_col = _find(header, ID_HEADER)
    status_col = _find(header, STATUS_HEADER)
    plan = Plan(meta=meta, layout=layout, actions=[])
    owned = {layout.sheet, *OWNED_SHEETS, *_read_contacts(book, plan, path)}
    theirs = [name for name in book.sheets if name not in owned]
    known = {*positions.values(), id_col, status_col}
    extra_at = [
        c
        for c in range(max(map(len, rows[header_index:]), default=0))
        if c not in known and any(c < len(r) and r[c] is not None for r in rows[header_index:])
    ]
    # Number formats are looked for in the team's own columns only (a master is large).
    layers = sheet_layers(
        path,
        [layout.sheet, *theirs],
        {layout.sheet: set(extra_at)},
        plan_sheet=layout.sheet,
        own_fills=own_fills(layout),
    )
    plan.uncarried = {name: layer.uncarried for name, layer in layers.items() if layer.uncarried}
    plan_layer = layers.get(layout.sheet, SheetLayer())
    by_column = {i: f for f, i in positions.items()}
    for (r, c), text in plan_layer.formulas.items():
        if c in by_column and r > header_index:  # a formula the team typed in a layout column
            plan.layout_formulas.setdefault(r, {})[by_column[c]] = text
    plan.extra_columns = [
        ExtraColumn(
            display(header[c]) if c < len(header) else "",
            plan_layer.widths.get(c),
            c,
            column_format(plan_layer, c),
        )
        for c in extra_at
    ]
    extras = extra_cells(raw, extra_at, plan_layer.formulas)
    count = len(layout.columns)
    plan.column_moves = {old: layout.fields.index(f) for f, old in positions.items()}
    plan.column_moves.update(
        {old: new for old, new in ((status_col, count), (id_col, count + 1)) if old is not None}
    )
    plan.column_moves.update({old: count + 2 + k for k, old in enumerate(extra_at)})
    del raw  # a large master: hold its cells once
    rows.extend([] for _ in range(len(extras) - len(rows)))
    _read_above_header(plan, rows[:header_index], path)
    _read_actions(plan, rows, header_index, positions, (id_col, status_col), extra_at, extras, path)
    read_own_tables(plan, book, path, lazy_log)
    plan.read_problems.extend(plan.split_joint_actions())
    for name in theirs:
        layer = layers.get(name, SheetLayer())
        plan.carried.append(
            CarriedSheet(
                name,
                _trim(with_formulas(book.raw_rows(name), layer.formulas)),
                book.hidden.get(name, "visible"),
                layer.widths,
                layer.formats,
            )
        )
    return plan


def _master_layout(path: Path, book: Workbook) -> tuple[Metadata, Layout]:
    """The master's metadata and layout (with the ratings' other names from its Key sheet);
    an error in words if the file is not a master or its plan sheet is gone."""
    meta = read_metadata(book)
    if meta is None:
        raise XlplanError(
            f"{path} is not an xlplan master (it has no hidden xlplan metadata). "
            "Build one from it with `xlplan import " + path.name + " -o plan.xlsx`."
        )
    if meta.kind != "master":
        raise XlplanError(
            f"{path} is a service template ({meta.service}), not the master plan. Give the master workbook."
        )
    layout = layout_of(meta, str(path))
    if KEY_SHEET in book.sheets:
        layout = with_key_aliases(layout, book.rows(KEY_SHEET), path)
    if layout.sheet not in book.sheets:
        raise XlplanError(
            f"Plan {path} has no sheet {layout.sheet!r}; it was renamed or deleted. "
            f"Rename it back to {layout.sheet!r}."
        )
    return meta, layout


def _header(
    path: Path, layout: Layout, meta: Metadata, rows: list[list[CellValue]]
) -> tuple[int, dict[str, int]]:
    """The plan sheet's header row and where each layout column is; an error in words if the
    header row or a column of the layout is gone."""
    header_index = find_header_row(rows, [c.header for c in layout.columns], meta.header_row - 1)
    if header_index is None:
        raise XlplanError(
            f"Plan {path}, sheet {layout.sheet!r}: the header row is gone. Restore "
            "the headers of the layout in row " + str(meta.header_row) + "."
        )
    positions = column_positions(rows[header_index], layout)
    missing = [layout.column(f).header for f in layout.fields if f not in positions]
    if missing:
        raise XlplanError(
            f"Plan {path}, sheet {layout.sheet!r}: column(s) missing or renamed: "
            + "; ".join(repr(m) for m in missing)
            + ". Restore the header text."
        )
    return header_index, positions


def _read_actions(
    plan: Plan,
    rows: list[list[CellValue]],
    header_index: int,
    positions: dict[str, int],
    own_columns: tuple[int | None, int | None],
    extra_at: list[int],
    extras: list[list],
    path: Path,
) -> None:
    """One action per row under the header, with its hidden ID and status; a row added by
    hand (no ID, or a copied one) gets a new ID; a row holding only the team's own columns
    (a total) is said, since it is not kept."""
    layout = plan.layout
    id_col, status_col = own_columns
    # A date in a text column (typed in Excel, or kept from an older xlplan) is the text seen.
    types = {c.field: c.type for c in layout.columns}
    seen_ids: set[str] = set()
    no_id: list[Action] = []
    for offset, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        values = row_as_seen({f: (row[i] if i < len(row) else None) for f, i in positions.items()}, types)
        if all(v is None for v in values.values()):
            loose = [
                plan.extra_columns[k].header or f"column {c + 1}"
                for k, c in enumerate(extra_at)
                if extras[offset - 1][k] is not None
            ]
            if loose:
                plan.read_problems.append(
                    Problem(
                        "sheet-content-lost",
                        f"row {offset} of the plan sheet is not an action but "
                        f"holds {', '.join(repr(h) for h in loose)}; xlplan rebuilds the plan sheet "
                        "from its actions, so that row is not kept when it writes the master. Keep "
                        "totals and notes on a sheet of your own.",
                        file=str(path),
                        sheet=layout.sheet,
                    )
                )
            continue
        action_id = display(row[id_col]) if id_col is not None and id_col < len(row) else ""
        status = display(row[status_col]) if status_col is not None and status_col < len(row) else ""
        proposed_by, proposal_key = parse_proposal(status)
        action = Action(
            id=action_id,
            values=values,
            proposed_by=proposed_by,
            proposal_key=proposal_key,
            row=offset - 1,
            decision=parse_decision(status) if proposed_by else None,
        )
        if extra_at:
            action.extra = extras[offset - 1]
        if not action_id or action_id in seen_ids:
            no_id.append(action)
            plan.read_problems.append(
                Problem(
                    "new-row-in-master",
                    f"row {offset} of the plan sheet had no xlplan ID (added by "
                    "hand, or copied); it was given a new one.",
                    file=str(path),
                    sheet=layout.sheet,
                    action=display(values.get(layout.reference)) or None,
                )
            )
        else:
            seen_ids.add(action_id)
        plan.actions.append(action)
    for action in no_id:
        action.id = plan.new_id()
        while action.id in seen_ids:
            action.id = plan.new_id()


def _read_contacts(book: Workbook, plan: Plan, path: Path) -> set[str]:
    """The Services sheet into `plan.contacts`; its name, as a sheet xlplan owns (if present).
    Its addresses are checked where they are used (template --drafts, chase), not here: a
    typo in an address is no problem of a merge."""
    from .contacts import SERVICES_SHEET, parse_services

    if SERVICES_SHEET not in book.sheets:
        return set()
    rows = book.rows(SERVICES_SHEET)
    plan.contacts = parse_services(rows)
    if not plan.contacts and any(v is not None for row in rows[1:] for v in row):
        return set()  # a sheet of the team's own that happens to be called Services: carried
    return {SERVICES_SHEET}


def _read_above_header(plan: Plan, rows: list[list[CellValue]], path: Path) -> None:
    """The rows above the header: xlplan writes the title (A1) and a subtitle (A2) there. A
    title the team retyped becomes the plan's title; anything else they put there is reported,
    as the sheet is rebuilt without it."""
    title = display(rows[0][0]).strip() if rows and rows[0] else ""
    if title and title != plan.meta.title:
        plan.meta.title = title
    extra = [
        cell_name(r, c)
        for r, row in enumerate(rows)
        for c, value in enumerate(row)
        if value is not None and not (c == 0 and r < 2)
    ]
    if extra:
        plan.read_problems.append(
            Problem(
                "sheet-content-lost",
                f"{', '.join(extra[:6])}{' …' if len(extra) > 6 else ''} above "
                "the header row of the plan sheet: xlplan writes the plan's title and a subtitle there "
                "and rebuilds the rest, so that is not kept when it writes the master. Keep notes on "
                "a sheet of your own.",
                file=str(path),
                sheet=plan.layout.sheet,
            )
        )


def _find(header: list[CellValue], text: str) -> int | None:
    for index, cell in enumerate(header):
        if display(cell).strip().lower() == text.lower():
            return index
    return None


def _trim(rows: list[list[CellValue]]) -> list[list[CellValue]]:
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return rows


def find_header_row(rows: list[list[CellValue]], headers: list[str], hint: int | None) -> int | None:
    """The 0-based row holding the layout's headers; `hint` is where the metadata says."""
    wanted = {normal_header(h) for h in headers}
    candidates = ([hint] if hint is not None else []) + list(range(min(len(rows), 30)))
    for index in candidates:
        if 0 <= index < len(rows):
            cells = {normal_header(display(c)) for c in rows[index] if c is not None}
            if len(wanted & cells) >= max(2, len(wanted) // 2):
                return index
    return None


def column_positions(header: list[CellValue], layout: Layout) -> dict[str, int]:
    """Field -> 0-based column index, by header text, wherever the column has moved to."""
    positions: dict[str, int] = {}
    by_header = {normal_header(c.header): c.field for c in layout.columns}
    for index, cell in enumerate(header):
        field_name = by_header.get(normal_header(display(cell)))
        if field_name and field_name not in positions:
            positions[field_name] = index
    return positions
