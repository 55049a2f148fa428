"""The returns in an inbox: the workbooks to read, found in folders, saved emails and zips,
and the files that are not returns, each said as what it is."""

from __future__ import annotations

from pathlib import Path

from .errors import XlplanError
from .mail import unpack_inbox_file
from .problems import Problem, skipped_file
from .safety_gate import WORKBOOK_SUFFIXES
from .saved_email import MAIL_SUFFIXES

IGNORED_PREFIXES = ("~$", ".~lock", ".")
IGNORED_NAMES = {"thumbs.db", "desktop.ini", ".ds_store"}


def list_inbox(paths: list[Path]) -> tuple[list[Path], list[Problem]]:
    """The workbooks among `paths` (folders are read one level deep), and what was skipped."""
    files: list[Path] = []
    skipped: list[Problem] = []
    for path in paths:
        if path.is_dir():
            children = sorted(p for p in path.iterdir() if p.is_file())
        elif path.exists():
            children = [path]
        else:
            raise XlplanError(f"{path} not found. Give returned workbooks or a folder holding them.")
        for child in children:
            lower = child.name.lower()
            if lower.startswith(IGNORED_PREFIXES) or lower in IGNORED_NAMES:
                skipped.append(skipped_file(child.name, "a lock file or hidden system file."))
            elif child.suffix.lower() in MAIL_SUFFIXES:
                # A saved email or a zip: its workbooks, unpacked, are the returns (xlplan.mail).
                found, problems = unpack_inbox_file(child)
                files.extend(found)
                skipped.extend(problems)
            elif child.suffix.lower() not in WORKBOOK_SUFFIXES and path.is_dir():
                resave = RESAVED.get(child.suffix.lower())
                why = (
                    f"{resave}. Ask the service to save the workbook it was sent as .xlsx "
                    "(File > Save As > Excel Workbook) and send that."
                    if resave
                    else f"not a workbook ({child.suffix or 'no extension'}). Returns are .xlsx, "
                    ".xlsm, .ods or .xls, or saved emails (.eml, .msg) or a .zip holding them."
                )
                skipped.append(skipped_file(child.name, why, severity="warning"))
            else:
                files.append(child)
    return files, skipped


# Spreadsheets saved in a form xlplan does not read: said as what they are, with what to do.
RESAVED = {
    ".csv": "saved as CSV, which keeps neither the hidden IDs nor the locked columns",
    ".tsv": "saved as tab-separated text, which keeps neither the hidden IDs nor the locked columns",
    ".xlsb": "an Excel binary workbook (.xlsb), which xlplan does not read",
    ".numbers": "a Numbers file, which xlplan does not read",
    ".pdf": "a PDF of the workbook, which holds no cells to read",
}
