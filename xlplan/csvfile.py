"""Reading a CSV file saved from Excel or LibreOffice: the plan an import starts from, and the
contacts list `--contacts` loads. One reader, so both take the same encodings and separators
and say the same about a file that is not one."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .contacts import SERVICES_HEADERS, Contact, parse_services
from .errors import XlplanError
from .excel import CellValue

SNIFF_BYTES = 8192


def read_csv_rows(path: Path, label: str, then: str) -> list[list[str]]:
    """The rows of `path` as text: UTF-8 (with or without Excel's mark) or Windows-1252,
    separated by commas, semicolons (a European Excel) or tabs (.tsv). `label` names the file
    in a message ("Source", "Contacts file"); `then` says what to do with it once saved again
    ("import that")."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise XlplanError(f"Cannot read {label.lower()} {path}: {exc.strerror or exc}.") from exc
    if b"\x00" in raw[:4096]:
        raise XlplanError(
            f"{label} {path} is not a text file (CSV). In Excel, save it as "
            f"'CSV UTF-8 (Comma delimited)' and {then}."
        )
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise XlplanError(
            f"{label} {path} is neither UTF-8 nor Windows-1252 text. In Excel, "
            f"save it as 'CSV UTF-8 (Comma delimited)' and {then}."
        )
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    if path.suffix.lower() != ".tsv":
        try:
            delimiter = csv.Sniffer().sniff(text[:SNIFF_BYTES], delimiters=",;\t").delimiter
        except csv.Error:
            delimiter = ","
    # A cell past Excel's limit is reported and cut later, not refused by the CSV reader
    # (whose own limit is 128 KiB); a stray quote can make one field the rest of the file.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return list(reader)
    except csv.Error as exc:
        raise XlplanError(
            f"{label} {path}: line {reader.line_num} cannot be read as CSV. Open the file in "
            f"Excel or LibreOffice, save it again as CSV, and {then}."
        ) from exc


def read_contacts_csv(path: Path) -> list[Contact]:
    """A contacts list saved from Excel as CSV: Service, Contact names, Email addresses, Cc."""
    rows: list[list[CellValue]] = [
        [c.strip() or None for c in row]
        for row in read_csv_rows(path, "Contacts file", "give that with --contacts")
    ]
    contacts = parse_services(rows)
    if not contacts:
        raise XlplanError(
            f"Contacts file {path}: no header row starting with 'Service' and no "
            "services under it. The columns are: " + ", ".join(SERVICES_HEADERS) + "."
        )
    return contacts
