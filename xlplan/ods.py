"""A second reader for OpenDocument spreadsheets (.ods), for files the first one cannot parse.

python-calamine reads what LibreOffice writes, but stops at the indented XML that Gnumeric
and web tools built on SheetJS write ("Expecting 'table-cell', found Text"), which LibreOffice
itself opens fine. This reader streams content.xml through the standard library's expat (the
safety gate has already refused DTDs and measured every table, repeats included) and gives
the same values calamine would: text, floats, dates, booleans, "" for an empty cell.

OpenDocument's white-space rule is applied (runs of spaces, tabs and line ends in a paragraph
are one space, none at its start, and indentation before its end tag is dropped), so the
indentation of the XML is never read as content; the spaces,
tabs and line breaks a person typed are elements (<text:s/>, <text:tab/>, <text:line-break/>).
Notes (<office:annotation>) are not cell content.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import xmlscan

_WHITE = re.compile(r"[ \t\r\n]+")
# Characters a person typed as elements, kept apart from the XML's own white space.
_KEPT = {"\ue000": " ", "\ue001": "\t", "\ue002": "\n"}
_KEEP = str.maketrans(_KEPT)


@dataclass
class _Table:
    name: str
    hidden: bool
    rows: list[list[object]] = field(default_factory=list)


class OdsSheet:
    def __init__(self, rows: list[list[object]]) -> None:
        self._rows = rows

    def to_python(self, skip_empty_area: bool = False) -> list[list[object]]:  # noqa: ARG002
        width = max((len(r) for r in self._rows), default=0)
        return [row + [""] * (width - len(row)) for row in self._rows]


class OdsBook:
    """The part of python-calamine's CalamineWorkbook that xlplan uses."""

    def __init__(self, path: Path) -> None:
        with zipfile.ZipFile(path) as archive, archive.open("content.xml") as stream:
            self._tables = _read_content(stream)

    @property
    def sheet_names(self) -> list[str]:
        return [t.name for t in self._tables]

    def visibility(self) -> dict[str, str]:
        return {t.name: "hidden" if t.hidden else "visible" for t in self._tables}

    def get_sheet_by_name(self, name: str) -> OdsSheet:
        for table in self._tables:
            if table.name == name:
                return OdsSheet(table.rows)
        raise KeyError(name)


def _read_content(stream) -> list[_Table]:
    tables: list[_Table] = []
    hidden_styles: set[str] = set()
    style: list[str | None] = [None]  # the table style being defined
    state: dict[str, object] = {
        "row": None,
        "rows": 1,
        "blank_rows": 0,
        "cell": None,
        "cols": 1,
        "blank_cols": 0,
        "notes": 0,
        "paras": None,
        "in_p": False,
    }
    parser = xmlscan._parser()

    def start(name: str, attrs: dict[str, str]) -> None:
        if state["notes"]:
            if name == "office:annotation":
                state["notes"] = int(state["notes"]) + 1
            return
        if name == "style:style" and attrs.get("style:family") == "table":
            style[0] = attrs.get("style:name")
        elif name == "style:table-properties" and style[0] and attrs.get("table:display") == "false":
            hidden_styles.add(style[0])
        elif name == "table:table":
            tables.append(
                _Table(
                    attrs.get("table:name", f"Sheet{len(tables) + 1}"),
                    attrs.get("table:style-name") in hidden_styles,
                )
            )
            state["blank_rows"] = 0
        elif name == "table:table-row" and tables:
            state["row"] = []
            state["rows"] = _repeat(attrs.get("table:number-rows-repeated"))
            state["blank_cols"] = 0
        elif name in ("table:table-cell", "table:covered-table-cell") and state["row"] is not None:
            state["cols"] = _repeat(attrs.get("table:number-columns-repeated"))
            state["cell"] = _typed_value(attrs)
            state["paras"] = []
        elif name == "office:annotation":
            state["notes"] = 1
        elif state["paras"] is not None:
            paras = state["paras"]
            assert isinstance(paras, list)
            if name == "text:p" or name == "text:h":
                paras.append([])
                state["in_p"] = True
            elif paras and name == "text:s":
                paras[-1].append("\ue000" * _repeat(attrs.get("text:c")))
            elif paras and name == "text:tab":
                paras[-1].append("\ue001")
            elif paras and name == "text:line-break":
                paras[-1].append("\ue002")

    def chars(text: str) -> None:
        paras = state["paras"]
        # Only text inside a paragraph: the indentation between paragraphs is not content.
        if state["in_p"] and not state["notes"] and isinstance(paras, list) and paras:
            paras[-1].append(text)

    def end(name: str) -> None:
        if state["notes"]:
            if name == "office:annotation":
                state["notes"] = int(state["notes"]) - 1
            return
        if name == "style:style":
            style[0] = None
        elif name in ("text:p", "text:h"):
            state["in_p"] = False
        elif name in ("table:table-cell", "table:covered-table-cell") and state["row"] is not None:
            value = state["cell"]
            paras = state["paras"] or []
            if (value is None or value == "") and paras:
                value = "\n".join(_paragraph(p) for p in paras) or None
            row = state["row"]
            assert isinstance(row, list)
            cols = int(state["cols"])  # type: ignore[arg-type]
            if value is None or value == "":
                state["blank_cols"] = int(state["blank_cols"]) + cols  # type: ignore[arg-type]
            else:
                row.extend([""] * int(state["blank_cols"]))  # type: ignore[arg-type]
                row.extend([value] * cols)
                state["blank_cols"] = 0
            state["cell"], state["paras"] = None, None
        elif name == "table:table-row" and state["row"] is not None:
            row = state["row"]
            assert isinstance(row, list)
            rows = int(state["rows"])  # type: ignore[arg-type]
            if row:
                table = tables[-1]
                table.rows.extend([] for _ in range(int(state["blank_rows"])))  # type: ignore[arg-type]
                table.rows.extend(list(row) for _ in range(rows))
                state["blank_rows"] = 0
            else:
                state["blank_rows"] = int(state["blank_rows"]) + rows  # type: ignore[arg-type]
            state["row"] = None

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        xmlscan._feed(parser, stream)
    except xmlscan.expat.ExpatError as exc:
        raise xmlscan.DamagedXml(str(exc)) from exc
    return tables


def _paragraph(pieces: list[str]) -> str:
    """A paragraph's text: its leading white space and indentation (a run holding a line end)
    at its end dropped, other runs one space; typed spaces, tabs and breaks kept."""
    text = "".join(pieces).lstrip(" \t\r\n")
    end = len(text.rstrip(" \t\r\n"))
    if "\n" in text[end:] or "\r" in text[end:]:
        text = text[:end]
    return _WHITE.sub(" ", text).translate(_KEEP)


def _repeat(text: str | None) -> int:
    if not text:
        return 1
    if not text.isdigit() or len(text) > 7:
        raise xmlscan.DamagedXml(f"repeat count {text[:20]!r} is not valid")
    return max(int(text), 1)


def _typed_value(attrs: dict[str, str]) -> object:
    """The cell's value from its attributes; "" for text (read from its paragraphs), None if none."""
    kind = attrs.get("office:value-type") or attrs.get("calcext:value-type")
    if kind in ("float", "percentage", "currency"):
        try:
            return float(attrs.get("office:value", ""))
        except ValueError:
            return ""
    if kind == "date":
        text = attrs.get("office:date-value", "")
        try:
            stamp = dt.datetime.fromisoformat(text)
        except ValueError:
            return ""
        return stamp
    if kind == "boolean":
        return attrs.get("office:boolean-value", "").lower() == "true"
    if kind == "string" and "office:string-value" in attrs:
        return attrs["office:string-value"]
    if kind in ("string", "time"):
        return ""  # the paragraphs hold what is shown
    return None
