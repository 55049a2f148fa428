"""Writing the master workbook: the plan sheet, the Key, the audit trail, the central team's
own sheets and the hidden metadata, rebuilt from data on every write and swapped in atomically."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .committee_sheet import COMMITTEE_SHEET, write_committee_sheet
from .contacts import SERVICES_HEADERS, SERVICES_NOTES, SERVICES_SHEET, SERVICES_TITLE, SERVICES_WIDTHS
from .cycle import RETURNS_HEADERS, RETURNS_SHEET, SNAPSHOT_SHEET, snapshot_rows
from .errors import XlplanError
from .excel import safe_sheet_name
from .packed import pack_rows
from .plan import HISTORY_SHEET, KEY_SHEET, LOG_HEADERS, LOG_SHEET, PROGRESS_SHEET, Plan
from .progress_sheet import write_progress_sheet
from .record import RECORD_SHEET, record_table
from .sheets import (
    HEADER_ROW,
    Book,
    write_key_sheet,
    write_metadata_sheet,
    write_plain_sheet,
    write_plan_sheet,
    write_table,
)

if TYPE_CHECKING:
    from .history import History
    from .layout import Layout
    from .outcome import MergeResult

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
        from .report import plan_rows, write_cycle_sheets, write_merge_sheets

        book = Book(target)
        rows = plan_rows(plan, merge)
        layout = plan.layout
        write_plan_sheet(
            book, with_extra_columns(plan), rows, title=plan.meta.title,
            subtitle=f"Master plan · {len(plan.actions)} actions · layout {layout.name} · "
                     "edit central and committee columns here; services return theirs through "
                     "xlplan templates.",
            status_column=True, lock=None, row_count=len(plan.actions))
        if merge is not None:
            write_merge_sheets(book, plan, merge)
        elif plan.cycle_changes or plan.cycle_issues:
            write_cycle_sheets(book, plan, plan.meta.cycle or "")
        history = progress_history(plan, merge)
        if history.cycles:
            write_progress_sheet(book, plan, history)
        write_committee_sheet(book, plan, plan.meta.cycle or (merge.cycle if merge else ""))
        write_key_sheet(book, layout, name=KEY_SHEET, intro=[layout.description or layout.title])
        write_table(book, LOG_SHEET, LOG_HEADERS, (e.row() for e in plan.log), LOG_WIDTHS,
                    title="Change log: every change merged in earlier cycles",
                    notes=["The latest merge's changes are on the Changes sheet; they move here "
                           "at the next merge."])
        write_services_sheet(book, plan)
        taken = {layout.sheet, KEY_SHEET, LOG_SHEET, "Summary", "Changes", "Issues", RECORD_SHEET,
                 RETURNS_SHEET, SNAPSHOT_SHEET, SERVICES_SHEET, PROGRESS_SHEET, HISTORY_SHEET,
                 COMMITTEE_SHEET}
        for sheet in plan.carried:
            name = safe_sheet_name(sheet.name, taken)
            taken.add(name)
            write_plain_sheet(book, name, sheet.rows, sheet.state)
        write_metadata_sheet(book, plan.meta)
        if plan.record.rows:
            write_packed_sheet(book, RECORD_SHEET, record_table(layout, plan.record))
        if plan.merged:
            write_plain_sheet(book, RETURNS_SHEET, [RETURNS_HEADERS, *(m.row() for m in plan.merged)],
                              "veryhidden")
        # The audited cells as written now: the next merge logs what was edited by hand since.
        snapshot = snapshot_rows(layout, ((a.id, a.values) for a in plan.actions))
        write_packed_sheet(book, SNAPSHOT_SHEET, snapshot)
        if plan.history_table:
            write_packed_sheet(book, HISTORY_SHEET, plan.history_table)
        book.close()

    atomic_write(path, build)


def progress_history(plan: Plan, merge: MergeResult | None) -> History:
    """The master's history of cycles, with this merge's figures recorded for its cycle (a
    later merge of the same cycle replaces them); `plan.history_table` is updated to match."""
    from .history import history_rows, plan_history, record_cycle

    history = plan_history(plan)
    if merge is not None:
        record_cycle(history, plan, merge.cycle, merge.as_of, merge.merged_at.strftime("%Y-%m-%d %H:%M"))
        plan.history_table = history_rows(history, plan.layout.rating_values)
    return history


def write_services_sheet(book: Book, plan: Plan) -> None:
    """Who receives each service's workbook; any service of the plan missing is added."""
    from .contacts import updated_contacts

    plan.contacts, _ = updated_contacts(plan.contacts, plan.services())
    write_table(book, SERVICES_SHEET, SERVICES_HEADERS, (c.row() for c in plan.contacts),
                SERVICES_WIDTHS, title=SERVICES_TITLE, notes=SERVICES_NOTES)


def with_extra_columns(plan: Plan) -> Layout:
    """The layout to write the plan sheet with: the plan's own, plus its extra central columns
    (Plan.extra_columns), which are never issued to services because templates are written
    from the layout the master carries, which does not hold them."""
    if not plan.extra_columns:
        return plan.layout
    from .layout import Column

    extras = []
    for n, header in enumerate(plan.extra_columns):
        key = f"_extra_{n}"
        dated = any(isinstance(a.values.get(key), dt.date) for a in plan.actions)
        extras.append(Column.model_construct(
            field=key, header=header, type="date" if dated else "long_text", owner="central",
            width=20, required=False, help="", aliases=[], choices=[]))
    # model_construct: the extra fields ("_extra_0") are xlplan's own keys, not a layout's,
    # and a copy would keep the layout's cached column index.
    data = {name: getattr(plan.layout, name) for name in type(plan.layout).model_fields}
    data["columns"] = [*plan.layout.columns, *extras]
    return type(plan.layout).model_construct(**data)


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
def plan_lock(path: Path) -> Iterator[None]:
    """One merge at a time on one master: a lock file beside it, made atomically."""
    lock = path.with_name(f".~lock.xlplan.{path.name}")
    for _attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError as exc:
            try:
                age = time.time() - lock.stat().st_mtime
            except OSError:
                continue
            if age > LOCK_STALE_SECONDS:
                lock.unlink(missing_ok=True)
                continue
            raise XlplanError(
                f"Another xlplan merge is writing {path} (lock file {lock.name}, "
                f"{age:.0f} s old). Wait for it to finish; if none is running, delete the lock file."
            ) from exc
        except OSError as exc:
            raise XlplanError(f"Cannot lock {path} for writing: {exc.strerror or exc}.") from exc
    else:
        raise XlplanError(f"Cannot lock {path} for writing; delete {lock} and try again.")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def write_packed_sheet(book: Book, name: str, rows: list[list]) -> None:
    """A table only xlplan reads, packed into a few cells (see xlplan.packed)."""
    write_plain_sheet(book, name, [[piece] for piece in pack_rows(rows)], "veryhidden")


def keep_backup(plan_path: Path, why: str = "merge") -> Path:
    """A time-stamped copy of the master beside it, made before xlplan rewrites it in place."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = plan_path.with_name(f"{plan_path.stem}.before-{why}-{stamp}{plan_path.suffix}")
    number = 1
    while backup.exists():  # two writes in one second must not overwrite the first backup
        number += 1
        backup = plan_path.with_name(f"{plan_path.stem}.before-{why}-{stamp}-{number}{plan_path.suffix}")
    try:
        shutil.copy2(plan_path, backup)
    except OSError as exc:
        raise XlplanError(f"Cannot keep a copy of {plan_path} before updating it: "
                          f"{exc.strerror or exc}. Nothing was changed; use -o to write elsewhere.") from exc
    return backup
