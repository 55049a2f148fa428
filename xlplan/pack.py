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

from .errors import XlplanError
from .excel import CellValue, display
from .figures import service_figures, total_figures
from .history import STUCK_DAYS, plan_history, slipped_actions, stuck_actions
from .masterread import read_plan, require_plan
from .pack_pdf import Pack, Table, render_pack
from .plan import Plan, now
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
    layout = plan.layout
    scale = layout.rating_values
    cycle = plan.meta.cycle or plan.meta.last_cycle or ""
    history = plan_history(plan)
    figures = service_figures(plan, as_of)
    total = total_figures(figures, scale)
    merged = [m for m in plan.merged if m.cycle == cycle]
    returned = {m.service for m in plan.applied_in(cycle)}  # as validate and the Summary count them
    services = plan.services()
    by_id = plan.by_id()
    routes, _ = plan.routes()

    summary = Table(
        "Summary",
        f"Per service, as the master stands; overdue as of {as_of:%d/%m/%Y}. "
        f"Returned: a return of cycle {cycle or '(none)'} was merged.",
        ["Service", "Actions", *scale, "Not rated", "Open", "Overdue", "Returned", "Complete %"],
        [
            [
                f.service,
                f.actions,
                *f.ratings.values(),
                f.not_rated,
                f.open,
                f.overdue,
                "Yes" if f.service in returned else "No",
                f"{f.complete_pct:.0%}",
            ]
            for f in figures
        ],
        [3, 1.2, *[1.2] * len(scale), 1.2, 1.2, 1.2, 1.2, 1.4],
        total=[
            "Total",
            total.actions,
            *total.ratings.values(),
            total.not_rated,
            total.open,
            total.overdue,
            f"{len(returned & set(services))} of {len(services)}",
            f"{total.complete_pct:.0%}",
        ],
    )

    progress = None
    if history.cycles:
        names = [r.cycle for r in history.cycles]
        per_service: dict[str, dict[str, str]] = {}
        for record in history.cycles:
            for f in record.figures:
                per_service.setdefault(f.service, {})[record.cycle] = f"{f.complete_pct:.0%}"
        progress = Table(
            "Progress over cycles: complete % per service",
            "Each cycle as its latest merge left it. The charts above show all services together.",
            ["Service", *names],
            [[s, *(c.get(n, "") for n in names)] for s, c in per_service.items()],
            [3, *[1.2] * len(names)],
        )

    def action_row(action, *extra: CellValue) -> list[CellValue]:
        return [
            plan.ref(action),
            ", ".join(routes.get(action.id, [])),
            action.get(layout.action_field) if layout.action_field else "",
            action.get(layout.due_field) if layout.due_field else "",
            display(action.get(layout.service_rating)) if layout.service_rating else "",
            *extra,
        ]

    action_headers = ["Action", "Service", "What", "Due", "Rating"]
    action_widths = [1.2, 1.8, 7, 1.6, 1.3]
    exceptions: list[Table] = []
    reds = {r.value for r in layout.ratings if r.value.strip().lower() == "red"}
    red_rows = [action_row(a) for a in plan.actions if reds and _rated(a, layout) in reds]
    rows, more = _cut(red_rows, max_rows)
    exceptions.append(
        Table(
            "Red actions",
            "Actions the service rates Red." if reds else "The layout has no Red rating.",
            action_headers,
            rows,
            action_widths,
            4,
            more,
            "the plan sheet of the master (filter its rating column)",
        )
    )
    late = []
    for action in plan.actions:
        missed = overdue_since(action.values, layout, as_of)
        if missed is not None:
            late.append((missed, action_row(action, (as_of - missed).days)))
    late.sort(key=lambda item: item[0])
    rows, more = _cut([row for _, row in late], max_rows)
    exceptions.append(
        Table(
            "Overdue actions",
            f"Not complete, due before {as_of:%d/%m/%Y}; longest overdue first.",
            [*action_headers, "Days overdue"],
            rows,
            [*action_widths, 1.3],
            4,
            more,
            "the Issues sheet (code overdue)",
        )
    )
    slipped = slipped_actions(plan)
    rows, more = _cut(
        [
            [
                s.action,
                s.service,
                _what(by_id.get(s.action_id), layout),
                s.moves,
                s.first_due,
                s.current_due,
                s.last_moved,
            ]
            for s in slipped
        ],
        max_rows,
    )
    exceptions.append(
        Table(
            "Slipped actions",
            "Due date moved later, from the Change log and this cycle's Changes.",
            ["Action", "Service", "What", "Times moved", "First due", "Current due", "Last moved"],
            rows,
            [1.2, 1.8, 5.5, 1.2, 1.5, 1.5, 1.8],
            None,
            more,
            "the Progress sheet of the master",
        )
    )
    stuck = stuck_actions(plan, history, as_of, stuck_days)
    rows, more = _cut(
        [[s.action, s.service, _what(by_id.get(s.action_id), layout), s.due, s.rating, s.why] for s in stuck],
        max_rows,
    )
    exceptions.append(
        Table(
            "Stuck actions",
            f"The same not-complete rating for two cycles or more, or "
            f"overdue by more than {stuck_days} days.",
            ["Action", "Service", "What", "Due", "Rating", "Why stuck"],
            rows,
            [1.2, 1.8, 5.5, 1.6, 1.3, 2.6],
            4,
            more,
            "the Progress sheet of the master",
        )
    )
    refused = [
        [m.service, m.file, m.saved_at, m.merged_at, "the whole return was refused"]
        for m in merged
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
        for r in plan.cycle_issues
        if display(r.get("Status")) == "open" and display(r.get("Severity")) == "error"
    ]
    rows, more = _cut(refused, max_rows)
    exceptions.append(
        Table(
            "Refused returns and cells",
            "Not applied to the master: the service must correct and return again.",
            ["Service", "File", "Saved", "Merged", "Why"],
            rows,
            [1.8, 2.5, 1.5, 1.5, 7],
            None,
            more,
            "the Issues sheet of the master",
        )
    )
    missing = [
        [s, ", ".join(sorted({m.file for m in merged if m.service == s})) or "nothing received"]
        for s in services
        if s not in returned
    ]
    rows, more = _cut(missing, max_rows)
    exceptions.append(
        Table(
            "Missing returns",
            f"Services with no applied return for cycle "
            f"{cycle or '(none)'}" + (f", due {plan.meta.due:%d/%m/%Y}." if plan.meta.due else "."),
            ["Service", "Received"],
            rows,
            [3, 9],
            None,
            more,
            "the Summary sheet of the master",
        )
    )

    entries = plan.log.of_cycle(cycle) + list(plan.cycle_changes)
    entries.sort(key=lambda e: e.merged_at)
    rows, more = _cut(
        [[e.action, e.column, e.old, e.new, e.service, e.merged_at, e.kind] for e in entries], max_rows * 4
    )
    changes = Table(
        f"Changes this cycle ({cycle or 'none'})",
        "Every cell changed by a return, and every central edit found, old value and new.",
        ["Action", "Column", "Old value", "New value", "Who", "When", "Kind"],
        rows,
        [1.2, 2.2, 4, 4, 1.8, 1.8, 1.8],
        None,
        more,
        "the Changes and Change log sheets",
    )

    facts = [
        ("Plan", plan.meta.title),
        ("Cycle", cycle or "(none issued)"),
        ("Figures as of", f"{as_of:%d/%m/%Y}"),
        ("Actions", f"{total.actions} across {len(services)} services"),
        ("Complete", f"{total.complete_pct:.0%} ({total.complete} of {total.actions})"),
        ("Overdue", str(total.overdue)),
        ("Returns merged", f"{len(returned & set(services))} of {len(services)} services"),
        ("Cycles recorded", ", ".join(r.cycle for r in history.cycles) or "none yet"),
    ]
    return Pack(
        plan.meta.title,
        cycle,
        as_of,
        made_at or now(),
        [(r.value, r.fill, r.font) for r in layout.ratings],
        facts,
        summary,
        figures,
        history,
        progress,
        exceptions,
        changes,
        layout.normalise_rating,
    )


def _rated(action, layout) -> str:
    """The scale value of an action's rating, by any of its names (as the Summary counts it)."""
    written = display(action.get(layout.service_rating))
    return layout.normalise_rating(written) or written


def _what(action, layout) -> CellValue:
    if action is None or not layout.action_field:
        return ""
    return action.get(layout.action_field)
