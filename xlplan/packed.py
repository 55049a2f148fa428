"""Tables xlplan keeps for itself in a master (the record of what was issued, the snapshot of
the audited cells): packed into a few cells of a very hidden sheet rather than one cell per
value, because writing and reading cells is most of what a merge costs at 100,000 actions.

JSON, then zlib, then base64, cut into pieces below Excel's cell limit. Dates are tagged so
they come back as dates."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib

from .excel import MAX_CELL_CHARS, CellValue

PIECE = MAX_CELL_CHARS - 767
_DATE = "\x00D"
_JSON_DATE = b"\\u0000D"  # the tag as json.dumps writes it


def _encode(value: CellValue) -> object:
    if isinstance(value, dt.date):
        return _DATE + value.isoformat()[:10]
    return value


def _decode(value: object) -> CellValue:
    if isinstance(value, str) and value.startswith(_DATE):
        try:
            return dt.date.fromisoformat(value[len(_DATE) :])
        except ValueError:
            return None
    return value if value is None or isinstance(value, str) else str(value)


def pack_rows(rows: list[list[CellValue]]) -> list[str]:
    data = json.dumps(
        [[v if type(v) is str or v is None else _encode(v) for v in row] for row in rows],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    text = base64.b64encode(zlib.compress(data, 1)).decode("ascii")
    return [text[i : i + PIECE] for i in range(0, len(text), PIECE)] or [""]


def unpack_rows(pieces: list[object], limit: int = 1 << 30) -> list[list[CellValue]]:
    """The rows back; a damaged or foreign table gives no rows (xlplan then judges as for a
    master that never recorded one), and one that would unpack past `limit` bytes is refused."""
    text = "".join(p for p in pieces if isinstance(p, str))
    if not text:
        return []
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(base64.b64decode(text, validate=True), limit)
        if inflater.unconsumed_tail:
            return []
        rows = json.loads(data.decode("utf-8"))
    except (ValueError, zlib.error, UnicodeDecodeError, RecursionError):
        return []
    if not isinstance(rows, list):
        return []
    if _JSON_DATE not in data:  # no date in the table: only a stray number needs turning to text
        return [
            [v if type(v) is str or v is None else str(v) for v in row]
            for row in rows
            if isinstance(row, list)
        ]
    return [[_decode(v) for v in row] for row in rows if isinstance(row, list)]
