"""`xlplan merge`: apply every service's latest return to the master, three-way, and say
what changed, what was refused and who has not returned."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .checks import CheckedReturn, check_master, same
from .errors import XlplanError
from .excel import CellValue, display
from .masterbook import plan_lock, write_master
from .plan import UNASSIGNED, Action, LogEntry, Plan, now, read_plan, require_plan
from .problems import Problem, Severity
from .validate import validate
from .workbook import sheets_with_drawings

EXIT_WRITTEN, EXIT_STRICT, EXIT_NOT_WRITTEN = 0, 1, 2


@dataclass
class Change:
    action_id: str
    action: str  # the reference as people read it
    field: str
    column: str
    old: CellValue
    new: CellValue
    service: str
    file: str
    saved_at: dt.datetime | None
    kind: str  # "change" | "conflict" | "proposed"
    master_value: CellValue = None  # for a conflict: what the master held


@dataclass
class ServiceStatus:
    service: str
    returned: bool
    file: str | None = None
    saved_at: dt.datetime | None = None


@dataclass
class MergeResult:
    plan: Plan
    output: Path
    cycle: str
    merged_at: dt.datetime
    as_of: dt.date
    changes: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    statuses: list[ServiceStatus] = field(default_factory=list)
    returns_read: int = 0
    backup: Path | None = None
    # (action ID, field) -> the change this merge made there: a second service's edit to
    # the same cell of a joint action is a conflict.
    changed_cells: dict[tuple[str, str], Change] = field(default_factory=dict)

    @property
    def refused(self) -> int:
        return sum(1 for p in self.problems if p.is_error)

    @property
    def conflicts(self) -> int:
        return sum(1 for c in self.changes if c.kind == "conflict")

    def log_entries(self) -> list[LogEntry]:
        stamp = self.merged_at.strftime("%Y-%m-%d %H:%M")
        return [LogEntry(self.cycle, stamp, c.service, c.file, c.action, c.column, c.old, c.new,
                         c.kind, c.action_id) for c in self.changes]


def merge(plan_path: Path, inbox: list[Path], *, output: Path | None = None,
          as_of: dt.date | None = None,
          progress: Callable[[Path, int, int], None] | None = None) -> MergeResult:
    plan_path = require_plan(plan_path)  # before the lock, which is made beside it
    target = Path(output) if output else plan_path
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise XlplanError(f"Cannot write {target}: the folder {folder} does not exist. Create it "
                          "or choose another -o.")
    with plan_lock(target):
        plan = read_plan(plan_path)
        as_of = as_of or dt.date.today()
        validation = validate(inbox, plan=plan, as_of=as_of, progress=progress)
        result = MergeResult(plan=plan, output=target, cycle="", merged_at=now(), as_of=as_of)
        result.problems.extend(plan.read_problems)
        result.problems.extend(p for p in validation.skipped if p.severity != Severity.INFO)
        result.returns_read = len(validation.checked)
        chosen = choose_latest(validation.checked, result)
        cycles = sorted({c.ret.cycle for c in chosen if c.ret.cycle})
        result.cycle = ", ".join(cycles) or now().strftime("%Y-%m")
        by_id = plan.by_id()
        proposed = {(a.proposed_by, a.proposal_key) for a in plan.actions if a.proposal_key}
        for checked in chosen:
            apply_return(plan, checked, result, by_id, proposed)
        report_missing(plan, chosen, result)
        result.problems.extend(check_master(plan))
        report_uncarried(plan_path, plan, result)
        # The master keeps the central team's row order (sorted by lead, by theme, ...);
        # proposals were appended at the end, tinted, for the team to move where they belong.
        if output is None:
            result.backup = keep_backup(plan_path)
        write_master(plan, target, result)
    return result


def choose_latest(checked: list[CheckedReturn], result: MergeResult) -> list[CheckedReturn]:
    """Per service, the return saved last; the others are listed as superseded."""
    by_service: dict[str, list[CheckedReturn]] = {}
    for item in checked:
        for problem in item.problems:
            result.problems.append(problem)
        if item.refused or item.ret.service is None:
            continue
        by_service.setdefault(item.ret.service, []).append(item)
    chosen: list[CheckedReturn] = []
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    for service, items in by_service.items():
        items.sort(key=lambda c: (c.ret.saved_at or epoch, c.ret.path.name))
        latest = items[-1]
        for older in items[:-1]:
            result.problems.append(Problem(
                "superseded", f"{service} sent a later return, {latest.ret.path.name} (saved "
                f"{_stamp(latest.ret.saved_at)}); this one (saved {_stamp(older.ret.saved_at)}) was "
                "not applied.", file=older.ret.path.name, service=service))
        chosen.append(latest)
    chosen.sort(key=lambda c: (c.ret.saved_at or epoch, c.ret.path.name))
    return chosen


def _stamp(moment: dt.datetime | None) -> str:
    return moment.strftime("%d/%m/%Y %H:%M") if moment else "at an unknown time"


def apply_return(plan: Plan, checked: CheckedReturn, result: MergeResult,
                 by_id: dict[str, Action], proposed: set[tuple[str | None, str | None]]) -> None:
    """Three-way: a cell the service changed since issue is applied; one it left alone keeps
    what the master holds now, so central edits made after issue are never reverted."""
    ret = checked.ret
    service = ret.service or UNASSIGNED
    changed_here = result.changed_cells
    result.statuses.append(ServiceStatus(service, True, ret.path.name, ret.saved_at))
    for edit in checked.edits:
        action = by_id.get(edit.action_id)
        column = plan.layout.column(edit.field)
        if action is None:
            result.problems.append(Problem(
                "unknown-action", f"action {edit.action or edit.action_id} was removed from the "
                "master after issue; the service's edit to it was not applied.", file=ret.path.name,
                service=service, action=edit.action, column=column.header, cell=edit.cell))
            continue
        current = action.get(edit.field)
        if same(current, edit.new):
            continue
        ref = plan.ref(action)
        earlier = changed_here.get((action.id, edit.field))
        if earlier is not None:
            kind, note = "conflict", (f"{earlier.service} ({earlier.file}) set it to "
                                      f"{display(earlier.new)!r} in this merge")
        elif same(current, edit.old):
            kind, note = "change", ""
        else:
            kind, note = "conflict", (f"the master was changed since issue, to "
                                      f"{display(current)!r}")
        if kind == "conflict":
            result.problems.append(Problem(
                "conflict", f"both changed this cell: {note}; {service}'s value was applied and "
                f"the other is kept in the cell's note. Check which is right.",
                file=ret.path.name, service=service, action=ref, column=column.header,
                cell=edit.cell, value=display(edit.new)[:200]))
        change = Change(action.id, ref, edit.field, column.header, current, edit.new, service,
                        ret.path.name, ret.saved_at, kind, master_value=current)
        action.values[edit.field] = edit.new
        result.changes.append(change)
        changed_here[(action.id, edit.field)] = change
    for proposal in checked.proposals:
        key = f"{ret.cycle or ''} {proposal.action_id}".strip()
        if (service, key) in proposed:
            continue  # added by an earlier merge of this same return
        proposed.add((service, key))
        action = Action(id=plan.new_id(), values=dict(proposal.values), proposed_by=service,
                        proposal_key=key)
        if not display(action.get(plan.layout.route)).strip():
            action.values[plan.layout.route] = service
        plan.actions.append(action)
        by_id[action.id] = action
        result.changes.append(Change(action.id, plan.ref(action), plan.layout.reference,
                                     "(proposed action)", None, display(action.get(plan.layout.reference)),
                                     service, ret.path.name, ret.saved_at, "proposed"))


def report_missing(plan: Plan, chosen: list[CheckedReturn], result: MergeResult) -> None:
    returned = {c.ret.service for c in chosen}
    for service in plan.services():
        if service not in returned:
            result.statuses.append(ServiceStatus(service, False))
            result.problems.append(Problem("no-return", f"no return from {service} was found in the "
                                           "inbox; its actions keep the master's values.",
                                           service=service))


def report_uncarried(plan_path: Path, plan: Plan, result: MergeResult) -> None:
    """What the central team put on the master that cannot be carried (images, charts, merged
    cells, notes…): said once, the first time, naming the sheet; the master records it."""
    import hashlib

    reported = set((plan.meta.uncarried_reported or "").split())
    carried = [sheet.name for sheet in plan.carried]
    drawings = {name: digest for name, digest in sheets_with_drawings(plan_path).items()
                if name in carried or name == plan.layout.sheet}
    features = plan.uncarried  # found when the master was read
    for name in sorted(set(drawings) | set(features)):
        what = (["images, charts or shapes"] if name in drawings else []) + features.get(name, [])
        digest = hashlib.sha256(f"{name}|{drawings.get(name, '')}|{what}".encode()).hexdigest()[:12]
        if digest in reported:
            continue
        reported.add(digest)
        keeps = ("its actions" if name == plan.layout.sheet
                 else "the sheet's values, formulas and column widths")
        result.problems.append(Problem(
            "sheet-content-lost", f"sheet {name!r} of the master holds {' and '.join(what)}; "
            f"xlplan carries {keeps} only, so these are not in the new master. Keep such items "
            "in a separate workbook (the previous master is kept as a backup). This is said once.",
            file=plan_path.name, sheet=name))
    plan.meta.uncarried_reported = " ".join(sorted(reported)) or None


def keep_backup(plan_path: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = plan_path.with_name(f"{plan_path.stem}.before-merge-{stamp}{plan_path.suffix}")
    number = 1
    while backup.exists():  # two merges in one second must not overwrite the first backup
        number += 1
        backup = plan_path.with_name(f"{plan_path.stem}.before-merge-{stamp}-{number}{plan_path.suffix}")
    try:
        shutil.copy2(plan_path, backup)
    except OSError as exc:
        raise XlplanError(f"Cannot keep a copy of {plan_path} before updating it: "
                          f"{exc.strerror or exc}. Nothing was changed; use -o to write elsewhere.") from exc
    return backup
