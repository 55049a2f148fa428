"""The tables xlplan wrote into the master, read back: the Change log (parsed, or left where it
is when it can be copied into the next master unparsed), the Changes and Issues sheets, and
the tables packed into a few hidden cells."""

from __future__ import annotations

from pathlib import Path

from .changelog import LOG_SUMMARY_SHEET, ChangeLog, LogEntry, StoredRows, parse_summary
from .errors import XlplanError
from .excel import CellValue, display
from .packed import unpack_rows
from .plan import (
    CHANGES_HEADERS,
    LOG_HEADERS,
    LOG_SHEET,
    Plan,
)
from .safety_gate import MASTER_LIMITS, UnreadableWorkbook
from .workbook import Workbook, open_workbook


def read_change_log(plan: Plan, path: Path, book: Workbook, lazy_log: bool) -> None:
    """The Change log into `plan.log`: its rows left where they are when `lazy_log` allows
    (stored_log), parsed otherwise."""
    if LOG_SHEET not in book.sheets:
        return
    stored = stored_log(path, book) if lazy_log else None
    if stored is not None:
        plan.log = ChangeLog(stored=stored)
    else:
        plan.log.extend(log_entries(book.rows(LOG_SHEET)))


def stored_log(path: Path, book: Workbook) -> StoredRows | None:
    """The Change log's rows left where they are (see xlplan.changelog), or None: parse them."""
    from .logpart import read_kept_part

    if LOG_SUMMARY_SHEET not in book.sheets:
        return None
    part = book.deferred.get(LOG_SHEET)
    stored = parse_summary(packed_table(book, LOG_SUMMARY_SHEET), lambda: reload_log(path, part, stored))
    if stored is None:
        return None
    stored.part = read_kept_part(path, part, stored.token, stored.count)
    return stored if stored.part is not None else None


def reload_log(path: Path, part: str | None, stored: StoredRows | None) -> list[LogEntry]:
    """All the rows of a Change log left unparsed, read now from the master they were in."""
    from .logpart import read_kept_part

    if stored is None or read_kept_part(path, part, stored.token, stored.count) is None:
        raise XlplanError(
            f"Plan {path} changed while xlplan was working on it; nothing was written. Run the command again."
        )
    try:
        return log_entries(open_workbook(path, MASTER_LIMITS).rows(LOG_SHEET))
    except UnreadableWorkbook as exc:
        raise XlplanError(f"Plan {path}: {exc.problem.message}") from exc


def packed_table(book: Workbook, sheet: str) -> list[list[CellValue]]:
    return unpack_rows([row[0] for row in book.raw_rows(sheet) if row])


def report_table(rows: list[list[CellValue]], firsts: set[str]) -> list[dict[str, CellValue]]:
    """The rows under a report table's header row (write_table puts a title and notes above
    it; the header is the row that starts with one of `firsts`), by header."""
    start = next((i for i, r in enumerate(rows[:10]) if r and display(r[0]).strip() in firsts), None)
    if start is None:
        return []
    header = [display(c).strip() for c in rows[start]]
    return [
        {h: (r[i] if i < len(r) else None) for i, h in enumerate(header) if h}
        for r in rows[start + 1 :]
        if any(v is not None for v in r)
    ]


def log_entries(
    rows: list[list[CellValue]], cycle: str | None = None, merged_at: str | None = None
) -> list[LogEntry]:
    """Rows of the Change log, or of the Changes sheet (whose cycle and time are given)."""
    headers = LOG_HEADERS if cycle is None else CHANGES_HEADERS
    # (A Changes sheet written before it had a "Merged at" column starts with "Service".)
    table = report_table(rows, {headers[0], headers[1]})
    if table and sum(1 for name in headers if name in table[0]) < len(headers) - 1:
        return []
    return [
        LogEntry(
            cycle=cycle if cycle is not None else display(row.get("Cycle")),
            merged_at=display(row.get("Merged at")) or merged_at or "",
            service=display(row.get("Service")),
            file=display(row.get("File")),
            action=display(row.get("Action")),
            column=display(row.get("Column")),
            old=row.get("Old value"),
            new=row.get("New value"),
            kind=display(row.get("Kind")),
            action_id=display(row.get("xlplan ID")),
        )
        for row in table
    ]
