"""Finding the plan's table in a source sheet: which row is the header, which source column is
which layout column (despite the trust's own words for it), and the refusals that name what
was found when the essential columns are missing."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import XlplanError
from .excel import (
    CellValue,
    display,
)
from .layout import Layout, load_layout, normal_header

HEADER_SEARCH_ROWS = 50
FUZZY_CUTOFF = 0.82


@dataclass
class SourceSheet:
    """One sheet of the source as read: its rows, visibility and merged cells."""

    name: str | None
    rows: list[list[CellValue]]
    state: str = "visible"
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)


def clip(text: str, limit: int = 60) -> str:
    """Text for a message, cut at a word boundary with '…' rather than mid-word."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:–-") + "…"


def column_names(layout: Layout) -> dict[str, str]:
    """Every header a layout column is known by (its header, its aliases), normalised -> field."""
    names: dict[str, str] = {}
    for column in layout.columns:
        for text in (column.header, *column.aliases):
            names.setdefault(normal_header(text), column.field)
    return names


def resolve_field(layout: Layout, name: str) -> str | None:
    """The field a user means by a field name, a header or one of its aliases."""
    if name.strip() in layout.fields:
        return name.strip()
    return column_names(layout).get(normal_header(name))


def match_columns(
    header: list[CellValue], layout: Layout, mapping: dict[str, str] | None = None
) -> tuple[dict[str, int], dict[str, str], list[int]]:
    """Field -> source column index, despite case, spacing, line breaks and the trust's own
    words for a column; how each field was matched; and the source columns that match nothing."""
    names = column_names(layout)
    mapping = mapping or {}
    matched: dict[str, int] = {}
    how: dict[str, str] = {}
    pending: list[tuple[int, str]] = []
    texts = [normal_header(display(cell)) if cell is not None else "" for cell in header]
    # The user's --map first, then exact names, so "Previous Directorate RAG Rating" can never
    # take the place of "Directorate RAG Rating"; close wording only for what is left.
    for index, text in enumerate(texts):
        if text and text in mapping and mapping[text] not in matched:
            matched[mapping[text]] = index
            how[mapping[text]] = "--map"
    taken = set(matched.values())
    for index, text in enumerate(texts):
        if not text or index in taken:
            continue
        field_name = names.get(text)
        if field_name is not None and field_name not in matched:
            matched[field_name] = index
            column = layout.column(field_name)
            how[field_name] = "header" if normal_header(column.header) == text else "alias"
        else:
            pending.append((index, text))
    # "Target date (dd/mm/yy)", "Lead (name and role)": the words outside the brackets.
    still: list[tuple[int, str]] = []
    for index, text in pending:
        cell = display(header[index])
        bare = normal_header(re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", cell))
        field_name = names.get(bare) if bare and bare != text else None
        if field_name is not None and field_name not in matched:
            matched[field_name] = index
            how[field_name] = "alias"
        else:
            still.append((index, text))
    unmatched: list[int] = []
    for index, text in still:
        free = {name: f for name, f in names.items() if f not in matched}
        close = difflib.get_close_matches(text, list(free), n=1, cutoff=FUZZY_CUTOFF)
        if close:
            matched[free[close[0]]] = index
            how[free[close[0]]] = "close wording"
        else:
            unmatched.append(index)
    return matched, how, sorted(unmatched)


def find_header(
    rows: list[list[CellValue]], layout: Layout, mapping: dict[str, str]
) -> tuple[int, dict[str, int], dict[str, str], list[int]] | None:
    best = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        matched, how, unmatched = match_columns(row, layout, mapping)
        if len(matched) >= min(2, len(layout.columns)) and (best is None or len(matched) > len(best[1])):
            best = (index, matched, how, unmatched)
    return best


def _suggest_layout(sheets: list[SourceSheet], tried: str, better_than: int = 1) -> str:
    """'It looks like layout solent' when another built-in layout fits the headers better."""
    from .layout import builtin_layouts

    best, best_count = None, better_than
    for name in builtin_layouts():
        if name == tried:
            continue
        candidate, _ = load_layout(name)
        for sheet in sheets:
            found = find_header(sheet.rows, candidate, {})
            if found and len(found[1]) > best_count:
                best, best_count = name, len(found[1])
    return f"It looks like layout {best!r}: add --layout {best}.\n" if best else ""


def _header_like_row(sheets: list[SourceSheet]) -> tuple[SourceSheet, int, list[CellValue]] | None:
    """The row most like a table's header: the first with three or more short text cells
    (a title or a merged heading has one), else the fullest of the first rows."""
    fallback = None
    for sheet in sheets:
        for index, row in enumerate(sheet.rows[:HEADER_SEARCH_ROWS]):
            cells = [c for c in row if c is not None]
            short_texts = [c for c in cells if isinstance(c, str) and len(c) <= 80]
            if len(short_texts) >= 3:
                return sheet, index, row
            if cells and (fallback is None or len(cells) > len([c for c in fallback[2] if c is not None])):
                fallback = (sheet, index, row)
    return fallback


def no_header_message(source: Path, sheets: list[SourceSheet], layout: Layout) -> str:
    if not sheets:
        return (
            f"Source {source} is empty: no sheet holds any cells. Check it is the right file "
            "(a CSV must hold the plan's header and its rows)."
        )
    sample = _header_like_row(sheets)
    found = ""
    if sample:
        sheet, index, row = sample
        where = f"sheet {sheet.name!r}, row {index + 1}" if sheet.name else f"row {index + 1}"
        found = (
            f"  The row that looks most like a header ({where}): "
            + "; ".join(clip(display(c), 40) for c in row if c is not None)[:400]
            + "\n"
        )
    fields = ", ".join(f"{c.field} ({clip(c.header, 30)})" for c in layout.columns[:8])
    return (
        f"Source {source}: no row looks like the header of layout {layout.name!r}.\n"
        f"  Expected headers such as: {'; '.join(clip(c.header, 50) for c in layout.columns[:6])} …\n"
        + found
        + _suggest_layout(sheets, layout.name)
        + "Choose the layout that fits (`xlplan layouts`), give your own with --layout FILE.toml, "
        f'or say which of your columns is which with --map "Your header=field" (fields: {fields} …).'
    )


def refuse_unknown_maps(
    source: Path, sheet: SourceSheet, header_index: int, header: list[CellValue], mapping: dict[str, str]
) -> None:
    present = {normal_header(display(c)) for c in header if c is not None}
    missing = [m for m in mapping if m not in present]
    if missing:
        raise XlplanError(
            f"Source {source}{_on_sheet(sheet)}: --map names {', '.join(repr(m) for m in missing)}, "
            f"but the header (row {header_index + 1}) has no such column. Its columns: "
            + "; ".join(repr(display(c)) for c in header if c is not None)
            + "."
        )


def _on_sheet(sheet: SourceSheet) -> str:
    return f", sheet {sheet.name!r}" if sheet.name else ""


def refuse_missing_essentials(
    source: Path,
    sheet: SourceSheet,
    header_index: int,
    header: list[CellValue],
    layout: Layout,
    positions: dict[str, int],
    unmatched: list[int],
    route: str | None,
) -> None:
    """Without the reference, the routing or the action column the plan would be invented:
    refuse, naming what was found and the --map that would fix it."""
    roles = [
        (layout.reference, "the reference of each action"),
        (layout.route, "the service (team) each action goes to"),
    ]
    if layout.action_field:
        roles.append((layout.action_field, "what will be done"))
    missing = [(f, role) for f, role in roles if f not in positions]
    if not missing:
        return
    found = "; ".join(
        f"{display(header[i])!r} = {clip(layout.column(f).header, 40)}"
        for f, i in sorted(positions.items(), key=lambda p: p[1])
    )
    others = [display(header[i]) for i in unmatched if header[i] is not None]
    lines = [
        f"Source {source}{_on_sheet(sheet)}, header on row {header_index + 1}: no column for "
        + " nor ".join(f"{clip(layout.column(f).header, 50)!r} ({role})" for f, role in missing)
        + f" of layout {layout.name!r}. Nothing was written."
    ]
    lines.append(f"  Columns found: {found or '(none)'}.")
    if others:
        lines.append("  Not matched: " + "; ".join(repr(o) for o in others) + ".")
    # A column of plain text (a name, a team) is what can route; prose, dates, ratings cannot.
    plain = [
        display(header[i])
        for f, i in sorted(positions.items(), key=lambda p: p[1])
        if layout.column(f).type in ("text", "choice") and f != layout.reference
    ]
    for f, _ in missing:
        candidates = [*plain, *others] if f == layout.route else others
        example = candidates[0] if candidates else "Your header"
        hint = f'  If one of your columns holds it, add --map "{example}={f}"'
        if f == layout.route and not route:
            hint = (
                f'  Choose the column that routes actions with --route "{example}" (or --map "{example}={f}")'
            )
        lines.append(hint + ".")
    suggestion = _suggest_layout([sheet], layout.name, better_than=len(positions))
    if suggestion:
        lines.append("  " + suggestion.rstrip("\n"))
    else:
        fits = _layout_with_essentials(header, layout.name)
        if fits:
            lines.append(
                f"  Layout {fits!r} finds its reference, routing and action columns in "
                f"this header: add --layout {fits}."
            )
    raise XlplanError("\n".join(lines))


def _layout_with_essentials(header: list[CellValue], tried: str) -> str | None:
    """Another built-in layout that finds the reference, routing and action columns here."""
    from .layout import builtin_layouts

    best, best_count = None, 0
    for name in builtin_layouts():
        if name == tried:
            continue
        candidate, _ = load_layout(name)
        matched, _, _ = match_columns(header, candidate)
        needed = {candidate.reference, candidate.route, candidate.action_field} - {None}
        if needed <= set(matched) and len(matched) > best_count:
            best, best_count = name, len(matched)
    return best
