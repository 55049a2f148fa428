"""How every sheet xlplan writes prints: orientation, paper, fit, print titles, footer.

A committee prints the master or takes its PDF; a service prints its template. Excel and
LibreOffice print a sheet without a page setup on the default paper (often US Letter)
portrait at 100 %, cutting text at the right edge. Here is the one place that decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import style

A4, A3 = 9, 8  # the paper codes of the xlsx format
# Printable width in points, landscape, between the plan sheet's 0.4-inch side margins.
PLAN_MARGIN_INCHES = 0.4
PRINTABLE_WIDTH = {paper: (mm / 25.4 - 2 * PLAN_MARGIN_INCHES) * 72 for paper, mm in ((A4, 297), (A3, 420))}
# The smallest body text a committee can read on paper.
MIN_PRINTED_POINTS = 8.0


def column_points(width: float) -> float:
    """A column width in characters as printed, in points (Excel: 7 px a character + 5 px)."""
    return (int(width * 7 + 5)) * 0.75


def printed_scale(widths: Sequence[float], paper: int, pages_wide: int) -> float:
    return min(1.0, pages_wide * PRINTABLE_WIDTH[paper] / max(sum(column_points(w) for w in widths), 1))


def plan_paper(widths: Sequence[float], font_size: float = style.FONT_SIZE) -> tuple[int, int]:
    """(paper, pages wide) for a plan sheet: A4 landscape if it fits one page wide with text
    at 8 pt or more, else A3 landscape, as many pages wide as keep the text at 8 pt."""
    least = MIN_PRINTED_POINTS / font_size
    for paper in (A4, A3):
        if printed_scale(widths, paper, 1) >= least:
            return paper, 1
    total = sum(column_points(w) for w in widths)
    return A3, math.ceil(total * least / PRINTABLE_WIDTH[A3])


def print_plan(ws, widths: Sequence[float], title_rows: tuple[int, int]) -> None:
    """The plan sheet (master and templates): landscape, readable, headers on every page."""
    paper, pages = plan_paper(widths)
    ws.set_landscape()
    ws.set_paper(paper)
    ws.fit_to_pages(pages, 0)
    ws.repeat_rows(*title_rows)
    ws.set_margins(left=PLAN_MARGIN_INCHES, right=PLAN_MARGIN_INCHES, top=0.5, bottom=0.6)


def print_table(ws, header_row: int | None, *, footer: str = "") -> None:
    """A table sheet: A4 landscape, one page wide, its header row on every page."""
    ws.set_landscape()
    ws.set_paper(A4)
    ws.fit_to_pages(1, 0)
    if header_row is not None:
        ws.repeat_rows(header_row, header_row)
    ws.set_footer("&L" + footer.replace("&", "&&")[:200] + "&RPage &P of &N")


def print_one_page(ws) -> None:
    """Guidance and Key: one A4 page, portrait, so the swatches print beside their meanings."""
    ws.set_portrait()
    ws.set_paper(A4)
    ws.fit_to_pages(1, 1)


def print_openpyxl_table(ws, header_row: int) -> None:
    """The same as print_table, for a sheet xlplan adds to a copy of someone's workbook."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.oddFooter.right.text = "Page &P of &N"
