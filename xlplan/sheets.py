"""Writing sheets with XlsxWriter: the plan sheet (master and templates share it), the Key,
the hidden metadata, and plain tables. Built from data every time, never edited in place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import style
from .excel import DATE_FORMAT, MAX_CELL_CHARS, MAX_NOTE_CHARS, CellValue, clean_for_cell
from .layout import Column, Layout
from .metadata import ID_HEADER, META_SHEET, STATUS_HEADER, Metadata, metadata_rows
from .print_setup import print_one_page, print_plan, print_table
from .rowxml import SheetRows, fast_notes, letters

HEADER_ROW = 2  # 0-based: title, subtitle, then the header
# The Key sheet's column of other spellings of each rating; the central team may add to it
# in the master, and merge reads it back (plan.with_key_aliases).
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


def write_value(ws, row: int, col: int, value: CellValue, fmt, date_fmt) -> None:
    if value is None:
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, dt.date):
        ws.write_datetime(row, col, dt.datetime.combine(value, dt.time()), date_fmt)
    else:
        ws.write_string(row, col, clean_for_cell(str(value)), fmt)


def write_carried(ws, row: int, col: int, value: object, fmt, date_fmt) -> None:
    """A cell of the central team's own (a column or sheet xlplan does not own), as it was:
    a formula stays a formula (with its last result), a number a number, a date a date."""
    from .carry import Formula

    if isinstance(value, Formula):
        shown = value.value
        if isinstance(shown, dt.date):
            base = dt.datetime(1899, 12, 30)
            shown = (dt.datetime.combine(shown, dt.time()) if type(shown) is dt.date else shown) - base
            shown = shown.days + shown.seconds / 86400
        ws.write_formula(
            row,
            col,
            value.text,
            date_fmt if isinstance(value.value, dt.date) else fmt,
            "" if shown is None else shown,
        )
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, fmt)
    elif value is not None:
        write_value(ws, row, col, value, fmt, date_fmt)


def own_fills(layout: Layout) -> set[str]:
    """Every fill colour xlplan itself puts on a plan sheet, as "FFEB9C": any other there is
    the central team's (and cannot be carried)."""
    colours = {
        style.CHANGED_FILL,
        style.CONFLICT_FILL,
        style.PROPOSED_FILL,
        style.LOCKED_FILL,
        style.PROBLEM_FILL,
        *style.HEADER_FILL.values(),
        *(r.fill for r in layout.ratings),
    }
    return {c.lstrip("#").upper() for c in colours}


def set_width(ws, col: int, width: float) -> None:
    """A carried column's width; 0 is a column its owner hid, and it stays hidden."""
    if width:
        ws.set_column(col, col, width)
    else:
        ws.set_column(col, col, 8.43, None, {"hidden": True})


@dataclass
class CellMark:
    """A highlight on one cell of the plan sheet, with the note that explains it."""

    fill: str
    note: str


@dataclass
class SheetRow:
    action_id: str
    values: dict[str, CellValue]
    status: str = ""
    marks: dict[str, CellMark] = field(default_factory=dict)
    fill: str | None = None  # whole-row tint (proposed actions)
    extra: list = field(default_factory=list)  # the central team's own columns, after the ID
    formulas: dict = field(default_factory=dict)  # field -> Formula the team keeps in that cell


@dataclass
class TemplateLock:
    """How a service template locks its plan sheet."""

    password: str
    spare_rows: int
    footer: str


def write_plan_sheet(
    book: Book,
    layout: Layout,
    rows: Iterable[SheetRow],
    *,
    title: str,
    subtitle: str,
    status_column: bool,
    lock: TemplateLock | None,
    row_count: int,
    extra_columns: Sequence[tuple[str, float | None, str | None]] = (),
) -> None:
    """The action plan sheet: title, headers as the trust prints them, one row per action."""
    ws = book.workbook.add_worksheet(layout.sheet)
    columns = layout.columns
    ncols = len(columns)
    status_col = ncols if status_column else None
    id_col = ncols + (1 if status_column else 0)
    last_data_row = HEADER_ROW + row_count + (lock.spare_rows if lock else 0)

    for index, column in enumerate(columns):
        ws.set_column(index, index, column.width)
    if status_col is not None:
        ws.set_column(status_col, status_col, style.STATUS_WIDTH)
    ws.set_column(id_col, id_col, 10, None, {"hidden": True})

    ws.write_string(
        0, 0, clean_for_cell(title), book.fmt(bold=True, font_size=style.TITLE_SIZE, valign="vcenter")
    )
    ws.write_string(1, 0, clean_for_cell(subtitle), book.fmt(italic=True, valign="vcenter"))
    for index, column in enumerate(columns):
        owner = "service" if (lock is None or column.owner == "service") else column.owner
        header_fmt = book.fmt(
            bold=True,
            text_wrap=True,
            border=1,
            border_color=style.BORDER_COLOUR,
            bg_color=style.HEADER_FILL[owner],
        )
        ws.write_string(HEADER_ROW, index, column.header, header_fmt)
    extra_header = book.fmt(
        bold=True,
        text_wrap=True,
        border=1,
        border_color=style.BORDER_COLOUR,
        bg_color=style.HEADER_FILL["central"],
    )
    if status_col is not None:
        ws.write_string(HEADER_ROW, status_col, STATUS_HEADER, extra_header)
    ws.write_string(HEADER_ROW, id_col, ID_HEADER, extra_header)
    # The central team's own columns (master only), after the hidden ID, as they had them.
    extra_fmts = []
    for offset, (header, width, num_format) in enumerate(extra_columns, start=id_col + 1):
        set_width(ws, offset, 15 if width is None else width)
        if header:
            ws.write_string(HEADER_ROW, offset, clean_for_cell(header), extra_header)
        extra_fmts.append(
            book.fmt(
                text_wrap=True,
                border=1,
                border_color=style.BORDER_COLOUR,
                **({"num_format": num_format} if num_format else {}),
            )
        )
    extra_date_fmt = book.fmt(
        text_wrap=True, border=1, border_color=style.BORDER_COLOUR, num_format=DATE_FORMAT, align="left"
    )

    def cell_format(column: Column, locked: bool, fill: str | None):
        props: dict[str, object] = {
            "text_wrap": True,
            "border": 1,
            "border_color": style.BORDER_COLOUR,
            "locked": locked,
        }
        if lock is not None and locked:
            props["bg_color"] = style.LOCKED_FILL
            props["font_color"] = "#404040"
        if fill:
            props["bg_color"] = fill
        if fill in (style.CHANGED_FILL, style.CONFLICT_FILL):
            props["border"] = 2
            props["border_color"] = style.CHANGED_BORDER
        if column.type == "date":
            props["num_format"] = DATE_FORMAT
            props["align"] = "left"
        if column.type in ("rating", "reference"):
            props["align"] = "center"
        return book.fmt(**props)

    per_line = chars_per_line(columns)
    ws.set_row(HEADER_ROW, row_height([c.header for c in columns], per_line, minimum=30))
    # One format per column, made once: a master has millions of cells. Only highlighted
    # cells (few) look theirs up.
    plain = [cell_format(c, lock is not None and c.owner != "service", None) for c in columns]
    fields = [c.field for c in columns]
    # A master has no locks, so its empty cells need no format: skipping them is most of
    # what a large plan costs to write. A template's empty cells carry their lock.
    write_blanks = lock is not None
    id_fmt = book.fmt(locked=True, font_color="#808080")
    status_fmt = book.fmt(border=1, border_color=style.BORDER_COLOUR)
    status_changed_fmt = book.fmt(
        border=1, border_color=style.BORDER_COLOUR, text_wrap=True, bg_color=style.CHANGED_FILL
    )
    fast = book.rows_of(ws)
    plain_styles = [fast.style(f) for f in plain]
    id_style, status_style = fast.style(id_fmt), fast.style(status_fmt)
    status_changed_style = fast.style(status_changed_fmt)
    extra_styles = [fast.style(f) for f in extra_fmts]
    extra_date_style = fast.style(extra_date_fmt)
    column_letters = [letters(i) for i in range(len(columns))]
    status_letter = letters(status_col) if status_col is not None else ""
    id_letter = letters(id_col)
    extra_letters = [letters(id_col + 1 + k) for k in range(len(extra_columns))]
    last_col = id_col + len(extra_columns)
    text, value_cell, blank = fast.text, fast.value, fast.blank
    row_index = HEADER_ROW
    for sheet_row in rows:
        row_index += 1
        number = row_index + 1
        values = [sheet_row.values.get(f) for f in fields]
        marks, row_fill, formulas = sheet_row.marks, sheet_row.fill, sheet_row.formulas
        cells = []
        for index, value in enumerate(values):
            ref = f"{column_letters[index]}{number}"
            mark = marks.get(fields[index]) if marks else None
            if formulas and fields[index] in formulas and mark is None:
                cells.append(
                    fast.carried(ref, plain_styles[index], formulas[fields[index]], plain_styles[index])
                )
                continue
            if mark is not None or row_fill:
                column = columns[index]
                cell_style = fast.style(
                    cell_format(
                        column,
                        lock is not None and column.owner != "service",
                        mark.fill if mark else row_fill,
                    )
                )
            else:
                cell_style = plain_styles[index]
            if type(value) is str:
                cells.append(text(ref, cell_style, value))
            elif value is None:
                if write_blanks or cell_style is not plain_styles[index]:
                    cells.append(blank(ref, cell_style))
            else:
                cells.append(value_cell(ref, cell_style, value, cell_style))
            if mark is not None:
                ws.write_comment(
                    row_index,
                    index,
                    clean_for_cell(mark.note)[:MAX_NOTE_CHARS],
                    {"author": "xlplan", "x_scale": 2.2, "y_scale": 1.6},
                )
        if status_col is not None:
            cells.append(
                text(
                    f"{status_letter}{number}",
                    status_changed_style if sheet_row.status else status_style,
                    sheet_row.status,
                )
            )
        cells.append(text(f"{id_letter}{number}", id_style, sheet_row.action_id))
        for offset, value in enumerate(sheet_row.extra):
            if value is not None:
                cells.append(
                    fast.carried(
                        f"{extra_letters[offset]}{number}", extra_styles[offset], value, extra_date_style
                    )
                )
        height = row_height(values, per_line)
        # XlsxWriter places each note's box from the heights of the rows above it.
        ws.set_row(row_index, height)
        fast.add(row_index, cells, height, last_col if sheet_row.extra else id_col)
    if lock:
        from .metadata import SPARE_PREFIX

        spare_styles = [
            fast.style(
                book.fmt(
                    text_wrap=True,
                    border=1,
                    border_color=style.BORDER_COLOUR,
                    locked=False,
                    bg_color=style.PROPOSED_FILL,
                    **({"num_format": DATE_FORMAT} if column.type == "date" else {}),
                )
            )
            for column in columns
        ]
        spare_id_style = fast.style(book.fmt(locked=True))
        for spare in range(1, lock.spare_rows + 1):
            row_index += 1
            number = row_index + 1
            if spare == 1:
                ws.write_comment(
                    row_index,
                    0,
                    "Spare rows: propose a new action here. Fill in the reference, "
                    "the requirement and your action; the central team will review it.",
                    {"author": "xlplan", "x_scale": 2},
                )
            cells = [blank(f"{column_letters[i]}{number}", spare_styles[i]) for i in range(len(columns))]
            cells.append(text(f"{id_letter}{number}", spare_id_style, f"{SPARE_PREFIX}{spare}"))
            fast.add(row_index, cells, None, id_col)

    first, last = HEADER_ROW + 1, max(last_data_row, HEADER_ROW + 1)
    _add_column_rules(book, ws, layout, first, last)
    ws.freeze_panes(HEADER_ROW + 1, 0)
    ws.autofilter(HEADER_ROW, 0, max(last_data_row, HEADER_ROW), id_col + len(extra_columns))
    # Text printed at 8 pt or more: A4 or A3, and pages wide if it must (print_setup).
    printed = [c.width for c in columns] + ([style.STATUS_WIDTH] if status_col is not None else [])
    print_plan(ws, printed, (0, HEADER_ROW))
    if lock:
        ws.set_footer(lock.footer)
        ws.protect(
            lock.password,
            {
                "autofilter": True,
                "format_columns": True,
                "format_rows": True,
                "select_locked_cells": True,
                "select_unlocked_cells": True,
            },
        )
    else:
        ws.set_footer("&L" + _footer_text(title) + "&RPage &P of &N")
    ws.activate()


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


def _footer_text(text: str) -> str:
    return text.replace("&", "&&")[:200]


def _add_column_rules(book: Book, ws, layout: Layout, first: int, last: int) -> None:
    """Dropdowns, date checks, input messages and rating colours, column by column."""
    scale = layout.rating_values
    for index, column in enumerate(layout.columns):
        options: dict[str, object] | None = None
        if column.type == "rating":
            options = {
                "validate": "list",
                "source": scale,
                "error_type": "stop",
                "error_title": "Pick a rating from the list",
                "error_message": _limit(
                    "Ratings are: " + ", ".join(f"{r.value} ({r.meaning})" for r in layout.ratings), 255
                ),
            }
        elif column.type == "choice":
            options = {
                "validate": "list",
                "source": column.choices,
                "error_type": "stop",
                "error_title": "Pick a value from the list",
                "error_message": _limit("Allowed: " + ", ".join(column.choices), 255),
            }
        elif column.type == "date":
            options = {
                "validate": "date",
                "criteria": "between",
                "minimum": dt.date(1990, 1, 1),
                "maximum": dt.date(2100, 12, 31),
                "error_type": "warning",
                "error_title": "Is this a date?",
                "error_message": "Type a date day first, such as 31/03/2025. Text such as "
                "'End July 2017' is allowed: click Yes to keep it, but it "
                "cannot be checked for lateness.",
            }
        elif column.help:
            options = {"validate": "any"}
        if options is None:
            continue
        if column.help:
            options["input_title"] = _limit(column.header, 32)
            options["input_message"] = _limit(column.help, 255)
        ws.data_validation(first, index, last, index, options)
        if column.type == "rating":
            for rating in layout.ratings:
                ws.conditional_format(
                    first,
                    index,
                    last,
                    index,
                    {
                        "type": "cell",
                        "criteria": "==",
                        "value": f'"{rating.value}"',
                        "format": book.workbook.add_format(
                            {"bg_color": rating.fill, "font_color": rating.font}
                        ),
                    },
                )


def _limit(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


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
    column widths."""
    ws = book.workbook.add_worksheet(name)
    for col, width in sorted((widths or {}).items()):
        set_width(ws, col, width)
    body = book.fmt(valign="top")
    dated = book.fmt(valign="top", num_format=DATE_FORMAT, align="left")
    formats = formats or {}
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            if value is not None:
                code = formats.get((r, c)) if formats else None
                write_carried(
                    ws, r, c, value, book.fmt(valign="top", num_format=code) if code else body, dated
                )
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
