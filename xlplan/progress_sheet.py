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
    ws = book.workbook.add_worksheet(PROGRESS_SHEET)
    latest = history.latest()
    as_of = latest.as_of if latest else None
    ws.set_column(0, 0, 14)
    ws.set_column(1, 1, 22)
    ws.set_column(2, len(scale) + 6, 11)
    ws.set_column(len(STUCK_HEADERS) - 1, len(STUCK_HEADERS) - 1, 30)  # "Why stuck"
    out = _Tables(book, ws, plan)
    out.cells.string(
        0, 0, f"{plan.meta.title}: progress over cycles", book.fmt(bold=True, font_size=style.TITLE_SIZE)
    )
    out.cells.string(
        1,
        0,
        "Each cycle as its latest merge left it (overdue as of that merge's date). "
        f"Stuck: the same not-complete rating for two cycles or more, or overdue by "
        f"more than {stuck_days} days" + (f" on {as_of:%d/%m/%Y}." if as_of else "."),
        book.fmt(italic=True),
    )
    cycles_head = 4
    row = out.table(
        3,
        "Per cycle, all services",
        ["Cycle", "As of", *figure_headers(scale)],
        [[r.cycle, r.as_of, *figure_values(total_figures(r.figures, scale), scale)] for r in history.cycles],
    )
    if history.cycles:
        _charts(book, ws, plan, cycles_head, row)
        row += CHART_ROWS + 2
    row = out.table(
        row + 2,
        "Per cycle and service",
        ["Cycle", "Service", *figure_headers(scale)],
        [[r.cycle, f.service, *figure_values(f, scale)] for r in history.cycles for f in r.figures],
    )
    slipped = slipped_actions(plan)
    row = out.table(
        row + 2,
        f"Slipped actions: due date moved later ({len(slipped)})",
        SLIPPED_HEADERS,
        [[s.action, s.service, s.moves, s.first_due, s.current_due, s.last_moved] for s in slipped],
    )
    stuck = stuck_actions(plan, history, as_of, stuck_days) if as_of else []
    out.table(
        row + 2,
        f"Stuck actions ({len(stuck)})",
        STUCK_HEADERS,
        [[s.action, s.service, s.rating, s.due, s.why] for s in stuck],
    )
    out.cells.close()
    cycle = display(latest.cycle) if latest else ""
    print_table(ws, None, footer=f"{plan.meta.title} · progress to cycle {cycle}")


class _Tables:
    """The sheet's tables, each a section title, a header row (ratings in their colours) and
    its rows: numbers as numbers, shares as percentages, dates as dates."""

    def __init__(self, book: Book, ws, plan: Plan) -> None:
        self.cells = Cells(book.rows_of(ws))
        border = {"border": 1, "border_color": style.BORDER_COLOUR}
        self.section = book.fmt(bold=True, font_size=12)
        self.head = book.fmt(bold=True, bg_color=style.HEADER_FILL["central"], text_wrap=True, **border)
        self.body = book.fmt(text_wrap=True, **border)
        self.dated = book.fmt(num_format="dd/mm/yyyy", align="left", **border)
        self.pct = book.fmt(num_format="0%", **border)
        self.rating_head = {
            r.value: book.fmt(
                bold=True, border=1, text_wrap=True, align="center", bg_color=r.fill, font_color=r.font
            )
            for r in plan.layout.ratings
        }

    def table(self, row: int, title: str, headers: list[str], rows: list[list]) -> int:
        """The table with its title at `row`; the last row written."""
        self.cells.string(row, 0, title, self.section)
        row += 1
        for col, text in enumerate(headers):
            self.cells.string(row, col, text, self.rating_head.get(text, self.head))
        for items in rows:
            row += 1
            for col, value in enumerate(items):
                if isinstance(value, float):
                    self.cells.number(row, col, value, self.pct)
                elif isinstance(value, int):
                    self.cells.number(row, col, value, self.body)
                elif isinstance(value, str):
                    self.cells.string(row, col, value, self.body)
                else:
                    self.cells.value(row, col, value, self.body, self.dated)
        return row


def _charts(book: Book, ws, plan: Plan, head: int, last: int) -> None:
    """Complete % per cycle, and the ratings per cycle stacked, below the cycles' table."""
    scale = plan.layout.rating_values
    first = head + 1
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
    for index, rating in enumerate(plan.layout.ratings, start=3):
        stacked.add_series(
            {
                "name": [PROGRESS_SHEET, head, index],
                "categories": [PROGRESS_SHEET, first, 0, last, 0],
                "values": [PROGRESS_SHEET, first, index, last, index],
                "fill": {"color": rating.fill},
                "border": {"color": "#808080"},
            }
        )
    stacked.set_title({"name": "Ratings per cycle"})
    stacked.set_legend({"position": "bottom"})
    stacked.set_size({"width": 480, "height": 300})
    ws.insert_chart(last + 2, 0, trend)
    ws.insert_chart(last + 2, 5, stacked)
