"""Issuing again in the same cycle changes only the master's hidden record and metadata: then
`xlplan template` replaces just those two sheets of a master it wrote itself (see
xlplan/master_patch.py). What it leaves must read back exactly as the master written whole,
and any sign the master changed since (a new cycle, a save by Excel, an edited part) must
get the whole master written as before."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import CYCLE, EPOCH, LPT_SOURCE, PLAN_SHEET, all_sheet_values, invoke, plan_table

from xlplan import master_patch
from xlplan.masterread import read_plan
from xlplan.template import issue_templates
from xlplan.zipparts import comment_line

LATER = str(int(EPOCH) + 3 * 86400)  # three days after the first issue


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LPT master after `xlplan template` issued cycle CYCLE: written whole, and stamped."""
    folder = tmp_path_factory.mktemp("issued")
    assert invoke("import", LPT_SOURCE, "-o", folder / "plan.xlsx").exit_code == 0
    result = issue(folder / "plan.xlsx", folder / "outbox", epoch=EPOCH)
    assert result.exit_code == 0, result.output
    assert comment_line(zipfile.ZipFile(folder / "plan.xlsx").comment, master_patch.COMMENT_TAG)
    return folder / "plan.xlsx"


def issue(plan: Path, outdir: Path, *extra: object, epoch: str = LATER, cycle: str = CYCLE):
    return invoke("template", plan, "-o", outdir, "--cycle", cycle, *extra, env={"SOURCE_DATE_EPOCH": epoch})


def copy(issued: Path, folder: Path) -> Path:
    folder.mkdir()
    return Path(shutil.copy(issued, folder / "plan.xlsx"))


def raw_parts(path: Path) -> dict[str, bytes]:
    """Each part's bytes as stored (compressed) in the zip."""
    parts = {}
    with zipfile.ZipFile(path) as book, open(path, "rb") as handle:
        for info in book.infolist():
            handle.seek(info.header_offset + 26)
            skip = int.from_bytes(handle.read(2), "little") + int.from_bytes(handle.read(2), "little")
            handle.seek(info.header_offset + 30 + skip)
            parts[info.filename] = handle.read(info.compress_size)
    return parts


def sheet_states(path: Path) -> list[tuple[str, str]]:
    return [(ws.title, ws.sheet_state) for ws in openpyxl.load_workbook(path).worksheets]


def test_issuing_again_in_the_same_cycle_replaces_only_the_hidden_sheets(
    issued: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patched, whole = copy(issued, tmp_path / "patched"), copy(issued, tmp_path / "whole")
    before = raw_parts(patched)
    result = issue(patched, tmp_path / "out1", "--service", "CHS", "--due", "30/04/2025")
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(master_patch, "patcher", lambda plan, path: None)  # as before: written whole
    result = issue(whole, tmp_path / "out2", "--service", "CHS", "--due", "30/04/2025")
    assert result.exit_code == 0, result.output

    # Every cell of every sheet, hidden ones too, as in the master written whole.
    assert all_sheet_values(patched) == all_sheet_values(whole)
    assert sheet_states(patched) == sheet_states(whole)
    with zipfile.ZipFile(patched) as book:
        assert book.testzip() is None  # every part's CRC holds
        hidden = set(master_patch.hidden_parts(book).values())
        assert book.comment == zipfile.ZipFile(issued).comment
    after = raw_parts(patched)
    assert list(after) == list(before)
    assert {name for name in after if after[name] != before[name]} <= hidden
    assert {name for name in after if after[name] == before[name]} == set(after) - hidden

    # The record: CHS as issued now, the others as issued first; the new return date.
    plan = read_plan(patched)
    assert plan.meta.due == dt.date(2025, 4, 30) and plan.meta.cycle == CYCLE
    stamps = {r.service: r.issued_at for r in plan.record.rows.values()}
    assert stamps.pop("CHS") == "2023-11-17 22:13"
    assert set(stamps.values()) == {"2023-11-14 22:13"}
    # and a return of the CHS workbook issued now is judged against it
    result = invoke("validate", tmp_path / "out1" / "CHS.xlsx", "--plan", patched)
    assert result.exit_code == 0, result.output


def test_the_first_issue_after_import_and_a_new_cycle_write_the_master_whole(
    issued: Path, tmp_path: Path
) -> None:
    imported = tmp_path / "imported.xlsx"
    assert invoke("import", LPT_SOURCE, "-o", imported).exit_code == 0
    assert comment_line(zipfile.ZipFile(imported).comment, master_patch.COMMENT_TAG) is None
    assert not issue_templates(imported, tmp_path / "a", cycle=CYCLE).master_patched

    plan = copy(issued, tmp_path / "next")
    result = issue_templates(plan, tmp_path / "b", cycle="2025-Q2")
    assert not result.master_patched
    assert read_plan(plan).meta.cycle == "2025-Q2"
    committee = all_sheet_values(plan)["Committee view"]
    assert "cycle 2025-Q2" in committee[0][0]
    # issued again in that cycle, it is patched
    assert issue_templates(plan, tmp_path / "c", cycle="2025-Q2", services=["CHS"]).master_patched


def test_a_master_saved_by_another_program_is_written_whole(issued: Path, tmp_path: Path) -> None:
    plan = copy(issued, tmp_path / "excel")
    book = openpyxl.load_workbook(plan)
    book[PLAN_SHEET]["A1"].value = book[PLAN_SHEET]["A1"].value  # opened and saved, nothing else
    book.save(plan)
    result = issue_templates(plan, tmp_path / "out", cycle=CYCLE)
    assert not result.master_patched
    assert comment_line(zipfile.ZipFile(plan).comment, master_patch.COMMENT_TAG)  # stamped again


def test_a_part_changed_with_the_comment_kept_is_written_whole_and_the_edit_logged(
    issued: Path, tmp_path: Path
) -> None:
    """A zip tool that edits one part keeps the comment: the parts' digest tells."""
    plan = copy(issued, tmp_path / "edited")
    _header, rows = plan_table(plan)
    old = rows[0]["Core Service Report"]  # a central column: edits to it are logged
    new = "X" + old[1:]
    tampered = tmp_path / "tampered.xlsx"
    with zipfile.ZipFile(plan) as source, zipfile.ZipFile(tampered, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                assert data.count(old.encode()) >= 1
                data = data.replace(old.encode(), new.encode(), 1)
            target.writestr(info, data)
        target.comment = source.comment
    shutil.move(tampered, plan)
    result = issue_templates(plan, tmp_path / "out", cycle=CYCLE)
    assert not result.master_patched
    log = all_sheet_values(plan)["Change log"]
    assert any(old in row and new in row for row in log), log[:6]


def test_a_template_that_cannot_be_written_leaves_a_patchable_master_as_it_was(
    issued: Path, tmp_path: Path
) -> None:
    plan = copy(issued, tmp_path / "blocked")
    before = plan.read_bytes()
    outbox = tmp_path / "outbox"
    (outbox / "CHS.xlsx").mkdir(parents=True)
    result = issue(plan, outbox)
    assert result.exit_code == 2
    assert "The issue stopped and the master was not changed." in result.output
    assert plan.read_bytes() == before
    assert sorted(p.name for p in plan.parent.iterdir()) == ["plan.xlsx"]


def test_a_change_the_plan_does_not_hold_is_seen_in_the_parts(issued: Path, tmp_path: Path) -> None:
    """A fill colour changed with a zip tool (the comment kept, no value changed): the parts'
    digest tells, and the master is written whole again, the fill as xlplan writes it."""
    plan = copy(issued, tmp_path / "styled")
    tampered = tmp_path / "tampered.xlsx"
    with zipfile.ZipFile(plan) as source, zipfile.ZipFile(tampered, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/styles.xml":
                assert b'rgb="FFF2F2F2"' in data
                data = data.replace(b'rgb="FFF2F2F2"', b'rgb="FFFF0000"')
            target.writestr(info, data)
        target.comment = source.comment
    shutil.move(tampered, plan)
    assert not issue_templates(plan, tmp_path / "out", cycle=CYCLE).master_patched
    with zipfile.ZipFile(plan) as book, zipfile.ZipFile(issued) as first:
        assert book.read("xl/styles.xml") == first.read("xl/styles.xml")


class _Unseekable:
    """A stream zipfile cannot seek back in: it writes each entry with a data descriptor."""

    def __init__(self, path: Path) -> None:
        self.handle = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        return self.handle.write(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def test_the_raw_copy_keeps_every_other_entry_whatever_its_kind(tmp_path: Path) -> None:
    """Stored and deflated entries, and entries followed by a data descriptor, are copied
    byte for byte; the replaced one is new; the result is a zip every reader accepts."""
    source, target = tmp_path / "source.zip", tmp_path / "target.zip"
    stream = _Unseekable(source)
    with zipfile.ZipFile(stream, "w") as book:
        book.writestr("a.xml", b"<a>" + b"x" * 5000 + b"</a>", zipfile.ZIP_DEFLATED)
        book.writestr("b.bin", bytes(range(256)) * 10, zipfile.ZIP_STORED)
        book.writestr("c.xml", b"<c>old</c>", zipfile.ZIP_DEFLATED)
        book.writestr("d.xml", b"<d>" + b"y" * 3000 + b"</d>", zipfile.ZIP_DEFLATED)
    stream.close()
    assert any(i.flag_bits & 0x08 for i in zipfile.ZipFile(source).infolist())
    master_patch.replace_parts(source, target, {"c.xml": b"<c>new and longer</c>"}, b"a comment")
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target) as new:
        assert new.testzip() is None
        assert new.namelist() == old.namelist()
        assert new.comment == b"a comment"
        assert new.read("c.xml") == b"<c>new and longer</c>"
        for name in ("a.xml", "b.bin", "d.xml"):
            assert new.read(name) == old.read(name)
            assert new.getinfo(name).compress_type == old.getinfo(name).compress_type
    assert {k: v for k, v in raw_parts(target).items() if k != "c.xml"} == {
        k: v for k, v in raw_parts(source).items() if k != "c.xml"
    }
