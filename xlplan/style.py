"""Every colour, font and width xlplan writes, in one place."""

from __future__ import annotations

FONT = "Arial"
FONT_SIZE = 10
TITLE_SIZE = 14
HEADER_FILL = {"central": "#D9D9D9", "committee": "#D9D9D9", "service": "#DDEBF7"}
LOCKED_FILL = "#F2F2F2"  # read-only cells in a template: visibly grey
CHANGED_FILL = "#FFEB9C"  # cells this merge changed
CONFLICT_FILL = "#F8CBAD"  # cells both sides changed
# A rating's own colour (conditional format) hides the highlight fill: the thick border
# still shows that the cell changed.
CHANGED_BORDER = "#C65911"
PROBLEM_FILL = "#FF9999"  # --annotate: a cell with a problem
PROPOSED_FILL = "#E2EFDA"  # actions a service proposed
BORDER_COLOUR = "#BFBFBF"
STATUS_WIDTH = 14
SPARE_ROWS = 5
