"""Whatever a person types into a service cell survives the round trip unchanged: it is
never turned into a formula, a number or a date, never trimmed, never lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlplan.cli import main
from xlplan.excel import ERROR_VALUES, ILLEGAL_XML_CHARS
from xlplan.masterread import read_plan
from xlplan.simulate import fill_in

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "examples" / "kmpt-mr-d-2016" / "source.csv"

# What a keyboard or a paste can put in a cell that Excel keeps as text: any character but
# the control characters XML cannot hold (xlplan reports and removes those) and a bare CR;
# exactly "#N/A", "#REF!"… Excel itself turns into error values, which xlplan refuses.
typed_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
    min_size=1,
    max_size=300,
).filter(lambda t: t.strip() and not ILLEGAL_XML_CHARS.search(t) and t.strip() not in ERROR_VALUES)


@pytest.fixture(scope="module")
def issued(tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("any-text")
    plan = work / "plan.xlsx"
    runner = CliRunner()
    assert runner.invoke(main, ["import", str(SOURCE), "-o", str(plan), "--layout", "kmpt"]).exit_code == 0
    assert runner.invoke(main, ["template", str(plan), "-o", str(work / "outbox")]).exit_code == 0
    return plan, work / "outbox" / "Action Group.xlsx"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=typed_text)
def test_any_text_typed_by_a_service_reaches_the_master_as_typed(issued, tmp_path_factory, text):
    plan, template = issued
    work = tmp_path_factory.mktemp("case")
    fill_in(template, work / "inbox" / "return.xlsx", {("2", "progress"): text})
    out = work / "merged.xlsx"
    result = CliRunner().invoke(
        main,
        ["merge", str(plan), str(work / "inbox"), "-o", str(out), "--as-of", dt.date(2016, 1, 1).isoformat()],
    )
    assert result.exit_code == 0, result.output
    merged = read_plan(out)
    action = next(a for a in merged.actions if merged.ref(a) == "2")
    assert action.get("progress") == text
