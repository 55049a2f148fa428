"""What a merge did, as data: the changed cells, each service's return and the problems.

The merge (`merge.py`) fills a `MergeResult`; the writers (`masterbook.py`, `report.py`,
`report_json.py`) and the CLI read it. It lives in the core so that the writers need not
import the merge verb (which imports them): no import cycle.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from .excel import CellValue
from .plan import LogEntry, Plan
from .problems import Problem


@dataclass
class Change:
    action_id: str
    action: str  # the reference as people read it
    field: str
    column: str
    old: CellValue  # what the master held before this merge
    new: CellValue
    service: str
    file: str
    saved_at: dt.datetime | None
    kind: str  # "change" | "conflict" | "proposed"


@dataclass
class ServiceStatus:
    service: str
    returned: bool
    file: str | None = None
    saved_at: dt.datetime | None = None
    # A return that came by email: who sent it, and when (xlplan.mail).
    sender: str | None = None
    sent_at: dt.datetime | None = None


@dataclass
class MergeResult:
    plan: Plan
    output: Path
    cycle: str
    merged_at: dt.datetime
    as_of: dt.date
    changes: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    statuses: list[ServiceStatus] = field(default_factory=list)
    returns_read: int = 0
    backup: Path | None = None
    # (action ID, field) -> the change this merge made there: a second service's edit to
    # the same cell of a joint action is a conflict.
    changed_cells: dict[tuple[str, str], Change] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """The errors found: the cells and files not merged (the "refused" of the report;
        `CheckedReturn.refused` is another thing, a whole file not merged)."""
        return sum(1 for p in self.problems if p.is_error)

    @property
    def conflicts(self) -> int:
        return sum(1 for c in self.changes if c.kind == "conflict")

    def log_entries(self) -> list[LogEntry]:
        stamp = self.merged_at.strftime("%Y-%m-%d %H:%M")
        return [
            LogEntry(
                self.cycle, stamp, c.service, c.file, c.action, c.column, c.old, c.new, c.kind, c.action_id
            )
            for c in self.changes
        ]
