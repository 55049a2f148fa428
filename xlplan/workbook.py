"""Opening a workbook someone handed us, safely, and reading its sheets as values.

Everything xlplan reads (returns, masters, sources) passes the same gate first: size and
zip-bomb limits checked from the zip directory before anything is unpacked, password-
encrypted files recognised by their container, DTDs and entities refused before an XML
parser sees them. Values are then read with python-calamine (hidden sheets too), which is
about ten times faster than openpyxl and never runs macros.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import xmlscan
from .excel import CellValue, cell_text
from .problems import Problem

ZIP_MAGIC = b"PK\x03\x04"
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE container: .xls, or an encrypted .xlsx
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
XML_SNIFF_BYTES = 64 * 1024
MAX_ZIP_MEMBERS = 10_000
MAX_RATIO = 250  # uncompressed/compressed per member; real sheets stay well under 100

# What a damaged, truncated or crafted zip part raises when read: a part that cannot be read
# is answered as "not there" by the scans that tolerate it (the safety gate has said why).
UNREADABLE_PART = (
    KeyError,
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    xmlscan.UnsafeXml,
    xmlscan.DamagedXml,
)


# Zip methods spreadsheet programs write: stored and deflated. Anything else (Deflate64,
# bzip2, LZMA, ...) is refused before a reader meets it.
ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
ZIP_METHOD_NAMES = {9: "Deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "xz", 99: "AES"}
ZIP_ENCRYPTED = 0x01  # general-purpose flag bit 0: the member is password-encrypted
ZIP_PATCHED = 0x20  # bit 5: "compressed patched data", which no spreadsheet program writes
ZIP_STRONG_ENCRYPTION = 0x40  # bit 6


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    unpacked_bytes: int
    # Rows x columns spanned by a sheet's values: what the reader allocates (about 32 bytes
    # a cell, plus Python's list of them). A return of 5,000 rows x 100 columns is 500,000.
    sheet_cells: int = 5_000_000


RETURN_LIMITS = Limits(file_bytes=50 * 2**20, unpacked_bytes=250 * 2**20)
MASTER_LIMITS = Limits(file_bytes=500 * 2**20, unpacked_bytes=4 * 2**30, sheet_cells=25_000_000)


class UnreadableWorkbook(Exception):
    """The file cannot be read at all; `problem` says why, for the user."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


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
            raise _fail(
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
            self.refused[sheet] = _too_far(self.path, sheet, exc, limits)
        except (xmlscan.DamagedXml, xmlscan.UnsafeXml, *UNREADABLE_PART) as exc:
            self.refused[sheet] = _damaged(self.path, f"its sheet {sheet!r}", exc)


def reader_failed(exc: BaseException) -> bool:
    """Whether the reader gave up on the file: any error, or a panic inside calamine's Rust
    code, which arrives as pyo3's PanicException (a BaseException, so `except Exception`
    lets it through to the user as a traceback)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _fail(code: str, path: Path, message: str) -> UnreadableWorkbook:
    return UnreadableWorkbook(Problem(code, message, file=str(path)))


@dataclass(frozen=True)
class Container:
    """What the safety gate learns on its one pass over the file."""

    has_macros: bool
    saved_at: dt.datetime | None
    special: dict[str, dict[tuple[int, int], tuple[str, str]]] = field(default_factory=dict)
    refused: dict[str, UnreadableWorkbook] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)


def check_container(
    path: Path, limits: Limits = RETURN_LIMITS, defer: frozenset[str] = frozenset()
) -> Container:
    """Refuse what must not be parsed; say whether it holds macros and when it was saved.
    Sheets named in `defer` are measured only if they are read (Workbook.deferred)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise _fail("not-a-workbook", path, f"cannot open the file: {exc.strerror or exc}.") from exc
    if size > limits.file_bytes:
        raise _fail(
            "too-large",
            path,
            f"the file is {size / 2**20:.0f} MB; a return may be at most "
            f"{limits.file_bytes / 2**20:.0f} MB. Send the action plan sheet only.",
        )
    if size == 0:
        raise _fail("corrupt", path, "the file is empty (0 bytes). Ask for it to be sent again.")
    if head.startswith(CFB_MAGIC):
        if _is_encrypted_ooxml(path) or _is_encrypted_xls(path):
            raise _fail(
                "encrypted",
                path,
                "the workbook is encrypted with a password to open. Open it in Excel, "
                "File > Info > Protect Workbook > Encrypt with Password, clear the "
                "password, save, and send it again.",
            )
        if path.suffix.lower() != ".xls":
            raise _fail(
                "not-a-workbook",
                path,
                "this is an old-format (.xls) file with another "
                "extension. Save it as .xlsx and send it again.",
            )
        return Container(has_macros=False, saved_at=_file_time(path))
    if not head.startswith(ZIP_MAGIC):
        raise _fail(
            "not-a-workbook",
            path,
            "this is not an Excel or OpenDocument workbook. "
            "Save it as .xlsx (Excel Workbook) and send it again.",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise _fail("too-large", path, f"the workbook holds {len(members)} parts; refused.")
            total = sum(m.file_size for m in members)
            if total > limits.unpacked_bytes:
                raise _fail(
                    "too-large",
                    path,
                    f"the workbook unpacks to {total / 2**20:,.0f} MB "
                    f"(limit {limits.unpacked_bytes / 2**20:,.0f} MB): refused unread, as "
                    "a zip bomb would be.",
                )
            names = {m.filename for m in members}
            if any(n.endswith(".iwa") for n in names) or "index.xml.gz" in names or "Index.zip" in names:
                raise _fail(
                    "numbers",
                    path,
                    "this is an Apple Numbers file, which Excel cannot "
                    "open. In Numbers choose File > Export To > Excel…, and use the "
                    ".xlsx it makes.",
                )
            for member in members:
                _check_member(path, member)
            special, refused, deferred = _scan_parts(path, archive, members, limits, defer)
            return Container(
                has_macros=any(n.lower().endswith("vbaproject.bin") for n in names),
                saved_at=_saved_at(archive) or _file_time(path),
                special=special,
                refused=refused,
                deferred=deferred,
            )
    except UnreadableWorkbook:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        zlib.error,
        NotImplementedError,
        RuntimeError,
        OverflowError,
    ) as exc:
        # zipfile's own text names an internal part and a CRC; the person needs what to do.
        raise _fail(
            "corrupt",
            path,
            "the workbook is damaged or truncated (a part of it cannot "
            "be unpacked). Ask for it to be saved and sent again.",
        ) from exc


def _check_member(path: Path, member: zipfile.ZipInfo) -> None:
    """Refuse, from the zip directory alone, what no spreadsheet program writes."""
    if member.flag_bits & (ZIP_ENCRYPTED | ZIP_STRONG_ENCRYPTION):
        raise _fail(
            "encrypted",
            path,
            "parts of the workbook are encrypted with a zip password, "
            "which spreadsheet programs never do. Ask the service to save it again from "
            "Excel as .xlsx, without any password, and send it again.",
        )
    if member.compress_type not in ZIP_METHODS or member.flag_bits & ZIP_PATCHED:
        method = (
            "patched data"
            if member.compress_type in ZIP_METHODS
            else ZIP_METHOD_NAMES.get(member.compress_type, f"method {member.compress_type}")
        )
        raise _fail(
            "corrupt",
            path,
            f"the workbook was packed with a compression spreadsheet "
            f"programs do not use ({method}), probably by a zip tool after it was saved. "
            "Open it in Excel, save it again as .xlsx, and send it again.",
        )
    if member.file_size > 2**20 and member.file_size > MAX_RATIO * max(member.compress_size, 1):
        raise _fail(
            "too-large",
            path,
            f"part {member.filename} is compressed "
            f"{member.file_size // max(member.compress_size, 1)}:1, as only a "
            "zip bomb is: refused unread.",
        )


def _scan_parts(
    path: Path,
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    limits: Limits,
    defer: frozenset[str] = frozenset(),
) -> tuple[dict[str, dict[tuple[int, int], tuple[str, str]]], dict[str, UnreadableWorkbook], dict[str, str]]:
    """One streaming pass per XML part: refuse DTDs and entities everywhere, and measure every
    sheet (.xlsx worksheets, the tables of an .ods) before the reader allocates it. An .xlsx
    sheet too large or damaged is refused when it is read (`Workbook.refused`)."""
    special: dict[str, dict[tuple[int, int], tuple[str, str]]] = {}
    refused: dict[str, UnreadableWorkbook] = {}
    deferred: dict[str, str] = {}
    member: zipfile.ZipInfo | None = None
    sheets: dict[str, str] = {}
    try:
        sheets = {part: name for name, part in _sheet_parts(archive).items()}
        for member in members:
            if not member.filename.endswith((".xml", ".rels", ".vml")) or not member.file_size:
                continue
            with archive.open(member) as stream:
                root = xmlscan.check_prolog(stream) or ""
            if member.filename == "content.xml":
                with archive.open(member) as stream:
                    try:
                        xmlscan.scan_ods_content(stream, limits.sheet_cells)
                    except xmlscan.SheetTooLarge as exc:
                        raise _too_far(path, None, exc, limits) from exc
                continue
            # Every worksheet is measured, whether workbook.xml names it or a reader finds it
            # another way: by its root element, not only by the name we resolved.
            if member.filename not in sheets and root.rpartition(":")[2] != "worksheet":
                continue
            name = sheets.get(member.filename)
            if name is not None and name in defer and ":" not in root:
                deferred[name] = member.filename  # measured when read, if ever
                continue
            try:
                scan = xmlscan.measure_sheet(
                    lambda m=member: archive.open(m), limits.sheet_cells, prefixed=":" in root
                )
            except xmlscan.SheetTooLarge as exc:
                if name is None:
                    raise _too_far(path, None, exc, limits) from exc
                refused[name] = _too_far(path, name, exc, limits)
                continue
            except xmlscan.DamagedXml as exc:
                if name is None:
                    raise
                refused[name] = _damaged(path, f"its sheet {name!r}", exc)
                continue
            if scan.special and name is not None:
                special[name] = scan.special
    except xmlscan.UnsafeXml as exc:
        part = member.filename if member is not None else "xl/workbook.xml"
        raise _fail(
            "unsafe-xml",
            path,
            f"part {part} declares a DTD or entities, which no spreadsheet program writes: refused unread.",
        ) from exc
    except xmlscan.DamagedXml as exc:
        raise _damaged(path, "its structure", exc) from exc
    return special, refused, deferred


def _damaged(path: Path, where: str, exc: Exception) -> UnreadableWorkbook:
    return _fail(
        "corrupt",
        path,
        f"the workbook is damaged: {where} cannot be read "
        f"({str(exc)[:80]}). Open it in Excel, save it again as .xlsx, and send it again.",
    )


def _too_far(path: Path, sheet: str | None, exc: xmlscan.SheetTooLarge, limits: Limits) -> UnreadableWorkbook:
    where = f"sheet {sheet!r}" if sheet else "a sheet"
    return _fail(
        "too-large",
        path,
        f"{where} holds a value as far out as cell {exc.where}: "
        f"reading it would mean a grid of {exc.cells:,} cells (at most "
        f"{limits.sheet_cells:,} are read). Delete the rows and columns beyond the plan "
        "(or the stray value), save, and send it again.",
    )


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


def _is_encrypted_ooxml(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(256 * 1024)
    return "EncryptionInfo".encode("utf-16-le") in head or "EncryptedPackage".encode("utf-16-le") in head


_XLS_BOF = re.compile(rb"\x09\x08[\x08-\x14]\x00[\x00-\x06]\x06\x05\x00")
_XLS_FILEPASS = 0x002F


def _is_encrypted_xls(path: Path) -> bool:
    """An .xls with a password to open: its workbook stream has a FILEPASS record right
    after the opening BOF (only a few records may come between). Without this, the reader
    meets scrambled text and reports a missing code page, which says nothing about a password."""
    import struct

    with path.open("rb") as handle:
        head = handle.read(2 * 2**20)
    for match in _XLS_BOF.finditer(head):
        pos = match.start()
        for _ in range(8):
            if pos + 4 > len(head):
                break
            kind, length = struct.unpack_from("<HH", head, pos)
            if kind == _XLS_FILEPASS:
                return True
            pos += 4 + length
    return False


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
        raise _fail(
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
        raise _fail(
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
    )


_MODIFIED = re.compile(rb"<(?:dcterms:modified|dc:date)[^>]*>([^<]+)<")


def _saved_at(archive: zipfile.ZipFile) -> dt.datetime | None:
    """When the program last saved the workbook (its own property, not the file's mtime)."""
    names = set(archive.namelist())
    for part in ("docProps/core.xml", "meta.xml"):
        if part not in names:
            continue
        with archive.open(part) as stream:
            match = _MODIFIED.search(stream.read(XML_SNIFF_BYTES))
        if match:
            text = match[1].decode("ascii", "replace").strip().replace("Z", "+00:00")
            try:
                stamp = dt.datetime.fromisoformat(text.split(".")[0] if "+" not in text else text)
            except ValueError:
                return None
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    return None


def _file_time(path: Path) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    except OSError:
        return None


def sheet_part(path: Path, sheet: str) -> str | None:
    """The zip part holding `sheet` of the .xlsx at `path`, or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _sheet_parts(archive).get(sheet)
    except UNREADABLE_PART:
        return None


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> the zip part holding its XML, from workbook.xml and its relationships.

    Both parts are read with the same DTD-refusing parser as everything else (UnsafeXml,
    DamagedXml); a workbook without them (an .ods) has no such parts."""
    names = set(archive.namelist())
    if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
        return {}
    rels = xmlscan.elements(archive.read("xl/_rels/workbook.xml.rels"), ["Relationship"])
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    parts: dict[str, str] = {}
    for sheet in xmlscan.elements(archive.read("xl/workbook.xml"), ["sheet"]):
        target = targets.get(sheet.get("id"))
        if target and "name" in sheet:
            parts[sheet["name"]] = target.lstrip("/") if target.startswith("/") else "xl/" + target
    return parts


def formula_and_error_cells(path: Path, sheet: str) -> dict[tuple[int, int], tuple[str, str]]:
    """Cells of an .xlsx sheet holding a formula or an error value: (row, col) -> (kind, text).

    python-calamine gives the cached values only, and shows an error cell as empty, so the
    sheet's XML is scanned (one streaming pass) for <f> and t="e". `open_workbook` has done
    this for every sheet already (Workbook.special); this is for a file read another way."""
    try:
        with zipfile.ZipFile(path) as archive:
            part = _sheet_parts(archive).get(sheet)
            if part is None:
                return {}
            with archive.open(part) as stream:
                return xmlscan.scan_sheet(stream, RETURN_LIMITS.sheet_cells).special
    except (*UNREADABLE_PART, xmlscan.SheetTooLarge):
        return {}


# What xlplan never writes on a sheet it carries, so finding one there means it would be lost.
_FEATURES = (
    (re.compile(rb"<mergeCell\b"), "merged cells"),
    (re.compile(rb"<conditionalFormatting\b"), "conditional formatting"),
    (re.compile(rb"<dataValidation\b"), "drop-down lists or validation rules"),
    (re.compile(rb"<hyperlink\b"), "hyperlinks"),
    (re.compile(rb"<tablePart\b"), "an Excel table (Format as Table)"),
)
_COMMENTS_TARGET = re.compile(
    rb'<Relationship\b(?=[^>]*?relationships/comments")[^>]*?\bTarget="([^"]+)"', re.S
)
_AUTHOR = re.compile(rb"<author>([^<]*)</author>")
_COMMENT = re.compile(rb'<comment\b[^>]*?\bauthorId="(\d+)"[^>]*>(.*?)</comment>', re.S)
_TEXT = re.compile(rb"<t\b[^>]*>([^<]*)")
XLPLAN_AUTHOR = "xlplan"
# Of those, what xlplan never writes on the plan sheet (it writes its own validations and
# conditional formats there, so those cannot be told from the team's).
PLAN_SHEET_FOREIGN = ("merged cells", "hyperlinks", "an Excel table (Format as Table)")
# How the note on a cell a merge changed begins (report.change_note). LibreOffice drops a
# note's author when it saves, so xlplan's own notes are also known by their first words.
XLPLAN_NOTE_START = "Changed by "


_FILLS = re.compile(rb"<fills\b[^>]*>(.*?)</fills>", re.S)
_FILL = re.compile(rb"<fill>(.*?)</fill>|<fill/>", re.S)
_FG_RGB = re.compile(rb'<fgColor\b[^>]*?\brgb="(?:[0-9A-Fa-f]{2})?([0-9A-Fa-f]{6})"')
_XF = re.compile(rb"<xf\b([^>]*?)/?>", re.S)
_FILL_ID = re.compile(rb'\bfillId="(\d+)"')


def _fill_styles(archive: zipfile.ZipFile) -> dict[bytes, str]:
    """Cell style index -> its solid fill colour ("FFEB9C", or "theme" for a theme colour)."""
    try:
        styles = archive.read("xl/styles.xml")
    except KeyError:
        return {}
    fills_xml = _FILLS.search(styles)
    colours: list[str | None] = []
    for fill in _FILL.finditer(fills_xml[1] if fills_xml else b""):
        body = fill[1] or b""
        if b'patternType="solid"' not in body:
            colours.append(None)
            continue
        rgb = _FG_RGB.search(body)
        colours.append(rgb[1].decode().upper() if rgb else "theme")
    xfs = _CELL_XFS.search(styles)
    found: dict[bytes, str] = {}
    for index, xf in enumerate(_XF.finditer(xfs[1] if xfs else b"")):
        fill_id = _FILL_ID.search(xf[1])
        if fill_id and int(fill_id[1]) < len(colours) and colours[int(fill_id[1])]:
            found[str(index).encode()] = colours[int(fill_id[1])]
    return found


def _coloured_cells(styles: dict[bytes, str], own: set[str]) -> re.Pattern | None:
    """A pattern for the cells coloured with a fill not among `own`, or None if no style has one."""
    foreign = [index for index, colour in styles.items() if colour not in own]
    if not foreign:
        return None
    return re.compile(rb'<c r="[A-Z]{1,3}\d+"[^>]{0,200}?\bs="(?:' + b"|".join(foreign) + rb')"')


SCAN_CHUNK = 1 << 20
# Longer than anything looked for (a cell with a formula of Excel's 8,192 characters, escaped),
# so no match is cut between two windows.
SCAN_OVERLAP = 1 << 18


def _windows(archive: zipfile.ZipFile, part: str) -> Iterator[tuple[bytes, int]]:
    """A zip part in overlapping windows, so a large sheet is never held whole: (window,
    limit). A match is the window's if it starts before `limit`; one starting later is found
    again, whole, in the next window."""
    tail = b""
    with archive.open(part) as stream:
        while True:
            chunk = stream.read(SCAN_CHUNK)
            data = tail + chunk
            if not chunk:
                yield data, len(data)
                return
            if len(data) > SCAN_OVERLAP:
                yield data, len(data) - SCAN_OVERLAP
                tail = data[-SCAN_OVERLAP:]
            else:
                tail = data


def _uncarried_patterns(
    on_plan_sheet: bool, fills: dict[bytes, str], own_fills: set[str]
) -> dict[str, re.Pattern]:
    """What to look for on a sheet that xlplan cannot carry: on the plan sheet, which xlplan
    formats itself, only what it never writes there."""
    patterns = {
        label: pattern for pattern, label in _FEATURES if not on_plan_sheet or label in PLAN_SHEET_FOREIGN
    }
    # xlplan colours the plan sheet itself (changes, proposals, headers); it writes no colour
    # on the team's own sheets.
    coloured = _coloured_cells(fills, own_fills if on_plan_sheet else set())
    if coloured is not None:
        patterns["colour"] = coloured
    return patterns


def _uncarried(counts: dict[str, int], archive: zipfile.ZipFile, part: str, listing: set[str]) -> list[str]:
    """What a sheet holds that cannot be carried, as a list for a message."""
    features = [label for label, count in counts.items() if label != "colour" and count]
    coloured = counts.get("colour", 0)
    if coloured:
        features.append(f"cell colours ({coloured} cell{'s' if coloured > 1 else ''})")
    folder, _, base = part.rpartition("/")
    rels = f"{folder}/_rels/{base}.rels"
    notes = 0
    if rels in listing:
        relations = archive.read(rels)
        if b'relationships/pivotTable"' in relations:
            features.append("a pivot table")
        for target in _COMMENTS_TARGET.findall(relations):
            comments = _resolve(folder, target.decode())
            if comments in listing:
                notes += _notes_by_others(archive.read(comments))
    if notes:
        features.append(f"{notes} note{'s' if notes > 1 else ''} (comments)")
    return features


def _col_index(letters: bytes) -> int:
    index = 0
    for char in letters:
        index = index * 26 + (char - 64)
    return index - 1


def _unescape(raw: bytes) -> str:
    import html

    return html.unescape(raw.decode("utf-8", "replace"))


def _notes_by_others(data: bytes) -> int:
    """Notes not written by xlplan (its own say what a merge changed, and move to the log)."""
    authors = [_unescape(a) for a in _AUTHOR.findall(data)]
    if authors and all(a == XLPLAN_AUTHOR for a in authors):
        return 0  # as xlplan wrote them (Excel keeps the author; LibreOffice does not)
    count = 0
    for match in _COMMENT.finditer(data):
        index = int(match[1])
        if index < len(authors) and authors[index] == XLPLAN_AUTHOR:
            continue
        text = _TEXT.search(match[2])
        if not (text and _unescape(text[1]).startswith(XLPLAN_NOTE_START)):
            count += 1
    return count


def sheets_with_drawings(path: Path) -> dict[str, str]:
    """Sheets that hold images, charts or shapes: name -> a short digest of the drawing.

    A drawing part with no anchored object in it is nothing: LibreOffice writes an empty one
    for a sheet it saved, and that must not be reported as content lost."""
    import hashlib

    found: dict[str, str] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            listing = set(archive.namelist())
            for name, part in _sheet_parts(archive).items():
                folder, _, base = part.rpartition("/")
                rels = f"{folder}/_rels/{base}.rels"
                if rels not in listing:
                    continue
                # relationships/drawing: images, charts, shapes. vmlDrawing is just the notes.
                for target in _DRAWING_TARGET.findall(archive.read(rels)):
                    drawing = _resolve(folder, target.decode())
                    data = archive.read(drawing) if drawing in listing else b""
                    if _ANCHOR.search(data):
                        found[name] = hashlib.sha256(data).hexdigest()[:12]
    except UNREADABLE_PART:
        pass
    return found


_DRAWING_TARGET = re.compile(
    rb'<Relationship\b(?=[^>]*?relationships/drawing")[^>]*?\bTarget="([^"]+)"', re.S
)
# Every object on a drawing is anchored to the sheet by one of these.
_ANCHOR = re.compile(rb"<(?:\w+:)?(?:twoCellAnchor|oneCellAnchor|absoluteAnchor)\b")


def _resolve(folder: str, target: str) -> str:
    """A relationship's target as a zip part name ('../drawings/drawing1.xml' from xl/worksheets)."""
    if target.startswith("/"):
        return target.lstrip("/")
    parts = folder.split("/") if folder else []
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


@dataclass
class SheetLayer:
    """What calamine does not give of a sheet: its formulas (whole, shared ones expanded to
    each cell) and its column widths. Read so the central team's sheets keep them."""

    formulas: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) -> "=…"
    # Numbers (and formulas) shown through a number format: (row, col) -> its code ("0%").
    formats: dict[tuple[int, int], str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # tags looked for -> how many
    uncarried: list[str] = field(default_factory=list)  # what cannot be carried, for a message
    widths: dict[int, float] = field(default_factory=dict)  # 0-based column -> width (0: hidden)


_CELL_FORMULA = re.compile(rb'<c r="([A-Z]{1,3})(\d+)"[^>]{0,400}?>\s*<f\b([^>]*?)(?:/>|>([^<]*)</f>)', re.S)
_SHARED_INDEX = re.compile(rb'\bsi="(\d+)"')
_SHARED = re.compile(rb'\bt="shared"')
_COL = re.compile(rb"<col\b([^>]*?)/?>", re.S)
_ATTR = re.compile(rb'\b(min|max|width|hidden)="([^"]+)"')


def sheet_layers(
    path: Path,
    sheets: list[str],
    columns: dict[str, set[int]] | None = None,
    plan_sheet: str | None = None,
    own_fills: set[str] = frozenset(),
) -> dict[str, SheetLayer]:
    """Formulas, number formats, column widths and what cannot be carried, of these sheets of
    an .xlsx, in one pass over each; `columns` limits a sheet's number formats to some columns
    (a large plan sheet); `own_fills` are the colours xlplan itself gives `plan_sheet`."""
    layers: dict[str, SheetLayer] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            parts = _sheet_parts(archive)
            listing = set(archive.namelist())
            formats = _style_formats(archive) if sheets else {}
            fills = _fill_styles(archive) if sheets else {}
            for sheet in sheets:
                if sheet in parts and parts[sheet] in listing:
                    wanted = (columns or {}).get(sheet)
                    patterns = _uncarried_patterns(sheet == plan_sheet, fills, own_fills)
                    layer = _layer(archive, parts[sheet], formats, wanted, patterns)
                    layer.uncarried = _uncarried(layer.counts, archive, parts[sheet], listing)
                    layers[sheet] = layer
    except (KeyError, zipfile.BadZipFile, OSError):
        pass
    return layers


def _style_formats(archive: zipfile.ZipFile) -> dict[bytes, str]:
    """Cell style index (as in s="…") -> its number format, for formats other than General
    and dates (calamine gives dates as dates already)."""
    from .excel import BUILTIN_NUMBER_FORMATS

    try:
        styles = archive.read("xl/styles.xml")
    except KeyError:
        return {}
    codes = {int(i): _unescape(c) for i, c in _NUM_FMT.findall(styles)}
    xfs = _CELL_XFS.search(styles)
    formats: dict[bytes, str] = {}
    for index, fmt_id in enumerate(_XF_FORMAT.findall(xfs[1] if xfs else b"")):
        code = codes.get(int(fmt_id)) or BUILTIN_NUMBER_FORMATS.get(int(fmt_id))
        if code and not _is_date_format(code) and code.lower() not in ("general", "@"):
            formats[str(index).encode()] = code
    return formats


def _formatted_cells(
    data: bytes,
    formats: dict[bytes, str],
    columns: set[int] | None,
    numbers_only: bool = True,
    limit: int | None = None,
    found: dict[tuple[int, int], str] | None = None,
) -> dict[tuple[int, int], str]:
    """(row, col) -> format code of the number cells (and, unless numbers_only, formula
    cells) styled with one of `formats`, in `columns` (None: all); matches from `limit` on
    are left to the next window."""
    found = {} if found is None else found
    if (columns is not None and not columns) or not formats:
        return found
    for match in _STYLED_VALUE.finditer(data):
        if limit is not None and match.start() >= limit:
            break
        attrs = match[3]
        style = _STYLE.search(attrs)
        if style is None or style[1] not in formats:
            continue
        kind = _TYPE.search(attrs)
        if kind and kind[1] != b"n" and (numbers_only or kind[1] != b"str" or match[4] != b"<f"):
            continue  # text, a boolean or an error: no number format shows
        col = _col_index(match[1])
        if columns is None or col in columns:
            found[(int(match[2]) - 1, col)] = formats[style[1]]
    return found


def _layer(
    archive: zipfile.ZipFile,
    part: str,
    formats: dict[bytes, str],
    columns: set[int] | None,
    patterns: dict[str, re.Pattern],
) -> SheetLayer:
    layer = SheetLayer(counts=dict.fromkeys(patterns, 0))
    in_head, after_cells, start = True, False, 0
    shared: dict[bytes, tuple[str, str]] = {}  # si -> (formula, the cell it was written in)
    for data, limit in _windows(archive, part):
        if in_head:  # <cols> comes before the cells
            head_end = data.find(b"<sheetData")
            in_head = head_end < 0
            _read_widths(layer, data, head_end if head_end >= 0 else limit)
        _formatted_cells(data, formats, columns, numbers_only=False, limit=limit, found=layer.formats)
        if b"<f" in data:
            _read_formulas(layer, data, limit, shared)
        if not after_cells:
            # Merged cells, links, validations and tables are listed after the cells.
            end = data.find(b"</sheetData>")
            after_cells, start = end >= 0, max(end, 0)
        for label, pattern in patterns.items():
            if label == "colour" or after_cells:
                layer.counts[label] += sum(
                    1 for m in pattern.finditer(data, 0 if label == "colour" else start) if m.start() < limit
                )
        start = 0
    return layer


def _read_widths(layer: SheetLayer, data: bytes, end: int) -> None:
    for match in _COL.finditer(data, 0, end):
        attrs = dict(_ATTR.findall(match[1]))
        try:
            first, last, width = int(attrs[b"min"]), int(attrs[b"max"]), float(attrs[b"width"])
        except (KeyError, ValueError):
            continue
        # The file holds the width plus the cell padding (5 pixels of 7-pixel digits);
        # the writer adds it again, so keep the width as Excel shows it.
        shown = round(max(width - 5 / 7, 0.5), 2)
        if attrs.get(b"hidden") in (b"1", b"true"):
            shown = 0.0  # a hidden column is one of no width, for the writer too
        for col in range(first - 1, min(last, first + 100)):
            layer.widths[col] = shown


def _read_formulas(layer: SheetLayer, data: bytes, limit: int, shared: dict[bytes, tuple[str, str]]) -> None:
    for match in _CELL_FORMULA.finditer(data):
        if match.start() >= limit:
            break
        letters, number, attrs = match[1], match[2], match[3]
        text = _unescape(match[4] or b"")
        key = (int(number) - 1, _col_index(letters))
        where = (letters + number).decode()
        index = _SHARED_INDEX.search(attrs) if _SHARED.search(attrs) else None
        if index and text:
            shared[index[1]] = (text, where)
        elif index and index[1] in shared:
            # A formula filled down in Excel is stored once and shared: the other cells
            # hold only its index, so it is translated to each cell, as Excel shows it.
            from openpyxl.formula.translate import Translator

            origin_text, origin = shared[index[1]]
            layer.formulas[key] = Translator("=" + origin_text, origin=origin).translate_formula(where)
            continue
        if text:
            layer.formulas[key] = "=" + text


_NUM_FMT = re.compile(rb'<numFmt\b[^>]*?\bnumFmtId="(\d+)"[^>]*?\bformatCode="([^"]*)"', re.S)
_CELL_XFS = re.compile(rb"<cellXfs\b[^>]*>(.*?)</cellXfs>", re.S)
_XF_FORMAT = re.compile(rb'<xf\b[^>]*?\bnumFmtId="(\d+)"')
_STYLED_VALUE = re.compile(rb'<c r="([A-Z]{1,3})(\d+)"([^>]*?)>\s*(<v>|<f)', re.S)
_STYLE = re.compile(rb'\bs="(\d+)"')
_TYPE = re.compile(rb'\bt="(\w+)"')


def number_formats(path: Path, sheet: str, columns: set[int]) -> dict[tuple[int, int], str]:
    """Number cells of these columns shown through a number format other than General or a
    date (86% is 0.86 shown as 0%): (row, col) -> the format code. Read only when the
    workbook has such a format at all, which an untouched template does not."""
    try:
        with zipfile.ZipFile(path) as archive:
            formats = _style_formats(archive)
            part = _sheet_parts(archive).get(sheet) if formats else None
            if part is None:
                return {}
            data = archive.read(part)
    except (KeyError, zipfile.BadZipFile, OSError):
        return {}
    return _formatted_cells(data, formats, columns)


def _is_date_format(code: str) -> bool:
    bare = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", code).lower()
    return any(ch in bare for ch in "dmyhs")


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
            parts = _sheet_parts(archive)
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
