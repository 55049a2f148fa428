"""Sending, as NHS mail really does it: one draft email per service (`template --drafts`),
opened in Outlook and sent by a person from their own mailbox. xlplan itself sends nothing.

Also keeps the master's Services sheet up to date: a contacts CSV loaded into it, and any
service of the plan missing from it added for the central team to fill in.
"""

from __future__ import annotations

import datetime as dt
import html
import string
from dataclasses import dataclass, field
from pathlib import Path

from .contacts import Contact, check_contacts, contact_for, is_address, updated_contacts
from .csvfile import read_contacts_csv
from .errors import XlplanError
from .plan import Plan
from .problems import Problem

PLACEHOLDERS = {
    "service": "the service's name",
    "plan": "the plan's title",
    "cycle": "the cycle, e.g. 2025-Q1",
    "due": "the return date, e.g. 31/03/2025",
    "actions": "how many actions the service has",
}
DEFAULT_SUBJECT = "{plan}: {service} action plan for cycle {cycle}, please return by {due}"
DEFAULT_MESSAGE = (
    "\n\n".join(
        [
            "Dear colleagues in {service},",
            "Attached is your workbook of the {plan} for cycle {cycle}: {actions} action(s) for {service} "
            "to update.",
            "Please open it in Excel, type only in the white columns (progress, evidence and your rating), "
            "save it as an Excel Workbook (.xlsx), and send it back as an attachment by replying to this "
            "email by {due}. The Guidance sheet in the workbook explains each column.",
            "Please do not add, delete or move rows or sheets, and do not copy the actions into another "
            "workbook: the file carries what is needed to merge it back into the master.",
            "Thank you,\nThe central quality team",
        ]
    )
    + "\n"
)
NO_DUE = "the date agreed with the central team"


@dataclass
class Message:
    """The central team's text for the drafts: a subject line and a body, with placeholders."""

    subject: str = DEFAULT_SUBJECT
    body: str = DEFAULT_MESSAGE

    def fill(self, facts: dict[str, str]) -> tuple[str, str]:
        return (" ".join(self.subject.format_map(facts).split()), self.body.format_map(facts))


def load_message(path: Path | None) -> Message:
    """`--message FILE`: the body text; a first line 'Subject: …' replaces the subject too."""
    if path is None:
        return Message()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_bytes().decode("cp1252", "replace")
    except OSError as exc:
        raise XlplanError(f"Cannot read the message file {path}: {exc.strerror or exc}.") from exc
    message = Message(body=text.replace("\r\n", "\n"))
    first, _, rest = message.body.partition("\n")
    if first.lower().startswith("subject:"):
        message = Message(subject=first.split(":", 1)[1].strip() or DEFAULT_SUBJECT, body=rest.lstrip("\n"))
    for part in (message.subject, message.body):
        _check_placeholders(part, path)
    return message


def _check_placeholders(text: str, path: Path) -> None:
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise XlplanError(
            f"Message file {path}: a '{{' or '}}' does not close ({exc}). Placeholders "
            f"are {allowed}; write {{{{ or }}}} for a brace itself."
        ) from exc
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        raise XlplanError(
            f"Message file {path}: unknown placeholder(s) "
            + ", ".join("{" + n + "}" for n in unknown)
            + f". Use {allowed}."
        )


def facts_for(plan_title: str, service: str, cycle: str, due: dt.date | None, actions: int) -> dict[str, str]:
    return {
        "service": service,
        "plan": plan_title,
        "cycle": cycle,
        "due": due.strftime("%d/%m/%Y") if due else NO_DUE,
        "actions": str(actions),
    }


def html_body(text: str, facts: list[tuple[str, str]]) -> str:
    """The body as HTML a mail program shows: the text's paragraphs, then a small table of facts."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    body = "\n".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    rows = "\n".join(
        f'<tr><th style="text-align:left;padding:4px 12px 4px 0;color:#505050;font-weight:normal">'
        f'{html.escape(label)}</th><td style="padding:4px 0"><b>{html.escape(value)}</b></td></tr>'
        for label, value in facts
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        '<body style="font-family:Calibri,Arial,sans-serif;font-size:11pt;color:#1f1f1f">\n'
        f"{body}\n"
        '<table style="border-collapse:collapse;margin-top:12px;border-top:2px solid #005eb8">\n'
        f"{rows}\n</table>\n</body></html>\n"
    )


@dataclass
class Draft:
    service: str
    path: Path
    to: list[str]
    cc: list[str]
    subject: str
    attachment: Path | None


def write_draft(
    path: Path,
    contact: Contact,
    subject: str,
    text: str,
    facts: list[tuple[str, str]],
    attachment: Path | None,
) -> Draft:
    from .mail import build_draft
    from .masterbook import atomic_write

    # An address not of the form name@domain is left out (and listed as bad-address):
    # a person adds the right one in Outlook, rather than the draft failing to open.
    to, cc = usable(contact.to), usable(contact.cc)
    data = build_draft(
        to=to, cc=cc, subject=subject, text=text, html=html_body(text, facts), attachment=attachment
    )
    atomic_write(path, lambda target: target.write_bytes(data))
    return Draft(contact.service, path, to, cc, subject, attachment)


def usable(addresses: list[str]) -> list[str]:
    return [a for a in addresses if is_address(a)]


def write_drafts(plan: Plan, issued, message: Message) -> tuple[list[Draft], list[Problem]]:
    """One draft beside each issued workbook (`issued` is template.TemplateResult)."""
    drafts: list[Draft] = []
    problems: list[Problem] = []
    for item in issued.files:
        contact = contact_for(plan.contacts, item.service)
        facts = facts_for(plan.meta.title, item.service, issued.cycle, issued.due, item.actions)
        subject, text = message.fill(facts)
        table = [
            ("Service", item.service),
            ("Cycle", issued.cycle),
            ("Return by", facts["due"]),
            ("Your actions", facts["actions"]),
            ("Attached", item.path.name),
        ]
        drafts.append(write_draft(item.path.with_suffix(".eml"), contact, subject, text, table, item.path))
        if not usable(contact.to):
            problems.append(
                Problem(
                    "no-address",
                    f"{item.service} has no email address on the "
                    "Services sheet; its draft has an empty To. Add the address "
                    "there (or with --contacts) for next time.",
                    service=item.service,
                    file=item.path.with_suffix(".eml").name,
                )
            )
    return drafts, problems


@dataclass
class ServicesUpdate:
    plan: Plan
    added: list[str] = field(default_factory=list)
    loaded: int = 0
    written: bool = False
    backup: Path | None = None
    problems: list[Problem] = field(default_factory=list)
    not_written: str = ""  # why the missing services could not be added to the master
    # The master's file_state when `plan` was read from it, if `plan` is still what it holds.
    read_from: tuple[int, ...] | None = None


def update_services(
    plan_path: Path, contacts_csv: Path | None = None, *, keep_backup: bool = True
) -> ServicesUpdate:
    """Load `contacts_csv` into the master's Services sheet and add any service missing from
    it. The master is locked and rewritten only when something changed (the previous one
    kept), so issuing from a master on a read-only share still works."""
    from .masterbook import plan_lock, write_master
    from .masterread import file_state, read_plan

    loaded = read_contacts_csv(contacts_csv) if contacts_csv else []
    before = file_state(plan_path)
    update = _services_update(read_plan(plan_path, lazy_log=True), loaded)
    update.problems = check_contacts(update.plan.contacts, plan_path.name)
    if not update.written:
        update.read_from = before
        return update
    try:
        with plan_lock(plan_path):
            fresh = _services_update(read_plan(plan_path, lazy_log=True), loaded)
            fresh.problems = update.problems
            if keep_backup:
                from .masterbook import keep_backup as backup

                fresh.backup = backup(plan_path)
            write_master(fresh.plan, plan_path)
            return fresh
    except XlplanError as exc:
        if contacts_csv:
            raise  # asked for: say so and stop
        # Only adding empty rows for new services: not worth stopping the issue for.
        update.written, update.not_written = False, exc.message
        return update


def _services_update(plan: Plan, loaded: list[Contact]) -> ServicesUpdate:
    """The plan with its contacts updated in memory; `written` says whether they changed."""
    before = [c.row() for c in plan.contacts]
    contacts, added = updated_contacts(plan.contacts, plan.services(), loaded)
    plan.contacts = contacts
    return ServicesUpdate(
        plan, added=added, loaded=len(loaded), written=[c.row() for c in contacts] != before
    )
