"""A stray quote in a CSV a central team gives xlplan: a contacts list (`--contacts`) or the
plan an import starts from. Python's CSV reader takes everything after an unclosed quote, to
the next quote or the end of the file, as one cell: a "service" with a name of twenty lines and
no address, or an import missing its last actions. xlplan refuses the file instead, naming the
line the quote is on, and writes nothing; a quoted cell holding line breaks, as Excel writes
one, is still read."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import LPT_SOURCE, import_lpt, invoke, sheet_values
from hypothesis import given, settings
from hypothesis import strategies as st

from xlplan.csvfile import read_csv_rows

CONTACTS = [
    ["Service", "Contact names", "Email addresses", "Cc"],
    ["Corporate", "Jane Doe", "jane.doe@nhs.net", ""],
    ["CHS", "Bob Smith", "chs@trust.nhs.uk", ""],
    ["FYPC", "Fay", "fypc.governance@nhs.net", ""],
    ["AMH/LD", "Lee", "amh.ld@nhs.net", ""],
]
NOTEPAD = (
    "Open the file in a text editor (such as Notepad), close the quote at the end of its cell "
    "or remove it, save,"
)


def contacts_text(line_3: str) -> str:
    """The contacts list as Excel saves it, with line 3 (CHS) replaced by `line_3`."""
    lines = [",".join(row) for row in CONTACTS]
    lines[2] = line_3
    return "\r\n".join(lines) + "\r\n"


def services_sheet(plan: Path) -> dict[str, list[str]]:
    rows = sheet_values(plan, "Services")
    start = next(i for i, r in enumerate(rows) if r and r[0] == "Service")
    return {r[0]: [str(c) for c in r[1:4]] for r in rows[start + 1 :] if r and r[0]}


@pytest.mark.parametrize(
    "line_3",
    ['"CHS,Bob Smith,chs@trust.nhs.uk,', 'CHS,Bob Smith,"chs@trust.nhs.uk,'],
    ids=["before the service", "before the address"],
)
@pytest.mark.parametrize("verb", ["new", "import"])
def test_a_contacts_file_with_an_unclosed_quote_is_refused_and_nothing_written(
    tmp_path: Path, verb: str, line_3: str
) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(contacts_text(line_3).encode("utf-8"))
    out = tmp_path / "plan.xlsx"
    args = ["new"] if verb == "new" else ["import", LPT_SOURCE]

    result = invoke(*args, "-o", out, "--contacts", contacts)

    assert result.exit_code == 2, result.output
    assert result.output == (
        f'xlplan: Contacts file {contacts}: the quote (") on line 3 is never closed, so '
        "everything after it to the end of the file would be read as one cell. "
        f"{NOTEPAD} and give that with --contacts.\n"
    )
    assert list(tmp_path.iterdir()) == [contacts]  # no master, no temporary file


def test_template_with_such_a_contacts_file_changes_nothing(tmp_path: Path) -> None:
    plan = import_lpt(tmp_path)
    before = plan.read_bytes()
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(contacts_text('CHS,Bob Smith,"chs@trust.nhs.uk,').encode("utf-8"))

    result = invoke("template", plan, "-o", tmp_path / "outbox", "--contacts", contacts)

    assert result.exit_code == 2
    assert f'Contacts file {contacts}: the quote (") on line 3 is never closed' in result.output
    assert plan.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.csv", "plan.xlsx"]


def test_a_stray_quote_closed_by_the_next_quoted_cell_is_refused_too(tmp_path: Path) -> None:
    """The quote opened on line 3 is closed by the one opening a cell on line 5, the lines
    between read as one cell: refused, naming both lines."""
    lines = contacts_text('CHS,Bob Smith,"chs@trust.nhs.uk,').splitlines()
    lines[4] = 'AMH/LD,Lee,"amh.ld@nhs.net,\nlee@nhs.net",'  # a cell over two lines (5 and 6)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = invoke("new", "-o", tmp_path / "plan.xlsx", "--contacts", contacts)

    assert result.exit_code == 2
    assert (
        f'Contacts file {contacts}: the quote (") on line 3 is not closed at the end of its '
        "cell, so everything after it to line 5 would be read as one cell." in result.output
    )
    assert not (tmp_path / "plan.xlsx").exists()


def test_quoted_cells_with_line_breaks_commas_and_quotes_are_read(tmp_path: Path) -> None:
    """Excel quotes a cell holding a line break, the separator or a quote (doubled); a quote
    closed early on one line (`"Bob" Smith`, typed by hand) is read as before, and so is a
    file whose last line has no line end."""
    rows = [row[:] for row in CONTACTS]
    rows[1][2] = "jane.doe@nhs.net,\r\njane.doe2@nhs.net"  # two lines, and a comma
    rows[3][1] = 'Fay "the lead", FYPC'
    contacts = tmp_path / "contacts.csv"
    with contacts.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    text = contacts.read_text(encoding="utf-8-sig").replace("Bob Smith", '"Bob" Smith')
    contacts.write_text(text.removesuffix("\n"), encoding="utf-8-sig", newline="")  # no last line end
    plan = tmp_path / "plan.xlsx"

    result = invoke("new", "-o", plan, "--contacts", contacts)

    assert result.exit_code == 0, result.output
    assert services_sheet(plan) == {
        "Corporate": ["Jane Doe", "jane.doe@nhs.net; jane.doe2@nhs.net", ""],
        "CHS": ["Bob Smith", "chs@trust.nhs.uk", ""],
        "FYPC": ['Fay "the lead", FYPC', "fypc.governance@nhs.net", ""],
        "AMH/LD": ["Lee", "amh.ld@nhs.net", ""],
    }


# --- the plan an import starts from --------------------------------------------------------

LPT_LINES = LPT_SOURCE.read_text(encoding="utf-8-sig").splitlines(keepends=True)


def with_stray_quote(line: int) -> str:
    """The LPT plan with a quote typed before the third cell of `line` (one without quotes)."""
    assert '"' not in LPT_LINES[line - 1]
    cells = LPT_LINES[line - 1].split(",")
    cells[2] = '"' + cells[2]
    return "".join([*LPT_LINES[: line - 1], ",".join(cells), *LPT_LINES[line:]])


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            # the first seven lines only: the quote on line 6 runs to the end of the file
            lambda: with_stray_quote(6).splitlines(keepends=True)[:7],
            'the quote (") on line 6 is never closed, so everything after it to the end of the file',
        ),
        (
            # the whole plan: the quote on line 7 is closed by the first quote of line 8
            lambda: [with_stray_quote(7)],
            'the quote (") on line 7 is not closed at the end of its cell, so everything after it to line 8',
        ),
    ],
    ids=["to the end", "to the next quote"],
)
def test_an_import_source_with_a_stray_quote_is_refused(tmp_path: Path, text, said: str) -> None:
    source = tmp_path / "plan.csv"
    source.write_text("".join(text()), encoding="utf-8", newline="")
    out = tmp_path / "master.xlsx"

    result = invoke("import", source, "-o", out)

    assert result.exit_code == 2
    assert result.output == (
        f"xlplan: Source {source}: {said} would be read as one cell. {NOTEPAD} and import that "
        "(or save it as .xlsx).\n"
    )
    assert list(tmp_path.iterdir()) == [source]


def test_an_import_source_without_a_stray_quote_still_imports_every_action(tmp_path: Path) -> None:
    source = tmp_path / "plan.csv"
    source.write_text("".join(LPT_LINES[:7]), encoding="utf-8", newline="")
    result = invoke("import", source, "-o", tmp_path / "master.xlsx")
    assert result.exit_code == 0, result.output
    assert "Imported 6 actions" in result.output


# Any text a person types in a cell, line breaks, separators and quotes included (no NUL:
# such a file is refused as not text).
cells = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=4), max_size=6))
def test_any_cells_written_as_csv_read_back_unchanged(tmp_path_factory, rows) -> None:
    """No false alarm: whatever cells a CSV writer quotes, as Excel does, read back as written."""
    path = tmp_path_factory.mktemp("csv") / "cells.tsv"  # .tsv: tabs, not a guessed separator
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows(rows)
    assert read_csv_rows(path, "Source", "import that") == rows
