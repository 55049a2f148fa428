"""The Change log across cycles: a merge copies the earlier rows as they stand (the fast path,
xlplan.logpart) and the master reads exactly as if every row had been parsed and written again
(the slow path, taken when the master was saved by another program or changed).

The same three cycles run twice through the CLI: once as they come, once with the master's
zip comment taken off after every step (as Excel or LibreOffice would on saving), which
forces the slow path. Every sheet of every master must read the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pytest
import python_calamine
from conftest import LPT_SOURCE, H, all_sheet_values, edit_master, invoke, sheet_values

try:  # tests/ as a package or as a rootdir-inserted folder
    from .libreoffice import libreoffice_fixture  # noqa: F401  (the `libreoffice` fixture)
except ImportError:
    from libreoffice import libreoffice_fixture  # noqa: F401

from xlplan.logpart import COMMENT_TAG
from xlplan.sheets import Book
from xlplan.simulate import fill_in
from xlplan.zipparts import PackingChanged, comment_line, crc32_combine, entry_data, with_comment_line

LOG = "Change log"
CYCLES = ["2025-Q1", "2025-Q2", "2025-Q3"]
# What each cycle's returns change: (service file, {(reference, field): value}).
RETURNS = {
    "2025-Q1": [("CHS.xlsx", {("2.1", "directorate_rag"): "Amber", ("2.1.1", "comments"): "Audit started."})],
    "2025-Q2": [
        ("CHS.xlsx", {("2.1", "directorate_rag"): "Green", ("2.1.1", "comments"): "Audit done."}),
        ("FYPC.xlsx", {("2.2.1", "directorate_rag"): "Green", ("2.2.1", "comments"): "Huddles weekly."}),
    ],
    "2025-Q3": [("FYPC.xlsx", {("2.2.1", "comments"): "Huddles daily.\nMinutes kept."})],
}
# The central team moves 1.1's due date in every cycle: slippage counted across the log.
DUE_MOVES = {"2025-Q1": "31/12/2017", "2025-Q2": "31/03/2018", "2025-Q3": "30/06/2018"}


def strip_comment(path: Path) -> None:
    """The master as a program that rewrites the zip leaves it: the same parts, no comment."""
    with zipfile.ZipFile(path) as archive:
        parts = [(info, archive.read(info.filename)) for info in archive.infolist()]
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in parts:
            archive.writestr(info, data)
    tmp.replace(path)


def comment(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        line = comment_line(archive.comment, COMMENT_TAG)
    assert line is not None, archive.comment[:80]
    return json.loads(line)


def rows_bytes(path: Path, size: int | None = None) -> bytes:
    """The compressed bytes of the Change log's rows segment (its first `size` bytes)."""
    record = comment(path)
    info, start = entry_data(path, record["part"])
    offset, length = record["rows"][0], record["rows"][1] if size is None else size
    with path.open("rb") as handle:
        handle.seek(start + offset)
        return handle.read(length)


def run_cycles(folder: Path, *, slow: bool) -> SimpleNamespace:
    """Three cycles: issue, central due-date move, returns merged in two merges; a copy of the
    master after every step that writes it, and the steps that parsed the Change log's rows."""
    folder.mkdir()
    plan, inbox = folder / "plan.xlsx", folder / "inbox"
    inbox.mkdir()
    steps: list[tuple[str, Path]] = []
    parsed: list[str] = []
    clock = iter(range(1, 100))
    import xlplan.master_tables

    parse = xlplan.master_tables.log_entries

    def step(name: str, *args: object) -> None:
        epoch = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()) + next(clock) * 86400

        def spied(rows, cycle=None, merged_at=None):  # noqa: ANN001, ANN202
            if cycle is None:  # the Change log's rows, not the Changes sheet's
                parsed.append(name)
            return parse(rows, cycle, merged_at)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(xlplan.master_tables, "log_entries", spied)
            result = invoke(*args, env={"SOURCE_DATE_EPOCH": str(epoch)})
        assert result.exit_code == 0, result.output
        if slow:
            strip_comment(plan)
        steps.append((name, folder / f"after-{len(steps)}-{name}.xlsx"))
        shutil.copy(plan, steps[-1][1])

    step("import", "import", LPT_SOURCE, "-o", plan)
    edited = []  # steps that read a master the central team had saved with another program
    for cycle in CYCLES:
        outbox = folder / f"outbox-{cycle}"
        step(f"issue {cycle}", "template", plan, "-o", outbox, "--cycle", cycle, "--due", "30/06/2025")
        # Saved by openpyxl, as by Excel: the zip is rewritten, the next merge parses the log.
        edit_master(plan, {("1.1", H["due"]): DUE_MOVES[cycle]})
        edited.append(f"merge {cycle} 1")
        for old in inbox.iterdir():
            old.unlink()
        for number, (name, edits) in enumerate(RETURNS[cycle]):
            fill_in(outbox / name, inbox / name, edits)
            step(f"merge {cycle} {number + 1}", "merge", plan, inbox, "--as-of", "2025-03-01")
    # The same inbox again: nothing new, not a row added to the log, which is copied whole.
    step("merge again", "merge", plan, inbox, "--as-of", "2025-03-01")
    return SimpleNamespace(plan=plan, steps=steps, parsed=parsed, edited=edited)


@pytest.fixture(scope="module")
def fast(tmp_path_factory) -> SimpleNamespace:
    return run_cycles(tmp_path_factory.mktemp("history") / "fast", slow=False)


@pytest.fixture(scope="module")
def slow(tmp_path_factory) -> SimpleNamespace:
    return run_cycles(tmp_path_factory.mktemp("history") / "slow", slow=True)


def log_rows(path: Path) -> list[list[object]]:
    rows = sheet_values(path, LOG)
    return [r for r in rows[4:] if any(v not in ("", None) for v in r)]


def without_save_times(rows: list[list[object]]) -> None:
    """Blank the Summary's "Return saved" column (the time the test saved each return)."""
    for index, row in enumerate(rows):
        if "Return saved" in row:
            column = row.index("Return saved")
            for below in rows[index + 1 :]:
                if column < len(below):
                    below[column] = None
            return


def test_fast_and_slow_paths_give_the_same_masters_at_every_step(fast, slow) -> None:
    assert [name for name, _ in fast.steps] == [name for name, _ in slow.steps]
    for (name, quick), (_, whole) in zip(fast.steps, slow.steps, strict=True):
        quick_values, whole_values = all_sheet_values(quick), all_sheet_values(whole)
        # (The returns' own digests and save times differ: each run fills in its own files,
        # and the Summary shows when each return was saved, to the minute.)
        for values in (quick_values, whole_values):
            values.pop("_xlplan_returns", None)
            without_save_times(values.get("Summary", []))
        assert quick_values == whole_values, f"after {name}"
    assert len(log_rows(fast.plan)) >= 8


def test_the_log_holds_every_cycle_in_order_with_slippage_counted(fast) -> None:
    rows = log_rows(fast.plan)
    header = sheet_values(fast.plan, LOG)[3]
    assert header[:3] == ["Cycle", "Merged at", "Service"]
    cycles = [r[0] for r in rows]
    assert cycles == sorted(cycles)  # appended cycle after cycle, never rewritten
    assert set(cycles) == set(CYCLES)
    kinds = [r[8] for r in rows if r[5] == H["due"]]
    assert kinds == ["slippage (moved 1 time)", "slippage (moved 2 times)", "slippage (moved 3 times)"]
    changed = {(r[0], r[4], r[5], r[7]) for r in rows if r[2] != "central team"}
    assert ("2025-Q1", "2.1", H["directorate_rag"], "Amber") in changed
    assert ("2025-Q2", "2.2.1", H["comments"], "Huddles weekly.") in changed
    # Cycle 3 is still running: its changes are on the Changes sheet, not in the log yet.
    assert not any(c == "2025-Q3" and s != "central team" for c, _, s, *_ in rows)


def test_each_step_copied_the_rows_xlplan_had_written(fast, slow) -> None:
    """The fast path was taken wherever the master was as xlplan wrote it (not after the
    central team's edit, saved by openpyxl here as by Excel): the rows were not parsed, and
    the new rows segment starts with the old one's bytes."""
    copied = 0
    for (_, before), (name, after) in zip(fast.steps, fast.steps[1:], strict=False):
        if not log_rows(before) or name in fast.edited:
            continue
        assert name not in fast.parsed
        old = rows_bytes(before)
        assert rows_bytes(after, len(old)) == old, f"{name} rewrote the rows instead of copying them"
        copied += 1
    assert copied == 4  # issue Q2 and Q3, the second merge of Q2, the repeated merge
    # Without the comment every step with a log parses it.
    assert {name for name, path in slow.steps[2:]} <= set(slow.parsed)


def test_dimension_and_autofilter_reach_the_last_row(fast) -> None:
    count = len(log_rows(fast.plan))
    last = 4 + count
    record = comment(fast.plan)
    assert record["count"] == count
    with zipfile.ZipFile(fast.plan) as archive:
        assert archive.testzip() is None  # every part's CRC, the copied ones too
        sheet = archive.read(record["part"]).decode("utf-8")
        workbook = archive.read("xl/workbook.xml").decode("utf-8")
    assert f'<dimension ref="A1:J{last}"/>' in sheet
    assert f'<autoFilter ref="A4:J{last}"/>' in sheet
    assert f"'Change log'!$A$4:$J${last}</definedName>" in workbook
    assert re.findall(r'<row r="(\d+)"', sheet)[-1] == str(last)
    book = openpyxl.load_workbook(fast.plan)
    assert book[LOG].auto_filter.ref == f"A4:J{last}"
    assert book[LOG].cell(last, 1).value == "2025-Q3"


def test_an_edit_made_in_the_log_by_hand_is_kept(fast, tmp_path) -> None:
    plan = tmp_path / "plan.xlsx"
    shutil.copy(fast.steps[-3][1], plan)  # before cycle 3's merge
    book = openpyxl.load_workbook(plan)
    sheet = book[LOG]
    sheet.cell(5, 7).value = "corrected by the central team"
    sheet.cell(5, 8).value = dt.datetime(2025, 2, 3)
    book.save(plan)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fill_in(fast.plan.parent / "outbox-2025-Q3" / "FYPC.xlsx", inbox / "FYPC.xlsx", RETURNS["2025-Q3"][0][1])
    for _ in range(2):  # the slow path, then the fast one over what it wrote
        result = invoke("merge", plan, inbox, "--as-of", "2025-03-01")
        assert result.exit_code == 0, result.output
        rows = log_rows(plan)
        assert rows[0][6] == "corrected by the central team"
        assert rows[0][7] in (dt.date(2025, 2, 3), dt.datetime(2025, 2, 3))
        assert len(rows) == len(log_rows(fast.steps[-3][1]))


def test_a_log_part_changed_behind_the_comment_is_parsed_not_copied(fast, tmp_path) -> None:
    """A tool that rewrote the part but left the zip comment: the digest tells, the slow path
    keeps what it holds."""
    plan = tmp_path / "plan.xlsx"
    source = fast.steps[-4][1]
    part = comment(source)["part"]
    with zipfile.ZipFile(source) as archive:
        parts = [(info, archive.read(info.filename)) for info in archive.infolist()]
        note = archive.comment
    with zipfile.ZipFile(plan, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in parts:
            if info.filename == part:
                data = data.replace(b"<t>Amber</t>", b"<t>Amber (checked)</t>", 1)
            archive.writestr(info, data)
        archive.comment = note
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    result = invoke("merge", plan, inbox, "--as-of", "2025-03-01")
    assert result.exit_code == 0, result.output
    assert "Amber (checked)" in [r[7] for r in log_rows(plan)]
    assert len(log_rows(plan)) == len(log_rows(source))


def test_other_style_numbers_take_the_slow_path(fast, tmp_path, monkeypatch) -> None:
    """The copied rows' cells name styles by number: if the new master would number them
    otherwise, every row is written again (and reads the same)."""
    plan = tmp_path / "plan.xlsx"
    source = fast.steps[-4][1]
    shutil.copy(source, plan)
    record = comment(plan)
    record["styles"] = {"body": 40, "dated": 41}
    with zipfile.ZipFile(plan, "a") as archive:
        archive.comment = with_comment_line(archive.comment, COMMENT_TAG, json.dumps(record).encode())
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    import xlplan.master_tables

    loads = []
    reload = xlplan.master_tables.reload_log

    def spied(*args):  # noqa: ANN002, ANN202
        loads.append(args)
        return reload(*args)

    monkeypatch.setattr(xlplan.master_tables, "reload_log", spied)
    result = invoke("merge", plan, inbox, "--as-of", "2025-03-01")
    assert result.exit_code == 0, result.output
    assert log_rows(plan) == log_rows(source)
    assert len(loads) == 1  # read whole, when the writer found it could not copy the rows


def test_a_damaged_log_is_still_refused_in_plain_words(fast, tmp_path) -> None:
    """The gate leaves the log unmeasured only while it may be copied unread."""
    plan = tmp_path / "plan.xlsx"
    source = fast.steps[-1][1]
    part = comment(source)["part"]
    with zipfile.ZipFile(source) as archive:
        parts = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(plan, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in parts:
            archive.writestr(info, data[: len(data) // 2] if info.filename == part else data)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    result = invoke("merge", plan, inbox, "--as-of", "2025-03-01")
    assert result.exit_code != 0
    assert "Change log" in result.output and "damaged" in result.output
    assert "Traceback" not in result.output


def test_a_later_xlsxwriter_packing_otherwise_fails_loudly(tmp_path) -> None:
    """If XlsxWriter stops adding parts with ZipFile.write, no master is written wrong."""
    book = Book(tmp_path / "book.xlsx")
    book.workbook.add_worksheet("Sheet")
    book.parts["xl/worksheets/sheet9.xml"] = lambda archive, source, name: None
    with pytest.raises(PackingChanged):
        book.close()


def test_a_part_can_be_written_at_another_compression_level(tmp_path) -> None:
    from xlplan.zipparts import deflated_at

    sizes = {}
    for level in (1, 9):
        book = Book(tmp_path / f"level{level}.xlsx")
        sheet = book.workbook.add_worksheet("Sheet")
        for row in range(2000):
            sheet.write_string(row, 0, f"row {row} " + "words of a progress note " * (row % 7))
        book.parts["xl/worksheets/sheet1.xml"] = deflated_at(level)
        book.close()
        with zipfile.ZipFile(tmp_path / f"level{level}.xlsx") as archive:
            assert archive.testzip() is None
            sizes[level] = archive.getinfo("xl/worksheets/sheet1.xml").compress_size
        assert sheet_values(tmp_path / f"level{level}.xlsx", "Sheet")[1999][0].startswith("row 1999 ")
    assert sizes[1] > sizes[9]


def test_crc32_combine_matches_zlib() -> None:
    import zlib

    for size_a, size_b in [(0, 0), (1, 0), (0, 7), (13, 1000), (4096, 65537)]:
        a = hashlib.sha256(b"a").digest() * (size_a // 32 + 1)
        b = hashlib.sha256(b"b").digest() * (size_b // 32 + 1)
        a, b = a[:size_a], b[:size_b]
        assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_the_log_rows_xlplan_writes_are_the_cells_xlsxwriter_would_write(tmp_path) -> None:
    """rows_xml writes the Change log's rows itself (cell by cell through XlsxWriter is most of
    what writing a long log costs): the same bytes XlsxWriter writes for the same values."""
    from xlplan.changelog import LogEntry
    from xlplan.logpart import prime_log_formats, rows_xml
    from xlplan.masterbook import LOG_WIDTHS
    from xlplan.plan import LOG_HEADERS
    from xlplan.sheets import write_table

    awkward = [
        "Tom & Jerry <b>bold</b> > less",
        "  leading and trailing  ",
        "line one\nline two\r\nline three\ttab",
        "_x0041_ stays text",
        "",
        "=SUM(A1:A9)",
        "😀 emoji " * 3,
        "é ü ß 中文",
        "x" * 5000,
        "\"quoted\" 'single'",
        "ctrl\x01char\x1f",
        "😀" * 20000,  # past Excel's 32,767 UTF-16 units
    ]
    entries = [
        LogEntry("2025-Q1", "2025-01-01 09:00", "CHS", "CHS.xlsx", "2.1", "Due", old, new, "change", "A0001")
        for old, new in [
            *((text, None) for text in awkward),
            (dt.date(2017, 4, 30), dt.date(1900, 2, 28)),
            (dt.datetime(2025, 3, 1, 14, 30), 42),
            (3.5, True),
            (None, dt.date(1900, 3, 1)),
        ]
    ]
    book = Book(tmp_path / "xlsxwriter.xlsx")
    styles = prime_log_formats(book)
    write_table(
        book, "Change log", LOG_HEADERS, [e.row() for e in entries], LOG_WIDTHS, title="T", notes=["n"]
    )
    book.close()
    with zipfile.ZipFile(tmp_path / "xlsxwriter.xlsx") as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    theirs = sheet[sheet.index(b'<row r="5"') : sheet.rindex(b"</sheetData>")]
    ours = b"".join(rows_xml(entries, 5, styles, LOG_WIDTHS))
    assert ours == theirs


@pytest.mark.libreoffice
def test_libreoffice_opens_a_master_whose_log_rows_were_copied(fast, libreoffice) -> None:
    """The last master (its log copied whole by a repeated merge) opens without repair, and
    LibreOffice sees the same rows and the filter over all of them."""
    rows = log_rows(fast.plan)
    last = 4 + len(rows)
    with libreoffice.open(fast.plan) as doc:
        expected = python_calamine.CalamineWorkbook.from_path(str(fast.plan)).sheet_names
        assert doc.problems(expect_sheets=expected) == []
        assert doc.used_range(LOG)["rows"] == last
        seen = doc.range_strings(LOG, f"A5:J{last}")
    assert [r[0] for r in seen] == [r[0] for r in rows]
    assert [r[9] for r in seen] == [r[9] for r in rows]
