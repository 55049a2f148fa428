"""Zip parts xlplan writes itself while XlsxWriter packs a workbook.

XlsxWriter deflates every part of the workbook when it closes. A part that is mostly what the
previous master already held (the Change log after eleven cycles: 80 MB of XML, 8 MB
deflated) would be deflated again at every merge. Instead, xlplan writes that part as a
sequence of deflate segments, each started by a fresh compressor and ended byte-aligned (a
sync flush), so a segment of the previous master can be copied into the next one as
compressed bytes: raw deflate lets independently compressed blocks follow one another as long
as each but the last ends without the final-block bit.

`substituted_parts` is the one hook into XlsxWriter. It relies on what `Workbook.close()` does
in XlsxWriter 3.x (`Workbook._store_workbook`): it builds the zip with the name `ZipFile` of
the module `xlsxwriter.workbook`, and adds each part from a temporary file with
`ZipFile.write(os_filename, arcname)`. If a later XlsxWriter packs its parts another way, the
hook is not called, and `substituted_parts` raises rather than let a wrong workbook out
(tests/test_history_log.py fails the same way).
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Each part XlsxWriter adds: arcname -> a function writing it into the open zip from the
# temporary file XlsxWriter made for it.
PartWriter = Callable[[zipfile.ZipFile, Path, str], None]

DEFLATE_LEVEL = 6  # zlib's default, as XlsxWriter's ZipFile uses
COPY_BYTES = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # the fixed 30 bytes of a zip local file header


class PackingChanged(RuntimeError):
    """XlsxWriter did not add a part the way `substituted_parts` relies on."""


@contextmanager
def substituted_parts(parts: Mapping[str, PartWriter], compress_level: int | None = None) -> Iterator[None]:
    """While the block runs (XlsxWriter's `Workbook.close()`), the parts named in `parts` are
    written by their writer instead of by `ZipFile.write`, and every part deflated at
    `compress_level` (None: zlib's default). Raises PackingChanged when the block ends without
    every one of them written (see the module's docstring)."""
    import xlsxwriter.workbook as xlsx_module

    original = xlsx_module.ZipFile
    written: set[str] = set()

    class _PartsZip(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            if compress_level is not None:
                self.compresslevel = compress_level

        def write(self, filename, arcname=None, *args, **kwargs):  # noqa: ANN001, ANN202
            writer = parts.get(arcname) if arcname is not None else None
            if writer is None:
                return super().write(filename, arcname, *args, **kwargs)
            writer(self, Path(filename), arcname)
            written.add(arcname)
            return None

    xlsx_module.ZipFile = _PartsZip
    try:
        yield
    finally:
        xlsx_module.ZipFile = original
    missing = set(parts) - written
    if missing:
        raise PackingChanged(
            f"XlsxWriter did not add {', '.join(sorted(missing))} with ZipFile.write(); "
            "xlplan's part writer (xlplan/zipparts.py) needs updating for this XlsxWriter."
        )


def comment_line(comment: bytes, tag: bytes) -> bytes | None:
    """What follows `tag` on its line of a zip comment, or None. xlplan keeps one line per
    purpose there (the Change log's rows, what a template wrote), each its writer's own."""
    for line in comment.split(b"\n"):
        if line.startswith(tag):
            return line[len(tag) :]
    return None


def with_comment_line(comment: bytes, tag: bytes, payload: bytes) -> bytes:
    """`comment` with the line of `tag` set to `payload`, the other lines kept."""
    kept = [line for line in comment.split(b"\n") if line and not line.startswith(tag)]
    return b"\n".join([*kept, tag + payload])


def deflated_at(level: int) -> PartWriter:
    """A part written as XlsxWriter writes it, at another deflate level (1 fastest, 9
    smallest): for `substituted_parts`, to trade file size for time on large parts."""

    def write(archive: zipfile.ZipFile, source: Path, arcname: str) -> None:
        # ZipFile's own write: the archive's `write` is the hook, which would call this again.
        zipfile.ZipFile.write(archive, source, arcname, zipfile.ZIP_DEFLATED, level)

    return write


@dataclass
class Segment:
    """Where a segment lies in its part: its compressed bytes from `offset` (within the
    entry's data) for `size` bytes, unpacking to `length` bytes with CRC-32 `crc`."""

    offset: int
    size: int
    length: int
    crc: int


class SegmentedEntry:
    """One deflated zip entry written segment by segment (see the module docstring).

    Used as a context manager on an open ZipFile in "w" mode on a seekable file: the local
    header is written first and again, with the sizes and CRC, at the end."""

    def __init__(self, archive: zipfile.ZipFile, arcname: str, *, zip64: bool = False) -> None:
        self.archive = archive
        self.info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 31, 0, 0, 0))
        self.info.compress_type = zipfile.ZIP_DEFLATED
        self.info.external_attr = 0o100644 << 16
        self.info.CRC = self.info.compress_size = self.info.file_size = 0
        self.zip64 = zip64
        self.size = 0  # compressed bytes written so far
        self.length = 0
        self.crc = 0
        self._compressor = None
        self._segment: Segment | None = None
        self.digest = hashlib.sha256()  # of the compressed bytes: the entry's data as stored
        self.tap: Callable[[bytes], None] | None = None  # also shown each compressed chunk

    def __enter__(self) -> SegmentedEntry:
        archive = self.archive
        if not getattr(archive, "_seekable", False) or archive.mode != "w":
            raise PackingChanged("xlplan writes its own zip parts only into a new file on disk.")
        self.info.header_offset = archive.fp.tell()
        archive._writecheck(self.info)  # noqa: SLF001 - the checks ZipFile.writestr makes
        archive._didModify = True  # noqa: SLF001
        archive.fp.write(self.info.FileHeader(self.zip64))
        return self

    def __exit__(self, kind, value, traceback) -> None:  # noqa: ANN001
        if kind is not None:
            return
        archive, info = self.archive, self.info
        info.CRC, info.compress_size, info.file_size = self.crc, self.size, self.length
        end = archive.fp.tell()
        archive.fp.seek(info.header_offset)
        archive.fp.write(info.FileHeader(self.zip64))
        archive.fp.seek(end)
        archive.start_dir = end
        archive.filelist.append(info)
        archive.NameToInfo[info.filename] = info

    def begin(self, level: int = DEFLATE_LEVEL) -> None:
        """Start a segment compressed on its own (it refers to nothing before it)."""
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        self._segment = Segment(self.size, 0, 0, 0)

    def write(self, data: bytes) -> None:
        assert self._compressor is not None and self._segment is not None
        self._segment.length += len(data)
        self._segment.crc = zlib.crc32(data, self._segment.crc)
        self._out(self._compressor.compress(data))

    def end(self, *, last: bool = False) -> Segment:
        """End the segment byte-aligned; the entry's last segment ends the deflate stream."""
        assert self._compressor is not None and self._segment is not None
        self._out(self._compressor.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH))
        segment, self._compressor, self._segment = self._segment, None, None
        return self._add(segment)

    def copy(self, chunks: Iterator[bytes], length: int, crc: int) -> Segment:
        """A segment of another entry written by SegmentedEntry, as its compressed bytes."""
        segment = Segment(self.size, 0, length, crc)
        for chunk in chunks:
            self._out(chunk)
        return self._add(segment)

    def _out(self, data: bytes) -> None:
        if data:
            self.archive.fp.write(data)
            self.digest.update(data)
            if self.tap is not None:
                self.tap(data)
            self.size += len(data)
            if self._segment is not None:
                self._segment.size += len(data)

    def _add(self, segment: Segment) -> Segment:
        segment.size = self.size - segment.offset
        self.crc = crc32_combine(self.crc, segment.crc, segment.length)
        self.length += segment.length
        return segment


def entry_data(path: Path, arcname: str) -> tuple[zipfile.ZipInfo, int] | None:
    """The entry `arcname` of the zip at `path` and where its compressed data starts in the
    file; None if it is not there or not deflated."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(arcname)
        if info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & 0x01:
            return None
        with path.open("rb") as handle:
            handle.seek(info.header_offset)
            fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            return None
        return info, info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]
    except (KeyError, OSError, zipfile.BadZipFile, struct.error, ValueError):
        return None


def read_span(path: Path, start: int, size: int) -> Iterator[bytes]:
    """`size` bytes of the file from `start`, in chunks (raises OSError if it is shorter)."""
    with path.open("rb") as handle:
        handle.seek(start)
        while size > 0:
            chunk = handle.read(min(COPY_BYTES, size))
            if not chunk:
                raise OSError(f"{path} is shorter than expected")
            size -= len(chunk)
            yield chunk


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from CRC-32(A), CRC-32(B) and len(B) (zlib's crc32_combine, which
    Python's zlib does not offer): a copied segment's CRC is known without unpacking it."""
    if length2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if length2 & 1:
            crc1 = _gf2_times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _gf2_square(even)
        if length2 & 1:
            crc1 = _gf2_times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, index = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, row) for row in matrix]
