"""What calamine does not give of a sheet, read from its XML in overlapping windows: formulas
(shared ones expanded to each cell), number formats, column widths and the count of what
cannot be carried, so the central team's sheets keep them."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .safety_gate import sheet_parts
from .sheet_features import uncarried, uncarried_patterns
from .sheet_styles import col_index, fill_styles, formatted_cells, style_formats, unescape


@dataclass
class SheetLayer:
    """What calamine does not give of a sheet: its formulas (whole, shared ones expanded to
    each cell) and its column widths. Read so the central team's sheets keep them."""

    formulas: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) -> "=…"
    # Numbers (and formulas) shown through a number format: (row, col) -> its code ("0%").
    formats: dict[tuple[int, int], str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # tags looked for -> how many
    uncarried: list[str] = field(default_factory=list)  # what cannot be carried, for a message
    widths: dict[int, float] = field(default_factory=dict)  # 0-based column -> width (0: hidden)


_CELL_FORMULA = re.compile(rb'<c r="([A-Z]{1,3})(\d+)"[^>]{0,400}?>\s*<f\b([^>]*?)(?:/>|>([^<]*)</f>)', re.S)
_SHARED_INDEX = re.compile(rb'\bsi="(\d+)"')
_SHARED = re.compile(rb'\bt="shared"')
_COL = re.compile(rb"<col\b([^>]*?)/?>", re.S)
_ATTR = re.compile(rb'\b(min|max|width|hidden)="([^"]+)"')


def sheet_layers(
    path: Path,
    sheets: list[str],
    columns: dict[str, set[int]] | None = None,
    plan_sheet: str | None = None,
    own_fills: set[str] = frozenset(),
) -> dict[str, SheetLayer]:
    """Formulas, number formats, column widths and what cannot be carried, of these sheets of
    an .xlsx, in one pass over each; `columns` limits a sheet's number formats to some columns
    (a large plan sheet); `own_fills` are the colours xlplan itself gives `plan_sheet`."""
    layers: dict[str, SheetLayer] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            parts = sheet_parts(archive)
            listing = set(archive.namelist())
            formats = style_formats(archive) if sheets else {}
            fills = fill_styles(archive) if sheets else {}
            for sheet in sheets:
                if sheet in parts and parts[sheet] in listing:
                    wanted = (columns or {}).get(sheet)
                    patterns = uncarried_patterns(sheet == plan_sheet, fills, own_fills)
                    layer = _layer(archive, parts[sheet], formats, wanted, patterns)
                    layer.uncarried = uncarried(layer.counts, archive, parts[sheet], listing)
                    layers[sheet] = layer
    except (KeyError, zipfile.BadZipFile, OSError):
        pass
    return layers


def _layer(
    archive: zipfile.ZipFile,
    part: str,
    formats: dict[bytes, str],
    columns: set[int] | None,
    patterns: dict[str, re.Pattern],
) -> SheetLayer:
    layer = SheetLayer(counts=dict.fromkeys(patterns, 0))
    in_head, after_cells, start = True, False, 0
    shared: dict[bytes, tuple[str, str]] = {}  # si -> (formula, the cell it was written in)
    for data, limit in _windows(archive, part):
        if in_head:  # <cols> comes before the cells
            head_end = data.find(b"<sheetData")
            in_head = head_end < 0
            _read_widths(layer, data, head_end if head_end >= 0 else limit)
        formatted_cells(data, formats, columns, numbers_only=False, limit=limit, found=layer.formats)
        if b"<f" in data:
            _read_formulas(layer, data, limit, shared)
        if not after_cells:
            # Merged cells, links, validations and tables are listed after the cells.
            end = data.find(b"</sheetData>")
            after_cells, start = end >= 0, max(end, 0)
        for label, pattern in patterns.items():
            if label == "colour" or after_cells:
                layer.counts[label] += sum(
                    1 for m in pattern.finditer(data, 0 if label == "colour" else start) if m.start() < limit
                )
        start = 0
    return layer


SCAN_CHUNK = 1 << 20
# Longer than anything looked for (a cell with a formula of Excel's 8,192 characters, escaped),
# so no match is cut between two windows.
SCAN_OVERLAP = 1 << 18


def _windows(archive: zipfile.ZipFile, part: str) -> Iterator[tuple[bytes, int]]:
    """A zip part in overlapping windows, so a large sheet is never held whole: (window,
    limit). A match is the window's if it starts before `limit`; one starting later is found
    again, whole, in the next window."""
    tail = b""
    with archive.open(part) as stream:
        while True:
            chunk = stream.read(SCAN_CHUNK)
            data = tail + chunk
            if not chunk:
                yield data, len(data)
                return
            if len(data) > SCAN_OVERLAP:
                yield data, len(data) - SCAN_OVERLAP
                tail = data[-SCAN_OVERLAP:]
            else:
                tail = data


def _read_widths(layer: SheetLayer, data: bytes, end: int) -> None:
    for match in _COL.finditer(data, 0, end):
        attrs = dict(_ATTR.findall(match[1]))
        try:
            first, last, width = int(attrs[b"min"]), int(attrs[b"max"]), float(attrs[b"width"])
        except (KeyError, ValueError):
            continue
        # The file holds the width plus the cell padding (5 pixels of 7-pixel digits);
        # the writer adds it again, so keep the width as Excel shows it.
        shown = round(max(width - 5 / 7, 0.5), 2)
        if attrs.get(b"hidden") in (b"1", b"true"):
            shown = 0.0  # a hidden column is one of no width, for the writer too
        for col in range(first - 1, min(last, first + 100)):
            layer.widths[col] = shown


def _read_formulas(layer: SheetLayer, data: bytes, limit: int, shared: dict[bytes, tuple[str, str]]) -> None:
    for match in _CELL_FORMULA.finditer(data):
        if match.start() >= limit:
            break
        letters, number, attrs = match[1], match[2], match[3]
        text = unescape(match[4] or b"")
        key = (int(number) - 1, col_index(letters))
        where = (letters + number).decode()
        index = _SHARED_INDEX.search(attrs) if _SHARED.search(attrs) else None
        if index and text:
            shared[index[1]] = (text, where)
        elif index and index[1] in shared:
            # A formula filled down in Excel is stored once and shared: the other cells
            # hold only its index, so it is translated to each cell, as Excel shows it.
            from openpyxl.formula.translate import Translator

            origin_text, origin = shared[index[1]]
            layer.formulas[key] = Translator("=" + origin_text, origin=origin).translate_formula(where)
            continue
        if text:
            layer.formulas[key] = "=" + text
