"""`xlplan report`: the committee pack, a PDF made from the consolidated master.

What a quality committee asks first, in the order it asks it: where are we (the Summary),
are we getting better (progress over cycles), what needs our attention (red, overdue,
slipped and stuck actions, refused and missing returns) and what changed this cycle. This
module gathers those tables as plain data from the master; xlplan.pack_pdf draws them.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .cycle import MergedReturn
from .errors import XlplanError
from .excel import CellValue, display
from .figures import ServiceFigures, service_figures, total_figures
from .history import STUCK_DAYS, History, plan_history, slipped_actions, stuck_actions
from .layout import Layout
from .masterread import read_plan, require_plan
from .pack_pdf import Pack, Table, render_pack
from .plan import Action, Plan, now
from .progress import overdue_since

# An exception list longer than this is cut short in the pack with a line saying how many
# more there are and where they all are: a committee paper of thousands of rows is not read.
MAX_ROWS = 250


@dataclass
class PackResult:
    output: Path
    pages: int
    cycle: str
    as_of: dt.date
    exceptions: dict[str, int]


def report(
    plan_path: Path,
    output: Path,
    *,
    as_of: dt.date | None = None,
    stuck_days: int = STUCK_DAYS,
    max_rows: int = MAX_ROWS,
) -> PackResult:
    plan_path = require_plan(plan_path)
    output = Path(output)
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise XlplanError(
            f"Cannot write {output}: the folder {folder} does not exist. Create it or choose another -o."
        )
    if output.suffix.lower() != ".pdf":
        raise XlplanError(f"The committee pack is a PDF: give an output name ending .pdf, not {output.name}.")
    # The pack asks the Change log for this cycle's rows and the due dates' only, which a
    # master xlplan wrote keeps in a small summary: the whole log is not read (12 cycles in:
    # 91,000 rows).
    plan = read_plan(plan_path, lazy_log=True)
    pack = build_pack(plan, as_of or dt.date.today(), stuck_days=stuck_days, max_rows=max_rows)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.stem}.", suffix=".pdf.tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        pages = render_pack(pack, tmp)
        os.replace(tmp, output)
    except OSError as exc:
        raise XlplanError(
            f"Cannot write {output}: {exc.strerror or exc}. Close it if it is open "
            "in a PDF reader, or choose another -o."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return PackResult(
        output, pages, pack.cycle, pack.as_of, {t.heading: len(t.rows) + t.more for t in pack.exceptions}
    )


def _cut(rows: list[list[CellValue]], max_rows: int) -> tuple[list[list[CellValue]], int]:
    return (rows, 0) if len(rows) <= max_rows else (rows[:max_rows], len(rows) - max_rows)


def build_pack(
    plan: Plan,
    as_of: dt.date,
    *,
    stuck_days: int = STUCK_DAYS,
    max_rows: int = MAX_ROWS,
    made_at: dt.datetime | None = None,
) -> Pack:
    """The pack's tables from the master, as plain data: the Summary, progress over cycles,
    what needs the committee's attention, and this cycle's changes."""
    src = _Source.of(plan, as_of, max_rows)
    exceptions = [
        _red_actions(src),
        _overdue_actions(src),
        _slipped_actions(src),
        _stuck_actions(src, stuck_days),
        _refused(src),
        _missing_returns(src),
    ]
    return Pack(
        plan.meta.title,
        src.cycle,
        as_of,
        made_at or now(),
        [(r.value, r.fill, r.font) for r in src.layout.ratings],
        _facts(src),
        _summary(src),
        src.figures,
        src.history,
        _progress(src),
        exceptions,
        _changes(src),
        src.layout.normalise_rating,
    )


@dataclass
class _Source:
    """What the pack's tables are made from, worked out once."""

    plan: Plan
    layout: Layout
    as_of: dt.date
    max_rows: int
    cycle: str
    history: History
    figures: list[ServiceFigures]
    total: ServiceFigures
    merged: list[MergedReturn]  # this cycle's
    returned: set[str]  # the services with a return applied this cycle
    services: list[str]
    routes: dict[str, list[str]]
    by_id: dict[str, Action]

    @classmethod
    def of(cls, plan: Plan, as_of: dt.date, max_rows: int) -> _Source:
        layout = plan.layout
        cycle = plan.meta.cycle or plan.meta.last_cycle or ""
        figures = service_figures(plan, as_of)
        return cls(
            plan,
            layout,
            as_of,
            max_rows,
            cycle,
            plan_history(plan),
            figures,
            total_figures(figures, layout.rating_values),
            [m for m in plan.merged if m.cycle == cycle],
            {m.service for m in plan.applied_in(cycle)},  # as validate and the Summary count them
            plan.services(),
            plan.routes()[0],
            plan.by_id(),
        )

    def returned_of_all(self) -> str:
        return f"{len(self.returned & set(self.services))} of {len(self.services)}"

    def action_row(self, action: Action, *extra: CellValue) -> list[CellValue]:
        layout = self.layout
        return [
            self.plan.ref(action),
            ", ".join(self.routes.get(action.id, [])),
            action.get(layout.action_field) if layout.action_field else "",
            action.get(layout.due_field) if layout.due_field else "",
            display(action.get(layout.service_rating)) if layout.service_rating else "",
            *extra,
        ]

    def what(self, action_id: str) -> CellValue:
        return _what(self.by_id.get(action_id), self.layout)


ACTION_HEADERS = ["Action", "Service", "What", "Due", "Rating"]
ACTION_WIDTHS = [1.2, 1.8, 7, 1.6, 1.3]


def _summary(src: _Source) -> Table:
    scale = src.layout.rating_values
    total = src.total
    return Table(
        "Summary",
        f"Per service, as the master stands; overdue as of {src.as_of:%d/%m/%Y}. "
        f"Returned: a return of cycle {src.cycle or '(none)'} was merged.",
        ["Service", "Actions", *scale, "Not rated", "Open", "Overdue", "Returned", "Complete %"],
        [
            [
                f.service,
                f.actions,
                *f.ratings.values(),
                f.not_rated,
                f.open,
                f.overdue,
                "Yes" if f.service in src.returned else "No",
                f"{f.complete_pct:.0%}",
            ]
            for f in src.figures
        ],
        [3, 1.2, *[1.2] * len(scale), 1.2, 1.2, 1.2, 1.2, 1.4],
        total=[
            "Total",
            total.actions,
            *total.ratings.values(),
            total.not_rated,
            total.open,
            total.overdue,
            src.returned_of_all(),
            f"{total.complete_pct:.0%}",
        ],
    )


def _progress(src: _Source) -> Table | None:
    if not src.history.cycles:
        return None
    names = [r.cycle for r in src.history.cycles]
    per_service: dict[str, dict[str, str]] = {}
    for record in src.history.cycles:
        for f in record.figures:
            per_service.setdefault(f.service, {})[record.cycle] = f"{f.complete_pct:.0%}"
    return Table(
        "Progress over cycles: complete % per service",
        "Each cycle as its latest merge left it. The charts above show all services together.",
        ["Service", *names],
        [[s, *(c.get(n, "") for n in names)] for s, c in per_service.items()],
        [3, *[1.2] * len(names)],
    )


def _red_actions(src: _Source) -> Table:
    layout = src.layout
    reds = {r.value for r in layout.ratings if r.value.strip().lower() == "red"}
    red_rows = [src.action_row(a) for a in src.plan.actions if reds and _rated(a, layout) in reds]
    rows, more = _cut(red_rows, src.max_rows)
    return Table(
        "Red actions",
        "Actions the service rates Red." if reds else "The layout has no Red rating.",
        ACTION_HEADERS,
        rows,
        ACTION_WIDTHS,
        4,
        more,
        "the plan sheet of the master (filter its rating column)",
    )


def _overdue_actions(src: _Source) -> Table:
    late = []
    for action in src.plan.actions:
        missed = overdue_since(action.values, src.layout, src.as_of)
        if missed is not None:
            late.append((missed, src.action_row(action, (src.as_of - missed).days)))
    late.sort(key=lambda item: item[0])
    rows, more = _cut([row for _, row in late], src.max_rows)
    return Table(
        "Overdue actions",
        f"Not complete, due before {src.as_of:%d/%m/%Y}; longest overdue first.",
        [*ACTION_HEADERS, "Days overdue"],
        rows,
        [*ACTION_WIDTHS, 1.3],
        4,
        more,
        "the Issues sheet (code overdue)",
    )


def _slipped_actions(src: _Source) -> Table:
    rows, more = _cut(
        [
            [s.action, s.service, src.what(s.action_id), s.moves, s.first_due, s.current_due, s.last_moved]
            for s in slipped_actions(src.plan)
        ],
        src.max_rows,
    )
    return Table(
        "Slipped actions",
        "Due date moved later, from the Change log and this cycle's Changes.",
        ["Action", "Service", "What", "Times moved", "First due", "Current due", "Last moved"],
        rows,
        [1.2, 1.8, 5.5, 1.2, 1.5, 1.5, 1.8],
        None,
        more,
        "the Progress sheet of the master",
    )


def _stuck_actions(src: _Source, stuck_days: int) -> Table:
    stuck = stuck_actions(src.plan, src.history, src.as_of, stuck_days)
    rows, more = _cut(
        [[s.action, s.service, src.what(s.action_id), s.due, s.rating, s.why] for s in stuck], src.max_rows
    )
    return Table(
        "Stuck actions",
        f"The same not-complete rating for two cycles or more, or overdue by more than {stuck_days} days.",
        ["Action", "Service", "What", "Due", "Rating", "Why stuck"],
        rows,
        [1.2, 1.8, 5.5, 1.6, 1.3, 2.6],
        4,
        more,
        "the Progress sheet of the master",
    )


def _refused(src: _Source) -> Table:
    refused: list[list[CellValue]] = [
        [m.service, m.file, m.saved_at, m.merged_at, "the whole return was refused"]
        for m in src.merged
        if m.outcome == "refused"
    ]
    refused += [
        [
            display(r.get("Service")),
            display(r.get("File")),
            "",
            display(r.get("Found")),
            " ".join(display(r.get(k)) for k in ("Action", "Column", "Message") if r.get(k)),
        ]
        for r in src.plan.cycle_issues
        if display(r.get("Status")) == "open" and display(r.get("Severity")) == "error"
    ]
    rows, more = _cut(refused, src.max_rows)
    return Table(
        "Refused returns and cells",
        "Not applied to the master: the service must correct and return again.",
        ["Service", "File", "Saved", "Merged", "Why"],
        rows,
        [1.8, 2.5, 1.5, 1.5, 7],
        None,
        more,
        "the Issues sheet of the master",
    )


def _missing_returns(src: _Source) -> Table:
    missing: list[list[CellValue]] = [
        [s, ", ".join(sorted({m.file for m in src.merged if m.service == s})) or "nothing received"]
        for s in src.services
        if s not in src.returned
    ]
    rows, more = _cut(missing, src.max_rows)
    due = src.plan.meta.due
    return Table(
        "Missing returns",
        f"Services with no applied return for cycle {src.cycle or '(none)'}"
        + (f", due {due:%d/%m/%Y}." if due else "."),
        ["Service", "Received"],
        rows,
        [3, 9],
        None,
        more,
        "the Summary sheet of the master",
    )


def _changes(src: _Source) -> Table:
    entries = src.plan.log.of_cycle(src.cycle) + list(src.plan.cycle_changes)
    entries.sort(key=lambda e: e.merged_at)
    rows, more = _cut(
        [[e.action, e.column, e.old, e.new, e.service, e.merged_at, e.kind] for e in entries],
        src.max_rows * 4,
    )
    return Table(
        f"Changes this cycle ({src.cycle or 'none'})",
        "Every cell changed by a return, and every central edit found, old value and new.",
        ["Action", "Column", "Old value", "New value", "Who", "When", "Kind"],
        rows,
        [1.2, 2.2, 4, 4, 1.8, 1.8, 1.8],
        None,
        more,
        "the Changes and Change log sheets",
    )


def _facts(src: _Source) -> list[tuple[str, str]]:
    """The title page's key figures."""
    total = src.total
    return [
        ("Plan", src.plan.meta.title),
        ("Cycle", src.cycle or "(none issued)"),
        ("Figures as of", f"{src.as_of:%d/%m/%Y}"),
        ("Actions", f"{total.actions} across {len(src.services)} services"),
        ("Complete", f"{total.complete_pct:.0%} ({total.complete} of {total.actions})"),
        ("Overdue", str(total.overdue)),
        ("Returns merged", f"{src.returned_of_all()} services"),
        ("Cycles recorded", ", ".join(r.cycle for r in src.history.cycles) or "none yet"),
    ]


def _rated(action, layout) -> str:
    """The scale value of an action's rating, by any of its names (as the Summary counts it)."""
    written = display(action.get(layout.service_rating))
    return layout.rating_value(written)


def _what(action, layout) -> CellValue:
    if action is None or not layout.action_field:
        return ""
    return action.get(layout.action_field)
