"""The tables xlplan packs into a master come back as written, and masters packed by earlier
versions (dates tagged inside strings) still read."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib

from xlplan.packed import pack_rows, unpack_rows


def test_text_dates_numbers_and_blanks_come_back() -> None:
    rows = [["A0001", None, dt.date(2017, 12, 9), "true", "", "café & <b>"], ["A0002", 5, 2.5]]
    assert unpack_rows(pack_rows(rows)) == [
        ["A0001", None, dt.date(2017, 12, 9), "true", "", "café & <b>"],
        ["A0002", "5", "2.5"],
    ]


def test_a_table_packed_by_an_earlier_version_reads_as_before() -> None:
    old = [["xlplan ID", "due"], ["A0001", "\x00D2017-12-09"], ["A0002", None]]
    data = json.dumps(old, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    piece = base64.b64encode(zlib.compress(data, 1)).decode("ascii")
    assert unpack_rows([piece]) == [["xlplan ID", "due"], ["A0001", dt.date(2017, 12, 9)], ["A0002", None]]


def test_a_damaged_table_gives_no_rows() -> None:
    assert unpack_rows(["not base64 at all!"]) == []
    assert unpack_rows([base64.b64encode(zlib.compress(b'{"a": 1}')).decode()]) == []
