"""The tables xlplan wrote into the master, read back: the Change log (parsed, or left where it
is when it can be copied into the next master unparsed), the Changes and Issues sheets, and
the tables packed into a few hidden cells (`read_own_tables` reads them all into a plan), and
the ratings' other names the central team added on the Key sheet (`with_key_aliases`)."""

from __future__ import annotations

from pathlib import Path

from .changelog import LOG_SUMMARY_SHEET, ChangeLog, LogEntry, StoredRows, parse_summary
from .cycle import RETURNS_SHEET, SNAPSHOT_SHEET, parse_returns
from .errors import XlplanError
from .excel import CellValue, display
from .layout import Layout
from .metadata import META_SHEET
from .packed import unpack_rows
from .plan import (
    CHANGES_HEADERS,
    CHANGES_SHEET,
    COMMITTEE_SHEET,
    HISTORY_SHEET,
    ISSUE_HEADERS,
    ISSUES_SHEET,
    KEY_SHEET,
    LOG_HEADERS,
    LOG_SHEET,
    PROGRESS_SHEET,
    SUMMARY_SHEET,
    Plan,
)
from .record import RECORD_SHEET, parse_record
from .safety_gate import MASTER_LIMITS, UnreadableWorkbook
from .sheets import KEY_ALIASES_HEADER
from .workbook import Workbook, open_workbook

# The master's sheets xlplan writes, besides the plan sheet (named by the layout) and the
# Services sheet: never read as one of the central team's own, nor given to one. One list,
# for the reader and the writer.
OWNED_SHEETS = frozenset(
    {
        KEY_SHEET,
        SUMMARY_SHEET,
        CHANGES_SHEET,
        ISSUES_SHEET,
        LOG_SHEET,
        LOG_SUMMARY_SHEET,
        META_SHEET,
        RECORD_SHEET,
        RETURNS_SHEET,
        SNAPSHOT_SHEET,
        HISTORY_SHEET,
        PROGRESS_SHEET,
        COMMITTEE_SHEET,
    }
)


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


def read_own_tables(plan: Plan, book: Workbook, path: Path, lazy_log: bool) -> None:
    """xlplan's own tables: the Change log, this cycle's Changes and Issues, the record of
    what was issued, the returns merged, the snapshot and the history of cycles."""
    meta = plan.meta
    read_change_log(plan, path, book, lazy_log)
    # Changes and Issues of the cycle still running stay with it; those of an earlier cycle
    # (a master written before the cycle was recorded) go to the Change log.
    current = bool(meta.cycle) and meta.last_cycle == meta.cycle
    if CHANGES_SHEET in book.sheets:
        changes = log_entries(
            book.rows(CHANGES_SHEET), cycle=meta.last_cycle or "", merged_at=meta.last_merged_at or ""
        )
        (plan.cycle_changes if current else plan.log).extend(changes)
    if current and ISSUES_SHEET in book.sheets:
        plan.cycle_issues = report_table(book.rows(ISSUES_SHEET), {ISSUE_HEADERS[0]})
    if RECORD_SHEET in book.sheets:
        plan.record = parse_record(packed_table(book, RECORD_SHEET))
    if RETURNS_SHEET in book.sheets:
        plan.merged = parse_returns(book.raw_rows(RETURNS_SHEET))
    if SNAPSHOT_SHEET in book.sheets:
        plan.snapshot_packed = [row[0] for row in book.raw_rows(SNAPSHOT_SHEET) if row]
    if HISTORY_SHEET in book.sheets:
        plan.history_table = packed_table(book, HISTORY_SHEET)


def with_key_aliases(layout: Layout, rows: list[list[CellValue]], path: Path) -> Layout:
    """The layout with the spellings the central team added on the Key sheet's "Also read as"
    column (a rating kept as written at import, such as "Complete", mapped to Blue).

    The Key sheet is rebuilt from the layout on every write, so what was added there stays."""
    start = next(
        (
            i
            for i, r in enumerate(rows)
            if len(r) > 2
            and display(r[0]).strip() == "Rating"
            and display(r[2]).strip() == KEY_ALIASES_HEADER
        ),
        None,
    )
    if start is None:
        return layout
    added: dict[str, list[str]] = {}
    for row in rows[start + 1 :]:
        value = display(row[0]).strip() if row else ""
        if not value:
            break
        names = [n.strip() for n in display(row[2] if len(row) > 2 else None).split(",")]
        if value in layout.rating_values:
            rating = next(r for r in layout.ratings if r.value == value)
            known = {a.strip().lower() for a in rating.aliases}
            added[value] = [n for n in names if n and n.lower() not in known]
    if not any(added.values()):
        return layout
    data = layout.model_dump(by_alias=True)
    for rating in data["rating"]:
        rating["aliases"] = rating["aliases"] + added.get(rating["value"], [])
    try:
        return Layout.model_validate(data)
    except ValueError as exc:
        raise XlplanError(
            f"Plan {path}, sheet {KEY_SHEET!r}: the {KEY_ALIASES_HEADER!r} column "
            f"gives one name to two ratings, or a rating's own name to another "
            f"({exc.errors()[0]['msg'] if hasattr(exc, 'errors') else exc}). "
            "Give each spelling to one rating only."
        ) from exc
