"""`xlplan validate`: read returns, judge them, say exactly what is wrong."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from .checks import CheckedReturn, PlanIndex, check_return
from .mail import check_sender, shown_path
from .plan import Plan, read_plan
from .problems import NESTED_IN_FILE, Problem, ProblemOut
from .returns import list_inbox, read_return

EXIT_OK, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2


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
    # With the master: the services issued that have sent nothing yet, and the return date.
    awaiting: list[str] = field(default_factory=list)
    due: dt.date | None = None

    @property
    def exit_code(self) -> int:
        if any(c.ret.unreadable for c in self.checked) or any(p.is_error for p in self.skipped):
            return EXIT_UNREADABLE  # a return, or an email or zip holding returns, unreadable
        if any(c.refused or any(p.is_error for p in c.problems) for c in self.checked):
            return EXIT_ERRORS
        return EXIT_OK

    def to_model(self) -> ValidationOut:
        files = [FileOut(path=shown_path(c.ret.path), service=c.ret.service, cycle=c.ret.cycle,
                         status=c.status, problems=[p.to_json() for p in c.problems])
                 for c in self.checked]
        files += [FileOut(path=p.file or "", service=None, cycle=None, status="skipped",
                          problems=[p.to_json()]) for p in self.skipped]
        return ValidationOut(files=files)

    def to_json(self) -> str:
        """`validate --json`: each problem in its one JSON shape, under its file."""
        nested = {"files": {"__all__": {"problems": {"__all__": NESTED_IN_FILE}}}}
        return self.to_model().model_dump_json(indent=2, exclude=nested)


# Below this many returns a pool costs more to start than it saves.
PARALLEL_FROM = 8


def validate(paths: list[Path], *, plan: Path | Plan | None = None, as_of: dt.date | None = None,
             cycle: str | None = None,
             progress: Callable[[Path, int, int], None] | None = None,
             workers: int | None = None, accept_cycle: str | None = None) -> ValidationResult:
    """Read and check every return. Returns are independent, so with many of them the work is
    spread over the machine's cores (`workers`, default: all of them)."""
    master = read_plan(plan) if isinstance(plan, Path) else plan
    files, skipped = list_inbox(paths)
    result = ValidationResult(skipped=skipped)
    index = PlanIndex.of(master) if master is not None else None
    job = _CheckJob(master, index, as_of, cycle, accept_cycle)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers > 1 and len(files) >= PARALLEL_FROM and _can_fork():
        checked = _check_in_pool(job, files, workers)
    else:
        checked = map(job, files)
    for number, (path, item) in enumerate(zip(files, checked, strict=True), start=1):
        if progress:
            progress(path, number, len(files))
        result.checked.append(item)
    if master is not None:
        result.awaiting, result.due = awaiting_returns(master, result.checked), master.meta.due
    return result


def awaiting_returns(master: Plan, checked: list[CheckedReturn]) -> list[str]:
    """The services issued this cycle with no usable return among `checked` (a refused one, such
    as an old cycle's template, does not count) nor merged earlier."""
    issued = sorted(master.record.services()) if master.record.rows else master.services()
    cycle = master.meta.cycle
    returned = {c.ret.service for c in checked if c.ret.service and not c.refused}
    returned |= {m.service for m in master.merged if m.cycle == cycle and m.outcome == "applied"}
    return [s for s in issued if s not in returned]


@dataclass
class _CheckJob:
    master: Plan | None
    index: PlanIndex | None
    as_of: dt.date | None
    cycle: str | None
    accept_cycle: str | None = None

    def __call__(self, path: Path) -> CheckedReturn:
        try:
            ret = read_return(path, self.master)
            checked = check_return(ret, self.master, as_of=self.as_of, cycle=self.cycle,
                                   index=self.index, accept_cycle=self.accept_cycle)
            checked.problems.extend(check_sender(ret, self.master))
        except Exception as exc:
            exc.add_note(f"while checking {path}")  # the CLI's last guard names the file
            raise
        ret.release()
        return checked


_JOB: _CheckJob | None = None  # what forked workers inherit instead of receiving the plan


def _check_forked(path: Path) -> CheckedReturn:
    assert _JOB is not None
    return _JOB(path)


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _check_in_pool(job: _CheckJob, files: list[Path], workers: int):
    """Forked workers inherit the plan (no copy is sent); each sends back only its return's
    edits and problems, in the order of `files`."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _JOB
    _JOB = job
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(workers, len(files)), mp_context=context) as pool:
            yield from pool.map(_check_forked, files, chunksize=4)
    finally:
        _JOB = None
