"""A central team turns the plan it already has (CSV or a workbook) into an xlplan master."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from conftest import (
    EXAMPLES,
    LPT_ACTIONS,
    LPT_HEADERS,
    LPT_SOURCE,
    META_SHEET,
    PLAN_SHEET,
    SEED_ROUTES,
    SEED_SOURCES,
    fold_joint,
    lpt_source_row,
    metadata,
    open_book,
    plan_table,
    read_csv,
    sheet_values,
    write_csv,
)

from xlplan.layout import load_layout


def seed(name: str):
    return name


def import_seed(run, tmp_path, name):
    layout, _ = load_layout(SEED_SOURCES[name])
    out = tmp_path / f"{name}.xlsx"
    result = run(
        "import",
        EXAMPLES / name / "source.csv",
        "-o",
        out,
        "--layout",
        layout.name,
        *SEED_ROUTES.get(name, []),
    )
    assert result.exit_code == 0, result.output
    return layout, out


def route_header(out: Path) -> str:
    """The routing column's header in the written master (`--route` may have chosen another)."""
    from xlplan.layout import parse_layout

    layout = parse_layout(metadata(out)["layout_toml"], str(out))
    return layout.column(layout.route).header


def source_column(header: list[str], column) -> int | None:
    """Where the source has this layout column: its header or one of its aliases."""
    for name in (column.header, *column.aliases):
        if name in header:
            return header.index(name)
    return None


# --- the LPT plan -------------------------------------------------------------------------


def test_lpt_import_reports_152_actions_and_the_five_directorates(run, tmp_path):
    out = tmp_path / "plan.xlsx"

    result = run("import", LPT_SOURCE, "-o", out)

    assert result.exit_code == 0, result.output
    assert len(LPT_ACTIONS) == 152
    assert "Imported 152 actions" in result.output
    assert "header on row 1" in result.output
    assert "5 services: Corporate (23), AMH/ILD (2), CHS (61), FYPC (19), AMH/LD (49)" in result.output
    _, actions = plan_table(out)
    # 5.1 and 5.1.1 are FYPC & CHS: one row per directorate, so neither overwrites the other.
    assert len(actions) == 152 + 2
    assert "5.1, column 'Directorate': issued to FYPC and CHS: now one row per service" in result.output


def test_the_master_plan_sheet_has_the_lpt_headers_on_row_3_then_the_hidden_id(lpt_plan):
    header, _ = plan_table(lpt_plan)

    assert header[:18] == list(LPT_HEADERS)
    assert header[-1] == "xlplan ID"
    ws = open_book(lpt_plan)[PLAN_SHEET]
    id_letter = openpyxl.utils.get_column_letter(len(header))
    assert ws.column_dimensions[id_letter].hidden


def test_every_action_reference_of_the_lpt_source_is_in_the_master_in_order(lpt_plan):
    _, rows = plan_table(lpt_plan)
    actions = fold_joint(rows, "Directorate")
    ref = LPT_HEADERS.index("Action Reference")

    assert [a["Action Reference"] for a in actions] == [r[ref] for r in LPT_ACTIONS]
    assert len({a["xlplan ID"] for a in rows}) == len(rows) == 154


def test_free_text_dates_are_kept_exactly_as_written(lpt_plan):
    actions = fold_joint(plan_table(lpt_plan)[1], "Directorate")
    by_ref = {a["Action Reference"]: a for a in actions}
    due = "Insert the date the action AND evidence will be provided"
    expected = "Expected CompAss (earliest)"

    assert by_ref["2.2.3"][due] == "End July 2017"
    assert by_ref["2.1"][due] == "March 2017 - March 2018"
    assert by_ref["8"][due] == "30/ 04 /17"
    assert by_ref["1.1"][due] == "30/04/17"
    assert by_ref["19.2"][due] == "34/06/42 August 2017"
    assert by_ref["12"][expected] == "Aug-17"
    assert by_ref["23.1"][expected] == "????"
    for column in (due, expected):
        assert [a[column] for a in actions] == [r[LPT_HEADERS.index(column)] for r in LPT_ACTIONS]


def test_sub_actions_with_a_blank_directorate_stay_blank_in_the_master(lpt_plan):
    _, actions = plan_table(lpt_plan)
    by_ref = {a["Action Reference"]: a for a in actions}
    col = LPT_HEADERS.index("Directorate")
    blank_in_source = [r[3] for r in LPT_ACTIONS if r[col] == ""]

    assert lpt_source_row("2.1.1")["Directorate"] == ""
    assert by_ref["2.1.1"]["Directorate"] == ""
    assert len(blank_in_source) == 39
    assert [a["Action Reference"] for a in actions if a["Directorate"] == ""] == blank_in_source


def test_a_joint_action_is_one_row_per_service_sharing_the_central_cells(lpt_plan):
    _, actions = plan_table(lpt_plan)
    refs = [a["Action Reference"] for a in actions]

    assert refs[refs.index("5.1") : refs.index("5.1") + 5] == ["5.1", "5.1", "5.1.1", "5.1.1", "5.1.2"]
    for ref in ("5.1", "5.1.1"):
        source = lpt_source_row(ref)
        parts = [a for a in actions if a["Action Reference"] == ref]
        assert source["Directorate"] == "FYPC & CHS"
        assert [a["Directorate"] for a in parts] == ["FYPC", "CHS"]
        for part in parts:  # every other cell as the source has it (ratings as the scale spells them)
            ignored = ("Directorate", "xlplan ID", "Changed this cycle")
            assert {k: v for k, v in part.items() if k not in ignored and "RAG" not in k} == {
                k: v for k, v in source.items() if k != "Directorate" and "RAG" not in k
            }
    assert len({a["xlplan ID"] for a in actions if a["Action Reference"] in ("5.1", "5.1.1")}) == 4


def test_the_master_carries_very_hidden_metadata(lpt_plan):
    book = open_book(lpt_plan)

    assert book[META_SHEET].sheet_state == "veryHidden"
    assert book[PLAN_SHEET].sheet_state == "visible"
    meta = metadata(lpt_plan)
    assert meta["kind"] == "master"
    assert meta["layout_name"] == "cqc"
    assert meta["format_version"] == "1"
    assert meta["header_row"] == "3"
    assert len(meta["plan_id"]) >= 8
    assert meta["layout_toml"] == (EXAMPLES.parent / "layouts" / "cqc.toml").read_text(encoding="utf-8")


def test_importing_twice_gives_two_plans_with_their_own_ids(run, lpt_plan, tmp_path):
    second = tmp_path / "second.xlsx"

    result = run("import", LPT_SOURCE, "-o", second)

    assert result.exit_code == 0, result.output
    assert metadata(second)["plan_id"] != metadata(lpt_plan)["plan_id"]


def test_import_will_not_overwrite_a_plan_without_force(run, lpt_plan):
    before = lpt_plan.read_bytes()

    refused = run("import", LPT_SOURCE, "-o", lpt_plan)

    assert refused.exit_code != 0
    assert "--force" in refused.output
    assert lpt_plan.read_bytes() == before
    forced = run("import", LPT_SOURCE, "-o", lpt_plan, "--force")
    assert forced.exit_code == 0, forced.output
    assert lpt_plan.read_bytes() != before


# --- every bundled example ----------------------------------------------------------------


@pytest.mark.parametrize("name", [seed(n) for n in SEED_SOURCES])
def test_every_source_reference_is_in_the_master_in_order(run, tmp_path, name):
    layout, out = import_seed(run, tmp_path, name)
    source = read_csv(EXAMPLES / name / "source.csv")
    ref_col = source_column(source[0], layout.column(layout.reference))
    assert ref_col is not None, "the example has a reference column"

    actions = fold_joint(plan_table(out, layout.sheet)[1], route_header(out))

    ref_header = layout.column(layout.reference).header
    assert [a[ref_header] for a in actions] == [r[ref_col] for r in source[1:]]


@pytest.mark.parametrize("name", list(SEED_SOURCES))
def test_every_other_source_cell_is_kept_under_its_column(run, tmp_path, name):
    layout, out = import_seed(run, tmp_path, name)
    source = read_csv(EXAMPLES / name / "source.csv")

    route = route_header(out)
    actions = fold_joint(plan_table(out, layout.sheet)[1], route)

    assert len(actions) == len(source) - 1
    compared = 0
    for column in layout.columns:
        col = source_column(source[0], column)
        if col is None or column.field == layout.reference:
            continue
        compared += 1
        for row, action in zip(source[1:], actions, strict=True):
            written = row[col]
            if column.header == route and len(action["services"]) > 1:
                # A joint action: one row per service it names (or inherits).
                assert all(s in written or not written for s in action["services"]), row
                continue
            if column.type == "rating" and written:
                written = layout.normalise_rating(written) or written
            assert action[column.header] == written, (column.header, row)
    assert compared == len(source[0]) - 1


# --- headers as people actually type them -------------------------------------------------


def small_rows(headers: list[str]) -> list[list[str]]:
    row = dict.fromkeys(LPT_HEADERS, "")
    first = {
        **row,
        "Directorate": "CHS",
        "Action Reference": "1",
        "Insert the date the action AND evidence will be provided": "End July 2017",
        "Directorate RAG Rating": "A",
        "Comments/ Remedial Actions": "Audit booked",
    }
    second = {
        **row,
        "Action Reference": "1.1",
        "Insert the date the action AND evidence will be provided": "30/ 04 /17",
    }
    return [list(headers), list(first.values()), list(second.values())]


HEADER_SPELLINGS = {
    "upper-case": [h.upper() for h in LPT_HEADERS],
    "extra-spaces": ["  " + h.replace(" ", "   ") + " " for h in LPT_HEADERS],
    "line-breaks": [h.replace(" ", "\n", 2) for h in LPT_HEADERS],
    "mixed": [
        (h.lower() if i % 2 else h.upper()).replace(" ", " \r\n ", 1) for i, h in enumerate(LPT_HEADERS)
    ],
}


@pytest.mark.parametrize("spelling", HEADER_SPELLINGS)
def test_headers_match_despite_case_spacing_and_line_breaks(run, tmp_path, spelling):
    headers = HEADER_SPELLINGS[spelling]
    assert headers != list(LPT_HEADERS)
    source = write_csv(tmp_path / "plan.csv", small_rows(headers))
    out = tmp_path / "plan.xlsx"

    result = run("import", source, "-o", out)

    assert result.exit_code == 0, result.output
    assert "Imported 2 actions" in result.output
    assert "missing-column" not in result.output
    assert "unmatched-column" not in result.output
    header, actions = plan_table(out)
    assert header[:18] == list(LPT_HEADERS)  # the master uses the layout's spelling
    due = "Insert the date the action AND evidence will be provided"
    assert [a[due] for a in actions] == ["End July 2017", "30/ 04 /17"]
    assert [a["Directorate"] for a in actions] == ["CHS", ""]
    assert [a["Directorate RAG Rating"] for a in actions] == ["Amber", ""]
    assert actions[0]["Comments/ Remedial Actions"] == "Audit booked"


def test_an_unknown_column_is_kept_as_a_central_column_and_listed(run, tmp_path):
    rows = small_rows(LPT_HEADERS)
    rows[0].append("Lead nurse notes")
    rows[1].append("Chased twice")
    rows[2].append("")
    source = write_csv(tmp_path / "plan.csv", rows)
    out = tmp_path / "plan.xlsx"

    result = run("import", source, "-o", out)

    assert result.exit_code == 0, result.output
    assert "S 'Lead nurse notes' kept as the central column 'Lead nurse notes'" in result.output
    assert "1 filled cell(s)" in result.output
    header, actions = plan_table(out)
    # The central team's own columns sit right of the hidden ID (xlplan.carry).
    assert header[18:] == ["Changed this cycle", "xlplan ID", "Lead nurse notes"]
    assert [a["Action Reference"] for a in actions] == ["1", "1.1"]
    assert [a["Lead nurse notes"] for a in actions] == ["Chased twice", ""]


def test_an_extra_column_named_like_a_layout_column_does_not_take_its_place(run, tmp_path):
    rows = small_rows(LPT_HEADERS)
    at = LPT_HEADERS.index("Directorate RAG Rating")
    for row, value in zip(rows, ["Previous Directorate RAG Rating", "Red", ""], strict=True):
        row.insert(at, value)
    rows[1][at + 1] = "Green"  # this cycle's rating, under the layout's own header
    source = write_csv(tmp_path / "plan.csv", rows)
    out = tmp_path / "plan.xlsx"

    result = run("import", source, "-o", out)

    assert result.exit_code == 0, result.output
    _, actions = plan_table(out)
    assert actions[0]["Directorate RAG Rating"] == "Green"
    assert "'Previous Directorate RAG Rating'" in result.output
    assert "source column 'Directorate RAG Rating' matches no column" not in result.output


def printed_plan_rows() -> list[list[str]]:
    """Title lines above the header, and the header printed again at a page break."""
    header, first, second = small_rows(LPT_HEADERS)
    return [
        ["LPT trust-wide CQC action plan 2017"],
        ["Updated 30 June 2017"],
        [],
        header,
        first,
        header,
        second,
    ]


def test_title_rows_above_the_header_and_a_repeated_header_are_not_actions(run, tmp_path):
    source = write_csv(tmp_path / "printed.csv", printed_plan_rows())
    out = tmp_path / "plan.xlsx"

    result = run("import", source, "-o", out)

    assert result.exit_code == 0, result.output
    assert "Imported 2 actions" in result.output
    assert "header on row 4" in result.output
    _, actions = plan_table(out)
    assert [a["Action Reference"] for a in actions] == ["1", "1.1"]
    assert sheet_values(out, PLAN_SHEET)[0][0] == "LPT trust-wide CQC action plan 2017"


def test_a_repeated_header_row_raises_no_notes_about_its_cells(run, tmp_path):
    source = write_csv(tmp_path / "printed.csv", printed_plan_rows())

    result = run("import", source, "-o", tmp_path / "plan.xlsx")

    assert result.exit_code == 0, result.output
    assert "invalid-rating" not in result.output


def test_an_xlsx_source_with_two_title_rows_imports(run, tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "CQC plan"
    ws.append(["Leicestershire Partnership NHS Trust: CQC action plan"])
    ws.append(["Updated 30 June 2017"])
    ws.append(LPT_HEADERS)
    _, first, second = small_rows(LPT_HEADERS)
    first[9] = dt.datetime(2017, 7, 31)  # a real date in "Insert the date…"
    ws.append(first)
    ws.append(second)
    cover = book.create_sheet("Cover", 0)
    cover["A1"] = "Read me first"
    source = tmp_path / "plan as we have it.xlsx"
    book.save(source)
    out = tmp_path / "plan.xlsx"

    result = run("import", source, "-o", out)

    assert result.exit_code == 0, result.output
    assert "Imported 2 actions" in result.output
    assert "sheet 'CQC plan', header on row 3" in result.output
    _, actions = plan_table(out)
    due = "Insert the date the action AND evidence will be provided"
    assert [a["Action Reference"] for a in actions] == ["1", "1.1"]
    assert [a[due] for a in actions] == [dt.date(2017, 7, 31), "30/ 04 /17"]
    assert actions[0]["Directorate RAG Rating"] == "Amber"
    values = sheet_values(out, PLAN_SHEET)
    assert values[0][0] == "Leicestershire Partnership NHS Trust: CQC action plan"


# --- sources that cannot be imported ------------------------------------------------------


def _missing(tmp_path):
    return tmp_path / "no such plan.csv"


def _not_a_workbook(tmp_path):
    path = tmp_path / "plan.xlsx"
    path.write_text("Action Reference,Directorate\n1,CHS\n", encoding="utf-8")
    return path


def _empty_csv(tmp_path):
    path = tmp_path / "plan.csv"
    path.write_bytes(b"")
    return path


def _header_only(tmp_path):
    return write_csv(tmp_path / "plan.csv", [LPT_HEADERS])


def _other_headers(tmp_path):
    return write_csv(tmp_path / "plan.csv", [["Risk", "Likelihood", "Score"], ["Falls", "3", "9"]])


def _undecodable_csv(tmp_path):
    path = tmp_path / "plan.csv"
    # Byte 0x81 is neither UTF-8 nor Windows-1252 (an old Mac or DOS export, say).
    path.write_bytes(b"Action Reference,Directorate\n1,CHS \x81\n")
    return path


BAD_SOURCES = {
    "missing file": (_missing, ["not found"]),
    "not a workbook": (_not_a_workbook, ["not an Excel or OpenDocument workbook"]),
    "empty csv": (_empty_csv, ["is empty: no sheet holds any cells"]),
    "header but no rows": (_header_only, ["no action rows follow it", "row 1"]),
    "headers of no layout": (
        _other_headers,
        [
            "no row looks like the header of layout 'cqc'",
            "(row 1): Risk; Likelihood; Score",
            "xlplan layouts",
            '--map "Your header=field"',
        ],
    ),
}


@pytest.mark.parametrize(
    "case",
    [
        *BAD_SOURCES,
        "undecodable csv",
    ],
)
def test_a_source_that_cannot_be_imported_says_why(run, tmp_path, case):
    make, expected = {**BAD_SOURCES, "undecodable csv": (_undecodable_csv, [])}[case]
    source = make(tmp_path)
    out = tmp_path / "master.xlsx"

    result = run("import", source, "-o", out)

    assert result.exit_code not in (0, None)
    assert result.output.startswith("xlplan: ")
    assert source.name in result.output
    for fragment in expected:
        assert fragment in result.output
    assert "unexpected error" not in result.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_plan_imported_with_the_wrong_layout_is_told_which_fits(run, tmp_path):
    source = Path(__file__).resolve().parent.parent / "examples" / "solent-cqc-2017" / "source.csv"
    result = run("import", str(source), "-o", str(tmp_path / "plan.xlsx"))

    assert result.exit_code == 2
    assert "It looks like layout 'solent': add --layout solent." in result.output
    assert not (tmp_path / "plan.xlsx").exists()
