"""Excel's limits and traps, named once, and the cleaning every written value goes through."""

from __future__ import annotations

import datetime as dt
import re

# Excel refuses to open a file holding a cell longer than this.
MAX_CELL_CHARS = 32_767
# Sheet names: at most 31 characters, none of []:*?/\ and not starting or ending with '.
MAX_SHEET_NAME = 31
# Programs that save the old .xls format (SheetJS among them) keep at most this many
# characters of a cell; xlplan's hidden metadata is split into pieces shorter than this.
XLS_TEXT_CHARS = 255
# A note (comment) box: Excel truncates what it shows; keep notes readable.
MAX_NOTE_CHARS = 2_000
# Characters XML 1.0 cannot hold; a cell containing one makes Excel repair the file.
ILLEGAL_XML_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Text Excel (and openpyxl) would turn into a formula when typed or written as-is.
FORMULA_LEADERS = ("=", "+", "-", "@")
ERROR_VALUES = frozenset(
    {
        "#NULL!",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#N/A",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#UNKNOWN!",
        "#CONNECT!",
        "#BUSY!",
    }
)
DATE_FORMAT = "dd/mm/yyyy"

CellValue = str | dt.date | None


def cell_text(value: object) -> CellValue:
    """What a person sees in a cell, as xlplan holds it: text, a date, or None for empty.

    Numbers become their shortest text ("1" not "1.0") because references and notes are
    text to the people who type them; real dates stay dates so overdue checks can use them.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()  # plans hold days; a time of day in a plan cell is never meant
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, dt.timedelta):
        return str(value)
    text = str(value)
    if text.strip() == "":
        return None
    return text


def display(value: CellValue) -> str:
    """A value as a message or a note shows it."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return value


def value_for_column(value: CellValue, column_type: str) -> CellValue:
    """The value as the person saw it, for a column of this layout type.

    Excel and LibreOffice turn "12/09/2017" typed into any cell into a date serial; in a
    column that is not a date column the person meant the text they saw (UK day-first), so
    it is kept as that text rather than reaching the master as a number like 43078."""
    if isinstance(value, dt.date) and column_type != "date":
        return display(value)
    return value


def row_as_seen(values: dict[str, CellValue], types: dict[str, str]) -> dict[str, CellValue]:
    """`value_for_column` over one row read from a sheet ({field: value}, {field: type}).

    Only a date can change, so the millions of text cells of a large plan cost one test each."""
    for name, value in values.items():
        if type(value) is dt.date:
            values[name] = value_for_column(value, types.get(name, "text"))
    return values


# Excel's built-in number formats people get by typing a number a certain way.
BUILTIN_NUMBER_FORMATS = {
    1: "0",
    2: "0.00",
    3: "#,##0",
    4: "#,##0.00",
    9: "0%",
    10: "0.00%",
    37: "#,##0 ;(#,##0)",
    38: "#,##0 ;[Red](#,##0)",
    39: "#,##0.00;(#,##0.00)",
    40: "#,##0.00;[Red](#,##0.00)",
}
_FORMAT_TOKEN = re.compile(r'"([^"]*)"|\\(.)|_(.)|\*(.)|\[\$([^\]-]*)[^\]]*\]|\[[^\]]*\]|([#0?,.]+)|(.)')


def shown_number(value: float, code: str) -> str | None:
    """The text Excel shows for `value` in a cell of number format `code`, for the formats a
    person gets by typing into a General cell (86%, 1,200, £1,200.50, 0.50); None for any
    other (dates, fractions, scientific, conditions), which are left to the caller.

    Typing "86%" stores 0.86 with the format 0%; in a text column the person meant "86%"."""
    sections = code.split(";")
    section = sections[1] if value < 0 and len(sections) > 1 and sections[1] else sections[0]
    negative = value < 0 and not (len(sections) > 1 and sections[1])
    number, out, digits = abs(value), [], None
    if section.strip().lower() in ("", "general", "@"):
        return None
    for quoted, escaped, space, _fill, currency, number_part, other in _FORMAT_TOKEN.findall(section):
        if quoted or escaped or currency:
            out.append(quoted or escaped or currency)
        elif space:
            out.append(" ")
        elif number_part:
            if digits is not None or number_part.endswith(","):
                return None  # two numbers (a fraction), or scaled by thousands
            digits = number_part
            out.append("\0")
        elif other:
            if other.lower() in "dmyhse/":
                return None  # a date, a time, scientific, a fraction
            if other == "%":
                number *= 100
            out.append(other)
    if digits is None:
        return None
    decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
    text = f"{number:{',' if ',' in digits else ''}.{decimals}f}"
    shown = "".join(text if piece == "\0" else piece for piece in out).strip()
    return ("-" + shown) if negative else shown


_ILLEGAL_ASCII = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])


def clean_for_cell(text: str) -> str:
    """Text safe to store: no characters XML cannot hold, within Excel's cell limit.

    Callers that must not lose text check `MAX_CELL_CHARS` first and report; this is the
    last guard so a written file always opens.
    """
    if text.isascii():
        # Most text is: its control characters are found by a byte table, several times
        # faster than the pattern over the millions of cells a large master writes.
        raw = text.encode("ascii")
        kept = raw.translate(None, _ILLEGAL_ASCII)
        if len(kept) != len(raw):
            text = kept.decode("ascii")
    elif ILLEGAL_XML_CHARS.search(text):
        text = ILLEGAL_XML_CHARS.sub("", text)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS]


def safe_sheet_name(name: str, taken: set[str] | None = None) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "-", name).strip("'") or "Sheet"
    name = name[:MAX_SHEET_NAME]
    if taken is not None:
        base, n = name, 2
        while name.lower() in {t.lower() for t in taken}:
            suffix = f" ({n})"
            name = base[: MAX_SHEET_NAME - len(suffix)] + suffix
            n += 1
    return name


def column_letter(index: int) -> str:
    """0-based column index to Excel letters (0 -> A)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def cell_name(row: int, col: int) -> str:
    """0-based row and column to an A1 reference."""
    return f"{column_letter(col)}{row + 1}"
