"""A cycle as central teams run it: returns trickle in over weeks and are merged a few at a
time, services send second versions, the central team edits the master in between.

What the master remembers of its current cycle, beyond the record of what it issued: every
return it merged (by content, so the same file merged again changes nothing) and a snapshot
of the central and committee cells as xlplan last wrote them (so the edits made by hand in
between are audited). Pure data and rules; the hidden sheets are read and written elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .excel import CellValue, display
from .layout import Layout
from .record import _digest, normal_text

RETURNS_SHEET = "_xlplan_returns"
RETURNS_HEADERS = ["Cycle", "Service", "File", "Content", "Saved at", "Merged at", "Outcome"]
SNAPSHOT_SHEET = "_xlplan_snapshot"
# Long text is kept as its start and a digest: enough to say what was edited, while the
# snapshot stays small beside the plan sheet.
SNAPSHOT_TEXT = 120
LONG_MARK = "#"


@dataclass(frozen=True)
class MergedReturn:
    """A return merged in some cycle: what was in it (a digest of its bytes) and what became of it."""

    cycle: str
    service: str
    file: str
    content: str
    saved_at: str
    merged_at: str
    outcome: str  # "applied" | "superseded" | "refused"

    def row(self) -> list[str]:
        return [
            self.cycle,
            self.service,
            self.file,
            self.content,
            self.saved_at,
            self.merged_at,
            self.outcome,
        ]


def parse_returns(rows: list[list[object]]) -> list[MergedReturn]:
    if not rows or [display(c) if not isinstance(c, str) else c for c in rows[0][:7]] != RETURNS_HEADERS:
        return []
    merged = []
    for row in rows[1:]:
        cells = [("" if c is None else str(c)) for c in row] + [""] * 7
        if cells[1] and cells[3]:
            merged.append(MergedReturn(*cells[:7]))
    return merged


def audited_fields(layout: Layout) -> list[str]:
    """The cells whose hand edits in the master are logged: every central and committee
    column, and the due date whoever owns it (slippage is what committees ask about first)."""
    fields = [c.field for c in layout.columns if c.owner != "service"]
    if layout.due_field and layout.due_field not in fields:
        fields.append(layout.due_field)
    return fields


def snapshot_value(value: CellValue) -> CellValue:
    if value is None or (type(value) is str and len(value) <= SNAPSHOT_TEXT):
        return value  # short as written, so short once normalised too (most cells)
    text = normal_text(value)
    if isinstance(value, dt.date) or len(text) <= SNAPSHOT_TEXT:
        return value
    return f"{LONG_MARK}{_digest(text, 12)} {text[:SNAPSHOT_TEXT]}"


def snapshot_rows(layout: Layout, actions: Iterable[tuple[str, Mapping[str, CellValue]]]) -> list[list]:
    fields = audited_fields(layout)
    rows: list[list] = [["xlplan ID", *fields]]
    for action_id, values in actions:
        rows.append([action_id, *(snapshot_value(values.get(f)) for f in fields)])
    return rows


def parse_snapshot(rows: list[list[CellValue]]) -> dict[str, dict[str, CellValue]]:
    if not rows or not rows[0] or rows[0][0] != "xlplan ID":
        return {}
    fields = [display(c) for c in rows[0][1:]]
    snapshot: dict[str, dict[str, CellValue]] = {}
    for row in rows[1:]:
        if not row or not row[0]:
            continue
        snapshot[display(row[0])] = {
            f: (row[i + 1] if i + 1 < len(row) else None) for i, f in enumerate(fields) if f
        }
    return snapshot


def same_as_snapshot(current: CellValue, kept: CellValue) -> bool:
    text = normal_text(kept)
    if isinstance(kept, str) and text.startswith(LONG_MARK) and " " in text:
        return _digest(normal_text(current), 12) == text[1:].split(" ", 1)[0]
    return normal_text(current) == text


def shown_snapshot(kept: CellValue) -> CellValue:
    """A snapshot value as a person reads it: long text shows its start."""
    text = normal_text(kept)
    if isinstance(kept, str) and text.startswith(LONG_MARK) and " " in text:
        return text.split(" ", 1)[1] + "…"
    return kept


@dataclass(frozen=True)
class CentralEdit:
    action_id: str
    field: str
    old: CellValue
    new: CellValue


def central_edits(
    layout: Layout,
    snapshot: Mapping[str, Mapping[str, CellValue]],
    actions: Iterable[tuple[str, Mapping[str, CellValue]]],
) -> list[CentralEdit]:
    """The audited cells that differ from the snapshot xlplan took when it last wrote the master."""
    edits: list[CentralEdit] = []
    fields = audited_fields(layout)
    for action_id, values in actions:
        kept = snapshot.get(action_id)
        if kept is None:
            continue
        for name in fields:
            if name not in kept:
                continue
            current, old = values.get(name), kept[name]
            # Most cells are as xlplan wrote them: equal to what it kept, no normalising needed.
            if current == old and type(current) is type(old):
                continue
            if not same_as_snapshot(current, old):
                edits.append(CentralEdit(action_id, name, shown_snapshot(old), current))
    return edits


def is_slippage(old: CellValue, new: CellValue) -> bool:
    """A due date moved later (or from a date to no date)."""
    from .dates import parse_uk_date

    before, after = parse_uk_date(old), parse_uk_date(new)
    return before is not None and (after is None or after > before)
