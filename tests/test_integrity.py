"""A master the committee can believe: no return can put a cell on the wrong action, drop a
valid edit, or revert what the central team changed after issue.

Each story builds real workbooks: the LPT plan imported and issued through the CLI, a
service's return edited with openpyxl the way Excel leaves it (sorted without the hidden ID
column, IDs cleared, pasted into a new workbook, a row copied, the hidden copy of the issued
values edited), then `xlplan merge` through the CLI; the assertions read the written master
back and compare every action's cells with what must be there.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path

import openpyxl
import pytest
from conftest import (
    CQC,
    FIRST_DATA_ROW,
    HEADER_ROW,
    ID_HEADER,
    ISSUED_SHEET,
    LPT_SOURCE,
    PLAN_SHEET,
    H,
    invoke,
    plan_table,
    sheet_values,
    write_csv,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlplan.packed import unpack_rows
from xlplan.simulate import fill_in

SERVICE_HEADERS = [c.header for c in CQC.columns if c.owner == "service"]
LAYOUT_WIDTH = len(CQC.columns)  # the ID column is the next one in a template
COL = {c.field: i for i, c in enumerate(CQC.columns, start=1)}  # field -> 1-based column
CYCLE = "2025-Q1"
AS_OF = "2017-07-31"


@pytest.fixture(scope="module")
def issued(tmp_path_factory) -> Path:
    """The LPT master, issued for CYCLE: plan.xlsx and outbox/ in one folder."""
    folder = tmp_path_factory.mktemp("issued")
    assert invoke("import", LPT_SOURCE, "-o", folder / "plan.xlsx").exit_code == 0
    result = invoke("template", folder / "plan.xlsx", "-o", folder / "outbox", "--cycle", CYCLE)
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def cycle(issued: Path, tmp_path: Path) -> Path:
    """A private copy of the issued cycle, for a test that changes things."""
    shutil.copytree(issued, tmp_path / "cycle")
    (tmp_path / "cycle" / "inbox").mkdir()
    return tmp_path / "cycle"


def actions_by_id(path: Path) -> dict[str, dict[str, object]]:
    _, rows = plan_table(path)
    return {str(r[ID_HEADER]): r for r in rows}


def merge(cycle: Path, *extra: object):
    out = cycle / "out.xlsx"
    result = invoke("merge", cycle / "plan.xlsx", cycle / "inbox", "-o", out, "--as-of", AS_OF, *extra)
    return result, out


def issues(path: Path) -> list[dict[str, object]]:
    rows = sheet_values(path, "Issues")
    start = next(i for i, r in enumerate(rows) if r and r[0] == "Severity")
    header = [str(c) for c in rows[start]]
    return [dict(zip(header, r, strict=False)) for r in rows[start + 1 :] if any(r)]


def template_rows(sheet) -> list[int]:
    """The rows of issued actions (not the spare rows) of a template's plan sheet."""
    rows = []
    for row in range(FIRST_DATA_ROW, sheet.max_row + 1):
        value = sheet.cell(row, LAYOUT_WIDTH + 1).value
        if value and not str(value).startswith("new-"):
            rows.append(row)
    return rows


def edit_return(source: Path, target: Path, change) -> Path:
    book = openpyxl.load_workbook(source)
    change(book)
    book.save(target)
    return target


def ref_of(row: dict[str, object]) -> str:
    return str(row[H["action_ref"]])


def expected_after(before: dict[str, dict], edits: dict[tuple[str, str], str], service: str) -> dict:
    """The master as it must be: `before` with each (reference, field) edit on the service's row."""
    after = {k: dict(v) for k, v in before.items()}
    for (ref, field), value in edits.items():
        [action_id] = [
            k for k, v in before.items() if ref_of(v) == ref and v[H["directorate"]] in (service, "")
        ]
        after[action_id][H[field]] = value
    return after


def layout_cells(table: dict[str, dict]) -> dict[str, dict]:
    return {k: {h: v[h] for h in H.values()} for k, v in table.items()}


CHS_EDITS = {
    ("2.1", "directorate_rag"): "Amber",
    ("2.1.1", "comments"): "Audit of 2.1.1 done.",
    ("5.2.1", "directorate_rag"): "Green",
    ("5.2.3", "comments"): "Training dates booked for 5.2.3.",
    ("5.2.10", "directorate_rag"): "Red",
    ("5.2.13", "comments"): "Escalated: 5.2.13 slipped.",
}


# --- 1. sorted without the hidden ID column -------------------------------------------------


def sort_visible_columns(book, key=lambda values: str(values[3]), reverse=True) -> None:
    """Excel's sort with 'Continue with the current selection' over the visible columns:
    every cell of the layout moves with its row, the hidden ID column stays where it was."""
    sheet = book[PLAN_SHEET]
    rows = template_rows(sheet)
    values = [[sheet.cell(r, c).value for c in range(1, LAYOUT_WIDTH + 1)] for r in rows]
    values.sort(key=key, reverse=reverse)
    for r, row_values in zip(rows, values, strict=True):
        for c, value in enumerate(row_values, start=1):
            sheet.cell(r, c).value = value


def test_a_return_sorted_without_its_hidden_id_column_is_refused_whole(cycle: Path) -> None:
    filled = cycle / "filled.xlsx"
    fill_in(cycle / "outbox" / "CHS.xlsx", filled, CHS_EDITS)
    edit_return(filled, cycle / "inbox" / "CHS.xlsx", sort_visible_columns)
    before = actions_by_id(cycle / "plan.xlsx")

    result, out = merge(cycle)

    assert result.exit_code == 0, result.output
    assert layout_cells(actions_by_id(out)) == layout_cells(before)  # no cell moved anywhere
    assert "[rows-sorted]" in result.output
    [refusal] = [i for i in issues(out) if i["Code"] == "rows-sorted"]
    assert refusal["Severity"] == "error"
    assert refusal["File"] == "CHS.xlsx"
    assert "sorted (or rows moved) without its hidden ID column" in refusal["Message"]
    assert "Nothing from this file was applied" in refusal["Message"]
    # One message for the file, not one per row.
    assert [i["Code"] for i in issues(out) if i["File"] == "CHS.xlsx"] == ["rows-sorted"]
    [missing] = [i for i in issues(out) if i["Code"] == "no-return" and i["Service"] == "CHS"]
    assert "refused" in missing["Message"]


def test_two_rows_swapped_without_their_ids_are_each_applied_to_their_own_action(cycle: Path) -> None:
    filled = cycle / "filled.xlsx"
    edits = {
        ("5.2.1", "comments"): "Only on 5.2.1",
        ("5.2.2", "directorate_rag"): "Blue",
        ("5.2.2", "comments"): "Evidence for 5.2.2 on the drive.",
    }
    fill_in(cycle / "outbox" / "CHS.xlsx", filled, edits)

    def swap(book) -> None:
        sheet = book[PLAN_SHEET]
        rows = {str(sheet.cell(r, 4).value): r for r in template_rows(sheet)}
        a, b = rows["5.2.1"], rows["5.2.2"]
        for c in range(1, LAYOUT_WIDTH + 1):  # the visible cells only
            sheet.cell(a, c).value, sheet.cell(b, c).value = sheet.cell(b, c).value, sheet.cell(a, c).value

    edit_return(filled, cycle / "inbox" / "CHS.xlsx", swap)
    before = actions_by_id(cycle / "plan.xlsx")

    result, out = merge(cycle)

    assert result.exit_code == 0, result.output
    assert layout_cells(actions_by_id(out)) == layout_cells(expected_after(before, edits, "CHS"))
    [moved] = [i for i in issues(out) if i["Code"] == "row-moved"]
    assert moved["Severity"] == "info"
    assert moved["Message"].startswith("2 row(s) (")


# --- 2. hidden IDs cleared -------------------------------------------------------------------


def test_cleared_hidden_ids_are_matched_by_the_locked_cells_and_every_edit_applied(cycle: Path) -> None:
    filled = cycle / "filled.xlsx"
    fill_in(cycle / "outbox" / "CHS.xlsx", filled, CHS_EDITS)

    def clear_ids(book) -> None:
        sheet = book[PLAN_SHEET]
        for row in template_rows(sheet):
            sheet.cell(row, LAYOUT_WIDTH + 1).value = None

    edit_return(filled, cycle / "inbox" / "CHS.xlsx", clear_ids)
    before = actions_by_id(cycle / "plan.xlsx")

    result, out = merge(cycle)

    assert result.exit_code == 0, result.output
    assert layout_cells(actions_by_id(out)) == layout_cells(expected_after(before, CHS_EDITS, "CHS"))
    assert not [i for i in issues(out) if i["Severity"] == "error" and i["File"] == "CHS.xlsx"]


# --- 3. pasted into a new workbook ----------------------------------------------------------


def paste_into_new_workbook(source: Path, target: Path) -> Path:
    sheet = openpyxl.load_workbook(source)[PLAN_SHEET]
    book = openpyxl.Workbook()
    book.active.title = PLAN_SHEET
    for row in sheet.iter_rows(min_row=1, max_col=LAYOUT_WIDTH, values_only=True):
        book.active.append(list(row))
    book.save(target)
    return target


def test_a_pasted_return_never_reverts_a_central_edit_made_after_issue(cycle: Path) -> None:
    # After issue the central team writes into a service column of 5.2.3.
    book = openpyxl.load_workbook(cycle / "plan.xlsx")
    sheet = book[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    row = next(
        r
        for r in range(FIRST_DATA_ROW, sheet.max_row + 1)
        if sheet.cell(r, header.index(H["action_ref"]) + 1).value == "5.2.4"
    )
    sheet.cell(row, header.index(H["comments"]) + 1).value = "Central: chased on 03/07."
    book.save(cycle / "plan.xlsx")
    before = actions_by_id(cycle / "plan.xlsx")
    filled = cycle / "filled.xlsx"
    fill_in(cycle / "outbox" / "CHS.xlsx", filled, CHS_EDITS)
    paste_into_new_workbook(filled, cycle / "inbox" / "CHS pasted.xlsx")

    result, out = merge(cycle)

    assert result.exit_code == 0, result.output
    after = actions_by_id(out)
    assert layout_cells(after) == layout_cells(expected_after(before, CHS_EDITS, "CHS"))
    assert [a[H["comments"]] for a in after.values() if ref_of(a) == "5.2.4"] == ["Central: chased on 03/07."]
    assert [
        i["Code"]
        for i in issues(out)
        if i["File"] == "CHS pasted.xlsx" and i["Severity"] != "info" and i["Code"] != "overdue"
    ] == ["no-metadata"]


def small_plan(folder: Path, refs: list[str]) -> Path:
    """A plan whose references repeat or are blank, as some trusts' plans are."""
    headers = [c.header for c in CQC.columns]
    rows = [headers]
    for number, ref in enumerate(refs, start=1):
        row = dict.fromkeys(headers, "")
        row.update(
            {
                H["directorate"]: "CHS",
                H["action_ref"]: ref,
                H["action"]: f"Action number {number}, worded its own way.",
            }
        )
        rows.append(list(row.values()))
    source = write_csv(folder / "source.csv", rows)
    assert invoke("import", source, "-o", folder / "plan.xlsx").exit_code == 0
    assert invoke("template", folder / "plan.xlsx", "-o", folder / "outbox").exit_code == 0
    (folder / "inbox").mkdir()
    return folder


@pytest.mark.parametrize("pasted", [False, True], ids=["as-issued", "pasted"])
def test_repeated_and_blank_references_each_reach_their_own_action(tmp_path: Path, pasted: bool) -> None:
    refs = ["1", "2", "2", "", "", "3", "3.1", "3.1", "", "4"]
    folder = small_plan(tmp_path, refs)
    before = actions_by_id(folder / "plan.xlsx")
    order = [k for k, _ in sorted(before.items())]

    def type_updates(book) -> None:
        sheet = book[PLAN_SHEET]
        for number, row in enumerate(template_rows(sheet), start=1):
            sheet.cell(row, COL["directorate_rag"]).value = ["Red", "Amber", "Green"][number % 3]
            sheet.cell(row, COL["comments"]).value = f"Update for action number {number}"

    filled = edit_return(folder / "outbox" / "CHS.xlsx", folder / "filled.xlsx", type_updates)
    if pasted:
        paste_into_new_workbook(filled, folder / "inbox" / "CHS.xlsx")
    else:
        shutil.copy(filled, folder / "inbox" / "CHS.xlsx")

    result = invoke("merge", folder / "plan.xlsx", folder / "inbox", "-o", folder / "out.xlsx")

    assert result.exit_code == 0, result.output
    after = actions_by_id(folder / "out.xlsx")
    assert len(after) == len(refs)
    for number, action_id in enumerate(order, start=1):
        assert f"Action number {number}," in after[action_id][H["action"]]
        assert after[action_id][H["comments"]] == f"Update for action number {number}"
        assert after[action_id][H["directorate_rag"]] == ["Red", "Amber", "Green"][number % 3]


# --- 4. a row copied --------------------------------------------------------------------------


def test_an_exact_copy_of_a_row_counts_once_and_its_edit_is_applied(cycle: Path) -> None:
    edits = {("5.2.6", "comments"): "Completed the 5.2.6 audit.", ("5.2.6", "directorate_rag"): "Blue"}
    filled = fill_in_and_return(cycle, edits)

    def copy_row(book) -> None:
        sheet = book[PLAN_SHEET]
        source = next(r for r in template_rows(sheet) if sheet.cell(r, 4).value == "5.2.6")
        sheet.insert_rows(source + 1)
        for c in range(1, LAYOUT_WIDTH + 2):
            sheet.cell(source + 1, c).value = sheet.cell(source, c).value

    edit_return(filled, cycle / "inbox" / "CHS.xlsx", copy_row)
    before = actions_by_id(cycle / "plan.xlsx")

    result, out = merge(cycle)

    assert result.exit_code == 0, result.output
    assert layout_cells(actions_by_id(out)) == layout_cells(expected_after(before, edits, "CHS"))
    [copy] = [i for i in issues(out) if i["Code"] == "row-duplicated"]
    assert (copy["Severity"], copy["Action"]) == ("warning", "5.2.6")
    assert "counted once" in copy["Message"]


def test_two_copies_of_a_row_with_different_entries_are_refused_showing_both(cycle: Path) -> None:
    filled = fill_in_and_return(cycle, {("5.2.6", "comments"): "First version"})

    def copy_and_edit(book) -> None:
        sheet = book[PLAN_SHEET]
        source = next(r for r in template_rows(sheet) if sheet.cell(r, 4).value == "5.2.6")
        sheet.insert_rows(source + 1)
        for c in range(1, LAYOUT_WIDTH + 2):
            sheet.cell(source + 1, c).value = sheet.cell(source, c).value
        sheet.cell(source + 1, COL["comments"]).value = "Second version"

    edit_return(filled, cycle / "inbox" / "CHS.xlsx", copy_and_edit)
    before = actions_by_id(cycle / "plan.xlsx")

    result, out = merge(cycle)

    assert result.exit_code == 0, result.output
    assert layout_cells(actions_by_id(out)) == layout_cells(before)
    [refusal] = [i for i in issues(out) if i["Code"] == "row-duplicated"]
    assert refusal["Severity"] == "error"
    assert "'First version' vs 'Second version'" in refusal["Message"]


def fill_in_and_return(cycle: Path, edits) -> Path:
    filled = cycle / "filled.xlsx"
    fill_in(cycle / "outbox" / "CHS.xlsx", filled, edits)
    return filled


# --- 5. joint actions ---------------------------------------------------------------------------


JOINT_EDITS = {
    "FYPC": {
        ("5.1", "comments"): "FYPC: health visitor pathway agreed.",
        ("5.1", "directorate_rag"): "Green",
    },
    "CHS": {("5.1", "comments"): "CHS: community nursing audit due.", ("5.1", "directorate_rag"): "Red"},
}


def test_each_service_of_a_joint_action_writes_its_own_row_and_a_second_merge_changes_nothing(
    cycle: Path,
) -> None:
    for service, edits in JOINT_EDITS.items():
        fill_in(cycle / "outbox" / f"{service}.xlsx", cycle / "inbox" / f"{service}.xlsx", edits)
    before = actions_by_id(cycle / "plan.xlsx")

    result, out = merge(cycle)

    assert result.exit_code == 0, result.output
    after = actions_by_id(out)
    parts = {a[H["directorate"]]: a for a in after.values() if ref_of(a) == "5.1"}
    assert set(parts) == {"FYPC", "CHS"}
    for service, edits in JOINT_EDITS.items():
        for (_, field), value in edits.items():
            assert parts[service][H[field]] == value
    assert not [i for i in issues(out) if i["Code"] == "conflict"]
    expected = expected_after(before, {**JOINT_EDITS["FYPC"]}, "FYPC")
    expected = expected_after(expected, JOINT_EDITS["CHS"], "CHS")
    assert layout_cells(after) == layout_cells(expected)

    again = invoke("merge", out, cycle / "inbox", "-o", cycle / "again.xlsx", "--as-of", AS_OF)
    assert again.exit_code == 0, again.output
    assert "0 cell(s) changed" in again.output and "0 conflict(s)" in again.output
    assert layout_cells(actions_by_id(cycle / "again.xlsx")) == layout_cells(after)


def test_a_joint_action_made_in_the_master_is_split_at_the_next_template_with_a_notice(cycle: Path) -> None:
    book = openpyxl.load_workbook(cycle / "plan.xlsx")
    sheet = book[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    route, ref = header.index(H["directorate"]) + 1, header.index(H["action_ref"]) + 1
    row = next(r for r in range(FIRST_DATA_ROW, sheet.max_row + 1) if sheet.cell(r, ref).value == "7.1")
    sheet.cell(row, route).value = "CHS & Corporate"
    book.save(cycle / "plan.xlsx")

    result = invoke("template", cycle / "plan.xlsx", "-o", cycle / "next", "--cycle", "2025-Q2")

    assert result.exit_code == 0, result.output
    assert (
        "action 7.1, column 'Directorate': issued to CHS and Corporate: now one row per service"
        in result.output
    )
    _, rows = plan_table(cycle / "plan.xlsx")
    assert [r[H["directorate"]] for r in rows if ref_of(r) == "7.1"] == ["CHS", "Corporate"]
    for service in ("CHS", "Corporate"):
        _, issued_rows = plan_table(cycle / "next" / f"{service}.xlsx")
        assert [r[H["directorate"]] for r in issued_rows if ref_of(r) == "7.1"] == [service]


# --- the master's record of what it issued ---------------------------------------------------


def test_template_records_what_it_issued_in_the_master_and_keeps_the_previous_master(issued: Path):
    book = openpyxl.load_workbook(issued / "plan.xlsx", read_only=True)
    assert book["_xlplan_record"].sheet_state == "veryHidden"
    rows = unpack_rows([r[0] for r in sheet_values(issued / "plan.xlsx", "_xlplan_record")])
    assert rows[0][:5] == ["xlplan ID", "Service", "Cycle", "Issued at", "Locked"]
    _, master = plan_table(issued / "plan.xlsx")
    assert sorted(r[0] for r in rows[1:]) == sorted(str(a[ID_HEADER]) for a in master)
    assert {r[2] for r in rows[1:]} == {CYCLE}
    assert len(list(issued.glob("plan.before-template-*.xlsx"))) == 1


def test_an_edited_hidden_copy_of_the_issued_values_is_detected_and_not_trusted(cycle: Path) -> None:
    """The protection removed, a requirement rewritten, and the hidden issued copy rewritten to
    match so that the change looks as issued."""
    new_text = "Requirement met - please close."

    def forge(book) -> None:
        sheet = book[PLAN_SHEET]
        row = next(r for r in template_rows(sheet) if sheet.cell(r, 4).value == "5.2.5")
        sheet.protection.sheet = False
        sheet.cell(row, COL["provider_requirement"]).value = new_text
        hidden = book[ISSUED_SHEET]
        fields = [c.value for c in hidden[1]]
        for r in range(2, hidden.max_row + 1):
            if hidden.cell(r, fields.index("action_ref") + 1).value == "5.2.5":
                hidden.cell(r, fields.index("provider_requirement") + 1).value = new_text

    edit_return(cycle / "outbox" / "CHS.xlsx", cycle / "inbox" / "CHS.xlsx", forge)
    before = actions_by_id(cycle / "plan.xlsx")

    result, out = merge(cycle)

    assert result.exit_code == 0, result.output
    assert layout_cells(actions_by_id(out)) == layout_cells(before)
    codes = {i["Code"]: i for i in issues(out) if i["File"] == "CHS.xlsx"}
    assert "5.2.5" in codes["issued-values-changed"]["Message"]
    assert codes["locked-cell-changed"]["Action"] == "5.2.5"


def test_a_return_of_an_earlier_cycle_is_refused_by_merge_unless_accepted(cycle: Path) -> None:
    fill_in(cycle / "outbox" / "CHS.xlsx", cycle / "inbox" / "CHS.xlsx", {("2.1", "comments"): "Old"})
    result = invoke("template", cycle / "plan.xlsx", "-o", cycle / "next", "--cycle", "2025-Q2")
    assert result.exit_code == 0, result.output
    before = actions_by_id(cycle / "plan.xlsx")

    result, out = merge(cycle)

    assert result.exit_code == 0, result.output
    assert layout_cells(actions_by_id(out)) == layout_cells(before)
    [refusal] = [i for i in issues(out) if i["Code"] == "stale-return"]
    assert (refusal["Severity"], refusal["File"], refusal["Service"]) == ("error", "CHS.xlsx", "CHS")
    assert "issued for cycle '2025-Q1', but the master issued cycle '2025-Q2'" in refusal["Message"]
    assert "--accept-cycle 2025-Q1" in refusal["Message"]

    result, out = merge(cycle, "--accept-cycle", "2025-Q1")

    assert result.exit_code == 0, result.output
    expected = expected_after(before, {("2.1", "comments"): "Old"}, "CHS")
    assert layout_cells(actions_by_id(out)) == layout_cells(expected)
    [flag] = [i for i in issues(out) if i["Code"] == "other-cycle"]
    assert (flag["Severity"], flag["File"]) == ("warning", "CHS.xlsx")
    assert sheet_values(out, "Summary")[1][0].startswith("Cycle 2025-Q2 ")


# --- any mangling, no misplaced cell ---------------------------------------------------------


MANGLINGS = st.lists(
    st.sampled_from(["sort-some", "swap", "duplicate", "delete", "clear-ids", "clear-one-id"]),
    min_size=1,
    max_size=3,
)


def mangle(book, operations: list[str], rnd: random.Random) -> None:
    sheet = book[PLAN_SHEET]
    for operation in operations:
        rows = template_rows(sheet)
        if len(rows) < 3:
            return
        if operation == "sort-some":
            chosen = sorted(rnd.sample(rows, rnd.randint(2, min(6, len(rows)))))
            values = [[sheet.cell(r, c).value for c in range(1, LAYOUT_WIDTH + 1)] for r in chosen]
            rnd.shuffle(values)
            for r, row_values in zip(chosen, values, strict=True):
                for c, value in enumerate(row_values, start=1):
                    sheet.cell(r, c).value = value
        elif operation == "swap":
            a, b = rnd.sample(rows, 2)
            for c in range(1, LAYOUT_WIDTH + 1):
                first, second = sheet.cell(a, c), sheet.cell(b, c)
                first.value, second.value = second.value, first.value
        elif operation == "duplicate":
            source = rnd.choice(rows)
            sheet.insert_rows(source + 1)
            for c in range(1, LAYOUT_WIDTH + 2):
                sheet.cell(source + 1, c).value = sheet.cell(source, c).value
        elif operation == "delete":
            sheet.delete_rows(rnd.choice(rows))
        elif operation == "clear-ids":
            for r in rows:
                sheet.cell(r, LAYOUT_WIDTH + 1).value = None
        elif operation == "clear-one-id":
            sheet.cell(rnd.choice(rows), LAYOUT_WIDTH + 1).value = None


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=MANGLINGS, seed=st.integers(0, 10_000))
def test_no_returned_cell_ever_lands_on_another_action(issued: Path, tmp_path_factory, operations, seed):
    folder = tmp_path_factory.mktemp("mangled")
    rnd = random.Random(seed)
    # Every CHS action gets a rating and a comment that name it, so a misplaced cell shows.
    book = openpyxl.load_workbook(issued / "outbox" / "CHS.xlsx")
    sheet = book[PLAN_SHEET]
    typed: dict[str, tuple[str, str]] = {}
    for row in template_rows(sheet):
        action_id = str(sheet.cell(row, LAYOUT_WIDTH + 1).value)
        typed[action_id] = (rnd.choice(["Red", "Amber", "Green"]), f"update for {action_id}")
        sheet.cell(row, COL["directorate_rag"]).value = typed[action_id][0]
        sheet.cell(row, COL["comments"]).value = typed[action_id][1]
    mangle(book, operations, rnd)
    (folder / "inbox").mkdir()
    book.save(folder / "inbox" / "CHS.xlsx")
    before = actions_by_id(issued / "plan.xlsx")

    result = invoke("merge", issued / "plan.xlsx", folder / "inbox", "-o", folder / "out.xlsx")

    assert result.exit_code == 0, result.output
    after = actions_by_id(folder / "out.xlsx")
    assert set(after) == set(before)
    for action_id, action in after.items():
        for header in H.values():
            if action[header] != before[action_id][header]:
                # Only a CHS action's own service cells change, and only to what was typed on it.
                assert action_id in typed, (action_id, header)
                assert action[header] in typed[action_id], (operations, action_id, header, action[header])


def test_merge_time_is_recorded_as_a_date_not_text(cycle: Path) -> None:
    fill_in(
        cycle / "outbox" / "CHS.xlsx",
        cycle / "inbox" / "CHS.xlsx",
        {("5.2.9", "due"): dt.datetime(2017, 9, 30)},
    )
    result, out = merge(cycle)
    assert result.exit_code == 0, result.output
    [due] = [a[H["due"]] for a in actions_by_id(out).values() if ref_of(a) == "5.2.9"]
    assert isinstance(due, dt.date | dt.datetime)


def test_templates_issued_before_the_split_still_reach_each_services_own_row(tmp_path: Path) -> None:
    """A master and templates from before joint actions were split: both services' files carry
    the joint row's one ID. After the split each service's edit lands on its own row."""
    from xlplan.masterbook import write_master
    from xlplan.masterread import read_plan
    from xlplan.plan import now
    from xlplan.record import IssueRecord
    from xlplan.template import write_template

    assert invoke("import", LPT_SOURCE, "-o", tmp_path / "plan.xlsx").exit_code == 0
    plan = read_plan(tmp_path / "plan.xlsx")
    parts = [a for a in plan.actions if a.values["action_ref"] == "5.1"]
    parts[0].values["directorate"] = "FYPC & CHS"
    plan.actions.remove(parts[1])
    plan.record = IssueRecord()
    plan._routes = None
    write_master(plan, tmp_path / "plan.xlsx")
    routes, _ = plan.routes()
    (tmp_path / "inbox").mkdir()
    for service in JOINT_EDITS:
        actions = [a for a in plan.actions if service in routes[a.id]]
        write_template(
            plan,
            service,
            actions,
            tmp_path / f"{service}.xlsx",
            cycle=CYCLE,
            due=None,
            issued_at=now(),
            password="",
        )
        fill_in(tmp_path / f"{service}.xlsx", tmp_path / "inbox" / f"{service}.xlsx", JOINT_EDITS[service])

    result = invoke("merge", tmp_path / "plan.xlsx", tmp_path / "inbox", "-o", tmp_path / "out.xlsx")

    assert result.exit_code == 0, result.output
    rows = [a for a in actions_by_id(tmp_path / "out.xlsx").values() if ref_of(a) == "5.1"]
    assert [a[H["directorate"]] for a in rows] == ["FYPC", "CHS"]
    for row, service in zip(rows, ["FYPC", "CHS"], strict=True):
        assert row[H["comments"]] == JOINT_EDITS[service][("5.1", "comments")]
        assert row[H["directorate_rag"]] == JOINT_EDITS[service][("5.1", "directorate_rag")]
    assert not [i for i in issues(tmp_path / "out.xlsx") if i["Code"] == "conflict"]
    split = [i["Action"] for i in issues(tmp_path / "out.xlsx") if i["Code"] == "joint-action-split"]
    assert split == ["5.1"]
