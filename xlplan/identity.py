"""Which issued action each returned row is, judged by the master's record of what it issued.

The hidden ID column is evidence, not proof: a service that sorts its visible columns only
("Continue with the current selection") leaves the IDs where they were and moves everything
else; a return pasted into a new workbook has none. A row is applied to an action only when
its locked cells agree with what was issued for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .excel import CellValue
from .layout import Layout
from .plan import normal_ref
from .record import IssuedRow, cell_digest, locked_digest, locked_fields, normal_text

AT_ID, MOVED, FOUND, EDITED, UNKNOWN = "at-id", "moved", "found", "edited", "unknown"


@dataclass(frozen=True)
class RowMatch:
    action_id: str | None  # None: no issued action could be told
    how: str  # AT_ID, MOVED (its ID was another's), FOUND (it had no ID), EDITED, UNKNOWN
    claimed: str  # the ID the row carried


def identify_rows(
    layout: Layout,
    rows: Sequence[tuple[str, Mapping[str, CellValue]]],
    issued: Mapping[str, IssuedRow],
    current: Mapping[str, Mapping[str, CellValue]],
    hints: Sequence[str] | None = None,
) -> list[RowMatch]:
    """A match for each of `rows` ((claimed ID, values)) among the `issued` rows of one service.
    `hints` are guesses (an action with the row's reference) tried last, where no hidden ID is.

    In order of trust: the row sits at its own ID with its locked cells as issued; its locked
    cells are those of exactly one issued row (it moved, or lost its ID); it sits at its own
    ID with the same reference and most locked cells as the master holds them (a locked cell
    was edited after removing the protection: that cell is refused later, the rest applies)."""
    digests = [locked_digest(layout, values) for _, values in rows]
    by_locked: dict[str, list[str]] = {}
    for row in issued.values():
        by_locked.setdefault(row.locked, []).append(row.action_id)
    matches: list[RowMatch | None] = [None] * len(rows)
    for i, (claimed, _) in enumerate(rows):
        if claimed in issued and issued[claimed].locked == digests[i]:
            matches[i] = RowMatch(claimed, AT_ID, claimed)
    taken = {m.action_id for m in matches if m is not None}
    for i, (claimed, values) in enumerate(rows):
        if matches[i] is not None:
            continue
        free = [a for a in by_locked.get(digests[i], []) if a not in taken]
        pick = free[0] if len(free) == 1 else _closest(values, [issued[a] for a in free])
        if pick is None and len(by_locked.get(digests[i], [])) == 1:
            pick = by_locked[digests[i]][0]  # a copy of a row already matched: a duplicate
        if pick is not None:
            matches[i] = RowMatch(pick, MOVED if claimed else FOUND, claimed)
            taken.add(pick)
    for i, (claimed, values) in enumerate(rows):
        if matches[i] is not None:
            continue
        guess = claimed or (hints[i] if hints else "")
        if guess in issued and guess in current and _mostly_same(layout, values, current[guess]):
            matches[i] = RowMatch(guess, EDITED, claimed)
        else:
            matches[i] = RowMatch(None, UNKNOWN, claimed)
    return [m for m in matches if m is not None]


def _closest(values: Mapping[str, CellValue], candidates: Sequence[IssuedRow]) -> str | None:
    """Of several issued rows with the same locked cells, the one whose service cells the row
    still holds most of as issued (services change a rating and a comment, not everything);
    None when no single one stands out."""
    if len(candidates) < 2:
        return None
    scores = [
        (sum(1 for f, d in row.cells.items() if cell_digest(values.get(f)) == d), row.action_id)
        for row in candidates
    ]
    scores.sort(reverse=True)
    return scores[0][1] if scores[0][0] > scores[1][0] else None


def _mostly_same(layout: Layout, values: Mapping[str, CellValue], master: Mapping[str, CellValue]) -> bool:
    """Same reference, and at most a third of the other locked cells differ from the master."""
    if normal_ref(normal_text(values.get(layout.reference))) != normal_ref(
        normal_text(master.get(layout.reference))
    ):
        return False
    fields = [f for f in locked_fields(layout) if f != layout.reference]
    differ = sum(1 for f in fields if normal_text(values.get(f)) != normal_text(master.get(f)))
    return differ * 3 <= len(fields)


def looks_sorted(matches: Sequence[RowMatch]) -> bool:
    """Most rows carry the ID of an action other than theirs: the ID column stayed put while
    the rest was sorted. (Rows that merely lost their ID do not count: they are re-found.)"""
    wrong = sum(1 for m in matches if m.claimed and (m.how == MOVED or m.how == UNKNOWN))
    return len(matches) >= 2 and wrong * 2 > len(matches)


def likely_service(
    layout: Layout, rows: Sequence[Mapping[str, CellValue]], issued: Mapping[str, IssuedRow]
) -> str | None:
    """For a return that lost its metadata: the service whose issued rows its rows are."""
    owners: dict[str, set[str]] = {}
    for row in issued.values():
        owners.setdefault(row.locked, set()).add(row.service)
    votes: Counter[str] = Counter()
    for values in rows:
        services = owners.get(locked_digest(layout, values), set())
        if len(services) == 1:
            votes[next(iter(services))] += 1
    return votes.most_common(1)[0][0] if votes else None
