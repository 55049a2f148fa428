"""With many returns, validate and merge spread the work over the cores: the result must be
exactly what one process gives."""

from __future__ import annotations

import shutil
from pathlib import Path

from xlplan.validate import PARALLEL_FROM, validate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lpt-cqc-2017"


def test_many_returns_checked_in_parallel_give_the_same_report(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sources = sorted((EXAMPLE / "returns").glob("*.xlsx")) + sorted((EXAMPLE / "outbox").glob("*.xlsx"))
    for number, source in enumerate(sources * 2):
        shutil.copy(source, inbox / f"{number:02d} {source.name}")
    (inbox / "broken.xlsx").write_text("not a workbook")
    assert len(list(inbox.iterdir())) > PARALLEL_FROM

    def report(workers: int, isolate: bool = True):
        result = validate([inbox], plan=EXAMPLE / "plan.xlsx", workers=workers, isolate=isolate)
        return (
            result.exit_code,
            [
                (
                    c.ret.path.name,
                    c.ret.service,
                    c.status,
                    [p.line() for p in c.problems],
                    [(e.action_id, e.field, e.old, e.new) for e in c.edits],
                    [p.values for p in c.proposals],
                )
                for c in result.checked
            ],
        )

    one, two = report(1, isolate=False), report(2)
    assert one == two
    assert one[0] == 2  # the broken file
    assert sum(1 for item in one[1] if item[4]) >= 8  # the filled-in returns carry edits
