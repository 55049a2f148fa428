"""Reading the dates people type into plans, UK day-first, without ever rewriting them.

Plans say "End July 2017", "1.11.17", "Jul-17", "30/ 04 /17" or "TBC". xlplan keeps the text
exactly as written; this module only answers "which day does this mean?" for overdue checks,
and None when the text names no single day ("TBC", "March 2017 - March 2018").
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re

MONTHS = {
    name: number
    for number in range(1, 13)
    for name in (
        calendar.month_name[number].lower(),
        calendar.month_abbr[number].lower(),
    )
}
MONTHS["sept"] = 9

_NUMERIC = re.compile(r"^(\d{1,2})\s*[./-]\s*(\d{1,2})\s*[./-]\s*(\d{2}|\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4}|\d{2})$")
_MONTH_YEAR = re.compile(r"^([a-z]+)\.?[\s-]+(\d{4}|\d{2})$")
# Leading words that mean "by the end of"; a month alone means its last day either way.
_LEADING = re.compile(r"^(?:by\s+)?(?:the\s+)?(?:end\s+of\s+|end\s+|by\s+)?(?:the\s+)?", re.I)


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def parse_uk_date(value: object) -> dt.date | None:
    """The day a cell means, or None. Day first: 01/02/2018 is 1 February 2018."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    return _parse_text(value)


@functools.lru_cache(maxsize=8192)
def _parse_text(value: str) -> dt.date | None:
    # Cached: a plan of 100,000 actions has a few hundred different due dates, read at
    # every check of a return and every overdue count.
    text = re.sub(r"\s+", " ", value.strip().lower()).rstrip(".")
    if not text:
        return None
    text = _LEADING.sub("", text, count=1)
    try:
        if m := _NUMERIC.match(text):
            return dt.date(_year(m[3]), int(m[2]), int(m[1]))
        if m := _ISO.match(text):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if (m := _DAY_MONTH_YEAR.match(text)) and m[2] in MONTHS:
            return dt.date(_year(m[3]), MONTHS[m[2]], int(m[1]))
        if (m := _MONTH_YEAR.match(text)) and m[1] in MONTHS:
            return _month_end(_year(m[2]), MONTHS[m[1]])
    except ValueError:  # 31/02/2018 and the like name no day
        return None
    return None


def parse_date_option(text: str) -> dt.date:
    """A date given on the command line (--as-of, --due): ISO or UK day-first."""
    day = parse_uk_date(text)
    if day is None:
        raise ValueError(f"{text!r} is not a date; use 2025-03-31 or 31/03/2025")
    return day
