"""The audit trail kept across cycles (the master's "Change log" sheet), as a merge holds it.

After a dozen cycles the Change log holds about a hundred thousand rows, and a merge only adds
to it. So a merge need not parse the rows the previous master already held: when that
master's Change log is exactly as xlplan wrote it, its rows stay where they are
(`StoredRows`) and are copied into the new master as they stand (xlplan.logpart). What a
merge asks of the old rows (the due-date moves the slippage count is made of, the rows of the
current cycle the Committee view marks) is kept small, beside them, in a very hidden table
(`summary_rows`); anything else parses them all, once (`ChangeLog.earlier`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .excel import CellValue, display

# The very hidden sheet holding the summary of the Change log's rows (packed: xlplan.packed).
LOG_SUMMARY_SHEET = "_xlplan_log"
SUMMARY_VERSION = 1


@dataclass
class LogEntry:
    """One changed cell in the audit trail kept across merges."""

    cycle: str
    merged_at: str
    service: str
    file: str
    action: str
    column: str
    old: CellValue
    new: CellValue
    kind: str
    action_id: str

    def row(self) -> list[CellValue]:
        return [self.cycle, *self.change_row()]

    def change_row(self) -> list[CellValue]:
        return [
            self.merged_at,
            self.service,
            self.file,
            self.action,
            self.column,
            self.old,
            self.new,
            self.kind,
            self.action_id,
        ]


@dataclass
class StoredRows:
    """The previous master's Change log rows, not parsed: how many, the few of them a merge
    asks about, and how to parse them all if something else is asked."""

    count: int
    cycle: str  # the current cycle when they were written: `current` holds its rows
    due_column: str  # the due-date column's header then: `due` holds its rows
    labels: set[str]  # every cycle named among the rows
    current: list[LogEntry]
    due: list[LogEntry]
    token: str  # ties the summary to the part it describes (xlplan.logpart)
    load: Callable[[], list[LogEntry]]
    part: object = None  # where the rows lie in the old master (xlplan.logpart.KeptPart)


@dataclass
class ChangeLog:
    """The Change log: the rows the master held when read (parsed, or `stored` unparsed),
    then what this run adds to it. Iterating gives every row, in order."""

    entries: list[LogEntry] = field(default_factory=list)  # parsed rows, then added ones
    stored: StoredRows | None = None  # rows before `entries`, left unparsed
    _earlier: list[LogEntry] | None = field(default=None, repr=False)

    def append(self, entry: LogEntry) -> None:
        self.entries.append(entry)

    def extend(self, entries: Iterable[LogEntry]) -> None:
        self.entries.extend(entries)

    def __iter__(self) -> Iterator[LogEntry]:
        yield from self.earlier()
        yield from self.entries

    def __len__(self) -> int:
        return (self.stored.count if self.stored else 0) + len(self.entries)

    def earlier(self) -> list[LogEntry]:
        """The stored rows, parsed (once) when something needs them all."""
        if self.stored is None:
            return []
        if self._earlier is None:
            self._earlier = self.stored.load()
        return self._earlier

    def in_column(self, header: str) -> list[LogEntry]:
        """The rows of one column (the due date's, for slippage), in order."""
        stored = self.stored
        if stored is None or self._earlier is not None or header != stored.due_column:
            return [e for e in self if e.column == header]
        return [*stored.due, *(e for e in self.entries if e.column == header)]

    def of_cycle(self, cycle: str) -> list[LogEntry]:
        """The rows of one cycle, in order."""
        stored = self.stored
        if stored is None or self._earlier is not None or (cycle != stored.cycle and cycle in stored.labels):
            return [e for e in self if e.cycle == cycle]
        kept = stored.current if cycle == stored.cycle else []
        return [*kept, *(e for e in self.entries if e.cycle == cycle)]

    def labels(self) -> set[str]:
        if self.stored is None or self._earlier is not None:
            return {e.cycle for e in self}
        return self.stored.labels | {e.cycle for e in self.entries}


def summary_rows(log: ChangeLog, cycle: str, due_column: str) -> list[list[CellValue]]:
    """What a later merge asks of these rows without parsing them (see the module docstring):
    a head row (version, count, cycle, due column, token), the cycles named, then the rows of
    `cycle` ("c") and of `due_column` ("d")."""
    current = log.of_cycle(cycle)
    due = log.in_column(due_column) if due_column else []
    body: list[list[CellValue]] = [
        ["labels", *sorted(log.labels())],
        *(["c", *e.row()] for e in current),
        *(["d", *e.row()] for e in due),
    ]
    head: list[CellValue] = ["change-log", str(SUMMARY_VERSION), str(len(log)), cycle, due_column]
    return [[*head, summary_token(head, body)], *body]


def summary_token(head: list[CellValue], body: list[list[CellValue]]) -> str:
    data = json.dumps([head, body], ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:20]


def parse_summary(rows: list[list[CellValue]], load: Callable[[], list[LogEntry]]) -> StoredRows | None:
    """The summary as written by `summary_rows`; None if it is not one (then the rows are
    parsed, as for a master written before it existed)."""
    if len(rows) < 2 or len(rows[0]) < 6 or rows[0][0] != "change-log" or rows[1][:1] != ["labels"]:
        return None
    head, body = rows[0][:5], rows[1:]
    if (
        head[1] != str(SUMMARY_VERSION)
        or not str(head[2]).isdigit()
        or summary_token(head, body) != rows[0][5]
    ):
        return None
    current, due = [], []
    for row in body[1:]:
        if len(row) != 11 or row[0] not in ("c", "d"):
            return None
        entry = LogEntry(*(display(v) for v in row[1:7]), row[7], row[8], display(row[9]), display(row[10]))
        (current if row[0] == "c" else due).append(entry)
    return StoredRows(
        count=int(str(head[2])),
        cycle=display(head[3]),
        due_column=display(head[4]),
        labels={display(v) for v in body[0][1:]},
        current=current,
        due=due,
        token=str(rows[0][5]),
        load=load,
    )
