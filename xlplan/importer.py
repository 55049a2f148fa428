"""Starting from what a trust already has: a plan in .xlsx, .xls, .ods or .csv.

Trusts keep plans as people print them: title rows, section headings across merged cells,
a key row, headers in their own words ("RAG", "Lead"), extra columns, a Glossary sheet.
Import finds the table, keeps every action and nothing else in the plan, and carries what
the layout does not know into the master, so nothing of the source is lost or invented.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from .carry import ExtraColumn as CentralColumn
from .errors import XlplanError
from .excel import (
    ILLEGAL_XML_CHARS,
    MAX_CELL_CHARS,
    CellValue,
    cell_name,
    cell_text,
    column_letter,
    display,
    value_for_column,
)
from .layout import Layout, load_layout, parse_layout
from .masterbook import write_master
from .metadata import ID_HEADER, META_SHEET, STATUS_HEADER, new_metadata
from .plan import Action, CarriedSheet, Plan, new_plan_id
from .problems import Problem
from .workbook import MASTER_LIMITS, UnreadableWorkbook, open_workbook, read_with_second_reader

HEADER_SEARCH_ROWS = 50
FUZZY_CUTOFF = 0.82
SHOW_SKIPPED = 5  # rows named per kind in a message; the rest are counted

# "3.1", "12a", "R1", "SA-4", "4.10.", "ii)": what a reference cell looks like. A section
# heading ("Section 3 – Acute care") never does.
REFERENCE_PATTERN = re.compile(
    r"^(?:[A-Za-z]{0,4}[-.]?\d+(?:[.\-/]\d+)*[A-Za-z]?[.)]?|[ivxlc]{1,6}[.)]?)$", re.I
)
# The first words of a key, legend or footnote row ("Key: R = off track", "* see glossary").
# The first words of a key, legend or footnote row ("Key: R = off track", "NB - …", "* see
# glossary", a lone "Key" before the colours). Punctuation is required after the word, so an
# action that starts "Key worker allocation" is never taken for one.
KEY_PATTERN = re.compile(
    r"^\s*(?:(?:key|legend|notes?|nb|n\.b\.|source|footnotes?)\s*[:\-–=]"
    r"|(?:key|legend)\s*$|[*†‡])",
    re.I,
)
SKIP_KINDS = {
    "section": "section heading(s)",
    "key": "key or footnote row(s)",
    "header": "repeated header row(s)",
}


@dataclass
class SourceSheet:
    """One sheet of the source as read: its rows, visibility and merged cells."""

    name: str | None
    rows: list[list[CellValue]]
    state: str = "visible"
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)


@dataclass
class SkippedRow:
    row: int  # 1-based, as the person sees it
    kind: str  # section | key | header
    text: str


@dataclass
class ColumnMatch:
    """How one source column was read: into a layout column, or kept as a central column."""

    source: str  # the header as the source has it
    letter: str
    header: str  # the master's header for it
    how: str  # header | alias | close wording | --map | kept


@dataclass
class ImportResult:
    path: Path
    actions: int
    services: dict[str, int]
    source_sheet: str | None
    header_row: int
    problems: list[Problem] = field(default_factory=list)
    columns: list[ColumnMatch] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    carried_sheets: list[str] = field(default_factory=list)
    route_header: str = ""

    def skipped_summary(self) -> list[str]:
        """'skipped 3 section heading(s): row 5 'Section 3 – …', …' per kind of row."""
        lines = []
        for kind, words in SKIP_KINDS.items():
            rows = [s for s in self.skipped if s.kind == kind]
            if not rows:
                continue
            named = ", ".join(
                f"row {s.row}" + (f" {clip(s.text, 50)!r}" if kind != "header" else "")
                for s in rows[:SHOW_SKIPPED]
            )
            more = f" and {len(rows) - SHOW_SKIPPED} more" if len(rows) > SHOW_SKIPPED else ""
            lines.append(f"skipped {len(rows)} {words}: {named}{more}")
        return lines


def clip(text: str, limit: int = 60) -> str:
    """Text for a message, cut at a word boundary with '…' rather than mid-word."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:–-") + "…"


def normal_header(text: str) -> str:
    """Case, spacing, line breaks and punctuation do not count; a header of punctuation
    only ("#") is kept as it is."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split()) or text.strip()


def column_names(layout: Layout) -> dict[str, str]:
    """Every header a layout column is known by (its header, its aliases), normalised -> field."""
    names: dict[str, str] = {}
    for column in layout.columns:
        for text in (column.header, *column.aliases):
            names.setdefault(normal_header(text), column.field)
    return names


def resolve_field(layout: Layout, name: str) -> str | None:
    """The field a user means by a field name, a header or one of its aliases."""
    if name.strip() in layout.fields:
        return name.strip()
    return column_names(layout).get(normal_header(name))


def match_columns(
    header: list[CellValue], layout: Layout, mapping: dict[str, str] | None = None
) -> tuple[dict[str, int], dict[str, str], list[int]]:
    """Field -> source column index, despite case, spacing, line breaks and the trust's own
    words for a column; how each field was matched; and the source columns that match nothing."""
    names = column_names(layout)
    mapping = mapping or {}
    matched: dict[str, int] = {}
    how: dict[str, str] = {}
    pending: list[tuple[int, str]] = []
    texts = [normal_header(display(cell)) if cell is not None else "" for cell in header]
    # The user's --map first, then exact names, so "Previous Directorate RAG Rating" can never
    # take the place of "Directorate RAG Rating"; close wording only for what is left.
    for index, text in enumerate(texts):
        if text and text in mapping and mapping[text] not in matched:
            matched[mapping[text]] = index
            how[mapping[text]] = "--map"
    taken = set(matched.values())
    for index, text in enumerate(texts):
        if not text or index in taken:
            continue
        field_name = names.get(text)
        if field_name is not None and field_name not in matched:
            matched[field_name] = index
            column = layout.column(field_name)
            how[field_name] = "header" if normal_header(column.header) == text else "alias"
        else:
            pending.append((index, text))
    # "Target date (dd/mm/yy)", "Lead (name and role)": the words outside the brackets.
    still: list[tuple[int, str]] = []
    for index, text in pending:
        cell = display(header[index])
        bare = normal_header(re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", cell))
        field_name = names.get(bare) if bare and bare != text else None
        if field_name is not None and field_name not in matched:
            matched[field_name] = index
            how[field_name] = "alias"
        else:
            still.append((index, text))
    unmatched: list[int] = []
    for index, text in still:
        free = {name: f for name, f in names.items() if f not in matched}
        close = difflib.get_close_matches(text, list(free), n=1, cutoff=FUZZY_CUTOFF)
        if close:
            matched[free[close[0]]] = index
            how[free[close[0]]] = "close wording"
        else:
            unmatched.append(index)
    return matched, how, sorted(unmatched)


# --- reading the source --------------------------------------------------------------------


def read_source(source: Path) -> tuple[list[SourceSheet], list[Problem]]:
    """Every sheet of the source that holds cells; a CSV is one unnamed sheet. Sheets that
    cannot be read (charts, macro sheets, damage) are left out with a note, so one of them
    never stops the data sheets being read."""
    if not source.exists():
        raise XlplanError(f"Source {source} not found.")
    if source.suffix.lower() in (".csv", ".tsv", ".txt"):
        rows = _read_csv(source)
        return ([SourceSheet(None, rows)] if any(c is not None for r in rows for c in r) else []), []
    if source.suffix.lower() == ".numbers":
        raise XlplanError(
            f"Source {source} is an Apple Numbers file, which Excel cannot open. In "
            "Numbers choose File > Export To > Excel…, and import the .xlsx it makes."
        )
    try:
        book = open_workbook(source, MASTER_LIMITS)
    except UnreadableWorkbook as exc:
        fallback = _read_with_openpyxl(source) if exc.problem.code == "corrupt" else None
        if fallback is not None:
            return fallback
        raise XlplanError(unreadable_message(source, exc.problem.code)) from exc
    sheets: list[SourceSheet] = []
    problems: list[Problem] = []
    for name in book.sheets:
        kind = book.kinds.get(name, "worksheet")
        if kind != "worksheet":
            problems.append(_sheet_left_out(source, name, kind))
            continue
        try:
            rows = book.rows(name)
        except UnreadableWorkbook:
            problems.append(_sheet_left_out(source, name, "damaged"))
            continue
        if any(c is not None for r in rows for c in r):
            sheets.append(SourceSheet(name, rows, book.hidden.get(name, "visible"), book.merged_ranges(name)))
    return sheets, problems


def _read_csv(source: Path) -> list[list[CellValue]]:
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
        raise XlplanError(
            f"Source {source} is neither UTF-8 nor Windows-1252 text. In Excel, "
            "save it as 'CSV UTF-8 (Comma delimited)' and import that."
        )
    delimiter = "\t" if source.suffix.lower() == ".tsv" else ","
    if source.suffix.lower() != ".tsv":
        try:
            delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t").delimiter
        except csv.Error:
            delimiter = ","
    # A cell past Excel's limit is reported and cut later, not refused by the CSV reader
    # (whose own limit is 128 KiB); a stray quote can make one field the rest of the file.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return [[cell_text(v) for v in row] for row in reader]
    except csv.Error as exc:
        raise XlplanError(
            f"Source {source}: line {reader.line_num} cannot be read as CSV. Open "
            "the file in Excel or LibreOffice, save it again as CSV (or .xlsx), and "
            "import that."
        ) from exc


SHEET_KIND_WORDS = {
    "chartsheet": "is a chart sheet; charts are not carried",
    "macrosheet": "is an Excel 4 macro sheet; macros are never read or run",
    "dialogsheet": "is an old dialog sheet",
    "vba": "holds macros; they are never read or run",
    "damaged": "could not be read (a chart, or damaged); it was left out",
}


def _sheet_left_out(source: Path, name: str, kind: str) -> Problem:
    words = SHEET_KIND_WORDS.get(kind, "is not a worksheet")
    return Problem(
        "sheet-not-read", f"sheet {name!r} {words}; the other sheets were read.", file=str(source), sheet=name
    )


def _read_with_openpyxl(source: Path) -> tuple[list[SourceSheet], list[Problem]] | None:
    """The second reader for .xlsx/.xlsm files the fast one refuses as a whole (an Excel 4
    macro sheet among the worksheets, say); None when it cannot read them either."""
    read = read_with_second_reader(source)
    if read is None:
        return None
    sheets, left_out = read
    return (
        [SourceSheet(name, rows, state) for name, rows, state in sheets],
        [_sheet_left_out(source, name, kind) for name, kind in left_out],
    )


# What to do about a source that cannot be read, in the words of the central team importing
# their own plan (the returns' messages say "send it again", which is not theirs to do).
UNREADABLE = {
    "encrypted": "is protected by a password to open. Open it in Excel (or LibreOffice), remove "
    "the password (Excel: File > Info > Protect Workbook > Encrypt with Password, "
    "clear it), save, and import that copy.",
    "numbers": "is an Apple Numbers file, which Excel cannot open. In Numbers choose File > "
    "Export To > Excel…, and import the .xlsx it makes.",
    "not-a-workbook": "is not an Excel or OpenDocument workbook (or its extension does not match "
    "what it is). Open it in Excel or LibreOffice, save it as .xlsx, and import "
    "that; a CSV export works too.",
    "corrupt": "cannot be read: it is damaged, truncated or made by a program xlplan cannot read. "
    "Open it in Excel or LibreOffice, save it as .xlsx (File > Save As), and import "
    "that; a CSV export of the plan sheet works too.",
    "too-large": "is larger than xlplan reads (500 MB, or a zip that unpacks past 4 GB). Save a "
    "copy holding the action plan sheet only, and import that.",
    "unsafe-xml": "holds XML declarations no spreadsheet program writes (entities, a DTD), so it "
    "was not opened. Open it in Excel, save it as .xlsx, and import that.",
}


def unreadable_message(source: Path, code: str) -> str:
    return f"Source {source} " + UNREADABLE.get(code, UNREADABLE["corrupt"])


# --- finding the table ---------------------------------------------------------------------


def _find_header(
    rows: list[list[CellValue]], layout: Layout, mapping: dict[str, str]
) -> tuple[int, dict[str, int], dict[str, str], list[int]] | None:
    best = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        matched, how, unmatched = match_columns(row, layout, mapping)
        if len(matched) >= min(2, len(layout.columns)) and (best is None or len(matched) > len(best[1])):
            best = (index, matched, how, unmatched)
    return best


def _suggest_layout(sheets: list[SourceSheet], tried: str, better_than: int = 1) -> str:
    """'It looks like layout solent' when another built-in layout fits the headers better."""
    from .layout import builtin_layouts

    best, best_count = None, better_than
    for name in builtin_layouts():
        if name == tried:
            continue
        candidate, _ = load_layout(name)
        for sheet in sheets:
            found = _find_header(sheet.rows, candidate, {})
            if found and len(found[1]) > best_count:
                best, best_count = name, len(found[1])
    return f"It looks like layout {best!r}: add --layout {best}.\n" if best else ""


def _header_like_row(sheets: list[SourceSheet]) -> tuple[SourceSheet, int, list[CellValue]] | None:
    """The row most like a table's header: the first with three or more short text cells
    (a title or a merged heading has one), else the fullest of the first rows."""
    fallback = None
    for sheet in sheets:
        for index, row in enumerate(sheet.rows[:HEADER_SEARCH_ROWS]):
            cells = [c for c in row if c is not None]
            short_texts = [c for c in cells if isinstance(c, str) and len(c) <= 80]
            if len(short_texts) >= 3:
                return sheet, index, row
            if cells and (fallback is None or len(cells) > len([c for c in fallback[2] if c is not None])):
                fallback = (sheet, index, row)
    return fallback


def _no_header_message(source: Path, sheets: list[SourceSheet], layout: Layout) -> str:
    if not sheets:
        return (
            f"Source {source} is empty: no sheet holds any cells. Check it is the right file "
            "(a CSV must hold the plan's header and its rows)."
        )
    sample = _header_like_row(sheets)
    found = ""
    if sample:
        sheet, index, row = sample
        where = f"sheet {sheet.name!r}, row {index + 1}" if sheet.name else f"row {index + 1}"
        found = (
            f"  The row that looks most like a header ({where}): "
            + "; ".join(clip(display(c), 40) for c in row if c is not None)[:400]
            + "\n"
        )
    fields = ", ".join(f"{c.field} ({clip(c.header, 30)})" for c in layout.columns[:8])
    return (
        f"Source {source}: no row looks like the header of layout {layout.name!r}.\n"
        f"  Expected headers such as: {'; '.join(clip(c.header, 50) for c in layout.columns[:6])} …\n"
        + found
        + _suggest_layout(sheets, layout.name)
        + "Choose the layout that fits (`xlplan layouts`), give your own with --layout FILE.toml, "
        f'or say which of your columns is which with --map "Your header=field" (fields: {fields} …).'
    )


# --- options -------------------------------------------------------------------------------


def parse_maps(pairs: list[str], layout: Layout, option: str) -> list[tuple[str, str]]:
    """['Responsible Lead=owner'] -> [('Responsible Lead', 'owner')], refusing what has no '='."""
    parsed = []
    for pair in pairs:
        left, sep, right = pair.rpartition("=")
        if not sep or not left.strip() or not right.strip():
            raise XlplanError(
                f'{option} {pair!r}: write it as {option} "Your header=field" '
                "(quote it when it holds spaces)."
            )
        parsed.append((left.strip(), right.strip()))
    return parsed


def column_maps(pairs: list[str], layout: Layout) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for left, right in parse_maps(pairs, layout, "--map"):
        target = resolve_field(layout, right)
        if target is None:
            raise XlplanError(
                f"--map {left}={right}: layout {layout.name!r} has no column "
                f"{right!r}. Its fields: {', '.join(layout.fields)}."
            )
        mapping[normal_header(left)] = target
    return mapping


def rating_maps(pairs: list[str], layout: Layout) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for left, right in parse_maps(pairs, layout, "--map-rating"):
        value = layout.normalise_rating(right)
        if value is None:
            raise XlplanError(
                f"--map-rating {left}={right}: {right!r} is not on the layout's "
                f"scale ({', '.join(layout.rating_values)})."
            )
        mapping[left.strip().lower()] = value
    return mapping


def _field_for(header: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", header.lower()).strip("_") or "column"
    base = base if base[0].isalpha() else f"c_{base}"
    name, n = base[:40], 2
    while name in taken:
        name, n = f"{base[:36]}_{n}", n + 1
    return name


def routed_layout(layout: Layout, layout_toml: str, route: str) -> tuple[Layout, str, str | None]:
    """The layout routing by the column the user named, and the source header to map to it.

    A layout column (by field, header or alias) becomes the route; a column the layout does
    not know is added to the layout as a central column. The change is written into the TOML
    text the master carries, so templates and merges route the same way."""
    target = resolve_field(layout, route)
    text = layout_toml
    source_header = None
    if target is None:
        target = _field_for(route, set(layout.fields))
        text = (
            text.rstrip("\n") + "\n\n# Added by `xlplan import --route`: the column that routes "
            f'actions to services.\n[[column]]\nfield = "{target}"\nheader = '
            f'{_toml_string(route)}\nowner = "central"\nwidth = 16\n'
        )
        source_header = route
    if target != layout.route:
        text, count = re.subn(r"^route\s*=.*$", f'route = "{target}"', text, count=1, flags=re.M)
        if not count:
            raise XlplanError(f"--route {route!r}: the layout has no top-level `route` line to change.")
    if text == layout_toml:
        return layout, layout_toml, source_header
    return parse_layout(text, f"layout {layout.name!r} with --route"), text, source_header


def _toml_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


# --- the import ----------------------------------------------------------------------------


def import_plan(
    source: Path,
    output: Path,
    *,
    layout_name: str = "cqc",
    title: str | None = None,
    maps: list[str] | None = None,
    route: str | None = None,
    rating_map: list[str] | None = None,
) -> ImportResult:
    layout, layout_toml = load_layout(layout_name)
    if route:
        layout, layout_toml, route_source = routed_layout(layout, layout_toml, route)
    mapping = column_maps(list(maps or []), layout)
    if route and route_source:
        mapping.setdefault(normal_header(route_source), layout.route)
    ratings = rating_maps(list(rating_map or []), layout)
    sheets, problems = read_source(source)
    found = None
    for sheet in sheets:
        header = _find_header(sheet.rows, layout, mapping)
        # The fullest match wins; between equals, a visible sheet before a hidden copy.
        if header and (
            found is None
            or (len(header[1]), sheet.state == "visible") > (len(found[1][1]), found[0].state == "visible")
        ):
            found = (sheet, header)
    if found is None:
        left_out = [p.message for p in problems if p.code == "sheet-not-read"]
        raise XlplanError(
            _no_header_message(source, sheets, layout) + "".join(f"\n  Not read: {m}" for m in left_out)
        )
    sheet, (header_index, positions, how, unmatched) = found
    rows, header = sheet.rows, sheet.rows[header_index]
    where = {"file": str(source), "sheet": sheet.name}
    _refuse_unknown_maps(source, sheet, header_index, header, mapping)
    _refuse_missing_essentials(source, sheet, header_index, header, layout, positions, unmatched, route)
    columns = [
        ColumnMatch(
            display(header[positions[f]]), column_letter(positions[f]), layout.column(f).header, how[f]
        )
        for f in sorted(positions, key=positions.get)
    ]
    extras = _extra_columns(rows, header_index, header, unmatched, layout)
    for extra in extras:
        columns.append(ColumnMatch(extra.source, column_letter(extra.index), extra.header, "kept"))
        problems.append(
            Problem(
                "column-kept",
                f"source column {extra.source!r} ({extra.filled} filled cell(s)) is not "
                f"in layout {layout.name!r}; it is kept in the master as the central column "
                f"{extra.header!r} (not issued to services). To import it as a layout column, add "
                f'--map "{extra.source}=FIELD".',
                cell=cell_name(header_index, extra.index),
                column=extra.source,
                **where,
            )
        )
    columns.sort(key=lambda c: _letter_index(c.letter))
    for column in layout.columns:
        if column.field not in positions:
            problems.append(
                Problem(
                    "missing-column",
                    f"the source has no column {column.header!r}; it starts empty.",
                    column=column.header,
                    severity="info",
                    **where,
                )
            )
    if title is None:
        title = next((display(c) for r in rows[:header_index] for c in r if c is not None), None)
    plan = Plan(
        meta=new_metadata(
            "master",
            plan_id=new_plan_id(source.read_bytes()),
            title=(title or layout.title).strip()[:200],
            layout_name=layout.name,
            layout_toml=layout_toml,
        ),
        layout=layout,
        actions=[],
        extra_columns=[CentralColumn(e.header, None, e.index) for e in extras],
    )
    skipped, source_rows = _read_actions(
        plan, sheet, header_index, positions, extras, ratings, problems, where
    )
    # The kept columns travel as the central team's own columns of the master (xlplan.carry).
    for action in plan.actions:
        action.extra = [action.values.pop(e.field, None) for e in extras]
    if not plan.actions:
        raise XlplanError(
            f"Source {source}: the header is on row {header_index + 1}"
            + (f" of sheet {sheet.name!r}" if sheet.name else "")
            + " but no action rows follow it. Nothing to import."
        )
    _check_references(plan, source_rows, positions, problems, where)
    routes, route_problems = plan.routes()
    problems.extend(route_problems)
    services: dict[str, int] = {}
    for service_list in routes.values():
        for service in service_list:
            services[service] = services.get(service, 0) + 1
    problems.extend(similar_services(routes, source_rows, layout, where))
    carried = []
    for other in sheets:
        if other is not sheet:
            plan.carried.append(CarriedSheet(_carried_name(other.name), _trim(other.rows), other.state))
            carried.append(other.name or "")
            problems.append(
                Problem(
                    "sheet-kept",
                    f"sheet {other.name!r} ({len(other.rows)} rows) is kept in the master as it is.",
                    file=str(source),
                    sheet=other.name,
                )
            )
    source_actions = len(plan.actions)  # what the user counts in their file
    problems.extend(plan.split_joint_actions())
    write_master(plan, output)
    return ImportResult(
        output,
        source_actions,
        services,
        sheet.name,
        header_index + 1,
        problems,
        columns=columns,
        skipped=skipped,
        carried_sheets=carried,
        route_header=layout.column(layout.route).header,
    )


def _letter_index(letters: str) -> int:
    index = 0
    for char in letters:
        index = index * 26 + ord(char) - 64
    return index


def _refuse_unknown_maps(
    source: Path, sheet: SourceSheet, header_index: int, header: list[CellValue], mapping: dict[str, str]
) -> None:
    present = {normal_header(display(c)) for c in header if c is not None}
    missing = [m for m in mapping if m not in present]
    if missing:
        raise XlplanError(
            f"Source {source}{_on_sheet(sheet)}: --map names {', '.join(repr(m) for m in missing)}, "
            f"but the header (row {header_index + 1}) has no such column. Its columns: "
            + "; ".join(repr(display(c)) for c in header if c is not None)
            + "."
        )


def _on_sheet(sheet: SourceSheet) -> str:
    return f", sheet {sheet.name!r}" if sheet.name else ""


def _refuse_missing_essentials(
    source: Path,
    sheet: SourceSheet,
    header_index: int,
    header: list[CellValue],
    layout: Layout,
    positions: dict[str, int],
    unmatched: list[int],
    route: str | None,
) -> None:
    """Without the reference, the routing or the action column the plan would be invented:
    refuse, naming what was found and the --map that would fix it."""
    roles = [
        (layout.reference, "the reference of each action"),
        (layout.route, "the service (team) each action goes to"),
    ]
    if layout.action_field:
        roles.append((layout.action_field, "what will be done"))
    missing = [(f, role) for f, role in roles if f not in positions]
    if not missing:
        return
    found = "; ".join(
        f"{display(header[i])!r} = {clip(layout.column(f).header, 40)}"
        for f, i in sorted(positions.items(), key=lambda p: p[1])
    )
    others = [display(header[i]) for i in unmatched if header[i] is not None]
    lines = [
        f"Source {source}{_on_sheet(sheet)}, header on row {header_index + 1}: no column for "
        + " nor ".join(f"{clip(layout.column(f).header, 50)!r} ({role})" for f, role in missing)
        + f" of layout {layout.name!r}. Nothing was written."
    ]
    lines.append(f"  Columns found: {found or '(none)'}.")
    if others:
        lines.append("  Not matched: " + "; ".join(repr(o) for o in others) + ".")
    # A column of plain text (a name, a team) is what can route; prose, dates, ratings cannot.
    plain = [
        display(header[i])
        for f, i in sorted(positions.items(), key=lambda p: p[1])
        if layout.column(f).type in ("text", "choice") and f != layout.reference
    ]
    for f, _ in missing:
        candidates = [*plain, *others] if f == layout.route else others
        example = candidates[0] if candidates else "Your header"
        hint = f'  If one of your columns holds it, add --map "{example}={f}"'
        if f == layout.route and not route:
            hint = (
                f'  Choose the column that routes actions with --route "{example}" (or --map "{example}={f}")'
            )
        lines.append(hint + ".")
    suggestion = _suggest_layout([sheet], layout.name, better_than=len(positions))
    if suggestion:
        lines.append("  " + suggestion.rstrip("\n"))
    else:
        fits = _layout_with_essentials(header, layout.name)
        if fits:
            lines.append(
                f"  Layout {fits!r} finds its reference, routing and action columns in "
                f"this header: add --layout {fits}."
            )
    raise XlplanError("\n".join(lines))


def _layout_with_essentials(header: list[CellValue], tried: str) -> str | None:
    """Another built-in layout that finds the reference, routing and action columns here."""
    from .layout import builtin_layouts

    best, best_count = None, 0
    for name in builtin_layouts():
        if name == tried:
            continue
        candidate, _ = load_layout(name)
        matched, _, _ = match_columns(header, candidate)
        needed = {candidate.reference, candidate.route, candidate.action_field} - {None}
        if needed <= set(matched) and len(matched) > best_count:
            best, best_count = name, len(matched)
    return best


@dataclass
class ExtraColumn:
    index: int
    source: str
    header: str
    field: str
    filled: int
    dates: bool


def extra_field(n: int) -> str:
    """The key of a kept source column's value in Action.values (see Plan.extra_columns)."""
    return f"_extra_{n}"


def _extra_columns(
    rows: list[list[CellValue]],
    header_index: int,
    header: list[CellValue],
    unmatched: list[int],
    layout: Layout,
) -> list[ExtraColumn]:
    """Source columns the layout does not know, with a header or any value under it."""
    taken = {h.strip().lower() for c in layout.columns for h in (c.header,)}
    taken |= {STATUS_HEADER.lower(), ID_HEADER.lower()}
    body = rows[header_index + 1 :]
    width = max((len(r) for r in body), default=0)
    candidates = sorted(set(unmatched) | {i for i in range(len(header), width)})
    extras: list[ExtraColumn] = []
    for index in candidates:
        values = [r[index] for r in body if index < len(r) and r[index] is not None]
        source = display(header[index]).strip() if index < len(header) else ""
        if not source and not values:
            continue
        base = " ".join(source.split()) or f"Column {column_letter(index)}"
        # The master's header row must name each column once: a source column named like a
        # layout column (or xlplan's own) gets a suffix.
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base} (source)" if n == 2 else f"{base} ({n})"
        taken.add(name.lower())
        extras.append(
            ExtraColumn(
                index,
                source or name,
                name,
                extra_field(len(extras)),
                len(values),
                bool(values) and all(isinstance(v, dt.date) for v in values),
            )
        )
    return extras


def _classify(
    row: list[CellValue],
    header_norm: list[str],
    ref_col: int | None,
    first_col: int,
    merged: dict[int, list[tuple[int, int]]],
    row_index: int,
) -> str | None:
    """Why a row under the header is not an action (a kind of SKIP_KINDS, or 'blank'), or None."""
    filled = [(i, c) for i, c in enumerate(row) if c is not None]
    if not filled:
        return "blank"
    # The header printed again at a page break, perhaps with a cell or two left out.
    named = [(i, h) for i, h in enumerate(header_norm) if h]
    same = sum(
        1 for i, h in named if i < len(row) and row[i] is not None and normal_header(display(row[i])) == h
    )
    if same >= max(2, -(-len(named) * 3 // 5)):
        return "header"
    ref_text = display(row[ref_col]).strip() if ref_col is not None and ref_col < len(row) else ""
    if ref_text and REFERENCE_PATTERN.match(ref_text):
        return None
    first_text = display(filled[0][1])
    if KEY_PATTERN.match(first_text) and not (ref_text and ref_text != first_text.strip()):
        return "key"
    spans = merged.get(row_index, [])
    in_one_merge = any(all(c0 <= i <= c1 for i, _ in filled) for c0, c1 in spans if c1 > c0)
    if in_one_merge or (len(filled) == 1 and filled[0][0] <= first_col):
        return "section"
    return None


def _read_actions(
    plan: Plan,
    sheet: SourceSheet,
    header_index: int,
    positions: dict[str, int],
    extras: list[ExtraColumn],
    ratings: dict[str, str],
    problems: list[Problem],
    where: dict,
) -> tuple[list[SkippedRow], dict[str, int]]:
    layout = plan.layout
    rows = sheet.rows
    header_norm = [normal_header(display(c)) if c is not None else "" for c in rows[header_index]]
    merged: dict[int, list[tuple[int, int]]] = {}
    for r0, c0, r1, c1 in sheet.merged:
        for r in range(r0, r1 + 1):
            merged.setdefault(r, []).append((c0, c1))
    first_col = min(positions.values())
    ref_col = positions.get(layout.reference)
    skipped: list[SkippedRow] = []
    source_rows: dict[str, int] = {}
    unrated: dict[tuple[str, str], list[int]] = {}
    for row_index in range(header_index + 1, len(rows)):
        row = rows[row_index]
        kind = _classify(row, header_norm, ref_col, first_col, merged, row_index)
        if kind == "blank":
            continue
        if kind is not None:
            text = " ".join(display(c) for c in row if c is not None)
            skipped.append(SkippedRow(row_index + 1, kind, text))
            continue
        values: dict[str, CellValue] = {}
        for field_name, col in positions.items():
            value = row[col] if col < len(row) else None
            values[field_name] = _clean(
                value, layout, field_name, row_index, col, ratings, unrated, problems, where
            )
        for extra in extras:
            value = row[extra.index] if extra.index < len(row) else None
            if isinstance(value, str):
                value = _clean_text(value, extra.header, row_index, extra.index, problems, where)
            values[extra.field] = value if extra.dates else value_for_column(value, "text")
        action = Action(id=plan.new_id(), values=values)
        plan.actions.append(action)
        source_rows[action.id] = row_index + 1
    # A one-cell row after the last action closes the table: a footnote, not a heading.
    last_action = max(source_rows.values(), default=0)
    for row in skipped:
        if row.kind == "section" and row.row > last_action:
            row.kind = "key"
        problems.append(
            Problem(
                "skipped-row",
                f"row {row.row} is a "
                f"{SKIP_KINDS[row.kind].replace('(s)', '')}, not an action: "
                f"{clip(row.text, 60)!r}; left out of the plan.",
                cell=cell_name(row.row - 1, 0),
                **where,
            )
        )
    for (field_name, value), at in unrated.items():
        column = layout.column(field_name)
        rows_text = ", ".join(str(r) for r in at[:10]) + (f" and {len(at) - 10} more" if len(at) > 10 else "")
        problems.append(
            Problem(
                "invalid-rating",
                f"{value!r} (row(s) {rows_text}) is not on the scale "
                f"({', '.join(layout.rating_values)}); kept as written, so it counts as not rated. "
                f'Import again with --map-rating "{value}=VALUE" (the scale value you mean), or add '
                f"it to that rating's aliases in your layout.",
                value=value,
                column=column.header,
                severity="warning",
                **where,
            )
        )
    return skipped, source_rows


def _clean_text(value: str, header: str, row: int, col: int, problems: list[Problem], where: dict) -> str:
    here = {"cell": cell_name(row, col), "column": header, **where}
    if ILLEGAL_XML_CHARS.search(value):
        value = ILLEGAL_XML_CHARS.sub("", value)
        problems.append(Problem("control-chars", "invisible control characters were removed.", **here))
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if len(value) > MAX_CELL_CHARS:
        problems.append(
            Problem(
                "too-long",
                f"{len(value):,} characters, over Excel's "
                f"{MAX_CELL_CHARS:,}; the text was cut there. Split it.",
                **here,
            )
        )
        value = value[:MAX_CELL_CHARS]
    return value


def _clean(
    value: CellValue,
    layout: Layout,
    field_name: str,
    row: int,
    col: int,
    ratings: dict[str, str],
    unrated: dict[tuple[str, str], list[int]],
    problems: list[Problem],
    where: dict,
) -> CellValue:
    column = layout.column(field_name)
    value = value_for_column(value, column.type)
    if not isinstance(value, str):
        return value
    value = _clean_text(value, column.header, row, col, problems, where)
    if column.type == "rating" and value.strip():
        normal = ratings.get(value.strip().lower()) or layout.normalise_rating(value)
        if normal is None:
            unrated.setdefault((field_name, value.strip()), []).append(row + 1)
        elif normal != value:
            how = "--map-rating" if value.strip().lower() in ratings else "the scale's aliases"
            problems.append(
                Problem(
                    "rating-normalised",
                    f"{value!r} read as {normal!r} ({how}).",
                    value=value,
                    cell=cell_name(row, col),
                    column=column.header,
                    **where,
                )
            )
            value = normal
    return value


def _check_references(
    plan: Plan, source_rows: dict[str, int], positions: dict[str, int], problems: list[Problem], where: dict
) -> None:
    layout = plan.layout
    refs: dict[str, int] = {}
    for action in plan.actions:
        row = source_rows[action.id]
        ref = display(action.get(layout.reference)).strip()
        cell = cell_name(row - 1, positions.get(layout.reference, 0))
        if not ref:
            problems.append(
                Problem(
                    "blank-reference",
                    f"row {row} has no {layout.column(layout.reference).header!r}; kept with ID {action.id}.",
                    cell=cell,
                    **where,
                )
            )
        elif ref in refs:
            problems.append(
                Problem(
                    "duplicate-reference",
                    f"reference {ref!r} is on rows {refs[ref]} and {row}; both are kept, with their own IDs.",
                    action=ref,
                    cell=cell,
                    **where,
                )
            )
        else:
            refs[ref] = row


def service_key(name: str) -> str:
    """What is left of a service name when case, punctuation and spacing do not count."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def _same_person(a: str, b: str) -> bool:
    """'K Slater' and 'Kate Slater', 'K. Slater' and 'Slater K': initials standing for names."""
    ta, tb = re.findall(r"[a-z0-9]+", a.lower()), re.findall(r"[a-z0-9]+", b.lower())
    if len(ta) != len(tb) or len(ta) < 2:
        return False
    for order in (tb, tb[::-1]):
        if (
            all(
                x == y or (len(x) == 1 and y.startswith(x)) or (len(y) == 1 and x.startswith(y))
                for x, y in zip(ta, order, strict=True)
            )
            and ta != order
        ):
            return True
    return False


def similar_services(
    routes: dict[str, list[str]], source_rows: dict[str, int], layout: Layout, where: dict
) -> list[Problem]:
    """Service names that are probably one service typed two ways, with the rows of each."""
    rows_of: dict[str, list[int]] = {}
    for action_id, services in routes.items():
        for service in services:
            rows_of.setdefault(service, []).append(source_rows.get(action_id, 0))
    # Only names sharing their key, or their longest word (a surname), are compared: a plan
    # routed by person may name thousands.
    buckets: dict[str, list[str]] = {}
    for name in rows_of:
        words = re.findall(r"[a-z0-9]+", name.lower())
        for bucket in {"k:" + service_key(name), "w:" + max(words, key=len, default="")}:
            buckets.setdefault(bucket, []).append(name)
    order = {name: n for n, name in enumerate(rows_of)}
    problems = []
    seen: set[frozenset[str]] = set()
    for a in rows_of:
        words = re.findall(r"[a-z0-9]+", a.lower())
        near = {
            *buckets.get("k:" + service_key(a), []),
            *buckets.get("w:" + max(words, key=len, default=""), []),
        }
        group = [a] + [
            b
            for b in sorted(near, key=order.__getitem__)
            if b != a and (service_key(a) == service_key(b) or _same_person(a, b))
        ]
        if len(group) < 2 or frozenset(group) in seen:
            continue
        seen.add(frozenset(group))
        detail = "; ".join(
            f"{name!r} on row(s) {', '.join(str(r) for r in rows_of[name][:10])}" for name in group
        )
        header = layout.column(layout.route).header
        problems.append(
            Problem(
                "similar-services",
                f"{detail} look like one service typed {len(group)} ways; each "
                f"would get its own workbook. Make {header!r} the same in the source (or the master) "
                "and import again.",
                column=header,
                **where,
            )
        )
    return problems


def _carried_name(name: str | None) -> str:
    # The master's own hidden sheet must stay the master's.
    return f"{name} (source)" if name == META_SHEET else (name or "Source")


def _trim(rows: list[list[CellValue]]) -> list[list[CellValue]]:
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return rows


def new_plan(output: Path, *, layout_name: str = "cqc", title: str | None = None) -> Plan:
    layout, layout_toml = load_layout(layout_name)
    plan = Plan(
        meta=new_metadata(
            "master",
            plan_id=new_plan_id(layout_toml.encode()),
            title=title or layout.title,
            layout_name=layout.name,
            layout_toml=layout_toml,
        ),
        layout=layout,
        actions=[],
    )
    write_master(plan, output)
    return plan
