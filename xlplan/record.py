"""The master's record of what it issued: per issued row, its service and cycle, a digest of
its locked (central and committee) cells and a digest of each service-owned cell.

A return is evidence, never the truth: its hidden copy of the issued values can be edited,
lost with its metadata or pasted into a new workbook. The record lets merge judge every
returned row against what the master itself sent out. Digests, not values, so the record
stays small (a few dozen characters a row) and leaks nothing a service did not already see.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .excel import CellValue
from .layout import Layout

RECORD_SHEET = "_xlplan_record"
RECORD_HEADERS = ["xlplan ID", "Service", "Cycle", "Issued at", "Locked"]
# 32 bits per cell: a service's edit is mistaken for "left as issued" once in four billion.
CELL_DIGEST_CHARS = 8
LOCKED_DIGEST_CHARS = 12


def normal_text(value: CellValue) -> str:
    """A cell as a person reads it: a date and its dd/mm/yyyy text are one value, line endings
    and surrounding spaces do not count."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value).replace("\r\n", "\n").strip()


def _digest(text: str, size: int) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()[:size]


def cell_digest(value: CellValue) -> str:
    return _digest(normal_text(value), CELL_DIGEST_CHARS)


def locked_fields(layout: Layout) -> list[str]:
    return [c.field for c in layout.columns if c.owner != "service"]


def locked_digest(layout: Layout, values: Mapping[str, CellValue]) -> str:
    """One digest over a row's locked cells: equal exactly when every locked cell is as issued."""
    text = "\x1f".join(normal_text(values.get(f)) for f in locked_fields(layout))
    return _digest(text, LOCKED_DIGEST_CHARS)


@dataclass(frozen=True)
class IssuedRow:
    action_id: str
    service: str
    cycle: str
    issued_at: str
    locked: str
    cells: dict[str, str]  # service field -> digest of the value issued


@dataclass
class IssueRecord:
    """Every row issued, by action ID; a service issued again replaces its earlier rows."""

    rows: dict[str, IssuedRow] = field(default_factory=dict)

    def services(self) -> set[str]:
        return {r.service for r in self.rows.values()}

    def rows_of(self, service: str) -> list[IssuedRow]:
        return [r for r in self.rows.values() if r.service == service]

    def replace(self, service: str, rows: Iterable[IssuedRow]) -> None:
        for old in [k for k, r in self.rows.items() if r.service == service]:
            del self.rows[old]
        for row in rows:
            self.rows[row.action_id] = row

    def replace_all(self, issued: Mapping[str, Iterable[IssuedRow]]) -> None:
        """`replace` for each service in turn, with the same rows in the same order, without a
        scan of the whole record per service (500 services issued at once made that quadratic)."""
        holding: dict[str, list[str]] = {}
        for key, row in self.rows.items():
            holding.setdefault(row.service, []).append(key)
        for service, rows in issued.items():
            for key in holding.pop(service, []):
                if key in self.rows and self.rows[key].service == service:
                    del self.rows[key]
            for row in rows:
                self.rows[row.action_id] = row


def issued_row(
    layout: Layout,
    action_id: str,
    values: Mapping[str, CellValue],
    *,
    service: str,
    cycle: str,
    issued_at: str,
) -> IssuedRow:
    return IssuedRow(
        action_id,
        service,
        cycle,
        issued_at,
        locked_digest(layout, values),
        {f: cell_digest(values.get(f)) for f in layout.service_fields},
    )


def record_table(layout: Layout, record: IssueRecord) -> list[list[str]]:
    """The record as the rows of its hidden sheet (header first)."""
    fields = layout.service_fields
    rows = [[*RECORD_HEADERS, *fields]]
    for r in record.rows.values():
        rows.append(
            [r.action_id, r.service, r.cycle, r.issued_at, r.locked, *(r.cells.get(f, "") for f in fields)]
        )
    return rows


def parse_record(rows: list[list[object]]) -> IssueRecord:
    """The record from its sheet; rows that do not parse are skipped (merge then falls back
    to judging those rows against the master, as for a master issued before the record)."""
    record = IssueRecord()
    if not rows:
        return record
    header = [str(c) if c is not None else "" for c in rows[0]]
    if header[: len(RECORD_HEADERS)] != RECORD_HEADERS:
        return record
    fields = header[len(RECORD_HEADERS) :]
    for row in rows[1:]:
        cells = [("" if c is None else str(c)) for c in row] + [""] * len(header)
        action_id, service, cycle, issued_at, locked = cells[:5]
        if not action_id or not service:
            continue
        digests = {f: cells[5 + i] for i, f in enumerate(fields) if f}
        record.rows[action_id] = IssuedRow(action_id, service, cycle, issued_at, locked, digests)
    return record
