"""Writing the service workbooks of one `xlplan template`: in forked children when there are
many (while the parent writes the master), one after the other in this process otherwise.
Either way the first failure stops the issue with one message that says what was written."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import XlplanError
from .problems import plural

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from .plan import Action

# Below this many workbooks one process writes them all: starting children would cost more
# than it saves.
PARALLEL_FROM = 8
# Each child takes one core; the parent's master write shares them.
MAX_WORKERS = 4


@dataclass
class TemplateJob:
    service: str
    path: Path
    actions: list[Action]


WriteOne = Callable[[TemplateJob], None]

# What forked children inherit instead of receiving: the jobs (with the plan they point into)
# and how to write one. Only a job's number crosses to a child, and only it comes back.
_JOBS: list[TemplateJob] = []
_WRITE: WriteOne | None = None


def _write_forked(number: int) -> int:
    assert _WRITE is not None
    _WRITE(_JOBS[number])
    return number


class TemplateWriters:
    """`start()` sets the children writing; `finish()` waits for every workbook (or, in one
    process, writes them) and raises XlplanError on the first that fails; `stop()` always
    ends the children."""

    def __init__(self, jobs: list[TemplateJob], write: WriteOne, *, workers: int | None = None) -> None:
        self.jobs = jobs
        self.write = write
        cores = os.cpu_count() or 1
        self.workers = min(workers if workers is not None else cores, MAX_WORKERS, len(jobs))
        if len(jobs) < PARALLEL_FROM or not _can_fork():
            self.workers = min(self.workers, 1)
        self.written: set[int] = set()
        self.told = False  # a message from `stopped` was made: it says what was written
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[int]] = []

    def start(self) -> None:
        global _JOBS, _WRITE
        if self.workers < 2:
            return
        import gc
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _JOBS, _WRITE = self.jobs, self.write
        # Frozen, the collector leaves the plan's objects alone in the children, so their pages
        # stay shared with the parent instead of being copied into each child.
        gc.freeze()
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("fork")
        )
        self._futures = [self._pool.submit(_write_forked, n) for n in range(len(self.jobs))]

    def finish(self) -> None:
        if self._pool is None:
            for number, job in enumerate(self.jobs):
                try:
                    self.write(job)
                except XlplanError as exc:
                    raise self.stopped(exc.message) from exc
                self.written.add(number)
            return
        from concurrent.futures import wait
        from concurrent.futures.process import BrokenProcessPool

        pending = set(self._futures)
        while pending:
            done, pending = wait(pending, return_when="FIRST_EXCEPTION")
            for future in done:
                if future.exception() is None:
                    self.written.add(future.result())
            failed = [f for f in done if f.exception() is not None]
            if not failed:
                continue
            self.stop()  # the running ones finish; the rest are not started
            exc = min(failed, key=self._futures.index).exception()
            if isinstance(exc, XlplanError):
                raise self.stopped(exc.message) from exc
            if isinstance(exc, BrokenProcessPool):
                raise self.stopped(
                    "A process writing the service workbooks stopped abruptly (it ran out of "
                    "memory or was killed)."
                ) from exc
            raise exc  # xlplan's own fault: the CLI says so in one line

    def stop(self) -> None:
        """End the children: the workbooks being written are finished, the rest not started."""
        global _JOBS, _WRITE
        if self._pool is not None:
            import gc

            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            gc.unfreeze()
            self.written |= {
                f.result() for f in self._futures if f.done() and not f.cancelled() and f.exception() is None
            }
        _JOBS, _WRITE = [], None

    def stopped(self, why: str) -> XlplanError:
        """The message for an issue that stopped part-way: what went wrong, and what was
        written that must not go out (the master does not record it)."""
        self.told = True
        done = len(self.written)
        folder = self.jobs[0].path.parent if self.jobs else Path(".")
        if done:
            written = (
                f"{done} of {plural(len(self.jobs), 'service workbook')} had been written to "
                f"{folder}; they are not recorded as issued, so do not send them."
            )
        else:
            written = "No service workbook was written."
        return XlplanError(
            f"{why} The issue stopped and the master was not changed. {written} Fix the "
            "problem and run xlplan template again."
        )


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()
