"""Who receives each service's workbook: the Services sheet of the master.

The central team fills it in (or loads it with `--contacts FILE.csv`); `new`, `import` and
`template` add any service of the plan that is missing from it. Addresses are checked for
form only: xlplan sends nothing, a person does, from their own mailbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .excel import CellValue, display
from .problems import Problem

SERVICES_SHEET = "Services"
SERVICES_HEADERS = ["Service", "Contact names", "Email addresses", "Cc"]
SERVICES_TITLE = "Services: who receives each service's workbook"
SERVICES_NOTES = [
    "Fill in the addresses; separate several with ';'. `xlplan template --drafts` "
    "writes one email per service to these addresses (a person sends it)."
]
SERVICES_WIDTHS = [24, 30, 48, 40]
# Addresses in a cell: "a@x.nhs.uk; b@x.nhs.uk", "Jane Doe <jane@x.nhs.uk>", one per line.
_SEPARATORS = re.compile(r"[;,\n]+")
# The form an address must have; deliverability is the mail server's business.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


@dataclass
class Contact:
    service: str
    names: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)

    def row(self) -> list[CellValue]:
        return [self.service, self.names or None, "; ".join(self.to) or None, "; ".join(self.cc) or None]

    def knows(self, address: str) -> bool:
        wanted = address.strip().lower()
        return any(a.lower() == wanted for a in (*self.to, *self.cc))


def split_addresses(text: str) -> list[str]:
    """The addresses in a cell, as typed ('Jane <jane@x>' gives 'jane@x')."""
    found: list[str] = []
    for part in _SEPARATORS.split(text or ""):
        part = part.strip()
        match = re.search(r"<([^<>]*)>", part)
        address = (match[1] if match else part).strip().strip("'\"")
        if address:
            found.append(address)
    return found


def is_address(text: str) -> bool:
    return bool(_ADDRESS.match(text)) and ".." not in text and len(text) <= 254


def check_contacts(contacts: list[Contact], source: str) -> list[Problem]:
    """Addresses not of the form name@domain; services with no address to send to."""
    problems: list[Problem] = []
    for contact in contacts:
        for column, addresses in (("Email addresses", contact.to), ("Cc", contact.cc)):
            for address in addresses:
                if not is_address(address):
                    problems.append(
                        Problem(
                            "bad-address",
                            f"{address!r} is not an email address (name@domain); "
                            f"correct it on the {SERVICES_SHEET} sheet.",
                            file=source,
                            sheet=SERVICES_SHEET,
                            column=column,
                            service=contact.service,
                            value=address[:200],
                        )
                    )
    return problems


def parse_services(rows: list[list[CellValue]]) -> list[Contact]:
    """The Services sheet (or a contacts CSV) as contacts; the header row may be below a title."""
    wanted = [h.lower() for h in SERVICES_HEADERS]
    start = next(
        (
            i
            for i, r in enumerate(rows[:20])
            if r and display(r[0]).strip().lower() in ("service", "services")
        ),
        None,
    )
    if start is None:
        return []
    header = [display(c).strip().lower() for c in rows[start]]
    index = {name: _column(header, name) for name in wanted}
    contacts: dict[str, Contact] = {}

    def get(row: list[CellValue], name: str) -> str:
        col = index.get(name)
        return display(row[col]).strip() if col is not None and col < len(row) else ""

    for row in rows[start + 1 :]:
        service = get(row, "service")
        if not service:
            continue
        contact = contacts.setdefault(service, Contact(service))
        contact.names = "; ".join(n for n in (contact.names, get(row, "contact names")) if n)
        contact.to += [a for a in split_addresses(get(row, "email addresses")) if a not in contact.to]
        contact.cc += [a for a in split_addresses(get(row, "cc")) if a not in contact.cc]
    return list(contacts.values())


def _column(header: list[str], name: str) -> int | None:
    """A column by its header; a CSV may say 'Email', 'Emails', 'To' or 'Contact'."""
    aliases = {
        "service": ["service", "services"],
        "contact names": ["contact names", "contact name", "contacts", "contact", "name", "names"],
        "email addresses": [
            "email addresses",
            "email address",
            "email",
            "emails",
            "e-mail",
            "to",
            "addresses",
            "address",
        ],
        "cc": ["cc", "copy to", "copy"],
    }[name]
    return next((header.index(a) for a in aliases if a in header), None)


def updated_contacts(
    current: list[Contact], services: list[str], loaded: list[Contact] | None = None
) -> tuple[list[Contact], list[str]]:
    """The contacts with `loaded` taking the place of a service's row, and any service of the
    plan missing from them added (empty, for the central team to fill in); and what was added."""
    by_name = {c.service.lower(): c for c in current}
    order = [c.service.lower() for c in current]
    for contact in loaded or []:
        key = contact.service.lower()
        if key not in by_name:
            order.append(key)
        by_name[key] = contact
    added: list[str] = []
    for service in services:
        if service.lower() not in by_name:
            by_name[service.lower()] = Contact(service)
            order.append(service.lower())
            added.append(service)
    return [by_name[key] for key in order], added


def contact_for(contacts: list[Contact], service: str) -> Contact:
    wanted = service.lower()
    return next((c for c in contacts if c.service.lower() == wanted), Contact(service))
