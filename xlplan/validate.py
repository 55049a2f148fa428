"""`xlplan validate`: read returns, judge them, say exactly what is wrong."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from .checks import CheckedReturn, PlanIndex, check_return
from .plan import Plan, read_plan
from .problems import Problem
from .returns import list_inbox, read_return

EXIT_OK, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2


class ProblemOut(BaseModel):
    severity: str
    code: str
    sheet: str | None
    cell: str | None
    action: str | None
    column: str | None
    value: str | None
    message: str


class FileOut(BaseModel):
    path: str
    service: str | None
    cycle: str | None
    status: str
    problems: list[ProblemOut]


class ValidationOut(BaseModel):
    files: list[FileOut]


@dataclass
class ValidationResult:
    checked: list[CheckedReturn] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if any(c.ret.unreadable for c in self.checked):
            return EXIT_UNREADABLE
        if any(c.refused or any(p.is_error for p in c.problems) for c in self.checked):
            return EXIT_ERRORS
        return EXIT_OK

    def to_model(self) -> ValidationOut:
        files = [FileOut(path=str(c.ret.path), service=c.ret.service, cycle=c.ret.cycle,
                         status=c.status, problems=[_problem_out(p) for p in c.problems])
                 for c in self.checked]
        files += [FileOut(path=p.file or "", service=None, cycle=None, status="skipped",
                          problems=[_problem_out(p)]) for p in self.skipped]
        return ValidationOut(files=files)


def _problem_out(p: Problem) -> ProblemOut:
    return ProblemOut(severity=str(p.severity), code=p.code, sheet=p.sheet, cell=p.cell,
                      action=p.action, column=p.column, value=p.value, message=p.message)


def validate(paths: list[Path], *, plan: Path | Plan | None = None, as_of: dt.date | None = None,
             cycle: str | None = None,
             progress: Callable[[Path, int, int], None] | None = None) -> ValidationResult:
    master = read_plan(plan) if isinstance(plan, Path) else plan
    files, skipped = list_inbox(paths)
    result = ValidationResult(skipped=skipped)
    index = PlanIndex.of(master) if master is not None else None
    for number, path in enumerate(files, start=1):
        if progress:
            progress(path, number, len(files))
        ret = read_return(path, master)
        result.checked.append(check_return(ret, master, as_of=as_of, cycle=cycle, index=index))
        ret.release()
    return result
