"""`xlplan chase`: a draft email to each service that has not returned by the due date, whose
return was refused, or that has overdue actions, saying what is missing, with its workbook
attached again. A person reads and sends them; xlplan sends nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from .checks import CheckedReturn
from .errors import XlplanError
from .excel import display
from .masterread import read_plan
from .plan import Action, Plan
from .problems import Problem, short
from .progress import overdue_since
from .send import write_draft


@dataclass
class Overdue:
    reference: str
    action: str
    due: dt.date


@dataclass
class Chased:
    service: str
    reasons: list[str]
    overdue: list[Overdue]
    to: list[str]
    draft: Path
    attachment: Path | None


@dataclass
class ChaseResult:
    as_of: dt.date
    due: dt.date | None
    chased: list[Chased] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> str:
        import json

        return json.dumps(
            {
                "as_of": self.as_of.isoformat(),
                "due": self.due.isoformat() if self.due else None,
                "services": [
                    {
                        "service": c.service,
                        "reasons": c.reasons,
                        "to": c.to,
                        "draft": str(c.draft),
                        "attachment": str(c.attachment) if c.attachment else None,
                        "overdue": [
                            {"reference": o.reference, "action": o.action, "due": o.due.isoformat()}
                            for o in c.overdue
                        ],
                    }
                    for c in self.chased
                ],
            },
            indent=2,
            ensure_ascii=False,
        )


@dataclass
class Issued:
    """A template in the outbox: the workbook to attach again, and the date it was due."""

    path: Path
    due: dt.date | None


def read_outbox(outbox: Path | None, plan: Plan) -> dict[str, Issued]:
    """Service -> its workbook in the outbox `xlplan template` wrote (this plan's only)."""
    from .masterread import read_metadata
    from .safety_gate import UnreadableWorkbook
    from .workbook import open_workbook

    if outbox is None:
        return {}
    if not outbox.is_dir():
        raise XlplanError(f"Outbox {outbox} is not a folder. Give the folder `xlplan template` wrote.")
    found: dict[str, Issued] = {}
    for path in sorted(outbox.glob("*.xlsx")):
        try:
            meta = read_metadata(open_workbook(path))
        except (UnreadableWorkbook, XlplanError):
            continue
        if meta is None or meta.kind != "template" or meta.plan_id != plan.plan_id or not meta.service:
            continue
        latest = found.get(meta.service)
        if latest is None or path.stat().st_mtime >= latest.path.stat().st_mtime:
            found[meta.service] = Issued(path, meta.due)
    return found


def chase(
    plan_path: Path,
    inbox: list[Path],
    outdir: Path,
    *,
    as_of: dt.date | None = None,
    outbox: Path | None = None,
) -> ChaseResult:
    from .validate import validate

    plan = read_plan(plan_path)
    as_of = as_of or dt.date.today()
    issued = read_outbox(outbox, plan)
    dues = sorted({i.due for i in issued.values() if i.due})
    result = ChaseResult(as_of=as_of, due=dues[-1] if dues else None)
    from .contacts import check_contacts

    result.problems.extend(check_contacts(plan.contacts, plan_path.name))
    validation = validate(inbox, plan=plan, as_of=as_of)
    accepted, refused = _by_service(validation.checked)
    values = _values_with_returns(plan, accepted)
    routes, _ = plan.routes()
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XlplanError(f"Cannot create the output folder {outdir}: {exc.strerror}.") from exc
    from .contacts import contact_for
    from .template import safe_filename

    for service in plan.services():
        mine = [a for a in plan.actions if service in routes[a.id]]
        due = issued[service].due if service in issued else result.due
        reasons: list[str] = []
        if service not in accepted:
            if service in refused:
                item = refused[service]
                first = next((p for p in item.problems if p.is_error), None)
                reasons.append(
                    f"your return {item.ret.path.name} could not be accepted"
                    + (f": {first.message}" if first else "")
                    + " Please send it again."
                )
            elif due is None or as_of > due:
                reasons.append(
                    "we have not received your return"
                    + (f", which was due on {due:%d/%m/%Y}" if due else "")
                    + "."
                )
        overdue = _overdue(plan, mine, values, as_of)
        if overdue:
            reasons.append(f"{len(overdue)} action(s) are past their target date and not complete.")
        if not reasons:
            continue
        contact = contact_for(plan.contacts, service)
        attachment = issued[service].path if service in issued else None
        subject, text = _chase_text(plan, service, reasons, overdue, due, attachment)
        draft = outdir / f"{safe_filename(service)} - reminder.eml"
        table = [
            ("Service", service),
            ("Return by", due.strftime("%d/%m/%Y") if due else "as agreed"),
            ("Overdue actions", str(len(overdue))),
        ]
        if attachment:
            table.append(("Attached", attachment.name))
        written = write_draft(draft, contact, subject, text, table, attachment)
        result.chased.append(Chased(service, reasons, overdue, written.to, draft, attachment))
        if not written.to:
            result.problems.append(
                Problem(
                    "no-address",
                    f"{service} has no email address on the Services sheet; its reminder has an empty To.",
                    service=service,
                    file=draft.name,
                )
            )
    if outbox is not None:
        for chased in result.chased:
            if chased.attachment is None:
                result.problems.append(
                    Problem(
                        "no-workbook-attached",
                        f"no workbook for {chased.service} of this plan in "
                        f"{outbox}; its reminder has nothing attached.",
                        service=chased.service,
                        file=chased.draft.name,
                    )
                )
    return result


def _by_service(checked: list[CheckedReturn]) -> tuple[dict[str, CheckedReturn], dict[str, CheckedReturn]]:
    """Per service, the latest return accepted, and a refused one (when none was accepted)."""
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    accepted: dict[str, CheckedReturn] = {}
    refused: dict[str, CheckedReturn] = {}
    for item in sorted(checked, key=lambda c: (c.ret.saved_at or epoch, c.ret.path.name)):
        service = item.ret.service
        if not service:
            continue
        (refused if item.refused else accepted)[service] = item
    return accepted, refused


def _values_with_returns(plan: Plan, accepted: dict[str, CheckedReturn]) -> dict[str, dict]:
    """Each action's values as they will be once the returns are merged: a service that rated
    an action complete in its return is not chased for it."""
    values = {a.id: dict(a.values) for a in plan.actions}
    for item in accepted.values():
        for edit in item.edits:
            if edit.action_id in values:
                values[edit.action_id][edit.field] = edit.new
    return values


def _overdue(plan: Plan, actions: list[Action], values: dict[str, dict], as_of: dt.date) -> list[Overdue]:
    layout = plan.layout
    if not layout.due_field:
        return []
    found: list[Overdue] = []
    for action in actions:
        own = values[action.id]
        due = overdue_since(own, layout, as_of)  # as the Summary and the checks judge it
        if due is not None:
            found.append(Overdue(plan.ref(action), short(display(own.get(_text_field(plan))), 120), due))
    return found


def _text_field(plan: Plan) -> str:
    """The column that says what the action is: named 'action…' if the layout has one."""
    layout = plan.layout
    others = [c.field for c in layout.columns if c.field not in (layout.reference, layout.route)]
    return next((f for f in others if f.startswith("action")), others[0] if others else layout.reference)


def _chase_text(
    plan: Plan,
    service: str,
    reasons: list[str],
    overdue: list[Overdue],
    due: dt.date | None,
    attachment: Path | None,
) -> tuple[str, str]:
    subject = f"Reminder: {plan.meta.title}, {service} action plan"
    lines = [f"Dear colleagues in {service},", "", f"This is a reminder about the {plan.meta.title}:", ""]
    lines += [f"- {reason}" for reason in reasons]
    if overdue:
        lines += ["", "Actions past their target date:"]
        lines += [f"- {o.reference}: {o.action} (due {o.due:%d/%m/%Y})" for o in overdue]
    lines += [""]
    if attachment:
        lines += [
            "Your workbook is attached again. Please update it (white columns only), save it "
            "as an Excel Workbook (.xlsx) and send it back by replying to this email.",
            "",
        ]
    lines += ["Thank you,", "The central quality team"]
    return subject, "\n".join(lines)
