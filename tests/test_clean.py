"""One cleaning of typed text for returns and imports (`xlplan/clean.py`), two policies; and the
rules a return is judged by as functions that return what they find, run on a real return."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from conftest import (
    FIRST_DATA_ROW,
    HEADER_ROW,
    ID_HEADER,
    LPT_SOURCE,
    PLAN_SHEET,
    invoke,
    read_csv,
    write_csv,
)

from xlplan.check_cells import check_value
from xlplan.checks import check_return
from xlplan.clean import Policy, clean_rating, clean_text
from xlplan.excel import MAX_CELL_CHARS
from xlplan.layout import load_layout
from xlplan.masterread import read_plan
from xlplan.returns import read_return
from xlplan.simulate import fill_in

WHERE = {"file": "CHS.xlsx", "cell": "M5", "column": "Comments"}
LAYOUT = load_layout("cqc")[0]


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def test_control_characters_are_removed_under_both_policies() -> None:
    for policy in Policy:
        cleaned = clean_text("before\x07after\x00", policy, WHERE)
        assert cleaned.value == "beforeafter" and not cleaned.refused
        assert codes(cleaned.problems) == ["control-chars"]
        assert cleaned.problems[0].cell == "M5" and cleaned.problems[0].file == "CHS.xlsx"


def test_clean_text_is_left_alone() -> None:
    for policy in Policy:
        cleaned = clean_text("Line one\nline two, £5 – done", policy, WHERE)
        assert (cleaned.value, cleaned.problems, cleaned.refused) == (
            "Line one\nline two, £5 – done",
            [],
            False,
        )


def test_too_long_is_refused_in_a_return_and_cut_in_an_import() -> None:
    text = "x" * (MAX_CELL_CHARS + 10)
    refused = clean_text(text, Policy.REFUSE, WHERE)
    assert refused.refused and codes(refused.problems) == ["too-long"]
    assert "not applied" in refused.problems[0].message
    kept = clean_text(text, Policy.KEEP, WHERE)
    assert not kept.refused and kept.value == "x" * MAX_CELL_CHARS
    assert codes(kept.problems) == ["too-long"] and "cut there" in kept.problems[0].message
    exactly = clean_text("x" * MAX_CELL_CHARS, Policy.REFUSE, WHERE)
    assert exactly.problems == [] and not exactly.refused


@pytest.mark.parametrize("typed", ["amber", " AMBER ", "A"])
def test_a_rating_spelled_another_way_is_put_on_the_scale_by_both(typed: str) -> None:
    for policy in Policy:
        cleaned = clean_rating(typed, LAYOUT, policy, WHERE)
        assert cleaned.value == "Amber" and not cleaned.refused and not cleaned.off_scale
        assert codes(cleaned.problems) == ["rating-normalised"]
        assert cleaned.problems[0].message == f"{typed!r} read as 'Amber'."


def test_a_rating_off_the_scale_is_refused_in_a_return_and_kept_in_an_import() -> None:
    refused = clean_rating("Yellow", LAYOUT, Policy.REFUSE, WHERE)
    assert refused.refused and codes(refused.problems) == ["invalid-rating"]
    assert "pick one of White, Red, Amber, Green, Purple, Blue" in refused.problems[0].message
    kept = clean_rating("Yellow", LAYOUT, Policy.KEEP, WHERE)
    assert (kept.value, kept.problems, kept.refused, kept.off_scale) == ("Yellow", [], False, True)


def test_import_map_spellings_are_named_as_such() -> None:
    cleaned = clean_rating("On track", LAYOUT, Policy.KEEP, WHERE, mapped={"on track": "Green"})
    assert cleaned.value == "Green"
    assert cleaned.problems[0].message == "'On track' read as 'Green' (--map-rating)."


def test_a_blank_rating_is_no_rating_not_an_error() -> None:
    for policy in Policy:
        cleaned = clean_rating("  ", LAYOUT, policy, WHERE)
        assert cleaned.problems == [] and not cleaned.refused and not cleaned.off_scale


def test_import_and_return_clean_the_same_text_alike(tmp_path: Path) -> None:
    """The same pasted text reaches the master the same way by `import` and by a return."""
    rows = read_csv(LPT_SOURCE)
    comments = rows[0].index(next(h for h in rows[0] if h.lower().startswith("comments")))
    rows[1][comments] = "Agreed at board\x07 on Tuesday"
    master = tmp_path / "plan.xlsx"
    imported = invoke("import", write_csv(tmp_path / "src.csv", rows), "-o", master)
    assert imported.exit_code == 0, imported.output
    assert "control characters" in imported.output
    plan = read_plan(master)
    first = plan.actions[0]
    assert first.get("comments") == "Agreed at board on Tuesday"


def test_rules_return_what_they_find_and_leave_the_return_as_read(
    lpt_master: Path, templates_dir: Path, tmp_path: Path
) -> None:
    """Judging a return twice gives the same answer: no rule records on the return."""
    filled = tmp_path / "CHS.xlsx"
    fill_in(
        templates_dir / "CHS.xlsx",
        filled,
        {
            ("2.1", "directorate_rag"): "Yellow",
            ("2.1.1", "comments"): "ok_x0007_",
            ("2.1.2", "directorate_rag"): "g",
        },
        proposals=[{"action_ref": "2.1.99", "action": "Weekly huddles.", "directorate_rag": "amber"}],
    )
    # One row loses its hidden ID (cleared by hand): it is matched by its grey cells.
    book = openpyxl.load_workbook(filled)
    sheet = book[PLAN_SHEET]
    id_col = [c.value for c in sheet[HEADER_ROW]].index(ID_HEADER) + 1
    row = next(r for r in range(FIRST_DATA_ROW, sheet.max_row + 1) if sheet.cell(r, 4).value == "2.1.3")
    sheet.cell(row, id_col).value = None
    book.save(filled)
    plan = read_plan(lpt_master)
    ret = read_return(filled, plan)
    as_read = list(ret.problems)
    ids_as_read = [r.action_id for r in ret.rows]
    first = check_return(ret, plan)
    second = check_return(ret, plan)
    assert ret.problems == as_read and [r.action_id for r in ret.rows] == ids_as_read
    assert first.problems == second.problems
    assert "row-moved" in [p.code for p in second.problems]
    # A proposal's values are judged into the result; the return keeps them as typed.
    assert [p.values["directorate_rag"] for p in first.proposals] == ["Amber"]
    assert [p.values["directorate_rag"] for p in ret.proposals] == ["amber"]
    assert [(e.action_id, e.field, e.new) for e in first.edits] == [
        (e.action_id, e.field, e.new) for e in second.edits
    ]
    found = {(p.code, p.action) for p in first.problems}
    assert {("invalid-rating", "2.1"), ("control-chars", "2.1.1"), ("rating-normalised", "2.1.2")} <= found
    # One rule on its own: the value and its problem, and nothing recorded.
    row = next(r for r in ret.rows if r.values.get("action_ref") == "2.1")
    judged = check_value(ret, row, LAYOUT.column("directorate_rag"), "Yellow")
    assert judged.refused and codes(judged.problems) == ["invalid-rating"]
    assert judged.problems[0].file == "CHS.xlsx" and judged.problems[0].service == "CHS"
    assert ret.problems == as_read
