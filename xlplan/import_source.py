"""Reading the source of an import: the cells of every sheet of a .xlsx, .xls, .ods or .csv
file, through the safety gate, and what to tell the central team when it cannot be read."""

from __future__ import annotations

from pathlib import Path

from .csvfile import read_csv_rows
from .errors import XlplanError
from .excel import (
    CellValue,
    cell_text,
)
from .import_table import SourceSheet
from .problems import Problem
from .safety_gate import MASTER_LIMITS, UnreadableWorkbook
from .workbook import open_workbook, read_with_second_reader


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
    rows = read_csv_rows(source, "Source", "import that (or save it as .xlsx)")
    return [[cell_text(v) for v in row] for row in rows]


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
