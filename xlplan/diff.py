"""`xlplan diff`: what changed between two masters, by the same stable IDs merge uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from . import style
from .check_cells import same
from .errors import XlplanError
from .excel import CellValue, display
from .masterbook import atomic_write
from .masterread import read_plan
from .plan import LOG_HEADERS, Action, Plan
from .plan_sheet import CellMark, SheetRow, write_plan_sheet
from .problems import plural
from .report_json import CellChangeOut
from .sheets import Book, write_key_sheet, write_table

REMOVED_FILL = "#D9D9D9"


@dataclass
class CellDiff:
    action_id: str
    action: str
    field: str
    column: str
    old: CellValue
    new: CellValue


@dataclass
class DiffResult:
    old: Plan
    new: Plan
    changed: list[CellDiff] = field(default_factory=list)
    added: list[Action] = field(default_factory=list)
    removed: list[Action] = field(default_factory=list)


def diff(old_path: Path, new_path: Path) -> DiffResult:
    old, new = read_plan(old_path), read_plan(new_path)
    if old.plan_id != new.plan_id:
        raise XlplanError(
            f"{old_path} and {new_path} are different plans (IDs {old.plan_id} and "
            f"{new.plan_id}); diff compares two versions of one master.",
            2,
        )
    result = DiffResult(old, new)
    old_by_id = old.by_id()
    new_ids = {a.id for a in new.actions}
    for action in new.actions:
        before = old_by_id.get(action.id)
        if before is None:
            result.added.append(action)
            continue
        for column in new.layout.columns:
            if not same(before.get(column.field), action.get(column.field)):
                result.changed.append(
                    CellDiff(
                        action.id,
                        new.ref(action),
                        column.field,
                        column.header,
                        before.get(column.field),
                        action.get(column.field),
                    )
                )
    result.removed = [a for a in old.actions if a.id not in new_ids]
    return result


class ActionOut(BaseModel):
    id: str
    action: str


class DiffOut(BaseModel):
    changed: list[CellChangeOut]
    added: list[ActionOut]
    removed: list[ActionOut]


def diff_json(result: DiffResult) -> str:
    """`diff --json`: each changed cell in the shape `merge --json` gives it."""
    return DiffOut(
        changed=[
            CellChangeOut(
                action=c.action, id=c.action_id, column=c.column, old=display(c.old), new=display(c.new)
            )
            for c in result.changed
        ],
        added=[ActionOut(id=a.id, action=result.new.ref(a)) for a in result.added],
        removed=[ActionOut(id=a.id, action=result.old.ref(a)) for a in result.removed],
    ).model_dump_json(indent=2)


def write_diff(result: DiffResult, output: Path) -> None:
    plan = result.new
    marks: dict[str, dict[str, CellMark]] = {}
    for cell in result.changed:
        marks.setdefault(cell.action_id, {})[cell.field] = CellMark(
            style.CHANGED_FILL, f"Was: {display(cell.old) or '(empty)'}"
        )
    added = {a.id for a in result.added}

    def rows():
        for action in plan.actions:
            own = marks.get(action.id, {})
            status = "added" if action.id in added else (f"changed ({len(own)})" if own else "")
            yield SheetRow(
                action.id,
                action.values,
                status=status,
                marks=own,
                fill=style.PROPOSED_FILL if action.id in added else None,
            )
        for action in result.removed:
            yield SheetRow(action.id, action.values, status="removed", fill=REMOVED_FILL)

    def build(target: Path) -> None:
        book = Book(target)
        write_plan_sheet(
            book,
            plan.layout,
            rows(),
            title=f"{plan.meta.title}: differences",
            subtitle=f"{plural(len(result.changed), 'cell')} changed, "
            f"{plural(len(result.added), 'action')} added (green), "
            f"{len(result.removed)} removed (grey, at the end)",
            status_column=True,
            lock=None,
            row_count=len(plan.actions) + len(result.removed),
        )
        write_table(
            book,
            "Changes",
            LOG_HEADERS[4:8],
            ([c.action, c.column, c.old, c.new] for c in result.changed),
            [10, 30, 45, 45],
        )
        write_key_sheet(book, plan.layout)
        book.close()

    atomic_write(output, build)
