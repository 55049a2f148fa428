"""`xlplan validate`: read returns, judge them, say exactly what is wrong."""

from __future__ import annotations

import datetime as dt
import gc
import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from .checks import CheckedReturn, check_return
from .inbox import list_inbox
from .mail import check_sender, shown_path
from .masterread import read_plan
from .plan import Plan
from .plan_index import PlanIndex
from .problem_json import NESTED_IN_FILE, ProblemOut
from .problems import Problem
from .returns import read_return
from .service_return import ServiceReturn

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
        files = [
            FileOut(
                path=shown_path(c.ret.path),
                service=c.ret.service,
                cycle=c.ret.cycle,
                status=c.status,
                problems=[p.to_json() for p in c.problems],
            )
            for c in self.checked
        ]
        files += [
            FileOut(path=p.file or "", service=None, cycle=None, status="skipped", problems=[p.to_json()])
            for p in self.skipped
        ]
        return ValidationOut(files=files)

    def to_json(self) -> str:
        """`validate --json`: each problem in its one JSON shape, under its file."""
        nested = {"files": {"__all__": {"problems": {"__all__": NESTED_IN_FILE}}}}
        return self.to_model().model_dump_json(indent=2, exclude=nested)


# Below this many returns a pool of several costs more to start than it saves: one child reads
# them all, one after the other.
PARALLEL_FROM = 8
# A child reading one return may use this much more memory than the parent had when it forked
# (Linux): a reader that asks for more fails inside the child, and the file is reported.
READER_MEMORY_BYTES = 2 * 2**30
# Children are started afresh after this many returns each. A child shares the parent's pages
# until it touches them, and checking a return touches its rows of the plan (about 1 MB a
# return of 200 actions, each page then copied into the child): a child kept for all 250
# returns of its half held 300 MB of its own at 100,000 actions; started again every 64 it
# holds about 70 MB (measured at 500x200: tree peak 893 MiB, against 959 MiB every 128, for
# the same CPU time within noise; every 16 cost about 2 s more, in forks and page faults).
FILES_PER_CHILD = 64


def validate(
    paths: list[Path],
    *,
    plan: Path | Plan | None = None,
    as_of: dt.date | None = None,
    cycle: str | None = None,
    progress: Callable[[Path, int, int], None] | None = None,
    workers: int | None = None,
    isolate: bool = True,
    accept_cycle: str | None = None,
) -> ValidationResult:
    """Read and check every return. Returns are read in child processes (`isolate`, where the
    system can fork): a reader that aborts or runs out of memory on one file makes that file
    unreadable and the others are still read. With many returns the children work in parallel
    (`workers`, default: one per core)."""
    # (the Change log is not needed to judge returns: left unparsed when it can be)
    master = read_plan(plan, lazy_log=True) if isinstance(plan, Path) else plan
    files, skipped = list_inbox(paths)
    result = ValidationResult(skipped=skipped)
    index = PlanIndex.of(master) if master is not None else None
    job = _CheckJob(master, index, as_of, cycle, accept_cycle)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if len(files) < PARALLEL_FROM:
        workers = 1
    if files and (isolate or workers > 1) and _can_fork():
        checked = _check_in_children(job, files, workers)
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
    returned |= {m.service for m in master.applied_in(cycle)}
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
            checked = check_return(
                ret,
                self.master,
                as_of=self.as_of,
                cycle=self.cycle,
                index=self.index,
                accept_cycle=self.accept_cycle,
            )
            checked.problems.extend(check_sender(ret, self.master))
        except Exception as exc:  # noqa: BLE001 - one file never stops the others
            return failed_return(
                path,
                f"xlplan failed while reading it ({type(exc).__name__}); "
                "it was not merged. Open it in Excel, save it again as .xlsx and "
                "send it again; if that does not help, report it to the xlplan "
                "maintainers with the file.",
            )
        ret.release()
        return checked


# What forked children inherit instead of receiving: the job (with the plan) and a shared
# byte per file, 1 while a child reads it and 2 once done, so the file a dead child was
# reading can be told.
_JOB: _CheckJob | None = None
_STATE = None


def _check_forked(number: int, path: Path) -> CheckedReturn:
    assert _JOB is not None and _STATE is not None
    _STATE[number] = 1
    checked = _JOB(path)
    _STATE[number] = 2
    return checked


def failed_return(path: Path, message: str) -> CheckedReturn:
    ret = ServiceReturn(path=path, meta=None, layout=None, unreadable=True)
    return CheckedReturn(ret, problems=[Problem("read-failed", message, file=path.name)], refused=True)


def _child_setup() -> None:
    """In a child: cap its address space at what it has plus READER_MEMORY_BYTES (Linux), and
    keep a dying reader's last words (a Rust allocation failure, a fault dump) off the
    person's terminal: the file's problem says what happened."""
    import faulthandler

    faulthandler.disable()
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass
    try:
        import resource

        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[0])
        cap = pages * os.sysconf("SC_PAGE_SIZE") + READER_MEMORY_BYTES
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or cap < hard:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError):
        pass


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _check_in_children(job: _CheckJob, files: list[Path], workers: int) -> Iterator[CheckedReturn]:
    """Forked children inherit the plan (no copy is sent); each sends back only its return's
    edits and problems. Results come in the order of `files`.

    When a child dies (the reader aborted, or was killed for memory), every file in flight
    is lost with the pool: the files being read at that moment are each read again alone
    (so the one that kills its reader is found and reported), the rest in a new pool."""
    global _JOB
    results: dict[int, CheckedReturn] = {}
    todo = list(range(len(files)))
    shown = 0
    _JOB = job
    # The children only read the plan the parent holds: with it frozen out of the cyclic
    # collector, a collection in a child does not write to every object's header and so
    # copy all of the parent's pages (a 100,000-action plan is most of the parent's memory).
    gc.freeze()
    try:
        while todo:
            pool = _run_pool(files, todo[: workers * FILES_PER_CHILD], workers, results)
            while True:  # results as they come, so a progress bar moves
                try:
                    next(pool)
                except StopIteration as done:
                    suspects = done.value
                    break
                while shown in results:
                    yield results[shown]
                    shown += 1
            for number in suspects:
                if _finish(_run_pool(files, [number], 1, results)):  # it kills its reader alone too
                    results[number] = failed_return(files[number], CRASHED)
            todo = [n for n in todo if n not in results]
            while shown in results:
                yield results[shown]
                shown += 1
    finally:
        _JOB = None
        gc.unfreeze()


def _finish(pool: Generator[int, None, list[int]]) -> list[int]:
    while True:
        try:
            next(pool)
        except StopIteration as done:
            return done.value


def _run_pool(
    files: list[Path], numbers: list[int], workers: int, results: dict[int, CheckedReturn]
) -> Generator[int, None, list[int]]:
    """Check files[n] for n in `numbers` in a pool, into `results`, yielding each number as
    its result arrives; returns the files that were being read when a child died (none if
    all went well)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _STATE
    context = multiprocessing.get_context("fork")
    _STATE = context.RawArray("b", len(files))
    broken = False
    with ProcessPoolExecutor(
        max_workers=min(workers, len(numbers)), mp_context=context, initializer=_child_setup
    ) as pool:
        futures = {n: pool.submit(_check_forked, n, files[n]) for n in numbers}
        for number in numbers:
            try:
                results[number] = futures[number].result()
            except BrokenProcessPool:
                broken = True
                break
            except Exception:  # noqa: BLE001 - its result could not be sent back: that file's problem
                results[number] = failed_return(files[number], CRASHED)
            yield number
    if not broken:
        return []
    for number, future in futures.items():
        if number not in results and future.done() and future.exception() is None:
            results[number] = future.result()
    suspects = [n for n in numbers if n not in results and _STATE[n] == 1]
    # A child that died before starting a file leaves none started: every unfinished file
    # is then a suspect, each read alone.
    return suspects or [n for n in numbers if n not in results]


CRASHED = (
    "the reader stopped abruptly on this file (it crashed or ran out of memory): the "
    "workbook is damaged or built to break spreadsheet readers. It was not merged; open it "
    "in Excel, save it again as .xlsx, and send it again."
)
