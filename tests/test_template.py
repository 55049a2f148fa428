"""The central team issues one locked workbook per service from the master plan."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import (
    CQC,
    CYCLE,
    EPOCH,
    EXAMPLES,
    FIRST_DATA_ROW,
    HEADER_ROW,
    ID_HEADER,
    ISSUED_SHEET,
    LPT_HEADERS,
    LPT_SERVICE_FILES,
    META_SHEET,
    PLAN_SHEET,
    SEED_ROUTES,
    SEED_SOURCES,
    all_sheet_values,
    metadata,
    open_book,
    plan_table,
)
from openpyxl.utils import get_column_letter
from openpyxl.utils.protection import hash_password

from xlplan.layout import load_layout

SCALE_LIST = '"White,Red,Amber,Green,Purple,Blue"'
SPARE_ROWS = 5
SERVICES = list(LPT_SERVICE_FILES)


def letters(layout, predicate) -> list[str]:
    return [get_column_letter(i) for i, c in enumerate(layout.columns, start=1) if predicate(c)]


def template_actions(path):
    """The issued actions of a template: rows with an xlplan ID that is not a spare row."""
    _, rows = plan_table(path)
    return [r for r in rows if r[ID_HEADER] and not str(r[ID_HEADER]).startswith("new-")]


def refs_in(path) -> list[str]:
    return [a["Action Reference"] for a in template_actions(path)]


def validations_by_column(ws) -> dict[str, list]:
    """Column letter -> the data validations whose range starts in that column."""
    found: dict[str, list] = {}
    for dv in ws.data_validations.dataValidation:
        for cell_range in dv.sqref.ranges:
            found.setdefault(get_column_letter(cell_range.min_col), []).append((dv, cell_range))
    return found


@pytest.fixture(scope="module")
def books(templates_dir):
    """Each LPT service's template, opened once with openpyxl."""
    return {service: open_book(templates_dir / name) for service, name in LPT_SERVICE_FILES.items()}


@pytest.fixture(scope="module")
def counts(templates_dir):
    return {
        service: len(template_actions(templates_dir / name)) for service, name in LPT_SERVICE_FILES.items()
    }


# --- who gets what ------------------------------------------------------------------------


def test_one_workbook_per_service_with_a_safe_file_name(templates_dir):
    assert sorted(p.name for p in templates_dir.iterdir()) == sorted(LPT_SERVICE_FILES.values())


def test_template_reports_each_file_and_its_action_count(run, lpt_plan, tmp_path):
    result = run("template", lpt_plan, "-o", tmp_path / "outbox")

    assert result.exit_code == 0, result.output
    for service, count in {"Corporate": 23, "AMH/ILD": 2, "CHS": 61, "FYPC": 19, "AMH/LD": 49}.items():
        name = LPT_SERVICE_FILES[service]
        assert f"{tmp_path / 'outbox' / name}  {service}: {count} action(s)" in result.output
    assert "Wrote 5 service workbook(s)" in result.output


def test_each_service_gets_the_actions_its_directorate_owns(templates_dir, counts):
    assert counts == {"Corporate": 23, "AMH/ILD": 2, "CHS": 61, "FYPC": 19, "AMH/LD": 49}
    assert refs_in(templates_dir / "AMH-ILD.xlsx") == ["1.1", "1.2"]


def test_joint_actions_go_to_both_directorates(templates_dir):
    holders = {service: set(refs_in(templates_dir / name)) for service, name in LPT_SERVICE_FILES.items()}

    for ref in ("5.1", "5.1.1"):
        assert {s for s, refs in holders.items() if ref in refs} == {"FYPC", "CHS"}


def test_sub_actions_with_a_blank_directorate_go_to_their_parents_service(templates_dir):
    holders = {service: set(refs_in(templates_dir / name)) for service, name in LPT_SERVICE_FILES.items()}

    def owners(ref):
        return {s for s, refs in holders.items() if ref in refs}

    assert owners("2.1.1") == {"CHS"}  # 2.1 is CHS's; 2 is Corporate's
    assert owners("2.2.3") == {"FYPC"}
    assert owners("17.2.1") == {"FYPC"}  # parent written "17.2."
    assert owners("8.0.1") == {"Corporate"}  # no 8.0: the grandparent 8
    _, rows = plan_table(templates_dir / "CHS.xlsx")
    assert next(r for r in rows if r["Action Reference"] == "2.1.1")["Directorate"] == ""


def test_every_master_action_is_issued_and_issued_unchanged(lpt_master, templates_dir, counts):
    _, master = plan_table(lpt_master)
    by_id = {a[ID_HEADER]: a for a in master}
    issued: set[str] = set()

    for name in LPT_SERVICE_FILES.values():
        header, rows = plan_table(templates_dir / name)
        assert header[-1] == ID_HEADER
        for action in template_actions(templates_dir / name):
            issued.add(action[ID_HEADER])
            expected = by_id[action[ID_HEADER]]
            assert [action[h] for h in LPT_HEADERS] == [expected[h] for h in LPT_HEADERS]

    assert issued == set(by_id)
    # 152 actions; 5.1 and 5.1.1 go to two services, each with a row (and an ID) of its own.
    assert len(issued) == sum(counts.values()) == 152 + 2


def test_free_text_dates_reach_the_service_as_written(templates_dir):
    _, rows = plan_table(templates_dir / "Corporate.xlsx")
    due = "Insert the date the action AND evidence will be provided"

    assert next(r for r in rows if r["Action Reference"] == "8")[due] == "30/ 04 /17"


# --- how each workbook is locked and laid out ---------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_headers_are_verbatim_and_the_id_column_is_hidden(books, service):
    ws = books[service][PLAN_SHEET]

    header = [c.value for c in ws[HEADER_ROW]]
    assert header == [*LPT_HEADERS, ID_HEADER]
    assert ws.column_dimensions[get_column_letter(len(header))].hidden


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_service_columns_are_unlocked(books, counts, service):
    ws = books[service][PLAN_SHEET]
    last = HEADER_ROW + counts[service]
    service_cols = letters(CQC, lambda c: c.owner == "service")
    assert service_cols == ["G", "H", "I", "J", "K", "L", "M", "N"]

    for row in ws.iter_rows(min_row=FIRST_DATA_ROW, max_row=last, max_col=len(LPT_HEADERS) + 1):
        for cell in row:
            assert cell.protection.locked is (cell.column_letter not in service_cols), cell.coordinate


@pytest.mark.parametrize("service", SERVICES)
def test_spare_rows_follow_the_actions_unlocked_for_proposals(books, counts, service):
    ws = books[service][PLAN_SHEET]
    first_spare = FIRST_DATA_ROW + counts[service]
    id_col = len(LPT_HEADERS) + 1

    spare = list(ws.iter_rows(min_row=first_spare, max_row=ws.max_row))
    assert len(spare) == SPARE_ROWS
    assert [row[id_col - 1].value for row in spare] == [f"new-{n}" for n in range(1, 6)]
    for row in spare:
        assert all(cell.value is None for cell in row[: id_col - 1])
        assert all(cell.protection.locked is False for cell in row[: id_col - 1])
        assert row[id_col - 1].protection.locked is True


@pytest.mark.parametrize("service", SERVICES)
def test_the_sheet_and_the_workbook_structure_are_protected(books, service):
    book = books[service]
    protection = book[PLAN_SHEET].protection

    # OOXML: an attribute set to true means the action is *protected* (not allowed).
    assert protection.sheet is True
    assert protection.password is None
    assert protection.autoFilter is False  # filtering allowed
    assert protection.formatColumns is False  # widening columns allowed
    assert protection.formatRows is False  # taller rows allowed
    assert protection.selectLockedCells is False
    assert protection.selectUnlockedCells is False
    assert protection.insertRows is True
    assert protection.deleteRows is True
    assert protection.insertColumns is True
    assert protection.deleteColumns is True
    assert book.security is not None
    assert book.security.lockStructure is True
    assert book.security.workbookPassword is None


@pytest.mark.parametrize("service", SERVICES)
def test_rating_columns_have_a_dropdown_that_refuses_other_values(books, counts, service):
    ws = books[service][PLAN_SHEET]
    by_col = validations_by_column(ws)
    last = HEADER_ROW + counts[service] + SPARE_ROWS
    rating_cols = letters(CQC, lambda c: c.type == "rating")
    assert rating_cols == ["N", "O", "P"]

    for letter in rating_cols:
        [(dv, cell_range)] = by_col[letter]
        assert dv.type == "list"
        assert dv.formula1 == SCALE_LIST
        assert dv.errorStyle in (None, "stop")  # absent means stop in OOXML
        assert dv.showErrorMessage is True
        assert (cell_range.min_row, cell_range.max_row) == (FIRST_DATA_ROW, last)


@pytest.mark.parametrize("service", SERVICES)
def test_rating_columns_are_coloured_by_conditional_formatting(books, counts, service):
    ws = books[service][PLAN_SHEET]
    last = HEADER_ROW + counts[service] + SPARE_ROWS
    fills = {f'"{r.value}"': "FF" + r.fill.lstrip("#").upper() for r in CQC.ratings}

    ranges = {str(cf.sqref): cf.rules for cf in ws.conditional_formatting}
    for letter in ("N", "O", "P"):
        rules = ranges[f"{letter}{FIRST_DATA_ROW}:{letter}{last}"]
        assert {(r.type, r.operator) for r in rules} == {("cellIs", "equal")}
        assert {r.formula[0]: r.dxf.fill.bgColor.rgb for r in rules} == fills


@pytest.mark.parametrize("service", SERVICES)
def test_date_columns_warn_about_text_but_accept_it(books, service):
    by_col = validations_by_column(books[service][PLAN_SHEET])
    date_cols = letters(CQC, lambda c: c.type == "date")
    assert date_cols == ["J", "R"]

    for letter in date_cols:
        [(dv, _)] = by_col[letter]
        assert dv.type == "date"
        assert dv.errorStyle == "warning"
        assert dv.showErrorMessage is True


@pytest.mark.parametrize("service", SERVICES)
def test_header_frozen_and_printing_set_up(books, service):
    ws = books[service][PLAN_SHEET]

    assert ws.freeze_panes == "A4"
    assert ws.print_title_rows.replace("$", "") == "1:3"
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    # Absent means 1 page wide; the 18 CQC columns print on A3 two pages wide, so their text
    # prints at 8 pt or more (tests/test_print_setup.py).
    assert ws.page_setup.fitToWidth in (None, 1, 2)
    assert ws.page_setup.fitToHeight == 0  # as many pages tall as needed
    assert f"{service} · cycle {CYCLE}" in ws.oddFooter.left.text
    assert ws.auto_filter.ref.startswith(f"A{HEADER_ROW}:")


@pytest.mark.parametrize("service", SERVICES)
def test_guidance_and_hidden_sheets(books, service):
    book = books[service]

    assert book.sheetnames == [PLAN_SHEET, "Guidance", ISSUED_SHEET, META_SHEET]
    assert book[PLAN_SHEET].sheet_state == "visible"
    assert book["Guidance"].sheet_state == "visible"
    assert book[ISSUED_SHEET].sheet_state == "veryHidden"
    assert book[META_SHEET].sheet_state == "veryHidden"
    guidance = {row[0].value: row[1].value for row in book["Guidance"].iter_rows(max_col=2)}
    assert guidance["Service"] == service
    assert guidance["Cycle"] == CYCLE
    assert guidance["Return by"] == "31/03/2025"


@pytest.mark.parametrize("service", SERVICES)
def test_metadata_names_the_plan_cycle_and_service(lpt_master, templates_dir, service):
    meta = metadata(templates_dir / LPT_SERVICE_FILES[service])

    assert meta["kind"] == "template"
    assert meta["plan_id"] == metadata(lpt_master)["plan_id"]
    assert meta["cycle"] == CYCLE
    assert meta["service"] == service
    assert meta["due"] == "2025-03-31"
    assert meta["format_version"] == "1"
    issued_at = dt.datetime.fromisoformat(meta["issued_at"])
    assert issued_at == dt.datetime.fromtimestamp(int(EPOCH), tz=dt.UTC)


# --- options ------------------------------------------------------------------------------


def test_service_option_writes_only_that_service(run, lpt_plan, tmp_path):
    outdir = tmp_path / "outbox"

    result = run("template", lpt_plan, "-o", outdir, "--service", "CHS")

    assert result.exit_code == 0, result.output
    assert [p.name for p in outdir.iterdir()] == ["CHS.xlsx"]
    assert len(refs_in(outdir / "CHS.xlsx")) == 61


def test_naming_a_service_twice_writes_it_once(run, lpt_plan, tmp_path):
    outdir = tmp_path / "outbox"

    result = run("template", lpt_plan, "-o", outdir, "--service", "CHS", "--service", "chs")

    assert result.exit_code == 0, result.output
    assert [p.name for p in outdir.iterdir()] == ["CHS.xlsx"]


def test_an_unknown_service_is_refused_listing_the_services(run, lpt_plan, tmp_path):
    outdir = tmp_path / "outbox"

    result = run("template", lpt_plan, "-o", outdir, "--service", "Nope")

    assert result.exit_code != 0
    assert "no service named 'Nope'" in result.output
    assert "Corporate, AMH/ILD, CHS, FYPC, AMH/LD" in result.output
    assert not outdir.exists() or not any(outdir.iterdir())


def test_issuing_twice_with_source_date_epoch_gives_the_same_workbooks(run, lpt_plan, tmp_path):
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    first, second = tmp_path / "first", tmp_path / "second"

    for outdir in (first, second):
        result = run("template", lpt_plan, "-o", outdir, env=env)
        assert result.exit_code == 0, result.output

    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        a, b = all_sheet_values(first / name), all_sheet_values(second / name)
        assert list(a) == [PLAN_SHEET, "Guidance", ISSUED_SHEET, META_SHEET]
        assert a == b, name
    assert metadata(first / "CHS.xlsx")["cycle"] == "2023-11"  # the default: the epoch's month


def test_a_password_protects_the_sheet_and_the_structure(run, lpt_plan, tmp_path):
    outdir = tmp_path / "outbox"

    result = run("template", lpt_plan, "-o", outdir, "--service", "FYPC", "--password", "secret")

    assert result.exit_code == 0, result.output
    book = open_book(outdir / "FYPC.xlsx")
    assert book[PLAN_SHEET].protection.password == hash_password("secret")
    assert book[PLAN_SHEET].protection.sheet is True
    assert book.security.workbookPassword == hash_password("secret")
    assert book.security.lockStructure is True


def test_a_plan_with_no_actions_cannot_be_issued(run, tmp_path):
    plan = tmp_path / "empty.xlsx"
    outdir = tmp_path / "outbox"
    assert run("new", "-o", plan).exit_code == 0

    result = run("template", plan, "-o", outdir)

    assert result.exit_code != 0
    assert "holds no actions: nothing to issue" in result.output
    assert not outdir.exists() or not any(outdir.iterdir())


# --- the other seed layouts ---------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, layout in SEED_SOURCES.items() if layout != "cqc"])
def test_templates_for_the_other_seed_layouts(run, tmp_path, name):
    layout, _ = load_layout(SEED_SOURCES[name])
    plan, outdir = tmp_path / "plan.xlsx", tmp_path / "outbox"
    imported = run(
        "import",
        EXAMPLES / name / "source.csv",
        "-o",
        plan,
        "--layout",
        layout.name,
        *SEED_ROUTES.get(name, []),
    )
    assert imported.exit_code == 0, imported.output

    result = run("template", plan, "-o", outdir)

    assert result.exit_code == 0, result.output
    files = sorted(outdir.iterdir())
    assert files
    service_cols = letters(layout, lambda c: c.owner == "service")
    rating_cols = letters(layout, lambda c: c.type == "rating")
    assert service_cols and rating_cols
    issued = 0
    for path in files:
        ws = open_book(path)[layout.sheet]
        assert [c.value for c in ws[HEADER_ROW]] == [*(c.header for c in layout.columns), ID_HEADER]
        actions = [
            r
            for r in ws.iter_rows(min_row=FIRST_DATA_ROW)
            if r[-1].value and not r[-1].value.startswith("new-")
        ]
        issued += len(actions)
        for row in actions:
            for cell in row[: len(layout.columns)]:
                assert cell.protection.locked is (cell.column_letter not in service_cols)
        by_col = validations_by_column(ws)
        for letter in rating_cols:
            [(dv, _)] = by_col[letter]
            assert (dv.type, dv.formula1) == ("list", SCALE_LIST)
        assert ws.protection.sheet is True
    _, master = plan_table(plan, layout.sheet)
    assert issued >= len(master)
