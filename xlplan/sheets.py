"""Writing sheets with XlsxWriter: the workbook (`Book`), the Key, the hidden metadata, plain
tables and the central team's own sheets. Built from data every time, never edited in place.
The plan sheet, which master and templates share, is `plan_sheet.write_plan_sheet`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from . import style
from .excel import DATE_FORMAT, MAX_CELL_CHARS, CellValue, clean_for_cell
from .layout import Column, Layout
from .metadata import META_SHEET, Metadata, metadata_rows
from .print_setup import print_one_page, print_table
from .rowxml import SheetRows, fast_notes, letters

HEADER_ROW = 2  # 0-based: title, subtitle, then the header
# The Key sheet's column of other spellings of each rating; the central team may add to it
# in the master, and merge reads it back (master_tables.with_key_aliases).
KEY_ALIASES_HEADER = "Also read as"


def _legacy_hash(password: str) -> str:
    """The 16-bit hash Excel keeps for sheet and workbook protection (ECMA-376 Part 4)."""
    digest = 0
    for char in password[::-1]:
        digest = ((digest >> 14) & 0x01) | ((digest << 1) & 0x7FFF)
        digest ^= ord(char)
    digest = ((digest >> 14) & 0x01) | ((digest << 1) & 0x7FFF)
    digest ^= len(password) ^ 0xCE4B
    return f"{digest:X}"


class Book:
    """An XlsxWriter workbook with cached formats and optional workbook-structure protection."""

    def __init__(
        self,
        path: Path,
        *,
        lock_structure: bool = False,
        password: str = "",
        compress_level: int | None = None,
    ) -> None:
        # Always constant_memory (rows written out as they go, in temporary files): the rows
        # xlplan writes as XML (rowxml) are put into XlsxWriter's parts as it zips them from
        # those files, and XlsxWriter emits no row of its own below the header there. (In
        # memory, XlsxWriter would write an empty row for every row whose height it is told,
        # which notes need to be placed.)
        import xlsxwriter

        class _Workbook(xlsxwriter.Workbook):
            # XlsxWriter has no workbook-structure protection; the element goes right after
            # <workbookPr>, where the schema wants it.
            def _write_workbook_pr(inner) -> None:  # noqa: N805
                super()._write_workbook_pr()
                if lock_structure:
                    attrs = [("workbookPassword", _legacy_hash(password))] if password else []
                    inner._xml_empty_tag("workbookProtection", attrs + [("lockStructure", "1")])

        self.workbook = _Workbook(
            str(path),
            {
                "constant_memory": True,
                # Service text is text: never a formula, number or link, whatever it starts with.
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
                "default_date_format": DATE_FORMAT,
            },
        )
        self.workbook.set_properties({"creator": "xlplan", "comments": "Written by xlplan"})
        self._formats: dict[tuple, object] = {}
        self._fast: list[SheetRows] = []
        self._compress_level = compress_level
        # Zip parts xlplan writes itself when the workbook closes (xlplan.zipparts).
        self.parts: dict[str, object] = {}

    def rows_of(self, ws) -> SheetRows:
        """Where the data rows of `ws` go when they are written as XML (rowxml)."""
        sheet = SheetRows(ws, self.part_name(ws))
        self._fast.append(sheet)
        return sheet

    def fmt(self, **props: object):
        key = tuple(sorted(props.items()))
        if key not in self._formats:
            base = {"font_name": style.FONT, "font_size": style.FONT_SIZE, "valign": "top"}
            self._formats[key] = self.workbook.add_format({**base, **props})
        return self._formats[key]

    def close(self) -> None:
        from .zipparts import substituted_parts

        parts = {**self.parts, **{sheet.part: sheet.splice for sheet in self._fast}}
        try:
            with substituted_parts(parts, self._compress_level), fast_notes():  # type: ignore[arg-type]
                self.workbook.close()
        except BaseException:
            # The file is abandoned (atomic_write removes it): XlsxWriter must not complain
            # again, on stderr, when the workbook object is collected.
            self.workbook.fileclosed = True
            raise

    def part_name(self, ws) -> str:
        """The zip part XlsxWriter gives a worksheet: sheet1.xml, sheet2.xml, … in the order
        the worksheets were added (chartsheets are numbered apart)."""
        sheets = self.workbook.worksheets()
        number = 1 + sum(1 for other in sheets[: sheets.index(ws)] if not other.is_chartsheet)
        return f"xl/worksheets/sheet{number}.xml"


def set_width(ws, col: int, width: float) -> None:
    """A carried column's width; 0 is a column its owner hid, and it stays hidden."""
    if width:
        ws.set_column(col, col, width)
    else:
        ws.set_column(col, col, 8.43, None, {"hidden": True})


LINE_POINTS = 12.75
MAX_ROW_POINTS = 409  # Excel's limit for a row's height


def chars_per_line(columns: Sequence[Column]) -> list[int]:
    """Arial 10 fits about 1.2 characters per unit of column width."""
    return [max(int(c.width * 1.2) - 1, 4) for c in columns]


def row_height(values: Sequence[CellValue], per_line: Sequence[int], minimum: float = 15) -> float:
    """Wrapped text needs tall rows; LibreOffice shows the set height, so estimate it."""
    lines = 1
    for value, chars in zip(values, per_line, strict=True):
        if type(value) is str and (len(value) > chars or "\n" in value):
            if "\n" in value:
                count = sum(max(1, -(-len(part) // chars)) for part in value.split("\n"))
            else:  # most text: one paragraph (a few million cells in a large master)
                count = -(-len(value) // chars)
            if count > lines:
                lines = count
    return min(MAX_ROW_POINTS, max(minimum, lines * LINE_POINTS + 3))


def write_key_sheet(book: Book, layout: Layout, *, name: str = "Key", intro: Sequence[str] = ()) -> None:
    """The rating scale with its colours, and who owns which column."""
    ws = book.workbook.add_worksheet(name)
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 70)
    ws.set_column(2, 2, 14)
    row = 0
    ws.write_string(row, 0, name, book.fmt(bold=True, font_size=style.TITLE_SIZE))
    for line in intro:
        row += 1
        ws.write_string(row, 0, clean_for_cell(line), book.fmt(text_wrap=False))
    row += 2
    ws.write_string(row, 0, "Rating", book.fmt(bold=True))
    ws.write_string(row, 1, "Meaning", book.fmt(bold=True))
    ws.write_string(row, 2, KEY_ALIASES_HEADER, book.fmt(bold=True))
    for rating in layout.ratings:
        row += 1
        ws.write_string(
            row,
            0,
            rating.value,
            book.fmt(bg_color=rating.fill, font_color=rating.font, bold=True, border=1, align="center"),
        )
        ws.write_string(
            row, 1, rating.meaning + (" (complete)" if rating.complete else ""), book.fmt(text_wrap=True)
        )
        ws.write_string(row, 2, ", ".join(rating.aliases), book.fmt())
    row += 2
    ws.write_string(row, 0, "Column", book.fmt(bold=True))
    ws.write_string(row, 1, "Header", book.fmt(bold=True))
    ws.write_string(row, 2, "Filled in by", book.fmt(bold=True))
    for column in layout.columns:
        row += 1
        ws.write_string(row, 0, column.field, book.fmt())
        ws.write_string(row, 1, column.header, book.fmt(text_wrap=True))
        ws.write_string(
            row,
            2,
            column.owner,
            book.fmt(
                bg_color=style.HEADER_FILL[column.owner] if column.owner == "service" else style.LOCKED_FILL
            ),
        )
    print_one_page(ws)
    return ws


def table_formats(book: Book) -> dict[str, object]:
    """The formats of a table sheet (write_table): title, note, header, body and date cells."""
    return {
        "title": book.fmt(bold=True, font_size=style.TITLE_SIZE),
        "note": book.fmt(italic=True),
        "head": book.fmt(
            bold=True,
            bg_color=style.HEADER_FILL["central"],
            border=1,
            text_wrap=True,
            border_color=style.BORDER_COLOUR,
        ),
        "body": book.fmt(text_wrap=True, border=1, border_color=style.BORDER_COLOUR),
        "dated": book.fmt(
            text_wrap=True, border=1, border_color=style.BORDER_COLOUR, num_format=DATE_FORMAT, align="left"
        ),
    }


def table_header_row(title: str | None, notes: Sequence[str]) -> int:
    """The 0-based row of write_table's header: under the title, the notes and a blank row."""
    return (1 + len(notes) + (1 if notes else 0)) if title else 0


def write_table(
    book: Book,
    name: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[CellValue]],
    widths: Sequence[float],
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    skip: int = 0,
):
    """A plain filterable table sheet (Changes, Issues, Change log, carried sheets).

    `skip` leaves that many rows under the header for rows the caller puts there itself
    (the Change log's earlier rows, copied as they stand: xlplan.logpart)."""
    ws = book.workbook.add_worksheet(name)
    for index, width in enumerate(widths):
        ws.set_column(index, index, width)
    formats = table_formats(book)
    row = 0
    if title:
        ws.write_string(row, 0, clean_for_cell(title), formats["title"])
        row += 1
        for line in notes:
            ws.write_string(row, 0, clean_for_cell(line), formats["note"])
            row += 1
        row += 1 if notes else 0
    header_row = row
    head = formats["head"]
    for col, text in enumerate(headers):
        ws.write_string(row, col, text, head)
    body, dated = formats["body"], formats["dated"]
    row += skip
    # Wrapped cells overflow into the next row in LibreOffice unless the row is tall enough.
    per_line = [max(int(w * 1.2) - 1, 4) for w in widths]
    fast = None
    for values in rows:
        if fast is None:  # (a table whose rows the caller writes itself has none here)
            fast = book.rows_of(ws)
            body_style, date_style = fast.style(body), fast.style(dated)
        row += 1
        number = row + 1
        cells = [
            fast.value(f"{letters(col)}{number}", body_style, value, date_style)
            for col, value in enumerate(values)
            if value is not None
        ]
        fast.add(row, cells, row_height(values, per_line), len(values) - 1)
    if headers:
        ws.autofilter(header_row, 0, max(row, header_row), len(headers) - 1)
        ws.freeze_panes(header_row + 1, 0)
    print_table(ws, header_row if headers else None, footer=name)
    return ws


def write_plain_sheet(
    book: Book,
    name: str,
    rows: Sequence[Sequence[object]],
    state: str,
    widths: dict[int, float] | None = None,
    formats: dict[tuple[int, int], str] | None = None,
) -> None:
    """A central team's own sheet, carried across: values, formulas, number formats and
    column widths (its cells written by rowxml, as the plan sheet's carried columns are)."""
    ws = book.workbook.add_worksheet(name)
    for col, width in sorted((widths or {}).items()):
        set_width(ws, col, width)
    out = book.rows_of(ws)
    body = out.style(book.fmt(valign="top"))
    dated = out.style(book.fmt(valign="top", num_format=DATE_FORMAT, align="left"))
    formats = formats or {}
    for r, values in enumerate(rows):
        cells, last = [], -1
        for c, value in enumerate(values):
            if value is not None:
                code = formats.get((r, c)) if formats else None
                style = out.style(book.fmt(valign="top", num_format=code)) if code else body
                # A cell's own format shows its date too (a date-time keeps its time on screen).
                cells.append(out.carried(f"{letters(c)}{r + 1}", style, value, style if code else dated))
                last = c
        if cells:
            out.add(r, cells, last_col=last)
    print_table(ws, None, footer=name)
    if state == "hidden":
        ws.hide()
    elif state == "veryhidden":
        ws.very_hidden()


def write_metadata_sheet(book: Book, meta: Metadata, password: str = "") -> None:
    ws = book.workbook.add_worksheet(META_SHEET)
    # LibreOffice ignores workbook-structure protection, so a service could unhide this
    # sheet there: keep its cells locked too.
    ws.protect(password)
    for row, (key, value) in enumerate(metadata_rows(meta)):
        ws.write_string(row, 0, key)
        ws.write_string(row, 1, value[:MAX_CELL_CHARS])
    # veryHidden: not listed under Unhide, so services do not stumble on it.
    ws.very_hidden()
