"""Three cycles through the CLI, as a central team runs them, then the committee's questions:
are we getting better (the Progress sheet's figures, checked against counts made here from
each cycle's own master), what has slipped, what is stuck, and the pack they print.

2025-Q1: CHS rates 2.1 Amber and completes 2.1.1. The central team moves the due dates of
1.1 and 1.2 later, and gives 2.1 ("March 2017 - March 2018") a date.
2025-Q2: CHS rates 2.1.2 Red, FYPC rates 2.2.1 Green. 1.1's date moves again.
2025-Q3: CHS leaves 2.1 Amber (three cycles now), AMH/LD rates 3.1 Amber; a late Corporate
return is merged a fortnight later in the same cycle, replacing that cycle's figures.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import (
    CQC,
    LPT_SOURCE,
    H,
    edit_master,
    invoke,
    plan_table,
    sheet_values,
)

from xlplan.dates import parse_uk_date
from xlplan.simulate import fill_in

SCALE = CQC.rating_values
COMPLETE = CQC.complete_ratings
CYCLES = ["2025-Q1", "2025-Q2", "2025-Q3"]
AS_OF = {"2025-Q1": dt.date(2025, 3, 1), "2025-Q2": dt.date(2025, 6, 1), "2025-Q3": dt.date(2025, 9, 15)}


def merge(folder: Path, as_of: dt.date) -> None:
    epoch = int(dt.datetime.combine(as_of, dt.time(9), tzinfo=dt.UTC).timestamp())
    result = invoke(
        "merge",
        folder / "plan.xlsx",
        folder / "inbox",
        "--as-of",
        as_of.isoformat(),
        env={"SOURCE_DATE_EPOCH": str(epoch)},
    )
    assert result.exit_code == 0, result.output


def issue(folder: Path, cycle: str) -> Path:
    out = folder / f"out-{cycle}"
    result = invoke("template", folder / "plan.xlsx", "-o", out, "--cycle", cycle, "--due", "30/09/2025")
    assert result.exit_code == 0, result.output
    for old in (folder / "inbox").iterdir():
        old.unlink()
    return out


@pytest.fixture(scope="module")
def cycles(tmp_path_factory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("cycles")
    plan = folder / "plan.xlsx"
    (folder / "inbox").mkdir()
    assert invoke("import", LPT_SOURCE, "-o", plan).exit_code == 0
    masters: dict[str, Path] = {}

    def keep(name: str) -> None:
        masters[name] = folder / f"after-{name}.xlsx"
        shutil.copy(plan, masters[name])

    out = issue(folder, "2025-Q1")
    fill_in(
        out / "CHS.xlsx",
        folder / "inbox" / "CHS.xlsx",
        {
            ("2.1", "directorate_rag"): "Amber",
            ("2.1.1", "directorate_rag"): "Purple",
            ("2.1.1", "comments"): "Audit report, May 2025.",
        },
    )
    merge(folder, AS_OF["2025-Q1"])
    keep("2025-Q1")
    edit_master(
        plan,
        {
            ("1.1", H["due"]): "31/12/2017",
            ("1.2", H["due"]): dt.datetime(2026, 12, 31),
            ("2.1", H["due"]): dt.datetime(2026, 12, 31),
        },
    )
    out = issue(folder, "2025-Q2")
    fill_in(out / "CHS.xlsx", folder / "inbox" / "CHS.xlsx", {("2.1.2", "directorate_rag"): "Red"})
    fill_in(out / "FYPC.xlsx", folder / "inbox" / "FYPC.xlsx", {("2.2.1", "directorate_rag"): "Green"})
    merge(folder, AS_OF["2025-Q2"])
    keep("2025-Q2")
    edit_master(plan, {("1.1", H["due"]): "31/03/2018"})
    out = issue(folder, "2025-Q3")
    fill_in(out / "CHS.xlsx", folder / "inbox" / "CHS.xlsx", {("2.1.1", "comments"): "Assured."})
    fill_in(out / "AMH-LD.xlsx", folder / "inbox" / "AMH-LD.xlsx", {("3.1", "directorate_rag"): "Amber"})
    merge(folder, dt.date(2025, 9, 1))
    keep("2025-Q3 first merge")
    fill_in(out / "Corporate.xlsx", folder / "inbox" / "Corporate.xlsx", {("1", "directorate_rag"): "Green"})
    merge(folder, AS_OF["2025-Q3"])  # a late return: the same cycle, merged again
    keep("2025-Q3")
    pack = folder / "pack.pdf"
    result = invoke("report", plan, "-o", pack, "--as-of", AS_OF["2025-Q3"].isoformat())
    assert result.exit_code == 0, result.output
    return SimpleNamespace(folder=folder, plan=plan, masters=masters, pack=pack, output=result.output)


# --- counts made here, from a master's own rows ---------------------------------------------


def rows_with_service(path: Path) -> list[dict]:
    """The plan sheet's rows, each with its service: its Directorate, or its nearest parent's."""
    _, rows = plan_table(path)
    first = {}
    for row in rows:
        first.setdefault(str(row[H["action_ref"]]).strip().rstrip("."), row)  # "17.2." is 17.2
    for row in rows:
        service, ref = str(row[H["directorate"]]).strip(), str(row[H["action_ref"]]).strip().rstrip(".")
        while not service and "." in ref:
            ref = ref.rsplit(".", 1)[0]
            service = str(first.get(ref, {}).get(H["directorate"], "")).strip()
        row["service"] = service
    return rows


def counted(path: Path, as_of: dt.date) -> dict[str, list]:
    """Per service: actions, each rating, not rated, open, overdue, complete %."""
    figures: dict[str, list] = {}
    for row in rows_with_service(path):
        rating = str(row[H["directorate_rag"]])
        due = parse_uk_date(row[H["due"]])
        f = figures.setdefault(row["service"], [0] * (len(SCALE) + 4))
        f[0] += 1
        if rating in SCALE:
            f[1 + SCALE.index(rating)] += 1
        else:
            f[1 + len(SCALE)] += 1
        if rating not in COMPLETE:
            f[2 + len(SCALE)] += 1
            if due is not None and due < as_of:
                f[3 + len(SCALE)] += 1
    return {s: [*f, round((f[0] - f[2 + len(SCALE)]) / f[0], 4)] for s, f in figures.items()}


def section(path: Path, title: str) -> list[dict]:
    """The rows of one table of the Progress sheet, under the row that starts with `title`."""
    rows = sheet_values(path, "Progress")
    start = next(i for i, r in enumerate(rows) if str(r[0]).startswith(title))
    header = [str(c) for c in rows[start + 1] if c != ""]
    body = []
    for row in rows[start + 2 :]:
        if all(v in ("", None) for v in row):
            break
        body.append(dict(zip(header, row, strict=False)))
    return body


def figures_of(row: dict) -> list:
    return [
        int(row["Actions"]),
        *(int(row[v]) for v in SCALE),
        int(row["Not rated"]),
        int(row["Open"]),
        int(row["Overdue"]),
        round(float(row["Complete %"]), 4),
    ]


def shown(value: object) -> str:
    return value.strftime("%d/%m/%Y") if isinstance(value, dt.date) else str(value)


# --- the Progress sheet --------------------------------------------------------------------


def test_each_cycle_s_figures_are_those_of_its_own_master(cycles) -> None:
    final = cycles.masters["2025-Q3"]
    per_service = section(final, "Per cycle and service")
    assert [r["Cycle"] for r in per_service] == [
        c for c in CYCLES for _ in counted(cycles.masters[c], AS_OF[c])
    ]
    for cycle in CYCLES:
        expected = counted(cycles.masters[cycle], AS_OF[cycle])
        got = {r["Service"]: figures_of(r) for r in per_service if r["Cycle"] == cycle}
        assert got == expected, cycle
    totals = section(final, "Per cycle, all services")
    assert [r["Cycle"] for r in totals] == CYCLES  # the second Q3 merge replaced Q3's row
    for row in totals:
        expected = counted(cycles.masters[row["Cycle"]], AS_OF[row["Cycle"]])
        summed = [sum(f[i] for f in expected.values()) for i in range(len(SCALE) + 4)]
        assert figures_of(row)[:-1] == summed
        assert row["As of"] == AS_OF[row["Cycle"]]


def test_the_summary_and_progress_agree(cycles) -> None:
    final = cycles.masters["2025-Q3"]
    rows = sheet_values(final, "Summary")
    start = next(i for i, r in enumerate(rows) if r[0] == "Service")
    header = [str(c) for c in rows[start]]
    summary = {
        r[0]: dict(zip(header, r, strict=False)) for r in rows[start + 1 :] if r[0] and r[0] != "Total"
    }
    progress = {r["Service"]: r for r in section(final, "Per cycle and service") if r["Cycle"] == "2025-Q3"}
    assert set(summary) == set(progress)
    for service, row in summary.items():
        assert [row[k] for k in ("Actions", *SCALE, "Overdue", "Complete %")] == [
            progress[service][k] for k in ("Actions", *SCALE, "Overdue", "Complete %")
        ]


def test_a_second_merge_in_a_cycle_replaces_its_figures(cycles) -> None:
    first = section(cycles.masters["2025-Q3 first merge"], "Per cycle, all services")
    final = section(cycles.masters["2025-Q3"], "Per cycle, all services")
    assert [r["Cycle"] for r in first] == CYCLES
    assert first[2]["As of"] == dt.date(2025, 9, 1) and final[2]["As of"] == AS_OF["2025-Q3"]
    assert int(final[2]["Green"]) == int(first[2]["Green"]) + 1  # Corporate's late Green


def test_slipped_actions_are_listed_with_how_often_and_their_dates(cycles) -> None:
    slipped = {(r["Action"], r["Service"]): r for r in section(cycles.masters["2025-Q3"], "Slipped actions")}
    # 2.1's "March 2017 - March 2018" named no single day: a date replacing it is no move later.
    assert set(slipped) == {("1.1", "AMH/ILD"), ("1.2", "AMH/ILD")}
    first = slipped[("1.1", "AMH/ILD")]
    assert (int(first["Times moved"]), shown(first["First due date"]), shown(first["Current due date"])) == (
        2,
        "30/04/17",
        "31/03/2018",
    )
    second = slipped[("1.2", "AMH/ILD")]
    assert int(second["Times moved"]) == 1 and shown(second["Current due date"]) == "31/12/2026"


def expected_stuck(masters: dict[str, Path], as_of: dt.date, days: int = 90) -> dict[tuple[str, str], str]:
    by_cycle = [{r["xlplan ID"]: r for r in rows_with_service(masters[c])} for c in CYCLES]
    stuck = {}
    for action_id, row in by_cycle[-1].items():
        rating, reasons = str(row[H["directorate_rag"]]), []
        if rating and rating not in COMPLETE:
            run = 0
            for rows in reversed(by_cycle):
                if action_id not in rows or str(rows[action_id][H["directorate_rag"]]) != rating:
                    break
                run += 1
            if run >= 2:
                reasons.append(f"{rating} for {run} cycles (since {CYCLES[-run]})")
        due = parse_uk_date(row[H["due"]])
        if rating not in COMPLETE and due is not None and (as_of - due).days > days:
            reasons.append(f"overdue {(as_of - due).days} days")
        if reasons:
            stuck[(str(row[H["action_ref"]]), row["service"])] = "; ".join(reasons)
    return stuck


def test_stuck_actions_are_the_same_rating_for_two_cycles_or_long_overdue(cycles) -> None:
    listed = {
        (r["Action"], r["Service"]): r["Why stuck"]
        for r in section(cycles.masters["2025-Q3"], "Stuck actions")
    }
    expected = expected_stuck(cycles.masters, AS_OF["2025-Q3"])
    assert listed == expected
    assert listed[("2.1", "CHS")] == "Amber for 3 cycles (since 2025-Q1)"  # moved to 2026: not overdue
    assert listed[("2.1.2", "CHS")].startswith("Red for 2 cycles (since 2025-Q2)")
    assert "Amber for" not in listed.get(("3.1", "AMH/LD"), "")  # Amber this cycle only


# --- the committee pack --------------------------------------------------------------------


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_pack_holds_what_the_committee_reads(cycles) -> None:
    assert "Wrote" in cycles.output and "page(s)" in cycles.output
    text = pdf_text(cycles.pack)
    words = flat(text)
    assert "Committee pack · cycle 2025-Q3 · figures as of 15/09/2025" in words
    final = counted(cycles.masters["2025-Q3"], AS_OF["2025-Q3"])
    assert f"{sum(f[0] for f in final.values())} across {len(final)} services" in words
    for heading in (
        "Summary",
        "Progress over cycles",
        "Red actions",
        "Overdue actions",
        "Slipped actions",
        "Stuck actions",
        "Refused returns and cells",
        "Missing returns",
        "Changes this cycle (2025-Q3)",
    ):
        assert heading in text, heading
    for service in final:
        assert service in text
    # Progress: each cycle's complete % per service, as counted from that cycle's master.
    for cycle in CYCLES:
        assert cycle in text
    chs = [f"{counted(cycles.masters[c], AS_OF[c])['CHS'][-1]:.0%}" for c in CYCLES]
    assert f"CHS {' '.join(chs)}" in words
    # Exceptions, as the Progress sheet lists them.
    assert "Amber for 3 cycles (since 2025-Q1)" in words
    assert "30/04/17 31/03/2018" in words  # 1.1: first and current due date
    missing = words[words.index("Missing returns") : words.index("Changes this cycle")]
    assert "AMH/ILD" in missing and "FYPC" in missing and "CHS" not in missing.replace("AMH", "")
    # This cycle's changes: old and new, who and when.
    changes = words[words.index("Changes this cycle (2025-Q3)") :]
    assert "Audit report, May 2025. Assured. CHS 2025-09-01 09:00" in changes
    assert "Green Corporate 2025-09-15 09:00" in changes
    # Long text wraps and is never cut: every word of a long action is there.
    [one] = [r for r in rows_with_service(cycles.masters["2025-Q3"]) if r[H["action_ref"]] == "1.1"]
    assert len(one[H["action"]]) > 300
    assert set(one[H["action"]].split()) <= set(text.split())


def test_no_text_in_the_pack_is_small_or_off_the_page(cycles) -> None:
    from pypdf import PdfReader

    sizes: list[tuple[float, str]] = []

    def visit(text, cm, tm, _font, size) -> None:
        if text.strip():
            scale = abs(tm[0] * tm[3] - tm[1] * tm[2]) ** 0.5 * abs(cm[0] * cm[3] - cm[1] * cm[2]) ** 0.5
            sizes.append((size * scale, text))

    for page in PdfReader(cycles.pack).pages:
        page.extract_text(visitor_text=visit)
    assert sizes and min(s for s, _ in sizes) >= 7, [t for s, t in sizes if s < 7][:5]
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler) is not installed: word positions not checked")
    boxes = subprocess.run(
        ["pdftotext", "-bbox", str(cycles.pack), "-"], capture_output=True, text=True, check=True
    ).stdout
    page = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', boxes)
    width, height = float(page[1]), float(page[2])
    words = re.findall(
        r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">([^<]*)', boxes
    )
    assert len(words) > 1000
    outside = [
        w[4]
        for w in words
        if float(w[0]) < 10 or float(w[2]) > width - 10 or float(w[1]) < 10 or float(w[3]) > height - 10
    ]
    assert outside == []


def test_a_pack_needs_a_pdf_name_and_a_master(cycles, tmp_path) -> None:
    result = invoke("report", cycles.plan, "-o", tmp_path / "pack.xlsx")
    assert result.exit_code != 0 and "ending .pdf" in result.output
    result = invoke("report", tmp_path / "nothing.xlsx", "-o", tmp_path / "pack.pdf")
    assert result.exit_code != 0 and "nothing.xlsx" in result.output
    assert not (tmp_path / "pack.pdf").exists()


def test_a_master_that_never_merged_still_makes_a_pack(tmp_path) -> None:
    plan = tmp_path / "plan.xlsx"
    assert invoke("import", LPT_SOURCE, "-o", plan).exit_code == 0
    result = invoke("report", plan, "-o", tmp_path / "pack.pdf", "--as-of", "2025-01-01")
    assert result.exit_code == 0, result.output
    assert "No merge has been recorded yet" in flat(pdf_text(tmp_path / "pack.pdf"))


def test_a_pack_of_many_services_with_long_text_fits_its_pages(tmp_path) -> None:
    """60 services (the generated benchmark plan: 50 to 800 characters a cell), merged: the
    chart shows the 20 with most overdue actions; every exception table breaks across pages."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from generate import generate

    generate(tmp_path, 60, 6)
    merged = invoke(
        "merge",
        tmp_path / "plan.xlsx",
        tmp_path / "inbox",
        "-o",
        tmp_path / "merged.xlsx",
        "--as-of",
        "2025-03-01",
    )
    assert merged.exit_code in (0, 1), merged.output
    result = invoke("report", tmp_path / "merged.xlsx", "-o", tmp_path / "pack.pdf", "--as-of", "2025-03-01")
    assert result.exit_code == 0, result.output
    text = flat(pdf_text(tmp_path / "pack.pdf"))
    assert "Ratings per service (the 20 with most overdue actions)" in text


def test_the_committee_view_shows_the_columns_a_committee_reads_and_what_changed(cycles) -> None:
    import openpyxl

    final = cycles.masters["2025-Q3"]
    rows = sheet_values(final, "Committee view")
    header = [str(c) for c in rows[2] if c != ""]
    fields = (
        "action_ref",
        "directorate",
        "provider_requirement",
        "action",
        "manager",
        "due",
        "comments",
        "directorate_rag",
        "committee_rag",
        "compass_rag",
    )
    assert header == [*(H[f] for f in fields), "Changed this cycle"]
    view = [dict(zip(header, r, strict=False)) for r in rows[3:] if any(v != "" for v in r)]
    plan = plan_table(final)[1]
    assert [(r[H["action_ref"]], r[H["directorate_rag"]]) for r in view] == [
        (r[H["action_ref"]], r[H["directorate_rag"]]) for r in plan
    ]
    changed = {
        (r[H["action_ref"]], r[H["directorate"]]): r["Changed this cycle"]
        for r in view
        if r["Changed this cycle"]
    }
    assert changed == {
        ("2.1.1", ""): f"changed: {H['comments']}",  # its Directorate is its parent's
        ("3.1", "AMH/LD"): f"changed: {H['directorate_rag']}",
        ("1", "Corporate"): f"changed: {H['directorate_rag']}",
    }
    sheet = openpyxl.load_workbook(final)["Committee view"]
    row = next(r for r in range(4, sheet.max_row + 1) if sheet.cell(r, 1).value == "2.1")
    amber = next(r for r in CQC.ratings if r.value == "Amber")
    fill = sheet.cell(row, header.index(H["directorate_rag"]) + 1).fill.fgColor.rgb
    assert fill[-6:] == amber.fill[1:].upper()
    assert "cycle 2025-Q3" in sheet.oddFooter.left.text and "&P" in sheet.oddFooter.right.text
