"""Emails, both ways: drafts to send (.eml with X-Unsent, opened and sent by a person), and
returns that come back as saved emails (.eml, Outlook .msg) or a .zip of them.

A saved email is never a return itself: its spreadsheet attachments are. They are unpacked
into a private temporary folder under a name that says where they came from
("reply.eml » Corporate.xlsx"), and from there they go through exactly the same safety gate,
checks and merge as a workbook in the inbox folder. Everything here is bounded by the named
limits below (and those of one email, in saved_email.py) before it is unpacked, so a hostile
email costs a refusal, not the machine.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .problems import Problem, skipped_file
from .safety_gate import MAX_RATIO, WORKBOOK_SUFFIXES
from .saved_email import (
    MAIL_SUFFIXES,
    MAX_ATTACHMENT_BYTES,
    MAX_EMAIL_BYTES,
    MIME_TYPES,
    Letter,
    Refused,
    read_eml,
    read_msg,
)

# Limits: what one saved email or zip in an inbox may hold before it is refused (one email's
# own, and what it is read into, are in saved_email.py).
MAX_NESTING = 3  # an email forwarded inside an email inside an email, and no deeper
MAX_ZIP_BYTES = 1 * 2**30  # one .zip of returns, as it lies in the inbox
MAX_ZIP_MEMBERS = 1_000  # files in one .zip of returns
MAX_ZIP_UNPACKED = 1 * 2**30  # what one .zip of returns unpacks to, all members together
MAX_FILES_TAKEN = 500  # workbooks taken out of one inbox file, at every level
SEPARATOR = " » "  # "reply.eml » Corporate.xlsx": the attachment, and the email it came in


@dataclass(frozen=True)
class Received:
    """Where an unpacked workbook came from: the inbox file, and who sent the email when."""

    shown: str  # the inbox folder and the unpacked name, as messages show it
    sender: str | None = None  # "Jane Doe <jane.doe@nhs.net>"
    address: str | None = None  # "jane.doe@nhs.net"
    sent_at: dt.datetime | None = None

    def note(self) -> str:
        """ ", returned by Jane Doe <jane.doe@nhs.net> on 03/03/2025 10:15", or ""."""
        if not self.sender and not self.sent_at:
            return ""
        who = f" by {self.sender}" if self.sender else ""
        when = f" on {self.sent_at:%d/%m/%Y %H:%M}" if self.sent_at else ""
        return f", returned{who}{when}"


# Unpacked path -> where it came from. Filled while the inbox is listed (before any worker
# is forked, so workers see it too); the folders are removed when xlplan exits.
_RECEIVED: dict[str, Received] = {}


def received(path: Path) -> Received | None:
    return _RECEIVED.get(str(path))


def shown_path(path: Path) -> str:
    """How to name a return to a person: an unpacked attachment by its email, not a temp path."""
    origin = _RECEIVED.get(str(path))
    return origin.shown if origin else str(path)


def check_sender(ret, plan) -> list[Problem]:
    """A return that came by email from an address not among its service's contacts.

    Only said when the Services sheet lists someone for the service: with nobody listed,
    every sender would be a stranger."""
    origin = received(ret.path)
    if origin is None or not origin.address or plan is None or not ret.service:
        return []
    from .contacts import contact_for

    contact = contact_for(plan.contacts, ret.service)
    if not (contact.to or contact.cc) or contact.knows(origin.address):
        return []
    return [
        Problem(
            "unknown-sender",
            f"sent by {origin.sender}, who is not among {ret.service}'s "
            f"contacts on the Services sheet ({'; '.join(contact.to + contact.cc)}). Check "
            "that the return is genuine, or add the address to the Services sheet.",
            file=ret.path.name,
            service=ret.service,
            value=origin.address,
        )
    ]


# --- reading an inbox file -----------------------------------------------------------------


@dataclass
class _Unpacking:
    source: Path
    folder: Path | None = None
    taken: int = 0
    files: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def problem(self, code: str, name: str, message: str, severity: str | None = None) -> None:
        self.problems.append(Problem(code, message, file=name, severity=severity))

    def keep(self, name: str, data: bytes, origin: Letter | None) -> None:
        if self.taken >= MAX_FILES_TAKEN:
            raise Refused(f"holds more than {MAX_FILES_TAKEN} workbooks; the rest were not read.")
        self.taken += 1
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="xlplan-mail-"))
            atexit.register(shutil.rmtree, self.folder, True)
        shown = _unique(_file_name(name), self.names)
        path = self.folder / shown
        path.write_bytes(data)
        if origin is not None and origin.sent_at is not None:
            # A workbook with no save time of its own is dated by the email, not by unpacking.
            stamp = origin.sent_at.timestamp()
            os.utime(path, (stamp, stamp))
        _RECEIVED[str(path)] = Received(
            shown=str(self.source.parent / shown) if str(self.source.parent) != "." else shown,
            sender=origin.sender if origin else None,
            address=origin.address if origin else None,
            sent_at=origin.sent_at if origin else None,
        )
        self.files.append(path)


def unpack_inbox_file(path: Path) -> tuple[list[Path], list[Problem]]:
    """The workbooks in a saved email or zip, unpacked; and what was refused or had none."""
    job = _Unpacking(path)
    try:
        size = path.stat().st_size
        limit = MAX_ZIP_BYTES if path.suffix.lower() == ".zip" else MAX_EMAIL_BYTES
        if size > limit:
            raise Refused(
                f"the file is {size / 2**20:,.0f} MB; an inbox email or zip may be at most "
                f"{limit / 2**20:,.0f} MB. Save the attachments and give those instead."
            )
        _unpack(job, path.name, path, depth=0, origin=None)
    except Refused as exc:
        job.problem("mail-refused", path.name, exc.message)
    except OSError as exc:
        job.problem("mail-refused", path.name, f"cannot read the file: {exc.strerror or exc}.")
    return job.files, job.problems


def _unpack(job: _Unpacking, name: str, source: Path | bytes, depth: int, origin: Letter | None) -> None:
    """One inbox file or attachment: a workbook is kept, an email or zip is opened."""
    suffix = Path(name.rsplit(SEPARATOR, 1)[-1]).suffix.lower()
    if depth > MAX_NESTING:
        job.problem(
            "mail-refused",
            name,
            f"an email or zip nested more than {MAX_NESTING} deep; "
            "not opened. Forward the original email instead.",
        )
        return
    if suffix == ".zip":
        _unpack_zip(job, name, source, depth, origin)
        return
    if suffix in (".eml", ".msg"):
        try:
            letter = read_msg(source) if suffix == ".msg" else read_eml(source)
        except Refused as exc:
            job.problem("mail-refused", name, exc.message)
            return
        _take_letter(job, name, letter, depth)
        return
    if isinstance(source, Path):
        source = source.read_bytes()
    job.keep(name, source, origin)


def _take_letter(job: _Unpacking, name: str, letter: Letter, depth: int) -> None:
    for problem in letter.problems:
        job.problem("mail-refused", name, problem)
    before, reported = job.taken, len(job.problems)
    for file_name, data in letter.files:
        suffix = Path(file_name).suffix.lower()
        if suffix in WORKBOOK_SUFFIXES or suffix in (".zip", ".eml", ".msg"):
            _unpack(job, name + SEPARATOR + file_name, data, depth + 1, letter)
    for inner_name, inner in letter.emails:
        try:
            inner_letter = read_eml(inner) if not isinstance(inner, Letter) else inner
        except Refused as exc:
            job.problem("mail-refused", name + SEPARATOR + inner_name, exc.message)
            continue
        if depth + 1 > MAX_NESTING:
            job.problem(
                "mail-refused",
                name + SEPARATOR + inner_name,
                "an email forwarded more "
                f"than {MAX_NESTING} deep; not opened. Forward the original email instead.",
            )
            continue
        _take_letter(job, name + SEPARATOR + inner_name, inner_letter, depth + 1)
    if job.taken == before and depth == 0 and not letter.problems and len(job.problems) == reported:
        if letter.rich_text:
            job.problem(
                "no-workbook-attached",
                name,
                "the email was sent in Outlook's rich text "
                "format: its attachments are inside winmail.dat, which xlplan cannot open. "
                "Ask the sender to send it again as HTML (Format Text > HTML in Outlook).",
            )
        else:
            job.problem(
                "no-workbook-attached",
                name,
                "the email has no workbook attached "
                "(.xlsx, .xlsm, .ods or .xls); nothing to read. Ask the sender to attach "
                "the workbook they were sent.",
            )


def _unpack_zip(job: _Unpacking, name: str, source: Path | bytes, depth: int, origin: Letter | None) -> None:
    import io

    try:
        with zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > MAX_ZIP_MEMBERS:
                raise Refused(
                    f"the zip holds {len(members):,} files (limit {MAX_ZIP_MEMBERS:,}): refused unread."
                )
            total = sum(m.file_size for m in members)
            if total > MAX_ZIP_UNPACKED:
                raise Refused(
                    f"the zip unpacks to {total / 2**20:,.0f} MB (limit "
                    f"{MAX_ZIP_UNPACKED / 2**20:,.0f} MB): refused unread, as a zip bomb would be."
                )
            found = 0
            for member in members:
                base = member.filename.rsplit("/", 1)[-1]
                inner = name + SEPARATOR + base
                suffix = Path(base).suffix.lower()
                if base.startswith((".", "~$")) or member.filename.startswith("__MACOSX/"):
                    continue
                if suffix not in WORKBOOK_SUFFIXES and suffix not in MAIL_SUFFIXES:
                    kind = suffix or "no extension"
                    job.problems.append(skipped_file(inner, f"not a workbook or email ({kind})."))
                    continue
                found += 1
                if member.file_size > MAX_ATTACHMENT_BYTES:
                    job.problem(
                        "too-large",
                        inner,
                        f"{member.file_size / 2**20:,.0f} MB unpacked; a "
                        f"return may be at most {MAX_ATTACHMENT_BYTES / 2**20:,.0f} MB. Not read.",
                    )
                    continue
                ratio = member.file_size // max(member.compress_size, 1)
                if member.file_size > 2**20 and ratio > MAX_RATIO:
                    job.problem(
                        "too-large", inner, f"compressed {ratio}:1, as only a zip bomb is: refused unread."
                    )
                    continue
                with archive.open(member) as stream:
                    data = stream.read(MAX_ATTACHMENT_BYTES + 1)
                if len(data) > MAX_ATTACHMENT_BYTES:  # the directory lied about the size
                    job.problem("too-large", inner, "larger unpacked than its zip says: refused.")
                    continue
                _unpack(job, inner, data, depth + 1, origin)
            if not found and depth == 0:
                job.problem(
                    "no-workbook-attached", name, "the zip holds no workbook or email; nothing to read."
                )
    except Refused:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression.
        job.problem(
            "mail-refused",
            name,
            f"the zip is damaged, encrypted or uses a compression "
            f"xlplan cannot read ({type(exc).__name__}). Zip the returns again, without a password.",
        )


def _file_name(name: str) -> str:
    """A name the file system takes for an unpacked file, still saying where it came from."""
    text = re.sub(r'[<>"/\\|?*\x00-\x1f]', "-", name.replace(":", "")).strip(" .") or "attachment"
    if len(text) > 180:  # keep the end, which says what the file is
        text = "…" + text[-179:]
    return text


def _unique(name: str, taken: set[str]) -> str:
    stem, suffix = os.path.splitext(name)
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{stem} ({number}){suffix}"
    taken.add(candidate.lower())
    return candidate


# --- drafts --------------------------------------------------------------------------------


def build_draft(
    *, to: list[str], cc: list[str], subject: str, text: str, html: str, attachment: Path | None
) -> bytes:
    """A standard .eml that Outlook opens as an unsent draft (X-Unsent: 1): To, Cc, subject,
    a plain text and an HTML body, and the workbook attached with its proper MIME type.
    No From and no Date: the person who sends it, from their own mailbox, gives both."""
    from email import policy
    from email.message import EmailMessage

    message = EmailMessage(policy=policy.SMTP)  # CRLF line ends, as saved emails have
    message["X-Unsent"] = "1"
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if attachment is not None:
        maintype, subtype = MIME_TYPES.get(attachment.suffix.lower(), ("application", "octet-stream"))
        message.add_attachment(
            attachment.read_bytes(), maintype=maintype, subtype=subtype, filename=attachment.name
        )
    return message.as_bytes()
