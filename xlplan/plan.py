"""The master plan: its actions with stable IDs, routing to services, the names of the sheets
xlplan writes in it, clocks and IDs. Reading it back from a workbook is `masterread.read_plan`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .carry import Carried, ExtraColumn
from .changelog import ChangeLog, LogEntry
from .cycle import MergedReturn
from .excel import CellValue, display
from .layout import Layout, parse_layout
from .metadata import Metadata
from .problems import Problem
from .record import IssueRecord

UNASSIGNED = "Unassigned"
# Sheets xlplan rebuilds on every write; any other sheet is the central team's and is carried.
KEY_SHEET = "Key"
SUMMARY_SHEET = "Summary"
CHANGES_SHEET = "Changes"
# The cycles so far (xlplan.history): figures per cycle and service, and each action's rating.
PROGRESS_SHEET = "Progress"
COMMITTEE_SHEET = "Committee view"  # written by xlplan.committee_sheet, never read back
HISTORY_SHEET = "_xlplan_history"
ISSUES_SHEET = "Issues"
LOG_SHEET = "Change log"
LOG_HEADERS = [
    "Cycle",
    "Merged at",
    "Service",
    "File",
    "Action",
    "Column",
    "Old value",
    "New value",
    "Kind",
    "xlplan ID",
]
# The Changes sheet holds every change merged in the current cycle: its cycle is said once
# (title and metadata), not on each of possibly tens of thousands of rows.
CHANGES_HEADERS = LOG_HEADERS[1:]
ISSUE_HEADERS = [
    "Severity",
    "Code",
    "Service",
    "File",
    "Sheet",
    "Cell",
    "Action",
    "Column",
    "Value",
    "Message",
    "Status",
    "Found",
]


@dataclass
class Action:
    id: str
    values: dict[str, CellValue]
    proposed_by: str | None = None
    # Where a proposal came from ("2017-Q2 new-1"): merging the same return again must not
    # add it twice.
    proposal_key: str | None = None
    # What the central team typed in a proposal's status cell: ("accept", "") or ("reject", why).
    decision: tuple[str, str] | None = None
    # The central team's own columns (Plan.extra_columns), in order; and the 0-based row of
    # the plan sheet the action was read from, so their formulas follow it when rows move.
    extra: list[Carried] = field(default_factory=list)
    row: int | None = None

    def get(self, field_name: str) -> CellValue:
        return self.values.get(field_name)


@dataclass
class CarriedSheet:
    """A sheet the central team added to the master: its values travel through every merge."""

    name: str
    rows: list[list[Carried]]
    state: str = "visible"
    widths: dict[int, float] = field(default_factory=dict)
    formats: dict[tuple[int, int], str] = field(default_factory=dict)  # number formats


def joint_parts(
    actions: Iterable[Action], routes: Mapping[str, list[str]], reference: str
) -> dict[tuple[str, str], str]:
    """The rows of each joint action split one per service (Plan.split_joint_actions: the same
    reference, the same proposer): (the ID of any of its rows, a service) -> the ID of the row
    that is that service's, the first in the plan's order. Checks and merge ask the same."""
    groups: dict[tuple[str, str | None], list[Action]] = {}
    for action in actions:
        ref = display(action.get(reference))
        if ref:
            groups.setdefault((ref, action.proposed_by), []).append(action)
    parts: dict[tuple[str, str], str] = {}
    for rows in groups.values():
        if len(rows) < 2:
            continue
        for row in rows:
            for service in routes.get(row.id, []):
                for other in rows:
                    parts.setdefault((other.id, service), row.id)
    return parts


@dataclass
class Plan:
    meta: Metadata
    layout: Layout
    actions: list[Action]
    # The Change log: every change of earlier cycles, and central edits and decisions of this one.
    log: ChangeLog = field(default_factory=ChangeLog)
    carried: list[CarriedSheet] = field(default_factory=list)
    # The Services sheet: who receives each service's workbook (xlplan.contacts.Contact).
    contacts: list = field(default_factory=list)
    extra_columns: list[ExtraColumn] = field(default_factory=list)
    # Column of the plan sheet as read -> where the master writes it (layout columns, status,
    # ID, then the central team's own): formulas pointing at a moved column follow it.
    column_moves: dict[int, int] = field(default_factory=dict)
    # Formulas the team typed in the layout's columns: plan-sheet row -> {field: "=…"}. The
    # value is what services are issued; the master keeps the formula until a merge changes it.
    layout_formulas: dict[int, dict[str, str]] = field(default_factory=dict)
    # Sheet -> what the team put on it that xlplan cannot carry (merged cells, notes, …).
    uncarried: dict[str, list[str]] = field(default_factory=dict)
    read_problems: list[Problem] = field(default_factory=list)
    # What the last `xlplan template` issued to each service (empty for a master that has
    # never issued, or one written before the record existed).
    record: IssueRecord = field(default_factory=IssueRecord)
    # The current cycle (the one last issued): what its merges so far changed and found,
    # the returns they merged, and the audited cells as xlplan last wrote them.
    cycle_changes: list[LogEntry] = field(default_factory=list)
    cycle_issues: list[dict[str, CellValue]] = field(default_factory=list)
    merged: list[MergedReturn] = field(default_factory=list)
    # The snapshot as stored (packed pieces): parsed only where it is compared, since at
    # 100,000 actions it is a few MB packed and a few hundred MB as Python objects.
    snapshot_packed: list[object] = field(default_factory=list)
    # The packed table of every cycle's figures (parsed by xlplan.history, which owns its shape).
    history_table: list[list[CellValue]] = field(default_factory=list)
    _routes: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def plan_id(self) -> str:
        return self.meta.plan_id

    def new_id(self) -> str:
        action_id = f"A{self.meta.next_id:04d}"
        self.meta.next_id += 1
        return action_id

    def by_id(self) -> dict[str, Action]:
        return {a.id: a for a in self.actions}

    def ref(self, action: Action) -> str:
        return display(action.get(self.layout.reference)) or f"(ID {action.id})"

    def routes(self) -> tuple[dict[str, list[str]], list[Problem]]:
        """Each action's services; a blank routing cell inherits from the parent reference.

        Asked by every stage of a merge: computed once per set of actions (a merge only
        ever adds actions, it never re-routes one)."""
        key = (len(self.actions), self.actions[-1].id if self.actions else "")
        if self._routes is None or self._routes[0] != key:
            self._routes = (key, *self._compute_routes())
        return self._routes[1], list(self._routes[2])

    def _compute_routes(self) -> tuple[dict[str, list[str]], list[Problem]]:
        layout = self.layout
        by_ref: dict[str, list[Action]] = {}
        for action in self.actions:
            key = normal_ref(display(action.get(layout.reference)))
            if key:
                by_ref.setdefault(key, []).append(action)
        routes: dict[str, list[str]] = {}
        problems: list[Problem] = []
        route_header = layout.column(layout.route).header
        split: dict[str, list[str]] = {}  # a plan names its few hundred services again and again
        for action in self.actions:
            own = display(action.get(layout.route))
            if own not in split:
                split[own] = layout.split_route(own) if own else []
            services = list(split[own])
            if not services:
                ref = normal_ref(display(action.get(layout.reference)))
                for parent_key in parent_refs(ref):
                    # A joint parent is one row per service: the child belongs to all of them.
                    named = [display(p.get(layout.route)) for p in by_ref.get(parent_key, [])]
                    services = list(
                        dict.fromkeys(s for text in named if text.strip() for s in layout.split_route(text))
                    )
                    if services:
                        problems.append(
                            Problem(
                                "route-inherited",
                                f"{route_header} is blank; issued to "
                                f"{' and '.join(services)} as its parent {parent_key} is.",
                                action=self.ref(action),
                                column=route_header,
                            )
                        )
                        break
            if not services:
                services = [UNASSIGNED]
                problems.append(
                    Problem(
                        "no-route",
                        f"{route_header} is blank and no parent action names one; "
                        f"issued to {UNASSIGNED!r}. Fill in {route_header} in the master to route it.",
                        action=self.ref(action),
                        column=route_header,
                    )
                )
            routes[action.id] = services
        return routes, problems

    def split_joint_actions(self) -> list[Problem]:
        """One row per service for every action issued to several ("FYPC & CHS"): each
        service's progress and rating live in cells of its own, so neither can overwrite the
        other and the Summary counts each service's own rating.

        The rows stay adjacent and keep the shared central cells; the first service keeps the
        action's ID. Service cells the joint row already held are kept on every part."""
        routes, _ = self.routes()
        if all(len(services) < 2 for services in routes.values()):
            return []
        layout = self.layout
        route_header = layout.column(layout.route).header
        actions: list[Action] = []
        problems: list[Problem] = []
        for action in self.actions:
            services = routes[action.id]
            if len(services) < 2:
                actions.append(action)
                continue
            before = display(action.get(layout.route))
            for number, service in enumerate(services):
                part = (
                    action
                    if number == 0
                    else Action(
                        id=self.new_id(),
                        values=dict(action.values),
                        proposed_by=action.proposed_by,
                        proposal_key=action.proposal_key,
                        extra=list(action.extra),
                    )
                )
                part.values[layout.route] = service
                actions.append(part)
            problems.append(
                Problem(
                    "joint-action-split",
                    f"issued to {' and '.join(services)}: now one row per service "
                    f"({route_header} {before or '(blank, inherited)'!r} became "
                    f"{', '.join(map(repr, services))}), so each service's progress and rating are its "
                    "own. Each row starts with what the joint row held.",
                    action=self.ref(action),
                    column=route_header,
                )
            )
        self.actions = actions
        self._routes = None
        return problems

    def part_for(self, action: Action, service: str) -> Action:
        """`action`, or the row of it that is `service`'s once a joint action was split: a
        template issued before the split carries the joint row's ID for every service."""
        routes, _ = self.routes()
        if service in routes.get(action.id, []):
            return action
        part = joint_parts(self.actions, routes, self.layout.reference).get((action.id, service))
        return self.by_id().get(part, action) if part else action

    def applied_in(self, cycle: str | None) -> list[MergedReturn]:
        """The returns merged (applied) in `cycle`: those services have returned."""
        return [m for m in self.merged if m.cycle == cycle and m.outcome == "applied"]

    def services(self) -> list[str]:
        routes, _ = self.routes()
        seen: dict[str, None] = {}
        for services in routes.values():
            for service in services:
                seen.setdefault(service, None)
        return list(seen)


_PROPOSAL = re.compile(r"proposed by (.*?)(?: \[([^\]]*)\])?(?:;|$)")


def proposal_status(action: Action) -> str:
    """The status-column text for a proposed action: who proposed it, and from which return."""
    if not action.proposed_by:
        return ""
    key = f" [{action.proposal_key}]" if action.proposal_key else ""
    return f"proposed by {action.proposed_by}{key}"


_DECISION = re.compile(r"^\s*(accept|reject)(?:ed)?\b[\s:,.\-–]*(.*)$", re.IGNORECASE | re.DOTALL)


def parse_decision(status: str) -> tuple[str, str] | None:
    """'accept' or 'reject: duplicate of 3.2', typed as a part of the status cell."""
    for part in (status or "").split(";"):
        match = _DECISION.match(part)
        if match:
            return match[1].lower(), match[2].strip()
    return None


def parse_proposal(status: str) -> tuple[str | None, str | None]:
    match = _PROPOSAL.search(status or "")
    if not match:
        return None, None
    return match[1].strip() or None, match[2]


_REF_HEAD = re.compile(r"^\s*(\d+(?:\.\d+)*)")


def normal_ref(ref: str) -> str:
    """'1.' -> '1', '17.2.' -> '17.2', '9.2 (1 - 6 and 8,9&10)' -> '9.2'; others as typed."""
    match = _REF_HEAD.match(ref or "")
    return match[1] if match else (ref or "").strip()


def parent_refs(ref: str) -> list[str]:
    """'2.1.3' -> ['2.1', '2']: nearest parent first."""
    parts = ref.split(".") if _REF_HEAD.match(ref or "") else []
    return [".".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]


def layout_of(meta: Metadata, source: str) -> Layout:
    return parse_layout(meta.layout_toml, f"embedded in {source}")


def new_plan_id(seed: bytes = b"") -> str:
    """A plan's ID: random, unless SOURCE_DATE_EPOCH pins builds (then derived from the input)."""
    import hashlib
    import os
    import uuid

    if os.environ.get("SOURCE_DATE_EPOCH"):
        return hashlib.sha256(seed + os.environ["SOURCE_DATE_EPOCH"].encode()).hexdigest()[:12]
    return uuid.uuid4().hex[:12]


def now() -> dt.datetime:
    """The time stamps xlplan writes; SOURCE_DATE_EPOCH pins them for reproducible builds."""
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
    return dt.datetime.now(tz=dt.UTC).replace(microsecond=0)
