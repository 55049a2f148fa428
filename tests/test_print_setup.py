"""Every sheet xlplan writes prints: a page setup (orientation, paper, fit to the page width),
its header row repeated on every page, and the plan sheet at a scale where 10 pt text prints
at 8 pt or more. Read back with openpyxl from workbooks written by the real CLI."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from conftest import LPT_SERVICE_FILES, PLAN_SHEET, invoke

from xlplan.print_setup import PRINTABLE_WIDTH, column_points
from xlplan.simulate import fill_in

# The sheets with a table whose header row must print on every page: sheet -> header row (1-based).
HEADER_ROWS = {
    PLAN_SHEET: "$1:$3",
    "Summary": None,
    "Changes": None,
    "Issues": None,
    "Change log": None,
    "Services": None,
    "xlplan problems": "$1:$1",
    "Committee view": "$3:$3",
}
ONE_PAGE = {"Guidance", "Key"}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("printed")
    plan, inbox, outbox = folder / "plan.xlsx", folder / "inbox", folder / "outbox"
    inbox.mkdir()
    from conftest import LPT_SOURCE

    assert invoke("import", LPT_SOURCE, "-o", plan).exit_code == 0
    assert invoke("template", plan, "-o", outbox, "--cycle", "2025-Q1").exit_code == 0
    fill_in(
        outbox / LPT_SERVICE_FILES["CHS"],
        inbox / "CHS.xlsx",
        {("2.1", "directorate_rag"): "Amber", ("2.1.2", "directorate_rag"): "Yellow"},
    )
    assert invoke("merge", plan, inbox, "--as-of", "2025-03-01").exit_code == 0
    marked = folder / "marked"
    invoke("validate", inbox, "--plan", plan, "--annotate", marked)
    return {"master": plan, "template": outbox / LPT_SERVICE_FILES["CHS"], "annotated": marked / "CHS.xlsx"}


def fit(value) -> int:
    """openpyxl leaves out the default, 1."""
    return 1 if value is None else int(value)


def visible_sheets(path: Path, only: set[str] | None = None):
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        if sheet.sheet_state == "visible" and (only is None or sheet.title in only):
            yield sheet


@pytest.mark.parametrize("kind", ["master", "template", "annotated"])
def test_every_written_sheet_has_a_page_setup(written, kind) -> None:
    only = {"xlplan problems"} if kind == "annotated" else None  # the rest is the service's own file
    sheets = list(visible_sheets(written[kind], only))
    assert sheets
    if kind == "master":
        assert {"Summary", "Changes", "Issues", "Progress", "Key", "Change log"} <= {s.title for s in sheets}
    for sheet in sheets:
        setup = sheet.page_setup
        assert setup.orientation in ("landscape", "portrait"), sheet.title
        assert setup.paperSize in (8, 9), sheet.title  # A3 or A4, never the printer's default
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        if sheet.title in ONE_PAGE:
            assert (setup.orientation, fit(setup.fitToWidth), fit(setup.fitToHeight)) == ("portrait", 1, 1)
        else:
            assert fit(setup.fitToHeight) == 0 and setup.orientation == "landscape", sheet.title
        if sheet.title in HEADER_ROWS:
            assert sheet.print_title_rows, sheet.title
            if HEADER_ROWS[sheet.title]:
                assert sheet.print_title_rows == HEADER_ROWS[sheet.title]


@pytest.mark.parametrize("kind", ["master", "template"])
def test_the_plan_sheet_prints_at_8_pt_or_more(written, kind) -> None:
    sheet = openpyxl.load_workbook(written[kind])[PLAN_SHEET]
    setup = sheet.page_setup
    widths = [d.width for d in sheet.column_dimensions.values() if not d.hidden and d.width]
    for dimension in sheet.column_dimensions.values():  # a range covers several columns
        if not dimension.hidden and dimension.width and dimension.min != dimension.max:
            widths += [dimension.width] * (dimension.max - dimension.min)
    scale = min(
        1.0,
        fit(setup.fitToWidth) * PRINTABLE_WIDTH[int(setup.paperSize)] / sum(column_points(w) for w in widths),
    )
    assert 10 * scale >= 8, (setup.paperSize, setup.fitToWidth, scale)
    assert setup.paperSize == 8 and setup.orientation == "landscape"  # the CQC plan is wide: A3


def test_the_issues_sheet_opens_with_counts_and_lists_errors_first(written) -> None:
    from collections import Counter

    from conftest import sheet_values

    rows = sheet_values(written["master"], "Issues")
    start = next(i for i, r in enumerate(rows) if r[0] == "Severity")
    header = [str(c) for c in rows[start]]
    table = [dict(zip(header, r, strict=False)) for r in rows[start + 1 :] if any(r)]
    open_rows = [r for r in table if r["Status"] == "open"]
    severities = [r["Severity"] for r in open_rows]
    assert severities == sorted(severities, key=["error", "warning", "info"].index) and "error" in severities
    lines = [str(r[0]) for r in rows[1:start]]
    count = Counter(severities)
    assert (
        f"Open: {count['error']} error(s), {count['warning']} warning(s), {count['info']} note(s)" in lines[1]
    )
    codes = Counter(f"{r['Code']} ({r['Severity']})" for r in open_rows)
    assert lines[2] == "By problem: " + ", ".join(f"{c} {n}" for c, n in codes.most_common())
    services = Counter(r["Service"] or "(no service)" for r in open_rows)
    assert lines[3] == "By service: " + ", ".join(f"{s} {n}" for s, n in services.most_common())
    sheet = openpyxl.load_workbook(written["master"])["Issues"]
    assert sheet.auto_filter.ref and sheet.freeze_panes == f"A{start + 2}"


def test_the_guidance_sheets_wrapped_rows_are_as_tall_as_their_lines(written) -> None:
    """LibreOffice does not grow a row for wrapped text: without a height the next row's text
    prints over it."""
    sheet = openpyxl.load_workbook(written["template"])["Guidance"]
    long_rows = [row for row in range(1, sheet.max_row + 1) if len(str(sheet.cell(row, 2).value or "")) > 110]
    assert long_rows, "the Guidance sheet has text that wraps"
    for row in long_rows:
        lines = -(-len(str(sheet.cell(row, 2).value)) // 99)
        height = sheet.row_dimensions[row].height
        assert height is not None and height >= 12 * lines, (row, height, lines)
