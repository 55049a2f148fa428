"""A whole cycle as a central team runs it, through the CLI, reading the master after each step.

Templates go out for 2025-Q1; CHS returns first; the central team moves a due date and
corrects a requirement in the master; FYPC returns with two proposed actions; the central
team accepts one and rejects the other; CHS sends a second version that sets one cell back
and fixes a refused rating; the inbox is merged again; then 2025-Q2 is issued and a stale
2025-Q1 template arrives beside a current return.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pytest
from conftest import (
    FIRST_DATA_ROW,
    HEADER_ROW,
    ID_HEADER,
    LPT_SOURCE,
    PLAN_SHEET,
    H,
    edit_master,
    invoke,
    plan_table,
    sheet_values,
)
from test_merge import set_saved_time

from xlplan import style
from xlplan.simulate import fill_in

STATUS = "Changed this cycle"
CHANGED = style.CHANGED_FILL.lstrip("#").upper()
Q1, Q2, AS_OF = "2025-Q1", "2025-Q2", "2025-03-01"

CHS_V1 = {
    ("2.1", "directorate_rag"): "Amber",
    ("2.1.1", "comments"): "Audit started.",
    ("2.1.2", "directorate_rag"): "Yellow",
}  # not on the scale: refused
# Sets 2.1 back to what was issued, writes 2.1.1 again, fixes 2.1.2; leaves nothing else.
CHS_V2 = {("2.1.1", "comments"): "Audit finished: 92% compliant.", ("2.1.2", "directorate_rag"): "Green"}
FYPC_EDITS = {("2.2.1", "directorate_rag"): "Green"}
PROPOSALS = [
    {"action_ref": "2.2.9", "action": "Weekly huddle on care plans.", "directorate_rag": "White"},
    {"action_ref": "2.2.10", "action": "A second audit tool.", "directorate_rag": "White"},
]


def table(path: Path, sheet: str, first: str) -> list[dict[str, object]]:
    rows = sheet_values(path, sheet)
    start = next(i for i, r in enumerate(rows) if r and r[0] == first)
    header = [str(c) for c in rows[start]]
    return [
        dict(zip(header, r, strict=False)) for r in rows[start + 1 :] if any(v not in ("", None) for v in r)
    ]


def actions(path: Path) -> list[dict[str, object]]:
    return plan_table(path)[1]


def cell(path: Path, ref: str, field: str, service: str | None = None) -> object:
    [value] = [
        a[H[field]]
        for a in actions(path)
        if a[H["action_ref"]] == ref and (service is None or a[H["directorate"]] == service)
    ]
    return value


def highlighted(path: Path) -> set[tuple[str, str]]:
    """(reference, header) of every cell filled as changed on the plan sheet."""
    sheet = openpyxl.load_workbook(path)[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    ref = header.index(H["action_ref"])
    found = set()
    for row in sheet.iter_rows(min_row=FIRST_DATA_ROW):
        for column, cell in zip(header, row, strict=False):
            fill = cell.fill
            if (
                column in H.values()
                and fill is not None
                and fill.fill_type == "solid"
                and str(fill.fgColor.rgb)[-6:].upper() == CHANGED
            ):
                found.add((row[ref].value, column))
    return found


def merge(folder: Path, *extra: object, day: int = 1):
    """A merge on day `day` of March 2025, at nine (returns trickle in over the weeks)."""
    epoch = int(dt.datetime(2025, 3, day, 9, tzinfo=dt.UTC).timestamp())
    result = invoke(
        "merge",
        folder / "plan.xlsx",
        folder / "inbox",
        "--as-of",
        AS_OF,
        *extra,
        env={"SOURCE_DATE_EPOCH": str(epoch)},
    )
    assert result.exit_code == 0, result.output
    return result


def kinds(rows: list[dict]) -> list[tuple]:
    return [(r["Service"], r["Action"], r["Column"], r["Kind"]) for r in rows]


def open_issues(path: Path) -> set[tuple]:
    return {
        (r["Code"], r["Service"], r["Action"])
        for r in table(path, "Issues", "Severity")
        if r["Status"] == "open"
    }


def resolved_issues(path: Path) -> set[tuple]:
    return {
        (r["Code"], r["Service"], r["Action"])
        for r in table(path, "Issues", "Severity")
        if str(r["Status"]).startswith("resolved")
    }


@pytest.fixture(scope="module")
def cycle(tmp_path_factory) -> SimpleNamespace:
    """Runs the whole story once, keeping a copy of the master after each step."""
    folder = tmp_path_factory.mktemp("cycle")
    plan, inbox, outbox = folder / "plan.xlsx", folder / "inbox", folder / "outbox"
    inbox.mkdir()
    assert invoke("import", LPT_SOURCE, "-o", plan).exit_code == 0
    result = invoke("template", plan, "-o", outbox, "--cycle", Q1, "--due", "31/03/2025")
    assert result.exit_code == 0, result.output
    issued = actions(plan)
    steps: dict[str, Path] = {}
    outputs: dict[str, str] = {}

    def keep(name: str, output: str) -> None:
        steps[name] = folder / f"after-{name}.xlsx"
        shutil.copy(plan, steps[name])
        outputs[name] = output

    # 1. CHS returns first.
    fill_in(outbox / "CHS.xlsx", inbox / "CHS.xlsx", CHS_V1)
    set_saved_time(inbox / "CHS.xlsx", dt.datetime(2025, 3, 2, 11, 0))
    keep("chs", merge(folder, day=3).output)
    # 2. The central team moves a due date and corrects a requirement; FYPC returns, proposing two.
    edit_master(
        plan,
        {
            ("1.1", H["due"]): "31/12/2017",
            ("3.1", H["provider_requirement"]): "Care plans must be person-centred.",
        },
    )
    fill_in(outbox / "FYPC.xlsx", inbox / "FYPC.xlsx", FYPC_EDITS, proposals=PROPOSALS)
    keep("fypc", merge(folder, day=10).output)
    # 3. One proposal accepted, one rejected; CHS sends a second version.
    statuses = {a[H["action_ref"]]: a[STATUS] for a in actions(plan)}
    edit_master(
        plan,
        {
            ("2.2.9", STATUS): f"{statuses['2.2.9']}; accept",
            ("2.2.10", STATUS): f"{statuses['2.2.10']}; reject: duplicate of 2.2.3",
        },
    )
    fill_in(outbox / "CHS.xlsx", inbox / "CHS v2.xlsx", CHS_V2)
    set_saved_time(inbox / "CHS v2.xlsx", dt.datetime(2025, 3, 14, 16, 0))  # as Excel records it
    keep("chs-v2", merge(folder, day=17).output)
    # 4. The same inbox merged again.
    keep("again", merge(folder, day=18).output)
    # 5. The next cycle; a stale 2025-Q1 template comes back beside a current return.
    result = invoke("template", plan, "-o", folder / "outbox-q2", "--cycle", Q2, "--due", "30/06/2025")
    assert result.exit_code == 0, result.output
    keep("q2-issued", result.output)
    for old in inbox.iterdir():
        old.unlink()
    fill_in(outbox / "Corporate.xlsx", inbox / "Corporate.xlsx", {("1", "comments"): "Last quarter's words"})
    fill_in(folder / "outbox-q2" / "AMH-LD.xlsx", inbox / "AMH-LD.xlsx", {("3.1", "comments"): "Q2 update"})
    keep("q2-merge", merge(folder, day=28).output)
    return SimpleNamespace(folder=folder, steps=steps, outputs=outputs, issued=issued)


def test_the_first_merge_shows_chs_and_who_has_not_returned(cycle) -> None:
    after = cycle.steps["chs"]
    assert kinds(table(after, "Changes", "Merged at")) == [
        ("CHS", "2.1", H["directorate_rag"], "change"),
        ("CHS", "2.1.1", H["comments"], "change"),
    ]
    assert highlighted(after) == {("2.1", H["directorate_rag"]), ("2.1.1", H["comments"])}
    assert ("invalid-rating", "CHS", "2.1.2") in open_issues(after)
    missing = {s for c, s, _ in open_issues(after) if c == "no-return"}
    assert missing == {"Corporate", "FYPC", "AMH/LD", "AMH/ILD"}
    assert table(after, "Change log", "Cycle") == []


def test_a_later_merge_adds_to_the_cycle_and_audits_the_central_edits(cycle) -> None:
    after = cycle.steps["fypc"]
    changes = table(after, "Changes", "Merged at")
    assert kinds(changes) == [
        ("CHS", "2.1", H["directorate_rag"], "change"),
        ("CHS", "2.1.1", H["comments"], "change"),
        ("FYPC", "2.2.1", H["directorate_rag"], "change"),
        ("FYPC", "2.2.9", "(proposed action)", "proposed"),
        ("FYPC", "2.2.10", "(proposed action)", "proposed"),
    ]
    assert len({r["Merged at"] for r in changes}) == 2  # each row says which merge
    # The earlier merge's highlights are still there.
    assert highlighted(after) == {
        ("2.1", H["directorate_rag"]),
        ("2.1.1", H["comments"]),
        ("2.2.1", H["directorate_rag"]),
    }
    log = table(after, "Change log", "Cycle")
    [requirement] = [a[H["provider_requirement"]] for a in cycle.issued if a[H["action_ref"]] == "3.1"]
    shown = requirement if len(requirement) <= 120 else requirement[:120] + "…"  # long text: its start
    fields = ("Service", "Action", "Column", "Old value", "New value", "Kind")
    assert [tuple(r[f] for f in fields) for r in log] == [
        ("central team", "1.1", H["due"], "30/04/17", "31/12/2017", "slippage (moved 1 time)"),
        (
            "central team",
            "3.1",
            H["provider_requirement"],
            shown,
            "Care plans must be person-centred.",
            "central",
        ),
    ]
    # FYPC's missing return is resolved, CHS's refused rating still open; CHS's file not re-applied.
    assert ("no-return", "FYPC", "") in resolved_issues(after)
    assert ("invalid-rating", "CHS", "2.1.2") in open_issues(after)
    pending = {("proposal-pending", "FYPC", "2.2.9"), ("proposal-pending", "FYPC", "2.2.10")}
    assert pending <= open_issues(after)


def test_a_second_version_updates_reverts_and_keeps_and_proposals_are_decided(cycle) -> None:
    after = cycle.steps["chs-v2"]
    issued = {(a[H["action_ref"]], a[H["directorate"]]): a for a in cycle.issued}
    # 2.1's rating set back to what was issued; 2.1.1 written again; 2.1.2 fixed.
    assert cell(after, "2.1", "directorate_rag") == issued[("2.1", "CHS")][H["directorate_rag"]]
    assert cell(after, "2.1.1", "comments") == "Audit finished: 92% compliant."
    assert cell(after, "2.1.2", "directorate_rag") == "Green"
    assert ("invalid-rating", "CHS", "2.1.2") in resolved_issues(after)
    superseded = [r for r in table(after, "Issues", "Severity") if r["Code"] == "superseded"]
    assert [r["File"] for r in superseded] == ["CHS.xlsx"]
    # Accepted: an ordinary FYPC action. Rejected: gone from the plan, kept in the log.
    rows = {a[H["action_ref"]]: a for a in actions(after)}
    assert "2.2.9" in rows and "proposed" not in rows["2.2.9"][STATUS]
    assert rows["2.2.9"][H["directorate"]] == "FYPC"
    assert "2.2.10" not in rows
    log = {(r["Action"], r["Kind"]): r for r in table(after, "Change log", "Cycle")}
    assert log[("2.2.9", "proposal accepted")]["New value"] == "accepted as 2.2.9"
    assert log[("2.2.10", "proposal rejected")]["New value"] == "rejected: duplicate of 2.2.3"
    assert not [c for c, _, a in open_issues(after) if c == "proposal-pending"]


def test_merging_the_same_inbox_again_changes_nothing(cycle) -> None:
    before, after = cycle.steps["chs-v2"], cycle.steps["again"]
    assert actions(after) == actions(before)
    assert table(after, "Changes", "Merged at") == table(before, "Changes", "Merged at")
    assert highlighted(after) == highlighted(before)
    assert table(after, "Change log", "Cycle") == table(before, "Change log", "Cycle")
    assert "0 cell(s) changed" in cycle.outputs["again"]


def test_issuing_the_next_cycle_moves_the_changes_to_the_log_and_clears_the_highlights(cycle) -> None:
    before, after = cycle.steps["again"], cycle.steps["q2-issued"]
    log = table(after, "Change log", "Cycle")
    moved = [r for r in log if r["Service"] != "central team"]
    assert kinds(moved) == kinds(table(before, "Changes", "Merged at"))
    assert {r["Cycle"] for r in log} == {Q1}
    assert "Changes" not in openpyxl.load_workbook(after, read_only=True).sheetnames
    assert highlighted(after) == set()


def test_a_stale_return_is_refused_and_the_current_one_merged_into_a_fresh_cycle(cycle) -> None:
    after = cycle.steps["q2-merge"]
    assert kinds(table(after, "Changes", "Merged at")) == [("AMH/LD", "3.1", H["comments"], "change")]
    [stale] = [r for r in table(after, "Issues", "Severity") if r["Code"] == "stale-return"]
    assert (stale["Severity"], stale["Service"]) == ("error", "Corporate")
    assert f"issued for cycle '{Q1}', but the master issued cycle '{Q2}'" in stale["Message"]
    assert cell(after, "1", "comments") != "Last quarter's words"
    summary = sheet_values(after, "Summary")
    assert summary[1][0].startswith(f"Cycle {Q2} ")


def test_validate_names_the_services_that_have_not_returned(cycle, tmp_path) -> None:
    result = invoke("validate", cycle.folder / "inbox", "--plan", cycle.steps["q2-issued"])
    assert "No return yet from: " in result.output
    waiting = result.output.split("No return yet from: ")[1].split(" (due")[0].split(", ")
    assert sorted(waiting) == sorted(["AMH/ILD", "CHS", "FYPC", "Corporate"])
    assert "(due 30/06/2025)" in result.output


def test_merge_time_stamps_are_dates_of_this_run(cycle) -> None:
    stamps = {r["Merged at"] for r in table(cycle.steps["fypc"], "Changes", "Merged at")}
    for stamp in stamps:
        assert dt.datetime.strptime(str(stamp), "%Y-%m-%d %H:%M")
    assert ID_HEADER
