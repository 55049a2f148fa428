"""`xlplan merge`: apply every service's latest return to the master, three-way, and say
what changed, what was refused and who has not returned."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from .central import audit_central_edits
from .check_cells import Edit, same
from .check_rules import check_master
from .checks import CheckedReturn
from .cycle import MergedReturn
from .errors import XlplanError
from .excel import CellValue, display
from .mail import received
from .masterbook import keep_backup, plan_lock, write_master
from .masterread import read_plan, require_plan
from .outcome import Change, MergeResult, ServiceStatus
from .plan import UNASSIGNED, Action, Plan, now
from .problems import Problem, Severity
from .proposals import decide_proposals, rejected_proposals, report_pending_proposals
from .record import cell_digest
from .service_return import ServiceReturn
from .sheet_features import sheets_with_drawings
from .validate import validate

# The result types are defined in the core (outcome.py), so the writers need not import
# this verb; they are re-exported here, where callers of merge() look for them.
__all__ = ["Change", "MergeResult", "ServiceStatus", "merge"]


def merge(
    plan_path: Path,
    inbox: list[Path],
    *,
    output: Path | None = None,
    as_of: dt.date | None = None,
    progress: Callable[[Path, int, int], None] | None = None,
    accept_cycle: str | None = None,
) -> MergeResult:
    plan_path = require_plan(plan_path)  # before the lock, which is made beside it
    target = Path(output) if output else plan_path
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise XlplanError(
            f"Cannot write {target}: the folder {folder} does not exist. Create it or choose another -o."
        )
    with plan_lock(target) as lock_notice:
        plan = read_plan(plan_path, lazy_log=True)
        as_of = as_of or dt.date.today()
        validation = validate(inbox, plan=plan, as_of=as_of, progress=progress, accept_cycle=accept_cycle)
        result = MergeResult(plan=plan, output=target, cycle="", merged_at=now(), as_of=as_of)
        if lock_notice:
            result.problems.append(Problem("stale-lock", lock_notice, file=target.name))
        result.problems.extend(plan.read_problems)
        result.problems.extend(p for p in validation.skipped if p.severity != Severity.INFO)
        result.returns_read = len(validation.checked)
        chosen = choose_latest(validation.checked, result)
        result.cycle = current_cycle(plan, chosen, result.merged_at)
        plan.meta.cycle = result.cycle
        stamp = result.merged_at.strftime("%Y-%m-%d %H:%M")
        plan.log.extend(audit_central_edits(plan, result.cycle, stamp))
        decide_proposals(plan, result, stamp)
        fresh = skip_merged_before(plan, chosen, result)
        by_id = plan.by_id()
        proposed = {(a.proposed_by, a.proposal_key) for a in plan.actions if a.proposal_key}
        proposed |= rejected_proposals(plan)
        for checked in fresh:
            apply_return(plan, checked, result, by_id, proposed)
        remember_returns(plan, validation.checked, fresh, result, stamp)
        report_missing(plan, chosen, [c for c in validation.checked if c.refused], result)
        report_pending_proposals(plan, result)
        result.problems.extend(check_master(plan))
        report_uncarried(plan_path, plan, result)
        # The master keeps the central team's row order (sorted by lead, by theme, ...);
        # proposals were appended at the end, tinted, for the team to move where they belong.
        if output is None:
            result.backup = keep_backup(plan_path)
        write_master(plan, target, result)
    return result


def current_cycle(plan: Plan, chosen: list[CheckedReturn], moment: dt.datetime) -> str:
    """The cycle this merge belongs to: the one the master last issued; for a master issued
    before it recorded its cycle, the cycle most of the returns name. Never a list."""
    if plan.meta.cycle:
        return plan.meta.cycle
    named = Counter(c.ret.cycle for c in chosen if c.ret.cycle)
    return named.most_common(1)[0][0] if named else moment.strftime("%Y-%m")


def skip_merged_before(plan: Plan, chosen: list[CheckedReturn], result: MergeResult) -> list[CheckedReturn]:
    """The chosen returns not already merged this cycle: a file merged before (by its content,
    whatever its name) changes nothing when the inbox is merged again."""
    done = {(m.service, m.content): m for m in plan.applied_in(result.cycle)}
    fresh = []
    for checked in chosen:
        earlier = done.get((checked.ret.service, checked.ret.content))
        if earlier is None or not checked.ret.content:
            fresh.append(checked)
            continue
        result.statuses.append(
            ServiceStatus(
                checked.ret.service or UNASSIGNED, True, checked.ret.path.name, checked.ret.saved_at
            )
        )
        result.problems.append(
            Problem(
                "already-merged",
                f"this file was merged on {earlier.merged_at} (as {earlier.file}); "
                "nothing in it is new, so nothing was changed.",
                file=checked.ret.path.name,
                service=checked.ret.service,
            )
        )
    return fresh


def remember_returns(
    plan: Plan, checked: list[CheckedReturn], applied: list[CheckedReturn], result: MergeResult, stamp: str
) -> None:
    """What this merge did with each return, kept in the master for the rest of the cycle."""
    applied_ids = {id(c) for c in applied}
    superseded = {p.file for p in result.problems if p.code == "superseded"}
    for item in checked:
        ret = item.ret
        if not ret.service or not ret.content:
            continue
        outcome = (
            "applied"
            if id(item) in applied_ids
            else "refused"
            if item.refused
            else "superseded"
            if ret.path.name in superseded
            else ""
        )
        if outcome:
            saved = ret.saved_at.strftime("%Y-%m-%d %H:%M") if ret.saved_at else ""
            plan.merged.append(
                MergedReturn(result.cycle, ret.service, ret.path.name, ret.content, saved, stamp, outcome)
            )


def choose_latest(checked: list[CheckedReturn], result: MergeResult) -> list[CheckedReturn]:
    """Per service, the return saved last; the others are listed as superseded (what was wrong
    in them no longer counts: only the applied version's problems are listed)."""
    by_service: dict[str, list[CheckedReturn]] = {}
    for item in checked:
        if item.refused or item.ret.service is None:
            result.problems.extend(item.problems)
            continue
        by_service.setdefault(item.ret.service, []).append(item)
    chosen: list[CheckedReturn] = []
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    for service, items in by_service.items():
        # Saved in the same second (the time a workbook records): the file written last wins.
        items.sort(key=lambda c: (c.ret.saved_at or epoch, _mtime(c.ret.path), c.ret.path.name))
        latest = items[-1]
        for older in items[:-1]:
            result.problems.append(
                Problem(
                    "superseded",
                    f"{service} sent a later return, {latest.ret.path.name} (saved "
                    f"{_stamp(latest.ret.saved_at)}); this one (saved {_stamp(older.ret.saved_at)}) was "
                    "not applied.",
                    file=older.ret.path.name,
                    service=service,
                )
            )
        result.problems.extend(latest.problems)
        chosen.append(latest)
    chosen.sort(key=lambda c: (c.ret.saved_at or epoch, c.ret.path.name))
    return chosen


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _stamp(moment: dt.datetime | None) -> str:
    return moment.strftime("%d/%m/%Y %H:%M") if moment else "at an unknown time"


def apply_return(
    plan: Plan,
    checked: CheckedReturn,
    result: MergeResult,
    by_id: dict[str, Action],
    proposed: set[tuple[str | None, str | None]],
) -> None:
    """Three-way: a cell the service changed since issue is applied; one it left alone keeps
    what the master holds now, so central edits made after issue are never reverted."""
    ret = checked.ret
    service = ret.service or UNASSIGNED
    origin = received(ret.path)
    result.statuses.append(
        ServiceStatus(
            service,
            True,
            ret.path.name,
            ret.saved_at,
            origin.sender if origin else None,
            origin.sent_at if origin else None,
        )
    )
    source = ret.path.name + (origin.note() if origin else "")  # Changes say who sent it, when
    for edit in checked.edits:
        _apply_edit(plan, edit, ret, service, source, result, by_id)
    _add_proposals(plan, checked, service, source, result, by_id, proposed)


def _apply_edit(
    plan: Plan,
    edit: Edit,
    ret: ServiceReturn,
    service: str,
    source: str,
    result: MergeResult,
    by_id: dict[str, Action],
) -> None:
    """One checked edit into the master, as a change or (both sides changed it) a conflict."""
    action = by_id.get(edit.action_id)
    if action is not None and edit.master_changed is None:
        action = plan.part_for(action, service)
    column = plan.layout.column(edit.field)
    if action is None:
        result.problems.append(
            Problem(
                "unknown-action",
                f"action {edit.action or edit.action_id} was removed from the "
                "master after issue; the service's edit to it was not applied.",
                file=ret.path.name,
                service=service,
                action=edit.action,
                column=column.header,
                cell=edit.cell,
            )
        )
        return
    current = action.get(edit.field)
    if same(current, edit.new):
        return
    ref = plan.ref(action)
    kind, note = _kind(edit, current, result.changed_cells.get((action.id, edit.field)))
    if kind == "conflict":
        result.problems.append(
            Problem(
                "conflict",
                f"both changed this cell: {note}; {service}'s value was applied and "
                f"the other is kept in the cell's note. Check which is right.",
                file=ret.path.name,
                service=service,
                action=ref,
                column=column.header,
                cell=edit.cell,
                value=display(edit.new)[:200],
            )
        )
    change = Change(
        action.id, ref, edit.field, column.header, current, edit.new, service, source, ret.saved_at, kind
    )
    action.values[edit.field] = edit.new
    # A second version from the service is judged against what this one applied: a cell
    # it leaves keeps this value, a cell it sets back to the issued value is reverted.
    issued = plan.record.rows.get(action.id)
    if issued is not None and issued.service == service and edit.field in issued.cells:
        issued.cells[edit.field] = cell_digest(edit.new)
    result.changes.append(change)
    result.changed_cells[(action.id, edit.field)] = change


def _kind(edit: Edit, current: CellValue, earlier: Change | None) -> tuple[str, str]:
    """A change, or a conflict and why: another return changed the cell in this merge, or the
    master changed it since issue."""
    if earlier is not None:
        return (
            "conflict",
            f"{earlier.service} ({earlier.file}) set it to {display(earlier.new)!r} in this merge",
        )
    if edit.master_changed is False or (edit.master_changed is None and same(current, edit.old)):
        return "change", ""
    return "conflict", f"the master was changed since issue, to {display(current)!r}"


def _add_proposals(
    plan: Plan,
    checked: CheckedReturn,
    service: str,
    source: str,
    result: MergeResult,
    by_id: dict[str, Action],
    proposed: set[tuple[str | None, str | None]],
) -> None:
    """The return's proposed actions added to the plan, flagged, once each."""
    ret = checked.ret
    for proposal in checked.proposals:
        key = f"{ret.cycle or ''} {proposal.action_id}".strip()
        if (service, key) in proposed:
            continue  # added by an earlier merge of this same return
        proposed.add((service, key))
        action = Action(id=plan.new_id(), values=dict(proposal.values), proposed_by=service, proposal_key=key)
        if not display(action.get(plan.layout.route)).strip():
            action.values[plan.layout.route] = service
        plan.actions.append(action)
        by_id[action.id] = action
        result.changes.append(
            Change(
                action.id,
                plan.ref(action),
                plan.layout.reference,
                "(proposed action)",
                None,
                display(action.get(plan.layout.reference)),
                service,
                source,
                ret.saved_at,
                "proposed",
            )
        )


def report_missing(
    plan: Plan, chosen: list[CheckedReturn], refused: list[CheckedReturn], result: MergeResult
) -> None:
    returned = {c.ret.service for c in chosen}
    for earlier in plan.applied_in(result.cycle):  # merged earlier this cycle: returned, with that file
        if earlier.service not in returned:
            returned.add(earlier.service)
            saved = dt.datetime.strptime(earlier.saved_at, "%Y-%m-%d %H:%M") if earlier.saved_at else None
            result.statuses.append(ServiceStatus(earlier.service, True, earlier.file, saved))
    refused_files = {}
    for item in refused:
        if item.ret.service:
            refused_files.setdefault(item.ret.service, []).append(item.ret.path.name)
    for service in plan.services():
        if service not in returned:
            result.statuses.append(ServiceStatus(service, False))
            if service in refused_files:
                message = (
                    f"{service}'s return ({', '.join(refused_files[service])}) was refused whole "
                    "(see its error); its actions keep the master's values. Ask for a corrected "
                    "return."
                )
            else:
                message = (
                    f"no return from {service} was found in the inbox; its actions keep the master's values."
                )
            result.problems.append(Problem("no-return", message, service=service))


def report_uncarried(plan_path: Path, plan: Plan, result: MergeResult) -> None:
    """What the central team put on the master that cannot be carried (images, charts, merged
    cells, notes…): said once, the first time, naming the sheet; the master records it."""
    import hashlib

    reported = set((plan.meta.uncarried_reported or "").split())
    carried = [sheet.name for sheet in plan.carried]
    drawings = {
        name: digest
        for name, digest in sheets_with_drawings(plan_path).items()
        if name in carried or name == plan.layout.sheet
    }
    features = plan.uncarried  # found when the master was read
    for name in sorted(set(drawings) | set(features)):
        what = (["images, charts or shapes"] if name in drawings else []) + features.get(name, [])
        digest = hashlib.sha256(f"{name}|{drawings.get(name, '')}|{what}".encode()).hexdigest()[:12]
        if digest in reported:
            continue
        reported.add(digest)
        keeps = (
            "its actions" if name == plan.layout.sheet else "the sheet's values, formulas and column widths"
        )
        result.problems.append(
            Problem(
                "sheet-content-lost",
                f"sheet {name!r} of the master holds {' and '.join(what)}; "
                f"xlplan carries {keeps} only, so these are not in the new master. Keep such items "
                "in a separate workbook (the previous master is kept as a backup). This is said once.",
                file=plan_path.name,
                sheet=name,
            )
        )
    plan.meta.uncarried_reported = " ".join(sorted(reported)) or None
