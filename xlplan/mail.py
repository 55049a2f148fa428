"""Emails, both ways: drafts to send (.eml with X-Unsent, opened and sent by a person), and
returns that come back as saved emails (.eml, Outlook .msg) or a .zip of them.

A saved email is never a return itself: its spreadsheet attachments are. They are unpacked
into a private temporary folder under a name that says where they came from
("reply.eml » Corporate.xlsx"), and from there they go through exactly the same safety gate,
checks and merge as a workbook in the inbox folder. Everything here is bounded by the named
limits below before it is unpacked, so a hostile email costs a refusal, not the machine.
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

from .problems import Problem
from .safety_gate import MAX_RATIO, RETURN_LIMITS, WORKBOOK_SUFFIXES

MAIL_SUFFIXES = {".eml", ".msg", ".zip"}
# Limits: what one saved email or zip in an inbox may hold before it is refused.
# A saved email: NHSmail takes at most 35 MB of attachments, about 48 MB once base64-encoded;
# parsing one costs about 3 times its size.
MAX_EMAIL_BYTES = 64 * 2**20
MAX_ATTACHMENT_BYTES = RETURN_LIMITS.file_bytes  # one attachment: as large as a return may be
MAX_PARTS = 200  # MIME parts or .msg attachments in one email
MAX_NESTING = 3  # an email forwarded inside an email inside an email, and no deeper
MAX_ZIP_BYTES = 1 * 2**30  # one .zip of returns, as it lies in the inbox
MAX_ZIP_MEMBERS = 1_000  # files in one .zip of returns
MAX_ZIP_UNPACKED = 1 * 2**30  # what one .zip of returns unpacks to, all members together
MAX_FILES_TAKEN = 500  # workbooks taken out of one inbox file, at every level
SEPARATOR = " » "  # "reply.eml » Corporate.xlsx": the attachment, and the email it came in
XLSX_MIME = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
MIME_TYPES = {
    ".xlsx": XLSX_MIME,
    ".xlsm": ("application", "vnd.ms-excel.sheet.macroEnabled.12"),
    ".xls": ("application", "vnd.ms-excel"),
    ".ods": ("application", "vnd.oasis.opendocument.spreadsheet"),
}


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


class Refused(Exception):
    """An email or zip that is not read further; `message` says why, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Letter:
    """One email, read: who sent it when, its attachments, and the emails forwarded in it."""

    sender: str | None = None
    address: str | None = None
    sent_at: dt.datetime | None = None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    emails: list[tuple[str, object]] = field(default_factory=list)  # (name, parsed or bytes)
    problems: list[str] = field(default_factory=list)
    rich_text: bool = False  # Outlook's winmail.dat: its attachments are hidden inside it


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
                    job.problem("skipped-file", inner, f"not a workbook or email ({kind}); skipped.")
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


# --- .eml ----------------------------------------------------------------------------------


def read_eml(data: Path | bytes | object) -> Letter:
    """A saved email (RFC 5322, as Outlook, Thunderbird and Apple Mail save them)."""
    import io
    from email import policy
    from email.message import Message
    from email.parser import BytesParser

    if isinstance(data, Message):
        message = data
    else:
        size = data.stat().st_size if isinstance(data, Path) else len(data)
        if size > MAX_EMAIL_BYTES:
            raise Refused(
                f"the email is {size / 2**20:,.0f} MB (limit {MAX_EMAIL_BYTES / 2**20:,.0f} MB): not read."
            )
        try:
            # Parsed from a stream: parsebytes() would hold three copies of a large email.
            with data.open("rb") if isinstance(data, Path) else io.BytesIO(data) as stream:
                message = BytesParser(policy=policy.default).parse(stream)
        except Exception as exc:  # noqa: BLE001 - the email package raises several types
            raise Refused(f"cannot be read as an email ({type(exc).__name__}).") from exc
    letter = Letter()
    try:
        _eml_sender(message, letter)
        parts = 0
        stack = [message]
        while stack:
            part = stack.pop(0)
            parts += 1
            if parts > MAX_PARTS:
                raise Refused(
                    f"the email holds more than {MAX_PARTS} parts or attachments: "
                    "refused unread. Send the workbook in an email of its own."
                )
            ctype = part.get_content_type()
            if ctype == "message/rfc822" and part is not message:
                inner = part.get_payload()
                inner = inner[0] if isinstance(inner, list) and inner else inner
                letter.emails.append((_attachment_name(part, inner) + ".eml", inner))
            elif part.is_multipart():
                payload = part.get_payload()
                stack.extend(payload if isinstance(payload, list) else [])
            elif part is not message or part.get_filename():
                _eml_attachment(part, letter)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged email must not stop the other returns
        raise Refused(f"the email is damaged and cannot be read ({type(exc).__name__}).") from exc
    return letter


def _eml_sender(message, letter: Letter) -> None:
    from email.utils import getaddresses, parsedate_to_datetime

    raw = str(message.get("From", "") or "")
    pairs = getaddresses([raw]) if raw else []
    if pairs and pairs[0][1]:
        name, address = pairs[0]
        letter.address = address.strip()
        letter.sender = f"{name} <{address}>" if name else address
    date = message.get("Date")
    if date:
        try:
            stamp = parsedate_to_datetime(str(date))
            letter.sent_at = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
        except (TypeError, ValueError, IndexError):
            letter.sent_at = None


def _attachment_name(part, inner) -> str:
    name = part.get_filename()
    if name:
        return name.removesuffix(".eml")
    subject = str(inner.get("Subject", "") or "") if hasattr(inner, "get") else ""
    return re.sub(r"\s+", " ", subject).strip()[:60] or "forwarded email"


def _eml_attachment(part, letter: Letter) -> None:
    name = part.get_filename() or ""
    suffix = Path(name).suffix.lower()
    ctype = part.get_content_type()
    if ctype == "application/ms-tnef" or name.lower() == "winmail.dat":
        letter.rich_text = True
        return
    if not name:
        by_type = {"/".join(v): k for k, v in MIME_TYPES.items()}
        if ctype not in by_type:
            return  # a body part, an inline picture: not an attachment anyone returns
        name, suffix = "attachment" + by_type[ctype], by_type[ctype]
    if suffix not in WORKBOOK_SUFFIXES and suffix not in MAIL_SUFFIXES:
        return
    encoded = part.get_payload(decode=False)
    size = len(encoded) if isinstance(encoded, str) else 0
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
        size = (size - encoded.count("\n") - encoded.count("\r")) * 3 // 4
    if size > MAX_ATTACHMENT_BYTES:  # known before decoding, so it is never unpacked
        letter.problems.append(
            f"attachment {name!r} is {size / 2**20:,.0f} MB; a return may be at "
            f"most {MAX_ATTACHMENT_BYTES / 2**20:,.0f} MB. Not read."
        )
        return
    data = part.get_payload(decode=True) or b""
    if suffix == ".eml":
        letter.emails.append((name.removesuffix(".eml") + ".eml", data))
    else:
        letter.files.append((name, data))


# --- Outlook .msg --------------------------------------------------------------------------
# An Outlook .msg is an OLE compound file (MS-OXMSG): properties in streams named
# __substg1.0_IIIITTTT (property id, type) and fixed-size ones in __properties_version1.0.
# Read with olefile (BSD): the reader with the most users for OLE files, unlike extract-msg
# (GPL-3.0) which xlplan cannot depend on.
_UNICODE, _STRING8, _BINARY, _OBJECT, _LONG, _SYSTIME = 0x001F, 0x001E, 0x0102, 0x000D, 0x0003, 0x0040
_ATTACH_BY_VALUE, _ATTACH_EMBEDDED = 1, 5
# The header before the fixed-size properties: top-level message 32 bytes, embedded message
# 24, attachment or recipient 8.
_HEADER_TOP, _HEADER_EMBEDDED, _HEADER_SUB = 32, 24, 8


def read_msg(source: Path | bytes) -> Letter:
    """An email saved from Outlook (.msg)."""
    import olefile

    try:
        if isinstance(source, Path):
            ole = olefile.OleFileIO(str(source))
        else:
            if len(source) > MAX_EMAIL_BYTES:
                raise Refused(f"the email is {len(source) / 2**20:,.0f} MB: not read.")
            ole = olefile.OleFileIO(source)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - olefile raises several types for damage
        raise Refused(
            "cannot be read as an Outlook email (.msg): the file is damaged or is not a saved email."
        ) from exc
    try:
        return _msg_letter(ole, [], _HEADER_TOP)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged email must not stop the other returns
        raise Refused(f"the Outlook email is damaged and cannot be read ({type(exc).__name__}).") from exc
    finally:
        ole.close()


def _msg_letter(ole, base: list[str], header: int) -> Letter:
    letter = Letter()
    address = next(
        (
            a
            for a in (
                _msg_text(ole, base, 0x5D01),
                _msg_text(ole, base, 0x5D02),
                _msg_text(ole, base, 0x0C1F),
                _msg_text(ole, base, 0x0065),
            )
            if a and "@" in a
        ),
        None,
    )
    headers = _msg_text(ole, base, 0x007D)  # the internet headers, when it came from outside
    if headers and not address:
        from email.parser import HeaderParser
        from email.utils import parseaddr

        address = parseaddr(HeaderParser().parsestr(headers).get("From", ""))[1] or None
    name = _msg_text(ole, base, 0x0C1A) or _msg_text(ole, base, 0x0042)
    if address:
        letter.address = address
        letter.sender = f"{name} <{address}>" if name and name != address else address
    fixed = _msg_fixed(ole, base, header)
    filetime = fixed.get((0x0039, _SYSTIME)) or fixed.get((0x0E06, _SYSTIME))
    if filetime:
        letter.sent_at = dt.datetime(1601, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=filetime // 10)
    storages = sorted(
        {
            entry[len(base)]
            for entry in ole.listdir(streams=True, storages=True)
            if len(entry) > len(base)
            and entry[: len(base)] == base
            and entry[len(base)].startswith("__attach_version1.0_#")
        }
    )
    if len(storages) > MAX_PARTS:
        raise Refused(
            f"the email holds {len(storages)} attachments (limit {MAX_PARTS}): refused "
            "unread. Send the workbook in an email of its own."
        )
    for storage in storages:
        path = [*base, storage]
        name = (
            _msg_text(ole, path, 0x3707)
            or _msg_text(ole, path, 0x3704)
            or _msg_text(ole, path, 0x3001)
            or "attachment"
        )
        method = _msg_fixed(ole, path, _HEADER_SUB).get((0x3705, _LONG), _ATTACH_BY_VALUE)
        embedded = [*path, "__substg1.0_3701000D"]
        if method == _ATTACH_EMBEDDED and ole.exists("/".join(embedded)):
            letter.emails.append(
                (name.removesuffix(".msg") + ".msg", _msg_letter(ole, embedded, _HEADER_EMBEDDED))
            )
            continue
        suffix = Path(name).suffix.lower()
        if suffix not in WORKBOOK_SUFFIXES and suffix not in MAIL_SUFFIXES:
            continue
        stream = "/".join([*path, "__substg1.0_37010102"])
        if not ole.exists(stream):
            continue
        size = ole.get_size(stream)
        if size > MAX_ATTACHMENT_BYTES:
            letter.problems.append(
                f"attachment {name!r} is {size / 2**20:,.0f} MB; a return may be "
                f"at most {MAX_ATTACHMENT_BYTES / 2**20:,.0f} MB. Not read."
            )
            continue
        data = ole.openstream(stream).read()
        if suffix == ".eml":
            letter.emails.append((name, data))
        else:
            letter.files.append((name, data))
    return letter


def _msg_text(ole, base: list[str], prop: int) -> str | None:
    for kind, encoding in ((_UNICODE, "utf-16-le"), (_STRING8, "cp1252")):
        stream = "/".join([*base, f"__substg1.0_{prop:04X}{kind:04X}"])
        if ole.exists(stream) and ole.get_size(stream) <= 2**20:
            text = ole.openstream(stream).read().decode(encoding, "replace").rstrip("\x00").strip()
            return text or None
    return None


def _msg_fixed(ole, base: list[str], header: int) -> dict[tuple[int, int], int]:
    """The fixed-size properties (numbers, dates) of a message or attachment."""
    import struct

    stream = "/".join([*base, "__properties_version1.0"])
    if not ole.exists(stream) or ole.get_size(stream) > 2**20:
        return {}
    data = ole.openstream(stream).read()
    found: dict[tuple[int, int], int] = {}
    for offset in range(header, len(data) - 15, 16):
        tag, _flags, value = struct.unpack_from("<IIQ", data, offset)
        kind, prop = tag & 0xFFFF, tag >> 16
        if kind == _LONG:
            found[(prop, kind)] = value & 0xFFFFFFFF
        elif kind == _SYSTIME:
            found[(prop, kind)] = value
    return found


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
