"""Render docs/pack-summary.png and docs/pack-progress.png: two pages of the committee pack
(`xlplan report`) of the bundled LPT example after three cycles, each with a few returns.

    python docs/pack_preview.py          (needs pdftoppm, from poppler)
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from click.testing import CliRunner  # noqa: E402

from xlplan.cli import main  # noqa: E402
from xlplan.simulate import fill_in  # noqa: E402

RETURNS = {  # cycle -> {template file: {(reference, field): value}}
    "2025-Q1": {
        "CHS.xlsx": {("2.1", "directorate_rag"): "Amber", ("2.1.2", "directorate_rag"): "Red"},
        "FYPC.xlsx": {("2.2.1", "directorate_rag"): "Green"},
    },
    "2025-Q2": {
        "CHS.xlsx": {("2.1.1", "directorate_rag"): "Green"},
        "AMH-LD.xlsx": {("3.1", "directorate_rag"): "Amber", ("3.2.4", "directorate_rag"): "Green"},
    },
    "2025-Q3": {
        "Corporate.xlsx": {("1", "directorate_rag"): "Purple", ("1", "comments"): "Audit, May 2025."},
        "CHS.xlsx": {("2.1.2", "directorate_rag"): "Amber"},
    },
}


def run(*args: object) -> None:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exit_code not in (0, 1):
        raise SystemExit(result.output)


def main_() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plan = folder / "plan.xlsx"
        run("import", REPO / "examples" / "lpt-cqc-2017" / "source.csv", "-o", plan)
        for month, (cycle, returns) in zip((3, 6, 9), RETURNS.items(), strict=True):
            out, inbox = folder / cycle, folder / f"inbox-{cycle}"
            inbox.mkdir()
            run("template", plan, "-o", out, "--cycle", cycle)
            for name, edits in returns.items():
                fill_in(out / name, inbox / name, edits)
            run("merge", plan, inbox, "--as-of", dt.date(2025, month, 1).isoformat())
        pack = folder / "pack.pdf"
        run("report", plan, "-o", pack, "--as-of", "2025-09-01")
        for page, name in ((2, "pack-summary"), (3, "pack-progress")):
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-r",
                    "60",
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-singlefile",
                    str(pack),
                    str(folder / name),
                ],
                check=True,
            )
            shutil.copy(folder / f"{name}.png", REPO / "docs" / f"{name}.png")


if __name__ == "__main__":
    main_()
