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
from .rowxml import letters
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
