"""Regenerate every bundled example from the transcribed sources, through xlplan itself.

    python examples/build.py            # rewrite the examples in place
    python examples/build.py OUTDIR     # write them elsewhere (the tests compare the two)

For each plan: `plan.xlsx`, the master as `xlplan import` makes it. For the LPT plan also a
whole cycle: `outbox/` (templates as issued), a central edit to the master after issue, and
`returns/` as services really send them back.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# Pinned time stamps and plan IDs: the same sources give the same workbooks.
os.environ.setdefault("SOURCE_DATE_EPOCH", "1498867200")  # 2017-07-01

from click.testing import CliRunner  # noqa: E402

from xlplan.cli import main  # noqa: E402
from xlplan.simulate import fill_in  # noqa: E402

HERE = Path(__file__).resolve().parent
PLANS = {  # folder: (layout, title)
    "lpt-cqc-2017": ("cqc", "LPT trust-wide CQC action plan 2017"),
    "kmpt-mr-d-2016": ("kmpt", "KMPT action plan: independent investigation (Mr D)"),
    "kmpt-mr-x-2016": ("kmpt", "KMPT action plan: independent investigation (Mr X)"),
    "eput-safety-2024": ("eput", "EPUT safety action plan: NICHE report 2024-25"),
    "solent-cqc-2017": ("solent", "Solent CQC review: children looked after and safeguarding"),
}
# The Solent plan names people, not teams (its layout routes by a Team column it lacks).
ROUTES = {"solent-cqc-2017": ["--route", "Assigned To"]}
CYCLE, DUE = "2017-Q2", "14/07/2017"


def xlplan(*args: str) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exit_code not in (0, 1):
        raise SystemExit(f"xlplan {' '.join(map(str, args))} failed:\n{result.output}")
    return result.output


def build(out: Path) -> None:
    for name, (layout, title) in PLANS.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        if folder != HERE / name:
            shutil.copy(HERE / name / "source.csv", folder / "source.csv")
        xlplan(
            "import",
            folder / "source.csv",
            "-o",
            folder / "plan.xlsx",
            "--layout",
            layout,
            "--title",
            title,
            "--force",
            *ROUTES.get(name, []),
        )
    lpt_cycle(out / "lpt-cqc-2017")


def lpt_cycle(folder: Path) -> None:
    outbox, returns = folder / "outbox", folder / "returns"
    for old in (outbox, returns):
        shutil.rmtree(old, ignore_errors=True)
    xlplan("template", folder / "plan.xlsx", "-o", outbox, "--cycle", CYCLE, "--due", DUE)
    for backup in folder.glob("plan.before-template-*.xlsx"):  # the example keeps one master
        backup.unlink()
    central_edits_after_issue(folder / "plan.xlsx")

    # AMH/LD: a thorough return, with a proposed new action in a spare row.
    fill_in(
        outbox / "AMH-LD.xlsx",
        returns / "AMH-LD.xlsx",
        {
            ("3.1", "directorate_rag"): "Green",
            ("3.1", "comments"): "Audit of care plans completed in June; 86% compliant.\n"
            "Re-audit booked for September.",
            ("3.2", "directorate_rag"): "Amber",
            ("3.2", "comments"): "Redesign meetings running; training mapping slipped to August "
            "because of staff vacancies.",
            ("4.1", "directorate_rag"): "Purple",
            ("4.1", "comments"): "Patient Carer Experience Group minutes 12/06/2017 record sign-off. "
            "Evidence on the shared drive: CQC/4.1.",
            ("4.2", "directorate_rag"): "Red",
            ("4.2", "comments"): "Spot checks not started: estates team unavailable. Escalated to "
            "the Divisional Assurance Group.",
            ("6.1", "directorate_rag"): "Green",
            ("7.2", "directorate_rag"): "Blue",
            ("7.2", "comments"): "Completed 28/04/2017 and assured by the committee on 15/06/2017.",
            ("8.1", "due"): "30/09/2017",
            ("8.1", "comments"): "Start moved to September: contractor availability. Patients "
            "stay on the interim plan.",
            ("11.2", "manager"): "Head of Nursing, AMH/LD — Zoë Ødegaard",
        },
        proposals=[
            {
                "action_ref": "11.8",
                "directorate": "AMH/LD",
                "action": "Introduce a weekly ward medicines-safety huddle on every AMH/LD ward.",
                "comments": "Proposed after the June incident review.",
                "directorate_rag": "White",
            }
        ],
    )
    # CHS: ratings and notes, one rating typed past the dropdown, one comment also edited
    # centrally after issue (a conflict).
    fill_in(
        outbox / "CHS.xlsx",
        returns / "CHS.xlsx",
        {
            ("2.1", "directorate_rag"): "Amber",
            ("2.1.1", "directorate_rag"): "Green",
            ("2.1.2", "directorate_rag"): "Yellow",
            ("5.1", "directorate_rag"): "Green",
            ("5.2", "directorate_rag"): "Amber",
            ("5.2.1", "directorate_rag"): "Purple",
            ("5.2.1", "comments"): "Action plan complete; evidence pack sent to CompAss 30/06/2017.",
            ("5.2.2", "comments"): "Recruitment to two band 6 posts under way ✅",
            ("11.6", "directorate_rag"): "Green",
        },
    )
    # FYPC: removed the sheet protection and edited a locked requirement cell.
    fill_in(
        outbox / "FYPC.xlsx",
        returns / "FYPC.xlsx",
        {
            ("2.2", "provider_requirement"): "Requirement met - please close.",
            ("2.2.1", "directorate_rag"): "Green",
            ("2.2.1", "comments"): "Care plan template revised and live on SystmOne.",
            ("2.2.2", "directorate_rag"): "Amber",
            ("17.2.1", "directorate_rag"): "Blue",
        },
        unprotect=True,
    )
    # Corporate: returned under another name. AMH/ILD: no return.
    fill_in(
        outbox / "Corporate.xlsx",
        returns / "Corporate return FINAL v2.xlsx",
        {
            ("1", "directorate_rag"): "Amber",
            ("1", "comments"): "Core standards agreed; directorate training reviews due September.",
            ("2", "directorate_rag"): "Green",
        },
    )


def central_edits_after_issue(master: Path) -> None:
    """Compliance staff edit the master in Excel while the templates are out."""
    from openpyxl import load_workbook

    book = load_workbook(master)
    sheet = book["Action plan"]
    header = [c.value for c in sheet[3]]
    ref_col = header.index("Action Reference") + 1
    comments_col = header.index("Comments/ Remedial Actions") + 1
    group_col = header.index("Group responsible for delivering the actions") + 1
    for row in range(4, sheet.max_row + 1):
        ref = sheet.cell(row, ref_col).value
        if ref == "5.2.1":
            sheet.cell(row, comments_col).value = "Central team: awaiting the CHS evidence pack."
        if ref == "3.1":
            sheet.cell(row, group_col).value = "AMH/LD Divisional Assurance Group"
    book.save(master)


if __name__ == "__main__":
    build(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE)
    print("examples rebuilt")
