"""Reading a saved email (.eml, or an Outlook .msg): who sent it and when, its spreadsheet
attachments, and the emails forwarded inside it, all bounded by the named limits below before
anything is decoded. Unpacking an inbox file into workbooks is `mail.unpack_inbox_file`."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from .safety_gate import RETURN_LIMITS, WORKBOOK_SUFFIXES

MAIL_SUFFIXES = {".eml", ".msg", ".zip"}
# Limits: what one saved email may hold before it is refused (a zip's are in mail.py).
# A saved email: NHSmail takes at most 35 MB of attachments, about 48 MB once base64-encoded;
# parsing one costs about 3 times its size.
MAX_EMAIL_BYTES = 64 * 2**20
MAX_ATTACHMENT_BYTES = RETURN_LIMITS.file_bytes  # one attachment: as large as a return may be
MAX_PARTS = 200  # MIME parts or .msg attachments in one email
XLSX_MIME = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
MIME_TYPES = {
    ".xlsx": XLSX_MIME,
    ".xlsm": ("application", "vnd.ms-excel.sheet.macroEnabled.12"),
    ".xls": ("application", "vnd.ms-excel"),
    ".ods": ("application", "vnd.oasis.opendocument.spreadsheet"),
}


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
