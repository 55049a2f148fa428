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
import zipfile
import zlib
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

    def rows(self, sheet: str) -> list[list[CellValue]]:
        """The sheet's cells as xlplan holds them, row 0 = the sheet's first row."""
        # Most cells are text or empty: handle those inline (millions of cells in a master).
        return [[(v if v and not v.isspace() else None) if type(v) is str else cell_text(v)
                 for v in row]
                for row in self.raw_rows(sheet)]

    def raw_rows(self, sheet: str) -> list[list[object]]:
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
            raise _fail("corrupt", self.path, f"sheet {sheet!r} is damaged and cannot be read "
                        f"({type(exc).__name__}: {str(exc)[:160]}). Open the file in Excel, save "
                        "it again as .xlsx, and send it again.") from exc


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


def check_container(path: Path, limits: Limits = RETURN_LIMITS) -> Container:
    """Refuse what must not be parsed; say whether it holds macros and when it was saved."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise _fail("not-a-workbook", path, f"cannot open the file: {exc.strerror or exc}.") from exc
    if size > limits.file_bytes:
        raise _fail("too-large", path, f"the file is {size / 2**20:.0f} MB; a return may be at most "
                    f"{limits.file_bytes / 2**20:.0f} MB. Send the action plan sheet only.")
    if size == 0:
        raise _fail("corrupt", path, "the file is empty (0 bytes). Ask for it to be sent again.")
    if head.startswith(CFB_MAGIC):
        if _is_encrypted_ooxml(path) or _is_encrypted_xls(path):
            raise _fail("encrypted", path,
                        "the workbook is encrypted with a password to open. Open it in Excel, "
                        "File > Info > Protect Workbook > Encrypt with Password, clear the "
                        "password, save, and send it again.")
        if path.suffix.lower() != ".xls":
            raise _fail("not-a-workbook", path, "this is an old-format (.xls) file with another "
                        "extension. Save it as .xlsx and send it again.")
        return Container(has_macros=False, saved_at=_file_time(path))
    if not head.startswith(ZIP_MAGIC):
        raise _fail("not-a-workbook", path, "this is not an Excel or OpenDocument workbook. "
                    "Save it as .xlsx (Excel Workbook) and send it again.")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise _fail("too-large", path, f"the workbook holds {len(members)} parts; refused.")
            total = sum(m.file_size for m in members)
            if total > limits.unpacked_bytes:
                raise _fail("too-large", path, f"the workbook unpacks to {total / 2**20:,.0f} MB "
                            f"(limit {limits.unpacked_bytes / 2**20:,.0f} MB): refused unread, as "
                            "a zip bomb would be.")
            names = {m.filename for m in members}
            if any(n.endswith(".iwa") for n in names) or "index.xml.gz" in names \
                    or "Index.zip" in names:
                raise _fail("numbers", path, "this is an Apple Numbers file, which Excel cannot "
                            "open. In Numbers choose File > Export To > Excel…, and use the "
                            ".xlsx it makes.")
            for member in members:
                _check_member(path, member)
            special, refused = _scan_parts(path, archive, members, limits)
            return Container(has_macros=any(n.lower().endswith("vbaproject.bin") for n in names),
                             saved_at=_saved_at(archive) or _file_time(path), special=special,
                             refused=refused)
    except UnreadableWorkbook:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, zlib.error,
            NotImplementedError, RuntimeError, OverflowError) as exc:
        # zipfile's own text names an internal part and a CRC; the person needs what to do.
        raise _fail("corrupt", path, "the workbook is damaged or truncated (a part of it cannot "
                    "be unpacked). Ask for it to be saved and sent again.") from exc


def _check_member(path: Path, member: zipfile.ZipInfo) -> None:
    """Refuse, from the zip directory alone, what no spreadsheet program writes."""
    if member.flag_bits & (ZIP_ENCRYPTED | ZIP_STRONG_ENCRYPTION):
        raise _fail("encrypted", path, "parts of the workbook are encrypted with a zip password, "
                    "which spreadsheet programs never do. Ask the service to save it again from "
                    "Excel as .xlsx, without any password, and send it again.")
    if member.compress_type not in ZIP_METHODS or member.flag_bits & ZIP_PATCHED:
        method = ("patched data" if member.compress_type in ZIP_METHODS
                  else ZIP_METHOD_NAMES.get(member.compress_type, f"method {member.compress_type}"))
        raise _fail("corrupt", path, f"the workbook was packed with a compression spreadsheet "
                    f"programs do not use ({method}), probably by a zip tool after it was saved. "
                    "Open it in Excel, save it again as .xlsx, and send it again.")
    if member.file_size > 2**20 and member.file_size > MAX_RATIO * max(member.compress_size, 1):
        raise _fail("too-large", path, f"part {member.filename} is compressed "
                    f"{member.file_size // max(member.compress_size, 1)}:1, as only a "
                    "zip bomb is: refused unread.")


def _scan_parts(path: Path, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo],
                limits: Limits) -> tuple[dict[str, dict[tuple[int, int], tuple[str, str]]],
                                         dict[str, UnreadableWorkbook]]:
    """One streaming pass per XML part: refuse DTDs and entities everywhere, and measure every
    sheet (.xlsx worksheets, the tables of an .ods) before the reader allocates it. An .xlsx
    sheet too large or damaged is refused when it is read (`Workbook.refused`)."""
    special: dict[str, dict[tuple[int, int], tuple[str, str]]] = {}
    refused: dict[str, UnreadableWorkbook] = {}
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
            try:
                scan = xmlscan.measure_sheet(lambda m=member: archive.open(m), limits.sheet_cells,
                                             prefixed=":" in root)
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
        raise _fail("unsafe-xml", path, f"part {part} declares a DTD or entities, which no "
                    "spreadsheet program writes: refused unread.") from exc
    except xmlscan.DamagedXml as exc:
        raise _damaged(path, "its structure", exc) from exc
    return special, refused


def _damaged(path: Path, where: str, exc: Exception) -> UnreadableWorkbook:
    return _fail("corrupt", path, f"the workbook is damaged: {where} cannot be read "
                 f"({str(exc)[:80]}). Open it in Excel, save it again as .xlsx, and send it again.")


def _too_far(path: Path, sheet: str | None, exc: xmlscan.SheetTooLarge,
             limits: Limits) -> UnreadableWorkbook:
    where = f"sheet {sheet!r}" if sheet else "a sheet"
    return _fail("too-large", path, f"{where} holds a value as far out as cell {exc.where}: "
                 f"reading it would mean a grid of {exc.cells:,} cells (at most "
                 f"{limits.sheet_cells:,} are read). Delete the rows and columns beyond the plan "
                 "(or the stray value), save, and send it again.")


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
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error,
            NotImplementedError, RuntimeError, xmlscan.UnsafeXml, xmlscan.DamagedXml):
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


def open_workbook(path: Path, limits: Limits = RETURN_LIMITS) -> Workbook:
    """A workbook's sheets, visibility and save time, after the safety gate."""
    import python_calamine as calamine

    container = check_container(path, limits)
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
        meta = book.sheets_metadata
    except calamine.PasswordError as exc:
        raise _fail("encrypted", path, "the workbook is protected by a password to open; remove "
                    "the password in Excel (File > Info > Protect Workbook) and send it again.") from exc
    except BaseException as exc:  # calamine raises several types for damaged files
        if not reader_failed(exc):
            raise
        fallback = _ods_fallback(path)
        if fallback is not None:
            return Workbook(path=path, sheets=fallback.sheet_names, hidden=fallback.visibility(),
                            saved_at=container.saved_at, has_macros=container.has_macros,
                            _book=fallback, reader="ods-fallback")
        raise _fail("corrupt", path, f"the workbook cannot be read ({type(exc).__name__}: "
                    f"{str(exc)[:200]}). Open it in Excel, save it again as .xlsx, and resend.") from exc
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
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error,
            NotImplementedError, RuntimeError, xmlscan.UnsafeXml, xmlscan.DamagedXml,
            xmlscan.SheetTooLarge):
        return {}


def sheets_with_drawings(path: Path) -> set[str]:
    """Names of the sheets that hold images, charts or shapes (a drawing part)."""
    names: set[str] = set()
    try:
        with zipfile.ZipFile(path) as archive:
            listing = set(archive.namelist())
            for name, part in _sheet_parts(archive).items():
                folder, _, base = part.rpartition("/")
                rels = f"{folder}/_rels/{base}.rels"
                # relationships/drawing: images, charts, shapes. vmlDrawing is just the notes.
                if rels in listing and b'relationships/drawing"' in archive.read(rels):
                    names.add(name)
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error,
            NotImplementedError, RuntimeError, xmlscan.UnsafeXml, xmlscan.DamagedXml):
        pass
    return names


def read_with_second_reader(source: Path) -> tuple[list[tuple[str, list[list[CellValue]], str]],
                                                    list[tuple[str, str]]] | None:
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
