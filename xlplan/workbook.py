"""Opening a workbook someone handed us, safely, and reading its sheets as values.

Everything xlplan reads (returns, masters, sources) passes the same gate first
(safety_gate.py): size and zip-bomb limits checked from the zip directory before anything is
unpacked, password-encrypted files recognised by their container, DTDs and entities refused
before an XML parser sees them. Values are then read with python-calamine (hidden sheets too),
which is about ten times faster than openpyxl and never runs macros.
"""

from __future__ import annotations

import datetime as dt
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import xmlscan
from .excel import CellValue, cell_text
from .safety_gate import (
    RETURN_LIMITS,
    UNREADABLE_PART,
    Limits,
    UnreadableWorkbook,
    check_container,
    damaged,
    fail,
    sheet_parts,
    too_far,
)


@dataclass
class Workbook:
    path: Path
    sheets: list[str]
    hidden: dict[str, str]  # sheet name -> "visible" | "hidden" | "veryhidden"
    saved_at: dt.datetime | None
    has_macros: bool
    _book: object = field(repr=False)
    # sheet name -> "worksheet" | "chartsheet" | "macrosheet" | "dialogsheet" | "vba"
    kinds: dict[str, str] = field(default_factory=dict)

    def merged_ranges(self, sheet: str) -> list[tuple[int, int, int, int]]:
        """The sheet's merged cells as (first row, first col, last row, last col), 0-based;
        empty when the format does not record them."""
        try:
            data = self._book.get_sheet_by_name(sheet)  # type: ignore[attr-defined]
            return [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in data.merged_cell_ranges or []]
        except BaseException as exc:  # noqa: BLE001 - merged cells are a hint; absence is no damage
            if not reader_failed(exc):
                raise
            return []

    # sheet name -> its formula and error cells, found by the safety gate's scan (.xlsx only)
    special: dict[str, dict[tuple[int, int], tuple[str, str]]] = field(default_factory=dict)
    # sheet name -> why it is refused; said only if the sheet is read (a damaged Guidance
    # sheet does not stop a return whose plan sheet is whole)
    refused: dict[str, UnreadableWorkbook] = field(default_factory=dict)
    reader: str = "calamine"  # "ods-fallback": xlplan's own reader of OpenDocument XML (ods.py)
    # sheet name -> its zip part, not yet measured by the gate (open_workbook's `defer`)
    deferred: dict[str, str] = field(default_factory=dict)
    limits: Limits | None = None
    # sheet name -> the last row its cells reach, as the gate measured it (.xlsx only): how
    # large a sheet is, known without reading it
    extents: dict[str, int] = field(default_factory=dict)

    def rows(self, sheet: str) -> list[list[CellValue]]:
        """The sheet's cells as xlplan holds them, row 0 = the sheet's first row."""
        return self.values(self.raw_rows(sheet))

    @staticmethod
    def values(raw: list[list[object]]) -> list[list[CellValue]]:
        """Raw calamine rows as xlplan holds cells."""
        # Most cells are text or empty: handle those inline (millions of cells in a master).
        return [
            [(v if v and not v.isspace() else None) if type(v) is str else cell_text(v) for v in row]
            for row in raw
        ]

    def raw_rows(self, sheet: str) -> list[list[object]]:
        if sheet in self.deferred:
            self._measure_deferred(sheet)
        if sheet in self.refused:  # the gate found it too large or damaged: never parsed
            raise self.refused[sheet]
        # calamine parses a sheet only when asked, so damage inside one shows up here.
        try:
            data = self._book.get_sheet_by_name(sheet)  # type: ignore[attr-defined]
            # skip_empty_area=False keeps positions: row 0 is the sheet's row 1 even if blank.
            return data.to_python(skip_empty_area=False)
        except BaseException as exc:  # noqa: BLE001 - calamine raises several types for damage
            if not reader_failed(exc):
                raise
            fallback = None if self.reader == "ods-fallback" else _ods_fallback(self.path)
            if fallback is not None:
                self._book, self.reader = fallback, "ods-fallback"
                self.hidden = fallback.visibility()  # the first reader could not tell either
                return self.raw_rows(sheet)
            # The reader's own words (a part name, a buffer) mean nothing to the person;
            # --debug shows them with the traceback.
            raise fail(
                "corrupt",
                self.path,
                f"sheet {sheet!r} is damaged and cannot be read. "
                "Open the file in Excel, save it again as .xlsx, and send it again.",
            ) from exc

    def _measure_deferred(self, sheet: str) -> None:
        """The gate's measure of a sheet it was asked to leave until read (see open_workbook)."""
        part = self.deferred.pop(sheet)
        limits = self.limits or RETURN_LIMITS
        try:
            with zipfile.ZipFile(self.path) as archive:
                member = archive.getinfo(part)
                with archive.open(member) as stream:
                    root = xmlscan.check_prolog(stream) or ""
                scan = xmlscan.measure_sheet(
                    lambda: archive.open(member), limits.sheet_cells, prefixed=":" in root
                )
            if scan.special:
                self.special[sheet] = scan.special
        except xmlscan.SheetTooLarge as exc:
            self.refused[sheet] = too_far(self.path, sheet, exc, limits)
        except (xmlscan.DamagedXml, xmlscan.UnsafeXml, *UNREADABLE_PART) as exc:
            self.refused[sheet] = damaged(self.path, f"its sheet {sheet!r}", exc)


def reader_failed(exc: BaseException) -> bool:
    """Whether the reader gave up on the file: any error, or a panic inside calamine's Rust
    code, which arrives as pyo3's PanicException (a BaseException, so `except Exception`
    lets it through to the user as a traceback)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"


def _ods_fallback(path: Path):
    """xlplan's own .ods reader, for the OpenDocument XML calamine cannot parse (Gnumeric's,
    SheetJS's); None when the file is no .ods or that reader cannot read it either."""
    from .ods import OdsBook

    try:
        with zipfile.ZipFile(path) as archive:
            if "mimetype" not in archive.namelist() or not archive.read("mimetype").startswith(ODS_MIMETYPE):
                return None
        return OdsBook(path)
    except UNREADABLE_PART:
        return None


def release_freed_memory() -> None:
    """Give the memory a reader freed back to the system (glibc only; elsewhere nothing).

    Reading a large sheet leaves many small blocks freed in the C heap, which the process
    keeps: about 170 MB after reading a 100,000-action master. Returned, they are neither
    counted against the process nor shared with the children a merge forks."""
    global _TRIM
    if _TRIM is None:
        _TRIM = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):
                pass
    if _TRIM:
        _TRIM(0)


_TRIM = None


def open_workbook(
    path: Path, limits: Limits = RETURN_LIMITS, defer: frozenset[str] = frozenset()
) -> Workbook:
    """A workbook's sheets, visibility and save time, after the safety gate.

    The sheets named in `defer` are measured only when read: a master's Change log, which a
    merge copies into the next master as compressed bytes without reading it
    (xlplan.logpart), is not unpacked to be measured either."""
    import python_calamine as calamine

    container = check_container(path, limits, defer)
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
        meta = book.sheets_metadata
    except calamine.PasswordError as exc:
        raise fail(
            "encrypted",
            path,
            "the workbook is protected by a password to open; remove "
            "the password in Excel (File > Info > Protect Workbook) and send it again.",
        ) from exc
    except BaseException as exc:  # calamine raises several types for damaged files
        if not reader_failed(exc):
            raise
        fallback = _ods_fallback(path)
        if fallback is not None:
            return Workbook(
                path=path,
                sheets=fallback.sheet_names,
                hidden=fallback.visibility(),
                saved_at=container.saved_at,
                has_macros=container.has_macros,
                _book=fallback,
                reader="ods-fallback",
            )
        raise fail(
            "corrupt",
            path,
            "the workbook is damaged, or is not a spreadsheet xlplan can "
            "read (a part every workbook has is missing or broken). Open it in Excel, save "
            "it again as .xlsx, and resend.",
        ) from exc
    hidden = {m.name: str(m.visible).rsplit(".", 1)[-1].lower() for m in meta}
    kinds = {m.name: str(m.typ).rsplit(".", 1)[-1].lower() for m in meta}
    return Workbook(
        path=path,
        sheets=[m.name for m in meta],
        hidden=hidden,
        saved_at=container.saved_at,
        has_macros=container.has_macros,
        _book=book,
        kinds=kinds,
        special=container.special,
        refused=container.refused,
        deferred=container.deferred,
        limits=limits,
        extents=container.extents,
    )


def sheet_part(path: Path, sheet: str) -> str | None:
    """The zip part holding `sheet` of the .xlsx at `path`, or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sheet_parts(archive).get(sheet)
    except UNREADABLE_PART:
        return None


def read_with_second_reader(
    source: Path,
) -> tuple[list[tuple[str, list[list[CellValue]], str]], list[tuple[str, str]]] | None:
    """An .xlsx/.xlsm that calamine refuses as a whole, read with openpyxl: its worksheets
    (name, rows, visibility) and the sheets left out (name, kind: chartsheet, macrosheet,
    dialogsheet). None when neither reader can read it."""
    if source.suffix.lower() not in (".xlsx", ".xlsm"):
        return None
    import openpyxl

    try:
        with zipfile.ZipFile(source) as archive:
            parts = sheet_parts(archive)
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any failure here means: not readable by either reader
        return None
    worksheets = {ws.title for ws in book.worksheets}
    left_out = [(name, "chartsheet") for name in book.sheetnames if name not in worksheets]
    sheets: list[tuple[str, list[list[CellValue]], str]] = []
    try:
        for ws in book.worksheets:
            part = parts.get(ws.title, "")
            if "macrosheets/" in part or "dialogsheets/" in part:
                left_out.append((ws.title, "macrosheet" if "macro" in part else "dialogsheet"))
                continue
            rows = [[cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
            if any(c is not None for r in rows for c in r):
                sheets.append((ws.title, rows, ws.sheet_state.lower() if ws.sheet_state else "visible"))
    except Exception:  # noqa: BLE001
        return None
    finally:
        book.close()
    return sheets, left_out
