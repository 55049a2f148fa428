"""`xlplan merge`: services' returns applied to the master, three-way, with every change shown.

One whole LPT cycle is built once for the module, as it happens in a trust: the master is
imported and templates issued for 2017-Q2; compliance staff then edit the master in Excel
(openpyxl) while the templates are out; services fill in their workbooks (`fill_in`, which
edits a template the way a person in Excel does) and send them back, one twice, one after
removing the sheet protection, one not at all; then `xlplan merge` runs through the CLI.
Everything is checked on the workbooks written to disk: values with calamine, fills, notes
and charts with openpyxl.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pytest
from conftest import (
    CQC,
    FIRST_DATA_ROW,
    HEADER_ROW,
    ID_HEADER,
    LPT_SOURCE,
    PLAN_SHEET,
    H,
    all_sheet_values,
    edit_master,
    invoke,
    open_book,
    plan_table,
    sheet_values,
)

from xlplan import style
from xlplan.simulate import fill_in

LAYOUT_HEADERS = [c.header for c in CQC.columns]
STATUS_HEADER = "Changed this cycle"
CYCLE = "2017-Q2"
EPOCH = "1500000000"  # 2017-07-14: pins merge time stamps for the reproducibility check
SCALE = ["White", "Red", "Amber", "Green", "Purple", "Blue"]
CHANGED = style.CHANGED_FILL.lstrip("#").upper()
CONFLICT = style.CONFLICT_FILL.lstrip("#").upper()
PROPOSED = style.PROPOSED_FILL.lstrip("#").upper()
FORMULA_TEXT = "=SUM(A1:A3)"

# What compliance staff change in the master after the templates went out.
CENTRAL_GROUP = ("3.1", "group", "AMH/LD Divisional Assurance Group")  # a central column
CENTRAL_NOTE = ("5.2.3", "comments", "Central team: chased CHS for the audit on 03/07/2017.")
MASTER_SIDE = ("5.2.1", "comments", "Central team: awaiting the CHS evidence pack.")  # conflicts
SWAPPED = ("5.2.9", "5.2.10")  # rows moved out of order by hand in the master

# The returns: file name -> (service template, saved at, edits, proposals, unprotect).
AMH_LD_LATER = dt.datetime(2017, 7, 10, 16, 45)
AMH_LD_EARLIER = dt.datetime(2017, 7, 3, 9, 30)
PROPOSAL = {
    "action_ref": "11.8",
    "directorate": "AMH/LD",
    "action": "Introduce a weekly ward medicines-safety huddle on every AMH/LD ward.",
    "comments": "Proposed after the June incident review.",
    "directorate_rag": "White",
}
RETURNS = {
    "CHS.xlsx": (
        "CHS.xlsx",
        dt.datetime(2017, 7, 5, 11, 0),
        {
            ("2.1", "directorate_rag"): "Amber",
            ("2.1.1", "directorate_rag"): "green",  # typed past the dropdown's spelling
            ("2.1.2", "directorate_rag"): "Yellow",  # not on the scale: refused
            ("5.1", "directorate_rag"): "Green",
            ("5.2.1", "directorate_rag"): "Purple",
            ("5.2.1", "comments"): "Evidence pack sent to CompAss 30/06/2017.",  # conflict
            ("5.2.2", "comments"): "Recruitment to two band 6 posts under way.\r\n"
            "Interviews 20/07/2017; offers expected in August.",
            ("5.2.4", "manager"): "Zoë ✅",
            ("5.2.5", "comments"): FORMULA_TEXT,  # typed as text, must stay text
            ("5.2.9", "due"): dt.datetime(2017, 9, 30),  # a real date typed in Excel
            ("5.2.10", "comments"): "Après l'audit: «conforme» — 12/12 records ✔",
        },
        [],
        False,
    ),
    # Removed the sheet protection and edited a locked requirement cell.
    "FYPC.xlsx": (
        "FYPC.xlsx",
        dt.datetime(2017, 7, 6, 14, 0),
        {
            ("2.2", "provider_requirement"): "Requirement met - please close.",
            ("2.2", "comments"): None,  # cleared: an edit like any other
            ("2.2.1", "directorate_rag"): "Green",
            ("2.2.1", "comments"): "Care plan template revised and live on SystmOne.",
            ("17.2.1", "directorate_rag"): "Blue",
            ("17.2.1", "comments"): "Assured by the committee 15/06/2017.",
        },
        [],
        True,
    ),
    # Returned under another name.
    "Corporate return FINAL v2.xlsx": (
        "Corporate.xlsx",
        dt.datetime(2017, 7, 7, 9, 0),
        {
            ("1", "directorate_rag"): "Amber",
            ("1", "comments"): "Core standards agreed;\ndirectorate training reviews due September.",
            ("2", "directorate_rag"): "Green",
        },
        [],
        False,
    ),
    # AMH/LD sent two: this one, saved last (its name sorts first, its file time is older) ...
    "AMH-LD.xlsx": (
        "AMH-LD.xlsx",
        AMH_LD_LATER,
        {
            ("3.1", "directorate_rag"): "Green",
            ("3.1", "comments"): "Audit of care plans completed in June; 86% compliant.\n"
            "Re-audit booked for September.",
            ("4.1", "directorate_rag"): "Purple",
            ("4.1", "comments"): "Minutes 12/06/2017 record sign-off. Evidence: CQC/4.1.",
            ("11.2", "manager"): "Head of Nursing, AMH/LD — Zoë Ødegaard",
        },
        [PROPOSAL],
        False,
    ),
    # ... and this earlier draft, which must not be applied.
    "AMH-LD v2.xlsx": (
        "AMH-LD.xlsx",
        AMH_LD_EARLIER,
        {
            ("3.1", "directorate_rag"): "Red",
            ("3.1", "comments"): "Draft: audit not started.",
            ("4.2", "directorate_rag"): "Red",
        },
        [],
        False,
    ),
}
APPLIED_FILES = ["CHS.xlsx", "FYPC.xlsx", "Corporate return FINAL v2.xlsx", "AMH-LD.xlsx"]
REFUSED = {("2.1.2", "directorate_rag"), ("2.2", "provider_requirement")}
NORMALISED = {"green": "Green"}


# --- helpers ------------------------------------------------------------------------------


def set_saved_time(path: Path, when: dt.datetime) -> None:
    """Set the time the workbook says it was saved (docProps/core.xml), as Excel records it.

    openpyxl's save always stamps `properties.modified` with the current time, so the part
    is rewritten after saving.
    """
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as archive:
        parts = [(info, archive.read(info.filename)) for info in archive.infolist()]
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in parts:
            if info.filename == "docProps/core.xml":
                data, count = re.subn(rb"(<dcterms:modified[^>]*>)[^<]*(<)", rb"\g<1>" + stamp + rb"\2", data)
                assert count == 1, data
            archive.writestr(info, data)
    tmp.replace(path)


def by_id(path: Path) -> dict[str, dict[str, object]]:
    """The plan sheet's actions as {xlplan ID: {header: value}}, read with calamine."""
    _, rows = plan_table(path)
    table = {str(r[ID_HEADER]): r for r in rows}
    assert len(table) == len(rows), "two rows share an xlplan ID"
    return table


def refs_in_order(path: Path) -> list[str]:
    _, rows = plan_table(path)
    return [str(r[H["action_ref"]]) for r in rows]


def table_after(path: Path, sheet: str, first_header: str) -> list[dict[str, object]]:
    """A report sheet (Changes, Issues, Change log, Summary): rows under its header row."""
    rows = sheet_values(path, sheet)
    start = next(i for i, r in enumerate(rows) if r and r[0] == first_header)
    header = [str(c) for c in rows[start]]
    body = [dict(zip(header, r, strict=False)) for r in rows[start + 1 :]]
    return [r for r in body if any(v not in ("", None) for v in r.values())]


def sheet_title(path: Path, sheet: str) -> str:
    return str(sheet_values(path, sheet)[0][0])


def plan_cells(path: Path):
    """openpyxl view of the plan sheet's data cells in the layout columns:
    {(xlplan ID, field): cell}, and the ID of each data row."""
    book = openpyxl.load_workbook(path)
    sheet = book[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    id_col = header.index(ID_HEADER) + 1
    cells = {}
    for row in range(FIRST_DATA_ROW, sheet.max_row + 1):
        action_id = sheet.cell(row, id_col).value
        if not action_id:
            continue
        for index, column in enumerate(CQC.columns, start=1):
            cells[(action_id, column.field)] = sheet.cell(row, index)
    return cells


def fill_of(cell) -> str | None:
    if cell.fill is None or cell.fill.fill_type != "solid":
        return None
    return str(cell.fill.fgColor.rgb)[-6:].upper()


def ids_of(path: Path) -> list[str]:
    """The issued actions of a template, by xlplan ID."""
    _, rows = plan_table(path)
    return [str(r[ID_HEADER]) for r in rows if r[ID_HEADER] and not str(r[ID_HEADER]).startswith("new-")]


def ref_to_id(path: Path) -> dict[str, str]:
    _, rows = plan_table(path)
    return {str(r[H["action_ref"]]): str(r[ID_HEADER]) for r in rows}


def expected_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return NORMALISED.get(value, value).replace("\r\n", "\n")
    return value


def comparable(value: object) -> object:
    """calamine's reading of a cell, as the values typed compare with it ("" is empty)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return value.replace("\r\n", "\n") or None
    return value


def make_inbox(outbox: Path, inbox: Path, names=None) -> None:
    for name in names or RETURNS:
        template, saved, edits, proposals, unprotect = RETURNS[name]
        target = inbox / name
        fill_in(outbox / template, target, edits, proposals=proposals, unprotect=unprotect)
        set_saved_time(target, saved)
    # The earlier-saved AMH/LD file has the newer file time: the saved time must decide.
    os.utime(inbox / "AMH-LD.xlsx", (time.time() - 86400, time.time() - 86400))


def merge(*args, env=None):
    return invoke("merge", *args, env=env or {"SOURCE_DATE_EPOCH": EPOCH})


# --- the cycle ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lpt(tmp_path_factory):
    """Import, issue, edit centrally, return, merge: the whole LPT cycle, once."""
    folder = tmp_path_factory.mktemp("lpt-cycle")
    plan, outbox, inbox = folder / "plan.xlsx", folder / "outbox", folder / "inbox"
    result = invoke("import", LPT_SOURCE, "-o", plan)
    assert result.exit_code == 0, result.output
    result = invoke("template", plan, "-o", outbox, "--cycle", CYCLE, "--due", "14/07/2017")
    assert result.exit_code == 0, result.output
    issued = folder / "plan-as-issued.xlsx"
    shutil.copy(plan, issued)
    edit_master(
        plan,
        {(ref, field): value for ref, field, value in (CENTRAL_GROUP, CENTRAL_NOTE, MASTER_SIDE)},
        swap=SWAPPED,
    )
    make_inbox(outbox, inbox)
    before_bytes = plan.read_bytes()
    out, report = folder / "out.xlsx", folder / "report.json"
    result = merge(plan, inbox, "-o", out, "--as-of", "2017-07-31", "--json", report)
    ids = ref_to_id(plan)
    # The edits that must land: those of the applied returns, less the refused ones.
    expected: dict[tuple[str, str], object] = {}
    for name in APPLIED_FILES:
        for (ref, field), value in RETURNS[name][2].items():
            if (ref, field) not in REFUSED:
                expected[(ids[ref], field)] = expected_value(value)
    return SimpleNamespace(
        folder=folder,
        plan=plan,
        issued=issued,
        outbox=outbox,
        inbox=inbox,
        out=out,
        report=report,
        result=result,
        ids=ids,
        expected=expected,
        before=by_id(plan),
        after=by_id(out),
        before_bytes=before_bytes,
    )


@pytest.fixture(scope="module")
def cells(lpt):
    return plan_cells(lpt.out)


@pytest.fixture(scope="module")
def issues(lpt):
    return table_after(lpt.out, "Issues", "Severity")


@pytest.fixture(scope="module")
def proposed_id(lpt):
    new = [i for i in lpt.after if i not in lpt.before]
    assert len(new) == 1, new
    return new[0]


def issues_with(issues, code):
    return [i for i in issues if i["Code"] == code]


# --- the first merge ------------------------------------------------------------------------


def test_merge_writes_the_output_and_says_what_it_did(lpt):
    result = lpt.result

    assert result.exit_code == 0, result.output
    assert lpt.out.exists()
    assert "Read 5 return(s)" in result.output
    assert f"{len(lpt.expected) + 1} cell(s) changed" in result.output  # + the proposed action
    assert "2 refused, 1 conflict(s), 1 service(s) with no return" in result.output
    assert lpt.plan.read_bytes() == lpt.before_bytes, "-o must leave the master alone"


def test_every_valid_edit_is_applied_exactly_as_typed(lpt):
    for (action_id, field), value in lpt.expected.items():
        got = comparable(lpt.after[action_id][H[field]])
        assert got == value, (action_id, field)
    chs = {ref: lpt.after[lpt.ids[ref]] for ref in ("2.1.1", "5.2.2", "5.2.4", "5.2.9", "5.2.10")}
    assert chs["2.1.1"][H["directorate_rag"]] == "Green"
    assert chs["5.2.2"][H["comments"]].count("\n") == 1
    assert chs["5.2.4"][H["manager"]] == "Zoë ✅"
    assert comparable(chs["5.2.9"][H["due"]]) == dt.date(2017, 9, 30)
    assert chs["5.2.10"][H["comments"]] == "Après l'audit: «conforme» — 12/12 records ✔"
    assert lpt.before[lpt.ids["2.2"]][H["comments"]] and not lpt.after[lpt.ids["2.2"]][H["comments"]]


def test_no_action_and_no_value_is_lost(lpt, proposed_id):
    assert set(lpt.after) == set(lpt.before) | {proposed_id}
    for action_id, before in lpt.before.items():
        for field in CQC.fields:
            if (action_id, field) in lpt.expected:
                continue
            assert lpt.after[action_id][H[field]] == before[H[field]], (before[H["action_ref"]], field)


def test_exactly_the_changed_cells_are_highlighted(lpt, cells, proposed_id):
    highlighted = {key for key, cell in cells.items() if fill_of(cell)}
    proposed_row = {(proposed_id, f) for f in CQC.fields}

    assert highlighted - proposed_row == set(lpt.expected)
    assert {key for key in lpt.expected if fill_of(cells[key]) == CONFLICT} == {
        (lpt.ids["5.2.1"], "comments")
    }
    assert {fill_of(cells[key]) for key in lpt.expected} == {CHANGED, CONFLICT}


def test_each_highlighted_cell_has_a_note_with_the_previous_value_service_and_file(lpt, cells):
    noted = {key for key, cell in cells.items() if cell.comment}
    assert noted == set(lpt.expected)
    service_of = {
        "CHS.xlsx": "CHS",
        "FYPC.xlsx": "FYPC",
        "Corporate return FINAL v2.xlsx": "Corporate",
        "AMH-LD.xlsx": "AMH/LD",
    }
    for name in APPLIED_FILES:
        for ref, field in RETURNS[name][2]:
            if (ref, field) in REFUSED:
                continue
            note = cells[(lpt.ids[ref], field)].comment.text
            previous = lpt.before[lpt.ids[ref]][H[field]]
            assert service_of[name] in note and name in note, note
            assert f"Previous value: {previous or '(empty)'}" in note, note


def test_the_changes_sheet_lists_one_row_per_changed_cell(lpt, proposed_id):
    rows = table_after(lpt.out, "Changes", "Merged at")
    cells_changed = [(r["xlplan ID"], r["Column"]) for r in rows if r["Kind"] != "proposed"]

    assert len(cells_changed) == len(set(cells_changed))
    assert set(cells_changed) == {(i, H[f]) for i, f in lpt.expected}
    assert [(r["xlplan ID"], r["Action"]) for r in rows if r["Kind"] == "proposed"] == [(proposed_id, "11.8")]
    assert f"cycle {CYCLE}" in sheet_title(lpt.out, "Changes")
    row = next(r for r in rows if r["Action"] == "5.2.4")
    assert (row["Service"], row["File"], row["Old value"], row["New value"]) == (
        "CHS",
        "CHS.xlsx",
        "",
        "Zoë ✅",
    )


def test_a_date_on_the_changes_sheet_stays_a_date(lpt):
    rows = table_after(lpt.out, "Changes", "Merged at")
    row = next(r for r in rows if r["Action"] == "5.2.9")

    assert comparable(row["New value"]) == dt.date(2017, 9, 30)


def test_the_issues_sheet_lists_every_refusal(lpt, issues):
    errors = {
        (i["Code"], i["Service"], i["File"], i["Action"], i["Column"])
        for i in issues
        if i["Severity"] == "error"
    }

    assert errors == {
        ("invalid-rating", "CHS", "CHS.xlsx", "2.1.2", H["directorate_rag"]),
        ("locked-cell-changed", "FYPC", "FYPC.xlsx", "2.2", H["provider_requirement"]),
    }
    assert {i["Code"] for i in issues} >= {
        "conflict",
        "superseded",
        "no-return",
        "proposed-action",
        "rating-normalised",
    }


def test_central_edits_made_after_issue_survive(lpt, issues):
    for ref, field, value in (CENTRAL_GROUP, CENTRAL_NOTE):
        assert lpt.after[lpt.ids[ref]][H[field]] == value
    # The service returned its own cells of 3.1 and left 5.2.3's comment alone: no conflict.
    assert [i["Action"] for i in issues_with(issues, "conflict")] == ["5.2.1"]


def test_a_conflict_keeps_both_values(lpt, issues, cells):
    ref, field, master_value = MASTER_SIDE
    service_value = RETURNS["CHS.xlsx"][2][(ref, field)]
    [conflict] = issues_with(issues, "conflict")

    assert lpt.after[lpt.ids[ref]][H[field]] == service_value
    assert master_value in cells[(lpt.ids[ref], field)].comment.text
    assert (conflict["Service"], conflict["File"], conflict["Column"], conflict["Severity"]) == (
        "CHS",
        "CHS.xlsx",
        H[field],
        "warning",
    )
    assert master_value in conflict["Message"]
    assert "conflict" in lpt.after[lpt.ids[ref]][STATUS_HEADER]


def test_a_locked_cell_edited_after_removing_the_protection_is_refused(lpt, issues):
    issued = by_id(lpt.issued)[lpt.ids["2.2"]][H["provider_requirement"]]
    [refusal] = issues_with(issues, "locked-cell-changed")

    assert lpt.after[lpt.ids["2.2"]][H["provider_requirement"]] == issued
    assert refusal["Value"] == "Requirement met - please close."
    # The rest of that return is applied.
    assert lpt.after[lpt.ids["2.2.1"]][H["directorate_rag"]] == "Green"


def test_an_invalid_rating_is_refused_and_the_old_rating_kept(lpt, issues):
    [refusal] = issues_with(issues, "invalid-rating")

    assert (
        lpt.after[lpt.ids["2.1.2"]][H["directorate_rag"]]
        == lpt.before[lpt.ids["2.1.2"]][H["directorate_rag"]]
    )
    assert (refusal["Value"], refusal["Cell"]) == ("Yellow", "N6")


def test_a_proposed_action_is_added_with_a_new_id_and_flagged(lpt, proposed_id, cells):
    action = lpt.after[proposed_id]

    assert proposed_id not in lpt.before and re.fullmatch(r"A\d{4}", proposed_id)
    for field, value in PROPOSAL.items():
        assert action[H[field]] == value
    assert "proposed" in action[STATUS_HEADER] and "AMH/LD" in action[STATUS_HEADER]
    assert {fill_of(cells[(proposed_id, f)]) for f in CQC.fields} == {PROPOSED}


def test_the_later_saved_return_is_applied_and_the_other_listed_as_superseded(lpt, issues):
    later = RETURNS["AMH-LD.xlsx"][2]
    assert lpt.after[lpt.ids["3.1"]][H["directorate_rag"]] == later[("3.1", "directorate_rag")]
    assert lpt.after[lpt.ids["4.2"]][H["directorate_rag"]] == lpt.before[lpt.ids["4.2"]][H["directorate_rag"]]
    [superseded] = issues_with(issues, "superseded")
    assert (superseded["Service"], superseded["File"]) == ("AMH/LD", "AMH-LD v2.xlsx")
    assert "AMH-LD.xlsx" in superseded["Message"]


def test_a_service_with_no_return_is_listed_on_issues_and_summary(lpt, issues):
    assert [i["Service"] for i in issues_with(issues, "no-return")] == ["AMH/ILD"]
    summary = {r["Service"]: r for r in table_after(lpt.out, "Summary", "Service")}
    assert summary["AMH/ILD"]["Returned"] == "No"
    assert {s for s, r in summary.items() if r["Returned"] == "Yes"} == {"CHS", "FYPC", "Corporate", "AMH/LD"}
    assert summary["AMH/LD"]["File"] == "AMH-LD.xlsx"
    assert summary["AMH/LD"]["Return saved"] == AMH_LD_LATER.strftime("%d/%m/%Y %H:%M")


def test_the_summary_counts_each_services_ratings_and_has_a_chart(lpt, proposed_id):
    rows = [r for r in table_after(lpt.out, "Summary", "Service") if r["Service"] != "Total"]
    templates = {
        "Corporate": "Corporate.xlsx",
        "AMH/ILD": "AMH-ILD.xlsx",
        "CHS": "CHS.xlsx",
        "FYPC": "FYPC.xlsx",
        "AMH/LD": "AMH-LD.xlsx",
    }
    assert sorted(r["Service"] for r in rows) == sorted(templates)
    for row in rows:
        ids = ids_of(lpt.outbox / templates[row["Service"]])
        ids += [proposed_id] if row["Service"] == "AMH/LD" else []
        ratings = [lpt.after[i][H["directorate_rag"]] for i in ids]
        assert row["Actions"] == len(ids)
        for value in SCALE:
            assert row[value] == ratings.count(value), (row["Service"], value)
        assert row["Not rated"] == sum(1 for r in ratings if r not in SCALE)
    book = open_book(lpt.out)
    assert book["Summary"]._charts, "no chart on the Summary sheet"
    assert any(n.startswith("xl/charts/chart") for n in zipfile.ZipFile(lpt.out).namelist())


def test_service_text_never_becomes_a_formula(lpt, cells, issues):
    cell = cells[(lpt.ids["5.2.5"], "comments")]

    assert cell.value == FORMULA_TEXT
    assert cell.data_type == "s"
    assert not any(c.data_type == "f" for c in cells.values())
    assert "formula-like-text" in {i["Code"] for i in issues}


def test_rows_keep_the_masters_order_and_a_proposal_comes_last(lpt):
    """The central team's own order (here two rows moved by hand) is theirs: merge keeps it,
    and appends the proposed action at the end, where the team moves it to its place."""
    before = refs_in_order(lpt.plan)
    assert before.index("5.2.10") < before.index("5.2.9")

    assert refs_in_order(lpt.out) == before + [PROPOSAL["action_ref"]]


def test_json_report_lists_the_changes_and_the_problems(lpt, proposed_id):
    report = json.loads(lpt.report.read_text(encoding="utf-8"))

    changes = {(c["id"], c["column"]): c for c in report["changes"]}
    assert {k for k, c in changes.items() if c["kind"] != "proposed"} == {(i, H[f]) for i, f in lpt.expected}
    assert changes[(lpt.ids["5.2.1"], H["comments"])]["kind"] == "conflict"
    assert [c["id"] for c in report["changes"] if c["kind"] == "proposed"] == [proposed_id]
    codes = [p["code"] for p in report["problems"]]
    assert {"invalid-rating", "locked-cell-changed", "conflict", "superseded", "no-return"} <= set(codes)
    assert (report["refused"], report["conflicts"], report["returns_read"]) == (2, 1, 5)
    assert {s["service"]: s["returned"] for s in report["services"]} == {
        "CHS": True,
        "FYPC": True,
        "Corporate": True,
        "AMH/LD": True,
        "AMH/ILD": False,
    }


def test_json_report_names_the_service_and_file_of_each_problem(lpt, issues):
    report = json.loads(lpt.report.read_text(encoding="utf-8"))
    [no_return] = [p for p in report["problems"] if p["code"] == "no-return"]
    [invalid] = [p for p in report["problems"] if p["code"] == "invalid-rating"]

    assert no_return.get("service") == "AMH/ILD"
    assert (invalid.get("service"), invalid.get("file")) == ("CHS", "CHS.xlsx")


def test_the_same_inputs_give_the_same_workbook(lpt, tmp_path):
    again = tmp_path / "again.xlsx"

    result = merge(lpt.plan, lpt.inbox, "-o", again, "--as-of", "2017-07-31")

    assert result.exit_code == 0, result.output
    first, second = all_sheet_values(lpt.out), all_sheet_values(again)
    assert first[PLAN_SHEET] == second[PLAN_SHEET]
    assert first == second


# --- merging the same returns again ----------------------------------------------------------


@pytest.fixture(scope="module")
def second(lpt):
    out2 = lpt.folder / "out2.xlsx"
    result = merge(lpt.out, lpt.inbox, "-o", out2, "--as-of", "2017-07-31")
    assert result.exit_code == 0, result.output
    return SimpleNamespace(out=out2, result=result, after=by_id(out2))


def test_a_second_merge_of_the_same_returns_changes_no_cell(lpt, second):
    first_cells, cells = plan_cells(lpt.out), plan_cells(second.out)

    for action_id, values in lpt.after.items():
        for header in LAYOUT_HEADERS:
            assert second.after[action_id][header] == values[header], (action_id, header)
    # Still the same cycle: the cells changed in it stay highlighted, with the same notes.
    assert {k for k, c in cells.items() if c.comment} == {k for k, c in first_cells.items() if c.comment}
    assert {k for k, c in cells.items() if fill_of(c) in (CHANGED, CONFLICT)} == {
        k for k, c in first_cells.items() if fill_of(c) in (CHANGED, CONFLICT)
    }
    assert "0 conflict(s)" in second.result.output


def test_a_second_merge_of_the_same_returns_adds_nothing_and_keeps_the_cycles_changes(lpt, second):
    assert set(second.after) == set(lpt.after)
    assert table_after(second.out, "Changes", "Merged at") == table_after(lpt.out, "Changes", "Merged at")
    assert "0 cell(s) changed" in second.result.output
    # The Change log holds what the central team edited by hand after issue, found once.
    assert table_after(second.out, "Change log", "Cycle") == table_after(lpt.out, "Change log", "Cycle")


def test_central_edits_made_after_issue_are_in_the_change_log(lpt):
    log = table_after(lpt.out, "Change log", "Cycle")
    ref, field, value = CENTRAL_GROUP

    assert [
        (r["Service"], r["File"], r["Action"], r["Column"], r["Old value"], r["New value"], r["Kind"])
        for r in log
    ] == [("central team", "(edited in the master)", ref, H[field], "", value, "central")]
    assert log[0]["xlplan ID"] == lpt.ids[ref]


def test_issuing_the_next_cycle_moves_the_changes_to_the_change_log(lpt, second, tmp_path):
    master = tmp_path / "master.xlsx"
    shutil.copy(second.out, master)
    first = table_after(lpt.out, "Changes", "Merged at")

    result = invoke("template", master, "-o", tmp_path / "outbox", "--cycle", "2017-Q3")

    assert result.exit_code == 0, result.output
    log = table_after(master, "Change log", "Cycle")

    def entry(row):  # the dated value is left to test_a_date_on_the_changes_sheet_stays_a_date
        return [row[h] for h in ("Service", "File", "Action", "Column", "Kind", "xlplan ID")] + [
            row[h] for h in ("Old value", "New value") if isinstance(row[h], str)
        ]

    assert len(first) == len(lpt.expected) + 1
    assert [entry(r) for r in log[1:]] == [entry(r) for r in first]
    assert log[0]["Service"] == "central team"  # found at the merge, before the cycle's changes
    assert {r["Cycle"] for r in log} == {CYCLE}
    assert len({r["Merged at"] for r in log}) == 1 and all(r["Merged at"] for r in log)
    assert "Changes" not in all_sheet_values(master)
    assert not [k for k, c in plan_cells(master).items() if c.comment]


def test_a_second_merge_reports_no_lost_sheet_content(second):
    issues = table_after(second.out, "Issues", "Severity")
    assert not issues_with(issues, "sheet-content-lost")


# --- junk in the inbox ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def junk_inbox(lpt, tmp_path_factory):
    inbox = tmp_path_factory.mktemp("junk-inbox")
    for name in RETURNS:
        shutil.copy2(lpt.inbox / name, inbox / name)
    (inbox / "notes.xlsx").write_text("Dear team, see attached. Regards\n", encoding="utf-8")
    good = (lpt.outbox / "AMH-ILD.xlsx").read_bytes()
    (inbox / "truncated.xlsx").write_bytes(good[: len(good) // 2])
    (inbox / "empty.xlsx").write_bytes(b"")
    (inbox / "~$lock.xlsx").write_bytes(b"\x00" * 165)
    hostile = inbox / "hostile.xlsx"
    with (
        zipfile.ZipFile(lpt.outbox / "AMH-ILD.xlsx") as source,
        zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data = data.replace(
                    b"?>", b'?>\n<!DOCTYPE workbook [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1
                )
            target.writestr(info, data)
    return inbox


BAD_FILES = {
    "notes.xlsx": "not-a-workbook",
    "truncated.xlsx": "corrupt",
    "empty.xlsx": "corrupt",
    "hostile.xlsx": "unsafe-xml",
}


def test_junk_broken_and_hostile_files_are_reported_and_the_good_returns_merged(lpt, junk_inbox):
    out = lpt.folder / "junk-out.xlsx"

    result = merge(lpt.plan, junk_inbox, "-o", out, "--as-of", "2017-07-31")

    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    issues = table_after(out, "Issues", "Severity")
    reported = {(i["File"], i["Code"]) for i in issues if i["Severity"] == "error"}
    for name, code in BAD_FILES.items():
        assert any(f.endswith(name) and c == code for f, c in reported), (name, code, reported)
    assert not any(f.endswith("~$lock.xlsx") for f, _ in reported), "a lock file is not a return"
    assert by_id(out) == lpt.after  # exactly what the good returns alone give


def test_strict_exits_1_when_problems_were_found(lpt, junk_inbox):
    out = lpt.folder / "junk-strict.xlsx"

    result = merge(lpt.plan, junk_inbox, "-o", out, "--as-of", "2017-07-31", "--strict")

    assert result.exit_code == 1, result.output
    assert out.exists()


# --- where the master is written --------------------------------------------------------------


def test_without_output_the_plan_is_updated_in_place_and_a_backup_kept(lpt, tmp_path):
    plan = tmp_path / "plan.xlsx"
    shutil.copy2(lpt.plan, plan)
    old = plan.read_bytes()

    result = merge(plan, lpt.inbox, "--as-of", "2017-07-31")

    assert result.exit_code == 0, result.output
    backups = list(tmp_path.glob("plan.before-merge-*.xlsx"))
    assert len(backups) == 1, list(tmp_path.iterdir())
    assert backups[0].read_bytes() == old
    assert backups[0].name in result.output
    assert all_sheet_values(plan) == all_sheet_values(lpt.out)
    assert not list(tmp_path.glob(".~lock*")) and not list(tmp_path.glob("*.tmp"))


def test_an_unwritable_output_exits_2_and_leaves_the_master_untouched(lpt):
    old = lpt.plan.read_bytes()

    result = merge(lpt.plan, lpt.inbox, "-o", "/nonexistent-dir/x.xlsx")

    assert result.exit_code == 2, result.output
    assert result.output.startswith("xlplan: ") and "/nonexistent-dir" in result.output
    assert "Traceback" not in result.output
    assert lpt.plan.read_bytes() == old
    assert not list(lpt.folder.glob("plan.before-merge-*"))


def test_a_missing_plan_exits_2_with_a_message(lpt, tmp_path):
    missing = tmp_path / "no-such-plan.xlsx"

    result = merge(missing, lpt.inbox, "-o", tmp_path / "out.xlsx")

    assert result.exit_code == 2, result.output
    assert "no-such-plan.xlsx" in result.output and "not found" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_fresh_lock_file_makes_merge_refuse(lpt, tmp_path):
    plan = tmp_path / "plan.xlsx"
    shutil.copy2(lpt.plan, plan)
    old = plan.read_bytes()
    lock = tmp_path / ".~lock.xlplan.plan.xlsx"
    lock.write_text("4242")

    result = merge(plan, lpt.inbox)

    assert result.exit_code == 2, result.output
    assert "Another xlplan merge" in result.output and lock.name in result.output
    assert plan.read_bytes() == old
    assert lock.exists(), "the other merge's lock must be left alone"
    assert not list(tmp_path.glob("plan.before-merge-*"))


def test_a_stale_lock_file_is_cleared(lpt, tmp_path):
    plan = tmp_path / "plan.xlsx"
    shutil.copy2(lpt.plan, plan)
    lock = tmp_path / ".~lock.xlplan.plan.xlsx"
    lock.write_text("4242")
    hour_ago = time.time() - 3600
    os.utime(lock, (hour_ago, hour_ago))

    result = merge(plan, lpt.inbox, "--as-of", "2017-07-31")

    assert result.exit_code == 0, result.output
    assert not lock.exists()


# --- the central team's own sheets ------------------------------------------------------------


NOTES = [
    ["Committee dates", None],
    ["Quality committee", "14/09/2017"],
    ["Board", "October 2017 — Zoë"],
    [None, None],
    ["Count", "12"],
]


def add_notes_sheet(book):
    sheet = book.create_sheet("Notes")
    for row in NOTES:
        sheet.append(row)


def test_the_central_teams_own_sheet_survives_the_merge(lpt, tmp_path):
    plan = tmp_path / "plan.xlsx"
    shutil.copy2(lpt.plan, plan)
    edit_master(plan, {}, extra=add_notes_sheet)
    out = tmp_path / "out.xlsx"

    result = merge(plan, lpt.inbox, "-o", out, "--as-of", "2017-07-31")

    assert result.exit_code == 0, result.output
    assert sheet_values(out, "Notes")[:5] == [[v or "" for v in row] for row in NOTES]
    assert by_id(out) == by_id(lpt.out)
    assert not issues_with(table_after(out, "Issues", "Severity"), "sheet-content-lost")


def test_a_date_on_the_central_teams_own_sheet_stays_a_date(lpt, tmp_path):
    plan = tmp_path / "plan.xlsx"
    shutil.copy2(lpt.plan, plan)

    def dated(book):
        book.create_sheet("Notes").append(["Quality committee", dt.datetime(2017, 9, 14)])

    edit_master(plan, {}, extra=dated)
    out = tmp_path / "out.xlsx"

    result = merge(plan, lpt.inbox, "-o", out, "--as-of", "2017-07-31")

    assert result.exit_code == 0, result.output
    assert sheet_values(plan, "Notes")[0][1] == dt.date(2017, 9, 14)  # as the team typed it
    assert comparable(sheet_values(out, "Notes")[0][1]) == dt.date(2017, 9, 14)


def _chart(book):
    from openpyxl.chart import BarChart, Reference

    add_notes_sheet(book)
    chart = BarChart()
    chart.add_data(Reference(book["Notes"], min_col=2, min_row=5, max_row=5))
    book["Notes"].add_chart(chart, "D2")


def _image(book):
    pytest.importorskip("PIL", reason="Pillow is not installed: openpyxl cannot add an image")
    import io

    from openpyxl.drawing.image import Image
    from PIL import Image as PILImage

    add_notes_sheet(book)
    data = io.BytesIO()
    PILImage.new("RGB", (8, 8), "red").save(data, format="PNG")
    data.seek(0)
    book["Notes"].add_image(Image(data), "D2")


@pytest.mark.parametrize("drawing", [_chart, _image], ids=["chart", "image"])
def test_a_drawing_on_the_central_teams_sheet_is_reported_as_lost(lpt, tmp_path, drawing):
    plan = tmp_path / "plan.xlsx"
    shutil.copy2(lpt.plan, plan)
    edit_master(plan, {}, extra=drawing)
    out = tmp_path / "out.xlsx"

    result = merge(plan, lpt.inbox, "-o", out, "--as-of", "2017-07-31")

    assert result.exit_code == 0, result.output
    lost = issues_with(table_after(out, "Issues", "Severity"), "sheet-content-lost")
    assert [(i["Sheet"], i["Severity"]) for i in lost] == [("Notes", "warning")]
    assert sheet_values(out, "Notes")[0][0] == "Committee dates"
