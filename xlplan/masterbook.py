"""Writing the master workbook: the plan sheet, the Key, the audit trail, the central team's
own sheets and the hidden metadata, rebuilt from data on every write and swapped in atomically."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import XlplanError
from .excel import safe_sheet_name
from .plan import KEY_SHEET, LOG_HEADERS, LOG_SHEET, Plan, proposal_status
from .sheets import (
    HEADER_ROW,
    Book,
    SheetRow,
    write_key_sheet,
    write_metadata_sheet,
    write_plain_sheet,
    write_plan_sheet,
    write_table,
)

if TYPE_CHECKING:
    from .merge import MergeResult

LOCK_STALE_SECONDS = 15 * 60
LOG_WIDTHS = [12, 18, 16, 24, 10, 30, 40, 40, 10, 10]


def write_master(plan: Plan, path: Path, merge: MergeResult | None = None) -> None:
    """Write `plan` to `path` atomically: a crash or a full disk leaves the old file whole."""
    plan.meta.header_row = HEADER_ROW + 1
    if merge is not None:
        plan.meta.last_cycle = merge.cycle
        plan.meta.last_merged_at = merge.merged_at.strftime("%Y-%m-%d %H:%M")
    plan.meta.generator = f"xlplan {__version__}"

    def build(target: Path) -> None:
        book = Book(target)
        if merge is not None:
            from .report import plan_rows, write_merge_sheets

            rows = plan_rows(plan, merge)
        else:
            rows = (SheetRow(a.id, a.values, status=_proposed_status(a)) for a in plan.actions)
        layout = plan.layout
        write_plan_sheet(
            book, layout, rows, title=plan.meta.title,
            subtitle=f"Master plan · {len(plan.actions)} actions · layout {layout.name} · "
                     "edit central and committee columns here; services return theirs through "
                     "xlplan templates.",
            status_column=True, lock=None, row_count=len(plan.actions))
        if merge is not None:
            write_merge_sheets(book, plan, merge)
        write_key_sheet(book, layout, name=KEY_SHEET, intro=[layout.description or layout.title])
        write_table(book, LOG_SHEET, LOG_HEADERS, (e.row() for e in plan.log), LOG_WIDTHS,
                    title="Change log: every change merged in earlier cycles",
                    notes=["The latest merge's changes are on the Changes sheet; they move here "
                           "at the next merge."])
        taken = {layout.sheet, KEY_SHEET, LOG_SHEET, "Summary", "Changes", "Issues"}
        for sheet in plan.carried:
            name = safe_sheet_name(sheet.name, taken)
            taken.add(name)
            write_plain_sheet(book, name, sheet.rows, sheet.state)
        write_metadata_sheet(book, plan.meta)
        book.close()

    atomic_write(path, build)


def _proposed_status(action) -> str:
    return proposal_status(action)


def atomic_write(path: Path, build: Callable[[Path], None]) -> None:
    """Build into a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise XlplanError(f"Cannot write {path}: the folder {folder} does not exist.")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".xlsx.tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise XlplanError(f"Cannot write in {folder}: {exc.strerror or exc}. Choose another "
                          "output with -o, or fix the folder's permissions.") from exc
    tmp = Path(tmp_name)
    try:
        build(tmp)
        publish(tmp, path)
    except OSError as exc:
        raise XlplanError(f"Cannot write {path}: {exc.strerror or exc}. Nothing was changed; "
                          "free some space or choose another output with -o.") from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def publish(tmp: Path, path: Path) -> None:
    """Rename a finished temporary file over `path`, with the permissions a new file gets
    (mkstemp makes it private to the owner; colleagues on a share must be able to open it)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


@contextmanager
def plan_lock(path: Path) -> Iterator[str | None]:
    """One merge at a time on one master: a lock file beside it, made atomically.

    The lock names its owner ("pid 1234 on host ward-pc"). A lock whose owner was on this
    machine and is no longer running (killed, crashed, the laptop slept mid-merge) is taken
    over at once; the context yields a notice saying so (None otherwise). A lock from another
    machine cannot be checked, so it is taken over only once it is LOCK_STALE_SECONDS old."""
    lock = path.with_name(f".~lock.xlplan.{path.name}")
    notice: str | None = None
    for _attempt in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError as exc:
            try:
                age = time.time() - lock.stat().st_mtime
                owner = lock.read_text(encoding="utf-8", errors="replace")[:200]
            except OSError:
                continue
            gone = _owner_gone(owner)
            if gone or age > LOCK_STALE_SECONDS:
                if _still(lock, owner):
                    lock.unlink(missing_ok=True)
                who = _describe(owner)
                notice = (f"A lock left on {path.name} by an earlier merge ({who}, "
                          + ("no longer running" if gone else f"{age / 60:.0f} minutes old")
                          + ") was taken over.")
                continue
            raise XlplanError(
                f"Another xlplan merge is writing {path} ({_describe(owner)}, lock file "
                f"{lock.name}, {age:.0f} s old). Wait for it to finish; if none is running, "
                "delete the lock file."
            ) from exc
        except OSError as exc:
            raise XlplanError(f"Cannot lock {path} for writing: {exc.strerror or exc}.") from exc
    else:
        raise XlplanError(f"Cannot lock {path} for writing; delete {lock} and try again.")
    try:
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode())
        os.close(fd)
        yield notice
    finally:
        lock.unlink(missing_ok=True)


def _owner(text: str) -> tuple[int, str] | None:
    parts = text.split()
    if len(parts) >= 5 and parts[0] == "pid" and parts[1].isdigit() and parts[2:4] == ["on", "host"]:
        return int(parts[1]), parts[4]
    return None


def _describe(text: str) -> str:
    owner = _owner(text)
    return f"process {owner[0]} on {owner[1]}" if owner else "owner not recorded"


def _owner_gone(text: str) -> bool:
    """Is the lock's owner a process of this machine that no longer runs?"""
    owner = _owner(text)
    if owner is None or owner[1] != socket.gethostname():
        return False
    try:
        os.kill(owner[0], 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    return False


def _still(lock: Path, owner: str) -> bool:
    """The lock still holds what was judged stale (another merge may have just taken it over)."""
    try:
        return lock.read_text(encoding="utf-8", errors="replace")[:200] == owner
    except OSError:
        return False
