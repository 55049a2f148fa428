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

from .excel import CellValue, cell_text
from .problems import Problem

ZIP_MAGIC = b"PK\x03\x04"
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE container: .xls, or an encrypted .xlsx
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
XML_SNIFF_BYTES = 64 * 1024
MAX_ZIP_MEMBERS = 10_000
MAX_RATIO = 250  # uncompressed/compressed per member; real sheets stay well under 100


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    unpacked_bytes: int


RETURN_LIMITS = Limits(file_bytes=50 * 2**20, unpacked_bytes=250 * 2**20)
MASTER_LIMITS = Limits(file_bytes=500 * 2**20, unpacked_bytes=4 * 2**30)


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

    def rows(self, sheet: str) -> list[list[CellValue]]:
        """The sheet's cells as xlplan holds them, row 0 = the sheet's first row."""
        # Most cells are text or empty: handle those inline (millions of cells in a master).
        return [[(v if v and not v.isspace() else None) if type(v) is str else cell_text(v)
                 for v in row]
                for row in self.raw_rows(sheet)]

    def raw_rows(self, sheet: str) -> list[list[object]]:
        # calamine parses a sheet only when asked, so damage inside one shows up here.
        try:
            data = self._book.get_sheet_by_name(sheet)  # type: ignore[attr-defined]
            # skip_empty_area=False keeps positions: row 0 is the sheet's row 1 even if blank.
            return data.to_python(skip_empty_area=False)
        except BaseException as exc:  # noqa: BLE001 - calamine raises several types for damage
            if not reader_failed(exc):
                raise
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
            for member in members:
                if member.file_size > 2**20 and member.file_size > MAX_RATIO * max(member.compress_size, 1):
                    raise _fail("too-large", path, f"part {member.filename} is compressed "
                                f"{member.file_size // max(member.compress_size, 1)}:1, as only a "
                                "zip bomb is: refused unread.")
            names = {m.filename for m in members}
            if any(n.endswith(".iwa") for n in names) or "index.xml.gz" in names \
                    or "Index.zip" in names:
                raise _fail("numbers", path, "this is an Apple Numbers file, which Excel cannot "
                            "open. In Numbers choose File > Export To > Excel…, and use the "
                            ".xlsx it makes.")
            for member in members:
                if member.filename.endswith((".xml", ".rels", ".vml")) and member.file_size:
                    with archive.open(member) as stream:
                        prolog = _xml_prolog(stream)
                    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
                        raise _fail("unsafe-xml", path, f"part {member.filename} declares a DTD or "
                                    "entities, which no spreadsheet program writes: refused unread.")
            return Container(has_macros=any(n.lower().endswith("vbaproject.bin") for n in names),
                             saved_at=_saved_at(archive) or _file_time(path))
    except UnreadableWorkbook:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            zlib.error, NotImplementedError) as exc:  # a damaged part, an unknown compression
        raise _fail("corrupt", path, f"the workbook is damaged or truncated ({exc}). "
                    "Ask for it to be saved and sent again.") from exc


_ROOT_START = re.compile(rb"<[A-Za-z_:]")


def _xml_prolog(stream) -> bytes:
    """Everything before the root element: the only place a DTD (and its entities) can be.

    Read in chunks until the root's start tag, so a DOCTYPE hidden behind a long comment is
    still seen; the size limits above bound how far that can go."""
    seen = b""
    while True:
        chunk = stream.read(XML_SNIFF_BYTES)
        if not chunk:
            return seen
        seen += chunk
        match = _ROOT_START.search(seen)
        if match:
            return seen[: match.start()]


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


_SHEET_ENTRY = re.compile(rb'<sheet\b[^>]*?\bname="([^"]*)"[^>]*?\br:id="([^"]+)"', re.S)
_REL_ENTRY = re.compile(rb'<Relationship\b[^>]*?\bId="([^"]+)"[^>]*?\bTarget="([^"]+)"', re.S)
_REL_ENTRY_REV = re.compile(rb'<Relationship\b[^>]*?\bTarget="([^"]+)"[^>]*?\bId="([^"]+)"', re.S)
_CELL = re.compile(rb'<c\b([^>]*?)(?:/>|>(.*?)</c>)', re.S)
_REF = re.compile(rb'\br="([A-Z]{1,3})(\d+)"')
_ERROR_TYPE = re.compile(rb'\bt="e"')
_VALUE = re.compile(rb"<v>([^<]*)</v>")
_FORMULA = re.compile(rb"<f\b[^>]*?(?:/>|>([^<]*)</f>)", re.S)


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> the zip part holding its XML, from workbook.xml and its relationships."""
    workbook_xml = archive.read("xl/workbook.xml")
    rels_xml = archive.read("xl/_rels/workbook.xml.rels")
    targets = dict(_REL_ENTRY.findall(rels_xml))
    targets.update({rid: target for target, rid in _REL_ENTRY_REV.findall(rels_xml)})
    parts: dict[str, str] = {}
    for name, rid in _SHEET_ENTRY.findall(workbook_xml):
        if rid in targets:
            target = targets[rid].decode()
            parts[_unescape(name)] = target.lstrip("/") if target.startswith("/") else "xl/" + target
    return parts


def _col_index(letters: bytes) -> int:
    index = 0
    for char in letters:
        index = index * 26 + (char - 64)
    return index - 1


def formula_and_error_cells(path: Path, sheet: str) -> dict[tuple[int, int], tuple[str, str]]:
    """Cells of an .xlsx sheet holding a formula or an error value: (row, col) -> (kind, text).

    python-calamine gives the cached values only, and shows an error cell as empty, so the
    sheet's XML is scanned for <f> and t="e" (only when it holds either at all).
    """
    found: dict[tuple[int, int], tuple[str, str]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            part = _sheet_parts(archive).get(sheet)
            if part is None:
                return found
            data = archive.read(part)
    except (KeyError, zipfile.BadZipFile, OSError):
        return found
    # <f> or <f …> is a formula; <formula1> (validations, conditional formats) is not.
    if b"<f>" not in data and b"<f " not in data and b't="e"' not in data:
        return found
    for match in _CELL.finditer(data):
        attrs, body = match[1], match[2] or b""
        is_error = bool(_ERROR_TYPE.search(attrs))
        formula = _FORMULA.search(body)
        if not (is_error or formula):
            continue
        ref = _REF.search(attrs)
        if not ref:
            continue
        key = (int(ref[2]) - 1, _col_index(ref[1]))
        if is_error:
            value = _VALUE.search(body)
            found[key] = ("error", value[1].decode("utf-8", "replace") if value else "#ERROR")
        else:
            found[key] = ("formula", "=" + _unescape(formula[1] or b""))
    return found


def _unescape(raw: bytes) -> str:
    import html

    return html.unescape(raw.decode("utf-8", "replace"))


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
    except (KeyError, zipfile.BadZipFile, OSError):
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
