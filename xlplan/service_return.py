"""A returned workbook as read: its rows (each an issued action, or a proposal in a spare row),
what it was issued with, and the problems found in it. The values the checks judge; reading
one is `returns.read_return`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .excel import CellValue, cell_name
from .layout import Layout
from .metadata import Metadata
from .problems import Problem

IssuedValues = dict[str, dict[str, CellValue]]  # hidden ID -> field -> value, as issued


@dataclass
class ReturnRow:
    action_id: str
    row: int  # 0-based row of the plan sheet
    values: dict[str, CellValue]
    # Judged by the master's record: are its locked cells exactly as issued?
    locked_intact: bool | None = None


@dataclass
class ServiceReturn:
    """One returned workbook, read. `issued` is None when the metadata did not survive."""

    path: Path
    meta: Metadata | None
    layout: Layout | None
    sheet: str | None = None
    positions: dict[str, int] = field(default_factory=dict)
    rows: list[ReturnRow] = field(default_factory=list)
    proposals: list[ReturnRow] = field(default_factory=list)
    # What the hidden sheet of values as issued holds, read when first asked (`issued`):
    # judged against the master's record, most returns never need it.
    _issued: IssuedValues | None = None
    _issued_reader: Callable[[], IssuedValues | None] | None = field(default=None, repr=False)
    # How many actions that sheet lists at most (its rows under the header, as the safety gate
    # measured them), known without reading it; None: not known.
    issued_at_most: int | None = None
    special_cells: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    saved_at: dt.datetime | None = None
    problems: list[Problem] = field(default_factory=list)
    unreadable: bool = False
    service_override: str | None = None
    # A digest of the file's bytes: the same file merged again is recognised whatever its name.
    content: str = ""

    @property
    def issued(self) -> IssuedValues | None:
        """The values as issued, by hidden ID; None when the sheet did not survive."""
        if self._issued_reader is not None:
            reader, self._issued_reader = self._issued_reader, None
            self._issued = reader()
        return self._issued

    @issued.setter
    def issued(self, values: IssuedValues | None) -> None:
        self._issued_reader = None
        self._issued = values

    def read_issued_later(self, reader: Callable[[], IssuedValues | None], at_most: int) -> None:
        """Read the issued values only if they are asked for (`reader`, while the workbook is
        open: until `release`)."""
        self._issued_reader, self.issued_at_most = reader, at_most

    def __getstate__(self) -> dict[str, object]:
        """Sent to another process: the open workbook cannot go along, so what it would give
        is read first."""
        _ = self.issued
        return self.__dict__.copy()

    def issued_count(self) -> int | None:
        """How many actions the hidden sheet of issued values lists (an upper bound while it
        is unread); None without that sheet."""
        if self._issued_reader is not None and self.issued_at_most is not None:
            return self.issued_at_most
        return len(self.issued) if self.issued is not None else None

    @property
    def service(self) -> str | None:
        return self.service_override or (self.meta.service if self.meta else None)

    @property
    def cycle(self) -> str | None:
        return self.meta.cycle if self.meta else None

    def found(self, code: str, message: str, **where: Any) -> Problem:
        """A problem with this return, said of its file and service but not recorded: the
        checks return what they find (`checks.check_return` gathers it)."""
        return Problem(code, message, file=self.path.name, service=self.service, **where)

    def problem(self, code: str, message: str, **where: Any) -> Problem:
        """Record a problem met while reading the file."""
        problem = self.found(code, message, **where)
        self.problems.append(problem)
        return problem

    def release(self) -> None:
        """Drop the cell values once checked: a merge of hundreds of returns keeps only the
        edits and problems, not every return's every cell."""
        self.rows = []
        had_issued = self._issued_reader is not None or self._issued is not None
        self.issued = {} if had_issued else None  # the workbook's reader goes with it
        self.special_cells = {}

    def cell(self, row: int, field_name: str) -> str | None:
        col = self.positions.get(field_name)
        return cell_name(row, col) if col is not None else None
