"""Issue 13, "A master you can trust": what the central team owns goes through every merge
(cases 6, 7, 12), values keep the form the person saw (8), spare-row updates, ratings off the
scale and required cells are reported (9, 10), and the words say what they mean (13).

Each test builds the LPT plan, edits the master in Excel (openpyxl) the way a central team
does, has services fill in their templates, runs `xlplan merge` through the CLI, and reads
the written master back: the cells that must hold something hold it, and nothing else moved.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pytest
from conftest import (
    CQC,
    EXAMPLES,
    FIRST_DATA_ROW,
    HEADER_ROW,
    ID_HEADER,
    LPT_SOURCE,
    PLAN_SHEET,
    SEED_ROUTES,
    SEED_SOURCES,
    H,
    edit_master,
    invoke,
    metadata,
    plan_table,
    sheet_values,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter
from test_merge import (
    LAYOUT_HEADERS,
    STATUS_HEADER,
    by_id,
    issues_with,
    ref_to_id,
    refs_in_order,
    table_after,
)

from xlplan.simulate import fill_in

try:  # tests/ as a package or as a rootdir-inserted folder
    from .libreoffice import libreoffice_fixture  # noqa: F401  (the `libreoffice` fixture)
except ImportError:
    from libreoffice import libreoffice_fixture  # noqa: F401

CYCLE = "2017-Q2"
AS_OF = "2017-07-31"
EPOCH = "1500000000"
OWN = [STATUS_HEADER, ID_HEADER]  # the two columns xlplan adds after the layout's


def merge(*args):
    return invoke("merge", *args, env={"SOURCE_DATE_EPOCH": EPOCH})


def letter(field: str) -> str:
    """The column letter of a layout field on a plan sheet xlplan wrote."""
    return get_column_letter(CQC.fields.index(field) + 1)


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """The LPT master, and its templates issued for 2017-Q2."""
    folder = tmp_path_factory.mktemp("carry")
    plan, outbox = folder / "plan.xlsx", folder / "outbox"
    assert invoke("import", LPT_SOURCE, "-o", plan).exit_code == 0
    result = invoke("template", plan, "-o", outbox, "--cycle", CYCLE, "--due", "14/07/2017")
    assert result.exit_code == 0, result.output
    return SimpleNamespace(plan=plan, outbox=outbox, ids=ref_to_id(plan))


CHS_EDITS = {("2.1", "directorate_rag"): "Amber", ("5.2.2", "comments"): "Two posts filled."}


@pytest.fixture(scope="module")
def chs_inbox(issued, tmp_path_factory):
    inbox = tmp_path_factory.mktemp("chs-inbox")
    fill_in(issued.outbox / "CHS.xlsx", inbox / "CHS.xlsx", CHS_EDITS)
    return inbox


def copy_plan(issued, tmp_path: Path, extra=None, edits=None) -> Path:
    plan = tmp_path / "plan.xlsx"
    shutil.copy2(issued.plan, plan)
    if extra or edits:
        edit_master(plan, edits or {}, extra=extra)
    return plan


def layout_part(table: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """Each action's layout columns and xlplan's own: what the central columns must not touch."""
    return {i: {h: row[h] for h in LAYOUT_HEADERS + OWN} for i, row in table.items()}


def row_of(sheet, action_id: str) -> int:
    header = [c.value for c in sheet[HEADER_ROW]]
    id_col = header.index(ID_HEADER) + 1
    return next(
        r for r in range(FIRST_DATA_ROW, sheet.max_row + 1) if sheet.cell(r, id_col).value == action_id
    )


# --- case 6: the central team's own columns ---------------------------------------------------


NOTES_HEADER, SCORE_HEADER = "Central notes", "Score"


def add_central_columns(book) -> None:
    """After the hidden ID: "Central notes" (text, a formula on its own row, wide) and
    "Score" (numbers and a sum), as a central team adds them in Excel."""
    sheet = book[PLAN_SHEET]
    width = sheet.max_column
    notes, score = width + 1, width + 2
    sheet.cell(HEADER_ROW, notes, NOTES_HEADER)
    sheet.cell(HEADER_ROW, score, SCORE_HEADER)
    sheet.column_dimensions[get_column_letter(notes)].width = 33
    sheet.column_dimensions[get_column_letter(score)].hidden = True  # kept out of print
    rows = {
        sheet.cell(r, CQC.fields.index("action_ref") + 1).value: r
        for r in range(FIRST_DATA_ROW, sheet.max_row + 1)
    }
    rag, ref = letter("directorate_rag"), letter("action_ref")
    sheet.cell(rows["1"], notes, "Chased Corporate 03/07/2017 — Zoë")
    r = rows["2.1"]
    sheet.cell(r, notes, f'={ref}{r}&": "&IF({rag}{r}="Blue","closed","open")')
    sheet.cell(rows["2.1"], score, 3).number_format = '"£"#,##0.00'
    sheet.cell(rows["2.2"], score, 4.5).number_format = '"£"#,##0.00'
    s = get_column_letter(score)
    sheet.cell(rows["1"], score, f"=SUM({s}{rows['2.1']}:{s}{rows['2.2']})")


def extra_cells(path: Path) -> dict[str, tuple[object, object]]:
    """{xlplan ID: (Central notes, Score)} as written (formulas as their text)."""
    sheet = openpyxl.load_workbook(path)[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    id_col, notes, score = (header.index(h) + 1 for h in (ID_HEADER, NOTES_HEADER, SCORE_HEADER))
    return {
        sheet.cell(r, id_col).value: (sheet.cell(r, notes).value, sheet.cell(r, score).value)
        for r in range(FIRST_DATA_ROW, sheet.max_row + 1)
        if sheet.cell(r, id_col).value
    }


@pytest.fixture(scope="module")
def central(issued, chs_inbox, tmp_path_factory):
    folder = tmp_path_factory.mktemp("central-columns")
    plain = folder / "plain.xlsx"
    shutil.copy2(issued.plan, plain)
    plan = folder / "plan.xlsx"
    shutil.copy2(issued.plan, plan)
    edit_master(plan, {}, extra=add_central_columns)
    out, plain_out, again = folder / "out.xlsx", folder / "plain-out.xlsx", folder / "again.xlsx"
    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)
    assert merge(plain, chs_inbox, "-o", plain_out, "--as-of", AS_OF).exit_code == 0
    second = merge(out, chs_inbox, "-o", again, "--as-of", AS_OF)
    return SimpleNamespace(
        plan=plan,
        out=out,
        plain_out=plain_out,
        again=again,
        result=result,
        second=second,
        before=extra_cells(plan),
    )


def test_central_columns_keep_header_values_and_formulas_through_the_merge(issued, central):
    ids = issued.ids
    assert central.result.exit_code == 0, central.result.output
    header, _ = plan_table(central.out)
    assert header[len(LAYOUT_HEADERS) :] == OWN + [NOTES_HEADER, SCORE_HEADER]

    after = extra_cells(central.out)
    assert after == central.before
    rag, ref = letter("directorate_rag"), letter("action_ref")
    sheet = openpyxl.load_workbook(central.out)[PLAN_SHEET]
    r = row_of(sheet, ids["2.1"])
    assert after[ids["2.1"]][0] == f'={ref}{r}&": "&IF({rag}{r}="Blue","closed","open")'
    assert after[ids["1"]] == ("Chased Corporate 03/07/2017 — Zoë", after[ids["1"]][1])
    assert after[ids["1"]][1].startswith("=SUM(")
    assert after[ids["2.1"]][1] == 3 and after[ids["2.2"]][1] == 4.5  # numbers, not text
    notes = header.index(NOTES_HEADER) + 1
    assert sheet.column_dimensions[get_column_letter(notes)].width == pytest.approx(33, abs=0.1)
    assert sheet.cell(r, notes).data_type == "f"
    assert sheet.column_dimensions[get_column_letter(notes + 1)].hidden
    assert sheet.cell(r, notes + 1).number_format == '"£"#,##0.00'  # shown as £3.00
    assert not sheet.column_dimensions[get_column_letter(notes)].hidden


def test_central_columns_change_nothing_else(central):
    """Every layout cell, status and ID is what the same merge gives without the columns."""
    assert layout_part(by_id(central.out)) == layout_part(by_id(central.plain_out))
    assert "sheet-content-lost" not in central.result.output


def test_central_columns_survive_every_merge(central):
    assert central.second.exit_code == 0, central.second.output
    assert extra_cells(central.again) == central.before
    # Only the status column differs: nothing changed this time.
    assert {i: {**r, STATUS_HEADER: ""} for i, r in layout_part(by_id(central.again)).items()} == {
        i: {**r, STATUS_HEADER: ""} for i, r in layout_part(by_id(central.out)).items()
    }


def test_central_columns_are_never_issued_to_services(central, tmp_path):
    outbox = tmp_path / "outbox"
    result = invoke("template", central.out, "-o", outbox, "--cycle", "2017-Q3")

    assert result.exit_code == 0, result.output
    for template in outbox.glob("*.xlsx"):
        values = {str(v) for row in sheet_values(template, PLAN_SHEET) for v in row}
        assert NOTES_HEADER not in values and SCORE_HEADER not in values, template.name
        assert not any(v.startswith("Chased Corporate") for v in values), template.name


def share_formulas(path: Path, column: str, first: int, last: int) -> None:
    """Rewrite the plan sheet's formulas in column rows first..last as Excel stores a formula
    filled down: written once, with the other cells holding only its shared index."""
    with zipfile.ZipFile(path) as archive:
        parts = {i.filename: archive.read(i.filename) for i in archive.infolist()}
    name = "xl/worksheets/sheet1.xml"
    data = parts[name].decode()

    def share(match: re.Match) -> str:
        row = int(match[2])
        if row == first:
            return f'{match[1]}<f t="shared" ref="{column}{first}:{column}{last}" si="0">{match[3]}</f>'
        return f'{match[1]}<f t="shared" si="0"/>'

    data, count = re.subn(rf'(<c r="{column}(\d+)"[^>]*>)<f>([^<]*)</f>', share, data)
    assert count == last - first + 1, count
    parts[name] = data.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, content in parts.items():
            archive.writestr(filename, content)


def test_a_formula_filled_down_in_excel_is_kept_in_every_row(issued, chs_inbox, tmp_path):
    rag = letter("directorate_rag")
    rows = {}

    def filled_down(book):
        sheet = book[PLAN_SHEET]
        col = sheet.max_column + 1
        sheet.cell(HEADER_ROW, col, NOTES_HEADER)
        for r in range(FIRST_DATA_ROW, FIRST_DATA_ROW + 6):
            sheet.cell(r, col, f'=IF({rag}{r}="Blue","closed","open")')
        rows["column"] = get_column_letter(col)

    plan = copy_plan(issued, tmp_path, extra=filled_down)
    share_formulas(plan, rows["column"], FIRST_DATA_ROW, FIRST_DATA_ROW + 5)
    out = tmp_path / "out.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out)[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    col = header.index(NOTES_HEADER) + 1
    assert [sheet.cell(r, col).value for r in range(FIRST_DATA_ROW, FIRST_DATA_ROW + 7)] == [
        f'=IF({rag}{r}="Blue","closed","open")' for r in range(FIRST_DATA_ROW, FIRST_DATA_ROW + 6)
    ] + [None]


def test_formulas_follow_their_cells_when_the_column_was_inserted_and_rows_left_blank(
    issued, chs_inbox, tmp_path
):
    """The team inserted its column next to Comments and left a blank row above 2.1: the
    master puts the column after the ID and closes the gap, so each reference moves with
    the cell it points at (on the plan sheet and from the team's own sheet)."""
    ids = issued.ids
    inserted_at = CQC.fields.index("comments") + 2  # 1-based, right of Comments
    refs = {}

    def insert(book):
        sheet = book[PLAN_SHEET]
        sheet.insert_cols(inserted_at)
        ref_col = CQC.fields.index("action_ref") + 1
        blank_above = next(
            r for r in range(FIRST_DATA_ROW, sheet.max_row + 1) if sheet.cell(r, ref_col).value == "2.1"
        )
        sheet.insert_rows(blank_above)
        sheet.cell(HEADER_ROW, inserted_at, NOTES_HEADER)
        rag = get_column_letter(CQC.fields.index("directorate_rag") + 2)  # moved right by one
        for ref in ("1", "2.1", "2.2"):
            r = next(
                r for r in range(FIRST_DATA_ROW, sheet.max_row + 1) if sheet.cell(r, ref_col).value == ref
            )
            sheet.cell(r, inserted_at, f'=IF({rag}{r}="Amber","watch","")')
            refs[ref] = r
        notes = book.create_sheet("Notes")
        notes["A1"] = f"='{PLAN_SHEET}'!{get_column_letter(inserted_at)}{refs['2.1']}"
        notes["A2"] = f"=COUNTIF('{PLAN_SHEET}'!{rag}{FIRST_DATA_ROW}:{rag}{refs['2.2']},\"Amber\")"

    plan = copy_plan(issued, tmp_path, extra=insert)
    out = tmp_path / "out.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    sheet = book[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    assert header[: len(LAYOUT_HEADERS)] == LAYOUT_HEADERS
    notes_col = header.index(NOTES_HEADER) + 1
    assert notes_col == len(LAYOUT_HEADERS) + 3  # after the status and the ID
    rag = letter("directorate_rag")
    new_rows = {ref: row_of(sheet, ids[ref]) for ref in refs}
    assert new_rows["2.1"] == refs["2.1"] - 1  # the blank row is gone
    for ref, r in new_rows.items():
        assert sheet.cell(r, notes_col).value == f'=IF({rag}{r}="Amber","watch","")', ref
    assert book["Notes"]["A1"].value == f"='{PLAN_SHEET}'!{get_column_letter(notes_col)}{new_rows['2.1']}"
    assert book["Notes"]["A2"].value == (
        f"=COUNTIF('{PLAN_SHEET}'!{rag}{FIRST_DATA_ROW}:{rag}{new_rows['2.2']},\"Amber\")"
    )


def test_a_formula_the_team_typed_in_a_layout_column_stays_until_a_merge_changes_the_cell(
    issued, chs_inbox, tmp_path
):
    formulas = {}

    def typed(book):
        sheet = book[PLAN_SHEET]
        directorate, ref = letter("directorate"), letter("action_ref")
        for action, field in (("3.1", "group"), ("5.2.2", "comments")):
            r = row_of(sheet, issued.ids[action])
            formulas[action] = f'={directorate}{r}&" group ("&{ref}{r}&")"'
            sheet[f"{letter(field)}{r}"] = formulas[action]

    plan = copy_plan(issued, tmp_path, extra=typed)
    out = tmp_path / "out.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out)[PLAN_SHEET]
    group = sheet[f"{letter('group')}{row_of(sheet, issued.ids['3.1'])}"]
    assert (group.value, group.data_type) == (formulas["3.1"], "f")
    # CHS changed 5.2.2's comments this merge: its value replaces the formula, marked and noted.
    comments = sheet[f"{letter('comments')}{row_of(sheet, issued.ids['5.2.2'])}"]
    assert comments.value == CHS_EDITS[("5.2.2", "comments")] and comments.comment is not None
    formula_cells = [
        c.coordinate
        for row in sheet.iter_rows(max_col=len(LAYOUT_HEADERS))
        for c in row
        if c.data_type == "f"
    ]
    assert formula_cells == [group.coordinate]


def test_a_total_under_the_table_is_reported_not_silently_dropped(issued, chs_inbox, tmp_path):
    below = {}

    def total(book):
        sheet = book[PLAN_SHEET]
        col = sheet.max_column + 1
        sheet.cell(HEADER_ROW, col, SCORE_HEADER)
        sheet.cell(FIRST_DATA_ROW, col, 2)
        below["row"] = sheet.max_row + 2
        sheet.cell(below["row"], col, f"=SUM({get_column_letter(col)}4:{get_column_letter(col)}200)")

    plan = copy_plan(issued, tmp_path, extra=total)
    out = tmp_path / "out.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    lost = issues_with(table_after(out, "Issues", "Severity"), "sheet-content-lost")
    assert len(lost) == 1 and lost[0]["Sheet"] == PLAN_SHEET
    assert f"row {below['row']}" in lost[0]["Message"] and SCORE_HEADER in lost[0]["Message"]


def test_a_retyped_title_is_kept_and_a_note_above_the_header_reported(issued, chs_inbox, tmp_path):
    def above(book):
        sheet = book[PLAN_SHEET]
        sheet["A1"] = "LPT CQC action plan 2017 — board version"
        sheet["E1"] = "Draft for the July board"

    plan = copy_plan(issued, tmp_path, extra=above)
    out = tmp_path / "out.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    assert sheet_values(out, PLAN_SHEET)[0][0] == "LPT CQC action plan 2017 — board version"
    assert metadata(out)["title"] == "LPT CQC action plan 2017 — board version"
    assert str(sheet_values(out, "Summary")[0][0]).startswith("LPT CQC action plan 2017 — board")
    lost = issues_with(table_after(out, "Issues", "Severity"), "sheet-content-lost")
    assert len(lost) == 1 and "E1 above the header row" in lost[0]["Message"]


def test_formulas_and_widths_on_the_teams_own_sheet_are_kept(issued, chs_inbox, tmp_path):
    def own_sheet(book):
        sheet = book.create_sheet("Tracker")
        sheet.append(["Month", "Actions", "Closed", "Share"])
        sheet.append(["July", 40, 12, "=C2/B2"])
        sheet["D2"].number_format = "0%"
        sheet["C2"].number_format = "#,##0"
        sheet.append(["Open on plan", f"=COUNTA('{PLAN_SHEET}'!D4:D200)", None, "=TODAY()-1"])
        sheet.append(["Panel met", dt.datetime(2017, 7, 3, 14, 30), True, 0.25])
        sheet["B4"].number_format = "dd/mm/yyyy hh:mm"
        sheet.column_dimensions["A"].width = 28
        sheet.column_dimensions["C"].hidden = True

    plan = copy_plan(issued, tmp_path, extra=own_sheet)
    out = tmp_path / "out.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out)["Tracker"]
    assert [[c.value for c in row] for row in sheet.iter_rows(max_col=4)] == [
        ["Month", "Actions", "Closed", "Share"],
        ["July", 40, 12, "=C2/B2"],
        ["Open on plan", f"=COUNTA('{PLAN_SHEET}'!D4:D200)", None, "=TODAY()-1"],
        ["Panel met", dt.datetime(2017, 7, 3, 14, 30), True, 0.25],  # the time of day kept
    ]
    assert sheet["B4"].number_format == "dd/mm/yyyy hh:mm"
    assert sheet.column_dimensions["A"].width == pytest.approx(28, abs=0.1)
    assert sheet.column_dimensions["C"].hidden and not sheet.column_dimensions["B"].hidden
    assert (sheet["D2"].number_format, sheet["C2"].number_format, sheet["B2"].number_format) == (
        "0%",
        "#,##0",
        "General",
    )


# --- case 7: the master's own row order ---------------------------------------------------------


PROPOSAL = {
    "action_ref": "11.9",
    "action": "Weekly medicines-safety huddle on every ward.",
    "directorate_rag": "White",
}


def sort_by_lead(book) -> None:
    """The central team sorted the plan by Directorate (its lead), whole rows."""
    sheet = book[PLAN_SHEET]
    width = sheet.max_column
    rows = [
        [sheet.cell(r, c).value for c in range(1, width + 1)]
        for r in range(FIRST_DATA_ROW, sheet.max_row + 1)
    ]
    lead = CQC.fields.index("directorate")
    rows.sort(key=lambda row: (row[lead] or "").lower())
    for offset, row in enumerate(rows):
        for c, value in enumerate(row, start=1):
            sheet.cell(FIRST_DATA_ROW + offset, c, value)


def test_merge_keeps_the_central_teams_order_and_puts_a_proposal_last(issued, tmp_path):
    plan = copy_plan(issued, tmp_path, extra=sort_by_lead)
    inbox = tmp_path / "inbox"
    fill_in(issued.outbox / "CHS.xlsx", inbox / "CHS.xlsx", CHS_EDITS, proposals=[PROPOSAL])
    out, again = tmp_path / "out.xlsx", tmp_path / "again.xlsx"
    order = refs_in_order(plan)
    assert order != refs_in_order(issued.plan)

    result = merge(plan, inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    assert refs_in_order(out) == order + [PROPOSAL["action_ref"]]
    assert merge(out, inbox, "-o", again, "--as-of", AS_OF).exit_code == 0
    assert refs_in_order(again) == order + [PROPOSAL["action_ref"]]


# --- case 12: a master saved by LibreOffice -------------------------------------------------------


EMPTY_DRAWING = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/'
    b'spreadsheetDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/'
    b'main"></xdr:wsDr>'
)


def add_empty_drawings(path: Path) -> None:
    """What LibreOffice writes when it saves a workbook: an empty drawing part per sheet."""
    with zipfile.ZipFile(path) as archive:
        parts = {i.filename: archive.read(i.filename) for i in archive.infolist()}
    sheets = sorted(n for n in parts if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
    for number, sheet in enumerate(sheets, start=1):
        drawing = f"xl/drawings/drawing{100 + number}.xml"
        parts[drawing] = EMPTY_DRAWING
        rels = sheet.replace("worksheets/", "worksheets/_rels/") + ".rels"
        entry = (
            f'<Relationship Id="rIdLO{number}" Type="http://schemas.openxmlformats.org/'
            f'officeDocument/2006/relationships/drawing" Target="../drawings/'
            f'drawing{100 + number}.xml"/>'
        ).encode()
        if rels in parts:
            parts[rels] = parts[rels].replace(b"</Relationships>", entry + b"</Relationships>")
        else:
            parts[rels] = (
                b'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="http://'
                b'schemas.openxmlformats.org/package/2006/relationships">' + entry + b"</Relationships>"
            )
        drawn = f'<drawing r:id="rIdLO{number}"/></worksheet>'.encode()
        parts[sheet] = parts[sheet].replace(b"</worksheet>", drawn)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, content in parts.items():
            archive.writestr(filename, content)


def test_a_master_saved_by_libreoffice_draws_no_lost_content_warning(issued, chs_inbox, tmp_path):
    def notes(book):
        book.create_sheet("Notes").append(["Committee", "14/09/2017"])

    plan = copy_plan(issued, tmp_path, extra=notes)
    add_empty_drawings(plan)
    out, again = tmp_path / "out.xlsx", tmp_path / "again.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)
    add_empty_drawings(out)  # saved by LibreOffice again before the next cycle
    second = merge(out, chs_inbox, "-o", again, "--as-of", AS_OF)

    assert result.exit_code == 0 and second.exit_code == 0, result.output + second.output
    for written in (out, again):
        assert not issues_with(table_after(written, "Issues", "Severity"), "sheet-content-lost")
    assert "sheet-content-lost" not in result.output + second.output
    assert sheet_values(again, "Notes")[0] == ["Committee", "14/09/2017"]


@pytest.mark.libreoffice
def test_a_master_saved_in_libreoffice_merges_twice_without_false_warnings(
    issued, chs_inbox, tmp_path, libreoffice
):
    """The real thing: the master with the team's columns, opened and saved in LibreOffice
    before each merge, keeps its columns and formulas and draws no lost-content warning."""
    lo = libreoffice
    plan = copy_plan(issued, tmp_path, extra=add_central_columns)
    before = extra_cells(plan)
    saved, out, saved_again, again = (tmp_path / f"{n}.xlsx" for n in ("saved", "out", "saved2", "again"))
    with lo.open(plan) as doc:
        doc.save_as(saved, "xlsx")

    first = merge(saved, chs_inbox, "-o", out, "--as-of", AS_OF)
    with lo.open(out) as doc:
        doc.save_as(saved_again, "xlsx")
    second = merge(saved_again, chs_inbox, "-o", again, "--as-of", AS_OF)

    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    for written in (out, again):
        assert not issues_with(table_after(written, "Issues", "Severity"), "sheet-content-lost")
        assert extra_cells(written) == before


def add_chart(book) -> None:
    from openpyxl.chart import BarChart, Reference

    sheet = book.create_sheet("Notes")
    sheet.append(["Closed", 3])
    chart = BarChart()
    chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=1))
    sheet.add_chart(chart, "D2")


def test_a_real_chart_is_reported_once_naming_its_sheet(issued, chs_inbox, tmp_path):
    plan = copy_plan(issued, tmp_path, extra=add_chart)
    out, again = tmp_path / "out.xlsx", tmp_path / "again.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)
    # The team pastes the same chart back in: it was said already, so it is not said again.
    book = openpyxl.load_workbook(out)
    del book["Notes"]
    add_chart(book)
    book.save(out)
    second = merge(out, chs_inbox, "-o", again, "--as-of", AS_OF)

    assert result.exit_code == 0 and second.exit_code == 0, result.output + second.output
    lost = issues_with(table_after(out, "Issues", "Severity"), "sheet-content-lost")
    assert [(i["Sheet"], i["Severity"]) for i in lost] == [("Notes", "warning")]
    assert "Notes" in lost[0]["Message"]
    assert metadata(out).get("uncarried_reported")
    again_lost = issues_with(table_after(again, "Issues", "Severity"), "sheet-content-lost")
    assert [(r["Sheet"], r["Found"]) for r in again_lost] == [(r["Sheet"], r["Found"]) for r in lost]
    assert "sheet-content-lost" not in second.output  # not said again
    assert metadata(again)["uncarried_reported"] == metadata(out)["uncarried_reported"]


def test_notes_and_merged_cells_that_cannot_be_carried_are_reported_once(issued, chs_inbox, tmp_path):
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill
    from openpyxl.worksheet.table import Table

    def annotate(book):
        sheet = book[PLAN_SHEET]
        sheet[f"{letter('group')}{FIRST_DATA_ROW}"].comment = Comment("Ask the board", "Quality lead")
        sheet[f"{letter('group')}{FIRST_DATA_ROW + 1}"].hyperlink = "https://example.org/evidence"
        yellow = PatternFill("solid", fgColor="FFFF00")
        sheet[f"{letter('action')}{FIRST_DATA_ROW + 2}"].fill = yellow  # highlighted by hand
        notes = book.create_sheet("Notes")
        notes.append(["Committee dates", None])
        notes.merge_cells("A1:B1")
        notes["A1"].comment = Comment("Check with the secretary", "Quality lead")
        notes["A2"] = "Board"
        notes["A2"].fill = yellow
        notes["B2"].fill = yellow
        tracker = book.create_sheet("Tracker")
        for row in (["Month", "Closed"], ["June", 3], ["July", 5]):
            tracker.append(row)
        tracker.add_table(Table(displayName="Closures", ref="A1:B3"))

    plan = copy_plan(issued, tmp_path, extra=annotate)
    out, again = tmp_path / "out.xlsx", tmp_path / "again.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)
    second = merge(out, chs_inbox, "-o", again, "--as-of", AS_OF)

    assert result.exit_code == 0 and second.exit_code == 0, result.output + second.output
    lost = {
        i["Sheet"]: i["Message"]
        for i in issues_with(table_after(out, "Issues", "Severity"), "sheet-content-lost")
    }
    assert set(lost) == {PLAN_SHEET, "Notes", "Tracker"}
    assert "an Excel table" in lost["Tracker"]
    assert sheet_values(out, "Tracker")[2] == ["July", 5]
    assert "1 note (comments)" in lost[PLAN_SHEET] and "hyperlinks" in lost[PLAN_SHEET]
    assert "merged" not in lost[PLAN_SHEET] and "conditional" not in lost[PLAN_SHEET]
    assert "cell colours (1 cell)" in lost[PLAN_SHEET] and "cell colours (2 cells)" in lost["Notes"]
    assert "merged cells" in lost["Notes"] and "1 note (comments)" in lost["Notes"]
    assert sheet_values(out, "Notes")[0][0] == "Committee dates"
    # Said once: the next merge of the cycle finds nothing new, and the cycle's Issues sheet
    # keeps the one row from when it was found (issuing the next cycle clears it).
    again_lost = issues_with(table_after(again, "Issues", "Severity"), "sheet-content-lost")
    first_lost = issues_with(table_after(out, "Issues", "Severity"), "sheet-content-lost")
    assert [(r["Sheet"], r["Found"]) for r in again_lost] == [(r["Sheet"], r["Found"]) for r in first_lost]
    assert "sheet-content-lost" not in second.output


# --- case 8: values keep the form the person saw --------------------------------------------------


TYPED_DATE = dt.datetime(2017, 9, 12)  # "12/09/2017" typed: Excel stores a date serial


@pytest.fixture(scope="module")
def dated(issued, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dated")
    inbox = folder / "inbox"
    fill_in(
        issued.outbox / "CHS.xlsx",
        inbox / "CHS.xlsx",
        {
            ("5.2.2", "comments"): TYPED_DATE,  # a text column
            ("5.2.3", "due"): TYPED_DATE,  # a date column
        },
    )
    out, again, outbox = folder / "out.xlsx", folder / "again.xlsx", folder / "outbox"
    first = merge(issued.plan, inbox, "-o", out, "--as-of", AS_OF)
    second = merge(out, inbox, "-o", again, "--as-of", AS_OF)
    nxt = folder / "next.xlsx"  # template records the issue in its master: a copy of the output
    shutil.copy(out, nxt)
    issue = invoke("template", nxt, "-o", outbox, "--cycle", "2017-Q3")
    return SimpleNamespace(
        out=out, again=again, outbox=outbox, first=first, second=second, issue=issue, inbox=inbox
    )


def test_a_date_typed_in_a_text_column_is_the_text_seen(issued, dated):
    ids = issued.ids
    assert dated.first.exit_code == 0, dated.first.output
    sheet = openpyxl.load_workbook(dated.out)[PLAN_SHEET]
    comments = sheet[f"{letter('comments')}{row_of(sheet, ids['5.2.2'])}"]
    due = sheet[f"{letter('due')}{row_of(sheet, ids['5.2.3'])}"]

    assert (comments.value, comments.data_type) == ("12/09/2017", "s")
    assert due.is_date and due.value.date() == TYPED_DATE.date()
    assert "2 cell(s) changed" in dated.first.output


def test_the_changes_sheet_shows_the_text_seen(issued, dated):
    changes = {r["Column"]: r for r in table_after(dated.out, "Changes", "Merged at")}

    assert changes[H["comments"]]["New value"] == "12/09/2017"
    assert changes[H["due"]]["New value"] in (TYPED_DATE, TYPED_DATE.date())


def test_the_next_template_shows_the_same_text(issued, dated):
    assert dated.issue.exit_code == 0, dated.issue.output
    _, rows = plan_table(dated.outbox / "CHS.xlsx")
    row = next(r for r in rows if r[H["action_ref"]] == "5.2.2")

    assert row[H["comments"]] == "12/09/2017"


def test_merging_the_same_return_again_changes_nothing_and_draws_no_conflict(dated):
    assert dated.second.exit_code == 0, dated.second.output
    assert "0 cell(s) changed" in dated.second.output
    assert "0 conflict(s)" in dated.second.output
    # The same cycle: the second merge changes no cell and keeps the cycle's highlights.
    assert by_id(dated.again) == by_id(dated.out)


def test_a_date_kept_in_a_text_column_of_an_older_master_is_its_text(issued, chs_inbox, tmp_path):
    plan = copy_plan(issued, tmp_path, edits={("3.1", "group"): TYPED_DATE})
    out = tmp_path / "out.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    assert by_id(out)[issued.ids["3.1"]][H["group"]] == "12/09/2017"


def test_a_number_typed_with_its_sign_is_the_text_seen(issued, tmp_path):
    """Typing 86% or £1,200.50 into a text cell stores a number with a format: the service
    meant the text it saw, and that is what the master keeps (and merges again unchanged)."""
    inbox = tmp_path / "inbox"
    returned = inbox / "CHS.xlsx"
    fill_in(
        issued.outbox / "CHS.xlsx",
        returned,
        {("5.2.2", "comments"): 0.86, ("5.2.4", "manager"): 1200.5, ("5.2.5", "comments"): 12},
    )
    book = openpyxl.load_workbook(returned)
    sheet = book[PLAN_SHEET]
    sheet[f"{letter('comments')}{row_of(sheet, issued.ids['5.2.2'])}"].number_format = "0%"
    sheet[f"{letter('manager')}{row_of(sheet, issued.ids['5.2.4'])}"].number_format = '"£"#,##0.00'
    book.save(returned)
    out, again = tmp_path / "out.xlsx", tmp_path / "again.xlsx"

    result = merge(issued.plan, inbox, "-o", out, "--as-of", AS_OF)
    second = merge(out, inbox, "-o", again, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    table = by_id(out)
    assert table[issued.ids["5.2.2"]][H["comments"]] == "86%"
    assert table[issued.ids["5.2.4"]][H["manager"]] == "£1,200.50"
    assert table[issued.ids["5.2.5"]][H["comments"]] == "12"
    assert "0 cell(s) changed" in second.output and "0 conflict(s)" in second.output


@pytest.mark.libreoffice
def test_a_date_and_a_percentage_typed_in_libreoffice_are_the_text_seen(issued, tmp_path, libreoffice):
    from libreoffice import service_fills_in

    sheet = openpyxl.load_workbook(issued.outbox / "CHS.xlsx")[PLAN_SHEET]
    comments, manager = letter("comments"), letter("manager")
    typed = {
        f"{comments}{row_of(sheet, issued.ids['5.2.2'])}": "12/09/2017",
        f"{manager}{row_of(sheet, issued.ids['5.2.4'])}": "86%",
        f"{letter('due')}{row_of(sheet, issued.ids['5.2.3'])}": "30/09/2017",
    }
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    results = service_fills_in(
        libreoffice, issued.outbox / "CHS.xlsx", inbox / "CHS.xlsx", None, list(typed.items())
    )
    assert all(r["after"] not in ("", None) for r in results), results
    out, again = tmp_path / "out.xlsx", tmp_path / "again.xlsx"

    result = merge(issued.plan, inbox, "-o", out, "--as-of", AS_OF)
    second = merge(out, inbox, "-o", again, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    table = by_id(out)
    assert table[issued.ids["5.2.2"]][H["comments"]] == "12/09/2017"
    # LibreOffice shows a typed 86% as 86.00% (its default percent format): what was seen.
    assert table[issued.ids["5.2.4"]][H["manager"]] == results[1]["after"] == "86.00%"
    assert table[issued.ids["5.2.3"]][H["due"]] in (dt.date(2017, 9, 30), dt.datetime(2017, 9, 30))
    assert "3 cell(s) changed" in result.output
    assert "0 cell(s) changed" in second.output and "0 conflict(s)" in second.output


# --- case 9: an update typed into a spare row -----------------------------------------------------


SPARE_UPDATE = {"comments": "Audit completed; report to the July committee.", "directorate_rag": "Purple"}


@pytest.fixture(scope="module")
def spare(issued, tmp_path_factory):
    folder = tmp_path_factory.mktemp("spare")
    inbox = folder / "inbox"
    fill_in(issued.outbox / "CHS.xlsx", inbox / "CHS.xlsx", CHS_EDITS, proposals=[SPARE_UPDATE])
    plain = folder / "plain"
    fill_in(issued.outbox / "CHS.xlsx", plain / "CHS.xlsx", CHS_EDITS)
    out, plain_out = folder / "out.xlsx", folder / "plain-out.xlsx"
    result = merge(issued.plan, inbox, "-o", out, "--as-of", AS_OF)
    assert merge(issued.plan, plain, "-o", plain_out, "--as-of", AS_OF).exit_code == 0
    return SimpleNamespace(inbox=inbox, out=out, plain_out=plain_out, result=result)


def test_an_update_in_a_spare_row_is_refused_with_what_to_do(spare):
    assert spare.result.exit_code == 0, spare.result.output
    refused = issues_with(table_after(spare.out, "Issues", "Severity"), "update-in-spare-row")

    assert len(refused) == 1 and refused[0]["Severity"] == "error"
    assert "type it on that action's own row" in refused[0]["Message"]
    assert H["comments"][:30] in refused[0]["Message"]
    assert "update-in-spare-row" in spare.result.output
    assert "1 refused" in spare.result.output


def test_an_update_in_a_spare_row_adds_no_action_and_is_not_counted(spare):
    assert by_id(spare.out) == by_id(spare.plain_out)
    summary = {r["Service"]: r for r in table_after(spare.out, "Summary", "Service")}
    plain = {r["Service"]: r for r in table_after(spare.plain_out, "Summary", "Service")}
    assert summary["CHS"] == plain["CHS"]


def test_validate_refuses_the_spare_row_update_too(spare, issued):
    result = invoke("validate", spare.inbox / "CHS.xlsx", "--plan", issued.plan, "--as-of", AS_OF)

    assert result.exit_code == 1, result.output
    assert "[update-in-spare-row]" in result.output and "own row" in result.output


def test_a_real_proposal_in_a_spare_row_is_still_added(issued, tmp_path):
    inbox = tmp_path / "inbox"
    fill_in(issued.outbox / "CHS.xlsx", inbox / "CHS.xlsx", {}, proposals=[PROPOSAL])
    out = tmp_path / "out.xlsx"

    result = merge(issued.plan, inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    assert refs_in_order(out)[-1] == PROPOSAL["action_ref"]
    assert not issues_with(table_after(out, "Issues", "Severity"), "update-in-spare-row")


# --- case 10: ratings off the scale, and required cells ----------------------------------------------


def summary_of(path: Path, service: str) -> dict[str, object]:
    return next(r for r in table_after(path, "Summary", "Service") if r["Service"] == service)


def map_on_key(path: Path, rating: str, word: str) -> None:
    """The central team adds a spelling to 'Also read as' on the Key sheet, in Excel."""
    book = openpyxl.load_workbook(path)
    key = book["Key"]
    row = next(
        r for r in range(1, key.max_row + 1) if key.cell(r, 1).value == rating and key.cell(r, 2).value
    )
    key.cell(row, 3).value = ", ".join(filter(None, [key.cell(row, 3).value, word]))
    book.save(path)


@pytest.fixture(scope="module")
def complete(issued, chs_inbox, tmp_path_factory):
    """ "Signed off" kept as written at import on two CHS actions; one merge, then another."""
    folder = tmp_path_factory.mktemp("complete")
    plan = folder / "plan.xlsx"
    shutil.copy2(issued.plan, plan)
    edit_master(
        plan, {("5.2.3", "directorate_rag"): "Signed off", ("5.2.4", "directorate_rag"): "Signed off"}
    )
    out, again, mapped, after = (folder / f"{n}.xlsx" for n in ("out", "again", "mapped", "after"))
    first = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)
    second = merge(out, chs_inbox, "-o", again, "--as-of", AS_OF)
    shutil.copy2(again, folder / "to-map.xlsx")
    map_on_key(folder / "to-map.xlsx", "Blue", "Signed off")
    third = merge(folder / "to-map.xlsx", chs_inbox, "-o", mapped, "--as-of", AS_OF)
    fourth = merge(mapped, chs_inbox, "-o", after, "--as-of", AS_OF)
    return SimpleNamespace(
        out=out, again=again, mapped=mapped, after=after, results=[first, second, third, fourth]
    )


def test_a_rating_off_the_scale_is_listed_every_merge_until_mapped(complete):
    assert all(r.exit_code == 0 for r in complete.results), [r.output for r in complete.results]
    for written in (complete.out, complete.again):
        listed = issues_with(table_after(written, "Issues", "Severity"), "unmapped-rating")
        assert len(listed) == 1
        assert (listed[0]["Value"], listed[0]["Column"]) == ("Signed off", H["directorate_rag"])
        assert "5.2.3, 5.2.4" in listed[0]["Message"] and "Also read as" in listed[0]["Message"]
        assert summary_of(written, "CHS")["Blue"] == 0
    for written in (complete.mapped, complete.after):  # listed no more (marked resolved)
        listed = issues_with(table_after(written, "Issues", "Severity"), "unmapped-rating")
        assert [r for r in listed if r["Status"] == "open"] == []


def test_a_mapped_rating_counts_as_its_scale_value_and_stays_as_written(issued, complete):
    before, after = summary_of(complete.again, "CHS"), summary_of(complete.mapped, "CHS")

    assert after["Blue"] == before["Blue"] + 2
    assert after["Not rated"] == before["Not rated"] - 2
    assert after["Complete %"] > before["Complete %"]
    assert by_id(complete.mapped)[issued.ids["5.2.3"]][H["directorate_rag"]] == "Signed off"
    key = sheet_values(complete.after, "Key")
    assert any(row[0] == "Blue" and "Signed off" in row[2] for row in key)
    assert summary_of(complete.after, "CHS")["Blue"] == after["Blue"]


def test_a_word_given_to_two_ratings_on_the_key_is_refused_with_a_message(issued, tmp_path):
    plan = copy_plan(issued, tmp_path)
    map_on_key(plan, "Blue", "Finished")
    map_on_key(plan, "Purple", "Finished")
    old = plan.read_bytes()

    result = merge(plan, tmp_path, "-o", tmp_path / "out.xlsx")

    assert result.exit_code == 2, result.output
    assert "Key" in result.output and "Also read as" in result.output and "Traceback" not in result.output
    assert plan.read_bytes() == old and not (tmp_path / "out.xlsx").exists()


def test_a_required_cell_left_empty_in_the_master_is_listed(issued, chs_inbox, tmp_path):
    plan = copy_plan(issued, tmp_path, edits={("5.2.6", "action_ref"): None})
    out = tmp_path / "out.xlsx"

    result = merge(plan, chs_inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    missing = issues_with(table_after(out, "Issues", "Severity"), "required-missing")
    assert [(m["Column"], m["Severity"]) for m in missing] == [(H["action_ref"], "warning")]
    assert re.search(r"1 action: row \d+\.", missing[0]["Message"]), missing[0]["Message"]


def test_a_proposal_without_its_required_reference_is_flagged(issued, tmp_path):
    inbox = tmp_path / "inbox"
    fill_in(
        issued.outbox / "CHS.xlsx",
        inbox / "CHS.xlsx",
        {},
        proposals=[{k: v for k, v in PROPOSAL.items() if k != "action_ref"}],
    )

    result = invoke("validate", inbox / "CHS.xlsx", "--plan", issued.plan, "--as-of", AS_OF)

    assert "[required-missing]" in result.output and H["action_ref"] in result.output


# --- case 13: the words ---------------------------------------------------------------------------


def test_the_summary_says_1_conflict_and_1_cell(issued, tmp_path):
    plan = copy_plan(issued, tmp_path, edits={("5.2.2", "comments"): "Central: chased."})
    inbox = tmp_path / "inbox"
    fill_in(issued.outbox / "CHS.xlsx", inbox / "CHS.xlsx", {("5.2.2", "comments"): "Posts filled."})
    out = tmp_path / "out.xlsx"

    result = merge(plan, inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    subtitle = str(sheet_values(out, "Summary")[1][0])
    assert "1 cell changed" in subtitle and "1 conflict ·" in subtitle, subtitle


def test_diff_says_1_action_added(issued, tmp_path):
    inbox = tmp_path / "inbox"
    fill_in(issued.outbox / "CHS.xlsx", inbox / "CHS.xlsx", {}, proposals=[PROPOSAL])
    out, report = tmp_path / "out.xlsx", tmp_path / "diff.xlsx"
    assert merge(issued.plan, inbox, "-o", out, "--as-of", AS_OF).exit_code == 0

    result = invoke("diff", issued.plan, out, "-o", report)

    assert result.exit_code == 0, result.output
    assert "0 cells changed, 1 action added (green)" in str(sheet_values(report, PLAN_SHEET)[1][0])


def test_an_edit_to_a_removed_action_names_its_reference(issued, tmp_path):
    plan = copy_plan(issued, tmp_path)
    book = openpyxl.load_workbook(plan)
    sheet = book[PLAN_SHEET]
    sheet.delete_rows(row_of(sheet, issued.ids["5.2.2"]))
    book.save(plan)
    inbox = tmp_path / "inbox"
    fill_in(issued.outbox / "CHS.xlsx", inbox / "CHS.xlsx", {("5.2.2", "comments"): "Posts filled."})
    out = tmp_path / "out.xlsx"

    result = merge(plan, inbox, "-o", out, "--as-of", AS_OF)

    assert result.exit_code == 0, result.output
    unknown = issues_with(table_after(out, "Issues", "Severity"), "unknown-action")
    assert len(unknown) == 1
    assert unknown[0]["Action"] == "5.2.2" and "action 5.2.2 was removed" in unknown[0]["Message"]
    assert issued.ids["5.2.2"] not in unknown[0]["Message"]
    assert issued.ids["5.2.2"] not in result.output


def test_overdue_and_unrated_says_not_rated(issued, tmp_path):
    inbox = tmp_path / "inbox"
    fill_in(issued.outbox / "CHS.xlsx", inbox / "CHS.xlsx", {})

    result = invoke("validate", inbox / "CHS.xlsx", "--plan", issued.plan, "--as-of", "2019-01-01")

    assert "and not rated: not complete" in result.output
    assert "rated nothing" not in result.output


# --- a formula's references follow their cells, whatever moved ---------------------------------


@settings(deadline=None)  # a shared machine: no timing in tests
@given(st.lists(st.booleans(), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_a_reference_into_the_plan_sheet_follows_its_action_wherever_it_goes(gaps, rng):
    """Actions read from rows with gaps (blank rows), written in any order: a formula that
    pointed at an action's cell points at the same action's cell afterwards."""
    from xlplan.carry import Relocation, relocate

    old_rows, row = [], HEADER_ROW
    for gap in gaps:
        row += 2 if gap else 1
        old_rows.append(row)  # 0-based
    order = old_rows[:]
    rng.shuffle(order)
    moves = Relocation(
        PLAN_SHEET, {old: HEADER_ROW + 1 + i for i, old in enumerate(order)}, {0: 2, 1: 0, 2: 1}
    )
    for old in old_rows:
        new = moves.rows[old]
        assert relocate(f"=A{old + 1}&$B${old + 1}", PLAN_SHEET, moves) == f"=C{new + 1}&$A${new + 1}"
        assert relocate(f"='{PLAN_SHEET}'!C{old + 1}", "Notes", moves) == f"='{PLAN_SHEET}'!B{new + 1}"
        assert relocate(f"=Notes!A{old + 1}", PLAN_SHEET, moves) == f"=Notes!A{old + 1}"
    first, last = min(old_rows), max(old_rows)
    assert relocate(f"=SUM(B{first + 1}:B{last + 1})", PLAN_SHEET, moves) == (
        f"=SUM(A{HEADER_ROW + 2}:A{HEADER_ROW + 1 + len(old_rows)})"
    )


def test_the_sheet_scans_find_the_same_in_small_windows_as_in_one(central, monkeypatch):
    """The plan sheet is read in overlapping windows: cut small, every formula, format and
    tag is still found exactly once."""
    from xlplan import safety_gate, sheet_layers

    def scan():
        layers = sheet_layers.sheet_layers(central.plan, [PLAN_SHEET], {PLAN_SHEET: {21, 22}})
        with zipfile.ZipFile(central.plan) as archive:
            part = safety_gate.sheet_parts(archive)[PLAN_SHEET]
            counts = sheet_layers._layer(
                archive,
                part,
                {},
                None,
                {
                    "colour": re.compile(rb"<c r="),
                    "cols": re.compile(rb"<col\b"),
                    "autoFilter": re.compile(rb"<autoFilter\b"),
                },
            ).counts
        return layers[PLAN_SHEET], counts

    whole, whole_counts = scan()
    monkeypatch.setattr(sheet_layers, "SCAN_CHUNK", 700)
    monkeypatch.setattr(sheet_layers, "SCAN_OVERLAP", 1500)
    cut, cut_counts = scan()

    assert whole.formulas and whole.formats and whole.widths
    assert (cut.formulas, cut.formats, cut.widths) == (whole.formulas, whole.formats, whole.widths)
    assert cut_counts == whole_counts
    assert whole_counts["colour"] > 1000 and whole_counts["autoFilter"] == 1


# --- spare-row updates, in every layout ---------------------------------------------------------


@pytest.mark.parametrize("seed", sorted(SEED_SOURCES))
def test_a_spare_row_update_is_refused_and_a_proposal_accepted_in_every_layout(seed, tmp_path):
    """Each layout says what an update holds (its rating, its evidence columns); a spare row
    holding only that is refused, one naming an action is a proposal."""
    from xlplan.layout import load_layout

    layout, _ = load_layout(SEED_SOURCES[seed])
    plan, outbox = tmp_path / "plan.xlsx", tmp_path / "outbox"
    assert (
        invoke(
            "import",
            EXAMPLES / seed / "source.csv",
            "-o",
            plan,
            "--layout",
            SEED_SOURCES[seed],
            *SEED_ROUTES.get(seed, []),
        ).exit_code
        == 0
    )
    assert invoke("template", plan, "-o", outbox, "--cycle", "Q1").exit_code == 0
    template = sorted(outbox.glob("*.xlsx"))[0]
    update = {layout.evidence_fields[0]: "Done; minutes of 12/06 attached.", layout.service_rating: "Purple"}
    described = next(
        c.field for c in layout.columns if c.type == "long_text" and c.field not in layout.evidence_fields
    )
    proposal = {layout.reference: "99.1", described: "Weekly safety huddle on every ward."}
    fill_in(template, tmp_path / "update.xlsx", {}, proposals=[update])
    fill_in(template, tmp_path / "proposal.xlsx", {}, proposals=[proposal])

    refused = invoke("validate", tmp_path / "update.xlsx", "--plan", plan, "--json")
    accepted = invoke("validate", tmp_path / "proposal.xlsx", "--plan", plan, "--json")

    assert refused.exit_code == 1, refused.output
    codes = [p["code"] for p in json.loads(refused.output)["files"][0]["problems"]]
    assert "update-in-spare-row" in codes and "proposed-action" not in codes
    codes = [p["code"] for p in json.loads(accepted.output)["files"][0]["problems"]]
    assert "proposed-action" in codes and "update-in-spare-row" not in codes
