"""What a sheet holds that xlplan cannot carry into the master (merged cells, validations,
hyperlinks, tables, colours, pivot tables, other people's notes) and which sheets hold
drawings (images, charts, shapes)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from .safety_gate import UNREADABLE_PART, sheet_parts
from .sheet_styles import coloured_cells, unescape

# What xlplan never writes on a sheet it carries, so finding one there means it would be lost.
_FEATURES = (
    (re.compile(rb"<mergeCell\b"), "merged cells"),
    (re.compile(rb"<conditionalFormatting\b"), "conditional formatting"),
    (re.compile(rb"<dataValidation\b"), "drop-down lists or validation rules"),
    (re.compile(rb"<hyperlink\b"), "hyperlinks"),
    (re.compile(rb"<tablePart\b"), "an Excel table (Format as Table)"),
)
_COMMENTS_TARGET = re.compile(
    rb'<Relationship\b(?=[^>]*?relationships/comments")[^>]*?\bTarget="([^"]+)"', re.S
)
_AUTHOR = re.compile(rb"<author>([^<]*)</author>")
_COMMENT = re.compile(rb'<comment\b[^>]*?\bauthorId="(\d+)"[^>]*>(.*?)</comment>', re.S)
_TEXT = re.compile(rb"<t\b[^>]*>([^<]*)")
XLPLAN_AUTHOR = "xlplan"
# Of those, what xlplan never writes on the plan sheet (it writes its own validations and
# conditional formats there, so those cannot be told from the team's).
PLAN_SHEET_FOREIGN = ("merged cells", "hyperlinks", "an Excel table (Format as Table)")
# How the note on a cell a merge changed begins (report.change_note). LibreOffice drops a
# note's author when it saves, so xlplan's own notes are also known by their first words.
XLPLAN_NOTE_START = "Changed by "


def uncarried_patterns(
    on_plan_sheet: bool, fills: dict[bytes, str], own_fills: set[str]
) -> dict[str, re.Pattern]:
    """What to look for on a sheet that xlplan cannot carry: on the plan sheet, which xlplan
    formats itself, only what it never writes there."""
    patterns = {
        label: pattern for pattern, label in _FEATURES if not on_plan_sheet or label in PLAN_SHEET_FOREIGN
    }
    # xlplan colours the plan sheet itself (changes, proposals, headers); it writes no colour
    # on the team's own sheets.
    coloured = coloured_cells(fills, own_fills if on_plan_sheet else set())
    if coloured is not None:
        patterns["colour"] = coloured
    return patterns


def uncarried(counts: dict[str, int], archive: zipfile.ZipFile, part: str, listing: set[str]) -> list[str]:
    """What a sheet holds that cannot be carried, as a list for a message."""
    features = [label for label, count in counts.items() if label != "colour" and count]
    coloured = counts.get("colour", 0)
    if coloured:
        features.append(f"cell colours ({coloured} cell{'s' if coloured > 1 else ''})")
    folder, _, base = part.rpartition("/")
    rels = f"{folder}/_rels/{base}.rels"
    notes = 0
    if rels in listing:
        relations = archive.read(rels)
        if b'relationships/pivotTable"' in relations:
            features.append("a pivot table")
        for target in _COMMENTS_TARGET.findall(relations):
            comments = _resolve(folder, target.decode())
            if comments in listing:
                notes += _notes_by_others(archive.read(comments))
    if notes:
        features.append(f"{notes} note{'s' if notes > 1 else ''} (comments)")
    return features


def _notes_by_others(data: bytes) -> int:
    """Notes not written by xlplan (its own say what a merge changed, and move to the log)."""
    authors = [unescape(a) for a in _AUTHOR.findall(data)]
    if authors and all(a == XLPLAN_AUTHOR for a in authors):
        return 0  # as xlplan wrote them (Excel keeps the author; LibreOffice does not)
    count = 0
    for match in _COMMENT.finditer(data):
        index = int(match[1])
        if index < len(authors) and authors[index] == XLPLAN_AUTHOR:
            continue
        text = _TEXT.search(match[2])
        if not (text and unescape(text[1]).startswith(XLPLAN_NOTE_START)):
            count += 1
    return count


def sheets_with_drawings(path: Path) -> dict[str, str]:
    """Sheets that hold images, charts or shapes: name -> a short digest of the drawing.

    A drawing part with no anchored object in it is nothing: LibreOffice writes an empty one
    for a sheet it saved, and that must not be reported as content lost."""
    import hashlib

    found: dict[str, str] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            listing = set(archive.namelist())
            for name, part in sheet_parts(archive).items():
                folder, _, base = part.rpartition("/")
                rels = f"{folder}/_rels/{base}.rels"
                if rels not in listing:
                    continue
                # relationships/drawing: images, charts, shapes. vmlDrawing is just the notes.
                for target in _DRAWING_TARGET.findall(archive.read(rels)):
                    drawing = _resolve(folder, target.decode())
                    data = archive.read(drawing) if drawing in listing else b""
                    if _ANCHOR.search(data):
                        found[name] = hashlib.sha256(data).hexdigest()[:12]
    except UNREADABLE_PART:
        pass
    return found


_DRAWING_TARGET = re.compile(
    rb'<Relationship\b(?=[^>]*?relationships/drawing")[^>]*?\bTarget="([^"]+)"', re.S
)
# Every object on a drawing is anchored to the sheet by one of these.
_ANCHOR = re.compile(rb"<(?:\w+:)?(?:twoCellAnchor|oneCellAnchor|absoluteAnchor)\b")


def _resolve(folder: str, target: str) -> str:
    """A relationship's target as a zip part name ('../drawings/drawing1.xml' from xl/worksheets)."""
    if target.startswith("/"):
        return target.lstrip("/")
    parts = folder.split("/") if folder else []
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)
