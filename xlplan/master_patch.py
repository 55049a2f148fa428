"""Updating only the hidden record of what was issued in a master whose visible sheets would
be written again exactly as they are: issuing a service again in the same cycle changes
nothing a person sees, and rewriting a 100,000-action master for it takes half a minute.

Every master `xlplan template` writes carries, in its zip comment (which Excel and
LibreOffice drop when they save the file), a digest of its parts other than the metadata and
record sheets, and a digest of the plan those parts were written from. A later template may
replace just those two sheets when both still hold: the parts are byte for byte as written
(no one saved the file since), and the plan it is about to record would write the same parts.
Otherwise the master is written whole, as before."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from .metadata import META_SHEET
from .record import RECORD_SHEET
from .zipparts import comment_line, with_comment_line

if TYPE_CHECKING:
    from .plan import Plan

COMMENT_TAG = b"xlplan-shown-v1"
HIDDEN_SHEETS = (META_SHEET, RECORD_SHEET)
# The plan's fields no visible sheet is written from (the record and the return date live in
# the hidden sheets; the others are how it was read, not what it holds).
NOT_SHOWN = {"record", "snapshot_packed", "read_problems", "_routes"}
NOT_SHOWN_META = {"due"}

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")


class NotPatchable(Exception):
    """The zip holds something this routine does not copy (encrypted, zip64, odd names)."""


def shown_digest(plan: Plan) -> str:
    """A digest of everything on `plan` the master's visible sheets are written from."""
    digest = hashlib.blake2b(digest_size=20)
    for item in dataclasses.fields(plan):
        if item.name in NOT_SHOWN:
            continue
        value = getattr(plan, item.name)
        digest.update(f"\0{item.name}\0".encode())
        if item.name == "meta":
            digest.update(repr(value.model_dump(exclude=NOT_SHOWN_META)).encode())
        elif item.name == "layout":
            digest.update(value.model_dump_json().encode())
        elif item.name == "actions":
            for action in value:  # one at a time: the whole plan's text at once is hundreds of MB
                digest.update(repr(action).encode())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def hidden_parts(book: zipfile.ZipFile) -> dict[str, str]:
    """The zip part of each of HIDDEN_SHEETS present: sheet name -> part name."""
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target") or "" for rel in rels}
    parts: dict[str, str] = {}
    for sheet in workbook.iter(f"{_MAIN}sheet"):
        name = sheet.get("name")
        if name in HIDDEN_SHEETS:
            target = targets.get(sheet.get(f"{_REL}id"), "")
            parts[name] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return parts


def parts_digest(book: zipfile.ZipFile, skip: set[str]) -> str:
    """A digest of every part but `skip`, from the zip's directory (each part's CRC and size)."""
    digest = hashlib.blake2b(digest_size=20)
    for info in book.infolist():
        if info.filename not in skip:
            digest.update(f"{info.filename}\0{info.CRC}\0{info.file_size}\n".encode())
    return digest.hexdigest()


def stamp(path: Path, plan: Plan) -> None:
    """Record, in the zip comment of the master just written at `path`, what it was written
    from and what its parts are, for the next template to know whether it can patch it."""
    with zipfile.ZipFile(path, "a") as book:
        skip = set(hidden_parts(book).values())
        book.comment = with_comment_line(
            book.comment,
            COMMENT_TAG,
            b" " + b" ".join([parts_digest(book, skip).encode(), shown_digest(plan).encode()]),
        )


def patcher(plan: Plan, path: Path):
    """A build function that writes `path` with only its metadata and record sheets made
    from `plan`, or None when the master must be written whole."""
    try:
        with zipfile.ZipFile(path) as book:
            comment = book.comment  # kept whole: the Change log's line stays true (xlplan.logpart)
            words = [COMMENT_TAG, *(comment_line(comment, COMMENT_TAG) or b"").split()]
            if len(words) != 3:
                return None
            parts = hidden_parts(book)
            if set(parts) != set(HIDDEN_SHEETS):
                return None
            if words[1].decode() != parts_digest(book, set(parts.values())):
                return None  # saved since by someone else: written whole
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError):
        return None
    if words[2].decode() != shown_digest(plan):
        return None

    def build(target: Path) -> None:
        fresh = hidden_sheets_xml(plan)
        replace_parts(path, target, {parts[name]: fresh[name] for name in HIDDEN_SHEETS}, comment)

    return build


def hidden_sheets_xml(plan: Plan) -> dict[str, bytes]:
    """The metadata and record sheets' XML, written by the master's own writers into a
    scratch workbook. Their cells keep the default style: the master's style numbers are not
    the scratch workbook's, and no one sees these sheets."""
    from .masterbook import write_packed_sheet
    from .record import record_table
    from .sheets import Book, write_metadata_sheet

    with tempfile.TemporaryDirectory(prefix="xlplan-") as folder:
        scratch = Path(folder) / "hidden.xlsx"
        book = Book(scratch)
        book.workbook.add_worksheet("first")  # the master's first sheet is the selected one
        write_metadata_sheet(book, plan.meta)
        write_packed_sheet(book, RECORD_SHEET, record_table(plan.layout, plan.record))
        book.close()
        with zipfile.ZipFile(scratch) as written:
            parts = hidden_parts(written)
            return {name: re.sub(rb' s="\d+"', b"", written.read(parts[name])) for name in HIDDEN_SHEETS}


def replace_parts(source: Path, target: Path, parts: dict[str, bytes], comment: bytes) -> None:
    """Write to `target` the zip `source` with `parts` (name -> new content) replaced: every
    other part's compressed bytes are copied as they are, not inflated and deflated again
    (Python's zipfile cannot copy an entry raw)."""
    entries = []
    with zipfile.ZipFile(source) as book, open(source, "rb") as old, open(target, "wb") as new:
        for info in book.infolist():
            if (
                info.flag_bits & 0x1
                or max(info.file_size, info.compress_size, info.header_offset) >= 0xFFFFFFFF
            ):
                raise NotPatchable(info.filename)
            try:
                name = info.filename.encode("ascii")
            except UnicodeEncodeError as exc:
                raise NotPatchable(info.filename) from exc
            if info.filename in parts:
                data = parts[info.filename]
                deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
                raw = deflate.compress(data) + deflate.flush()
                crc, size, method, flags = zlib.crc32(data), len(data), zipfile.ZIP_DEFLATED, 0
            else:
                old.seek(info.header_offset)
                head = _LOCAL.unpack(old.read(_LOCAL.size))
                if head[0] != b"PK\x03\x04":
                    raise NotPatchable(info.filename)
                old.seek(info.header_offset + _LOCAL.size + head[10] + head[11])
                raw = old.read(info.compress_size)
                if len(raw) != info.compress_size:
                    raise NotPatchable(info.filename)
                # A data descriptor's facts go into the header instead.
                crc, size, method, flags = (
                    info.CRC,
                    info.file_size,
                    info.compress_type,
                    info.flag_bits & ~0x08,
                )
            year, month, day, hour, minute, second = info.date_time
            date, time = (year - 1980) << 9 | month << 5 | day, hour << 11 | minute << 5 | second // 2
            offset = new.tell()
            new.write(
                _LOCAL.pack(
                    b"PK\x03\x04", 20, 0, flags, method, time, date, crc, len(raw), size, len(name), 0
                )
            )
            new.write(name)
            new.write(raw)
            entries.append((name, flags, method, time, date, crc, len(raw), size, info, offset))
        start = new.tell()
        for name, flags, method, time, date, crc, packed, size, info, offset in entries:
            new.write(
                _CENTRAL.pack(
                    b"PK\x01\x02",
                    info.create_version,
                    info.create_system,
                    20,
                    0,
                    flags,
                    method,
                    time,
                    date,
                    crc,
                    packed,
                    size,
                    len(name),
                    0,
                    0,
                    0,
                    info.internal_attr,
                    info.external_attr,
                    offset,
                )
            )
            new.write(name)
        end = new.tell()
        new.write(
            _END.pack(b"PK\x05\x06", 0, 0, len(entries), len(entries), end - start, start, len(comment))
        )
        new.write(comment)
