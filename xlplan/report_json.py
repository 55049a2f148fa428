"""The merge report as JSON (`merge --json`), typed at the edge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from .excel import display
from .problem_json import ProblemOut

if TYPE_CHECKING:
    from .outcome import MergeResult


class CellChangeOut(BaseModel):
    """One changed cell, as `merge --json` and `diff --json` print it."""

    action: str
    id: str
    column: str
    old: str
    new: str


class ChangeOut(CellChangeOut):
    service: str
    file: str
    kind: str


class ServiceOut(BaseModel):
    service: str
    returned: bool
    file: str | None
    saved_at: str | None
    sender: str | None = None  # a return that came by email
    sent_at: str | None = None


class MergeOut(BaseModel):
    output: str
    cycle: str
    merged_at: str
    returns_read: int
    changed: int
    refused: int
    conflicts: int
    services: list[ServiceOut]
    changes: list[ChangeOut]
    problems: list[ProblemOut]


def merge_json(result: MergeResult) -> str:
    model = MergeOut(
        output=str(result.output),
        cycle=result.cycle,
        merged_at=result.merged_at.isoformat(),
        returns_read=result.returns_read,
        changed=len(result.changes),
        refused=result.errors,  # the JSON keeps its name
        conflicts=result.conflicts,
        services=[
            ServiceOut(
                service=s.service,
                returned=s.returned,
                file=s.file,
                saved_at=s.saved_at.isoformat() if s.saved_at else None,
                sender=s.sender,
                sent_at=s.sent_at.isoformat() if s.sent_at else None,
            )
            for s in result.statuses
        ],
        changes=[
            ChangeOut(
                action=c.action,
                id=c.action_id,
                column=c.column,
                old=display(c.old),
                new=display(c.new),
                service=c.service,
                file=c.file,
                kind=c.kind,
            )
            for c in result.changes
        ],
        problems=[p.to_json() for p in result.problems],
    )
    return model.model_dump_json(indent=2)
