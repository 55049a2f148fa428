"""The Progress sheet of the consolidated master: are we getting better, what has slipped,
what is stuck. Written from the master's history of cycles (xlplan.history) at every write,
so issuing the next cycle keeps it; the figures are the Summary's own (xlplan.figures)."""

from __future__ import annotations

from . import style
from .excel import CellValue, display
from .figures import ServiceFigures, total_figures
from .history import STUCK_DAYS, History, slipped_actions, stuck_actions
from .plan import PROGRESS_SHEET, Plan
from .print_setup import print_table
from .rowxml import Cells
from .sheets import Book

SLIPPED_HEADERS = ["Action", "Service", "Times moved", "First due date", "Current due date", "Last moved"]
STUCK_HEADERS = ["Action", "Service", "Rating", "Due date", "Why stuck"]
CHART_ROWS = 18  # the charts sit below the cycles' table, over this many rows


def figure_headers(scale: list[str]) -> list[str]:
    return ["Actions", *scale, "Not rated", "Open", "Overdue", "Complete %"]


def figure_values(f: ServiceFigures, scale: list[str]) -> list[CellValue | int | float]:
    return [f.actions, *(f.ratings.get(v, 0) for v in scale), f.not_rated, f.open, f.overdue, f.complete_pct]


def write_progress_sheet(book: Book, plan: Plan, history: History, *, stuck_days: int = STUCK_DAYS) -> None:
    scale = plan.layout.rating_values
    ratings = plan.layout.ratings
    ws = book.workbook.add_worksheet(PROGRESS_SHEET)
    cells = Cells(book.rows_of(ws))
    latest = history.latest()
    as_of = latest.as_of if latest else None
    ws.set_column(0, 0, 14)
    ws.set_column(1, 1, 22)
    ws.set_column(2, len(scale) + 6, 11)
    ws.set_column(len(STUCK_HEADERS) - 1, len(STUCK_HEADERS) - 1, 30)  # "Why stuck"
    title = book.fmt(bold=True, font_size=style.TITLE_SIZE)
    section = book.fmt(bold=True, font_size=12)
    note = book.fmt(italic=True)
    head = book.fmt(
        bold=True,
        bg_color=style.HEADER_FILL["central"],
        border=1,
        text_wrap=True,
        border_color=style.BORDER_COLOUR,
    )
    body = book.fmt(border=1, border_color=style.BORDER_COLOUR, text_wrap=True)
    dated = book.fmt(border=1, border_color=style.BORDER_COLOUR, num_format="dd/mm/yyyy", align="left")
    pct = book.fmt(border=1, border_color=style.BORDER_COLOUR, num_format="0%")
    rating_head = {
        r.value: book.fmt(
            bold=True, border=1, text_wrap=True, align="center", bg_color=r.fill, font_color=r.font
        )
        for r in ratings
    }

    def header(row: int, texts: list[str]) -> None:
        for col, text in enumerate(texts):
            cells.string(row, col, text, rating_head.get(text, head))

    def values(row: int, start: int, items: list) -> None:
        for col, value in enumerate(items, start=start):
            if isinstance(value, float):
                cells.number(row, col, value, pct)
            elif isinstance(value, int):
                cells.number(row, col, value, body)
            elif isinstance(value, str):
                cells.string(row, col, value, body)
            else:
                cells.value(row, col, value, body, dated)

    cells.string(0, 0, f"{plan.meta.title}: progress over cycles", title)
    cells.string(
        1,
        0,
        "Each cycle as its latest merge left it (overdue as of that merge's date). "
        f"Stuck: the same not-complete rating for two cycles or more, or overdue by "
        f"more than {stuck_days} days" + (f" on {as_of:%d/%m/%Y}." if as_of else "."),
        note,
    )
    row = 3
    cells.string(row, 0, "Per cycle, all services", section)
    row += 1
    cycles_head = row
    header(row, ["Cycle", "As of", *figure_headers(scale)])
    for record in history.cycles:
        row += 1
        total = total_figures(record.figures, scale)
        cells.string(row, 0, record.cycle, body)
        values(row, 1, [record.as_of, *figure_values(total, scale)])
    if history.cycles:
        first, last = cycles_head + 1, row
        trend = book.workbook.add_chart({"type": "line"})
        trend.add_series(
            {
                "name": "Complete %",
                "categories": [PROGRESS_SHEET, first, 0, last, 0],
                "values": [PROGRESS_SHEET, first, len(scale) + 6, last, len(scale) + 6],
                "marker": {"type": "circle"},
            }
        )
        trend.set_title({"name": "Complete % per cycle"})
        trend.set_y_axis({"min": 0, "max": 1, "num_format": "0%"})
        trend.set_legend({"none": True})
        trend.set_size({"width": 420, "height": 300})
        stacked = book.workbook.add_chart({"type": "column", "subtype": "stacked"})
        for index, rating in enumerate(ratings, start=3):
            stacked.add_series(
                {
                    "name": [PROGRESS_SHEET, cycles_head, index],
                    "categories": [PROGRESS_SHEET, first, 0, last, 0],
                    "values": [PROGRESS_SHEET, first, index, last, index],
                    "fill": {"color": rating.fill},
                    "border": {"color": "#808080"},
                }
            )
        stacked.set_title({"name": "Ratings per cycle"})
        stacked.set_legend({"position": "bottom"})
        stacked.set_size({"width": 480, "height": 300})
        ws.insert_chart(row + 2, 0, trend)
        ws.insert_chart(row + 2, 5, stacked)
        row += CHART_ROWS + 2
    row += 2
    cells.string(row, 0, "Per cycle and service", section)
    row += 1
    header(row, ["Cycle", "Service", *figure_headers(scale)])
    for record in history.cycles:
        for figures in record.figures:
            row += 1
            cells.string(row, 0, record.cycle, body)
            values(row, 1, [figures.service, *figure_values(figures, scale)])
    row += 2
    slipped = slipped_actions(plan)
    cells.string(row, 0, f"Slipped actions: due date moved later ({len(slipped)})", section)
    row += 1
    header(row, SLIPPED_HEADERS)
    for item in slipped:
        row += 1
        values(
            row, 0, [item.action, item.service, item.moves, item.first_due, item.current_due, item.last_moved]
        )
    row += 2
    stuck = stuck_actions(plan, history, as_of, stuck_days) if as_of else []
    cells.string(row, 0, f"Stuck actions ({len(stuck)})", section)
    row += 1
    header(row, STUCK_HEADERS)
    for item in stuck:
        row += 1
        values(row, 0, [item.action, item.service, item.rating, item.due, item.why])
    cells.close()
    cycle = display(latest.cycle) if latest else ""
    print_table(ws, None, footer=f"{plan.meta.title} · progress to cycle {cycle}")
