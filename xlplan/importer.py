"""Starting from what a trust already has: a plan in .xlsx, .xls, .ods or .csv."""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import XlplanError
from .excel import ILLEGAL_XML_CHARS, MAX_CELL_CHARS, CellValue, cell_name, cell_text, display
from .layout import Layout, load_layout
from .masterbook import write_master
from .metadata import new_metadata
from .plan import Action, Plan, new_plan_id
from .problems import Problem
from .workbook import MASTER_LIMITS, UnreadableWorkbook, open_workbook

HEADER_SEARCH_ROWS = 50
FUZZY_CUTOFF = 0.82


@dataclass
class ImportResult:
    path: Path
    actions: int
    services: dict[str, int]
    source_sheet: str | None
    header_row: int
    problems: list[Problem] = field(default_factory=list)


def normal_header(text: str) -> str:
    """Case, spacing, line breaks and punctuation do not count; a header of punctuation
    only ("#") is kept as it is."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split()) or text.strip()


def match_columns(header: list[CellValue], layout: Layout) -> tuple[dict[str, int], list[int]]:
    """Field -> source column index, despite case, spacing, line breaks and small wording
    differences; and the source columns that match nothing."""
    names: dict[str, str] = {}
    for column in layout.columns:
        for text in (column.header, *column.aliases):
            names.setdefault(normal_header(text), column.field)
    matched: dict[str, int] = {}
    pending: list[tuple[int, str]] = []
    # Exact names first, so "Previous Directorate RAG Rating" can never take the place of
    # "Directorate RAG Rating"; close wording only for what is left.
    for index, cell in enumerate(header):
        text = normal_header(display(cell))
        if not text:
            continue
        field_name = names.get(text)
        if field_name is not None and field_name not in matched:
            matched[field_name] = index
        else:
            pending.append((index, text))
    unmatched: list[int] = []
    for index, text in pending:
        free = {name: f for name, f in names.items() if f not in matched}
        close = difflib.get_close_matches(text, list(free), n=1, cutoff=FUZZY_CUTOFF)
        if close:
            matched[free[close[0]]] = index
        else:
            unmatched.append(index)
    return matched, sorted(unmatched)


def read_source_rows(source: Path) -> list[tuple[str | None, list[list[CellValue]]]]:
    """Every sheet of the source as (sheet name, rows); a CSV is one unnamed sheet."""
    if not source.exists():
        raise XlplanError(f"Source {source} not found.")
    if source.suffix.lower() in (".csv", ".tsv", ".txt"):
        raw = source.read_bytes()
        if b"\x00" in raw[:4096]:
            raise XlplanError(f"Source {source} is not a text file (CSV). Give .csv, .xlsx, .xls or .ods.")
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise XlplanError(f"Source {source} is neither UTF-8 nor Windows-1252 text. In Excel, "
                              "save it as 'CSV UTF-8 (Comma delimited)' and import that.")
        delimiter = "\t" if source.suffix.lower() == ".tsv" else ","
        if source.suffix.lower() != ".tsv":
            try:
                delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t").delimiter
            except csv.Error:
                delimiter = ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [[cell_text(v) for v in row] for row in reader]
        return [(None, rows)]
    try:
        book = open_workbook(source, MASTER_LIMITS)
        return [(name, book.rows(name)) for name in book.sheets if book.hidden.get(name) == "visible"]
    except UnreadableWorkbook as exc:
        raise XlplanError(f"Source {source}: {exc.problem.message}") from exc


def _find_header(rows: list[list[CellValue]], layout: Layout) -> tuple[int, dict[str, int], list[int]] | None:
    best: tuple[int, dict[str, int], list[int]] | None = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        matched, unmatched = match_columns(row, layout)
        if len(matched) >= min(2, len(layout.columns)) and (best is None or len(matched) > len(best[1])):
            best = (index, matched, unmatched)
    return best


def _suggest_layout(sheets: list[tuple[str | None, list[list[CellValue]]]], tried: str) -> str:
    """'It looks like layout solent' when another built-in layout fits the headers."""
    from .layout import builtin_layouts

    best, best_count = None, 1
    for name in builtin_layouts():
        if name == tried:
            continue
        candidate, _ = load_layout(name)
        for _, rows in sheets:
            found = _find_header(rows, candidate)
            if found and len(found[1]) > best_count:
                best, best_count = name, len(found[1])
    return f"It looks like layout {best!r}: add --layout {best}.\n" if best else ""


def import_plan(source: Path, output: Path, *, layout_name: str = "cqc",
                title: str | None = None) -> ImportResult:
    layout, layout_toml = load_layout(layout_name)
    sheets = read_source_rows(source)
    found = None
    for sheet_name, rows in sheets:
        header = _find_header(rows, layout)
        if header and (found is None or len(header[1]) > len(found[2][1])):
            found = (sheet_name, rows, header)
    if found is None:
        first = next((r for _, rows in sheets for r in rows if any(c is not None for c in r)), [])
        found_text = "; ".join(display(c)[:40] for c in first if c is not None)[:300] or "(none)"
        raise XlplanError(
            f"Source {source}: no row looks like the header of layout {layout.name!r}.\n"
            f"  Expected headers such as: {'; '.join(c.header[:50] for c in layout.columns[:6])} …\n"
            f"  First non-empty row found: {found_text}\n"
            + _suggest_layout(sheets, layout.name)
            + "Choose the layout that fits (`xlplan layouts`), or give your own with --layout FILE.toml."
        )
    sheet_name, rows, (header_index, positions, unmatched) = found
    header = rows[header_index]
    problems: list[Problem] = []
    where = {"file": str(source), "sheet": sheet_name}
    for index in unmatched:
        filled = sum(1 for r in rows[header_index + 1 :] if index < len(r) and r[index] is not None)
        problems.append(Problem(
            "unmatched-column", f"source column {display(header[index])!r} matches no column of "
            f"layout {layout.name!r}; its {filled} filled cell(s) were NOT imported. Rename the "
            "header to one of the layout's, or add the column to your own layout (--layout).",
            cell=cell_name(header_index, index), column=display(header[index]), **where))
    for column in layout.columns:
        if column.field not in positions:
            problems.append(Problem(
                "missing-column", f"the source has no column {column.header!r}; it starts empty.",
                column=column.header, severity="info", **where))
    if title is None:
        title = next((display(c) for r in rows[:header_index] for c in r if c is not None), None)
    plan = Plan(
        meta=new_metadata("master", plan_id=new_plan_id(source.read_bytes()),
                          title=(title or layout.title).strip()[:200], layout_name=layout.name,
                          layout_toml=layout_toml),
        layout=layout, actions=[])
    header_norm = [normal_header(display(c)) for c in header]
    refs: dict[str, int] = {}
    for row_index in range(header_index + 1, len(rows)):
        row = rows[row_index]
        if [normal_header(display(c)) for c in row[: len(header_norm)]] == header_norm:
            continue  # the header repeated at the top of a printed page
        values: dict[str, CellValue] = {}
        for field_name, col in positions.items():
            value = row[col] if col < len(row) else None
            values[field_name] = _clean(value, layout, field_name, row_index, col, problems, where)
        if all(v is None for v in values.values()):
            continue
        action = Action(id=plan.new_id(), values=values)
        plan.actions.append(action)
        ref = display(values.get(layout.reference)).strip()
        if not ref:
            problems.append(Problem("blank-reference", f"row {row_index + 1} has no "
                                    f"{layout.column(layout.reference).header!r}; kept with ID {action.id}.",
                                    cell=cell_name(row_index, positions.get(layout.reference, 0)), **where))
        elif ref in refs:
            problems.append(Problem("duplicate-reference", f"reference {ref!r} is on rows "
                                    f"{refs[ref] + 1} and {row_index + 1}; both are kept, with their own "
                                    "IDs.", action=ref,
                                    cell=cell_name(row_index, positions[layout.reference]), **where))
        else:
            refs[ref] = row_index
    if not plan.actions:
        raise XlplanError(f"Source {source}: the header is on row {header_index + 1}"
                          + (f" of sheet {sheet_name!r}" if sheet_name else "")
                          + " but no action rows follow it. Nothing to import.")
    routes, route_problems = plan.routes()
    problems.extend(route_problems)
    services: dict[str, int] = {}
    for service_list in routes.values():
        for service in service_list:
            services[service] = services.get(service, 0) + 1
    write_master(plan, output)
    return ImportResult(output, len(plan.actions), services, sheet_name, header_index + 1, problems)


def _clean(value: CellValue, layout: Layout, field_name: str, row: int, col: int,
           problems: list[Problem], where: dict) -> CellValue:
    if not isinstance(value, str):
        return value
    column = layout.column(field_name)
    here = {"cell": cell_name(row, col), "column": column.header, **where}
    if ILLEGAL_XML_CHARS.search(value):
        value = ILLEGAL_XML_CHARS.sub("", value)
        problems.append(Problem("control-chars", "invisible control characters were removed.", **here))
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if len(value) > MAX_CELL_CHARS:
        problems.append(Problem("too-long", f"{len(value):,} characters, over Excel's "
                                f"{MAX_CELL_CHARS:,}; the text was cut there. Split it.", **here))
        value = value[:MAX_CELL_CHARS]
    if column.type == "rating" and value.strip():
        normal = layout.normalise_rating(value)
        if normal is None:
            problems.append(Problem("invalid-rating", f"{value!r} is not on the scale "
                                    f"({', '.join(layout.rating_values)}); kept as written.",
                                    value=value, severity="warning", **here))
        elif normal != value:
            problems.append(Problem("rating-normalised", f"{value!r} read as {normal!r}.",
                                    value=value, **here))
            value = normal
    return value


def new_plan(output: Path, *, layout_name: str = "cqc", title: str | None = None) -> Plan:
    layout, layout_toml = load_layout(layout_name)
    plan = Plan(
        meta=new_metadata("master", plan_id=new_plan_id(layout_toml.encode()),
                          title=title or layout.title, layout_name=layout.name, layout_toml=layout_toml),
        layout=layout, actions=[])
    write_master(plan, output)
    return plan
