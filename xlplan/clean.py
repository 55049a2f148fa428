"""What typed text becomes before it is stored, for a return's cell and an import's alike:
control characters XML cannot hold removed, Excel's cell limit, a rating put on the layout's
scale.

The two differ only in what happens to a value that breaks a rule, which `Policy` says: a
return's cell is refused (the master keeps the value it had, and the service types it again),
an import's is kept as far as it can be (the source is the only copy of the plan, so nothing
typed may be lost)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .excel import ILLEGAL_XML_CHARS, MAX_CELL_CHARS, CellValue
from .layout import Layout
from .problems import Problem, short


class Policy(Enum):
    REFUSE = "refuse"  # a return: refuse the cell, the master keeps its value
    KEEP = "keep"  # an import: keep what can be kept, say what was done


@dataclass(slots=True)
class Cleaned:
    """The value to store and what was said of it. `refused`: store nothing (REFUSE only).
    `off_scale`: a rating the scale does not know, kept as written (KEEP only)."""

    value: CellValue
    problems: list[Problem] = field(default_factory=list)
    refused: bool = False
    off_scale: bool = False


def clean_text(value: str, policy: Policy, where: Mapping[str, Any]) -> Cleaned:
    """Control characters removed and Excel's cell limit kept. `where` locates the cell in
    the problems (file, sheet, cell, column, ...)."""
    cleaned = Cleaned(value)
    if policy is Policy.REFUSE and len(value) > MAX_CELL_CHARS:
        cleaned.problems.append(
            Problem(
                "too-long",
                f"{len(value):,} characters, over Excel's {MAX_CELL_CHARS:,}-character "
                "cell limit. Shorten it or point to a document; not applied.",
                **where,
            )
        )
        cleaned.refused = True
        return cleaned
    if ILLEGAL_XML_CHARS.search(value):
        value = ILLEGAL_XML_CHARS.sub("", value)
        cleaned.problems.append(
            Problem(
                "control-chars",
                "invisible control characters (pasted from another program) "
                "were removed; the rest of the text is kept.",
                **where,
            )
        )
    if len(value) > MAX_CELL_CHARS:  # KEEP: the source's text, cut where Excel must cut it
        cleaned.problems.append(
            Problem(
                "too-long",
                f"{len(value):,} characters, over Excel's {MAX_CELL_CHARS:,}-character "
                "cell limit; the text was cut there. Split it or point to a document.",
                **where,
            )
        )
        value = value[:MAX_CELL_CHARS]
    cleaned.value = value
    return cleaned


def clean_rating(
    value: str,
    layout: Layout,
    policy: Policy,
    where: Mapping[str, Any],
    mapped: Mapping[str, str] | None = None,
) -> Cleaned:
    """A rating as typed put on the scale: its value or one of its aliases, any case or
    spacing; `mapped` adds spellings of the user's own (import's --map-rating, lower-cased).
    A blank cell is no rating. Off the scale: refused, or kept as written and flagged."""
    cleaned = clean_text(value, policy, where)
    text = cleaned.value
    if cleaned.refused or not isinstance(text, str) or not text.strip():
        return cleaned
    from_map = mapped.get(text.strip().lower()) if mapped else None
    normal = from_map or layout.normalise_rating(text)
    if normal is None:
        if policy is Policy.REFUSE:
            cleaned.problems.append(
                Problem(
                    "invalid-rating",
                    f"{short(text)!r} is not on the scale; pick one of "
                    f"{', '.join(layout.rating_values)} from the dropdown. Not applied.",
                    value=short(text, 200),
                    **where,
                )
            )
            cleaned.refused = True
        else:
            cleaned.off_scale = True
        return cleaned
    if normal != text:
        how = " (--map-rating)" if from_map else ""
        cleaned.problems.append(
            Problem(
                "rating-normalised",
                f"{text!r} read as {normal!r}{how}.",
                value=text,
                **where,
            )
        )
        cleaned.value = normal
    return cleaned
