"""Edits the central team makes by hand in the master between xlplan's writes, for the audit
trail: found by comparing the master with the snapshot xlplan took when it last wrote it."""

from __future__ import annotations

from collections import Counter

from .cycle import central_edits, is_slippage, parse_snapshot
from .history import due_moves, trail_of_due_dates
from .packed import unpack_rows
from .plan import LogEntry, Plan

CENTRAL_TEAM = "central team"


def audit_central_edits(plan: Plan, cycle: str, stamp: str) -> list[LogEntry]:
    """The central and committee cells (and due dates) edited by hand in the master since
    xlplan last wrote it, for the Change log; a due date moved later is slippage, counted."""
    snapshot = parse_snapshot(unpack_rows(plan.snapshot_packed))
    if not snapshot:
        return []
    layout = plan.layout
    moves = Counter(e.action_id for e in due_moves(plan, trail_of_due_dates(plan)))
    by_id = plan.by_id()
    entries = []
    for edit in central_edits(layout, snapshot, ((a.id, a.values) for a in plan.actions)):
        column = layout.column(edit.field)
        kind = "central"
        if edit.field == layout.due_field and is_slippage(edit.old, edit.new):
            moves[edit.action_id] += 1
            kind = f"slippage (moved {moves[edit.action_id]} time{'s' if moves[edit.action_id] > 1 else ''})"
        entries.append(
            LogEntry(
                cycle,
                stamp,
                CENTRAL_TEAM,
                "(edited in the master)",
                plan.ref(by_id[edit.action_id]),
                column.header,
                edit.old,
                edit.new,
                kind,
                edit.action_id,
            )
        )
    return entries
