"""The Committee view of the consolidated master: the columns a committee reads, wide and
wrapped, ratings in their colours, and a printed "Changed this cycle" column (notes do not
print), on A4 or A3 landscape at a scale where the text prints at 8 pt or more."""

from __future__ import annotations

from .excel import clean_for_cell, display
from .layout import Column, Layout
from .plan import COMMITTEE_SHEET, Plan
from .print_setup import print_plan
from .rowxml import letters
from .sheets import Book, row_height

CHANGED_HEADER = "Changed this cycle"
# Layouts name their columns their own way: the committee's columns are found by these words
# in a column's field name when the layout does not say.
REQUIREMENT_WORDS = ("requirement", "recommendation", "finding", "issue")
OWNER_WORDS = ("owner", "manager", "lead", "responsible")
WIDTHS = {
    "reference": 9,
    "route": 13,
    "requirement": 38,
    "action": 42,
    "owner": 16,
    "due": 12,
    "progress": 42,
    "rating": 10,
}


def committee_columns(layout: Layout) -> list[tuple[Column, float]]:
    """(column, width): reference, service, requirement, action, owner, due date, latest
    progress, then every rating column; each once, those the layout lacks left out."""

    def named(words: tuple[str, ...]) -> str | None:
        return next((c.field for c in layout.columns if any(w in c.field.lower() for w in words)), None)

    wanted = [
        (layout.reference, "reference"),
        (layout.route, "route"),
        (named(REQUIREMENT_WORDS), "requirement"),
        (layout.action_field, "action"),
        (named(OWNER_WORDS), "owner"),
        (layout.due_field, "due"),
        (layout.evidence_fields[0] if layout.evidence_fields else None, "progress"),
    ]
    wanted += [(c.field, "rating") for c in layout.columns if c.type == "rating"]
    chosen: list[tuple[Column, float]] = []
    seen: set[str] = set()
    for field, role in wanted:
        if field and field not in seen:
            seen.add(field)
            chosen.append((layout.column(field), WIDTHS[role]))
    return chosen


def changed_columns(plan: Plan) -> dict[str, list[str]]:
    """Per action ID, the headers of its cells changed this cycle (by returns or the central team)."""
    changed: dict[str, list[str]] = {}
    cycle = plan.meta.cycle or ""
    entries = [*plan.cycle_changes, *(plan.log.of_cycle(cycle) if cycle else [])]
    for entry in entries:
        headers = changed.setdefault(entry.action_id, [])
        if entry.column not in headers:
            headers.append(entry.column)
    return changed


def write_committee_sheet(book: Book, plan: Plan, cycle: str) -> None:
    layout = plan.layout
    columns = committee_columns(layout)
    ws = book.workbook.add_worksheet(COMMITTEE_SHEET)
    widths = [w for _, w in columns] + [18]
    for index, width in enumerate(widths):
        ws.set_column(index, index, width)
    ws.write_string(
        0,
        0,
        clean_for_cell(f"{plan.meta.title}: committee view, cycle {cycle or '(none)'}"),
        book.fmt(bold=True, font_size=14),
    )
    ws.write_string(
        1,
        0,
        "The plan as a committee reads it. Edit the plan sheet, not this one: xlplan "
        "writes it again at every merge.",
        book.fmt(italic=True),
    )
    head = book.fmt(bold=True, text_wrap=True, border=1, bg_color="#D9D9D9")
    for index, (column, _) in enumerate(columns):
        ws.write_string(2, index, column.header, head)
    ws.write_string(2, len(columns), CHANGED_HEADER, head)
    body = book.fmt(text_wrap=True, border=1)
    dated = book.fmt(text_wrap=True, border=1, num_format="dd/mm/yyyy", align="left")
    marked = book.fmt(text_wrap=True, border=1, bold=True, bg_color="#FFEB9C")
    ratings = {
        r.value: book.fmt(border=1, bold=True, align="center", bg_color=r.fill, font_color=r.font)
        for r in layout.ratings
    }
    changed = changed_columns(plan)
    per_line = [max(int(w * 1.2) - 1, 4) for w in widths[:-1]]  # as write_table estimates
    # Long headers wrap: the header row is as tall as its longest (bold text runs wider).
    ws.set_row(
        2, row_height([c.header for c, _ in columns], [max(int(n * 0.85), 4) for n in per_line], minimum=30)
    )
    rows = book.rows_of(ws)
    body_style, date_style, marked_style = rows.style(body), rows.style(dated), rows.style(marked)
    rating_styles = {value: rows.style(fmt) for value, fmt in ratings.items()}

    def rating_style(value: object) -> str:
        """A rating in its colour, by any of its names ("Completed" is Purple)."""
        text = display(value)
        found = rating_styles.get(text)
        if found is None:
            found = rating_styles.get(layout.rating_value(text), body_style) if text else body_style
        return found

    kinds = [(letters(i), column.field, column.type == "rating") for i, (column, _) in enumerate(columns)]
    changed_at = letters(len(columns))
    row = 2
    for action in plan.actions:
        row += 1
        number = row + 1
        values = [action.get(field) for _, field, _ in kinds]
        cells = [
            rows.value(
                f"{letter}{number}",
                rating_style(value) if is_rating else body_style,
                value,
                date_style,
            )
            for (letter, _, is_rating), value in zip(kinds, values, strict=True)
        ]
        headers = changed.get(action.id)
        if headers:
            cells.append(rows.text(f"{changed_at}{number}", marked_style, "changed: " + "; ".join(headers)))
        rows.add(row, cells, row_height(values, per_line), len(columns) if headers else len(columns) - 1)
    ws.freeze_panes(3, 1)
    ws.autofilter(2, 0, max(row, 2), len(columns))
    print_plan(ws, widths, (2, 2))
    ws.set_footer(
        "&L"
        + f"{plan.meta.title} · committee view · cycle {cycle or '(none)'}".replace("&", "&&")[:200]
        + "&RPage &P of &N"
    )
