"""`validate --annotate`: a copy of each return with every problem cell marked and explained,
for the central team to send back to the service."""

from __future__ import annotations

import shutil
from pathlib import Path

from . import style
from .checks import CheckedReturn
from .errors import XlplanError
from .excel import MAX_NOTE_CHARS, clean_for_cell
from .print_setup import print_openpyxl_table
from .problems import Severity

PROBLEMS_SHEET = "xlplan problems"


def refuse_inbox_as_outdir(outdir: Path, inputs: list[Path]) -> None:
    """Annotated copies never go where the returns are: a copy of CHS.xlsm is CHS.xlsx, which
    would overwrite the service's own file. Checked once, before anything is written."""
    folders = {(p if p.is_dir() else p.parent).resolve() for p in inputs}
    if outdir.resolve() in folders:
        raise XlplanError(f"--annotate {outdir} is where the returns are; choose another folder, "
                          "so the services' own files are never overwritten.", 2)


def annotate(checked: CheckedReturn, outdir: Path) -> Path | None:
    """Write the annotated copy; None when the file cannot be annotated (unreadable, .ods, .xls)."""
    from openpyxl import load_workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    ret = checked.ret
    if ret.unreadable or ret.path.suffix.lower() not in (".xlsx", ".xlsm"):
        return None
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XlplanError(f"Cannot create {outdir}: {exc.strerror}.") from exc
    refuse_inbox_as_outdir(outdir, [ret.path])
    target = outdir / (ret.path.stem + ".xlsx")
    try:
        # keep_vba=False: macros are never carried; the copy is always a plain .xlsx.
        book = load_workbook(ret.path, keep_vba=False, rich_text=False)
    except Exception:  # noqa: BLE001 - fall back to a plain copy plus the problems sheet
        shutil.copyfile(ret.path, target)
        return target
    fills = {
        Severity.ERROR: PatternFill("solid", fgColor=style.PROBLEM_FILL.lstrip("#")),
        Severity.WARNING: PatternFill("solid", fgColor=style.CHANGED_FILL.lstrip("#")),
    }
    notes: dict[str, list[str]] = {}
    worst: dict[str, Severity] = {}
    for problem in checked.problems:
        if problem.cell and problem.sheet == ret.sheet and problem.severity != Severity.INFO:
            notes.setdefault(problem.cell, []).append(f"{problem.severity.upper()}: {problem.message}")
            if worst.get(problem.cell) != Severity.ERROR:
                worst[problem.cell] = problem.severity
    if ret.sheet in book.sheetnames:
        sheet = book[ret.sheet]
        for cell_ref, lines in notes.items():
            cell = sheet[cell_ref]
            cell.fill = fills[worst[cell_ref]]
            comment = Comment(clean_for_cell("\n".join(lines))[:MAX_NOTE_CHARS], "xlplan")
            comment.width, comment.height = 360, 160
            cell.comment = comment
    listing = book.create_sheet(PROBLEMS_SHEET, 0)
    listing.append(["Severity", "Code", "Cell", "Action", "Column", "Value", "What to do"])
    for problem in checked.problems:
        if problem.severity == Severity.INFO:
            continue
        listing.append([str(problem.severity), problem.code, problem.cell, problem.action,
                        problem.column, problem.value, problem.message])
    for letter, width in zip("ABCDEFG", (9, 24, 7, 10, 30, 25, 90), strict=True):
        listing.column_dimensions[letter].width = width
    print_openpyxl_table(listing, 1)
    book.active = 0
    try:
        book.save(target)
    except OSError as exc:
        raise XlplanError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    return target
