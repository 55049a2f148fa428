"""The action plan sheet, as the master and the service templates share it: title, headers as
the trust prints them, one row per action with its highlights and notes, the central team's
own columns, dropdowns and rating colours, and (in a template) the locks and spare rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import style
from .excel import DATE_FORMAT, MAX_NOTE_CHARS, CellValue, clean_for_cell
from .layout import Column, Layout
from .metadata import ID_HEADER, STATUS_HEADER
from .print_setup import print_plan
from .rowxml import SheetRows, letters
from .sheets import HEADER_ROW, Book, chars_per_line, row_height, set_width


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
    grid = _Grid(layout.columns, status_column, len(extra_columns))
    _write_heading(book, ws, layout, grid, title, subtitle, lock, extra_columns)
    styles = _Styles(book, lock, extra_columns)
    out = book.rows_of(ws)
    last_row = _write_actions(ws, out, layout, grid, styles, rows)
    if lock:
        last_row = _write_spare_rows(book, ws, out, layout, grid, last_row, lock.spare_rows)
    last_data_row = HEADER_ROW + row_count + (lock.spare_rows if lock else 0)
    first, last = HEADER_ROW + 1, max(last_data_row, HEADER_ROW + 1)
    _add_column_rules(book, ws, layout, first, last)
    ws.freeze_panes(HEADER_ROW + 1, 0)
    ws.autofilter(HEADER_ROW, 0, max(last_data_row, HEADER_ROW), grid.last_col)
    # Text printed at 8 pt or more: A4 or A3, and pages wide if it must (print_setup).
    printed = [c.width for c in layout.columns] + ([style.STATUS_WIDTH] if status_column else [])
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


class _Grid:
    """Where each column of the plan sheet is: the layout's, "Changed this cycle" (a master),
    the hidden xlplan ID, then the central team's own columns."""

    def __init__(self, columns: Sequence[Column], status_column: bool, extras: int) -> None:
        self.ncols = len(columns)
        self.status_col = self.ncols if status_column else None
        self.id_col = self.ncols + (1 if status_column else 0)
        self.last_col = self.id_col + extras
        self.column_letters = [letters(i) for i in range(self.ncols)]
        self.status_letter = letters(self.status_col) if self.status_col is not None else ""
        self.id_letter = letters(self.id_col)
        self.extra_letters = [letters(self.id_col + 1 + k) for k in range(extras)]


def _header_format(book: Book, owner: str):
    return book.fmt(
        bold=True,
        text_wrap=True,
        border=1,
        border_color=style.BORDER_COLOUR,
        bg_color=style.HEADER_FILL[owner],
    )


def _write_heading(
    book: Book,
    ws,
    layout: Layout,
    grid: _Grid,
    title: str,
    subtitle: str,
    lock: TemplateLock | None,
    extra_columns: Sequence[tuple[str, float | None, str | None]],
) -> None:
    """Column widths, the title and subtitle, and the header row (a template's headers in
    the colour of who fills the column in)."""
    columns = layout.columns
    for index, column in enumerate(columns):
        ws.set_column(index, index, column.width)
    if grid.status_col is not None:
        ws.set_column(grid.status_col, grid.status_col, style.STATUS_WIDTH)
    ws.set_column(grid.id_col, grid.id_col, 10, None, {"hidden": True})
    ws.write_string(
        0, 0, clean_for_cell(title), book.fmt(bold=True, font_size=style.TITLE_SIZE, valign="vcenter")
    )
    ws.write_string(1, 0, clean_for_cell(subtitle), book.fmt(italic=True, valign="vcenter"))
    for index, column in enumerate(columns):
        owner = "service" if (lock is None or column.owner == "service") else column.owner
        ws.write_string(HEADER_ROW, index, column.header, _header_format(book, owner))
    central = _header_format(book, "central")
    if grid.status_col is not None:
        ws.write_string(HEADER_ROW, grid.status_col, STATUS_HEADER, central)
    ws.write_string(HEADER_ROW, grid.id_col, ID_HEADER, central)
    # The central team's own columns (master only), after the hidden ID, as they had them.
    for offset, (header, width, _) in enumerate(extra_columns, start=grid.id_col + 1):
        set_width(ws, offset, 15 if width is None else width)
        if header:
            ws.write_string(HEADER_ROW, offset, clean_for_cell(header), central)
    ws.set_row(HEADER_ROW, row_height([c.header for c in columns], chars_per_line(columns), minimum=30))


class _Styles:
    """The formats of the plan sheet's cells, each made once: a master has millions of cells,
    and only highlighted ones (few) look theirs up."""

    def __init__(
        self,
        book: Book,
        lock: TemplateLock | None,
        extra_columns: Sequence[tuple[str, float | None, str | None]],
    ) -> None:
        self.book, self.lock = book, lock
        border = {"border": 1, "border_color": style.BORDER_COLOUR}
        self.extras = [
            book.fmt(text_wrap=True, **border, **({"num_format": code} if code else {}))
            for _, _, code in extra_columns
        ]
        self.extra_date = book.fmt(text_wrap=True, **border, num_format=DATE_FORMAT, align="left")
        self.id = book.fmt(locked=True, font_color="#808080")
        self.status = book.fmt(**border)
        self.status_changed = book.fmt(**border, text_wrap=True, bg_color=style.CHANGED_FILL)

    def locked(self, column: Column) -> bool:
        """A template locks the columns services do not fill in; a master locks nothing."""
        return self.lock is not None and column.owner != "service"

    def cell(self, column: Column, fill: str | None = None):
        props: dict[str, object] = {
            "text_wrap": True,
            "border": 1,
            "border_color": style.BORDER_COLOUR,
            "locked": self.locked(column),
        }
        if self.locked(column):
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
        return self.book.fmt(**props)


def _write_actions(
    ws, out: SheetRows, layout: Layout, grid: _Grid, styles: _Styles, rows: Iterable[SheetRow]
) -> int:
    """One row per action, written as XML; a highlighted cell gets its fill and its note.
    Returns the last row written (0-based). The loop runs once per action of the plan:
    what it looks up is bound to locals first."""
    columns = layout.columns
    fields = [c.field for c in columns]
    per_line = chars_per_line(columns)
    plain_styles = [out.style(styles.cell(c)) for c in columns]
    id_style, status_style = out.style(styles.id), out.style(styles.status)
    status_changed_style = out.style(styles.status_changed)
    extra_styles = [out.style(f) for f in styles.extras]
    extra_date_style = out.style(styles.extra_date)
    column_letters, status_letter, id_letter = grid.column_letters, grid.status_letter, grid.id_letter
    extra_letters, status_col = grid.extra_letters, grid.status_col
    # A master has no locks, so its empty cells need no format: skipping them is most of
    # what a large plan costs to write. A template's empty cells carry their lock.
    write_blanks = styles.lock is not None
    text, value_cell, blank, carried = out.text, out.value, out.blank, out.carried
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
                cells.append(carried(ref, plain_styles[index], formulas[fields[index]], plain_styles[index]))
                continue
            if mark is not None or row_fill:
                cell_style = out.style(styles.cell(columns[index], mark.fill if mark else row_fill))
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
                    carried(f"{extra_letters[offset]}{number}", extra_styles[offset], value, extra_date_style)
                )
        height = row_height(values, per_line)
        # XlsxWriter places each note's box from the heights of the rows above it.
        ws.set_row(row_index, height)
        out.add(row_index, cells, height, grid.last_col if sheet_row.extra else grid.id_col)
    return row_index


def _write_spare_rows(
    book: Book, ws, out: SheetRows, layout: Layout, grid: _Grid, row_index: int, spare_rows: int
) -> int:
    """A template's green spare rows, where a service proposes new actions."""
    from .metadata import SPARE_PREFIX

    spare_styles = [
        out.style(
            book.fmt(
                text_wrap=True,
                border=1,
                border_color=style.BORDER_COLOUR,
                locked=False,
                bg_color=style.PROPOSED_FILL,
                **({"num_format": DATE_FORMAT} if column.type == "date" else {}),
            )
        )
        for column in layout.columns
    ]
    spare_id_style = out.style(book.fmt(locked=True))
    for spare in range(1, spare_rows + 1):
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
        cells = [out.blank(f"{grid.column_letters[i]}{number}", spare_styles[i]) for i in range(grid.ncols)]
        cells.append(out.text(f"{grid.id_letter}{number}", spare_id_style, f"{SPARE_PREFIX}{spare}"))
        out.add(row_index, cells, None, grid.id_col)
    return row_index


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
