"""The figures a committee reads after a merge, checked against counts this test makes itself
from the plan rows of the written master: the Summary's ratings, Overdue and Complete % per
service and in total, and the Issues sheet's overdue actions (which must be the same actions
the Summary counts). And the Key sheet, which says what the ratings and columns mean.

The plan is small and made for this: every service has overdue, complete, unrated and
undated actions, one action is joint, and the central team moves two due dates in the master
while the templates are out (the Summary and the Issues sheet must both judge on the moved
dates, not on the dates as issued).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import openpyxl
import pytest
from conftest import LPT_HEADERS, PLAN_SHEET, REPO, invoke, plan_table, sheet_values, write_csv

from xlplan.simulate import fill_in

AS_OF = dt.date(2025, 6, 30)
CQC_TOML = tomllib.loads((REPO / "layouts" / "cqc.toml").read_text(encoding="utf-8"))
SCALE = [r["value"] for r in CQC_TOML["rating"]]
COMPLETE = {r["value"] for r in CQC_TOML["rating"] if r.get("complete")}
REF, ROUTE = "Action Reference", "Directorate"
DUE = "Insert the date the action AND evidence will be provided"
RATING, COMMENTS = "Directorate RAG Rating", "Comments/ Remedial Actions"

# reference, directorate, due, rating, comments
ACTIONS = [
    ("1", "North", "31/01/2025", "Red", ""),
    ("1.1", "North", "31/12/2025", "Amber", ""),  # moved to 31/01/2025 by the central team
    ("1.2", "North", "28/02/2025", "Purple", "Evidence: audit report."),
    ("2", "South", "31/03/2025", "Green", ""),  # moved to 31/12/2025 by the central team
    ("2.1", "South", "ongoing", "Red", ""),
    ("2.2", "South", "", "White", ""),
    ("3", "East", "01/05/2025", "Blue", "Assured."),
    ("3.1", "East", "15/06/2025", "Amber", ""),
    ("3.2", "East", "31/05/2025", "", ""),
    ("4", "North & South", "30/04/2025", "Amber", ""),
]
MOVED = {"1.1": dt.datetime(2025, 1, 31), "2": dt.datetime(2025, 12, 31)}
RETURNS = {
    "North.xlsx": {("1", "directorate_rag"): "Green", ("1.1", "comments"): "Slipped."},
    "South.xlsx": {("2.2", "directorate_rag"): "Purple", ("2.2", "comments"): "Evidence sent."},
    "East.xlsx": {("3.1", "directorate_rag"): "Blue", ("3.1", "comments"): "Assured 01/06/2025."},
}


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("figures")
    rows = [list(LPT_HEADERS)]
    for ref, route, due, rating, comments in ACTIONS:
        row = {
            REF: ref,
            ROUTE: route,
            DUE: due,
            RATING: rating,
            COMMENTS: comments,
            LPT_HEADERS[6]: f"Action {ref}.",
        }
        rows.append([row.get(h, "") for h in LPT_HEADERS])
    source = write_csv(root / "source.csv", rows)
    plan, outbox, inbox = root / "plan.xlsx", root / "out", root / "in"
    assert invoke("import", source, "-o", plan).exit_code == 0
    result = invoke("template", plan, "-o", outbox, "--cycle", "2025-Q2")
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(plan)  # the central team moves two dates in Excel
    sheet = book[PLAN_SHEET]
    header = [c.value for c in sheet[3]]
    for row in range(4, sheet.max_row + 1):
        ref = sheet.cell(row, header.index(REF) + 1).value
        if ref in MOVED:
            sheet.cell(row, header.index(DUE) + 1).value = MOVED[ref]
    book.save(plan)
    for name, edits in RETURNS.items():
        fill_in(outbox / name, inbox / name, edits)
    out = root / "merged.xlsx"
    result = invoke("merge", plan, inbox, "-o", out, "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0, result.output
    return out


def due_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.datetime.strptime(str(value).strip(), "%d/%m/%Y").date()
    except ValueError:
        return None


def expected_by_service(out: Path) -> dict[str, dict[str, object]]:
    """Counted from the written master's plan rows, with nothing of xlplan's but the reading."""
    _, rows = plan_table(out)
    counts: dict[str, dict[str, object]] = {}
    for row in rows:
        rating = str(row[RATING] or "")
        due = due_date(row[DUE])
        for service in (s.strip() for s in str(row[ROUTE]).split("&")):
            figures = counts.setdefault(
                service,
                {
                    "Actions": 0,
                    **dict.fromkeys(SCALE, 0),
                    "Not rated": 0,
                    "Overdue": 0,
                    "complete": 0,
                    "overdue refs": set(),
                },
            )
            figures["Actions"] += 1
            figures[rating if rating in SCALE else "Not rated"] += 1
            if rating in COMPLETE:
                figures["complete"] += 1
            elif due is not None and due < AS_OF:
                figures["Overdue"] += 1
                figures["overdue refs"].add(str(row[REF]))
    return counts


def table(out: Path, sheet: str, first_header: str) -> list[dict[str, object]]:
    rows = sheet_values(out, sheet)
    start = next(i for i, r in enumerate(rows) if r and r[0] == first_header)
    header = [str(c) for c in rows[start]]
    return [
        dict(zip(header, r, strict=False)) for r in rows[start + 1 :] if any(v not in ("", None) for v in r)
    ]


def test_the_summary_per_service_matches_the_plan_rows(merged: Path) -> None:
    expected = expected_by_service(merged)
    summary = {r["Service"]: r for r in table(merged, "Summary", "Service") if r["Service"] != "Total"}
    assert set(summary) == set(expected) == {"North", "South", "East"}
    for service, figures in expected.items():
        row = summary[service]
        for key in ["Actions", *SCALE, "Not rated", "Overdue"]:
            assert row[key] == figures[key], (service, key, row)
        assert row["Complete %"] == pytest.approx(figures["complete"] / figures["Actions"]), service
    # The plan was made so that each figure is tested with something to count.
    assert all(f["Overdue"] > 0 and f["complete"] > 0 for f in expected.values()), expected


def test_the_summary_total_row_adds_up(merged: Path) -> None:
    expected = expected_by_service(merged)
    [total] = [r for r in table(merged, "Summary", "Service") if r["Service"] == "Total"]
    assert total["Overdue"] == sum(f["Overdue"] for f in expected.values())
    assert total["Actions"] == sum(f["Actions"] for f in expected.values())
    done = sum(f["complete"] for f in expected.values())
    assert total["Complete %"] == pytest.approx(done / total["Actions"])


def test_the_issues_sheet_lists_the_overdue_actions_the_summary_counts(merged: Path) -> None:
    expected = expected_by_service(merged)
    listed = {
        (i["Service"], str(i["Action"]))
        for i in table(merged, "Issues", "Severity")
        if i["Code"] == "overdue"
    }
    assert listed == {(s, ref) for s, f in expected.items() for ref in f["overdue refs"]}
    # judged on the master's dates as moved after issue, not on the dates as issued
    assert ("North", "1.1") in listed and ("South", "2") not in listed


def test_the_key_sheet_explains_the_ratings_and_who_fills_each_column(merged: Path) -> None:
    rows = [[str(c) for c in r] for r in sheet_values(merged, "Key")]
    start = next(i for i, r in enumerate(rows) if r[:3] == ["Rating", "Meaning", "Also read as"])
    ratings = [r[:3] for r in rows[start + 1 : start + 1 + len(SCALE)]]
    assert ratings == [
        [
            r["value"],
            r["meaning"] + (" (complete)" if r.get("complete") else ""),
            ", ".join(r.get("aliases", [])),
        ]
        for r in CQC_TOML["rating"]
    ]
    start = next(i for i, r in enumerate(rows) if r[:3] == ["Column", "Header", "Filled in by"])
    columns = [r[:3] for r in rows[start + 1 : start + 1 + len(CQC_TOML["column"])]]
    assert columns == [[c["field"], c["header"], c["owner"]] for c in CQC_TOML["column"]]
