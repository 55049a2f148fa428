"""The bench's yardstick for `xlplan template` (bench/alternatives/xlsxwriter_template.py, a
plain XlsxWriter script) must write the same workbooks, or the template/XlsxWriter ratio in
BENCHMARKS.md compares unlike work. Run both on the bundled LPT plan and compare every cell
of every sheet, hidden ones too, read back with calamine."""

from __future__ import annotations

import sys
from pathlib import Path

import python_calamine
from conftest import REPO, invoke

sys.path.insert(0, str(REPO / "bench"))

from alternatives.common import CYCLE  # noqa: E402
from alternatives.xlsxwriter_template import run as write_plain_templates  # noqa: E402
from scales import layout_spec  # noqa: E402

PLAN = REPO / "examples" / "lpt-cqc-2017" / "plan.xlsx"


def sheets(path: Path) -> dict[str, tuple[str, list[list[object]]]]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return {
        s.name: (str(s.visible), book.get_sheet_by_name(s.name).to_python(skip_empty_area=False))
        for s in book.sheets_metadata
    }


def metadata(rows: list[list[object]]) -> dict[object, object]:
    values = {row[0]: row[1] for row in rows if row and row[0]}
    values.pop("issued_at")  # the time each was written
    return values


def test_the_plain_xlsxwriter_yardstick_writes_the_same_cells_as_xlplan_template(tmp_path: Path) -> None:
    ours = tmp_path / "xlplan"
    plan = tmp_path / "plan.xlsx"  # template records the issue in the master: not the committed one
    plan.write_bytes(PLAN.read_bytes())
    result = invoke("template", plan, "-o", ours, "--cycle", CYCLE)
    assert result.exit_code == 0, result.output
    plain = tmp_path / "plain"
    write_plain_templates({**layout_spec(PLAN), "plan": str(PLAN), "outdir": str(plain), "cycle": CYCLE})
    assert PLAN.read_bytes() != plan.read_bytes()

    names = sorted(p.name for p in ours.glob("*.xlsx"))
    assert names and names == sorted(p.name for p in plain.glob("*.xlsx"))
    for name in names:
        expected, got = sheets(ours / name), sheets(plain / name)
        assert list(got) == list(expected), name
        for sheet, (visible, rows) in expected.items():
            assert got[sheet][0] == visible, (name, sheet)
            if sheet == "_xlplan":
                assert metadata(got[sheet][1]) == metadata(rows), name
            else:
                assert got[sheet][1] == rows, (name, sheet)
