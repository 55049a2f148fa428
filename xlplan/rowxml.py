"""Rows written straight as sheet XML: every data cell xlplan writes (the plan sheet, the
Committee view, the Changes, Issues, Change log and Progress tables, a central team's own
sheets, a template's issued values); XlsxWriter writes titles, headers and the rest.

XlsxWriter's per-cell calls cost about 6 µs a cell, most of a master's write at 100,000
actions; building the same `<row>` and `<c>` elements here costs about a fifth of that.
XlsxWriter still writes everything else of the sheet (columns, panes, validations,
conditional formats, notes, print setup, protection) and the rows above the data; these rows
are put into its sheet part, before `</sheetData>`, as the workbook is zipped
(`SheetRows.splice`, a part writer for xlplan.zipparts). The cells are those XlsxWriter
writes in `constant_memory` mode: inline strings escaped the same way, numbers as `.16G`,
dates as serial numbers, and the same style indices (`Format._get_xf_index`, which
XlsxWriter also calls as it writes a cell). Notes are XlsxWriter's, written faster
(`fast_notes`)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import xlsxwriter.worksheet as xlsxwriter_worksheet

from .excel import MAX_CELL_CHARS, CellValue, clean_for_cell, column_letter

_LETTERS = [column_letter(i) for i in range(702)]  # A … ZZ: wider sheets look theirs up
_CONTROL_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')
# The functions XlsxWriter writes as dynamic arrays: its own pattern, so the two agree.
_DYNAMIC = xlsxwriter_worksheet.re_dynamic_function
_ROW_NUMBER = re.compile(rb'<row r="(\d+)"')
_EPOCH = dt.datetime(1899, 12, 31)
_ERROR_CODES = ("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!")
# The date XlsxWriter stamps on every part it zips (31/1/1980: see its _store_workbook).
_PART_TIME = (1980, 1, 31, 0, 0, 0)
_FLUSH_ROWS = 2000
_DEFAULT_ROW_PIXELS = 20  # 15 points


def letters(col: int) -> str:
    return _LETTERS[col] if col < 702 else column_letter(col)


def _escape_markup(text: str) -> str:
    """As XlsxWriter escapes a formula and its result: &, < and > only."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def excel_serial(value: dt.date) -> float:
    """A date or date-time as Excel's 1900 serial number (its leap-year bug included)."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
    delta = moment.replace(tzinfo=None) - _EPOCH
    serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    return serial + 1 if serial > 59 else serial


def row_start(number: int, height: float | None) -> str:
    """A <row> start tag (`number` 1-based), its height as XlsxWriter sets one: in whole
    pixels, none written for the default."""
    if height is not None:
        pixels = int(height * 4.0 / 3.0 + 0.5)
        if pixels != _DEFAULT_ROW_PIXELS:
            return f'<row r="{number}" ht="{pixels * 0.75:.16g}" customHeight="1">'
    return f'<row r="{number}">'


class SheetRows:
    """The data rows of one XlsxWriter worksheet, kept in a temporary file until the book
    closes. Rows go in ascending order, below every row XlsxWriter itself writes there."""

    def __init__(self, ws, part: str) -> None:
        self.ws = ws
        self.part = part  # its zip part, as XlsxWriter names it (Book.part_name)
        self._file: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")
        self._pending: list[str] = []
        self._styles: dict[int, str] = {}
        self.first_row: int | None = None
        self.last_row = -1
        self.last_col = -1

    def style(self, fmt) -> str:
        """The ` s="N"` attribute of a format (nothing for none)."""
        if fmt is None:
            return ""
        key = id(fmt)
        found = self._styles.get(key)
        if found is None:
            found = self._styles[key] = f' s="{fmt._get_xf_index()}"'
        return found

    # Each cell maker takes the cell's reference ("C7") and its style attribute.

    @staticmethod
    def text(ref: str, style: str, text: str) -> str:
        """Text as XlsxWriter writes it inline: cleaned and cut to Excel's limit, a literal
        "_x0041_" kept literal, the carriage return as _x000D_, then &, < and > escaped."""
        # Printable text of a usual length (most cells) has nothing to clean or cut.
        unusual = not text.isprintable() or len(text) > MAX_CELL_CHARS // 2
        if unusual:
            text = clean_for_cell(text)
            if len(text) > MAX_CELL_CHARS // 2 and len(text.encode("utf-16-le")) > 2 * MAX_CELL_CHARS:
                # Excel counts a cell's characters in UTF-16 units (an emoji is two), as XlsxWriter cuts.
                text = text.encode("utf-16-le")[: 2 * MAX_CELL_CHARS].decode("utf-16-le", "ignore")
        if "_x" in text:
            text = _CONTROL_ESCAPE.sub(r"_x005F\1", text)
        if unusual and "\r" in text:  # the one control character clean_for_cell keeps that XML would not
            text = text.replace("\r", "_x000D_")
        if "&" in text:
            text = text.replace("&", "&amp;")
        if "<" in text:
            text = text.replace("<", "&lt;")
        if ">" in text:
            text = text.replace(">", "&gt;")
        space = ' xml:space="preserve"' if text and (text[0].isspace() or text[-1].isspace()) else ""
        return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'

    @staticmethod
    def number(ref: str, style: str, number: float) -> str:
        return f'<c r="{ref}"{style}><v>{number:.16G}</v></c>'

    @staticmethod
    def blank(ref: str, style: str) -> str:
        return f'<c r="{ref}"{style}/>'

    @staticmethod
    def boolean(ref: str, style: str, value: bool) -> str:
        return f'<c r="{ref}"{style} t="b"><v>{int(value)}</v></c>'

    @staticmethod
    def formula(ref: str, style: str, text: str, shown: object) -> str:
        """A formula (without its "=") with its last result, typed as XlsxWriter types it."""
        kind = ""
        if isinstance(shown, bool):
            kind, shown = ' t="b"', int(shown)
        elif isinstance(shown, str):
            if shown in _ERROR_CODES:
                kind = ' t="e"'
            elif shown:
                kind = ' t="str"'
            shown = _escape_markup(shown)
        elif shown is None:
            shown = ""
        return f'<c r="{ref}"{style}{kind}><f>{_escape_markup(text)}</f><v>{shown}</v></c>'

    def carried(self, ref: str, style: str, value: object, date_style: str) -> str:
        """A cell of the central team's own (a column or sheet xlplan does not own), as it
        was: a formula stays a formula (with its last result), a number a number, a date a
        date (with its time of day, if it has one)."""
        from .carry import Formula

        if isinstance(value, Formula):
            shown = value.value
            dated = isinstance(shown, dt.date)
            # XlsxWriter's own preparation of a formula: the "=" dropped, newer functions
            # given their _xlfn. prefix.
            text = self.ws._prepare_formula(value.text)
            shown = excel_serial(shown) if dated else shown
            if _DYNAMIC.search(value.text):
                return self._dynamic_formula(ref, date_style if dated else style, text, shown)
            return self.formula(ref, date_style if dated else style, text, shown)
        if isinstance(value, bool):
            return self.boolean(ref, style, value)
        if isinstance(value, int | float):
            return self.number(ref, style, value)
        if type(value) is dt.datetime:  # the team's own time of day is theirs: kept
            return self.number(ref, date_style, excel_serial(value))
        return self.value(ref, style, value, date_style)

    def _dynamic_formula(self, ref: str, style: str, text: str, shown: object) -> str:
        """A formula of Excel's dynamic-array functions (FILTER, UNIQUE, SORT …), written as
        XlsxWriter writes one (a one-cell array formula marked to spill), so Excel does not
        read it as an old formula (with an @ before the function)."""
        self.ws.has_dynamic_arrays = True  # XlsxWriter then adds the workbook's metadata part
        shown = "" if shown is None else shown
        try:
            float(shown)  # type: ignore[arg-type]
            kind = ""
        except (TypeError, ValueError):
            kind = ' t="str"'
        value = _escape_markup(shown) if isinstance(shown, str) else shown
        return (
            f'<c r="{ref}"{style} cm="1"{kind}><f t="array" ref="{ref}">{_escape_markup(text)}</f>'
            f"<v>{value}</v></c>"
        )

    @staticmethod
    def value(ref: str, style: str, value: CellValue, date_style: str) -> str:
        """A plan value: text, a date (a day: a time of day is dropped), or a blank (styled)."""
        if type(value) is str:
            return SheetRows.text(ref, style, value)
        if value is None:
            return SheetRows.blank(ref, style)
        if isinstance(value, dt.date):  # a plan's dates are days: a time of day is dropped
            return SheetRows.number(ref, date_style, excel_serial(dt.datetime.combine(value, dt.time())))
        return SheetRows.text(ref, style, str(value))

    def add(self, row: int, cells: list[str], height: float | None = None, last_col: int = -1) -> None:
        """Row `row` (0-based) with its cells' XML, `last_col` the rightmost cell written."""
        if row <= self.last_row:
            raise ValueError(f"rows must ascend: {row} after {self.last_row}")
        if self.first_row is None:
            self.first_row = row
        self.last_row = row
        if last_col > self.last_col:
            self.last_col = last_col
        self._pending.append(f"{row_start(row + 1, height)}{''.join(cells)}</row>")
        if len(self._pending) >= _FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        self._file.write("".join(self._pending))
        self._pending.clear()

    def splice(self, archive: zipfile.ZipFile, shell_path: Path, arcname: str) -> None:
        """XlsxWriter's part at `shell_path`, with these rows before its `</sheetData>`, into
        `archive` as this sheet's part (a zipparts.PartWriter)."""
        self._flush()
        self._file.flush()
        with open(shell_path, "rb") as handle:
            shell = handle.read()
        empty = shell.find(b"<sheetData/>")
        if empty >= 0:
            head, tail = (
                shell[:empty] + b"<sheetData>",
                b"</sheetData>" + shell[empty + len(b"<sheetData/>") :],
            )
        else:
            end = shell.rfind(b"</sheetData>")
            if end < 0:
                raise RuntimeError(f"{self.part} as XlsxWriter wrote it has no sheetData")
            head, tail = shell[:end], shell[end:]
        written = [int(n) for n in _ROW_NUMBER.findall(head)]
        if self.first_row is not None and written and max(written) > self.first_row:
            raise RuntimeError(
                f"{self.part}: XlsxWriter wrote row {max(written)} below row {self.first_row + 1}, "
                "where xlplan's own rows start; a sheet's cells must all be written one way."
            )
        ws = self.ws
        last_row = max(self.last_row, ws.dim_rowmax if ws.dim_rowmax is not None else -1)
        last_col = max(self.last_col, ws.dim_colmax if ws.dim_colmax is not None else -1)
        if last_row >= 0 and last_col >= 0:
            extent = f"A1:{letters(last_col)}{last_row + 1}" if (last_row, last_col) != (0, 0) else "A1"
            head = _DIMENSION.sub(f'<dimension ref="{extent}"/>'.encode(), head, count=1)
        info = zipfile.ZipInfo(self.part, _PART_TIME)
        info.compress_type = archive.compression
        # The archive's level (ZipInfo._compresslevel: Python 3.13 keeps the name as an alias).
        info._compresslevel = archive.compresslevel
        info.external_attr = 0o600 << 16
        raw = self._file.buffer
        raw.seek(0)
        with archive.open(info, "w") as out:
            out.write(head)
            shutil.copyfileobj(raw, out, 1 << 20)
            out.write(tail)
        self._file.close()


class Cells:
    """A sheet's cells one at a time, as XlsxWriter's `write_*` calls take them (row, column,
    value, format), written as rows of XML: for sheets built cell by cell (the Progress
    sheet, a template's issued values). Cells go in row order, left to right; `close` writes
    the last row."""

    def __init__(self, rows: SheetRows) -> None:
        self.rows = rows
        self._row = -1
        self._cells: list[str] = []
        self._last = -1

    def _put(self, row: int, col: int, xml: str) -> None:
        if row != self._row:
            self.close()
            self._row = row
        self._cells.append(xml)
        self._last = col

    def string(self, row: int, col: int, text: str, fmt=None) -> None:  # noqa: ANN001
        self._put(row, col, SheetRows.text(f"{letters(col)}{row + 1}", self.rows.style(fmt), text))

    def number(self, row: int, col: int, number: float, fmt=None) -> None:  # noqa: ANN001
        self._put(row, col, SheetRows.number(f"{letters(col)}{row + 1}", self.rows.style(fmt), number))

    def value(self, row: int, col: int, value: CellValue, fmt, date_fmt) -> None:  # noqa: ANN001
        """A plan value: text, a date (a day), or a blank (styled)."""
        ref = f"{letters(col)}{row + 1}"
        self._put(row, col, SheetRows.value(ref, self.rows.style(fmt), value, self.rows.style(date_fmt)))

    def close(self) -> None:
        if self._cells:
            self.rows.add(self._row, self._cells, last_col=self._last)
            self._cells = []


def _captured(write) -> str:  # noqa: ANN001
    """What one of XlsxWriter's element writers writes, as text (to repeat it verbatim)."""
    import io

    from xlsxwriter.vml import Vml

    writer = Vml()
    writer.fh = io.StringIO()
    write(writer)
    return writer.fh.getvalue()


def _fast_note_writers() -> tuple[type, type]:
    """XlsxWriter's writers of notes (the comments part and its VML drawing) with the element
    written once per note built as one string: the same bytes (tests/test_rowxml.py), about a
    tenth of the calls. A master at 100,000 actions carries a note on each of its 75,000
    changed cells, and XlsxWriter's generic element calls for them were a tenth of a merge."""
    from xlsxwriter.comments import Comments
    from xlsxwriter.vml import Vml

    inner = _captured(
        lambda v: (
            v._write_comment_fill(),
            v._write_shadow(),
            v._write_comment_path(None, "none"),
            v._write_comment_textbox(),
        )
    )
    moves = _captured(lambda v: (v._write_move_with_cells(), v._write_size_with_cells()))
    auto_fill = _captured(lambda v: v._write_auto_fill())
    visible = _captured(lambda v: v._write_visible())

    class FastVml(Vml):
        def _write_comment_shape(self, shape_id, z_index, comment) -> None:  # noqa: ANN001
            left, top, width, height = self._pixels_to_points(comment.vertices)
            col_start, row_start, x1, y1, col_end, row_end, x2, y2 = comment.vertices[:8]
            style = (
                f"position:absolute;margin-left:{left:.15g}pt;margin-top:{top:.15g}pt;"
                f"width:{width:.15g}pt;height:{height:.15g}pt;z-index:{z_index};"
                f"visibility:{'visible' if comment.is_visible else 'hidden'}"
            )
            fill = self._escape_attributes(comment.color._vml_rgb_hex_value())
            self.fh.write(
                f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202" style="{style}" '
                f'fillcolor="{fill}" o:insetmode="auto">{inner}<x:ClientData ObjectType="Note">'
                f"{moves}<x:Anchor>{col_start}, {x1}, {row_start}, {y1}, {col_end}, {x2}, "
                f"{row_end}, {y2}</x:Anchor>{auto_fill}<x:Row>{comment.row}</x:Row>"
                f"<x:Column>{comment.col}</x:Column>{visible if comment.is_visible else ''}"
                "</x:ClientData></v:shape>"
            )

    class FastComments(Comments):
        def _write_comment(self, comment, author_id: int) -> None:  # noqa: ANN001
            key = (comment.font_size, comment.font_name, comment.font_family)
            run_format = self._run_formats.get(key) if hasattr(self, "_run_formats") else None
            if run_format is None:
                saved, self.fh = self.fh, __import__("io").StringIO()
                self._write_r_pr(comment)
                run_format, self.fh = self.fh.getvalue(), saved
                self.__dict__.setdefault("_run_formats", {})[key] = run_format
            author = f' authorId="{author_id}"' if author_id != -1 else ""
            self.fh.write(
                f'<comment ref="{letters(comment.col)}{comment.row + 1}"{author}><text><r>{run_format}'
            )
            self._write_text_t(comment.text)
            self.fh.write("</r></text></comment>")

    return FastVml, FastComments


@contextmanager
def fast_notes() -> Iterator[None]:
    """While XlsxWriter closes a workbook: its notes written by `_fast_note_writers`. If a
    later XlsxWriter names its writers otherwise, its own write them (slower, the same)."""
    import xlsxwriter.packager as packager

    if not (hasattr(packager, "Vml") and hasattr(packager, "Comments")):
        yield
        return
    originals = (packager.Vml, packager.Comments)
    packager.Vml, packager.Comments = _fast_note_writers()
    try:
        yield
    finally:
        packager.Vml, packager.Comments = originals
