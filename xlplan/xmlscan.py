"""Streaming scans of a workbook's XML parts, before any reader sees them.

Each scan is one pass of expat (the C parser in the standard library) over the part as it
is unpacked, so time and memory stay linear in the input whatever it holds: comments are
comments (never read as cells), and a DTD or an entity declaration stops the scan at once
(no spreadsheet program writes one; they are how "billion laughs" and external-entity
attacks start).

What the scans learn bounds what the real reader (python-calamine) will be asked to do: a
single value at XFD1048576 makes it allocate a grid of 17 billion cells, so the extent of
every sheet's *valued* cells is measured first and a sheet too large to read is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO
from xml.parsers import expat

CHUNK_BYTES = 1 << 20
MAX_ROW = 1_048_576  # Excel's last row and column: nothing real lies beyond them
MAX_COL = 16_384
_REF = re.compile(r"([A-Za-z]{1,3})([0-9]{1,7})")
_DIGITS = re.compile(r"[0-9]{1,7}")


class UnsafeXml(Exception):
    """A DTD or an entity declaration: refused unread."""


class DamagedXml(Exception):
    """The part is not the XML it should be (cut short, garbage, an impossible reference)."""


class SheetTooLarge(Exception):
    """A sheet holds a value so far out that reading it would take too much memory."""

    def __init__(self, where: str, cells: int) -> None:
        super().__init__(where)
        self.where = where  # the farthest cell, as a person names it ("XFD1048576")
        self.cells = cells  # the rows x columns a reader would allocate


class _RootReached(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse(*_args: object) -> None:
    raise UnsafeXml("DTD or entity declaration")


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    return parser


# Control characters XML 1.0 forbids: sloppy writers put them raw in cell text and the
# readers accept them, so the scan reads them as spaces rather than refuse the file. (In
# UTF-8 these bytes are never part of another character.)
_CONTROL = bytes(range(0x20)).translate(None, b"\t\n\r")
_AS_SPACES = bytes.maketrans(_CONTROL, b" " * len(_CONTROL))


def _feed(parser: expat.XMLParserType, stream: IO[bytes]) -> None:
    """Parse the whole stream. Bytes that are not UTF-8 (a sloppy writer's Latin-1 accent)
    are read as U+FFFD rather than stop the scan, as the readers themselves do."""
    import codecs

    first = stream.read(CHUNK_BYTES)
    utf16 = first[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in first[:4]
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chunk = first
    while chunk:
        if not utf16:
            chunk = decoder.decode(chunk).encode("utf-8").translate(_AS_SPACES)
        parser.Parse(chunk, False)
        chunk = stream.read(CHUNK_BYTES)
    if not utf16:
        parser.Parse(decoder.decode(b"", True).encode("utf-8"), False)
    parser.Parse(b"", True)


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def check_prolog(stream: IO[bytes]) -> str | None:
    """Raise UnsafeXml if the part declares a DTD or entities; read only up to its root element.

    A part that is not well-formed before its root is left to the reader to refuse, but the
    rest of it is still searched (linearly) for a DTD, which a lenient reader might meet.
    Returns the root element's name as written ("worksheet", "x:worksheet"), if reached."""
    parser = _parser()
    parser.StartElementHandler = _stop_at_root
    carry = b""
    while True:
        chunk = stream.read(CHUNK_BYTES)
        try:
            parser.Parse(chunk, not chunk)
        except _RootReached as root:
            return root.name
        except expat.ExpatError:
            _search_rest(stream, carry + chunk)
            return None
        if not chunk:
            return None
        carry = chunk[-16:]


def _stop_at_root(name: str, _attrs: dict) -> None:
    raise _RootReached(name)


def _declares_dtd(data: bytes | bytearray) -> bool:
    return b"<!DOCTYPE" in data or b"<!ENTITY" in data


def _search_rest(stream: IO[bytes], tail: bytes) -> None:
    if _declares_dtd(tail):
        raise UnsafeXml("DTD or entity declaration")
    carry = tail[-16:]
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            return
        if _declares_dtd(carry + chunk):
            raise UnsafeXml("DTD or entity declaration")
        carry = chunk[-16:]


def elements(data: bytes, wanted: Iterable[str]) -> list[dict[str, str]]:
    """The attributes of every element with one of these local names (a small part, parsed whole)."""
    names = set(wanted)
    found: list[dict[str, str]] = []
    parser = _parser()

    def start(name: str, attrs: dict[str, str]) -> None:
        if _local(name) in names:
            found.append({_local(k): v for k, v in attrs.items()})

    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise DamagedXml(str(exc)) from exc
    return found


def cell_name(row: int, col: int) -> str:
    """1-based row and column -> "XFD1048576"."""
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row}"


def _column_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + (ord(char) - 64)
    return number


@dataclass
class SheetScan:
    """What one pass over a worksheet part found: how far its values reach, its special cells."""

    max_row: int = 0  # 1-based extent of the cells holding a value
    max_col: int = 0
    cells: int = 0  # cells holding a value
    # (0-based row, 0-based col) -> ("formula", "=A1+1") or ("error", "#REF!"): calamine
    # gives cached values only and shows an error cell as empty.
    special: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)


# The quick pass: cell references and the marks of formulas and error cells, found with
# patterns that each look no further than the next "<" or a few hundred bytes (so time
# stays linear even in a part that is one long unclosed tag).
_CELL_REF = re.compile(rb'<c\s[^>]{0,300}?\br="([A-Z]{1,3}[0-9]{1,7})"')
_UPPER_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGIT_BYTES = b"0123456789"
# Every cell tag and every formula tag, with or without a prefix, in one pass: b"c" or b"f"
# each. A prefixed cell (<x:c …>) is a tag with no reference the quick pass reads, so it
# sends the sheet to the exact pass, as a formula does. (<formula> of a conditional format
# and <filterColumn> are neither.)
_CELL_OR_FORMULA = re.compile(rb"<(?:[^\s<>/:=\"']+:)?([cf])[\s/>]")
# An error value, found at memory speed.
_ERROR_MARK = b't="e"'


def measure_sheet(open_part: Callable[[], IO[bytes]], max_cells: int, *, prefixed: bool = False) -> SheetScan:
    """How far an .xlsx sheet's cells reach, and its formula and error cells.

    A quick pass reads every cell reference as it stands in the bytes; it can only
    overestimate (a reference inside a comment counts), so when everything it finds is
    within bounds, every cell carries its own reference and no formula or error value is
    present, that is the answer. Otherwise the exact pass (`scan_sheet`, expat) decides.
    What spreadsheet programs write nearly always takes the quick pass; a sheet whose
    elements carry a prefix (<x:c>, `prefixed`) always takes the exact one."""
    max_row = refs = tags = 0
    columns: set[bytes] = set()
    special = prefixed
    with open_part() as stream:
        carry = b""
        while not prefixed:
            chunk = stream.read(CHUNK_BYTES)
            data = carry + chunk
            cut = data.rfind(b"<") if chunk else len(data)
            if cut <= 0 and chunk:
                cut = len(data) if len(data) > CHUNK_BYTES else 0
            body, carry = data[:cut], data[cut:]
            found = _CELL_REF.findall(body)
            if found:
                # A million references in a large sheet: split into rows and columns by
                # byte tables and compared in C, not one Python step each.
                refs += len(found)
                joined = b" ".join(found)
                max_row = max(max_row, max(map(int, joined.translate(None, _UPPER_BYTES).split())))
                columns.update(joined.translate(None, _DIGIT_BYTES).split())
            kinds = _CELL_OR_FORMULA.findall(body)
            formulas = kinds.count(b"f")
            tags += len(kinds) - formulas
            special = special or formulas > 0 or _ERROR_MARK in body
            if not chunk:
                break
    max_col = max((_column_number(c.decode("ascii")) for c in columns), default=0)
    if (
        refs == tags
        and not special
        and max_row * max_col <= max_cells
        and max_row <= MAX_ROW
        and max_col <= MAX_COL
    ):
        return SheetScan(max_row=max_row, max_col=max_col, cells=refs)
    with open_part() as stream:
        return scan_sheet(stream, max_cells)


def scan_sheet(stream: IO[bytes], max_cells: int) -> SheetScan:
    """One pass over an .xlsx worksheet part; SheetTooLarge once its values span > max_cells."""
    scan = SheetScan()
    parser = _parser()
    state = {"row": 0, "col": 0, "valued": False, "error": False, "text": None, "kind": None}
    texts: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if tag == "c":
            ref = attrs.get("r")
            if ref is not None:
                match = _REF.fullmatch(ref)
                if not match:
                    raise DamagedXml(f"cell reference {ref[:20]!r} is not valid")
                col, row = _column_number(match[1]), int(match[2])
                state["row"], state["col"] = row, col
            else:
                state["col"] += 1
            if not 1 <= state["col"] <= MAX_COL or not 1 <= state["row"] <= MAX_ROW:
                raise DamagedXml(f"a cell lies outside the sheet (row {state['row']}, column {state['col']})")
            state["valued"] = False
            state["error"] = attrs.get("t") == "e"
            state["kind"] = None
        elif tag == "row":
            ref = attrs.get("r")
            if ref is not None:
                if not _DIGITS.fullmatch(ref):
                    raise DamagedXml(f"row number {ref[:20]!r} is not valid")
                state["row"] = int(ref)
            else:
                state["row"] += 1
            state["col"] = 0
        elif tag in ("v", "is", "f"):
            if not state["valued"]:
                state["valued"] = True
                row, col = state["row"], state["col"]
                scan.cells += 1
                if row > scan.max_row or col > scan.max_col:
                    scan.max_row, scan.max_col = max(row, scan.max_row), max(col, scan.max_col)
                    if scan.max_row * scan.max_col > max_cells:
                        raise SheetTooLarge(cell_name(row, col), scan.max_row * scan.max_col)
            if tag == "f" or (tag == "v" and state["error"]):
                state["kind"] = "formula" if tag == "f" else "error"
                texts.clear()
                parser.CharacterDataHandler = texts.append

    def end(name: str) -> None:
        tag = _local(name)
        if tag in ("f", "v") and parser.CharacterDataHandler is not None:
            parser.CharacterDataHandler = None
            key = (state["row"] - 1, state["col"] - 1)
            text = "".join(texts)
            if state["kind"] == "formula":
                scan.special[key] = ("formula", "=" + text)
            elif key not in scan.special:  # a formula's cached error: the error is what shows
                scan.special[key] = ("error", text or "#ERROR")
        elif (
            tag == "c"
            and state["error"]
            and (state["row"] - 1, state["col"] - 1) not in scan.special
            and state["valued"]
        ):
            scan.special[(state["row"] - 1, state["col"] - 1)] = ("error", "#ERROR")

    _parse(parser, stream, start, end)
    return scan


_TABLE = "table:table"
_ROWS_REPEATED = "table:number-rows-repeated"
_COLS_REPEATED = "table:number-columns-repeated"


def scan_ods_content(
    stream: IO[bytes], max_cells: int, on_table: Callable[[str], None] | None = None
) -> dict[str, SheetScan]:
    """One pass over an .ods content.xml: each table's extent with repeats counted.

    OpenDocument compresses runs of equal rows and cells into one element with a repeat
    count: a single row repeated a million times with a value in it is a million rows to
    every reader, so the count is what is measured."""
    scans: dict[str, SheetScan] = {}
    state = {
        "table": None,
        "row": 0,
        "rows": 1,
        "col": 0,
        "cols": 1,
        "row_valued": 0,
        "cell": False,
        "valued": False,
    }
    parser = _parser()

    def repeat(attrs: dict[str, str], key: str) -> int:
        text = attrs.get(key, "1")
        if not _DIGITS.fullmatch(text):
            raise DamagedXml(f"repeat count {text[:20]!r} is not valid")
        return max(int(text), 1)

    def start(name: str, attrs: dict[str, str]) -> None:
        if name == _TABLE:
            state["table"] = attrs.get("table:name", f"Sheet{len(scans) + 1}")
            scans[state["table"]] = SheetScan()
            state["row"] = 0
        elif name == "table:table-row":
            state["rows"] = repeat(attrs, _ROWS_REPEATED)
            state["col"] = 0
            state["row_valued"] = 0
        elif name in ("table:table-cell", "table:covered-table-cell"):
            state["cols"] = repeat(attrs, _COLS_REPEATED)
            state["cell"] = True
            state["valued"] = "office:value-type" in attrs or "office:value" in attrs
        elif state["cell"] and not state["valued"] and name.startswith("text:"):
            state["valued"] = True

    def end(name: str) -> None:
        if name in ("table:table-cell", "table:covered-table-cell"):
            state["col"] += state["cols"]
            if state["valued"] and state["table"] is not None:
                state["row_valued"] = state["col"]
            state["cell"] = False
        elif name == "table:table-row":
            state["row"] += state["rows"]
            if state["row_valued"] and state["table"] is not None:
                scan = scans[state["table"]]
                scan.cells += state["row_valued"]
                scan.max_row = state["row"]
                scan.max_col = max(scan.max_col, state["row_valued"])
                if scan.max_row * scan.max_col > max_cells:
                    raise SheetTooLarge(
                        cell_name(min(scan.max_row, MAX_ROW), min(scan.max_col, MAX_COL)),
                        scan.max_row * scan.max_col,
                    )

    _parse(parser, stream, start, end)
    return scans


def _parse(parser, stream: IO[bytes], start: Callable, end: Callable) -> None:  # noqa: ANN001
    """Run `parser` over `stream` with these element handlers; bad XML is DamagedXml."""
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        _feed(parser, stream)
    except expat.ExpatError as exc:
        raise DamagedXml(str(exc)) from exc
