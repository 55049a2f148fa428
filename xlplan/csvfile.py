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
    try:
        return _rows(text, delimiter)
    except _Unclosed as exc:
        if exc.until is None:
            how = "is never closed, so everything after it to the end of the file"
        else:
            how = f"is not closed at the end of its cell, so everything after it to line {exc.until}"
        raise XlplanError(
            f'{label} {path}: the quote (") on line {exc.line} {how} would be read as one cell. '
            "Open the file in a text editor (such as Notepad), close the quote at the end of "
            f"its cell or remove it, save, and {then}."
        ) from exc
    except _Unreadable as exc:
        raise XlplanError(
            f"{label} {path}: line {exc.line} cannot be read as CSV. Open the file in "
            f"Excel or LibreOffice, save it again as CSV, and {then}."
        ) from exc


# Read after the text, so the reader itself says whether the file ended inside a quoted cell:
# after a closed cell this comes back as a row of its own; inside an open one it joins it.
_END = "xlplan: end of file"


class _Unclosed(Exception):
    """A quoted cell that does not close where it should: opened at `line`, running on to
    line `until` (None: to the end of the file)."""

    def __init__(self, line: int, until: int | None) -> None:
        super().__init__(line, until)
        self.line, self.until = line, until


class _Unreadable(Exception):
    """A line Python's CSV reader refuses (a cell past its size limit, say)."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _rows(text: str, delimiter: str) -> list[list[str]]:
    """The rows of `text`, read as Excel writes CSV: a cell in quotes may hold line breaks and
    the separator. Raises _Unclosed for a stray quote, which Python's reader would let swallow
    every line after it, up to the next quote or the end of the file, into one cell."""
    if text and not text.endswith(("\n", "\r")):
        text += "\n"
    lines = io.StringIO(text + _END + "\n", newline="").readlines()
    # A cell past Excel's limit is reported and cut later, not refused by the CSV reader
    # (whose own limit is 128 KiB).
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + len(_END) + 2))
    reader = csv.reader(iter(lines), delimiter=delimiter)
    rows: list[list[str]] = []
    spans: list[tuple[int, int]] = []  # each row's first and last line, counted from 1
    try:
        for row in reader:
            spans.append((spans[-1][1] + 1 if spans else 1, reader.line_num))
            rows.append(row)
    except csv.Error as exc:
        raise _Unreadable(reader.line_num) from exc
    if rows[-1] != [_END]:
        raise _Unclosed(_opening_line(lines, rows[-1][-1]), None)
    for first, last in spans[:-1]:
        if last > first:
            _check_closed(lines[first - 1 : last], first, delimiter)
    return rows[:-1]


def _opening_line(lines: list[str], cell: str) -> int:
    """The line of the quote that opens `cell`, the last cell of the file, still open at its
    end: inside an open quoted cell every quote is doubled, so the cell's text in the file is
    the opening quote and the cell with its quotes doubled."""
    offset = sum(map(len, lines)) - 1 - len(cell.replace('"', '""'))
    for number, line in enumerate(lines, start=1):
        if offset < len(line):
            return number
        offset -= len(line)
    return len(lines)


def _check_closed(lines: list[str], first: int, delimiter: str) -> None:
    """A row over several lines (a quoted cell holding line breaks) read again strictly: a
    quote that closes on a later line with text after it in the same cell is a stray quote
    paired with the next one, the lines between taken as one cell. (Strictly only here and
    past the row's first line: a cell closed early on its own line, `"a" b`, is still read
    as `a b`, as before.)"""
    reader = csv.reader(iter(lines), delimiter=delimiter, strict=True)
    try:
        for _ in reader:
            pass
    except csv.Error as exc:
        if reader.line_num > 1:
            raise _Unclosed(first, first + reader.line_num - 1) from exc


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
