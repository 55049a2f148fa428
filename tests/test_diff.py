"""`xlplan diff`: what changed between two versions of one master, matched by xlplan ID."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import openpyxl
import pytest
from conftest import (
    CQC,
    EXAMPLES,
    FIRST_DATA_ROW,
    HEADER_ROW,
    ID_HEADER,
    PLAN_SHEET,
    H,
    invoke,
    plan_table,
    sheet_values,
)

from xlplan import style
from xlplan.simulate import fill_in

CHANGED = style.CHANGED_FILL.lstrip("#").upper()
PROPOSED = style.PROPOSED_FILL.lstrip("#").upper()
REMOVED = "D9D9D9"  # grey: an action no longer in the newer master
EDITS = {
    ("5.2.1", "directorate_rag"): "Purple",
    ("5.2.1", "comments"): "Evidence pack sent to CompAss 30/06/2017 ✅",
    ("5.2.2", "comments"): "Two posts offered.\nStart dates agreed.",
    ("5.2.4", "manager"): "Zoë Ødegaard",
    ("5.2.9", "due"): dt.datetime(2017, 9, 30),
}


def by_id(path: Path) -> dict[str, dict[str, object]]:
    _, rows = plan_table(path)
    return {str(r[ID_HEADER]): r for r in rows}


def fill_of(cell) -> str | None:
    if cell.fill is None or cell.fill.fill_type != "solid":
        return None
    return str(cell.fill.fgColor.rgb)[-6:].upper()


@pytest.fixture(scope="module")
def versions(lpt_master, templates_dir, tmp_path_factory):
    """The master as imported, and the master after one merge (CHS returned, with a proposal)."""
    folder = tmp_path_factory.mktemp("diff")
    inbox = folder / "inbox"
    fill_in(
        templates_dir / "CHS.xlsx",
        inbox / "CHS.xlsx",
        EDITS,
        proposals=[{"action_ref": "5.2.14", "action": "Quarterly record-keeping audit."}],
    )
    merged = folder / "consolidated.xlsx"
    report = folder / "merge.json"
    result = invoke("merge", lpt_master, inbox, "-o", merged, "--json", report)
    assert result.exit_code == 0, result.output
    merge_report = json.loads(report.read_text(encoding="utf-8"))
    return folder, lpt_master, merged, merge_report


def changed_cells(merge_report) -> set[tuple[str, str]]:
    return {(c["id"], c["column"]) for c in merge_report["changes"] if c["kind"] != "proposed"}


def test_diff_prints_the_counts_and_each_change(run, versions):
    _, plan, merged, merge_report = versions

    result = run("diff", plan, merged)

    assert result.exit_code == 0, result.output
    count = len(changed_cells(merge_report))
    assert count == len(EDITS)
    assert f"{count} cell(s) changed, 1 action(s) added, 0 removed." in result.output
    assert "5.2.4" in result.output and "'Zoë Ødegaard'" in result.output
    assert "  added 5.2.14" in result.output


def test_diff_json_lists_changed_added_and_removed(run, versions):
    _, plan, merged, merge_report = versions

    result = run("diff", plan, merged, "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {(c["id"], c["column"]) for c in report["changed"]} == changed_cells(merge_report)
    due = next(c for c in report["changed"] if c["action"] == "5.2.9")
    assert (due["column"], due["new"]) == (H["due"], "30/09/2017")
    manager = next(c for c in report["changed"] if c["action"] == "5.2.4")
    assert manager["new"] == "Zoë Ødegaard"
    proposed = [c["id"] for c in merge_report["changes"] if c["kind"] == "proposed"]
    assert [a["id"] for a in report["added"]] == proposed
    assert [a["action"] for a in report["added"]] == ["5.2.14"]
    assert report["removed"] == []


def test_diff_output_highlights_the_changed_cells_with_was_notes(run, versions):
    folder, plan, merged, merge_report = versions
    out = folder / "diff.xlsx"
    old = by_id(plan)

    result = run("diff", plan, merged, "-o", out)

    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out)[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    id_col = header.index(ID_HEADER) + 1
    marked: dict[tuple[str, str], object] = {}
    added_rows = []
    for row in range(FIRST_DATA_ROW, sheet.max_row + 1):
        action_id = sheet.cell(row, id_col).value
        for index, column in enumerate(CQC.columns, start=1):
            cell = sheet.cell(row, index)
            if action_id not in old:
                added_rows.append(fill_of(cell))
            elif fill_of(cell) or cell.comment:
                marked[(action_id, column.header)] = cell
    assert set(marked) == changed_cells(merge_report)
    for (action_id, header_text), cell in marked.items():
        assert fill_of(cell) == CHANGED
        before = old[action_id][header_text]
        assert cell.comment.text == f"Was: {before or '(empty)'}"
    assert set(added_rows) == {PROPOSED}


def test_a_removed_action_is_listed(run, versions, tmp_path):
    _, _, merged, _ = versions
    edited = tmp_path / "edited.xlsx"
    shutil.copy(merged, edited)
    book = openpyxl.load_workbook(edited)
    sheet = book[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    ref_col, id_col = header.index(H["action_ref"]) + 1, header.index(ID_HEADER) + 1
    row = next(r for r in range(FIRST_DATA_ROW, sheet.max_row + 1) if sheet.cell(r, ref_col).value == "5.2.3")
    removed_id = sheet.cell(row, id_col).value
    sheet.delete_rows(row)
    book.save(edited)

    result = run("diff", merged, edited, "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["removed"] == [{"id": removed_id, "action": "5.2.3"}]
    assert report["changed"] == [] and report["added"] == []
    out = tmp_path / "diff.xlsx"
    text = run("diff", merged, edited, "-o", out)
    assert "0 cell(s) changed, 0 action(s) added, 1 removed." in text.output
    assert "  removed 5.2.3" in text.output
    sheet = openpyxl.load_workbook(out)[PLAN_SHEET]
    last = [c for c in sheet[sheet.max_row]]
    status = header.index("Changed this cycle")
    assert (last[header.index(ID_HEADER)].value, last[status].value) == (removed_id, "removed")
    assert {fill_of(c) for c in last[: len(CQC.columns)]} == {REMOVED}


def test_a_changed_date_shows_as_a_date_on_the_diff_changes_sheet(run, versions, tmp_path):
    _, plan, merged, _ = versions
    out = tmp_path / "diff.xlsx"

    assert run("diff", plan, merged, "-o", out).exit_code == 0
    rows = sheet_values(out, "Changes")
    start = next(i for i, r in enumerate(rows) if r[0] == "Action")
    due = next(dict(zip(rows[start], r, strict=False)) for r in rows[start + 1 :] if r[0] == "5.2.9")
    assert due["New value"] in (dt.date(2017, 9, 30), dt.datetime(2017, 9, 30))


def test_a_plan_compared_with_itself_has_no_differences(run, versions):
    _, _, merged, _ = versions

    result = run("diff", merged, merged)

    assert result.exit_code == 0, result.output
    assert "0 cell(s) changed, 0 action(s) added, 0 removed." in result.output


def test_two_unrelated_plans_exit_2_with_a_message(run, versions, tmp_path):
    _, plan, _, _ = versions
    other = tmp_path / "eput.xlsx"
    assert (
        run("import", EXAMPLES / "eput-safety-2024" / "source.csv", "-o", other, "--layout", "eput").exit_code
        == 0
    )

    result = run("diff", plan, other)

    assert result.exit_code == 2, result.output
    assert "different plans" in result.output
    assert "Traceback" not in result.output


def test_a_missing_plan_exits_2_with_a_message(run, versions, tmp_path):
    _, plan, _, _ = versions

    result = run("diff", plan, tmp_path / "nope.xlsx")

    assert result.exit_code == 2, result.output
    assert re.search(r"nope\.xlsx.*not found", result.output)
