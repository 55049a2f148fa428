"""The safety gate every file xlplan reads passes first, before any parser sees it.

Size and zip-bomb limits are checked from the zip directory before anything is unpacked;
password-encrypted files are recognised by their container; zip methods and flags no
spreadsheet program writes are refused; DTDs and entities are refused, and every sheet is
measured, in one streaming pass over each XML part (xmlscan).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from . import xmlscan
from .problems import Problem

ZIP_MAGIC = b"PK\x03\x04"
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE container: .xls, or an encrypted .xlsx
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
XML_SNIFF_BYTES = 64 * 1024
MAX_ZIP_MEMBERS = 10_000
MAX_RATIO = 250  # uncompressed/compressed per member; real sheets stay well under 100

# What zipfile and zlib raise on a damaged, truncated or crafted zip.
ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)
# A part that cannot be read is answered as "not there" by the scans that tolerate it (the
# safety gate has said why).
UNREADABLE_PART = (*ZIP_READ_ERRORS, KeyError, xmlscan.UnsafeXml, xmlscan.DamagedXml)


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


def fail(code: str, path: Path, message: str) -> UnreadableWorkbook:
    return UnreadableWorkbook(Problem(code, message, file=str(path)))


@dataclass(frozen=True)
class Container:
    """What the safety gate learns on its one pass over the file."""

    has_macros: bool
    saved_at: dt.datetime | None
    special: dict[str, dict[tuple[int, int], tuple[str, str]]] = field(default_factory=dict)
    refused: dict[str, UnreadableWorkbook] = field(default_factory=dict)
    deferred: dict[str, str] = field(default_factory=dict)
    # sheet name -> the last row its cells reach (1-based), for each .xlsx sheet measured whole
    extents: dict[str, int] = field(default_factory=dict)


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
        raise fail("not-a-workbook", path, f"cannot open the file: {exc.strerror or exc}.") from exc
    if size > limits.file_bytes:
        raise fail(
            "too-large",
            path,
            f"the file is {size / 2**20:.0f} MB; a return may be at most "
            f"{limits.file_bytes / 2**20:.0f} MB. Send the action plan sheet only.",
        )
    if size == 0:
        raise fail("corrupt", path, "the file is empty (0 bytes). Ask for it to be sent again.")
    if head.startswith(CFB_MAGIC):
        if _is_encrypted_ooxml(path) or _is_encrypted_xls(path):
            raise fail(
                "encrypted",
                path,
                "the workbook is encrypted with a password to open. Open it in Excel, "
                "File > Info > Protect Workbook > Encrypt with Password, clear the "
                "password, save, and send it again.",
            )
        if path.suffix.lower() != ".xls":
            raise fail(
                "not-a-workbook",
                path,
                "this is an old-format (.xls) file with another "
                "extension. Save it as .xlsx and send it again.",
            )
        return Container(has_macros=False, saved_at=_file_time(path))
    if not head.startswith(ZIP_MAGIC):
        raise fail(
            "not-a-workbook",
            path,
            "this is not an Excel or OpenDocument workbook. "
            "Save it as .xlsx (Excel Workbook) and send it again.",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise fail("too-large", path, f"the workbook holds {len(members)} parts; refused.")
            total = sum(m.file_size for m in members)
            if total > limits.unpacked_bytes:
                raise fail(
                    "too-large",
                    path,
                    f"the workbook unpacks to {total / 2**20:,.0f} MB "
                    f"(limit {limits.unpacked_bytes / 2**20:,.0f} MB): refused unread, as "
                    "a zip bomb would be.",
                )
            names = {m.filename for m in members}
            if any(n.endswith(".iwa") for n in names) or "index.xml.gz" in names or "Index.zip" in names:
                raise fail(
                    "numbers",
                    path,
                    "this is an Apple Numbers file, which Excel cannot "
                    "open. In Numbers choose File > Export To > Excel…, and use the "
                    ".xlsx it makes.",
                )
            for member in members:
                _check_member(path, member)
            special, refused, deferred, extents = _scan_parts(path, archive, members, limits, defer)
            return Container(
                has_macros=any(n.lower().endswith("vbaproject.bin") for n in names),
                saved_at=_saved_at(archive) or _file_time(path),
                special=special,
                refused=refused,
                deferred=deferred,
                extents=extents,
            )
    except UnreadableWorkbook:
        raise
    except (*ZIP_READ_ERRORS, zipfile.LargeZipFile, OverflowError) as exc:
        # zipfile's own text names an internal part and a CRC; the person needs what to do.
        raise fail(
            "corrupt",
            path,
            "the workbook is damaged or truncated (a part of it cannot "
            "be unpacked). Ask for it to be saved and sent again.",
        ) from exc


def _check_member(path: Path, member: zipfile.ZipInfo) -> None:
    """Refuse, from the zip directory alone, what no spreadsheet program writes."""
    if member.flag_bits & (ZIP_ENCRYPTED | ZIP_STRONG_ENCRYPTION):
        raise fail(
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
        raise fail(
            "corrupt",
            path,
            f"the workbook was packed with a compression spreadsheet "
            f"programs do not use ({method}), probably by a zip tool after it was saved. "
            "Open it in Excel, save it again as .xlsx, and send it again.",
        )
    if member.file_size > 2**20 and member.file_size > MAX_RATIO * max(member.compress_size, 1):
        raise fail(
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
) -> tuple[
    dict[str, dict[tuple[int, int], tuple[str, str]]],
    dict[str, UnreadableWorkbook],
    dict[str, str],
    dict[str, int],
]:
    """One streaming pass per XML part: refuse DTDs and entities everywhere, and measure every
    sheet (.xlsx worksheets, the tables of an .ods) before the reader allocates it. An .xlsx
    sheet too large or damaged is refused when it is read (`Workbook.refused`)."""
    special: dict[str, dict[tuple[int, int], tuple[str, str]]] = {}
    refused: dict[str, UnreadableWorkbook] = {}
    deferred: dict[str, str] = {}
    extents: dict[str, int] = {}
    member: zipfile.ZipInfo | None = None
    sheets: dict[str, str] = {}
    try:
        sheets = {part: name for name, part in sheet_parts(archive).items()}
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
                        raise too_far(path, None, exc, limits) from exc
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
                    raise too_far(path, None, exc, limits) from exc
                refused[name] = too_far(path, name, exc, limits)
                continue
            except xmlscan.DamagedXml as exc:
                if name is None:
                    raise
                refused[name] = damaged(path, f"its sheet {name!r}", exc)
                continue
            if name is not None:
                extents[name] = scan.max_row
                if scan.special:
                    special[name] = scan.special
    except xmlscan.UnsafeXml as exc:
        part = member.filename if member is not None else "xl/workbook.xml"
        raise fail(
            "unsafe-xml",
            path,
            f"part {part} declares a DTD or entities, which no spreadsheet program writes: refused unread.",
        ) from exc
    except xmlscan.DamagedXml as exc:
        raise damaged(path, "its structure", exc) from exc
    return special, refused, deferred, extents


def damaged(path: Path, where: str, exc: Exception) -> UnreadableWorkbook:
    return fail(
        "corrupt",
        path,
        f"the workbook is damaged: {where} cannot be read "
        f"({str(exc)[:80]}). Open it in Excel, save it again as .xlsx, and send it again.",
    )


def too_far(path: Path, sheet: str | None, exc: xmlscan.SheetTooLarge, limits: Limits) -> UnreadableWorkbook:
    where = f"sheet {sheet!r}" if sheet else "a sheet"
    return fail(
        "too-large",
        path,
        f"{where} holds a value as far out as cell {exc.where}: "
        f"reading it would mean a grid of {exc.cells:,} cells (at most "
        f"{limits.sheet_cells:,} are read). Delete the rows and columns beyond the plan "
        "(or the stray value), save, and send it again.",
    )


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


def sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
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
