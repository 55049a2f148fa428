"""The Change log sheet's part of the master, carried from one master to the next as it stands.

Every master xlplan writes has its Change log part written in three deflate segments
(xlplan.zipparts): the sheet's head (dimension, columns, title and header rows), the data
rows, and the tail (autofilter, print setup). How to find the rows segment again is put in
the zip's comment (`COMMENT_TAG` and JSON), with digests of the whole part and of the rows.

The next merge (`read_kept_part`) finds the comment and the part's bytes unchanged: nobody
opened and saved the master in Excel or LibreOffice (they rewrite every part, with shared
strings and their own styles, and drop the comment) and no tool changed the part. Then the
old rows are not parsed; the new master's part is XlsxWriter's head and tail for the whole
table, the old rows' compressed bytes, and the rows added since (`write_change_log`).
Anything else (no comment, a different part, another header row or other cell styles) takes
the slow path: the rows are parsed and written whole, and nothing anyone typed in the sheet
is lost. Either way the rows are written by `rows_xml`, not cell by cell through XlsxWriter
(which is most of what writing a long log costs), as the bytes XlsxWriter would write.

The rows are self-contained: xlplan writes inline strings (constant_memory mode, no shared
strings table), and their only reference outside the part is the style index (s="N") of their
cells, which `prime_log_formats` makes the same in every master (and which is checked).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .changelog import ChangeLog, LogEntry
from .errors import XlplanError
from .rowxml import SheetRows, letters, row_start
from .sheets import Book, row_height, table_formats, table_header_row, write_table
from .zipparts import (
    PackingChanged,
    Segment,
    SegmentedEntry,
    comment_line,
    crc32_combine,
    entry_data,
    read_span,
    with_comment_line,
)

COMMENT_TAG = b"xlplan change-log "
COMMENT_VERSION = 1
HEAD_BYTES = 1 << 20  # the sheet's XML before its data rows is a few kB
_DIMENSION = re.compile(rb'<dimension ref="([A-Z]+)([0-9]+)(?::([A-Z]+)([0-9]+))?"/>')
# The order write_master makes the table formats in, before anything else, so that a table's
# body and date cells have the same style index in every master xlplan writes.
PRIMED = ("body", "dated", "head", "title", "note")


@dataclass
class KeptPart:
    """The previous master's Change log rows, as compressed bytes in its file."""

    path: Path
    start: int  # where the part's compressed data starts in the file
    rows: Segment
    rows_sha: str
    header_row: int  # 1-based
    styles: dict[str, int]
    count: int


def prime_log_formats(book: Book) -> dict[str, int]:
    """Give the table formats their style indices first, in a fixed order (see the module
    docstring); the style index of the body and date cells."""
    formats = table_formats(book)
    for name in PRIMED:
        # XlsxWriter numbers a format the first time a cell uses it (Format._get_xf_index);
        # asking first fixes the number. A later XlsxWriter numbering otherwise is caught:
        # the indices are recorded and compared before any rows are copied.
        formats[name]._get_xf_index()  # type: ignore[attr-defined]  # noqa: SLF001
    return {name: formats[name].xf_index for name in ("body", "dated")}  # type: ignore[attr-defined]


def read_kept_part(path: Path, part: str | None, token: str, count: int) -> KeptPart | None:
    """The Change log rows of the master at `path` (its sheet in zip part `part`), if they can
    be copied as they stand: described by the zip comment for this summary (`token`, `count`)
    and unchanged since xlplan wrote them. None means: parse them."""
    if part is None:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            comment = archive.comment
        line = comment_line(comment, COMMENT_TAG)
        if line is None:
            return None
        record = json.loads(line.decode("utf-8"))
        if (
            record.get("v") != COMMENT_VERSION
            or record.get("token") != token
            or record.get("count") != count
            or record.get("part") != part
        ):
            return None
        located = entry_data(path, part)
        if located is None:
            return None
        info, start = located
        if (info.compress_size, info.file_size, info.CRC) != (
            record["size"],
            record["length"],
            record["crc"],
        ):
            return None
        digest = hashlib.sha256()
        for chunk in read_span(path, start, info.compress_size):
            digest.update(chunk)
        if digest.hexdigest() != record["sha"]:
            return None
        offset, size, length, crc = record["rows"]
        if offset < 0 or size < 0 or offset + size > info.compress_size:
            return None
        return KeptPart(
            path,
            start,
            Segment(offset, size, length, crc),
            record["rows_sha"],
            int(record["header"]),
            {k: int(v) for k, v in record["styles"].items()},
            count,
        )
    except (OSError, zipfile.BadZipFile, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def write_change_log(
    book: Book,
    log: ChangeLog,
    name: str,
    headers: list[str],
    widths: list[float],
    *,
    title: str,
    notes: list[str],
    styles: dict[str, int],
    token: str,
) -> bool:
    """The Change log sheet: the previous master's rows copied as they stand when they can be
    (True), else every row written. `styles` is what `prime_log_formats` gave."""
    header_row = table_header_row(title, notes) + 1
    kept = log.stored.part if log.stored is not None else None
    if not isinstance(kept, KeptPart) or kept.header_row != header_row or kept.styles != styles:
        kept = None
    rows = log.entries if kept is not None else list(log)
    total = (kept.count if kept is not None else 0) + len(rows)
    # XlsxWriter writes the title, header, autofilter and print set-up for all `total` rows;
    # the rows themselves are put in by the part writer (`rows_xml`), below the header.
    ws = write_table(book, name, headers, [], widths, title=title, notes=notes, skip=total)
    book.parts[book.part_name(ws)] = _PartWriter(kept, header_row, total, styles, token, rows, widths)
    return kept is not None


LOG_COLUMNS = 10  # Cycle … xlplan ID (LogEntry.row())


def rows_xml(
    entries: Sequence[LogEntry], first_row: int, styles: dict[str, int], widths: Sequence[float]
) -> Iterator[bytes]:
    """The Change log's data rows as sheet XML, from `first_row` (1-based): what
    write_table's cells would be (text, dates, row heights), written as XlsxWriter writes
    them (xlplan.rowxml), about four times faster than cell by cell through XlsxWriter."""
    body, dated = f' s="{styles["body"]}"', f' s="{styles["dated"]}"'
    per_line = [max(int(w * 1.2) - 1, 4) for w in widths]
    column_letters = [letters(i) for i in range(LOG_COLUMNS)]
    out: list[str] = []
    for number, entry in enumerate(entries, start=first_row):
        values = entry.row()
        out.append(row_start(number, row_height(values, per_line)))
        for letter, value in zip(column_letters, values, strict=True):
            if value is not None:
                out.append(SheetRows.value(f"{letter}{number}", body, value, dated))
        out.append("</row>")
        if len(out) > 4096:
            yield "".join(out).encode("utf-8")
            out = []
    if out:
        yield "".join(out).encode("utf-8")


@dataclass
class _PartWriter:
    """Writes the Change log part when XlsxWriter packs the workbook (zipparts.PartWriter)."""

    kept: KeptPart | None
    header_row: int
    total: int
    styles: dict[str, int]
    token: str
    rows: Sequence[LogEntry]  # below the kept ones
    widths: Sequence[float]

    def __call__(self, archive: zipfile.ZipFile, source: Path, arcname: str) -> None:
        kept = self.kept
        first_new = self.header_row + 1 + (kept.count if kept is not None else 0)
        size = source.stat().st_size
        with source.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
            cut = _first(head, (b'<row r="%d"' % first_new, b"</sheetData>"))
            if cut < 0:
                raise PackingChanged(
                    "The Change log sheet XlsxWriter wrote is not laid out as xlplan expects."
                )
            handle.seek(max(cut, size - HEAD_BYTES))
            rest_at = handle.tell()
            rest = handle.read()
        tail_at = rest_at + rest.rfind(b"</sheetData>")
        if tail_at < rest_at:
            raise PackingChanged("The Change log sheet XlsxWriter wrote is not laid out as xlplan expects.")
        head = _with_last_row(head[:cut], self.header_row + self.total)
        length = size + (kept.rows.length if kept is not None else 0)
        zip64 = bool(getattr(archive, "_allowZip64", True)) and length * 1.05 > zipfile.ZIP64_LIMIT
        rows_digest = hashlib.sha256()
        segments: list[Segment] = []
        with SegmentedEntry(archive, arcname, zip64=zip64) as entry:
            entry.begin()
            entry.write(head)
            entry.end()
            entry.tap = rows_digest.update
            if kept is not None:
                segments.append(
                    entry.copy(
                        read_span(kept.path, kept.start + kept.rows.offset, kept.rows.size),
                        kept.rows.length,
                        kept.rows.crc,
                    )
                )
                if rows_digest.hexdigest() != kept.rows_sha:
                    raise XlplanError(
                        f"{kept.path} changed while xlplan was writing the new master; nothing was "
                        "written. Run the command again."
                    )
            if tail_at > cut:
                raise PackingChanged("XlsxWriter wrote Change log rows where xlplan writes its own.")
            if self.rows or kept is None:  # the rows added (all of them on the slow path)
                entry.begin()
                for chunk in rows_xml(self.rows, first_new, self.styles, self.widths):
                    entry.write(chunk)
                segments.append(entry.end())
            entry.tap = None
            entry.begin()
            with source.open("rb") as handle:
                handle.seek(tail_at)
                entry.write(handle.read())
            entry.end(last=True)
        crc = 0
        for segment in segments:
            crc = crc32_combine(crc, segment.crc, segment.length)
        record = {
            "v": COMMENT_VERSION,
            "token": self.token,
            "count": self.total,
            "part": arcname,
            "size": entry.size,
            "length": entry.length,
            "crc": entry.crc,
            "sha": entry.digest.hexdigest(),
            "rows": [segments[0].offset, sum(s.size for s in segments), sum(s.length for s in segments), crc],
            "rows_sha": rows_digest.hexdigest(),
            "header": self.header_row,
            "styles": self.styles,
        }
        archive.comment = with_comment_line(
            archive.comment, COMMENT_TAG, json.dumps(record, separators=(",", ":")).encode("utf-8")
        )


def _first(data: bytes, marks: tuple[bytes, ...]) -> int:
    found = [at for at in (data.find(mark) for mark in marks) if at >= 0]
    return min(found) if found else -1


def _with_last_row(head: bytes, last_row: int) -> bytes:
    """The sheet's <dimension> reaching `last_row` at least: XlsxWriter counts only the rows
    it wrote, not those copied below the header."""

    def widen(match: re.Match[bytes]) -> bytes:
        first_col, first_row, last_col, row = match[1], match[2], match[3] or match[1], match[4] or match[2]
        end = max(int(row), last_row)
        return b'<dimension ref="%s%s:%s%d"/>' % (first_col, first_row, last_col, end)

    widened, count = _DIMENSION.subn(widen, head, count=1)
    if count != 1:
        raise PackingChanged("The Change log sheet XlsxWriter wrote has no <dimension> where expected.")
    return widened
