"""Complete is judged once (`progress.is_complete_rating`), by any name of a complete rating:
the checks, the Summary, the Progress sheet's stuck list and the chase agree on what is done.
A central team types "Completed" (Purple's other name) into the master; it is complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import LPT_SOURCE, H, edit_master, invoke, plan_table

from xlplan.simulate import fill_in

PARENT = "2.1"


@pytest.fixture(scope="module")
def children(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The LPT master and the references of 2.1's sub-actions (all CHS's)."""
    folder = tmp_path_factory.mktemp("complete")
    plan = folder / "plan.xlsx"
    assert invoke("import", LPT_SOURCE, "-o", plan).exit_code == 0
    _, rows = plan_table(plan)
    refs = [str(r[H["action_ref"]]) for r in rows if str(r[H["action_ref"]]).startswith(PARENT + ".")]
    assert len(refs) >= 3
    return plan, refs


def parent_rated_complete(plan: Path, folder: Path) -> list[dict]:
    """CHS rates 2.1 Purple (complete, with evidence) in its return; the problems validate
    finds on 2.1."""
    outbox = folder / "outbox"
    result = invoke("template", plan, "-o", outbox, "--cycle", "2017-Q2", "--service", "CHS")
    assert result.exit_code == 0, result.output
    filled = folder / "CHS.xlsx"
    fill_in(
        outbox / "CHS.xlsx",
        filled,
        {(PARENT, "directorate_rag"): "Purple", (PARENT, "comments"): "Evidence: audit report 06/2017."},
    )
    result = invoke("validate", filled, "--plan", plan, "--as-of", "2017-01-01", "--json")
    assert result.exit_code in (0, 1), result.output
    [report] = json.loads(result.stdout)["files"]
    return [p for p in report["problems"] if p.get("action") == PARENT]


def test_sub_actions_rated_by_another_name_of_complete_are_complete(children, tmp_path: Path) -> None:
    source, refs = children
    plan = tmp_path / "plan.xlsx"
    plan.write_bytes(source.read_bytes())
    edit_master(plan, {(ref, "directorate_rag"): "Completed" for ref in refs})
    assert [p["code"] for p in parent_rated_complete(plan, tmp_path)] == []


def test_a_sub_action_still_open_is_said(children, tmp_path: Path) -> None:
    source, refs = children
    plan = tmp_path / "plan.xlsx"
    plan.write_bytes(source.read_bytes())
    edits = {(ref, "directorate_rag"): "Completed" for ref in refs}
    edits[(refs[-1], "directorate_rag")] = "Amber"
    edit_master(plan, edits)
    problems = parent_rated_complete(plan, tmp_path)
    assert [p["code"] for p in problems] == ["parent-complete-child-open"]
    assert f"its sub-action {refs[-1]} is rated Amber" in problems[0]["message"]


def test_a_completed_action_is_never_stuck(children) -> None:
    """The Progress sheet's stuck list: the same rating two cycles running is stuck only if
    that rating is not complete, by whatever name."""
    import datetime as dt

    from xlplan.history import CycleRecord, History, stuck_actions
    from xlplan.masterread import read_plan

    source, refs = children
    plan = read_plan(source)
    done, open_ = (next(a for a in plan.actions if plan.ref(a) == ref) for ref in refs[:2])
    done.values["directorate_rag"], open_.values["directorate_rag"] = "Completed", "Amber"
    history = History(
        [
            CycleRecord(c, dt.date(2017, 1, 1), "", [], {done.id: "Completed", open_.id: amber})
            for c, amber in (("2017-Q1", "A"), ("2017-Q2", "amber"))  # Amber by other names
        ]
    )
    stuck = {s.action: s.why for s in stuck_actions(plan, history, dt.date(2017, 1, 2))}
    assert stuck == {refs[1]: "Amber for 2 cycles (since 2017-Q1)"}


def test_the_committee_view_colours_a_rating_by_any_of_its_names(children, tmp_path: Path) -> None:
    """Printed for the committee, "Completed" is Purple and "amber" Amber, as typed."""
    import openpyxl

    from xlplan.layout import load_layout

    source, refs = children
    plan = tmp_path / "plan.xlsx"
    plan.write_bytes(source.read_bytes())
    edit_master(plan, {(refs[0], "directorate_rag"): "Completed", (refs[1], "directorate_rag"): "amber"})
    (tmp_path / "inbox").mkdir()
    out = tmp_path / "out.xlsx"
    result = invoke("merge", plan, tmp_path / "inbox", "-o", out, "--as-of", "2017-07-31")
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out)["Committee view"]
    header = [c.value for c in sheet[3]]
    column = header.index(H["directorate_rag"]) + 1
    fills = {r.value: r.fill[1:].upper() for r in load_layout("cqc")[0].ratings}
    shown = {}
    for row in range(4, sheet.max_row + 1):
        if sheet.cell(row, 1).value in refs[:2]:
            cell = sheet.cell(row, column)
            shown[sheet.cell(row, 1).value] = (cell.value, cell.fill.fgColor.rgb[-6:])
    assert shown == {refs[0]: ("Completed", fills["Purple"]), refs[1]: ("amber", fills["Amber"])}


def test_the_pack_lists_red_by_any_of_its_names(children, tmp_path: Path) -> None:
    """The committee pack's Red actions: "Off track" (Red's other name) typed in the master is
    Red, as the Summary counts it, and its rating cell is coloured by its scale value."""
    import datetime as dt

    from xlplan.masterread import read_plan
    from xlplan.pack import build_pack

    source, refs = children
    plan = tmp_path / "plan.xlsx"
    plan.write_bytes(source.read_bytes())
    edit_master(plan, {(refs[0], "directorate_rag"): "Off track", (refs[1], "directorate_rag"): "Red"})
    pack = build_pack(read_plan(plan), dt.date(2017, 7, 31))
    red = next(t for t in pack.exceptions if t.heading == "Red actions")
    listed = {row[0]: row[red.rating_column] for row in red.rows}
    assert listed[refs[0]] == "Off track" and listed[refs[1]] == "Red"
    assert pack.normalise("Off track") == "Red" and pack.normalise("Completed") == "Purple"
    result = invoke("report", plan, "-o", tmp_path / "pack.pdf", "--as-of", "2017-07-31")
    assert result.exit_code == 0, result.output
