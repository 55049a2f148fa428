"""Someone who installed xlplan with pip writes a layout for their own plan: they start from a
built-in one printed as a file, check it, and are told in plain words what is wrong."""

from __future__ import annotations

import tomllib

import pytest
from conftest import LAYOUTS, write_csv

from xlplan.layout import LAYOUT_GUIDE, builtin_layouts, load_layout


@pytest.mark.parametrize("name", LAYOUTS)
def test_show_toml_prints_a_whole_layout_file_to_start_from(run, tmp_path, name):
    result = run("layouts", "--show", name, "--toml")

    assert result.exit_code == 0, result.output
    assert result.output.startswith(LAYOUT_GUIDE)
    assert result.output.endswith(builtin_layouts()[name].read_text(encoding="utf-8"))
    assert "aliases" in LAYOUT_GUIDE
    mine = tmp_path / "mine.toml"
    mine.write_text(result.output, encoding="utf-8")
    assert tomllib.loads(result.output)["name"] == name
    checked = run("layouts", "--check", mine)
    assert checked.exit_code == 0, checked.output
    assert f"{mine}: a valid layout {name!r}" in checked.output


def test_a_layout_written_from_the_printed_file_imports_the_users_plan(run, tmp_path):
    text = run("layouts", "--show", "kmpt", "--toml").output
    text = text.replace('name = "kmpt"', 'name = "our-trust"').replace(
        'header = "Owner"', 'header = "Accountable director"'
    )
    mine = tmp_path / "our-trust.toml"
    mine.write_text(text, encoding="utf-8")
    source = write_csv(
        tmp_path / "plan.csv",
        [["#", "Action Required", "Accountable director"], ["1", "Audit", "Director of Nursing"]],
    )

    result = run("import", source, "-o", tmp_path / "plan.xlsx", "--layout", mine)

    assert result.exit_code == 0, result.output
    assert "1 service: Director of Nursing (1)" in result.output


CQC = builtin_layouts()["cqc"].read_text(encoding="utf-8")
PLAIN_ERRORS = {
    "colour": (
        CQC.replace('fill = "#C00000"', 'fill = "red"'),
        ['rating[2] (Red).fill: must be a colour written as "#" and six hex digits, such as "#C00000".'],
    ),
    "unknown column key": (
        CQC.replace("width = 11", "widht = 11"),
        [
            "column[1] (overarching_ref).widht: xlplan does not know this key "
            "(a typo?). Keys allowed in a [[column]]:",
            "aliases",
        ],
    ),
    "unknown top key": (
        CQC.replace('name = "cqc"', 'name = "cqc"\nroute_by = "x"'),
        ["route_by: xlplan does not know this key (a typo?). Keys allowed at the top: name, title"],
    ),
    "field spelling": (
        CQC.replace('field = "due"', 'field = "Due date"'),
        ['field: must be lower-case letters, digits and "_", starting with a letter'],
    ),
    "missing key": (
        CQC.replace('header = "Directorate"\n', ""),
        ["column[3] (directorate).header: this key is required: add it."],
    ),
    "list expected": (
        CQC.replace('route_separators = ["&"]', 'route_separators = "&"'),
        ['route_separators: must be a list in square brackets, such as ["A", "B"].'],
    ),
    "width": (CQC.replace("width = 11", "width = 0"), ["width: must be more than 0."]),
}
PYDANTIC_WORDS = [
    "Input should",
    "Extra inputs are not permitted",
    "String should match pattern",
    "Field required",
    "Value error",
    "validation error",
    "pydantic",
]


@pytest.mark.parametrize("case", PLAIN_ERRORS)
def test_layout_mistakes_are_told_in_plain_words_with_the_key(run, tmp_path, case):
    text, expected = PLAIN_ERRORS[case]
    assert text != CQC
    bad = tmp_path / "mine.toml"
    bad.write_text(text, encoding="utf-8")

    result = run("layouts", "--check", bad)

    assert result.exit_code == 2
    assert f"Layout {bad} has 1 mistake(s)" in result.output
    for fragment in expected:
        assert fragment in result.output
    for words in PYDANTIC_WORDS:
        assert words not in result.output
    assert "xlplan layouts --check FILE" in result.output


def test_check_of_a_missing_file_says_so(run, tmp_path):
    result = run("layouts", "--check", tmp_path / "nope.toml")

    assert result.exit_code == 2
    assert "not found" in result.output


def test_toml_without_show_is_explained(run):
    result = run("layouts", "--toml")

    assert result.exit_code == 2
    assert "--show cqc --toml" in result.output


@pytest.mark.parametrize("name", LAYOUTS)
def test_no_header_alias_is_shared_by_two_columns_of_a_built_in_layout(name):
    layout, _ = load_layout(name)
    seen: dict[str, str] = {}
    for column in layout.columns:
        for text in (column.header, *column.aliases):
            key = " ".join(text.lower().split())
            assert seen.setdefault(key, column.field) == column.field, (text, column.field)
