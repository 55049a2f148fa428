"""Carrying what the central team added to the master: columns of their own on the plan sheet,
and formulas there and on their own sheets. xlplan rebuilds the master on every write, so what
it does not own is read with its header, width and formulas, and written back in place.

A formula refers to cells by position; when the master is rebuilt an action's row (or a
column) may move, so every reference into the plan sheet is moved with the cell it pointed
at, as Excel does when rows are inserted or moved.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass, field

from .excel import cell_text


@dataclass(frozen=True)
class Formula:
    text: str  # "=IF(R4=\"Blue\",…)" as it was written where it was read
    value: object = None  # what it showed when last calculated (written as its result)


# A cell of a central team's column or sheet: numbers stay numbers (their formulas sum them),
# dates stay dates, a formula stays a formula.
Carried = str | int | float | bool | dt.date | dt.datetime | Formula | None


@dataclass
class ExtraColumn:
    """A column of the plan sheet the layout does not have: the central team's own."""

    header: str
    width: float | None
    source: int  # 0-based column it was read from
    num_format: str | None = None  # how its numbers show ("£#,##0.00"), if not General


def column_format(layer, col: int) -> str | None:
    """The number format most of a column's formatted cells use: a column is formatted
    as a whole (a cost, a percentage)."""
    from collections import Counter

    counts = Counter(code for (_, c), code in layer.formats.items() if c == col)
    return counts.most_common(1)[0][0] if counts else None


def with_formulas(rows: list[list[object]], formulas: dict[tuple[int, int], str]) -> list[list[Carried]]:
    """Rows of raw cells as carried values, the formula cells (from the sheet's XML) kept."""
    carried = [[carried_value(v) for v in row] for row in rows]
    for (r, c), text in formulas.items():
        # A formula never calculated (written by a script) has no value for calamine to
        # give, so its row may not be there at all.
        while r >= len(carried):
            carried.append([])
        row = carried[r]
        if c >= len(row):
            row.extend([None] * (c + 1 - len(row)))
        row[c] = Formula(text, row[c])
    return carried


def extra_cells(
    rows: list[list[object]], columns: list[int], formulas: dict[tuple[int, int], str]
) -> list[list[Carried]]:
    """The cells of these columns only, row by row, formulas kept."""
    if not columns:
        return []
    cells = [[carried_value(row[c]) if c < len(row) else None for c in columns] for row in rows]
    where = {c: k for k, c in enumerate(columns)}
    for (r, c), text in formulas.items():
        if c in where:
            while r >= len(cells):  # a formula never calculated: calamine saw no row there
                cells.append([None] * len(columns))
            cells[r][where[c]] = Formula(text, cells[r][where[c]])
    return cells


def carried_value(raw: object) -> Carried:
    """A cell as calamine read it, kept as its type: text, number, date, TRUE/FALSE or empty."""
    if raw is None or type(raw) is str:
        return raw if raw and not raw.isspace() else None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() and abs(raw) < 2**53 else raw
    if isinstance(raw, int):
        return raw
    if isinstance(raw, dt.datetime):
        return raw if raw.time() != dt.time() else raw.date()
    return cell_text(raw)


@dataclass
class Relocation:
    """Where the plan sheet's rows and columns went when the master was rebuilt (0-based)."""

    sheet: str
    rows: dict[int, int] = field(default_factory=dict)  # an action's old row -> its new row
    columns: dict[int, int] = field(default_factory=dict)
    header_shift: int = 0  # rows above the first action move with the header row
    _old: list[int] = field(default_factory=list, repr=False)
    _monotone: bool = True

    def __post_init__(self) -> None:
        self._old = sorted(self.rows)
        new = [self.rows[r] for r in self._old]
        self._monotone = all(a < b for a, b in zip(new, new[1:], strict=False))

    def row(self, old: int) -> int:
        if old in self.rows:
            return self.rows[old]
        at = bisect.bisect_right(self._old, old)
        if at == 0:
            return max(old + self.header_shift, 0)
        before = self._old[at - 1]  # a row between or below the actions keeps its distance
        return self.rows[before] + (old - before)

    def row_span(self, first: int, last: int) -> tuple[int, int]:
        """A range of rows: it still covers the actions it covered, wherever they went."""
        lo, hi = bisect.bisect_left(self._old, first), bisect.bisect_right(self._old, last)
        a, b = self.row(first), self.row(last)
        if lo < hi:
            inside = (
                [self.rows[self._old[lo]], self.rows[self._old[hi - 1]]]
                if self._monotone
                else [self.rows[r] for r in self._old[lo:hi]]
            )
            a, b = min(a, *inside), max(b, *inside)
        return a, b

    def column(self, old: int) -> int:
        return self.columns.get(old, old)

    def column_span(self, first: int, last: int) -> tuple[int, int]:
        moved = [self.column(c) for c in range(first, min(last, first + 16_384) + 1)]
        return min(moved), max(moved)


_CELL_REF = re.compile(r"^(\$?)([A-Za-z]{1,3})(\$?)(\d{1,7})$")
_COL_REF = re.compile(r"^(\$?)([A-Za-z]{1,3})$")
_ROW_REF = re.compile(r"^(\$?)(\d{1,7})$")


def relocate(formula: str, own_sheet: str, moves: Relocation) -> str:
    """`formula` with its references into the rebuilt plan sheet moved with their cells."""
    from openpyxl.formula.tokenizer import Tokenizer

    try:
        tokens = Tokenizer(formula)
    except Exception:  # noqa: BLE001 - a formula openpyxl cannot parse is carried unchanged
        return formula
    changed = False
    for token in tokens.items:
        if token.type != "OPERAND" or token.subtype != "RANGE":
            continue
        prefix, bang, ref = token.value.rpartition("!")
        target = _sheet_of(prefix) if bang else own_sheet
        if target is None or target.lower() != moves.sheet.lower():
            continue
        moved = _move(ref, moves)
        if moved is not None and moved != ref:
            token.value = prefix + bang + moved
            changed = True
    return tokens.render() if changed else formula


def _sheet_of(prefix: str) -> str | None:
    if "[" in prefix or ":" in prefix:
        return None  # another workbook, or a 3-D reference over several sheets
    if prefix.startswith("'") and prefix.endswith("'"):
        return prefix[1:-1].replace("''", "'")
    return prefix


def _move(ref: str, moves: Relocation) -> str | None:
    first, _, last = ref.partition(":")
    cell_a, cell_b = _CELL_REF.match(first), _CELL_REF.match(last) if last else None
    if cell_a and (not last or cell_b):
        r1, c1 = int(cell_a[4]) - 1, _index(cell_a[2])
        if not last:
            return _cell(cell_a, moves.row(r1), moves.column(c1))
        r2, c2 = int(cell_b[4]) - 1, _index(cell_b[2])
        (ra, rb), (ca, cb) = moves.row_span(r1, r2), moves.column_span(c1, c2)
        return _cell(cell_a, ra, ca) + ":" + _cell(cell_b, rb, cb)
    col_a, col_b = _COL_REF.match(first), _COL_REF.match(last)
    if col_a and col_b:
        ca, cb = moves.column_span(_index(col_a[2]), _index(col_b[2]))
        return f"{col_a[1]}{_letters(ca)}:{col_b[1]}{_letters(cb)}"
    row_a, row_b = _ROW_REF.match(first), _ROW_REF.match(last)
    if row_a and row_b:
        ra, rb = moves.row_span(int(row_a[2]) - 1, int(row_b[2]) - 1)
        return f"{row_a[1]}{ra + 1}:{row_b[1]}{rb + 1}"
    return None  # a name, a structured reference: left as written


def _cell(match: re.Match, row: int, col: int) -> str:
    return f"{match[1]}{_letters(col)}{match[3]}{row + 1}"


def _index(letters: str) -> int:
    index = 0
    for char in letters.upper():
        index = index * 26 + (ord(char) - 64)
    return index - 1


def _letters(index: int) -> str:
    from .excel import column_letter

    return column_letter(index)
