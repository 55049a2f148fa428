"""What compliance staff read after a merge: highlights and notes on the plan sheet, and the
Summary, Changes and Issues sheets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import style
from .excel import CellValue, column_letter, display
from .figures import ServiceFigures, service_figures
from .issue_counts import issue_count_lines
from .plan import (
    CHANGES_HEADERS,
    CHANGES_SHEET,
    ISSUE_HEADERS,
    ISSUES_SHEET,
    SUMMARY_SHEET,
    LogEntry,
    Plan,
    proposal_status,
)
from .plan_sheet import CellMark, SheetRow
from .print_setup import print_table
from .problems import Problem, plural
from .sheet_features import XLPLAN_NOTE_START
from .sheets import Book, write_table

if TYPE_CHECKING:
    from .outcome import Change, MergeResult

ISSUE_WIDTHS = [9, 22, 14, 24, 12, 7, 9, 28, 24, 80, 18, 16]
CHANGE_WIDTHS = [16, 16, 24, 10, 30, 40, 40, 10, 10]


def change_note(change: Change) -> str:
    when = change.saved_at.strftime("%d/%m/%Y %H:%M") if change.saved_at else "unknown time"
    first = f"{XLPLAN_NOTE_START}{change.service} ({change.file}, saved {when})."
    return _note(first, change.old, change.kind)


def entry_note(entry: LogEntry) -> str:
    first = f"Changed by {entry.service} ({entry.file}, merged {entry.merged_at})."
    return _note(first, entry.old, entry.kind)


def _note(first: str, old: CellValue, kind: str) -> str:
    """A changed cell's note: who changed it, the value before, and what a conflict means."""
    lines = [first, f"Previous value: {display(old) or '(empty)'}"]
    if kind == "conflict":
        lines.append(
            "CONFLICT: both changed this cell since issue; the service's value is "
            "shown. The other value is the previous value above."
        )
    return "\n".join(lines)


def plan_rows(plan: Plan, merge: MergeResult | None) -> Iterator[SheetRow]:
    """The plan sheet's rows with every cell changed this cycle highlighted: the cycle's
    earlier merges first, this merge's over them."""
    marks: dict[str, dict[str, CellMark]] = {}
    field_of = {c.header: c.field for c in plan.layout.columns}
    for entry in plan.cycle_changes:
        name = field_of.get(entry.column)
        if name is None or entry.kind == "proposed":
            continue
        fill = style.CONFLICT_FILL if entry.kind == "conflict" else style.CHANGED_FILL
        marks.setdefault(entry.action_id, {})[name] = CellMark(fill, entry_note(entry))
    changes = merge.changes if merge is not None else []
    for change in changes:
        if change.kind == "proposed":
            continue
        fill = style.CONFLICT_FILL if change.kind == "conflict" else style.CHANGED_FILL
        marks.setdefault(change.action_id, {})[change.field] = CellMark(fill, change_note(change))
    proposed_now = {c.action_id for c in changes if c.kind == "proposed"}
    proposed_now |= {e.action_id for e in plan.cycle_changes if e.kind == "proposed"}
    for action in plan.actions:
        status = [proposal_status(action)] if action.proposed_by else []
        own = marks.get(action.id, {})
        if own:
            status.insert(0, f"changed ({len(own)})")
        if any(m.fill == style.CONFLICT_FILL for m in own.values()):
            status.append("conflict")
        yield SheetRow(
            action.id,
            action.values,
            status="; ".join(status),
            marks=own,
            fill=style.PROPOSED_FILL if action.id in proposed_now and action.proposed_by else None,
        )


def summary_rows(
    plan: Plan, merge: MergeResult, computed: list[ServiceFigures] | None = None
) -> tuple[list[str], list[list]]:
    """The Summary's table; `computed`: this merge's figures when already worked out (the
    Progress sheet records the same figures for this cycle)."""
    layout = plan.layout
    scale = layout.rating_values
    headers = [
        "Service",
        "Actions",
        *scale,
        "Not rated",
        "Overdue",
        "Returned",
        "Return saved",
        "File",
        "Returned by",
        "Complete %",
    ]
    status = {s.service: s for s in merge.statuses}
    rows: list[list] = []
    if computed is None:
        computed = service_figures(plan, merge.as_of)
    for figures in computed:  # one source, shared with Progress
        got = status.get(figures.service)
        rows.append(
            [
                figures.service,
                figures.actions,
                *figures.ratings.values(),
                figures.not_rated,
                figures.overdue,
                "Yes" if got and got.returned else "No",
                got.saved_at.strftime("%d/%m/%Y %H:%M") if got and got.saved_at else "",
                (got.file or "") if got else "",
                returned_by(got),
                figures.complete_pct,
            ]
        )
    return headers, rows


def returned_by(status) -> str:
    """ "Jane Doe <jane.doe@nhs.net> on 03/03/2025 10:15" for a return that came by email."""
    if status is None or not (status.sender or status.sent_at):
        return ""
    when = f" on {status.sent_at:%d/%m/%Y %H:%M}" if status.sent_at else ""
    return f"{status.sender or 'unknown sender'}{when}"


def write_summary(
    book: Book, plan: Plan, merge: MergeResult, computed: list[ServiceFigures] | None = None
) -> None:
    headers, rows = summary_rows(plan, merge, computed)
    ws = book.workbook.add_worksheet(SUMMARY_SHEET)
    scale = plan.layout.ratings
    ws.set_column(0, 0, 22)
    ws.set_column(1, len(headers) - 1, 10)
    ws.set_column(len(headers) - 4, len(headers) - 4, 17)
    ws.set_column(len(headers) - 3, len(headers) - 2, 28)  # File, Returned by
    title = book.fmt(bold=True, font_size=style.TITLE_SIZE)
    ws.write_string(
        0, 0, f"{plan.meta.title}: summary after the merge of {merge.merged_at:%d/%m/%Y %H:%M}", title
    )
    rating_field = plan.layout.service_rating
    rated_by = plan.layout.column(rating_field).header if rating_field else "service"
    ws.write_string(
        1,
        0,
        f"Cycle {merge.cycle} · overdue as of {merge.as_of:%d/%m/%Y} · "
        f"{plural(len(merge.changes), 'cell')} changed, {merge.errors} refused, "
        f"{plural(merge.conflicts, 'conflict')} · ratings are the "
        f"{rated_by} column · a joint action counts once for each service",
        book.fmt(italic=True),
    )
    head_row = 3
    for col, text in enumerate(headers):
        props = {
            "bold": True,
            "border": 1,
            "text_wrap": True,
            "align": "center",
            "bg_color": style.HEADER_FILL["central"],
        }
        rating = next((r for r in scale if r.value == text), None)
        if rating:
            props.update(bg_color=rating.fill, font_color=rating.font)
        ws.write_string(head_row, col, text, book.fmt(**props))
    body = book.fmt(border=1)
    pct = book.fmt(border=1, num_format="0%")
    for offset, values in enumerate(rows, start=1):
        for col, value in enumerate(values):
            if isinstance(value, (int, float)) and col == len(headers) - 1:
                ws.write_number(head_row + offset, col, value, pct)
            elif isinstance(value, (int, float)):
                ws.write_number(head_row + offset, col, value, body)
            else:
                ws.write_string(head_row + offset, col, str(value), body)
    total_row = head_row + len(rows) + 1
    bold = book.fmt(bold=True, border=1, top=2)
    ws.write_string(total_row, 0, "Total", bold)
    first, last = head_row + 2, head_row + len(rows) + 1  # 1-based rows for formulas
    for col in range(1, len(scale) + 4):
        letter = column_letter(col)
        total = sum(r[col] for r in rows)
        ws.write_formula(total_row, col, f"=SUM({letter}{first}:{letter}{last})", bold, total)
    done_cols = [i for i, r in enumerate(scale, start=2) if r.complete]
    actions = sum(r[1] for r in rows)
    done = sum(r[c] for r in rows for c in done_cols)
    ws.write_number(
        total_row,
        len(headers) - 1,
        done / actions if actions else 0.0,
        book.fmt(bold=True, border=1, top=2, num_format="0%"),
    )
    if rows:
        chart = book.workbook.add_chart({"type": "bar", "subtype": "stacked"})
        for index, rating in enumerate(scale, start=2):
            chart.add_series(
                {
                    "name": [SUMMARY_SHEET, head_row, index],
                    "categories": [SUMMARY_SHEET, head_row + 1, 0, head_row + len(rows), 0],
                    "values": [SUMMARY_SHEET, head_row + 1, index, head_row + len(rows), index],
                    "fill": {"color": rating.fill},
                    "border": {"color": "#808080"},
                }
            )
        chart.set_title({"name": "Ratings per service"})
        chart.set_x_axis({"name": "Actions"})
        chart.set_y_axis({"reverse": True})  # services top to bottom, as in the table
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": 760, "height": 120 + 34 * len(rows)})
        ws.insert_chart(total_row + 2, 0, chart)
    ws.freeze_panes(head_row + 1, 1)
    print_table(ws, head_row, footer=f"{plan.meta.title} · summary · cycle {merge.cycle}")


def write_merge_sheets(
    book: Book, plan: Plan, merge: MergeResult, computed: list[ServiceFigures] | None = None
) -> None:
    write_summary(book, plan, merge, computed)
    stamp = merge.merged_at.strftime("%Y-%m-%d %H:%M")
    plan.cycle_changes.extend(merge.log_entries())
    plan.cycle_issues = cycle_issues(plan.cycle_issues, merge.problems, stamp, processed(merge))
    write_cycle_sheets(book, plan, merge.cycle)


def write_cycle_sheets(book: Book, plan: Plan, cycle: str) -> None:
    """Changes and Issues hold the whole cycle: every merge of it adds to them."""
    merges = len({e.merged_at for e in plan.cycle_changes})
    write_table(
        book,
        CHANGES_SHEET,
        CHANGES_HEADERS,
        (e.change_row() for e in plan.cycle_changes),
        CHANGE_WIDTHS,
        title=f"Changes merged in cycle {cycle} ({merges} merge{'s' if merges != 1 else ''} so far)",
        notes=[
            "Each changed cell is also highlighted on the plan sheet, with the "
            "previous value in its note. Issuing the next cycle moves these rows to "
            "the Change log."
        ],
    )
    write_table(
        book,
        ISSUES_SHEET,
        ISSUE_HEADERS,
        ([row.get(h) for h in ISSUE_HEADERS] for row in plan.cycle_issues),
        ISSUE_WIDTHS,
        title=f"Problems found in cycle {cycle}",
        notes=[
            "error: refused and not applied · warning: applied, worth a look · info: done "
            "for you · a problem a later return no longer has is marked resolved",
            *issue_count_lines(plan.cycle_issues),
        ],
    )


def processed(merge: MergeResult) -> tuple[set[str], set[str]]:
    """The services and files this merge judged: their earlier problems are settled by it.
    The master itself is judged by every merge (its problems name no service, or its file)."""
    services = {s.service for s in merge.statuses}
    services |= {p.service for p in merge.problems if p.service and p.file}
    files = {p.file for p in merge.problems if p.file} | {"", merge.output.name}
    return services, files


_RANK = {"error": 0, "warning": 1, "info": 2}


def _issue_key(row: dict) -> tuple:
    return (
        row.get("Code"),
        row.get("Service") or row.get("File"),
        row.get("Sheet"),
        row.get("Action"),
        row.get("Column"),
    )


def cycle_issues(
    earlier: list[dict], problems: list[Problem], stamp: str, judged: tuple[set[str], set[str]]
) -> list[dict]:
    """The cycle's problems after this merge: what it found is open (keeping when it was first
    found); an earlier one about a service or file it judged again and no longer found is
    marked resolved; the rest are kept as they were."""
    services, files = judged
    found: dict[tuple, dict] = {}
    for p in problems:
        row = {
            "Status": "open",
            "Found": stamp,
            "Severity": str(p.severity),
            "Code": p.code,
            "Service": p.service,
            "File": p.file,
            "Sheet": p.sheet,
            "Cell": p.cell,
            "Action": p.action,
            "Column": p.column,
            "Value": p.value,
            "Message": p.message,
        }
        found.setdefault(_issue_key(row), row)
    rows: list[dict] = []
    for row in earlier:
        key = _issue_key(row)
        if key in found:
            found[key]["Found"] = row.get("Found") or stamp
            continue
        if display(row.get("Status")) == "open" and (
            row.get("Service") in services or (not row.get("Service") and display(row.get("File")) in files)
        ):
            row = {**row, "Status": f"resolved {stamp}"}
        rows.append(row)
    rows.extend(found.values())
    rows.sort(
        key=lambda r: (
            display(r.get("Status")) != "open",
            _RANK.get(display(r.get("Severity")), 3),
            display(r.get("Service")),
            display(r.get("File")),
        )
    )
    return rows
