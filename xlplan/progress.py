"""Where an action stands: complete, overdue. One definition, used by the checks (the
`overdue` problem on the Issues sheet and in `validate`) and by the Summary's Overdue and
Complete % columns, so the two can never disagree about the same action."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from .dates import parse_uk_date
from .excel import CellValue, display
from .layout import Layout


def is_complete(values: Mapping[str, CellValue], layout: Layout) -> bool:
    """Rated with a rating the layout marks `complete` (in its service rating column); a rating
    kept as written ("Signed off") counts as the scale value it is mapped to."""
    rating_field = layout.service_rating
    if rating_field is None:
        return False
    return is_complete_rating(display(values.get(rating_field)), layout)


def is_complete_rating(written: str, layout: Layout) -> bool:
    """A rating as written is one the layout marks `complete`, by any of its names."""
    return layout.rating_value(written) in layout.complete_ratings


def overdue_since(values: Mapping[str, CellValue], layout: Layout, as_of: dt.date) -> dt.date | None:
    """The due date an action has missed, or None: it has a due date that names a single day,
    that day is before `as_of`, and the action is not complete. Text that names no single day
    ("Q3", "ongoing") is never overdue: the `not-a-date` warning covers it."""
    if layout.due_field is None or is_complete(values, layout):
        return None
    due = parse_uk_date(values.get(layout.due_field))
    return due if due is not None and due < as_of else None
