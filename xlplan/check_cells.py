"""The rules for one returned cell: whether a change may be applied (read-only columns, errors,
formulas) and what value to store for what a person typed (ratings on the scale, choices,
dates, length); and the three-way judgement of each cell against the master's record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .clean import Cleaned, Policy, clean_rating, clean_text
from .dates import parse_uk_date
from .excel import ERROR_VALUES, FORMULA_LEADERS, CellValue, display
from .layout import Column, Layout
from .problems import Problem, short
from .record import IssuedRow, cell_digest, locked_digest, normal_text
from .service_return import ReturnRow, ServiceReturn


@dataclass
class Edit:
    """A service's change to one of its own cells, checked and ready to apply."""

    action_id: str
    field: str
    old: CellValue  # as issued
    new: CellValue
    cell: str | None
    # Judged against the master's record: has the master's cell changed since issue too?
    # None for a return judged without the record (its `old` is then the base).
    master_changed: bool | None = None
    action: str | None = None  # the reference as issued, for messages (never the hidden ID)


def same(a: CellValue, b: CellValue) -> bool:
    """Equal as a person reads them: line endings and surrounding spaces do not count."""
    if a == b:
        return True
    if isinstance(a, str):
        a = a.replace("\r\n", "\n").strip() or None
    if isinstance(b, str):
        b = b.replace("\r\n", "\n").strip() or None
    return a == b


def check_cell(
    ret: ServiceReturn, row: ReturnRow, column: Column, issued: CellValue, changed: bool | None = None
) -> tuple[Edit | None, Sequence[Problem]]:
    """The edit a returned cell makes, if any and if allowed, and what was found in it.
    `changed` says whether the cell differs from what was issued when the record knows better
    than `issued` (which then only shows in messages); None compares with `issued`."""
    layout = ret.layout
    assert layout is not None
    value = row.values.get(column.field)
    special = ret.special_cells.get((row.row, ret.positions[column.field])) if ret.special_cells else None
    unchanged = same(value, issued) if changed is None else not changed
    if special is None and unchanged:
        return None, ()  # most cells: nothing to say, so nothing to build
    cell = ret.cell(row.row, column.field)
    ref = display(row.values.get(layout.reference)) or display(issued) or row.action_id
    where = {"sheet": ret.sheet, "cell": cell, "action": ref, "column": column.header}
    if special and special[0] == "error":
        return None, [
            ret.found(
                "error-value",
                f"the cell shows the error {special[1]} instead of content "
                "(a broken formula or reference). Type the text itself; the cell was not applied.",
                value=special[1],
                **where,
            )
        ]
    if special and special[0] == "formula" and unchanged:
        # A formula whose shown value is what was issued (or that was never calculated):
        # nothing changes, but the formula should not stay in a plan people sign off.
        return None, [
            ret.found(
                "formula",
                f"the cell holds the formula {short(special[1], 80)}; it was not "
                "applied (its value is unchanged). Type the text itself.",
                value=special[1],
                **where,
            )
        ]
    if unchanged:
        return None, ()
    if column.owner != "service":
        return None, [
            ret.found(
                "locked-cell-changed",
                f"this {column.owner} column is read-only for services: "
                f"it was {short(display(issued)) or '(empty)'!r} when issued and is now "
                f"{short(display(value)) or '(empty)'!r}. The change was refused; ask the central "
                "team to change it in the master.",
                value=short(display(value), 200),
                **where,
            )
        ]
    problems: list[Problem] = []
    if special and special[0] == "formula":
        problems.append(
            ret.found(
                "formula",
                f"the cell holds the formula {short(special[1], 80)}; its shown value "
                f"{short(display(value))!r} is kept as text.",
                value=special[1],
                **where,
            )
        )
    judged = check_value(ret, row, column, value)
    problems.extend(judged.problems)
    if judged.refused:
        return None, problems
    return Edit(row.action_id, column.field, issued, judged.value, cell, action=ref), problems


def check_value(ret: ServiceReturn, row: ReturnRow, column: Column, value: CellValue) -> Cleaned:
    """What to store for what a person typed in a return, or refused; with what was found."""
    layout = ret.layout
    assert layout is not None
    where = {
        "file": ret.path.name,
        "service": ret.service,
        "sheet": ret.sheet,
        "cell": ret.cell(row.row, column.field),
        "action": display(row.values.get(layout.reference)) or None,
        "column": column.header,
    }
    if not isinstance(value, str):
        if column.type == "rating" and value is not None:
            return _refused(
                "invalid-rating",
                f"{display(value)!r} is not a rating; pick one of "
                f"{', '.join(layout.rating_values)}. Not applied.",
                value=display(value),
                **where,
            )
        return Cleaned(value)
    if value.strip() in ERROR_VALUES:
        return _refused(
            "error-value",
            f"the cell holds the error {value.strip()} instead of content. "
            "Type the text itself; not applied.",
            value=value,
            **where,
        )
    if column.type == "rating":
        return clean_rating(value, layout, Policy.REFUSE, where)
    cleaned = clean_text(value, Policy.REFUSE, where)
    text = cleaned.value
    if cleaned.refused or not isinstance(text, str):
        return cleaned
    if column.type == "choice" and text.strip() not in column.choices:
        cleaned.problems.append(
            Problem(
                "invalid-choice",
                f"{short(text)!r} is not one of {', '.join(column.choices)}. Not applied.",
                value=short(text, 200),
                **where,
            )
        )
        cleaned.refused = True
        return cleaned
    if column.type == "date" and text.strip() and parse_uk_date(text) is None:
        cleaned.problems.append(
            Problem(
                "not-a-date",
                f"{short(text)!r} names no single day, so lateness cannot be "
                "checked; kept as written. A date such as 31/03/2025 can be checked.",
                value=short(text, 200),
                **where,
            )
        )
    if text.lstrip().startswith(FORMULA_LEADERS):
        cleaned.problems.append(
            Problem(
                "formula-like-text",
                f"{short(text, 40)!r} starts like a formula; it is kept as text and will never "
                "be calculated.",
                value=short(text, 200),
                **where,
            )
        )
    return cleaned


def _refused(code: str, message: str, **where: Any) -> Cleaned:
    return Cleaned(None, [Problem(code, message, **where)], refused=True)


def edits_against_record(
    ret: ServiceReturn,
    layout: Layout,
    rows: list[ReturnRow],
    issued: dict[str, IssuedRow],
    current: dict[str, dict[str, CellValue]],
) -> tuple[list[Edit], list[Problem]]:
    """Three-way by digests: a service cell differs from what was issued -> the service changed
    it; the master's cell differs too -> both did. The return's hidden copy of the issued values
    is used only where it agrees with the record (it says which locked cell was edited)."""
    copy = IssuedCopy(ret, layout, issued)
    edits: list[Edit] = []
    problems: list[Problem] = []
    special = ret.special_cells
    positions = ret.positions
    for row in rows:
        record = issued[row.action_id]
        master = current.get(row.action_id, {})
        locked_intact = (
            row.locked_intact
            if row.locked_intact is not None
            else locked_digest(layout, row.values) == record.locked
        )
        for column in layout.columns:
            name = column.field
            if name not in ret.positions:
                continue
            value = row.values.get(name)
            master_changed: bool | None = None
            if column.owner == "service" and name in record.cells:
                # Most cells hold what the master holds: nothing to apply, whatever was issued.
                changed = not same(value, master.get(name)) and cell_digest(value) != record.cells[name]
                master_changed = changed and cell_digest(master.get(name)) != record.cells[name]
                old = master.get(name) if changed and not master_changed else None
                if changed and master_changed:
                    old = (copy.row(row.action_id) or {}).get(name)
            else:
                old = master.get(name)
                changed = False
                if not locked_intact:
                    old = (copy.row(row.action_id) or master).get(name)
                    changed = normal_text(value) != normal_text(old)
            if not changed and (not special or (row.row, positions[name]) not in special):
                continue  # most cells: as issued, no formula or error (check_cell's first test)
            edit, found = check_cell(ret, row, column, old, changed=changed)
            if found:
                problems.extend(found)
            if edit is not None:
                edit.master_changed = master_changed
                edits.append(edit)
    problems.extend(copy.problems())
    return edits, problems


class IssuedCopy:
    """The return's hidden copy of the issued values, trusted row by row only where it agrees
    with the master's record, and only looked at where a row needs it."""

    def __init__(self, ret: ServiceReturn, layout: Layout, issued: dict[str, IssuedRow]) -> None:
        self.ret, self.layout, self.issued = ret, layout, issued
        self.tampered: list[str] = []

    def row(self, action_id: str) -> dict[str, CellValue] | None:
        values = (self.ret.issued or {}).get(action_id)
        record = self.issued.get(action_id)
        if values is None or record is None:
            return None
        if record.locked == locked_digest(self.layout, values) and all(
            cell_digest(values.get(f)) == d for f, d in record.cells.items()
        ):
            return values
        self.tampered.append(display(values.get(self.layout.reference)) or action_id)
        return None

    def problems(self) -> list[Problem]:
        found = list(dict.fromkeys(self.tampered))
        if not found:
            return []
        return [
            self.ret.found(
                "issued-values-changed",
                f"the hidden copy of the values as issued was edited for "
                f"{len(found)} action(s) ({', '.join(found[:5])}{', …' if len(found) > 5 else ''}); "
                "the master's own record of what it issued was used instead, so nothing the copy "
                "says was trusted.",
                sheet=self.ret.sheet,
            )
        ]
