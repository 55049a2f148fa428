"""Writing the service workbooks of one `xlplan template`: in child processes when there are
many (while this process writes the master), one after the other in this process otherwise.
Either way the first failure stops the issue with one message that says what was written.

The children are started fresh ("spawn"), not forked, and each job is sent to them with the
actions it needs. A forked child shares the parent's memory only until either writes to it,
and Python writes to every object it touches (reference counts): the parent writing the
master and the children reading the actions copied the whole plan once more (at 100,000
actions, 1.6 GB for the issue instead of 0.9). Spawned children also work on Windows."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import XlplanError
from .problems import plural

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

# Below this many workbooks, or this many rows in all, one process writes them all: starting
# a child (a fresh Python and its imports, about 0.2 s of CPU) would cost more than it saves
# (10 workbooks of 17 rows: 1.0 s with children, 0.5 s without).
PARALLEL_FROM = 8
PARALLEL_FROM_ROWS = 3000
# Each child takes one core; the parent's master write shares them.
MAX_WORKERS = 4


class Job(Protocol):
    """One workbook to write: sent to a child whole (it must pickle), so it carries what
    writing it needs."""

    path: Path


def _write_in_child(write: Callable[[Job], None], job: Job) -> None:
    write(job)


def _leave_with_parent(parent: int) -> None:
    """In a child: exit once the parent (its process ID given, as it may be gone already)
    is gone, killed say. Nothing else ends an idle child of a process pool whose parent
    died: it would wait for work for ever."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


class TemplateWriters:
    """`start()` sets the children writing; `finish()` waits for every workbook (or, in one
    process, writes them) and raises XlplanError on the first that fails; `stop()` always
    ends the children. `write` must be a module-level function (a child imports it)."""

    def __init__(
        self,
        jobs: list[Job],
        write: Callable[[Job], None],
        *,
        rows: int | None = None,
        workers: int | None = None,
    ) -> None:
        """`rows`: how many rows the workbooks hold in all, if known."""
        self.jobs = jobs
        self.write = write
        cores = os.cpu_count() or 1
        self.workers = min(workers if workers is not None else cores, MAX_WORKERS, len(jobs))
        if len(jobs) < PARALLEL_FROM or (rows is not None and rows < PARALLEL_FROM_ROWS):
            self.workers = min(self.workers, 1)
        self.written: set[int] = set()
        self.told = False  # a message from `stopped` was made: it says what was written
        # Workbooks on disk written since this moment count as written, whatever a broken
        # pool reported: a child that dies takes the other children's last results with it.
        self._since = time.time() - 1
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[None]] = []

    def start(self) -> None:
        if self.workers < 2:
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_leave_with_parent,
            initargs=(os.getpid(),),
        )
        self._futures = [self._pool.submit(_write_in_child, self.write, job) for job in self.jobs]

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
        self.written = set(range(len(self.jobs)))

    def stop(self) -> None:
        """End the children: the workbooks being written are finished, the rest not started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self.written |= {
                n
                for n, f in enumerate(self._futures)
                if f.done() and not f.cancelled() and f.exception() is None
            }

    def _on_disk(self) -> set[int]:
        found: set[int] = set()
        for number, job in enumerate(self.jobs):
            try:
                info = job.path.stat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_mtime >= self._since:
                found.add(number)
        return found

    def stopped(self, why: str) -> XlplanError:
        """The message for an issue that stopped part-way: what went wrong, and what was
        written that must not go out (the master does not record it)."""
        self.told = True
        done = len(self.written | self._on_disk())
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
