"""The bundled examples: the LPT cycle merges as the README says, the committed workbooks are
what `examples/build.py` makes today, and every seed plan survives a whole round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import (
    EXAMPLES,
    ID_HEADER,
    REPO,
    SEED_ROUTES,
    SEED_SOURCES,
    all_sheet_values,
    invoke,
    plan_table,
)

from xlplan.layout import load_layout
from xlplan.simulate import fill_in

LPT = EXAMPLES / "lpt-cqc-2017"
REBUILD = "run `python examples/build.py` to regenerate the examples, and commit the result"


# --- (a) the bundled cycle merges -------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundled")
    out, report = folder / "consolidated.xlsx", folder / "report.json"
    before = (LPT / "plan.xlsx").read_bytes()
    result = invoke(
        "merge", LPT / "plan.xlsx", LPT / "returns", "-o", out, "--as-of", "2017-07-31", "--json", report
    )
    assert (LPT / "plan.xlsx").read_bytes() == before, "the committed master was changed"
    return result, out, json.loads(report.read_text(encoding="utf-8"))


def test_the_bundled_example_merges(bundled):
    result, out, report = bundled

    assert result.exit_code == 0, result.output
    assert out.exists()
    codes = [p["code"] for p in report["problems"]]
    assert codes.count("conflict") == 1 and report["conflicts"] == 1
    assert "invalid-rating" in codes and "locked-cell-changed" in codes
    assert [c["action"] for c in report["changes"] if c["kind"] == "proposed"] == ["11.8"]
    assert [s["service"] for s in report["services"] if not s["returned"]] == ["AMH/ILD"]
    assert "1 conflict(s)" in result.output and "1 service(s) with no return" in result.output


def test_the_bundled_merge_lists_the_same_on_its_issues_sheet(bundled):
    _, out, _ = bundled
    rows = all_sheet_values(out)["Issues"]
    start = next(i for i, r in enumerate(rows) if r[0] == "Severity")
    issues = [dict(zip(rows[start], r, strict=False)) for r in rows[start + 1 :] if any(r)]

    found = {(i["Code"], i["Service"], i["Action"]) for i in issues}
    assert {
        ("conflict", "CHS", "5.2.1"),
        ("invalid-rating", "CHS", "2.1.2"),
        ("locked-cell-changed", "FYPC", "2.2"),
        ("proposed-action", "AMH/LD", "11.8"),
        ("no-return", "AMH/ILD", ""),
    } <= found


# --- (b) the committed examples are up to date --------------------------------------------------


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    out = tmp_path_factory.mktemp("rebuilt")
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    done = subprocess.run(
        [sys.executable, "examples/build.py", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def workbooks(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.xlsx"))


def test_the_build_writes_every_committed_workbook_and_no_other(rebuilt):
    committed = [p for p in workbooks(EXAMPLES) if not p.split("/")[-1].startswith("~$")]

    assert workbooks(rebuilt) == committed, REBUILD


def test_every_committed_workbook_matches_a_fresh_build(rebuilt):
    stale = []
    for name in workbooks(rebuilt):
        if not (EXAMPLES / name).exists():
            continue  # reported by the test above
        fresh, committed = all_sheet_values(rebuilt / name), all_sheet_values(EXAMPLES / name)
        if fresh != committed:
            sheets = sorted(s for s in set(fresh) | set(committed) if fresh.get(s) != committed.get(s))
            stale.append(f"examples/{name} (sheets {', '.join(sheets)})")

    assert not stale, "these differ from a fresh build: " + "; ".join(stale) + f". {REBUILD}."


# --- (c) every seed layout round-trips ---------------------------------------------------------

RATINGS = ["Red", "Amber", "Green", "Purple", "Blue"]


@pytest.mark.parametrize(("name", "layout_name"), list(SEED_SOURCES.items()), ids=list(SEED_SOURCES))
def test_each_seed_plan_round_trips(name, layout_name, tmp_path):
    layout, _ = load_layout(layout_name)
    rating_field, text_field = layout.service_rating, layout.evidence_fields[0]
    assert {rating_field, text_field} <= set(layout.service_fields)
    header = {c.field: c.header for c in layout.columns}
    plan, outbox, inbox = tmp_path / "plan.xlsx", tmp_path / "outbox", tmp_path / "inbox"
    assert invoke(
        "import",
        EXAMPLES / name / "source.csv",
        "-o",
        plan,
        "--layout",
        layout_name,
        *SEED_ROUTES.get(name, []),
    ).exit_code in (0, 1)
    result = invoke("template", plan, "-o", outbox, "--cycle", "2025-Q1")
    assert result.exit_code == 0, result.output
    _, master = plan_table(plan, layout.sheet)

    expected: dict[tuple[str, str], str] = {}
    for template in sorted(outbox.glob("*.xlsx")):
        _, rows = plan_table(template, layout.sheet)
        actions = [r for r in rows if r[ID_HEADER] and not str(r[ID_HEADER]).startswith("new-")]
        refs = [str(r[header[layout.reference]]) for r in actions]
        assert "" not in refs and len(set(refs)) == len(refs), (
            f"{template.name}: actions cannot be told apart by reference: {refs}"
        )
        edits = {}
        for action, ref in zip(actions, refs, strict=True):
            # The same values for an action in every service's copy (joint actions).
            rating = RATINGS[sum(map(ord, ref)) % len(RATINGS)]
            text = f"{ref}: progress this cycle — evidence on the shared drive ✅\nZoë, 30/06/2025"
            edits[(ref, rating_field)] = rating
            edits[(ref, text_field)] = text
            expected[(str(action[ID_HEADER]), rating_field)] = rating
            expected[(str(action[ID_HEADER]), text_field)] = text
        fill_in(template, inbox / template.name, edits)
    out, report = tmp_path / "out.xlsx", tmp_path / "report.json"

    result = invoke("merge", plan, inbox, "-o", out, "--json", report)

    assert result.exit_code == 0, result.output
    merged = json.loads(report.read_text(encoding="utf-8"))
    assert merged["refused"] == 0 and merged["conflicts"] == 0, merged["problems"]
    _, after = plan_table(out, layout.sheet)
    after_by_id = {str(r[ID_HEADER]): r for r in after}
    assert len(after) == len(master)
    assert set(after_by_id) == {str(r[ID_HEADER]) for r in master}
    assert {a for a, _ in expected} == set(after_by_id), "an action was issued to no service"
    for (action_id, field), value in expected.items():
        assert after_by_id[action_id][header[field]] == value, (action_id, field)
