"""Proposed actions: a service proposes one in a spare row, merge adds it to the master
flagged as proposed, and the central team decides by typing in its status cell
("Changed this cycle"): `accept`, or `reject: the reason`. Until then each merge lists it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .excel import display
from .plan import LogEntry, Plan
from .problems import Problem

if TYPE_CHECKING:
    from .outcome import MergeResult

DECIDED_BY = "central team"


def rejected_proposals(plan: Plan) -> set[tuple[str | None, str | None]]:
    keys: set[tuple[str | None, str | None]] = set()
    for line in (plan.meta.rejected_proposals or "").splitlines():
        service, _, key = line.partition("\t")
        keys.add((service or None, key or None))
    return keys


def decide_proposals(plan: Plan, result: MergeResult, stamp: str) -> None:
    """Carry out the decisions typed into proposals' status cells since the last merge."""
    layout = plan.layout
    route_header = layout.column(layout.route).header
    kept = []
    rejected = rejected_proposals(plan)
    for action in plan.actions:
        decision = action.decision if action.proposed_by else None
        if decision is None:
            kept.append(action)
            continue
        verdict, why = decision
        ref = display(action.get(layout.reference))
        entry = LogEntry(
            result.cycle,
            stamp,
            DECIDED_BY,
            f"proposed by {action.proposed_by}",
            plan.ref(action),
            "(proposed action)",
            "proposed",
            None,
            "",
            action.id,
        )
        if verdict == "accept":
            if not ref.strip():
                action.decision = None
                kept.append(action)
                result.problems.append(
                    Problem(
                        "proposal-pending",
                        "accepted, but it has no "
                        f"{layout.column(layout.reference).header!r}: type its reference in the master, "
                        "then accept it again.",
                        action=plan.ref(action),
                        service=action.proposed_by,
                    )
                )
                continue
            entry.new, entry.kind = f"accepted as {ref}", "proposal accepted"
            action.proposed_by = action.proposal_key = None
            action.decision = None
            kept.append(action)
        else:
            rejected.add((action.proposed_by, action.proposal_key))
            entry.new = f"rejected: {why}" if why else "rejected"
            entry.kind = "proposal rejected"
            result.problems.append(
                Problem(
                    "proposal-rejected",
                    f"removed from the plan as the central team decided ({entry.new}); "
                    f"kept in the Change log. It was routed to {display(action.get(layout.route)) or '—'} "
                    f"({route_header}).",
                    action=plan.ref(action),
                    service=action.proposed_by,
                )
            )
        plan.log.append(entry)
    plan.actions = kept
    plan._routes = None
    plan.meta.rejected_proposals = (
        "\n".join(
            f"{s or ''}\t{k or ''}"
            for s, k in sorted(rejected, key=lambda pair: (pair[0] or "", pair[1] or ""))
        )
        or None
    )


def report_pending_proposals(plan: Plan, result: MergeResult) -> None:
    status = "Changed this cycle"
    for action in plan.actions:
        if action.proposed_by:
            result.problems.append(
                Problem(
                    "proposal-pending",
                    f"proposed by {action.proposed_by}, not yet decided: type "
                    f"'accept' (it becomes an ordinary action) or 'reject: the reason' in its {status!r} "
                    "cell of the master, then merge again.",
                    action=plan.ref(action),
                    service=action.proposed_by,
                )
            )
