"""The rules a return is judged by: one function per rule, each with its problem code.

`check_return` turns a read return into the edits that may be applied and the problems
found; validate prints them, merge applies the edits, the Issues sheet lists the problems.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from .dates import parse_uk_date
from .excel import ERROR_VALUES, FORMULA_LEADERS, ILLEGAL_XML_CHARS, MAX_CELL_CHARS, CellValue, display
from .identity import AT_ID, EDITED, FOUND, MOVED, identify_rows, likely_service, looks_sorted
from .layout import Column, Layout
from .plan import Plan, normal_ref, parent_refs
from .problems import Problem, Severity, plural, short
from .progress import overdue_since
from .record import IssuedRow, cell_digest, locked_digest, normal_text
from .returns import ReturnRow, ServiceReturn


@dataclass
class Edit:
    """A service's change to one of its own cells, checked and ready to apply."""

    action_id: str
    field: str
    old: CellValue  # as issued
    new: CellValue
    cell: str | None
    # Judged against the master's record: has the master's cell changed since issue too?
    # None for a return judged without the record (its `old` is then the base).
    master_changed: bool | None = None
    action: str | None = None  # the reference as issued, for messages (never the hidden ID)


@dataclass
class CheckedReturn:
    ret: ServiceReturn
    edits: list[Edit] = field(default_factory=list)
    proposals: list[ReturnRow] = field(default_factory=list)
    refused: bool = False  # the whole file is refused (unreadable, another plan, …)

    @property
    def problems(self) -> list[Problem]:
        return self.ret.problems

    @property
    def status(self) -> str:
        if self.ret.unreadable:
            return "unreadable"
        if self.refused:
            return "refused"
        if any(p.is_error for p in self.problems):
            return "errors"
        if any(p.severity == Severity.WARNING for p in self.problems):
            return "warnings"
        return "ok"


def same(a: CellValue, b: CellValue) -> bool:
    """Equal as a person reads them: line endings and surrounding spaces do not count."""
    if a == b:
        return True
    if isinstance(a, str):
        a = a.replace("\r\n", "\n").strip() or None
    if isinstance(b, str):
        b = b.replace("\r\n", "\n").strip() or None
    return a == b


@dataclass
class PlanIndex:
    """What every return is checked against, computed once per plan rather than per return."""

    services: set[str]
    ratings: dict[str, str]  # normalised reference -> the service rating in the master
    descendants: dict[str, list[str]]  # normalised reference -> references below it
    baseline: dict[str, dict[str, CellValue]]  # ID -> the master's values
    # service -> {ID -> what the master recorded issuing to it}
    issued: dict[str, dict[str, IssuedRow]] = field(default_factory=dict)
    # ID -> the master's due date (as a date, where it names a day) and service rating: what
    # overdue is judged on. Made here, before the workers fork, as new small objects: a worker
    # reading the master's own cells would copy the memory pages around them.
    progress: dict[str, dict[str, CellValue]] = field(default_factory=dict)
    routes: dict[str, list[str]] = field(default_factory=dict)  # ID -> its services, per the master
    issued_to: dict[str, int] = field(default_factory=dict)  # service -> how many actions it has

    @classmethod
    def of(cls, plan: Plan) -> PlanIndex:
        layout = plan.layout
        routes, _ = plan.routes()
        ratings: dict[str, str] = {}
        descendants: dict[str, list[str]] = {}
        progress: dict[str, dict[str, CellValue]] = {}
        for action in plan.actions:
            settled: dict[str, CellValue] = {}
            if layout.due_field:
                due = parse_uk_date(action.get(layout.due_field))
                settled[layout.due_field] = None if due is None else dt.date(due.year, due.month, due.day)
            if layout.service_rating:
                settled[layout.service_rating] = sys.intern(display(action.get(layout.service_rating)))
            progress[action.id] = settled
            ref = normal_ref(display(action.get(layout.reference)))
            if not ref:
                continue
            if layout.service_rating:
                ratings[ref] = display(action.get(layout.service_rating))
            for parent in parent_refs(ref):
                descendants.setdefault(parent, []).append(ref)
        issued: dict[str, dict[str, IssuedRow]] = {}
        for row in plan.record.rows.values():
            issued.setdefault(row.service, {})[row.action_id] = row
        issued_to: dict[str, int] = {}
        for services in routes.values():
            for service in services:
                issued_to[service] = issued_to.get(service, 0) + 1
        return cls(
            services=set(issued_to),
            ratings=ratings,
            descendants=descendants,
            baseline={a.id: a.values for a in plan.actions},
            issued=issued,
            progress=progress,
            routes=routes,
            issued_to=issued_to,
        )


def check_return(
    ret: ServiceReturn,
    plan: Plan | None = None,
    *,
    as_of: dt.date | None = None,
    cycle: str | None = None,
    index: PlanIndex | None = None,
    accept_cycle: str | None = None,
) -> CheckedReturn:
    checked = CheckedReturn(ret)
    if plan is not None and index is None:
        index = PlanIndex.of(plan)
    if ret.unreadable or ret.layout is None:
        checked.refused = True
        return checked
    if not check_identity(ret, plan, cycle, index, accept_cycle):
        checked.refused = True
        return checked
    layout = ret.layout
    if not check_size(ret, index):
        checked.refused = True
        return checked
    issued = index.issued.get(ret.service or "") if index is not None else None
    if issued and ret.meta is not None and ret.meta.cycle != issued_cycle(index, ret.service):
        issued = None  # an earlier cycle's return, accepted: judged by its own issued copy
    if issued:
        rows = match_rows(ret, layout, issued, index.baseline, index.routes)
        if rows is None:
            checked.refused = True
            return checked
        baseline = index.baseline
        checked.edits.extend(edits_against_record(ret, layout, rows, issued, baseline))
    else:
        baseline = ret.issued if ret.issued is not None else (index.baseline if index else {})
        expected = list(ret.issued) if ret.issued is not None else None
        rows = check_rows(ret, expected, baseline, index)
        for row in rows:
            for column in layout.columns:
                if column.field not in ret.positions:
                    continue
                edit = check_cell(ret, row, column, baseline[row.action_id].get(column.field))
                if edit is not None:
                    checked.edits.append(edit)
    for proposal in ret.proposals:
        if refuse_update_in_spare_row(ret, proposal):
            continue
        for column in layout.columns:
            if column.field in ret.positions and proposal.values.get(column.field) is not None:
                value = check_value(ret, proposal, column, proposal.values[column.field])
                proposal.values[column.field] = value if value is not _REFUSED else None
        ref = display(proposal.values.get(layout.reference)) or "(no reference)"
        ret.problem(
            "proposed-action",
            f"a new action {ref} is proposed in spare row "
            f"{proposal.row + 1}; merge adds it to the plan, flagged as proposed.",
            sheet=ret.sheet,
            cell=ret.cell(proposal.row, layout.reference),
            action=ref,
        )
        checked.proposals.append(proposal)
    final = {row.action_id: dict(baseline.get(row.action_id, {})) for row in rows}
    # Overdue is judged as the Summary judges it: on the master as this merge leaves it (its
    # due dates now, which the central team may have moved since issue, with this return's
    # edits applied); without the master, on the values as issued.
    judged = [f for f in (layout.due_field, layout.service_rating) if f]
    after_merge: dict[str, dict[str, CellValue]] = {}
    for row in rows:
        settled = index.progress.get(row.action_id) if index else None
        after_merge[row.action_id] = (
            dict(settled)
            if settled is not None
            else {f: baseline.get(row.action_id, {}).get(f) for f in judged}
        )
    due_edited: set[str] = set()
    for edit in checked.edits:
        final[edit.action_id][edit.field] = edit.new
        if edit.field in judged:
            after_merge[edit.action_id][edit.field] = edit.new
        if edit.field == layout.due_field:
            due_edited.add(edit.action_id)

    def due_as_written(action_id: str) -> CellValue:
        """The due cell as a person wrote it, for the problem's value."""
        master = index.baseline.get(action_id) if index and action_id not in due_edited else None
        return (master if master is not None else final[action_id]).get(layout.due_field or "")

    check_business_rules(
        ret,
        layout,
        rows,
        final,
        index,
        as_of or dt.date.today(),
        after_merge=after_merge,
        due_as_written=due_as_written,
    )
    check_required(ret, rows, final, checked.proposals)
    return checked


def issued_cycle(index: PlanIndex | None, service: str | None) -> str | None:
    rows = index.issued.get(service or "") if index is not None else None
    return next(iter(rows.values())).cycle if rows else None


def refuse_update_in_spare_row(ret: ServiceReturn, row: ReturnRow) -> bool:
    """A spare row with progress, evidence or a rating but no action (no reference, nothing in
    the columns that describe an action) is an update typed in the wrong place: adding it
    would put a blank action in the plan and count it in the Summary. True: refused."""
    layout = ret.layout
    assert layout is not None
    # What an update holds: ratings, dates, progress and evidence, who the service or owner
    # is. Anything else (a reference, a requirement, the action itself) names an action.
    update_only = {layout.route, *layout.evidence_fields}
    update_only.update(
        c.field
        for c in layout.columns
        if c.type in ("rating", "date") or (c.owner == "service" and c.type == "text")
    )
    update_only.discard(layout.reference)
    if any(display(row.values.get(c.field)).strip() for c in layout.columns if c.field not in update_only):
        return False
    filled = [c.header for c in layout.columns if display(row.values.get(c.field)).strip()]
    ret.problem(
        "update-in-spare-row",
        f"spare row {row.row + 1} holds "
        + ", ".join(repr(short(h, 40)) for h in filled)
        + " but no reference and no action, "
        "so it cannot be added to the plan and was not applied. If it is an update to an "
        "existing action, type it on that action's own row; if it is a new action, fill in "
        f"its {layout.column(layout.reference).header!r} and describe the action.",
        sheet=ret.sheet,
        cell=ret.cell(row.row, layout.reference),
    )
    return True


def check_identity(
    ret: ServiceReturn,
    plan: Plan | None,
    cycle: str | None,
    index: PlanIndex | None,
    accept_cycle: str | None = None,
) -> bool:
    """Is this a return of this plan, from a service it knows? False refuses the whole file."""
    meta = ret.meta
    if meta is None and index is not None and index.issued and ret.layout is not None:
        # Pasted into a new workbook: the rows' locked cells say whose they are.
        every = {a: r for rows in index.issued.values() for a, r in rows.items()}
        owner = likely_service(ret.layout, [r.values for r in ret.rows], every)
        if owner is not None:
            ret.service_override = owner
    if plan is not None and meta is not None and meta.plan_id != plan.plan_id:
        ret.problem(
            "other-plan",
            f"this return belongs to plan {meta.title!r} (ID {meta.plan_id}), "
            f"not {plan.meta.title!r} (ID {plan.plan_id}). It was not read further.",
        )
        return False
    current = issued_cycle(index, ret.service)
    if meta is not None and current and meta.cycle != current:
        # The master knows which cycle it issued to this service: an old template filled in
        # now would put last quarter's figures in this quarter's master.
        if accept_cycle is None or accept_cycle != meta.cycle:
            ret.problem(
                "stale-return",
                f"this return was issued for cycle {meta.cycle!r}, but the "
                f"master issued cycle {current!r} to {ret.service}: an old template was filled "
                "in. It was not merged. Ask the service to fill in the current template "
                f"(or, if these figures are meant, merge with --accept-cycle {meta.cycle}).",
            )
            return False
        cycle = cycle or current
    if cycle and meta is not None and meta.cycle != cycle:
        ret.problem(
            "other-cycle",
            f"issued for cycle {meta.cycle!r}, not {cycle!r}: an old "
            "template may have been filled in. Check the figures are current.",
        )
    if index is not None and ret.service is not None and ret.service not in index.services:
        ret.problem(
            "unknown-service",
            f"the plan has no actions for service {ret.service!r} "
            "(renamed or removed from the master since issue). It was not merged.",
        )
        return False
    if ret.service is None and plan is not None:
        ret.problem(
            "unknown-service",
            "no row of this workbook matches an action of the plan, so "
            "the service cannot be told. It was not merged.",
        )
        return False
    return True


# A return may hold this many rows beyond twice what it was issued (people add a few rows,
# paste a section twice); far more is junk, refused with one message rather than one per row.
ROW_SLACK = 200
MAX_ISSUED_ROWS = 100_000  # without the master: a hidden sheet of issued values longer is junk


def check_size(ret: ServiceReturn, index: PlanIndex | None) -> bool:
    """Refuse, with one message, a return holding far more rows than its service was issued."""
    if index is not None:
        issued: int | None = index.issued_to.get(ret.service or "", 0)
    else:
        issued = len(ret.issued) if ret.issued is not None else None
    limit = 2 * issued + ROW_SLACK if issued is not None else MAX_ISSUED_ROWS
    held = len(ret.rows) + len(ret.proposals)
    if held > limit:
        than = f"the {issued:,} issued to {ret.service}" if issued is not None else "a return can"
        ret.problem(
            "too-many-rows",
            f"the sheet holds {held:,} rows of actions, far more than "
            f"{than}: nothing in it was applied. Delete the rows that are not the "
            "service's actions (or ask for the workbook as it was sent) and send it again.",
            sheet=ret.sheet,
        )
        return False
    if index is not None and ret.issued is not None and len(ret.issued) > limit:
        ret.problem(
            "too-many-rows",
            f"its hidden sheet of values as issued lists {len(ret.issued):,} "
            f"actions, far more than the {issued:,} issued to {ret.service}: the file was "
            "altered. Nothing in it was applied; ask the service for the workbook as it "
            "was sent.",
        )
        return False
    return True


def check_rows(
    ret: ServiceReturn,
    expected: list[str] | None,
    baseline: dict[str, dict[str, CellValue]],
    index: PlanIndex | None = None,
) -> list[ReturnRow]:
    """The rows that can be matched to issued actions; deleted, doubled and added rows reported,
    and (with the master) rows of actions the master routes to another service."""
    layout = ret.layout
    assert layout is not None
    routes = index.routes if index is not None else {}
    seen: dict[str, ReturnRow] = {}
    doubled: set[str] = set()
    for row in ret.rows:
        ref = display(row.values.get(layout.reference)) or None
        if row.action_id in seen:
            doubled.add(row.action_id)
            ret.problem(
                "row-duplicated",
                f"rows {seen[row.action_id].row + 1} and {row.row + 1} are "
                "the same issued action; neither is applied. Delete the copy.",
                sheet=ret.sheet,
                action=ref,
                cell=ret.cell(row.row, layout.reference),
            )
        elif row.action_id not in baseline or (expected is not None and row.action_id not in expected):
            ret.problem(
                "row-added",
                f"row {row.row + 1} was not issued"
                + (" (its ID is not one this file was issued with)" if row.action_id else "")
                + "; it is not applied. Put new actions in the green spare rows.",
                sheet=ret.sheet,
                action=ref,
                cell=ret.cell(row.row, layout.reference),
            )
        elif (
            routes
            and ret.service not in routes.get(row.action_id, [ret.service])
            and not has_joint_part(index, layout, row.action_id, ret.service)
        ):
            owners = " and ".join(routes[row.action_id])
            ret.problem(
                "other-service-row",
                f"row {row.row + 1} is action {ref or row.action_id}, "
                f"which the master routes to {owners}, not {ret.service}: it is not applied.",
                sheet=ret.sheet,
                action=ref,
                cell=ret.cell(row.row, layout.reference),
            )
            doubled.add(row.action_id)  # neither applied nor reported deleted
        else:
            seen[row.action_id] = row
    if expected is not None:
        for action_id in expected:
            if action_id not in seen and action_id not in doubled:
                ref = display(baseline.get(action_id, {}).get(layout.reference)) or action_id
                ret.problem(
                    "row-deleted",
                    f"action {ref} was issued but is not in the return "
                    "(row deleted). The master keeps it unchanged; restore the row.",
                    sheet=ret.sheet,
                    action=ref,
                )
    return [row for action_id, row in seen.items() if action_id not in doubled]


def match_rows(
    ret: ServiceReturn,
    layout: Layout,
    issued: dict[str, IssuedRow],
    current: dict[str, dict[str, CellValue]],
    routes: dict[str, list[str]] | None = None,
) -> list[ReturnRow] | None:
    """The returned rows, each set to the issued action its locked cells show it is; rows that
    match none are refused, copies counted once. None refuses the whole file (sorted)."""
    # Without metadata the IDs are guesses by reference, not hidden IDs: content decides.
    pasted = ret.meta is None
    matches = identify_rows(
        layout,
        [("" if pasted else r.action_id, r.values) for r in ret.rows],
        issued,
        current,
        hints=[r.action_id for r in ret.rows] if pasted else None,
    )
    if looks_sorted(matches):
        moved = sum(1 for m in matches if m.how != AT_ID)
        ret.problem(
            "rows-sorted",
            f"{moved} of {len(matches)} rows no longer match the action their "
            "hidden xlplan ID was issued for: the sheet was sorted (or rows moved) without "
            "its hidden ID column, as Excel does with 'Continue with the current selection'. "
            "Nothing from this file was applied. Undo the sort, or sort by "
            f"{layout.column(layout.reference).header!r} choosing 'Expand the selection', "
            "or fill in a fresh template.",
            sheet=ret.sheet,
        )
        return None
    by_action: dict[str, list[ReturnRow]] = {}
    refound: list[str] = []
    for row, match in zip(ret.rows, matches, strict=True):
        ref = display(row.values.get(layout.reference)) or None
        where = {"sheet": ret.sheet, "action": ref, "cell": ret.cell(row.row, layout.reference)}
        if match.action_id is None:
            owners = (routes or {}).get(match.claimed)
            if owners and ret.service not in owners:
                ret.problem(
                    "other-service-row",
                    f"row {row.row + 1} is action {ref or match.claimed}, "
                    f"which the master routes to {' and '.join(owners)}, not {ret.service}: "
                    "it is not applied.",
                    **where,
                )
            elif match.claimed in issued:
                ret.problem(
                    "row-unidentified",
                    f"row {row.row + 1} matches no action issued to "
                    f"{ret.service}: its grey (read-only) cells are not those issued with "
                    "its hidden ID, nor those of any other action. Its cells were not "
                    "applied; type the update on the action's own row.",
                    **where,
                )
            else:
                ret.problem(
                    "row-added",
                    f"row {row.row + 1} was not issued"
                    + (" (its ID is not one this file was issued with)" if match.claimed else "")
                    + "; it is not applied. Put new actions in the green spare rows.",
                    **where,
                )
            continue
        if match.how in (MOVED, FOUND) and not pasted:
            refound.append(str(row.row + 1))
        row.action_id = match.action_id
        row.locked_intact = match.how != EDITED  # matched by its locked cells, as issued
        by_action.setdefault(match.action_id, []).append(row)
    if refound:
        ret.problem(
            "row-moved",
            f"{len(refound)} row(s) ({', '.join(refound[:8])}"
            f"{', …' if len(refound) > 8 else ''}) had lost their hidden xlplan ID or carried "
            "another action's; each was matched to its action by its grey (read-only) cells, "
            "exactly as issued.",
            sheet=ret.sheet,
        )
    rows: list[ReturnRow] = []
    for action_id, copies in by_action.items():
        first = copies[0]
        if len(copies) == 1:
            rows.append(first)
            continue
        differ = [f for f in layout.service_fields if len({normal_text(c.values.get(f)) for c in copies}) > 1]
        ref = display(first.values.get(layout.reference)) or action_id
        numbers = " and ".join(str(c.row + 1) for c in copies)
        copy_cell = ret.cell(copies[-1].row, layout.reference)
        if not differ:
            if len(copies) > 1:
                ret.problem(
                    "row-duplicated",
                    f"rows {numbers} are the same action with the same "
                    "entries; it was counted once. Delete the copy.",
                    sheet=ret.sheet,
                    action=ref,
                    cell=copy_cell,
                    severity="warning",
                )
            rows.append(first)
            continue
        shown = "; ".join(
            f"{layout.column(f).header!r}: "
            + " vs ".join(repr(short(display(c.values.get(f)), 60)) for c in copies)
            for f in differ[:3]
        )
        ret.problem(
            "row-duplicated",
            f"rows {numbers} are the same action with different entries "
            f"({shown}); neither was applied. Keep one row and send the file again.",
            sheet=ret.sheet,
            action=ref,
            cell=copy_cell,
        )
    for action_id in issued:
        if action_id not in by_action and action_id in current:
            ref = display(current[action_id].get(layout.reference)) or action_id
            ret.problem(
                "row-deleted",
                f"action {ref} was issued but is not in the return "
                "(row deleted). The master keeps it unchanged; restore the row.",
                sheet=ret.sheet,
                action=ref,
            )
    return rows


def edits_against_record(
    ret: ServiceReturn,
    layout: Layout,
    rows: list[ReturnRow],
    issued: dict[str, IssuedRow],
    current: dict[str, dict[str, CellValue]],
) -> list[Edit]:
    """Three-way by digests: a service cell differs from what was issued -> the service changed
    it; the master's cell differs too -> both did. The return's hidden copy of the issued values
    is used only where it agrees with the record (it says which locked cell was edited)."""
    copy = IssuedCopy(ret, layout, issued)
    edits: list[Edit] = []
    for row in rows:
        record = issued[row.action_id]
        master = current.get(row.action_id, {})
        locked_intact = (
            row.locked_intact
            if row.locked_intact is not None
            else locked_digest(layout, row.values) == record.locked
        )
        for column in layout.columns:
            name = column.field
            if name not in ret.positions:
                continue
            value = row.values.get(name)
            master_changed: bool | None = None
            if column.owner == "service" and name in record.cells:
                # Most cells hold what the master holds: nothing to apply, whatever was issued.
                changed = not same(value, master.get(name)) and cell_digest(value) != record.cells[name]
                master_changed = changed and cell_digest(master.get(name)) != record.cells[name]
                old = master.get(name) if changed and not master_changed else None
                if changed and master_changed:
                    old = (copy.row(row.action_id) or {}).get(name)
            else:
                old = master.get(name)
                changed = False
                if not locked_intact:
                    old = (copy.row(row.action_id) or master).get(name)
                    changed = normal_text(value) != normal_text(old)
            edit = check_cell(ret, row, column, old, changed=changed)
            if edit is not None:
                edit.master_changed = master_changed
                edits.append(edit)
    copy.report()
    return edits


class IssuedCopy:
    """The return's hidden copy of the issued values, trusted row by row only where it agrees
    with the master's record, and only looked at where a row needs it."""

    def __init__(self, ret: ServiceReturn, layout: Layout, issued: dict[str, IssuedRow]) -> None:
        self.ret, self.layout, self.issued = ret, layout, issued
        self.tampered: list[str] = []

    def row(self, action_id: str) -> dict[str, CellValue] | None:
        values = (self.ret.issued or {}).get(action_id)
        record = self.issued.get(action_id)
        if values is None or record is None:
            return None
        if record.locked == locked_digest(self.layout, values) and all(
            cell_digest(values.get(f)) == d for f, d in record.cells.items()
        ):
            return values
        self.tampered.append(display(values.get(self.layout.reference)) or action_id)
        return None

    def report(self) -> None:
        found = list(dict.fromkeys(self.tampered))
        if found:
            self.ret.problem(
                "issued-values-changed",
                f"the hidden copy of the values as issued was edited for "
                f"{len(found)} action(s) ({', '.join(found[:5])}{', …' if len(found) > 5 else ''}); "
                "the master's own record of what it issued was used instead, so nothing the copy "
                "says was trusted.",
                sheet=self.ret.sheet,
            )


def has_joint_part(index: PlanIndex | None, layout: Layout, action_id: str, service: str | None) -> bool:
    """Is there a row of this action that is `service`'s? A template issued before its joint
    action was split carries the joint row's ID for every service; merge applies the edit to
    the service's own row (Plan.part_for)."""
    if index is None or service is None or action_id not in index.baseline:
        return False
    ref = normal_ref(display(index.baseline[action_id].get(layout.reference)))
    return bool(ref) and any(
        service in index.routes.get(other, []) and normal_ref(display(values.get(layout.reference))) == ref
        for other, values in index.baseline.items()
    )


_REFUSED = object()


def check_cell(
    ret: ServiceReturn, row: ReturnRow, column: Column, issued: CellValue, changed: bool | None = None
) -> Edit | None:
    """The edit a returned cell makes, if any and if allowed. `changed` says whether the cell
    differs from what was issued when the record knows better than `issued` (which then only
    shows in messages); None compares with `issued`."""
    layout = ret.layout
    assert layout is not None
    value = row.values.get(column.field)
    special = ret.special_cells.get((row.row, ret.positions[column.field])) if ret.special_cells else None
    unchanged = same(value, issued) if changed is None else not changed
    if special is None and unchanged:
        return None  # most cells: nothing to say, so nothing to build
    cell = ret.cell(row.row, column.field)
    ref = display(row.values.get(layout.reference)) or display(issued) or row.action_id
    where = {"sheet": ret.sheet, "cell": cell, "action": ref, "column": column.header}
    if special and special[0] == "error":
        ret.problem(
            "error-value",
            f"the cell shows the error {special[1]} instead of content "
            "(a broken formula or reference). Type the text itself; the cell was not applied.",
            value=special[1],
            **where,
        )
        return None
    if special and special[0] == "formula" and unchanged:
        # A formula whose shown value is what was issued (or that was never calculated):
        # nothing changes, but the formula should not stay in a plan people sign off.
        ret.problem(
            "formula",
            f"the cell holds the formula {short(special[1], 80)}; it was not "
            "applied (its value is unchanged). Type the text itself.",
            value=special[1],
            **where,
        )
        return None
    if unchanged:
        return None
    if column.owner != "service":
        ret.problem(
            "locked-cell-changed",
            f"this {column.owner} column is read-only for services: "
            f"it was {short(display(issued)) or '(empty)'!r} when issued and is now "
            f"{short(display(value)) or '(empty)'!r}. The change was refused; ask the central "
            "team to change it in the master.",
            value=short(display(value), 200),
            **where,
        )
        return None
    if special and special[0] == "formula":
        ret.problem(
            "formula",
            f"the cell holds the formula {short(special[1], 80)}; its shown value "
            f"{short(display(value))!r} is kept as text.",
            value=special[1],
            **where,
        )
    new = check_value(ret, row, column, value)
    if new is _REFUSED:
        return None
    return Edit(row.action_id, column.field, issued, new, cell, action=ref)


def check_value(ret: ServiceReturn, row: ReturnRow, column: Column, value: CellValue):
    """The value to store for what a person typed, or _REFUSED (with the problem recorded)."""
    layout = ret.layout
    assert layout is not None
    cell = ret.cell(row.row, column.field)
    ref = display(row.values.get(layout.reference)) or None
    where = {"sheet": ret.sheet, "cell": cell, "action": ref, "column": column.header}
    if not isinstance(value, str):
        if column.type == "rating" and value is not None:
            ret.problem(
                "invalid-rating",
                f"{display(value)!r} is not a rating; pick one of "
                f"{', '.join(layout.rating_values)}. Not applied.",
                value=display(value),
                **where,
            )
            return _REFUSED
        return value
    if value.strip() in ERROR_VALUES:
        ret.problem(
            "error-value",
            f"the cell holds the error {value.strip()} instead of content. "
            "Type the text itself; not applied.",
            value=value,
            **where,
        )
        return _REFUSED
    if len(value) > MAX_CELL_CHARS:
        ret.problem(
            "too-long",
            f"{len(value):,} characters, over Excel's {MAX_CELL_CHARS:,}-character "
            "cell limit. Shorten it or point to a document; not applied.",
            **where,
        )
        return _REFUSED
    if ILLEGAL_XML_CHARS.search(value):
        value = ILLEGAL_XML_CHARS.sub("", value)
        ret.problem(
            "control-chars",
            "invisible control characters (pasted from another program) "
            "were removed; the rest of the text is kept.",
            **where,
        )
    if column.type == "rating":
        normal = layout.normalise_rating(value)
        if normal is None:
            ret.problem(
                "invalid-rating",
                f"{short(value)!r} is not on the scale; pick one of "
                f"{', '.join(layout.rating_values)} from the dropdown. Not applied.",
                value=short(value, 200),
                **where,
            )
            return _REFUSED
        if normal != value:
            ret.problem("rating-normalised", f"{value!r} read as {normal!r}.", value=value, **where)
        return normal
    if column.type == "choice" and value.strip() not in column.choices:
        ret.problem(
            "invalid-choice",
            f"{short(value)!r} is not one of {', '.join(column.choices)}. Not applied.",
            value=short(value, 200),
            **where,
        )
        return _REFUSED
    if column.type == "date" and value.strip() and parse_uk_date(value) is None:
        ret.problem(
            "not-a-date",
            f"{short(value)!r} names no single day, so lateness cannot be "
            "checked; kept as written. A date such as 31/03/2025 can be checked.",
            value=short(value, 200),
            **where,
        )
    if value.lstrip().startswith(FORMULA_LEADERS):
        ret.problem(
            "formula-like-text",
            f"{short(value, 40)!r} starts like a formula; it is kept as text and will never be calculated.",
            value=short(value, 200),
            **where,
        )
    return value


def check_business_rules(
    ret: ServiceReturn,
    layout: Layout,
    rows: list[ReturnRow],
    final: dict[str, dict[str, CellValue]],
    index: PlanIndex | None,
    as_of: dt.date,
    *,
    after_merge: dict[str, dict[str, CellValue]] | None = None,
    due_as_written: Callable[[str], CellValue] | None = None,
) -> None:
    rating_field = layout.service_rating
    if rating_field is None:
        return
    complete = layout.complete_ratings
    rating_header = layout.column(rating_field).header
    # The return's own rows overlay the master's ratings; their sub-actions may be in either.
    local_ratings: dict[str, str] = {}
    local_descendants: dict[str, list[str]] = {}
    for row in rows:
        ref = normal_ref(display(final[row.action_id].get(layout.reference)))
        if ref:
            local_ratings[ref] = display(final[row.action_id].get(rating_field))
            for parent in parent_refs(ref):
                local_descendants.setdefault(parent, []).append(ref)

    def rating_of(ref: str) -> str:
        if ref in local_ratings:
            return local_ratings[ref]
        return index.ratings.get(ref, "") if index else ""

    for row in rows:
        values = final[row.action_id]
        ref = display(values.get(layout.reference)) or row.action_id
        rating = display(values.get(rating_field))
        where = {"sheet": ret.sheet, "action": ref}
        if (
            rating in complete
            and layout.evidence_fields
            and not any(display(values.get(f)).strip() for f in layout.evidence_fields)
        ):
            ret.problem(
                "complete-without-evidence",
                f"rated {rating} (complete) but "
                + " and ".join(repr(layout.column(f).header) for f in layout.evidence_fields)
                + " is empty. Say what the evidence is and where it is kept.",
                cell=ret.cell(row.row, layout.evidence_fields[0]),
                column=layout.column(layout.evidence_fields[0]).header,
                value=rating,
                **where,
            )
        judged = after_merge[row.action_id] if after_merge else values
        due = overdue_since(judged, layout, as_of)
        if due is not None and layout.due_field is not None:
            shown = display(judged.get(rating_field))
            ret.problem(
                "overdue",
                f"due {due:%d/%m/%Y}, which has passed (as of {as_of:%d/%m/%Y}), "
                f"and {_rated(shown)}: not complete. Update the rating, the "
                "date or the comments.",
                cell=ret.cell(row.row, layout.due_field),
                column=layout.column(layout.due_field).header,
                value=display(
                    due_as_written(row.action_id) if due_as_written else judged.get(layout.due_field)
                ),
                **where,
            )
        if rating in complete:
            own = normal_ref(display(values.get(layout.reference)))
            below = local_descendants.get(own, []) + (index.descendants.get(own, []) if index else [])
            for child_ref in below:
                child_rating = rating_of(child_ref)
                if child_rating not in complete:
                    ret.problem(
                        "parent-complete-child-open",
                        f"rated {rating} (complete) while "
                        f"its sub-action {child_ref} is {_rated(child_rating)}.",
                        cell=ret.cell(row.row, rating_field),
                        column=rating_header,
                        value=rating,
                        **where,
                    )
                    break


def _rated(rating: str) -> str:
    """'rated Amber', or 'not rated' (never 'rated nothing')."""
    return f"rated {rating}" if rating else "not rated"


# --- the master itself, after a merge ---------------------------------------------------------


def check_master(plan: Plan) -> list[Problem]:
    """What the master holds that the committee cannot trust as read, listed every merge until
    put right: ratings off the scale, required cells left empty."""
    return unmapped_ratings(plan) + required_missing_in_master(plan)


def _listing(refs: list[str], limit: int = 12) -> str:
    more = f" and {len(refs) - limit} more" if len(refs) > limit else ""
    return ", ".join(refs[:limit]) + more


def unmapped_ratings(plan: Plan) -> list[Problem]:
    """Ratings kept as written (at import, or typed in the master) that are not on the scale:
    the Summary counts them as not rated, so say so until they are changed or mapped."""
    layout = plan.layout
    found: dict[tuple[str, str], list[str]] = {}
    for action in plan.actions:
        for column in layout.columns:
            if column.type != "rating":
                continue
            value = display(action.get(column.field)).strip()
            if value and layout.normalise_rating(value) is None:
                found.setdefault((column.header, value), []).append(_named(plan, action))
    problems: list[Problem] = []
    scale = ", ".join(layout.rating_values)
    for (header, value), refs in found.items():
        problems.append(
            Problem(
                "unmapped-rating",
                f"{value!r} is not on the scale ({scale}), so the Summary counts "
                f"{plural(len(refs), 'action')} as not rated: {_listing(refs)}. Change these cells "
                f"to a rating of the scale, or map the word: on the Key sheet, add {value} to "
                "'Also read as' of the rating it means (for example Blue), then merge again.",
                column=header,
                value=value,
                action=refs[0] if len(refs) == 1 else None,
            )
        )
    return problems


def _named(plan: Plan, action) -> str:
    """An action as people find it: its reference, or its row when it has none."""
    if display(action.get(plan.layout.reference)).strip() or action.row is None:
        return plan.ref(action)
    return f"row {action.row + 1}"


def required_missing_in_master(plan: Plan) -> list[Problem]:
    """Columns the layout marks `required` that are empty in the master, one line per column."""
    layout = plan.layout
    problems: list[Problem] = []
    for column in layout.columns:
        if not column.required:
            continue
        empty = [_named(plan, a) for a in plan.actions if not display(a.get(column.field)).strip()]
        if empty:
            problems.append(
                Problem(
                    "required-missing",
                    f"{column.header!r} must be filled in and is empty for "
                    f"{plural(len(empty), 'action')}: {_listing(empty)}. Fill it in on the plan sheet.",
                    sheet=layout.sheet,
                    column=column.header,
                )
            )
    return problems


def check_required(
    ret: ServiceReturn,
    rows: list[ReturnRow],
    final: dict[str, dict[str, CellValue]],
    proposals: list[ReturnRow],
) -> None:
    """Required columns a return left empty: the service's own on its rows, any on a proposal."""
    layout = ret.layout
    assert layout is not None
    required = [c for c in layout.columns if c.required and c.field in ret.positions]
    for column in required:
        mine = [(row, final[row.action_id]) for row in rows] if column.owner == "service" else []
        for row, values in mine + [(p, p.values) for p in proposals]:
            if not display(values.get(column.field)).strip():
                ref = display(values.get(layout.reference)) or None
                ret.problem(
                    "required-missing",
                    f"{column.header!r} must be filled in.",
                    sheet=ret.sheet,
                    cell=ret.cell(row.row, column.field),
                    action=ref,
                    column=column.header,
                )
