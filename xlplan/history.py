"""The master's memory of its cycles, for the committee's first questions: are we getting
better, what has slipped, what is stuck.

Each merge records, for its cycle, the figures per service (xlplan.figures, the Summary's own)
and each action's rating; a later merge in the same cycle replaces that cycle's record. Kept
packed in a very hidden sheet (xlplan.packed); pure data and rules here, the sheet is read
and written elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from .cycle import is_slippage
from .dates import parse_uk_date
from .excel import CellValue, display
from .figures import ServiceFigures, service_figures
from .plan import LogEntry, Plan
from .progress import is_complete_rating, overdue_since

HISTORY_MARK = "xlplan history 1"
# An action overdue by more than this many days is stuck, whatever its rating says.
STUCK_DAYS = 90
# The same not-complete rating for this many cycles in a row is stuck.
STUCK_CYCLES = 2


@dataclass
class CycleRecord:
    """One cycle's figures, as its latest merge left them."""

    cycle: str
    as_of: dt.date
    merged_at: str
    figures: list[ServiceFigures]
    ratings: dict[str, str] = field(default_factory=dict)  # xlplan ID -> rating ("" unrated)


@dataclass
class History:
    cycles: list[CycleRecord] = field(default_factory=list)

    def latest(self) -> CycleRecord | None:
        return self.cycles[-1] if self.cycles else None

    def latest_of(self, cycle: str) -> list[ServiceFigures] | None:
        """The figures recorded for `cycle`, if any."""
        return next((r.figures for r in self.cycles if r.cycle == cycle), None)


def plan_history(plan: Plan) -> History:
    return parse_history(plan.history_table)


def record_cycle(history: History, plan: Plan, cycle: str, as_of: dt.date, merged_at: str) -> None:
    """The master as this merge writes it becomes `cycle`'s record (replacing an earlier
    merge's record of the same cycle, in its place)."""
    rating_field = plan.layout.service_rating
    ratings = {a.id: display(a.get(rating_field)) if rating_field else "" for a in plan.actions}
    record = CycleRecord(cycle, as_of, merged_at, service_figures(plan, as_of), ratings)
    for index, earlier in enumerate(history.cycles):
        if earlier.cycle == cycle:
            history.cycles[index] = record
            return
    history.cycles.append(record)


def history_rows(history: History, scale: list[str]) -> list[list[CellValue]]:
    """The history as one table for xlplan.packed: a cycle row, its service rows, then one
    row per action with its rating in every cycle (one column per cycle)."""
    rows: list[list[CellValue]] = [[HISTORY_MARK, *scale]]
    for record in history.cycles:
        rows.append(["cycle", record.cycle, record.as_of, record.merged_at])
        for f in record.figures:
            rows.append(
                [
                    "service",
                    record.cycle,
                    f.service,
                    str(f.actions),
                    str(f.not_rated),
                    str(f.overdue),
                    str(f.complete),
                    *(str(f.ratings.get(v, 0)) for v in scale),
                ]
            )
    ids: dict[str, None] = {}
    for record in history.cycles:
        ids.update(dict.fromkeys(record.ratings))
    for action_id in ids:
        rows.append(["action", action_id, *(r.ratings.get(action_id) for r in history.cycles)])
    return rows


def _count(value: CellValue) -> int:
    try:
        return int(display(value) or 0)
    except ValueError:
        return 0


def parse_history(rows: list[list[CellValue]]) -> History:
    """The history back; an unknown or damaged table gives an empty history (the next merge
    starts a new one) rather than figures that might be wrong."""
    if not rows or not rows[0] or rows[0][0] != HISTORY_MARK:
        return History()
    scale = [display(v) for v in rows[0][1:]]
    history = History()
    by_cycle: dict[str, CycleRecord] = {}
    for row in rows[1:]:
        kind = row[0] if row else None
        if kind == "cycle" and len(row) >= 4:
            as_of = parse_uk_date(row[2]) or dt.date.min
            record = CycleRecord(display(row[1]), as_of, display(row[3]), [])
            history.cycles.append(record)
            by_cycle[record.cycle] = record
        elif kind == "service" and len(row) >= 7 and display(row[1]) in by_cycle:
            counts = [_count(v) for v in row[7:]]
            by_cycle[display(row[1])].figures.append(
                ServiceFigures(
                    display(row[2]),
                    _count(row[3]),
                    dict(zip(scale, counts + [0] * len(scale), strict=False)),
                    _count(row[4]),
                    _count(row[5]),
                    _count(row[6]),
                )
            )
        elif kind == "action" and len(row) >= 2:
            for record, rating in zip(history.cycles, row[2:], strict=False):
                if rating is not None:
                    record.ratings[display(row[1])] = display(rating)
    return history


@dataclass
class SlippedAction:
    action_id: str
    action: str
    service: str
    moves: int
    first_due: CellValue
    current_due: CellValue
    last_moved: str


def due_moves(plan: Plan, entries: Iterable[LogEntry]) -> list[LogEntry]:
    """The audit trail's due-date moves that are slippage (later, or from a date to none):
    the one rule the Change log's "slippage (moved N times)" and the Progress sheet count by."""
    layout = plan.layout
    if layout.due_field is None:
        return []
    header = layout.column(layout.due_field).header
    return [e for e in entries if e.column == header and is_slippage(e.old, e.new)]


def trail_of_due_dates(plan: Plan) -> list[LogEntry]:
    """The due-date column's rows of the Change log, then of this cycle's Changes (the log
    answers from its summary, without parsing its rows: xlplan.changelog)."""
    layout = plan.layout
    if layout.due_field is None:
        return []
    header = layout.column(layout.due_field).header
    return [*plan.log.in_column(header), *(e for e in plan.cycle_changes if e.column == header)]


def slipped_actions(plan: Plan) -> list[SlippedAction]:
    """Actions whose due date has moved later: how often, the first and the current date."""
    moves: dict[str, list[LogEntry]] = {}
    for entry in due_moves(plan, trail_of_due_dates(plan)):
        moves.setdefault(entry.action_id, []).append(entry)
    by_id = plan.by_id()
    routes, _ = plan.routes()
    due_field = plan.layout.due_field
    slipped = []
    for action_id, entries in moves.items():
        action = by_id.get(action_id)
        if action is None:
            continue  # no longer in the plan
        slipped.append(
            SlippedAction(
                action_id,
                plan.ref(action),
                ", ".join(routes.get(action_id, [])),
                len(entries),
                entries[0].old,
                action.get(due_field) if due_field else None,
                entries[-1].merged_at,
            )
        )
    slipped.sort(key=lambda s: (-s.moves, s.service, s.action))
    return slipped


@dataclass
class StuckAction:
    action_id: str
    action: str
    service: str
    rating: str
    due: CellValue
    why: str


def stuck_actions(
    plan: Plan, history: History, as_of: dt.date, stuck_days: int = STUCK_DAYS
) -> list[StuckAction]:
    """Actions with the same not-complete rating in the latest cycles (two or more in a row,
    up to the latest recorded), or overdue by more than `stuck_days` days on `as_of`."""
    layout = plan.layout
    rating_field = layout.service_rating
    routes, _ = plan.routes()
    stuck = []
    for action in plan.actions:
        rating = display(action.get(rating_field)) if rating_field else ""
        reasons = []
        if rating and not is_complete_rating(rating, layout):
            # "A" one cycle and "Amber" the next are the same rating, unchanged.
            same = layout.rating_value(rating)
            run: list[str] = []
            for record in reversed(history.cycles):
                was = record.ratings.get(action.id) or ""
                if layout.rating_value(was) != same:
                    break
                run.append(record.cycle)
            if len(run) >= STUCK_CYCLES:
                reasons.append(f"{rating} for {len(run)} cycles (since {run[-1]})")
        missed = overdue_since(action.values, layout, as_of)
        if missed is not None and (as_of - missed).days > stuck_days:
            reasons.append(f"overdue {(as_of - missed).days} days")
        if reasons:
            stuck.append(
                StuckAction(
                    action.id,
                    plan.ref(action),
                    ", ".join(routes.get(action.id, [])),
                    rating,
                    action.get(layout.due_field) if layout.due_field else None,
                    "; ".join(reasons),
                )
            )
    return stuck
