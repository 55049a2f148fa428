"""The master plan: its actions with stable IDs, routing to services, and reading it back."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from .carry import Carried, ExtraColumn, column_format, extra_cells, with_formulas
from .changelog import LOG_SUMMARY_SHEET, ChangeLog, LogEntry, StoredRows, parse_summary
from .cycle import RETURNS_SHEET, SNAPSHOT_SHEET, MergedReturn, parse_returns
from .errors import XlplanError
from .excel import CellValue, cell_name, display, row_as_seen
from .layout import Layout, parse_layout
from .metadata import ID_HEADER, META_SHEET, STATUS_HEADER, Metadata, parse_metadata
from .packed import unpack_rows
from .problems import Problem
from .record import RECORD_SHEET, IssueRecord, parse_record
from .safety_gate import MASTER_LIMITS, UnreadableWorkbook
from .sheet_layers import SheetLayer, sheet_layers
from .sheets import KEY_ALIASES_HEADER, own_fills
from .workbook import Workbook, open_workbook, release_freed_memory

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
        ref = display(action.get(self.layout.reference))
        for other in self.actions:
            if (
                service in routes.get(other.id, [])
                and display(other.get(self.layout.reference)) == ref
                and other.proposed_by == action.proposed_by
            ):
                return other
        return action

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


def natural_key(ref: str) -> tuple:
    """2.9 before 2.10; a blank reference last."""
    if not ref.strip():
        return ((2, ""),)
    return tuple(
        (0, int(tok)) if tok.isdigit() else (1, tok.lower()) for tok in re.findall(r"\d+|[^\d.\s]+", ref)
    )


def find_header_row(rows: list[list[CellValue]], headers: list[str], hint: int | None) -> int | None:
    """The 0-based row holding the layout's headers; `hint` is where the metadata says."""
    wanted = {h.strip().lower() for h in headers}
    candidates = ([hint] if hint is not None else []) + list(range(min(len(rows), 30)))
    for index in candidates:
        if 0 <= index < len(rows):
            cells = {display(c).strip().lower() for c in rows[index] if c is not None}
            if len(wanted & cells) >= max(2, len(wanted) // 2):
                return index
    return None


def column_positions(header: list[CellValue], layout: Layout) -> dict[str, int]:
    """Field -> 0-based column index, by header text, wherever the column has moved to."""
    positions: dict[str, int] = {}
    by_header = {c.header.strip().lower(): c.field for c in layout.columns}
    for index, cell in enumerate(header):
        field_name = by_header.get(" ".join(display(cell).split()).lower()) or by_header.get(
            display(cell).strip().lower()
        )
        if field_name and field_name not in positions:
            positions[field_name] = index
    return positions


def read_metadata(book: Workbook) -> Metadata | None:
    if META_SHEET not in book.sheets:
        return None
    return parse_metadata(book.raw_rows(META_SHEET), str(book.path))


def layout_of(meta: Metadata, source: str) -> Layout:
    return parse_layout(meta.layout_toml, f"embedded in {source}")


def require_plan(path: Path) -> Path:
    """The master's path, or a message saying it is not there."""
    path = Path(path)
    if not path.exists():
        raise XlplanError(
            f"Plan {path} not found. Give the master workbook made by `xlplan import` or `xlplan new`."
        )
    return path


def read_plan(path: Path, *, lazy_log: bool = False) -> Plan:
    """The master as it is now, including what compliance staff edited in Excel.

    `lazy_log`: for a verb that writes the master again (merge, template). The Change log's
    rows are not parsed when they can be copied into the new master as they stand
    (xlplan.logpart); they are parsed the first time something asks for all of them."""
    path = require_plan(path)
    try:
        book = open_workbook(path, MASTER_LIMITS, defer=frozenset({LOG_SHEET}) if lazy_log else frozenset())
        plan = _read_plan(path, book, lazy_log)
    except UnreadableWorkbook as exc:
        raise XlplanError(f"Plan {path}: {exc.problem.message}") from exc
    del book
    release_freed_memory()
    return plan


def _read_plan(path: Path, book: Workbook, lazy_log: bool = False) -> Plan:
    meta = read_metadata(book)
    if meta is None:
        raise XlplanError(
            f"{path} is not an xlplan master (it has no hidden xlplan metadata). "
            "Build one from it with `xlplan import " + path.name + " -o plan.xlsx`."
        )
    if meta.kind != "master":
        raise XlplanError(
            f"{path} is a service template ({meta.service}), not the master plan. Give the master workbook."
        )
    layout = layout_of(meta, str(path))
    if KEY_SHEET in book.sheets:
        layout = with_key_aliases(layout, book.rows(KEY_SHEET), path)
    if layout.sheet not in book.sheets:
        raise XlplanError(
            f"Plan {path} has no sheet {layout.sheet!r}; it was renamed or deleted. "
            f"Rename it back to {layout.sheet!r}."
        )
    raw = book.raw_rows(layout.sheet)
    rows = book.values(raw)
    header_index = find_header_row(rows, [c.header for c in layout.columns], meta.header_row - 1)
    if header_index is None:
        raise XlplanError(
            f"Plan {path}, sheet {layout.sheet!r}: the header row is gone. Restore "
            "the headers of the layout in row " + str(meta.header_row) + "."
        )
    header = rows[header_index]
    positions = column_positions(header, layout)
    missing = [layout.column(f).header for f in layout.fields if f not in positions]
    if missing:
        raise XlplanError(
            f"Plan {path}, sheet {layout.sheet!r}: column(s) missing or renamed: "
            + "; ".join(repr(m) for m in missing)
            + ". Restore the header text."
        )
    id_col = _find(header, ID_HEADER)
    status_col = _find(header, STATUS_HEADER)
    plan = Plan(meta=meta, layout=layout, actions=[])
    owned = {
        layout.sheet,
        KEY_SHEET,
        SUMMARY_SHEET,
        CHANGES_SHEET,
        ISSUES_SHEET,
        LOG_SHEET,
        LOG_SUMMARY_SHEET,
        META_SHEET,
        RECORD_SHEET,
        RETURNS_SHEET,
        SNAPSHOT_SHEET,
        HISTORY_SHEET,
        PROGRESS_SHEET,
        COMMITTEE_SHEET,
    }
    owned |= _read_contacts(book, plan, path)
    theirs = [name for name in book.sheets if name not in owned]
    known = {*positions.values(), id_col, status_col}
    extra_at = [
        c
        for c in range(max(map(len, rows[header_index:]), default=0))
        if c not in known and any(c < len(r) and r[c] is not None for r in rows[header_index:])
    ]
    # Number formats are looked for in the team's own columns only (a master is large).
    layers = sheet_layers(
        path,
        [layout.sheet, *theirs],
        {layout.sheet: set(extra_at)},
        plan_sheet=layout.sheet,
        own_fills=own_fills(layout),
    )
    plan.uncarried = {name: layer.uncarried for name, layer in layers.items() if layer.uncarried}
    plan_layer = layers.get(layout.sheet, SheetLayer())
    by_column = {i: f for f, i in positions.items()}
    for (r, c), text in plan_layer.formulas.items():
        if c in by_column and r > header_index:  # a formula the team typed in a layout column
            plan.layout_formulas.setdefault(r, {})[by_column[c]] = text
    plan.extra_columns = [
        ExtraColumn(
            display(header[c]) if c < len(header) else "",
            plan_layer.widths.get(c),
            c,
            column_format(plan_layer, c),
        )
        for c in extra_at
    ]
    extras = extra_cells(raw, extra_at, plan_layer.formulas)
    count = len(layout.columns)
    plan.column_moves = {old: layout.fields.index(f) for f, old in positions.items()}
    plan.column_moves.update(
        {old: new for old, new in ((status_col, count), (id_col, count + 1)) if old is not None}
    )
    plan.column_moves.update({old: count + 2 + k for k, old in enumerate(extra_at)})
    del raw  # a large master: hold its cells once
    rows.extend([] for _ in range(len(extras) - len(rows)))
    _read_above_header(plan, rows[:header_index], path)
    # A date in a text column (typed in Excel, or kept from an older xlplan) is the text seen.
    types = {c.field: c.type for c in layout.columns}
    seen_ids: set[str] = set()
    no_id: list[Action] = []
    for offset, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        values = row_as_seen({f: (row[i] if i < len(row) else None) for f, i in positions.items()}, types)
        if all(v is None for v in values.values()):
            loose = [
                plan.extra_columns[k].header or f"column {c + 1}"
                for k, c in enumerate(extra_at)
                if extras[offset - 1][k] is not None
            ]
            if loose:
                plan.read_problems.append(
                    Problem(
                        "sheet-content-lost",
                        f"row {offset} of the plan sheet is not an action but "
                        f"holds {', '.join(repr(h) for h in loose)}; xlplan rebuilds the plan sheet "
                        "from its actions, so that row is not kept when it writes the master. Keep "
                        "totals and notes on a sheet of your own.",
                        file=str(path),
                        sheet=layout.sheet,
                    )
                )
            continue
        action_id = display(row[id_col]) if id_col is not None and id_col < len(row) else ""
        status = display(row[status_col]) if status_col is not None and status_col < len(row) else ""
        proposed_by, proposal_key = parse_proposal(status)
        action = Action(
            id=action_id,
            values=values,
            proposed_by=proposed_by,
            proposal_key=proposal_key,
            row=offset - 1,
            decision=parse_decision(status) if proposed_by else None,
        )
        if extra_at:
            action.extra = extras[offset - 1]
        if not action_id or action_id in seen_ids:
            no_id.append(action)
            plan.read_problems.append(
                Problem(
                    "new-row-in-master",
                    f"row {offset} of the plan sheet had no xlplan ID (added by "
                    "hand, or copied); it was given a new one.",
                    file=str(path),
                    sheet=layout.sheet,
                    action=display(values.get(layout.reference)) or None,
                )
            )
        else:
            seen_ids.add(action_id)
        plan.actions.append(action)
    for action in no_id:
        action.id = plan.new_id()
        while action.id in seen_ids:
            action.id = plan.new_id()
    if LOG_SHEET in book.sheets:
        stored = _stored_log(path, book) if lazy_log else None
        if stored is not None:
            plan.log = ChangeLog(stored=stored)
        else:
            plan.log.extend(_log_entries(book.rows(LOG_SHEET)))
    # Changes and Issues of the cycle still running stay with it; those of an earlier cycle
    # (a master written before the cycle was recorded) go to the Change log.
    current = bool(meta.cycle) and meta.last_cycle == meta.cycle
    if CHANGES_SHEET in book.sheets:
        changes = _log_entries(
            book.rows(CHANGES_SHEET), cycle=meta.last_cycle or "", merged_at=meta.last_merged_at or ""
        )
        (plan.cycle_changes if current else plan.log).extend(changes)
    if current and ISSUES_SHEET in book.sheets:
        plan.cycle_issues = _table(book.rows(ISSUES_SHEET), {ISSUE_HEADERS[0]})
    if RECORD_SHEET in book.sheets:
        plan.record = parse_record(_packed_table(book, RECORD_SHEET))
    if RETURNS_SHEET in book.sheets:
        plan.merged = parse_returns(book.raw_rows(RETURNS_SHEET))
    if SNAPSHOT_SHEET in book.sheets:
        plan.snapshot_packed = [row[0] for row in book.raw_rows(SNAPSHOT_SHEET) if row]
    if HISTORY_SHEET in book.sheets:
        plan.history_table = _packed_table(book, HISTORY_SHEET)
    plan.read_problems.extend(plan.split_joint_actions())
    for name in theirs:
        layer = layers.get(name, SheetLayer())
        plan.carried.append(
            CarriedSheet(
                name,
                _trim(with_formulas(book.raw_rows(name), layer.formulas)),
                book.hidden.get(name, "visible"),
                layer.widths,
                layer.formats,
            )
        )
    return plan


def _stored_log(path: Path, book: Workbook) -> StoredRows | None:
    """The Change log's rows left where they are (see xlplan.changelog), or None: parse them."""
    from .logpart import read_kept_part

    if LOG_SUMMARY_SHEET not in book.sheets:
        return None
    part = book.deferred.get(LOG_SHEET)
    stored = parse_summary(_packed_table(book, LOG_SUMMARY_SHEET), lambda: _reload_log(path, part, stored))
    if stored is None:
        return None
    stored.part = read_kept_part(path, part, stored.token, stored.count)
    return stored if stored.part is not None else None


def _reload_log(path: Path, part: str | None, stored: StoredRows | None) -> list[LogEntry]:
    """All the rows of a Change log left unparsed, read now from the master they were in."""
    from .logpart import read_kept_part

    if stored is None or read_kept_part(path, part, stored.token, stored.count) is None:
        raise XlplanError(
            f"Plan {path} changed while xlplan was working on it; nothing was written. Run the command again."
        )
    try:
        return _log_entries(open_workbook(path, MASTER_LIMITS).rows(LOG_SHEET))
    except UnreadableWorkbook as exc:
        raise XlplanError(f"Plan {path}: {exc.problem.message}") from exc


def _read_contacts(book: Workbook, plan: Plan, path: Path) -> set[str]:
    """The Services sheet into `plan.contacts`; its name, as a sheet xlplan owns (if present).
    Its addresses are checked where they are used (template --drafts, chase), not here: a
    typo in an address is no problem of a merge."""
    from .contacts import SERVICES_SHEET, parse_services

    if SERVICES_SHEET not in book.sheets:
        return set()
    rows = book.rows(SERVICES_SHEET)
    plan.contacts = parse_services(rows)
    if not plan.contacts and any(v is not None for row in rows[1:] for v in row):
        return set()  # a sheet of the team's own that happens to be called Services: carried
    return {SERVICES_SHEET}


def with_key_aliases(layout: Layout, rows: list[list[CellValue]], path: Path) -> Layout:
    """The layout with the spellings the central team added on the Key sheet's "Also read as"
    column (a rating kept as written at import, such as "Complete", mapped to Blue).

    The Key sheet is rebuilt from the layout on every write, so what was added there stays."""
    start = next(
        (
            i
            for i, r in enumerate(rows)
            if len(r) > 2
            and display(r[0]).strip() == "Rating"
            and display(r[2]).strip() == KEY_ALIASES_HEADER
        ),
        None,
    )
    if start is None:
        return layout
    added: dict[str, list[str]] = {}
    for row in rows[start + 1 :]:
        value = display(row[0]).strip() if row else ""
        if not value:
            break
        names = [n.strip() for n in display(row[2] if len(row) > 2 else None).split(",")]
        if value in layout.rating_values:
            rating = next(r for r in layout.ratings if r.value == value)
            known = {a.strip().lower() for a in rating.aliases}
            added[value] = [n for n in names if n and n.lower() not in known]
    if not any(added.values()):
        return layout
    data = layout.model_dump(by_alias=True)
    for rating in data["rating"]:
        rating["aliases"] = rating["aliases"] + added.get(rating["value"], [])
    try:
        return Layout.model_validate(data)
    except ValueError as exc:
        raise XlplanError(
            f"Plan {path}, sheet {KEY_SHEET!r}: the {KEY_ALIASES_HEADER!r} column "
            f"gives one name to two ratings, or a rating's own name to another "
            f"({exc.errors()[0]['msg'] if hasattr(exc, 'errors') else exc}). "
            "Give each spelling to one rating only."
        ) from exc


def _read_above_header(plan: Plan, rows: list[list[CellValue]], path: Path) -> None:
    """The rows above the header: xlplan writes the title (A1) and a subtitle (A2) there. A
    title the team retyped becomes the plan's title; anything else they put there is reported,
    as the sheet is rebuilt without it."""
    title = display(rows[0][0]).strip() if rows and rows[0] else ""
    if title and title != plan.meta.title:
        plan.meta.title = title
    extra = [
        cell_name(r, c)
        for r, row in enumerate(rows)
        for c, value in enumerate(row)
        if value is not None and not (c == 0 and r < 2)
    ]
    if extra:
        plan.read_problems.append(
            Problem(
                "sheet-content-lost",
                f"{', '.join(extra[:6])}{' …' if len(extra) > 6 else ''} above "
                "the header row of the plan sheet: xlplan writes the plan's title and a subtitle there "
                "and rebuilds the rest, so that is not kept when it writes the master. Keep notes on "
                "a sheet of your own.",
                file=str(path),
                sheet=plan.layout.sheet,
            )
        )


def _find(header: list[CellValue], text: str) -> int | None:
    for index, cell in enumerate(header):
        if display(cell).strip().lower() == text.lower():
            return index
    return None


def _trim(rows: list[list[CellValue]]) -> list[list[CellValue]]:
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return rows


def _packed_table(book: Workbook, sheet: str) -> list[list[CellValue]]:
    return unpack_rows([row[0] for row in book.raw_rows(sheet) if row])


def _table(rows: list[list[CellValue]], firsts: set[str]) -> list[dict[str, CellValue]]:
    """The rows under a report table's header row (write_table puts a title and notes above
    it; the header is the row that starts with one of `firsts`), by header."""
    start = next((i for i, r in enumerate(rows[:10]) if r and display(r[0]).strip() in firsts), None)
    if start is None:
        return []
    header = [display(c).strip() for c in rows[start]]
    return [
        {h: (r[i] if i < len(r) else None) for i, h in enumerate(header) if h}
        for r in rows[start + 1 :]
        if any(v is not None for v in r)
    ]


def _log_entries(
    rows: list[list[CellValue]], cycle: str | None = None, merged_at: str | None = None
) -> list[LogEntry]:
    """Rows of the Change log, or of the Changes sheet (whose cycle and time are given)."""
    headers = LOG_HEADERS if cycle is None else CHANGES_HEADERS
    # (A Changes sheet written before it had a "Merged at" column starts with "Service".)
    table = _table(rows, {headers[0], headers[1]})
    if table and sum(1 for name in headers if name in table[0]) < len(headers) - 1:
        return []
    return [
        LogEntry(
            cycle=cycle if cycle is not None else display(row.get("Cycle")),
            merged_at=display(row.get("Merged at")) or merged_at or "",
            service=display(row.get("Service")),
            file=display(row.get("File")),
            action=display(row.get("Action")),
            column=display(row.get("Column")),
            old=row.get("Old value"),
            new=row.get("New value"),
            kind=display(row.get("Kind")),
            action_id=display(row.get("xlplan ID")),
        )
        for row in table
    ]


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
