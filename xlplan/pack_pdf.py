"""Drawing the committee pack (xlplan.pack) as a PDF with reportlab (BSD), imported only
here so `xlplan --help` never loads it.

Print rules a committee paper needs: A4 landscape; body text 8 pt or more; every cell a
wrapped paragraph (long words split too), so nothing is cut or runs off the page; tables
break across pages with their header repeated, and a row taller than a page splits; the
plan, cycle and page number in every footer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from .excel import CellValue, display
from .figures import ServiceFigures
from .history import History

FONT, BOLD = "Vera", "VeraBd"  # Bitstream Vera ships with reportlab: embedded, wide coverage
BODY_SIZE = 9
TABLE_SIZE = 8  # the smallest text in the pack
HEADER_FILL = "#D9D9D9"
MARGIN_MM = 14
CHART_SERVICES = 20  # bars a chart can hold on a landscape page


@dataclass
class Table:
    """One table of the pack: a heading, a line saying what it holds, and its rows.
    `widths` are relative; `rating_column` is coloured as the layout colours ratings."""

    heading: str
    intro: str
    headers: list[str]
    rows: list[list[CellValue]]
    widths: list[float]
    rating_column: int | None = None
    more: int = 0  # rows left out (MAX_ROWS)
    more_where: str = ""
    total: list[CellValue] | None = None


@dataclass
class Pack:
    title: str
    cycle: str
    as_of: dt.date
    made_at: dt.datetime
    scale: list[tuple[str, str, str]]  # (rating, fill, font colour)
    facts: list[tuple[str, str]]  # the title page's key figures
    summary: Table
    summary_figures: list[ServiceFigures]
    history: History
    progress: Table | None
    exceptions: list[Table] = field(default_factory=list)
    changes: Table | None = None
    # A rating as written -> the scale's value it is ("Completed" -> "Purple"), for its colour
    normalise: Callable[[str], str | None] = field(default=lambda text: None, repr=False)


def _text(value: CellValue) -> str:
    if isinstance(value, dt.datetime):
        value = value.strftime("%d/%m/%Y %H:%M")
    elif isinstance(value, dt.date):
        value = value.strftime("%d/%m/%Y")
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return escape(str(display(value))).replace("\n", "<br/>")


def _header_text(text: str, fills: dict[str, tuple[str, str]]) -> str:
    """A header; a rating's in the rating's own font colour (its fill is the cell's)."""
    if text in fills:
        return f'<font color="{fills[text][1]}">{_text(text)}</font>'
    return _text(text)


def render_pack(pack: Pack, path: Path) -> int:
    """Write the pack to `path`; the number of pages."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import (
        KeepTogether,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
    )
    from reportlab.platypus import Table as RLTable

    for name, file in ((FONT, "Vera.ttf"), (BOLD, "VeraBd.ttf")):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, file))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)

    page = landscape(A4)
    width = page[0] - 2 * MARGIN_MM * mm - 12  # the frame pads 6 pt each side
    title = ParagraphStyle("title", fontName=BOLD, fontSize=22, leading=28, spaceAfter=12)
    heading = ParagraphStyle("heading", fontName=BOLD, fontSize=14, leading=18, spaceBefore=10, spaceAfter=4)
    body = ParagraphStyle("body", fontName=FONT, fontSize=BODY_SIZE, leading=12, spaceAfter=6)
    cell = ParagraphStyle("cell", fontName=FONT, fontSize=TABLE_SIZE, leading=10, splitLongWords=1)
    head = ParagraphStyle("head", parent=cell, fontName=BOLD)
    fills = {value: (fill, font) for value, fill, font in pack.scale}

    def table(spec: Table):
        scale = width / sum(spec.widths)
        rows = [[Paragraph(_header_text(h, fills), head) for h in spec.headers]] if spec.headers else []
        for values in spec.rows:
            rows.append([Paragraph(_text(v), cell) for v in values])
        if spec.total:
            rows.append([Paragraph(f"<b>{_text(v)}</b>", cell) for v in spec.total])
        head_fill = [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(HEADER_FILL))] if spec.headers else []
        commands = [
            ("FONTNAME", (0, 0), (-1, -1), FONT),
            *head_fill,
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
        for col, name in enumerate(spec.headers):  # the summary's rating headers in their colours
            if name in fills:
                commands.append(("BACKGROUND", (col, 0), (col, 0), colors.HexColor(fills[name][0])))
        if spec.rating_column is not None:
            for index, values in enumerate(spec.rows, start=1):
                rating = display(values[spec.rating_column])
                if rating not in fills:
                    rating = pack.normalise(rating) or rating  # by any of its names
                if rating in fills:
                    commands.append(
                        (
                            "BACKGROUND",
                            (spec.rating_column, index),
                            (spec.rating_column, index),
                            colors.HexColor(fills[rating][0]),
                        )
                    )
        return RLTable(
            rows,
            colWidths=[w * scale for w in spec.widths],
            repeatRows=1 if spec.headers else 0,
            splitInRow=1,
            style=commands,
            hAlign="LEFT",
        )

    def section(spec: Table, *, new_page: bool = False) -> list:
        flow = [PageBreak()] if new_page else []
        intro = [Paragraph(escape(spec.heading), heading), Paragraph(escape(spec.intro), body)]
        if not spec.rows and not spec.total:
            return [*flow, KeepTogether([*intro, Paragraph("None.", body)])]
        flow += [*intro, table(spec)]
        if spec.more:
            flow.append(
                Paragraph(escape(f"… and {spec.more} more, not listed here: see {spec.more_where}."), body)
            )
        return flow

    story: list = [
        Paragraph(escape(pack.title), title),
        Paragraph(
            escape(
                f"Committee pack · cycle {pack.cycle or '(none issued)'} · figures "
                f"as of {pack.as_of:%d/%m/%Y}"
            ),
            heading,
        ),
        Spacer(1, 8),
    ]
    facts = Table("", "", [], [[k, v] for k, v in pack.facts], [1, 3])
    fact_table = table(facts)
    story += [
        fact_table,
        Spacer(1, 10),
        Paragraph(
            escape(
                f"Made by xlplan from the consolidated master on "
                f"{pack.made_at:%d/%m/%Y %H:%M}. Contents: summary; progress over "
                "cycles; exceptions (red, overdue, slipped, stuck, refused and missing "
                "returns); this cycle's changes."
            ),
            body,
        ),
    ]
    story += section(pack.summary, new_page=True)
    story.append(_summary_chart(pack, width))
    story.append(PageBreak())
    story.append(Paragraph("Progress over cycles", heading))
    if pack.history.cycles:
        story.append(_progress_charts(pack, width))
        if pack.progress is not None:
            story += section(pack.progress)
    else:
        story.append(Paragraph("No merge has been recorded yet: progress starts with the first merge.", body))
    story.append(PageBreak())
    story.append(Paragraph("Exceptions", title))
    for spec in pack.exceptions:
        story += section(spec)
    if pack.changes is not None:
        story += section(pack.changes, new_page=True)

    footer = f"{pack.title} · committee pack · cycle {pack.cycle or '(none)'}"

    def on_page(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        text = footer if pdfmetrics.stringWidth(footer, FONT, 8) < width - 80 else footer[:90] + "…"
        canvas.drawString(MARGIN_MM * mm, 8 * mm, text)
        canvas.drawRightString(page[0] - MARGIN_MM * mm, 8 * mm, f"Page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(path),
        pagesize=page,
        leftMargin=MARGIN_MM * mm,
        rightMargin=MARGIN_MM * mm,
        topMargin=MARGIN_MM * mm,
        bottomMargin=16 * mm,
        title=f"{pack.title}: committee pack",
        author="xlplan",
        subject=f"Cycle {pack.cycle}",
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return doc.page


def _summary_chart(pack: Pack, width: float):
    """Ratings per service, stacked; with many services, the ones with most overdue actions
    (a chart taller than the page cannot be drawn)."""
    from reportlab.graphics.charts.barcharts import HorizontalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    figures = pack.summary_figures
    if len(figures) > CHART_SERVICES:
        figures = sorted(figures, key=lambda f: -f.overdue)[:CHART_SERVICES]
    names = [value for value, _, _ in pack.scale]
    height = 60 + 16 * max(len(figures), 1)
    drawing = Drawing(width, height + 40)
    many = len(pack.summary_figures) > CHART_SERVICES
    drawing.add(
        String(
            0,
            height + 28,
            "Ratings per service" + (f" (the {CHART_SERVICES} with most overdue actions)" if many else ""),
            fontName=BOLD,
            fontSize=10,
        )
    )
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 130, 30, width - 300, height - 30
    chart.data = [[f.ratings.get(n, 0) for f in reversed(figures)] for n in names] or [[0]]
    chart.categoryAxis.categoryNames = [f.service[:30] for f in reversed(figures)]
    chart.categoryAxis.style = "stacked"
    for axis in (chart.categoryAxis.labels, chart.valueAxis.labels):
        axis.fontName, axis.fontSize = FONT, 8
    chart.valueAxis.valueMin = 0
    for index, (_, fill, _) in enumerate(pack.scale):
        chart.bars[index].fillColor = colors.HexColor(fill)
        chart.bars[index].strokeColor = colors.HexColor("#808080")
    drawing.add(chart)
    drawing.add(_legend(Legend, colors, pack, width - 150, height))
    return drawing


def _legend(legend_class, colors, pack: Pack, x: float, y: float):
    legend = legend_class()
    legend.x, legend.y = x, y
    legend.fontName, legend.fontSize = FONT, 8
    legend.alignment = "right"
    legend.colorNamePairs = [(colors.HexColor(fill), value) for value, fill, _ in pack.scale]
    legend.strokeColor = colors.HexColor("#808080")
    return legend


def _progress_charts(pack: Pack, width: float):
    """Complete % per cycle (a line) beside the ratings per cycle (stacked columns)."""
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    from .figures import total_figures

    names = [value for value, _, _ in pack.scale]
    totals = [total_figures(r.figures, names) for r in pack.history.cycles]
    cycles = [r.cycle[:14] for r in pack.history.cycles]
    drawing = Drawing(width, 230)
    half = width / 2
    drawing.add(String(0, 215, "Complete % per cycle", fontName=BOLD, fontSize=10))
    line = HorizontalLineChart()
    line.x, line.y, line.width, line.height = 40, 30, half - 80, 170
    line.data = [[round(100 * t.complete_pct, 1) for t in totals]]
    line.categoryAxis.categoryNames = cycles
    line.valueAxis.valueMin, line.valueAxis.valueMax, line.valueAxis.valueStep = 0, 100, 20
    line.lines[0].strokeColor = colors.HexColor("#2F5597")
    line.lines[0].strokeWidth = 2
    from reportlab.graphics.widgets.markers import makeMarker

    line.lines[0].symbol = makeMarker("FilledCircle")
    for axis in (line.categoryAxis.labels, line.valueAxis.labels):
        axis.fontName, axis.fontSize = FONT, 8
    drawing.add(line)
    drawing.add(String(half, 215, "Ratings per cycle", fontName=BOLD, fontSize=10))
    bars = VerticalBarChart()
    bars.x, bars.y, bars.width, bars.height = half + 40, 30, half - 200, 170
    bars.data = [[t.ratings.get(n, 0) for t in totals] for n in names]
    bars.categoryAxis.categoryNames = cycles
    bars.categoryAxis.style = "stacked"
    bars.valueAxis.valueMin = 0
    for axis in (bars.categoryAxis.labels, bars.valueAxis.labels):
        axis.fontName, axis.fontSize = FONT, 8
    for index, (_, fill, _) in enumerate(pack.scale):
        bars.bars[index].fillColor = colors.HexColor(fill)
        bars.bars[index].strokeColor = colors.HexColor("#808080")
    drawing.add(bars)
    drawing.add(_legend(Legend, colors, pack, width - 140, 200))
    return drawing
