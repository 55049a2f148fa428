"""Hostile and broken returns: the return decides nothing, and one file never stops the others.

Every file here is made in the test from a template `xlplan template` really issued: its zip
rewritten member by member, its sheet XML edited, or its hidden metadata changed with
openpyxl, as an attacker or a broken program would. Each is checked through the real CLI:
exit 0/1/2 (never 3), a message naming the file in plain words, the master unchanged when
nothing can be written, and in a merge the good return beside it applied. Time is bounded
only by the generous sanity limit of `xlplan()` (the benchmark measures speed).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
import python_calamine
from test_validate import (
    CYCLE,
    DUE,
    EARLY,
    LPT_SOURCE,
    codes,
    entry,
    rewrite_zip,
    sha,
    sheet_part,
    single,
    validate,
    write_raw_zip,
    xlplan,
)

from xlplan.metadata import ISSUED_SHEET
from xlplan.simulate import fill_in

PLAN_SHEET = "Action plan"
GOOD_EDIT = {("2.2.1", "directorate_rag"): "Green", ("2.2.1", "comments"): "Care plans revised."}
CHS_EDIT = {("2.1", "directorate_rag"): "Amber"}


class Cycle:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.plan = root / "plan.xlsx"
        self.outbox = root / "outbox"

    @property
    def chs(self) -> Path:
        return self.outbox / "CHS.xlsx"

    @property
    def fypc(self) -> Path:
        return self.outbox / "FYPC.xlsx"


@pytest.fixture(scope="module")
def lpt(tmp_path_factory: pytest.TempPathFactory) -> Cycle:
    cycle = Cycle(tmp_path_factory.mktemp("hostile-lpt"))
    assert xlplan("import", LPT_SOURCE, "-o", cycle.plan).exit_code == 0
    assert xlplan("template", cycle.plan, "-o", cycle.outbox, "--cycle", CYCLE, "--due", DUE).exit_code == 0
    return cycle


@pytest.fixture(scope="module")
def good(lpt: Cycle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FYPC's return, filled in as a service would: it must be merged whatever sits beside it."""
    path = tmp_path_factory.mktemp("good") / "FYPC.xlsx"
    fill_in(lpt.fypc, path, GOOD_EDIT)
    return path


def plan_rows(path: Path) -> dict[str, dict[str, object]]:
    """The plan sheet of a master: {action reference: {header: value}}."""
    rows = (
        python_calamine.CalamineWorkbook.from_path(str(path))
        .get_sheet_by_name(PLAN_SHEET)
        .to_python(skip_empty_area=False)
    )
    header = [str(c) for c in rows[2]]
    body = [dict(zip(header, r, strict=False)) for r in rows[3:]]
    return {str(r["Action Reference"]): r for r in body if r.get("Action Reference")}


def merge_beside(lpt: Cycle, good: Path, hostile: Path, tmp_path: Path) -> tuple[object, dict, Path]:
    """Merge the hostile file and the good FYPC return into a copy of the master."""
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    shutil.copy(good, inbox / good.name)
    shutil.copy(hostile, inbox / hostile.name)
    plan = tmp_path / "plan.xlsx"
    shutil.copy(lpt.plan, plan)
    report = tmp_path / "report.json"
    result = xlplan("merge", plan, inbox, "--as-of", "2017-01-01", "--json", report)
    assert result.exit_code == 0, result.output
    rows = plan_rows(plan)
    assert rows["2.2.1"]["Directorate RAG Rating"] == "Green", "the good return was not merged"
    assert rows["2.2.1"]["Comments/ Remedial Actions"] == "Care plans revised."
    return result, json.loads(report.read_text(encoding="utf-8")), plan


def problems_of(report: dict, name: str) -> list[dict]:
    return [p for p in report["problems"] if p.get("file") == name]


# --------------------------------------------------------------------------- zip surgery


def rebuild_zip(
    src: Path,
    dst: Path,
    *,
    part: str | None = None,
    flags: int = 0,
    method: int = 8,
    data: Callable[[bytes], bytes] | None = None,
    raw: Callable[[bytes], bytes] | None = None,
) -> Path:
    """Rewrite a workbook byte by byte: every member deflated, `part` given other flag bits,
    another compression method number, its XML changed (`data`) or its deflate stream (`raw`)."""
    with zipfile.ZipFile(src) as archive:
        members = [(i.filename, archive.read(i)) for i in archive.infolist()]
    raw_members = []
    for name, content in members:
        this_flags, this_method = (flags, method) if name == part else (0, 8)
        if name == part and data:
            content = data(content)
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = comp.compress(content) + comp.flush()
        if name == part and raw:
            packed = raw(packed)
        raw_members.append(
            (name, packed, zlib.crc32(content) & 0xFFFFFFFF, len(content), this_flags, this_method)
        )
    return write_raw_zip(dst, raw_members)


def before_sheet_end(extra: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        assert b"</sheetData>" in data
        return data.replace(b"</sheetData>", extra + b"</sheetData>", 1)

    return change


def far_cell(ref: str) -> bytes:
    row = "".join(ch for ch in ref if ch.isdigit())
    return f'<row r="{row}"><c r="{ref}" t="inlineStr"><is><t>x</t></is></c></row>'.encode()


# --------------------------------------------------------------------------- 1. the master decides


def layout_text(path: Path) -> str:
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("_xlplan").to_python()
    return "".join(str(r[1]) for r in rows if r[0] == "layout_toml")


def with_layout(src: Path, dst: Path, text: str) -> Path:
    """The return with its hidden layout replaced (one cell holds it all; the others emptied)."""
    book = openpyxl.load_workbook(src)
    sheet = book["_xlplan"]
    cells = [r[1] for r in sheet.iter_rows() if r[0].value == "layout_toml"]
    cells[0].value = text
    for cell in cells[1:]:
        cell.value = None
    book.save(dst)
    return dst


def test_a_return_whose_hidden_layout_gives_it_every_column_changes_nothing_else(
    lpt: Cycle, good: Path, tmp_path: Path
) -> None:
    edited = tmp_path / "edited.xlsx"
    # The service removed the protection and re-routed the action and rated it for the committee.
    fill_in(
        lpt.chs,
        edited,
        {**CHS_EDIT, ("2.1", "directorate"): "FYPC", ("2.1", "committee_rag"): "Blue"},
        unprotect=True,
    )
    text = layout_text(lpt.chs)
    assert 'owner = "central"' in text and 'owner = "committee"' in text
    forged = text.replace('owner = "central"', 'owner = "service"').replace(
        'owner = "committee"', 'owner = "service"'
    )
    hostile = with_layout(edited, tmp_path / "CHS.xlsx", forged)

    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    mismatch = [p for p in report["problems"] if p["code"] == "metadata-mismatch"]
    assert len(mismatch) == 1
    assert "'Directorate' is given to service, not central" in mismatch[0]["message"]
    assert "The master's layout was used" in mismatch[0]["message"]
    refused = {(p["cell"], p["column"]) for p in report["problems"] if p["code"] == "locked-cell-changed"}
    assert {c for _, c in refused} == {"Directorate", "Committee RAG Rating"}

    # Without the master the file's own layout is all there is, and the output says so.
    result = xlplan("validate", hostile, *EARLY)
    assert result.exit_code == 0
    assert "without --plan each return was judged by the layout hidden in the file" in result.output

    _, merged, plan = merge_beside(lpt, good, hostile, tmp_path)
    row = plan_rows(plan)["2.1"]
    assert row["Directorate"] == "CHS" and row["Committee RAG Rating"] != "Blue"
    assert row["Directorate RAG Rating"] == "Amber"  # the service's own column is applied
    assert {p["code"] for p in problems_of(merged, "CHS.xlsx")} >= {
        "metadata-mismatch",
        "locked-cell-changed",
    }


def test_a_renamed_field_in_the_hidden_layout_never_stops_the_merge(
    lpt: Cycle, good: Path, tmp_path: Path
) -> None:
    edited = tmp_path / "edited.xlsx"
    fill_in(lpt.chs, edited, CHS_EDIT)
    text = layout_text(lpt.chs)
    renamed = text.replace('"directorate_rag"', '"rag_renamed"')
    assert renamed != text
    hostile = with_layout(edited, tmp_path / "CHS.xlsx", renamed)
    result, merged, plan = merge_beside(lpt, good, hostile, tmp_path)
    assert plan_rows(plan)["2.1"]["Directorate RAG Rating"] == "Amber"
    assert any(p["code"] == "metadata-mismatch" for p in problems_of(merged, "CHS.xlsx"))


def test_rows_the_master_routes_to_another_service_are_not_applied(lpt: Cycle, tmp_path: Path) -> None:
    # An FYPC action copied into CHS's return with its hidden ID, and listed as issued to CHS.
    fypc = openpyxl.load_workbook(lpt.fypc)[PLAN_SHEET]
    header = [c.value for c in fypc[3]]
    fypc_row = [c.value for c in fypc[4]]
    fypc_row[header.index("Directorate RAG Rating")] = "Blue"
    fypc_id = fypc_row[header.index("xlplan ID")]
    book = openpyxl.load_workbook(lpt.chs)
    sheet = book[PLAN_SHEET]
    sheet.protection.sheet = False
    for col, value in enumerate(fypc_row, start=1):
        sheet.cell(5, col).value = value
    book["_xlplan_issued"].append([fypc_id])
    path = tmp_path / "CHS.xlsx"
    book.save(path)
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    routed = [p for p in report["problems"] if p["code"] == "other-service-row"]
    assert len(routed) == 1
    assert "which the master routes to FYPC, not CHS: it is not applied" in routed[0]["message"]


def test_deeply_nested_toml_in_the_hidden_layout(lpt: Cycle, tmp_path: Path) -> None:
    hostile = with_layout(lpt.chs, tmp_path / "CHS.xlsx", "x = " + "[" * 3000 + "]" * 3000)
    code, data = validate(hostile, *EARLY)
    report = single(data)
    assert (code, report["status"]) == (2, "unreadable")
    assert "nested far deeper than any layout's" in report["problems"][0]["message"]
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, report["status"], codes(report)) == (0, "warnings", ["metadata-mismatch"])


def test_a_layout_cut_at_255_characters_is_said_in_plain_words(lpt: Cycle, tmp_path: Path) -> None:
    hostile = with_layout(lpt.chs, tmp_path / "CHS.xlsx", layout_text(lpt.chs)[:255])
    result = xlplan("validate", hostile, *EARLY)
    assert result.exit_code == 2
    assert "keeps only 255 characters of each hidden cell" in result.output
    assert "fix the line it names" not in result.output.lower()
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, report["status"], codes(report)) == (0, "warnings", ["metadata-mismatch"])
    assert "cut short" in report["problems"][0]["message"]


def test_no_hidden_cell_of_a_template_is_over_255_characters(lpt: Cycle) -> None:
    book = python_calamine.CalamineWorkbook.from_path(str(lpt.chs))
    rows = book.get_sheet_by_name("_xlplan").to_python()
    assert max(len(str(r[1])) for r in rows) <= 255
    assert len(layout_text(lpt.chs)) > 1000  # the layout is really there, in pieces


def test_metadata_sheets_made_visible_are_told(lpt: Cycle, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(lpt.chs)
    book["_xlplan"].sheet_state = "visible"
    book["_xlplan_issued"].sheet_state = "visible"
    path = tmp_path / "CHS.xlsx"
    book.save(path)
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, codes(report)) == (0, ["metadata-visible"])
    assert "such as Gnumeric" in report["problems"][0]["message"]


# --------------------------------------------------------------------------- 2. guards before parsers


@pytest.mark.parametrize("ref", ["XFD1048576", "IV1048576", "ZZ100000", "A1048576"])
def test_a_value_far_out_is_refused_before_the_reader_allocates(
    ref: str, lpt: Cycle, good: Path, tmp_path: Path
) -> None:
    hostile = rewrite_zip(
        lpt.chs, tmp_path / "CHS.xlsx", {sheet_part(lpt.chs): before_sheet_end(far_cell(ref))}
    )
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, report["status"], codes(report)) == (2, "unreadable", ["too-large"])
    message = report["problems"][0]["message"]
    assert f"sheet 'Action plan' holds a value as far out as cell {ref}" in message
    assert "Delete the rows and columns beyond the plan" in message
    result, merged, _ = merge_beside(lpt, good, hostile, tmp_path)
    assert [p["code"] for p in problems_of(merged, "CHS.xlsx")] == ["too-large"]


MAIN_NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL_NS = b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
PKG_RELS = b'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
OFFICE_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


def tiny_workbook(path: Path, sheet_data: bytes) -> Path:
    """A one-sheet .xlsx written by hand: the few parts a reader needs, nothing else."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            b'<?xml version="1.0"?><Types xmlns="http://schemas.'
            b'openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
            b'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            b'<Default Extension="xml" ContentType="application/xml"/><Override PartName='
            b'"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument'
            b'.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml"'
            b' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            b'worksheet+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            b'<?xml version="1.0"?><Relationships ' + PKG_RELS + b">"
            b'<Relationship Id="rId1" Type="' + OFFICE_REL + b'officeDocument" Target='
            b'"xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            b'<?xml version="1.0"?><workbook '
            + MAIN_NS
            + b" "
            + REL_NS
            + b'><sheets><sheet name="Action plan" sheetId="1" r:id="rId1"/></sheets>'
            b"</workbook>",
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            b'<?xml version="1.0"?><Relationships '
            + PKG_RELS
            + b'><Relationship Id="rId1" Type="'
            + OFFICE_REL
            + b'worksheet" '
            b'Target="worksheets/sheet1.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/worksheets/sheet1.xml",
            b'<?xml version="1.0"?><worksheet '
            + MAIN_NS
            + b"><sheetData>"
            + sheet_data
            + b"</sheetData></worksheet>",
        )
    return path


@pytest.mark.parametrize("prefix", ["x", "my-ns.v2", "é" * 40])
def test_a_far_value_in_a_cell_with_a_namespace_prefix(prefix: str, lpt: Cycle, tmp_path: Path) -> None:
    prefixed = (
        f'<row r="1048576"><{prefix}:c xmlns:{prefix}="http://schemas.openxmlformats.org/spreadsheetml/'
        f'2006/main" r="XFD1048576"><{prefix}:v>1</{prefix}:v></{prefix}:c></row>'
    ).encode()
    hostile = rewrite_zip(lpt.chs, tmp_path / "CHS.xlsx", {sheet_part(lpt.chs): before_sheet_end(prefixed)})
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    assert (code, codes(single(data))) == (2, ["too-large"])


def test_a_worksheet_part_is_measured_even_where_workbook_xml_does_not_name_it(
    lpt: Cycle, tmp_path: Path
) -> None:
    hostile = tmp_path / "CHS.xlsx"
    shutil.copy(lpt.chs, hostile)
    with zipfile.ZipFile(hostile, "a") as archive:
        archive.writestr(
            "xl/worksheets/sheet99.xml",
            b'<?xml version="1.0"?><worksheet '
            + MAIN_NS
            + b"><sheetData>"
            + far_cell("XFD1048576")
            + b"</sheetData></worksheet>",
        )
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, codes(report)) == (2, ["too-large"])
    assert "a sheet holds a value as far out as cell XFD1048576" in report["problems"][0]["message"]


@pytest.mark.parametrize("ref", ["XFD1048576", "IV1048576"])
def test_a_tiny_workbook_with_one_value_at_the_last_cell(
    ref: str, lpt: Cycle, good: Path, tmp_path: Path
) -> None:
    path = tiny_workbook(tmp_path / "tiny.xlsx", far_cell("A1") + far_cell(ref))
    assert path.stat().st_size < 5_000
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, codes(report)) == (2, ["too-large"])
    assert ref in report["problems"][0]["message"]
    merge_beside(lpt, good, path, tmp_path)
    # A sane tiny workbook is read: the guard is about the value's place, not the file's size.
    sane = tiny_workbook(tmp_path / "sane.xlsx", far_cell("A1") + far_cell("C3"))
    code, data = validate(sane, "--plan", lpt.plan, *EARLY)
    assert codes(single(data)) == ["not-a-template"]


ZIP_CASES = {
    # name: (rebuild_zip keywords, code, words)
    "encrypted flag": ({"flags": 0x01}, "encrypted", "encrypted with a zip password"),
    "strong encryption flag (bit 6)": ({"flags": 0x41}, "encrypted", "encrypted with a zip password"),
    "patched data flag (bit 5)": ({"flags": 0x20}, "corrupt", "(patched data)"),
    "Deflate64": ({"method": 9}, "corrupt", "(Deflate64)"),
    "unknown method": ({"method": 77}, "corrupt", "(method 77)"),
    "corrupt deflate": (
        {"raw": lambda b: b[:40] + bytes(x ^ 0x5A for x in b[40:200]) + b[200:]},
        "corrupt",
        "damaged",
    ),
}


@pytest.mark.parametrize("name", list(ZIP_CASES))
def test_zip_flags_and_methods_no_spreadsheet_program_writes(
    name: str, lpt: Cycle, good: Path, tmp_path: Path
) -> None:
    keywords, code_expected, words = ZIP_CASES[name]
    hostile = rebuild_zip(lpt.chs, tmp_path / "CHS.xlsx", part=sheet_part(lpt.chs), **keywords)
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, report["status"], codes(report)) == (2, "unreadable", [code_expected])
    message = report["problems"][0]["message"]
    assert words in message
    assert "xl/worksheets" not in message  # the file is named, not an internal part
    merge_beside(lpt, good, hostile, tmp_path)


def test_the_rebuilt_zip_is_a_good_workbook_when_nothing_is_changed(lpt: Cycle, tmp_path: Path) -> None:
    same = rebuild_zip(lpt.chs, tmp_path / "CHS.xlsx", part=sheet_part(lpt.chs))
    code, data = validate(same, "--plan", lpt.plan, *EARLY)
    assert (code, single(data)["status"]) == (0, "ok")


def test_a_huge_cell_reference_inside_a_comment_is_not_a_cell(lpt: Cycle, tmp_path: Path) -> None:
    comment = b'<!-- <c r="A' + b"9" * 5000 + b'" t="e"><v>#REF!</v></c> -->'
    hostile = rewrite_zip(lpt.chs, tmp_path / "CHS.xlsx", {sheet_part(lpt.chs): before_sheet_end(comment)})
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    assert (code, single(data)["status"]) == (0, "ok")
    # The same reference in a real cell: damaged, in plain words.
    real = rewrite_zip(
        lpt.chs,
        tmp_path / "real.xlsx",
        {
            sheet_part(lpt.chs): before_sheet_end(
                b'<row r="900"><c r="A' + b"9" * 5000 + b'"><v>1</v></c></row>'
            )
        },
    )
    code, data = validate(real, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, codes(report)) == (2, ["corrupt"])
    assert "its sheet 'Action plan' cannot be read" in report["problems"][0]["message"]


def test_unclosed_error_cells_are_read_in_linear_time(lpt: Cycle, tmp_path: Path) -> None:
    hostile = rewrite_zip(
        lpt.chs, tmp_path / "CHS.xlsx", {sheet_part(lpt.chs): before_sheet_end(b'<c t="e">' * 60_000)}
    )
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    assert (code, codes(single(data))) == (2, ["corrupt"])


def test_a_30_mb_part_with_no_root_element(lpt: Cycle, tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    junk = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(2**20)) * 30
    hostile = rewrite_zip(
        lpt.chs,
        tmp_path / "CHS.xlsx",
        {"docProps/app.xml": lambda _: b'<?xml version="1.0"?><!--' + junk + b"-->"},
    )
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    assert (code, single(data)["status"]) == (0, "ok")  # a part nobody needs: read past it


def test_far_more_rows_than_issued_is_one_message(lpt: Cycle, good: Path, tmp_path: Path) -> None:
    junk = b"".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>junk {n}</t></is></c></row>'.encode()
        for n in range(100, 2_100)
    )
    hostile = rewrite_zip(lpt.chs, tmp_path / "CHS.xlsx", {sheet_part(lpt.chs): before_sheet_end(junk)})
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, codes(report)) == (1, ["too-many-rows"])
    message = report["problems"][0]["message"]
    assert "holds 2,061 rows of actions, far more than the 61 issued to CHS" in message
    _, merged, plan = merge_beside(lpt, good, hostile, tmp_path)
    assert [p["code"] for p in problems_of(merged, "CHS.xlsx")] == ["too-many-rows"]


def test_a_hidden_sheet_of_issued_values_far_longer_than_issued_is_one_message(
    lpt: Cycle, good: Path, tmp_path: Path
) -> None:
    """The hidden copy of the values as issued, grown by 2,000 made-up actions: the file was
    altered, so nothing in it is applied (said once), whether or not a row needed the copy."""
    junk = b"".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>X{n}</t></is></c></row>'.encode()
        for n in range(100, 2_100)
    )
    part = sheet_part(lpt.chs, ISSUED_SHEET)
    hostile = rewrite_zip(lpt.chs, tmp_path / "CHS.xlsx", {part: before_sheet_end(junk)})
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, codes(report)) == (1, ["too-many-rows"])
    message = report["problems"][0]["message"]
    assert "hidden sheet of values as issued lists 2,061 actions, far more than the 61 issued" in message
    _, merged, plan = merge_beside(lpt, good, hostile, tmp_path)
    assert [p["code"] for p in problems_of(merged, "CHS.xlsx")] == ["too-many-rows"]


def test_a_far_stray_cell_on_the_hidden_sheet_of_issued_values_is_not_a_long_list(
    lpt: Cycle, tmp_path: Path
) -> None:
    """The sheet's size is first judged by how far its cells reach, then by the actions it
    really lists: one cell far down (no action ID) does not refuse a good return."""
    stray = b'<row r="5000"><c r="B5000" t="inlineStr"><is><t>note</t></is></c></row>'
    part = sheet_part(lpt.chs, ISSUED_SHEET)
    path = rewrite_zip(lpt.chs, tmp_path / "CHS.xlsx", {part: before_sheet_end(stray)})
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    assert (code, codes(single(data))) == (0, [])


def test_400000_junk_rows_are_refused_unread(lpt: Cycle, tmp_path: Path) -> None:
    junk = b"".join(f'<row r="{n}"><c r="S{n}"><v>{n}</v></c></row>'.encode() for n in range(100, 400_100))
    hostile = rewrite_zip(lpt.chs, tmp_path / "CHS.xlsx", {sheet_part(lpt.chs): before_sheet_end(junk)})
    code, data = validate(hostile, "--plan", lpt.plan, *EARLY)
    assert (code, codes(single(data))) == (2, ["too-large"])


def test_a_master_with_a_far_value_is_refused_and_left_as_it_was(
    lpt: Cycle, good: Path, tmp_path: Path
) -> None:
    plan = rewrite_zip(
        lpt.plan, tmp_path / "plan.xlsx", {sheet_part(lpt.plan): before_sheet_end(far_cell("XFD1048576"))}
    )
    before = sha(plan)
    result = xlplan("merge", plan, good)
    assert result.exit_code == 2
    assert "XFD1048576" in result.output and "plan.xlsx" in result.output
    assert sha(plan) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.xlsx"]  # no lock, no backup


# --------------------------------------------------------------------------- 3. containment


def test_a_reader_out_of_memory_is_that_files_problem(
    lpt: Cycle, good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the children's memory cap is set on Linux")
    import xlplan.validate

    # Within the gate's bounds (200,000 rows x 19 columns) but over a 60 MB reader cap.
    big = rewrite_zip(
        lpt.chs, tmp_path / "CHS.xlsx", {sheet_part(lpt.chs): before_sheet_end(far_cell("S200000"))}
    )
    monkeypatch.setattr(xlplan.validate, "READER_MEMORY_BYTES", 60 * 2**20)
    code, data = validate(big, good, "--plan", lpt.plan, *EARLY)
    assert code == 2
    crashed = entry(data, big)
    assert (crashed["status"], codes(crashed)) == ("unreadable", ["read-failed"])
    assert (
        "It was not merged" in crashed["problems"][0]["message"]
        or "was not merged" in crashed["problems"][0]["message"]
    )
    assert entry(data, good)["status"] == "ok"
    merge_beside(lpt, good, big, tmp_path)


def test_children_started_afresh_every_few_returns_answer_every_file_in_order(
    lpt: Cycle, good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Returns are read by children started again every FILES_PER_CHILD returns (so none
    holds a copy of much of the plan): over many batches, with a file that kills its reader
    among them, every file is answered, in the order given, and the others merged."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the children's memory cap is set on Linux")
    import xlplan.validate

    monkeypatch.setattr(xlplan.validate, "FILES_PER_CHILD", 1)
    monkeypatch.setattr(xlplan.validate, "PARALLEL_FROM", 2)
    monkeypatch.setattr(xlplan.validate, "READER_MEMORY_BYTES", 60 * 2**20)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for template in sorted(lpt.outbox.glob("*.xlsx")):
        if template.name not in (good.name, lpt.chs.name):
            shutil.copy(template, inbox / template.name)
    shutil.copy(good, inbox / good.name)
    rewrite_zip(lpt.chs, inbox / "CHS.xlsx", {sheet_part(lpt.chs): before_sheet_end(far_cell("S200000"))})
    code, data = validate(inbox, "--plan", lpt.plan, *EARLY)
    assert code == 2
    names = sorted(p.name for p in inbox.iterdir())
    assert [Path(f["path"]).name for f in data["files"]] == names
    statuses = {Path(f["path"]).name: f["status"] for f in data["files"]}
    assert statuses.pop("CHS.xlsx") == "unreadable"
    assert len(statuses) >= 4 and set(statuses.values()) == {"ok"}, statuses


# --------------------------------------------------------------------------- 4. the lock


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lock_left_by_a_process_that_is_gone_is_taken_over(lpt: Cycle, good: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.xlsx"
    shutil.copy(lpt.plan, plan)
    lock = tmp_path / ".~lock.xlplan.plan.xlsx"
    pid = dead_pid()
    lock.write_text(f"pid {pid} on host {socket.gethostname()}\n")
    result = xlplan("merge", plan, good, "--as-of", "2017-01-01")
    assert result.exit_code == 0, result.output
    assert "[stale-lock]" in result.output
    assert not lock.exists()
    assert plan_rows(plan)["2.2.1"]["Directorate RAG Rating"] == "Green"


def test_a_lock_held_by_a_running_process_is_respected(lpt: Cycle, good: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.xlsx"
    shutil.copy(lpt.plan, plan)
    before = sha(plan)
    lock = tmp_path / ".~lock.xlplan.plan.xlsx"
    lock.write_text(f"pid {os.getpid()} on host {socket.gethostname()}\n")
    result = xlplan("merge", plan, good)
    assert result.exit_code == 2
    assert f"process {os.getpid()} on {socket.gethostname()}" in result.output
    assert lock.exists() and sha(plan) == before


def test_the_lock_names_its_owner(lpt: Cycle, tmp_path: Path) -> None:
    from xlplan.masterbook import plan_lock

    target = tmp_path / "plan.xlsx"
    with plan_lock(target) as notice:
        text = (tmp_path / ".~lock.xlplan.plan.xlsx").read_text()
        assert notice is None
    assert text == f"pid {os.getpid()} on host {socket.gethostname()}\n"


# --------------------------------------------------------------------------- 5. other programs


def _ods_cell(value: object, indent: str) -> str:
    from xml.sax.saxutils import escape, quoteattr

    if value in ("", None):
        return f"{indent}<table:table-cell/>\n"
    if isinstance(value, bool):
        return (
            f'{indent}<table:table-cell office:value-type="boolean" office:boolean-value='
            f'"{str(value).lower()}">\n{indent}  <text:p>{value}</text:p>\n{indent}</table:table-cell>\n'
        )
    if isinstance(value, float | int):
        return (
            f'{indent}<table:table-cell office:value-type="float" office:value="{value}">\n'
            f"{indent}  <text:p>{value}</text:p>\n{indent}</table:table-cell>\n"
        )
    if hasattr(value, "isoformat"):
        return (
            f'{indent}<table:table-cell office:value-type="date" office:date-value='
            f'"{value.isoformat()}">\n{indent}  <text:p>{value}</text:p>\n{indent}</table:table-cell>\n'
        )
    text = str(value)
    paragraphs = []
    for line in text.split("\n"):
        # as OpenDocument writers do: a run of spaces is one space and <text:s text:c="N"/>
        body = escape(line).replace("  ", " <text:s/>").replace("\t", "<text:tab/>")
        if body.startswith(" "):
            body = "<text:s/>" + body[1:]
        paragraphs.append(f"{indent}  <text:p>{body}</text:p>\n")
    return (
        f'{indent}<table:table-cell office:value-type="string" table:style-name={quoteattr("ce1")}>\n'
        + "".join(paragraphs)
        + f"{indent}</table:table-cell>\n"
    )


def ods_like_gnumeric(src: Path, dst: Path, *, hidden_kept: bool = True, indent: bool = True) -> Path:
    """`src`'s sheets re-saved as an .ods the way Gnumeric and SheetJS-based tools write it:
    indented XML (which python-calamine cannot parse); with hidden_kept=False the hidden
    sheets come back visible, as Gnumeric shows very-hidden ones."""
    book = python_calamine.CalamineWorkbook.from_path(str(src))
    hidden = {m.name for m in book.sheets_metadata if str(m.visible).rsplit(".", 1)[-1] != "Visible"}
    body = []
    for name in book.sheet_names:
        style = ' table:style-name="hide"' if name in hidden and hidden_kept else ""
        body.append(f'  <table:table table:name="{name}"{style}>\n')
        for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False):
            body.append("    <table:table-row>\n")
            body.extend(_ods_cell(v, "      ") for v in row)
            body.append("    </table:table-row>\n")
        body.append(
            '    <table:table-row table:number-rows-repeated="1048000">\n'
            '      <table:table-cell table:number-columns-repeated="1024"/>\n'
            "    </table:table-row>\n  </table:table>\n"
        )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">\n'
        '<office:automatic-styles>\n  <style:style style:name="hide" style:family="table">\n'
        '    <style:table-properties table:display="false"/>\n  </style:style>\n'
        "</office:automatic-styles>\n<office:body>\n <office:spreadsheet>\n"
        + "".join(body)
        + " </office:spreadsheet>\n</office:body>\n</office:document-content>\n"
    )
    if not indent:
        content = "".join(line.strip() for line in content.splitlines())
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
        'names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-'
        'entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    with zipfile.ZipFile(dst, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return dst


TRICKY_TEXT = "Two  spaces,\ta tab, a trailing space \nand a second line"


@pytest.fixture(scope="module")
def chs_filled(lpt: Cycle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("filled") / "CHS.xlsx"
    fill_in(
        lpt.chs, path, {**CHS_EDIT, ("2.1", "comments"): TRICKY_TEXT, ("2.1.2", "directorate_rag"): "Yellow"}
    )
    return path


def test_an_ods_in_indented_xml_is_read_by_the_second_reader(
    lpt: Cycle, chs_filled: Path, good: Path, tmp_path: Path
) -> None:
    ods = ods_like_gnumeric(chs_filled, tmp_path / "CHS.ods")
    with pytest.raises(Exception):  # noqa: B017 - the first reader really cannot read it
        python_calamine.CalamineWorkbook.from_path(str(ods)).get_sheet_by_name(PLAN_SHEET).to_python()
    code, data = validate(ods, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, report["service"], report["cycle"]) == (1, "CHS", CYCLE)
    assert [(p["code"], p["cell"], p["value"]) for p in report["problems"]] == [
        ("invalid-rating", "N6", "Yellow")
    ]
    _, merged, plan = merge_beside(lpt, good, ods, tmp_path)
    row = plan_rows(plan)["2.1"]
    assert row["Directorate RAG Rating"] == "Amber"
    assert row["Comments/ Remedial Actions"] == TRICKY_TEXT


def test_the_second_reader_reads_what_the_first_reads(chs_filled: Path, tmp_path: Path) -> None:
    from xlplan.ods import OdsBook

    compact = ods_like_gnumeric(chs_filled, tmp_path / "compact.ods", indent=False)
    indented = ods_like_gnumeric(chs_filled, tmp_path / "indented.ods")
    first = python_calamine.CalamineWorkbook.from_path(str(compact))
    second = OdsBook(indented)
    assert second.sheet_names == first.sheet_names
    for name in first.sheet_names:
        expected = first.get_sheet_by_name(name).to_python(skip_empty_area=False)
        # calamine drops a <text:tab/>; the second reader keeps the tab, as LibreOffice shows it.
        got = [
            [v.replace("\t", "") if isinstance(v, str) else v for v in row]
            for row in second.get_sheet_by_name(name).to_python()
        ]
        assert got == expected, name
    assert second.visibility()["_xlplan"] == "hidden"


def test_an_ods_whose_hidden_sheets_came_back_visible(lpt: Cycle, chs_filled: Path, tmp_path: Path) -> None:
    ods = ods_like_gnumeric(chs_filled, tmp_path / "CHS.ods", hidden_kept=False)
    code, data = validate(ods, "--plan", lpt.plan, *EARLY)
    assert "metadata-visible" in codes(single(data))


def test_annotate_writes_an_xlsx_copy_of_an_ods(lpt: Cycle, chs_filled: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ods = ods_like_gnumeric(chs_filled, inbox / "CHS.ods")
    before = sha(ods)
    marked = tmp_path / "marked"
    result = xlplan("validate", inbox, "--plan", lpt.plan, *EARLY, "--annotate", marked)
    assert result.exit_code == 1
    assert f"annotated copy: {marked / 'CHS.xlsx'} (an .xlsx of the .ods's values)" in result.output
    assert sha(ods) == before
    book = openpyxl.load_workbook(marked / "CHS.xlsx")
    assert book.sheetnames[0] == "xlplan problems"
    assert book["_xlplan"].sheet_state == "hidden"
    cell = book[PLAN_SHEET]["N6"]
    assert cell.value == "Yellow"
    assert cell.comment.text.startswith("ERROR: 'Yellow' is not on the scale")


def test_annotated_copies_keep_notes_where_excel_and_exceljs_look(
    lpt: Cycle, chs_filled: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(chs_filled, inbox / "CHS.xlsx")
    marked = tmp_path / "marked"
    assert xlplan("validate", inbox, "--plan", lpt.plan, *EARLY, "--annotate", marked).exit_code == 1
    copy = marked / "CHS.xlsx"
    with zipfile.ZipFile(copy) as archive:
        names = archive.namelist()
        part = sheet_part(copy)
        rels = archive.read(part.replace("worksheets/", "worksheets/_rels/") + ".rels").decode()
        types = archive.read("[Content_Types].xml").decode()
    assert "xl/comments1.xml" in names and "xl/drawings/vmlDrawing1.vml" in names
    assert not any(n.startswith("xl/comments/") or "commentsDrawing" in n for n in names)
    assert 'Target="../comments1.xml"' in rels and 'Target="../drawings/vmlDrawing1.vml"' in rels
    assert 'PartName="/xl/comments1.xml"' in types
    cell = openpyxl.load_workbook(copy)[PLAN_SHEET]["N6"]  # and openpyxl still reads the note
    assert cell.comment.text.startswith("ERROR: 'Yellow' is not on the scale")
