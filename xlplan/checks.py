"""The rules a return is judged by: one function per rule, each with its problem code.

`check_return` turns a read return into the edits that may be applied and the problems
found; validate prints them, merge applies the edits, the Issues sheet lists the problems.
Here: whose return it is (identity, cycle, service) and proposals in spare rows. The rules of
each kind live beside it: rows in `check_rows`, cell values in `check_cells`, business rules
and the master's own in `check_rules`; what they are checked against in `plan_index`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .check_cells import Edit, check_cell, check_value, edits_against_record
from .check_rows import check_rows, check_size, match_rows
from .check_rules import check_business_rules, check_required
from .excel import CellValue, display
from .identity import likely_service
from .plan import Plan
from .plan_index import PlanIndex
from .problems import Problem, Severity, short
from .service_return import ReturnRow, ServiceReturn


@dataclass
class CheckedReturn:
    """A return judged: the edits that may be applied, the proposals, and every problem (those
    met reading the file first, then what the rules found)."""

    ret: ServiceReturn
    edits: list[Edit] = field(default_factory=list)
    proposals: list[ReturnRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    refused: bool = False  # the whole file is refused (unreadable, another plan, …)

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


def check_return(
    ret: ServiceReturn,
    plan: Plan | None = None,
    *,
    as_of: dt.date | None = None,
    cycle: str | None = None,
    index: PlanIndex | None = None,
    accept_cycle: str | None = None,
) -> CheckedReturn:
    """Judge a read return by every rule. Each rule returns what it found; nothing here writes
    to the return but which service a pasted return is (its rows say it)."""
    checked = CheckedReturn(ret, problems=list(ret.problems))
    if plan is not None and index is None:
        index = PlanIndex.of(plan)
    if ret.unreadable or ret.layout is None:
        checked.refused = True
        return checked
    if ret.meta is None and index is not None:
        ret.service_override = pasted_owner(ret, index) or ret.service_override
    refusal = check_identity(ret, plan, cycle, index, accept_cycle)
    if not any(p.is_error for p in refusal):
        refusal += check_size(ret, index)
    checked.problems.extend(refusal)
    if any(p.is_error for p in refusal):
        checked.refused = True
        return checked
    judged = _judge_rows(ret, index, checked)
    if judged is None:
        checked.refused = True
        return checked
    rows, baseline = judged
    _judge_proposals(ret, checked)
    checked.problems.extend(_after_merge(ret, rows, baseline, checked, index, as_of or dt.date.today()))
    return checked


def _judge_rows(
    ret: ServiceReturn, index: PlanIndex | None, checked: CheckedReturn
) -> tuple[list[ReturnRow], dict[str, dict[str, CellValue]]] | None:
    """Which issued action each row is and what it changes: against the master's record of
    what it issued where there is one, else against the values the return was issued with.
    The rows and the values they were judged against; None: the whole file is refused."""
    layout = ret.layout
    assert layout is not None
    issued = index.issued.get(ret.service or "") if index is not None else None
    if issued and ret.meta is not None and ret.meta.cycle != issued_cycle(index, ret.service):
        issued = None  # an earlier cycle's return, accepted: judged by its own issued copy
    if issued:
        assert index is not None
        matched, problems = match_rows(ret, layout, issued, index.baseline, index.routes)
        checked.problems.extend(problems)
        if matched is None:
            return None
        edits, problems = edits_against_record(ret, layout, matched, issued, index.baseline)
        checked.edits.extend(edits)
        checked.problems.extend(problems)
        return matched, index.baseline
    baseline = ret.issued if ret.issued is not None else (index.baseline if index else {})
    expected = list(ret.issued) if ret.issued is not None else None
    rows, problems = check_rows(ret, expected, baseline, index)
    checked.problems.extend(problems)
    for row in rows:
        for column in layout.columns:
            if column.field not in ret.positions:
                continue
            edit, in_cell = check_cell(ret, row, column, baseline[row.action_id].get(column.field))
            checked.problems.extend(in_cell)
            if edit is not None:
                checked.edits.append(edit)
    return rows, baseline


def _judge_proposals(ret: ServiceReturn, checked: CheckedReturn) -> None:
    """New actions typed in the spare rows, their values judged as any cell's; an update typed
    there instead is refused."""
    layout = ret.layout
    assert layout is not None
    for proposal in ret.proposals:
        misplaced = refuse_update_in_spare_row(ret, proposal)
        if misplaced:
            checked.problems.extend(misplaced)
            continue
        values = dict(proposal.values)
        for column in layout.columns:
            if column.field in ret.positions and values.get(column.field) is not None:
                judged = check_value(ret, proposal, column, values[column.field])
                checked.problems.extend(judged.problems)
                values[column.field] = None if judged.refused else judged.value
        ref = display(values.get(layout.reference)) or "(no reference)"
        checked.problems.append(
            ret.found(
                "proposed-action",
                f"a new action {ref} is proposed in spare row "
                f"{proposal.row + 1}; merge adds it to the plan, flagged as proposed.",
                sheet=ret.sheet,
                cell=ret.cell(proposal.row, layout.reference),
                action=ref,
            )
        )
        checked.proposals.append(ReturnRow(proposal.action_id, proposal.row, values, proposal.locked_intact))


def _after_merge(
    ret: ServiceReturn,
    rows: list[ReturnRow],
    baseline: dict[str, dict[str, CellValue]],
    checked: CheckedReturn,
    index: PlanIndex | None,
    as_of: dt.date,
) -> list[Problem]:
    """The business rules and required cells, on the return's rows as the merge leaves them."""
    layout = ret.layout
    assert layout is not None
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

    return check_business_rules(
        ret, layout, rows, final, index, as_of, after_merge=after_merge, due_as_written=due_as_written
    ) + check_required(ret, rows, final, checked.proposals)


def issued_cycle(index: PlanIndex | None, service: str | None) -> str | None:
    rows = index.issued.get(service or "") if index is not None else None
    return next(iter(rows.values())).cycle if rows else None


def refuse_update_in_spare_row(ret: ServiceReturn, row: ReturnRow) -> list[Problem]:
    """A spare row with progress, evidence or a rating but no action (no reference, nothing in
    the columns that describe an action) is an update typed in the wrong place: adding it
    would put a blank action in the plan and count it in the Summary. A problem: refused."""
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
        return []
    filled = [c.header for c in layout.columns if display(row.values.get(c.field)).strip()]
    return [
        ret.found(
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
    ]


def pasted_owner(ret: ServiceReturn, index: PlanIndex) -> str | None:
    """The service whose rows a return without metadata (pasted into a new workbook) holds,
    told by their locked cells; None when they do not say."""
    if ret.meta is not None or not index.issued or ret.layout is None:
        return None
    every = {a: r for rows in index.issued.values() for a, r in rows.items()}
    return likely_service(ret.layout, [r.values for r in ret.rows], every)


def check_identity(
    ret: ServiceReturn,
    plan: Plan | None,
    cycle: str | None,
    index: PlanIndex | None,
    accept_cycle: str | None = None,
) -> list[Problem]:
    """Is this a return of this plan, from a service it knows? An error refuses the whole file."""
    meta = ret.meta
    if plan is not None and meta is not None and meta.plan_id != plan.plan_id:
        return [
            ret.found(
                "other-plan",
                f"this return belongs to plan {meta.title!r} (ID {meta.plan_id}), "
                f"not {plan.meta.title!r} (ID {plan.plan_id}). It was not read further.",
            )
        ]
    problems: list[Problem] = []
    current = issued_cycle(index, ret.service)
    if meta is not None and current and meta.cycle != current:
        # The master knows which cycle it issued to this service: an old template filled in
        # now would put last quarter's figures in this quarter's master.
        if accept_cycle is None or accept_cycle != meta.cycle:
            return [
                ret.found(
                    "stale-return",
                    f"this return was issued for cycle {meta.cycle!r}, but the "
                    f"master issued cycle {current!r} to {ret.service}: an old template was filled "
                    "in. It was not merged. Ask the service to fill in the current template "
                    f"(or, if these figures are meant, merge with --accept-cycle {meta.cycle}).",
                )
            ]
        cycle = cycle or current
    if cycle and meta is not None and meta.cycle != cycle:
        problems.append(
            ret.found(
                "other-cycle",
                f"issued for cycle {meta.cycle!r}, not {cycle!r}: an old "
                "template may have been filled in. Check the figures are current.",
            )
        )
    if index is not None and ret.service is not None and ret.service not in index.services:
        problems.append(
            ret.found(
                "unknown-service",
                f"the plan has no actions for service {ret.service!r} "
                "(renamed or removed from the master since issue). It was not merged.",
            )
        )
    elif ret.service is None and plan is not None:
        problems.append(
            ret.found(
                "unknown-service",
                "no row of this workbook matches an action of the plan, so "
                "the service cannot be told. It was not merged.",
            )
        )
    return problems
