"""Rows written as XML (xlplan/rowxml.py) are the rows XlsxWriter writes: the same bytes in
the sheet part for every kind of cell xlplan writes, read back the same, and notes placed as
before."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from xlplan.carry import Formula
from xlplan.excel import clean_for_cell
from xlplan.rowxml import Cells, letters
from xlplan.sheets import Book

CELLS: list[object] = [
    "plain",
    "fish & chips <b> > 3",
    "  leading and trailing  ",
    "line one\r\nline two",
    "a literal _x0041_ escape",
    "",
    None,
    dt.date(2017, 12, 9),
    dt.datetime(2021, 3, 4, 15, 30),
    dt.date(1900, 1, 15),
    42,
    3.25,
    True,
    Formula('=A1&"x"', "plainx"),
    Formula("=1/0", "#DIV/0!"),
    Formula("=2*3", 6),
    Formula("=TODAY()", dt.date(2026, 11, 25)),
    Formula("=SUM(1)", ""),
    Formula("=_xlfn._xlws.FILTER(A1:A3,A1:A3>1)", 2),
    Formula("=UNIQUE(A1:A3)", "a & b"),
]


def write_value(ws, row: int, col: int, value: object, fmt, date_fmt) -> None:  # noqa: ANN001
    """What XlsxWriter's own calls write for a plan value: the yardstick."""
    if value is None:
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, dt.date):
        ws.write_datetime(row, col, dt.datetime.combine(value, dt.time()), date_fmt)
    else:
        ws.write_string(row, col, clean_for_cell(str(value)), fmt)


def xlsxwriter_carried(ws, row: int, col: int, value: object, fmt, date_fmt) -> None:  # noqa: ANN001
    """What XlsxWriter's own calls write for a central team's cell: the yardstick."""
    if isinstance(value, Formula):
        shown = value.value
        if isinstance(shown, dt.date):
            base = dt.datetime(1899, 12, 30)
            shown = (dt.datetime.combine(shown, dt.time()) if type(shown) is dt.date else shown) - base
            shown = shown.days + shown.seconds / 86400
        fmt = date_fmt if isinstance(value.value, dt.date) else fmt
        ws.write_formula(row, col, value.text, fmt, "" if shown is None else shown)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, int | float):
        ws.write_number(row, col, value, fmt)
    elif type(value) is dt.datetime:
        ws.write_datetime(row, col, value, date_fmt)
    else:
        write_value(ws, row, col, value, fmt, date_fmt)


def write_both(tmp_path: Path) -> tuple[Path, Path]:
    """The same row through XlsxWriter's cell calls and through rowxml, formats made in the
    same order (so their style indices agree)."""
    paths = []
    for kind in ("xlsxwriter", "rowxml"):
        path = tmp_path / f"{kind}.xlsx"
        book = Book(path)
        ws = book.workbook.add_worksheet("Sheet")
        body = book.fmt(text_wrap=True, border=1)
        dated = book.fmt(num_format="dd/mm/yyyy")
        bold = book.fmt(bold=True)
        for fmt in (bold, body, dated):  # style indices in one order for both writers
            fmt._get_xf_index()
        ws.write_string(0, 0, "header", bold)
        if kind == "xlsxwriter":
            ws.set_row(1, 30.6)
            for col, value in enumerate(CELLS):
                xlsxwriter_carried(ws, 1, col, value, body, dated)
        else:
            rows = book.rows_of(ws)
            style, date_style = rows.style(body), rows.style(dated)
            cells = [rows.carried(f"{letters(c)}2", style, v, date_style) for c, v in enumerate(CELLS)]
            rows.add(1, cells, 30.6, len(CELLS) - 1)
        book.close()
        paths.append(path)
    return paths[0], paths[1]


def sheet_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode()


def test_every_kind_of_cell_is_written_byte_for_byte_as_xlsxwriter_writes_it(tmp_path: Path) -> None:
    old, new = write_both(tmp_path)
    assert sheet_xml(new) == sheet_xml(old)
    with zipfile.ZipFile(new) as archive:  # a dynamic-array formula needs the metadata part
        assert "xl/metadata.xml" in archive.namelist()
    read_old, read_new = openpyxl.load_workbook(old)["Sheet"], openpyxl.load_workbook(new)["Sheet"]

    def read(cell):  # noqa: ANN001, ANN202 - openpyxl's array formulas compare by identity
        return (cell.value.ref, cell.value.text) if hasattr(cell.value, "ref") else cell.value

    assert [read(c) for c in read_new[2]] == [read(c) for c in read_old[2]]
    assert read_new["B2"].value == "fish & chips <b> > 3"
    calamine = python_calamine.CalamineWorkbook.from_path(str(new)).get_sheet_by_name("Sheet").to_python()
    assert calamine[1][3:5] == ["line one\r\nline two", "a literal _x0041_ escape"]
    assert read_new["H2"].value == dt.datetime(2017, 12, 9)
    assert read_new["I2"].value == dt.datetime(2021, 3, 4, 15, 30)  # a carried time of day kept
    assert read_new["N2"].value == '=A1&"x"'
    assert read_new.row_dimensions[2].height == 30.75  # whole pixels, as XlsxWriter sets it


def test_rows_must_ascend(tmp_path: Path) -> None:
    book = Book(tmp_path / "x.xlsx")
    rows = book.rows_of(book.workbook.add_worksheet("Sheet"))
    rows.add(3, [])
    with pytest.raises(ValueError):
        rows.add(3, [])
    book.close()


def test_a_note_on_a_tall_row_far_down_is_anchored_at_its_cell(tmp_path: Path) -> None:
    """XlsxWriter places a note's box from the heights of the rows above it: the plan sheet
    tells it the heights of the rows it writes as XML, or a note 100 tall rows down would
    open many rows away from its cell."""
    from xlplan.layout import load_layout
    from xlplan.plan_sheet import CellMark, SheetRow, write_plan_sheet

    layout, _ = load_layout("cqc")
    long_text = "word " * 200
    rows = [SheetRow(f"A{n:04d}", {c.field: long_text for c in layout.columns[:3]}) for n in range(1, 101)]
    field = layout.columns[0].field
    rows[-1].marks[field] = CellMark("#FFEB9C", "was: something else")
    path = tmp_path / "plan.xlsx"
    book = Book(path)
    write_plan_sheet(
        book, layout, rows, title="t", subtitle="s", status_column=True, lock=None, row_count=len(rows)
    )
    book.close()
    with zipfile.ZipFile(path) as archive:
        vml = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".vml"))
    first_row, last_row = (int(n) for n in re.search(r"<x:Anchor>([^<]*)", vml)[1].split(",")[2::4])
    note_row = 2 + len(rows)  # 0-based: title, subtitle, header, then the actions
    assert note_row - 1 <= first_row <= note_row and last_row <= note_row + 2


def test_notes_are_written_byte_for_byte_as_xlsxwriter_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xlplan writes the notes part and its drawing itself (one string a note): the same
    bytes as XlsxWriter's own writers, for notes with text that needs escaping."""
    from xlsxwriter.comments import Comments
    from xlsxwriter.vml import Vml

    import xlplan.rowxml

    notes = ["was: fish & chips <b>", "  spaces kept  ", "line\nbreak", "_x0041_ and \x01"]

    def write(path: Path) -> dict[str, bytes]:
        book = Book(path)
        ws = book.workbook.add_worksheet("Sheet")
        for row, note in enumerate(notes * 3):
            ws.set_row(row, 15 + 10 * row)
            ws.write_string(row, row % 4, "cell")
            ws.write_comment(row, row % 4, note, {"author": "xlplan", "x_scale": 2.2, "y_scale": 1.6})
        book.close()
        with zipfile.ZipFile(path) as archive:
            return {n: archive.read(n) for n in archive.namelist() if "comments" in n or n.endswith(".vml")}

    fast = write(tmp_path / "fast.xlsx")
    monkeypatch.setattr(xlplan.rowxml, "_fast_note_writers", lambda: (Vml, Comments))
    assert write(tmp_path / "xlsxwriter.xlsx") == fast
    assert len(fast) == 2


def test_a_cell_written_by_xlsxwriter_below_xlplans_rows_fails_loudly(tmp_path: Path) -> None:
    """Rows go into the part before </sheetData>: a cell XlsxWriter wrote below them would
    leave the rows out of order (a file Excel repairs), so the write stops instead."""
    book = Book(tmp_path / "x.xlsx")
    ws = book.workbook.add_worksheet("Sheet")
    ws.write_string(0, 0, "header")
    rows = book.rows_of(ws)
    rows.add(1, [rows.text("A2", "", "ours")])
    ws.write_string(5, 0, "below")
    with pytest.raises(RuntimeError, match="below row 2"):
        book.close()


def test_cells_written_one_at_a_time_are_the_bytes_xlsxwriter_writes(tmp_path: Path) -> None:
    """`Cells` (the Progress sheet, a template's issued values): XlsxWriter's write_* calls,
    cell by cell with gaps between rows and columns, give the same sheet part."""
    writes = [
        ("string", 0, 0, "Progress & trends"),
        ("string", 2, 0, "Cycle"),
        ("string", 2, 3, "Complete %"),
        ("value", 3, 0, "2017-Q2"),
        ("value", 3, 1, dt.date(2017, 7, 31)),
        ("value", 3, 2, None),
        ("number", 3, 3, 0.375),
        ("number", 3, 4, 12),
        ("string", 7, 1, "text\x07with a bell"),
    ]
    parts = []
    for kind in ("xlsxwriter", "cells"):
        path = tmp_path / f"{kind}.xlsx"
        book = Book(path)
        ws = book.workbook.add_worksheet("Sheet")
        body, dated, pct = book.fmt(border=1), book.fmt(num_format="dd/mm/yyyy"), book.fmt(num_format="0%")
        for fmt in (body, dated, pct):
            fmt._get_xf_index()
        cells = Cells(book.rows_of(ws)) if kind == "cells" else None
        for how, row, col, value in writes:
            fmt = pct if isinstance(value, float) else body
            if cells is None:
                if how == "string":
                    ws.write_string(row, col, clean_for_cell(value), fmt)
                elif how == "number":
                    ws.write_number(row, col, value, fmt)
                else:
                    write_value(ws, row, col, value, fmt, dated)
            elif how == "string":
                cells.string(row, col, value, fmt)
            elif how == "number":
                cells.number(row, col, value, fmt)
            else:
                cells.value(row, col, value, fmt, dated)
        if cells is not None:
            cells.close()
        book.close()
        parts.append(sheet_xml(path))
    assert parts[1] == parts[0]
    assert "<row" in parts[1] and "Progress &amp; trends" in parts[1]
