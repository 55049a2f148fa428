"""The rows under the import's header: which are actions and which are headings, keys or repeated
headers; each action's values cleaned for its column; the source columns the layout does not
know, kept as central columns; and the checks on what was read (references, service names)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .clean import Policy, clean_rating, clean_text
from .excel import (
    CellValue,
    cell_name,
    column_letter,
    display,
    value_for_column,
)
from .import_table import SourceSheet, clip
from .layout import Layout, normal_header
from .metadata import ID_HEADER, STATUS_HEADER
from .plan import Action, Plan
from .problems import Problem

# "3.1", "12a", "R1", "SA-4", "4.10.", "ii)": what a reference cell looks like. A section
# heading ("Section 3 – Acute care") never does.
REFERENCE_PATTERN = re.compile(
    r"^(?:[A-Za-z]{0,4}[-.]?\d+(?:[.\-/]\d+)*[A-Za-z]?[.)]?|[ivxlc]{1,6}[.)]?)$", re.I
)
# The first words of a key, legend or footnote row ("Key: R = off track", "* see glossary").
# The first words of a key, legend or footnote row ("Key: R = off track", "NB - …", "* see
# glossary", a lone "Key" before the colours). Punctuation is required after the word, so an
# action that starts "Key worker allocation" is never taken for one.
KEY_PATTERN = re.compile(
    r"^\s*(?:(?:key|legend|notes?|nb|n\.b\.|source|footnotes?)\s*[:\-–=]"
    r"|(?:key|legend)\s*$|[*†‡])",
    re.I,
)
SKIP_KINDS = {
    "section": "section heading(s)",
    "key": "key or footnote row(s)",
    "header": "repeated header row(s)",
}


@dataclass
class SkippedRow:
    row: int  # 1-based, as the person sees it
    kind: str  # section | key | header
    text: str


@dataclass
class ExtraColumn:
    index: int
    source: str
    header: str
    field: str
    filled: int
    dates: bool


def extra_field(n: int) -> str:
    """The key of a kept source column's value in Action.values (see Plan.extra_columns)."""
    return f"_extra_{n}"


def extra_columns(
    rows: list[list[CellValue]],
    header_index: int,
    header: list[CellValue],
    unmatched: list[int],
    layout: Layout,
) -> list[ExtraColumn]:
    """Source columns the layout does not know, with a header or any value under it."""
    taken = {h.strip().lower() for c in layout.columns for h in (c.header,)}
    taken |= {STATUS_HEADER.lower(), ID_HEADER.lower()}
    body = rows[header_index + 1 :]
    width = max((len(r) for r in body), default=0)
    candidates = sorted(set(unmatched) | {i for i in range(len(header), width)})
    extras: list[ExtraColumn] = []
    for index in candidates:
        values = [r[index] for r in body if index < len(r) and r[index] is not None]
        source = display(header[index]).strip() if index < len(header) else ""
        if not source and not values:
            continue
        base = " ".join(source.split()) or f"Column {column_letter(index)}"
        # The master's header row must name each column once: a source column named like a
        # layout column (or xlplan's own) gets a suffix.
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base} (source)" if n == 2 else f"{base} ({n})"
        taken.add(name.lower())
        extras.append(
            ExtraColumn(
                index,
                source or name,
                name,
                extra_field(len(extras)),
                len(values),
                bool(values) and all(isinstance(v, dt.date) for v in values),
            )
        )
    return extras


def _classify(
    row: list[CellValue],
    header_norm: list[str],
    ref_col: int | None,
    first_col: int,
    merged: dict[int, list[tuple[int, int]]],
    row_index: int,
) -> str | None:
    """Why a row under the header is not an action (a kind of SKIP_KINDS, or 'blank'), or None."""
    filled = [(i, c) for i, c in enumerate(row) if c is not None]
    if not filled:
        return "blank"
    # The header printed again at a page break, perhaps with a cell or two left out.
    named = [(i, h) for i, h in enumerate(header_norm) if h]
    same = sum(
        1 for i, h in named if i < len(row) and row[i] is not None and normal_header(display(row[i])) == h
    )
    if same >= max(2, -(-len(named) * 3 // 5)):
        return "header"
    ref_text = display(row[ref_col]).strip() if ref_col is not None and ref_col < len(row) else ""
    if ref_text and REFERENCE_PATTERN.match(ref_text):
        return None
    first_text = display(filled[0][1])
    if KEY_PATTERN.match(first_text) and not (ref_text and ref_text != first_text.strip()):
        return "key"
    spans = merged.get(row_index, [])
    in_one_merge = any(all(c0 <= i <= c1 for i, _ in filled) for c0, c1 in spans if c1 > c0)
    if in_one_merge or (len(filled) == 1 and filled[0][0] <= first_col):
        return "section"
    return None


def read_actions(
    plan: Plan,
    sheet: SourceSheet,
    header_index: int,
    positions: dict[str, int],
    extras: list[ExtraColumn],
    ratings: dict[str, str],
    problems: list[Problem],
    where: dict,
) -> tuple[list[SkippedRow], dict[str, int]]:
    layout = plan.layout
    rows = sheet.rows
    header_norm = [normal_header(display(c)) if c is not None else "" for c in rows[header_index]]
    merged: dict[int, list[tuple[int, int]]] = {}
    for r0, c0, r1, c1 in sheet.merged:
        for r in range(r0, r1 + 1):
            merged.setdefault(r, []).append((c0, c1))
    first_col = min(positions.values())
    ref_col = positions.get(layout.reference)
    skipped: list[SkippedRow] = []
    source_rows: dict[str, int] = {}
    unrated: dict[tuple[str, str], list[int]] = {}
    for row_index in range(header_index + 1, len(rows)):
        row = rows[row_index]
        kind = _classify(row, header_norm, ref_col, first_col, merged, row_index)
        if kind == "blank":
            continue
        if kind is not None:
            text = " ".join(display(c) for c in row if c is not None)
            skipped.append(SkippedRow(row_index + 1, kind, text))
            continue
        values: dict[str, CellValue] = {}
        for field_name, col in positions.items():
            value = row[col] if col < len(row) else None
            values[field_name] = _clean(
                value, layout, field_name, row_index, col, ratings, unrated, problems, where
            )
        for extra in extras:
            value = row[extra.index] if extra.index < len(row) else None
            if isinstance(value, str):
                value = _clean_text(value, extra.header, row_index, extra.index, problems, where)
            values[extra.field] = value if extra.dates else value_for_column(value, "text")
        action = Action(id=plan.new_id(), values=values)
        plan.actions.append(action)
        source_rows[action.id] = row_index + 1
    # A one-cell row after the last action closes the table: a footnote, not a heading.
    last_action = max(source_rows.values(), default=0)
    for row in skipped:
        if row.kind == "section" and row.row > last_action:
            row.kind = "key"
        problems.append(
            Problem(
                "skipped-row",
                f"row {row.row} is a "
                f"{SKIP_KINDS[row.kind].replace('(s)', '')}, not an action: "
                f"{clip(row.text, 60)!r}; left out of the plan.",
                cell=cell_name(row.row - 1, 0),
                **where,
            )
        )
    for (field_name, value), at in unrated.items():
        column = layout.column(field_name)
        rows_text = ", ".join(str(r) for r in at[:10]) + (f" and {len(at) - 10} more" if len(at) > 10 else "")
        problems.append(
            Problem(
                "invalid-rating",
                f"{value!r} (row(s) {rows_text}) is not on the scale "
                f"({', '.join(layout.rating_values)}); kept as written, so it counts as not rated. "
                f'Import again with --map-rating "{value}=VALUE" (the scale value you mean), or add '
                f"it to that rating's aliases in your layout.",
                value=value,
                column=column.header,
                severity="warning",
                **where,
            )
        )
    return skipped, source_rows


def _clean_text(value: str, header: str, row: int, col: int, problems: list[Problem], where: dict) -> str:
    """A source's text as the master will hold it: line breaks as Excel writes them, and the
    shared cleaning (`clean.py`) under the import's policy, which keeps what it can."""
    here = {"cell": cell_name(row, col), "column": header, **where}
    cleaned = clean_text(value.replace("\r\n", "\n").replace("\r", "\n"), Policy.KEEP, here)
    problems.extend(cleaned.problems)
    assert isinstance(cleaned.value, str)  # text in, text out
    return cleaned.value


def _clean(
    value: CellValue,
    layout: Layout,
    field_name: str,
    row: int,
    col: int,
    ratings: dict[str, str],
    unrated: dict[tuple[str, str], list[int]],
    problems: list[Problem],
    where: dict,
) -> CellValue:
    column = layout.column(field_name)
    value = value_for_column(value, column.type)
    if not isinstance(value, str):
        return value
    if column.type != "rating":
        return _clean_text(value, column.header, row, col, problems, where)
    here = {"cell": cell_name(row, col), "column": column.header, **where}
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    cleaned = clean_rating(text, layout, Policy.KEEP, here, mapped=ratings)
    problems.extend(cleaned.problems)
    if cleaned.off_scale:
        # Said once per spelling after the table is read, with every row it is on.
        unrated.setdefault((field_name, display(cleaned.value).strip()), []).append(row + 1)
    return cleaned.value


def check_references(
    plan: Plan, source_rows: dict[str, int], positions: dict[str, int], problems: list[Problem], where: dict
) -> None:
    layout = plan.layout
    refs: dict[str, int] = {}
    for action in plan.actions:
        row = source_rows[action.id]
        ref = display(action.get(layout.reference)).strip()
        cell = cell_name(row - 1, positions.get(layout.reference, 0))
        if not ref:
            problems.append(
                Problem(
                    "blank-reference",
                    f"row {row} has no {layout.column(layout.reference).header!r}; kept with ID {action.id}.",
                    cell=cell,
                    **where,
                )
            )
        elif ref in refs:
            problems.append(
                Problem(
                    "duplicate-reference",
                    f"reference {ref!r} is on rows {refs[ref]} and {row}; both are kept, with their own IDs.",
                    action=ref,
                    cell=cell,
                    **where,
                )
            )
        else:
            refs[ref] = row


def service_key(name: str) -> str:
    """What is left of a service name when case, punctuation and spacing do not count."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def _same_person(a: str, b: str) -> bool:
    """'K Slater' and 'Kate Slater', 'K. Slater' and 'Slater K': initials standing for names."""
    ta, tb = re.findall(r"[a-z0-9]+", a.lower()), re.findall(r"[a-z0-9]+", b.lower())
    if len(ta) != len(tb) or len(ta) < 2:
        return False
    for order in (tb, tb[::-1]):
        if (
            all(
                x == y or (len(x) == 1 and y.startswith(x)) or (len(y) == 1 and x.startswith(y))
                for x, y in zip(ta, order, strict=True)
            )
            and ta != order
        ):
            return True
    return False


def similar_services(
    routes: dict[str, list[str]], source_rows: dict[str, int], layout: Layout, where: dict
) -> list[Problem]:
    """Service names that are probably one service typed two ways, with the rows of each."""
    rows_of: dict[str, list[int]] = {}
    for action_id, services in routes.items():
        for service in services:
            rows_of.setdefault(service, []).append(source_rows.get(action_id, 0))
    # Only names sharing their key, or their longest word (a surname), are compared: a plan
    # routed by person may name thousands.
    buckets: dict[str, list[str]] = {}
    for name in rows_of:
        words = re.findall(r"[a-z0-9]+", name.lower())
        for bucket in {"k:" + service_key(name), "w:" + max(words, key=len, default="")}:
            buckets.setdefault(bucket, []).append(name)
    order = {name: n for n, name in enumerate(rows_of)}
    problems = []
    seen: set[frozenset[str]] = set()
    for a in rows_of:
        words = re.findall(r"[a-z0-9]+", a.lower())
        near = {
            *buckets.get("k:" + service_key(a), []),
            *buckets.get("w:" + max(words, key=len, default=""), []),
        }
        group = [a] + [
            b
            for b in sorted(near, key=order.__getitem__)
            if b != a and (service_key(a) == service_key(b) or _same_person(a, b))
        ]
        if len(group) < 2 or frozenset(group) in seen:
            continue
        seen.add(frozenset(group))
        detail = "; ".join(
            f"{name!r} on row(s) {', '.join(str(r) for r in rows_of[name][:10])}" for name in group
        )
        header = layout.column(layout.route).header
        problems.append(
            Problem(
                "similar-services",
                f"{detail} look like one service typed {len(group)} ways; each "
                f"would get its own workbook. Make {header!r} the same in the source (or the master) "
                "and import again.",
                column=header,
                **where,
            )
        )
    return problems
