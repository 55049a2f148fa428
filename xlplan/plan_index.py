"""What every return is checked against, computed once per plan rather than once per return:
the services, ratings and sub-actions of the master, its values and what it issued."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field

from .dates import parse_uk_date
from .excel import CellValue, display
from .plan import Plan, joint_parts, normal_ref, parent_refs
from .record import IssuedRow


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
    # (ID of a joint action's row, service) -> the ID of that service's row (plan.joint_parts)
    parts: dict[tuple[str, str], str] = field(default_factory=dict)

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
            parts=joint_parts(plan.actions, routes, layout.reference),
        )
