"""How a sheet's cells are styled, from xl/styles.xml: the number formats a reader does not
apply (86% is 0.86 shown as 0%) and the fill colours of cells."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from .safety_gate import sheet_parts


def unescape(raw: bytes) -> str:
    import html

    return html.unescape(raw.decode("utf-8", "replace"))


def col_index(letters: bytes) -> int:
    index = 0
    for char in letters:
        index = index * 26 + (char - 64)
    return index - 1


_NUM_FMT = re.compile(rb'<numFmt\b[^>]*?\bnumFmtId="(\d+)"[^>]*?\bformatCode="([^"]*)"', re.S)
_CELL_XFS = re.compile(rb"<cellXfs\b[^>]*>(.*?)</cellXfs>", re.S)
_XF_FORMAT = re.compile(rb'<xf\b[^>]*?\bnumFmtId="(\d+)"')
_STYLED_VALUE = re.compile(rb'<c r="([A-Z]{1,3})(\d+)"([^>]*?)>\s*(<v>|<f)', re.S)
_STYLE = re.compile(rb'\bs="(\d+)"')
_TYPE = re.compile(rb'\bt="(\w+)"')


def style_formats(archive: zipfile.ZipFile) -> dict[bytes, str]:
    """Cell style index (as in s="…") -> its number format, for formats other than General
    and plain dates (calamine gives dates as dates already, written as dd/mm/yyyy); a format
    showing a time of day is kept, or a date-time would lose its time on screen."""
    from .excel import BUILTIN_NUMBER_FORMATS

    try:
        styles = archive.read("xl/styles.xml")
    except KeyError:
        return {}
    codes = {int(i): unescape(c) for i, c in _NUM_FMT.findall(styles)}
    xfs = _CELL_XFS.search(styles)
    formats: dict[bytes, str] = {}
    for index, fmt_id in enumerate(_XF_FORMAT.findall(xfs[1] if xfs else b"")):
        code = codes.get(int(fmt_id)) or BUILTIN_NUMBER_FORMATS.get(int(fmt_id))
        if code and not _is_day_format(code) and code.lower() not in ("general", "@"):
            formats[str(index).encode()] = code
    return formats


def formatted_cells(
    data: bytes,
    formats: dict[bytes, str],
    columns: set[int] | None,
    numbers_only: bool = True,
    limit: int | None = None,
    found: dict[tuple[int, int], str] | None = None,
) -> dict[tuple[int, int], str]:
    """(row, col) -> format code of the number cells (and, unless numbers_only, formula
    cells) styled with one of `formats`, in `columns` (None: all); matches from `limit` on
    are left to the next window."""
    found = {} if found is None else found
    if (columns is not None and not columns) or not formats:
        return found
    for match in _STYLED_VALUE.finditer(data):
        if limit is not None and match.start() >= limit:
            break
        attrs = match[3]
        style = _STYLE.search(attrs)
        if style is None or style[1] not in formats:
            continue
        kind = _TYPE.search(attrs)
        if kind and kind[1] != b"n" and (numbers_only or kind[1] != b"str" or match[4] != b"<f"):
            continue  # text, a boolean or an error: no number format shows
        col = col_index(match[1])
        if columns is None or col in columns:
            found[(int(match[2]) - 1, col)] = formats[style[1]]
    return found


def number_formats(path: Path, sheet: str, columns: set[int]) -> dict[tuple[int, int], str]:
    """Number cells of these columns shown through a number format other than General or a
    date (86% is 0.86 shown as 0%): (row, col) -> the format code. Read only when the
    workbook has such a format at all, which an untouched template does not."""
    try:
        with zipfile.ZipFile(path) as archive:
            formats = style_formats(archive)
            part = sheet_parts(archive).get(sheet) if formats else None
            if part is None:
                return {}
            data = archive.read(part)
    except (KeyError, zipfile.BadZipFile, OSError):
        return {}
    return formatted_cells(data, formats, columns)


def _is_date_format(code: str) -> bool:
    bare = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", code).lower()
    return any(ch in bare for ch in "dmyhs")


def _is_day_format(code: str) -> bool:
    """A date format that shows no time of day."""
    bare = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", code).lower()
    return _is_date_format(code) and not any(ch in bare for ch in "hs")


_FILLS = re.compile(rb"<fills\b[^>]*>(.*?)</fills>", re.S)
_FILL = re.compile(rb"<fill>(.*?)</fill>|<fill/>", re.S)
_FG_RGB = re.compile(rb'<fgColor\b[^>]*?\brgb="(?:[0-9A-Fa-f]{2})?([0-9A-Fa-f]{6})"')
_XF = re.compile(rb"<xf\b([^>]*?)/?>", re.S)
_FILL_ID = re.compile(rb'\bfillId="(\d+)"')


def fill_styles(archive: zipfile.ZipFile) -> dict[bytes, str]:
    """Cell style index -> its solid fill colour ("FFEB9C", or "theme" for a theme colour)."""
    try:
        styles = archive.read("xl/styles.xml")
    except KeyError:
        return {}
    fills_xml = _FILLS.search(styles)
    colours: list[str | None] = []
    for fill in _FILL.finditer(fills_xml[1] if fills_xml else b""):
        body = fill[1] or b""
        if b'patternType="solid"' not in body:
            colours.append(None)
            continue
        rgb = _FG_RGB.search(body)
        colours.append(rgb[1].decode().upper() if rgb else "theme")
    xfs = _CELL_XFS.search(styles)
    found: dict[bytes, str] = {}
    for index, xf in enumerate(_XF.finditer(xfs[1] if xfs else b"")):
        fill_id = _FILL_ID.search(xf[1])
        if fill_id and int(fill_id[1]) < len(colours) and colours[int(fill_id[1])]:
            found[str(index).encode()] = colours[int(fill_id[1])]
    return found


def coloured_cells(styles: dict[bytes, str], own: set[str]) -> re.Pattern | None:
    """A pattern for the cells coloured with a fill not among `own`, or None if no style has one."""
    foreign = [index for index, colour in styles.items() if colour not in own]
    if not foreign:
        return None
    return re.compile(rb'<c r="[A-Z]{1,3}\d+"[^>]{0,200}?\bs="(?:' + b"|".join(foreign) + rb')"')
