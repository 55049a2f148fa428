"""A central team picks a built-in layout, or writes its own and gets told what is wrong with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import DEFAULT_SCALE, LAYOUTS, LPT_HEADERS, LPT_SOURCE

from xlplan.layout import builtin_layouts, load_layout

CQC_TOML = (Path(__file__).resolve().parent.parent / "layouts" / "cqc.toml").read_text(encoding="utf-8")


def test_layouts_lists_the_four_built_in_layouts(run):
    result = run("layouts")

    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert sorted(listed) == sorted(LAYOUTS)
    assert re.search(r"^cqc\s+18 columns", result.output, re.M)


@pytest.mark.parametrize("name", LAYOUTS)
def test_each_built_in_layout_loads_with_the_default_scale(name):
    layout, text = load_layout(name)

    assert layout.name == name
    assert text == builtin_layouts()[name].read_text(encoding="utf-8")
    assert layout.rating_values == DEFAULT_SCALE
    assert layout.service_fields, "services must be able to edit something"
    assert layout.column(layout.reference).type == "reference"
    assert layout.column(layout.service_rating).owner == "service"


@pytest.mark.parametrize("name", LAYOUTS)
def test_layouts_show_prints_every_column_and_the_scale(run, name):
    layout, _ = load_layout(name)

    result = run("layouts", "--show", name)

    assert result.exit_code == 0, result.output
    shown = re.findall(r"^  (central|service|committee)\s+(\S+)\s+(\S+)\s+(.+)$", result.output, re.M)
    assert [(owner, kind, field) for owner, kind, field, _ in shown] == [
        (c.owner, c.type, c.field) for c in layout.columns
    ]
    assert [h.rstrip() for *_, h in shown] == [c.header[:70].rstrip() for c in layout.columns]
    assert "ratings: " + ", ".join(DEFAULT_SCALE) in result.output


def test_cqc_layout_has_exactly_the_18_lpt_headers_in_order():
    layout, _ = load_layout("cqc")

    assert len(LPT_HEADERS) == 18
    assert [c.header for c in layout.columns] == list(LPT_HEADERS)


def test_cqc_services_own_the_five_cqc_questions_manager_comments_and_their_rating():
    layout, _ = load_layout("cqc")

    assert layout.service_fields == [
        "action",
        "sustain",
        "resources",
        "due",
        "impact",
        "manager",
        "comments",
        "directorate_rag",
    ]
    assert layout.service_rating == "directorate_rag"


def test_cqc_committee_owns_the_committee_and_compass_ratings():
    layout, _ = load_layout("cqc")

    assert [c.field for c in layout.columns if c.owner == "committee"] == ["committee_rag", "compass_rag"]
    assert {c.owner for c in layout.columns} == {"central", "service", "committee"}


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


BROKEN_LAYOUTS = {
    # A title left without its closing quote: TOML cannot be read at all; the line is named.
    "bad-syntax": (
        CQC_TOML.replace('title = "CQC action plan"', 'title = "CQC action plan'),
        [f"line {_line_of(CQC_TOML, 'title = ')}", "not valid TOML"],
    ),
    # A typo in a column's owner: the column and the key are named.
    "unknown-owner": (
        CQC_TOML.replace('owner = "service"\nwidth = 50', 'owner = "servce"\nwidth = 50', 1),
        ["column[7] (action).owner", "'central', 'service' or 'committee'"],
    ),
    # Two headers that differ only in case and punctuation are one column to every reader.
    "headers-alike": (
        CQC_TOML.replace('header = "Committee RAG Rating"', 'header = "Directorate RAG rating?"', 1),
        ["two columns have the header 'Directorate RAG rating?'", "without case, spacing or punctuation"],
    ),
    # `reference` names a field no column has.
    "missing-reference-field": (
        CQC_TOML.replace('reference = "action_ref"', 'reference = "action_reference"'),
        ["reference names the field 'action_reference'"],
    ),
}


@pytest.mark.parametrize("command", ["import", "new", "show"])
@pytest.mark.parametrize("case", BROKEN_LAYOUTS)
def test_a_broken_layout_file_is_refused_naming_the_file_and_the_key(run, tmp_path, case, command):
    text, expected = BROKEN_LAYOUTS[case]
    assert text != CQC_TOML, "the breakage must change the file"
    bad = tmp_path / f"{case}.toml"
    bad.write_text(text, encoding="utf-8")
    out = tmp_path / "plan.xlsx"

    if command == "import":
        result = run("import", LPT_SOURCE, "-o", out, "--layout", bad)
    elif command == "new":
        result = run("new", "-o", out, "--layout", bad)
    else:
        result = run("layouts", "--show", bad)

    assert result.exit_code != 0
    assert str(bad) in result.output
    for fragment in expected:
        assert fragment in result.output
    assert not out.exists()


def test_an_unknown_layout_name_lists_the_built_in_ones(run, tmp_path):
    result = run("import", LPT_SOURCE, "-o", tmp_path / "plan.xlsx", "--layout", "cqcc")

    assert result.exit_code != 0
    assert "Unknown layout 'cqcc'" in result.output
    for name in LAYOUTS:
        assert name in result.output


def test_headers_are_compared_one_way_everywhere() -> None:
    """One header matcher (layout.normal_header) for import, the master and returns: a
    header the central team retyped with other case, spacing, a line break or punctuation is
    still its column; another header is not."""
    from xlplan.layout import load_layout, normal_header
    from xlplan.masterread import column_positions, find_header_row

    layout, _ = load_layout("cqc")
    retyped = [c.header.upper().replace(" ", "  \n") + "." for c in layout.columns]
    assert column_positions(retyped, layout) == {c.field: i for i, c in enumerate(layout.columns)}
    rows = [["title"], ["subtitle"], retyped]
    assert find_header_row(rows, [c.header for c in layout.columns], None) == 2
    assert column_positions(["Something else", *retyped[1:]], layout).get(layout.columns[0].field) is None
    assert normal_header("Directorate RAG\nRating!") == normal_header("directorate rag rating")
