"""Tables xlplan keeps for itself in a master (the record of what was issued, the snapshot of
the audited cells): packed into a few cells of a very hidden sheet rather than one cell per
value, because writing and reading cells is most of what a merge costs at 100,000 actions.

JSON, then zlib, then base64, cut into pieces below Excel's cell limit. A date is written as
{"d": "2017-12-09"} so it comes back as a date; the JSON module meets it (and numbers, which
come back as text) in C, without a Python call for every value of a 100,000-row table.
Masters packed before that tagged a date as a string starting "\\x00D"; they read as before."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib

from .excel import MAX_CELL_CHARS, CellValue

PIECE = MAX_CELL_CHARS - 767
_DATE_KEY = "d"
_OLD_DATE = "\x00D"
_OLD_JSON_DATE = b'"\\u0000D'  # how json.dumps wrote the old tag at the start of a string


def _encode(value: object) -> object:
    """What JSON cannot hold: a date (or date-time: its day), anything else as its text."""
    if isinstance(value, dt.date):
        return {_DATE_KEY: value.isoformat()[:10]}
    return str(value)


def _date(obj: dict) -> CellValue:
    try:
        return dt.date.fromisoformat(obj[_DATE_KEY])
    except (KeyError, TypeError, ValueError):
        return None


def _old_decode(value: object) -> CellValue:
    if isinstance(value, str) and value.startswith(_OLD_DATE):
        try:
            return dt.date.fromisoformat(value[len(_OLD_DATE) :])
        except ValueError:
            return None
    return value if value is None or isinstance(value, str | dt.date) else str(value)


ROWS_AT_ONCE = 2000


def pack_rows(rows: list[list[CellValue]]) -> list[str]:
    # The JSON text of a 100,000-row table is tens of MB: encoded and compressed a few
    # thousand rows at a time, it is never held whole (the same text as json.dumps(rows)).
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_encode)
    compressor = zlib.compressobj(1)
    packed = [compressor.compress(b"[")]
    for start in range(0, len(rows), ROWS_AT_ONCE):
        text = encoder.encode(rows[start : start + ROWS_AT_ONCE])[1:-1]
        packed.append(compressor.compress((("," if start else "") + text).encode("utf-8")))
    packed.append(compressor.compress(b"]"))
    packed.append(compressor.flush())
    text = base64.b64encode(b"".join(packed)).decode("ascii")
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
        # Numbers come back as their text, a {"d": …} as its date: every value is text, a
        # date or None (true and false, which xlplan never writes, are left to the check below).
        rows = json.loads(data.decode("utf-8"), object_hook=_date, parse_int=str, parse_float=str)
    except (ValueError, zlib.error, UnicodeDecodeError, RecursionError):
        return []
    if not isinstance(rows, list):
        return []
    rows = [row for row in rows if isinstance(row, list)]
    if _OLD_JSON_DATE in data or b"true" in data or b"false" in data:
        return [[_old_decode(v) for v in row] for row in rows]
    return rows
