"""Writing the master workbook: the plan sheet, the Key, the audit trail, the central team's
own sheets and the hidden metadata, rebuilt from data on every write and swapped in atomically."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .carry import Formula, Relocation, relocate
from .changelog import LOG_SUMMARY_SHEET, summary_rows
from .committee_sheet import write_committee_sheet
from .contacts import SERVICES_HEADERS, SERVICES_NOTES, SERVICES_SHEET, SERVICES_TITLE, SERVICES_WIDTHS
from .cycle import RETURNS_HEADERS, RETURNS_SHEET, SNAPSHOT_SHEET, snapshot_rows
from .errors import XlplanError
from .excel import safe_sheet_name
from .logpart import prime_log_formats, write_change_log
from .master_tables import OWNED_SHEETS
from .packed import pack_rows
from .plan import HISTORY_SHEET, KEY_SHEET, LOG_HEADERS, LOG_SHEET, Plan
from .plan_sheet import SheetRow, write_plan_sheet
from .problems import plural
from .progress_sheet import write_progress_sheet
from .record import RECORD_SHEET, record_table
from .sheets import HEADER_ROW, Book, write_key_sheet, write_metadata_sheet, write_plain_sheet, write_table

if TYPE_CHECKING:
    from .history import History
    from .outcome import MergeResult

LOCK_STALE_SECONDS = 15 * 60
LOG_WIDTHS = [12, 18, 16, 24, 10, 30, 40, 40, 10, 10]
# Deflate's fastest level: a master is rewritten at every merge and template, and at level 6
# (zlib's default) compressing its XML is a fifth of a merge at 100,000 actions; level 1 does
# it 3.5 times faster for a larger file (about a third at 100,000 actions; the bundled LPT
# plan's master: 119 KB -> 136 KB). Templates, which are emailed, keep the default.
MASTER_COMPRESS_LEVEL = 1


def write_master(
    plan: Plan,
    path: Path,
    merge: MergeResult | None = None,
    *,
    before_publish: Callable[[Path], None] | None = None,
) -> None:
    """Write `plan` to `path` atomically: a crash or a full disk leaves the old file whole.
    `before_publish` is given the new master once it is built, before it replaces the old one."""
    stamp_metadata(plan, merge)

    def build(target: Path) -> None:
        book = Book(target, compress_level=MASTER_COMPRESS_LEVEL)
        log_styles = prime_log_formats(book)  # first: the Change log's rows can then be copied
        moves = plan_moves(plan)
        _write_plan(book, plan, merge, moves)
        _write_reports(book, plan, merge)
        log_summary = _write_log(book, plan, log_styles)
        write_services_sheet(book, plan)
        taken = {plan.layout.sheet, SERVICES_SHEET, *OWNED_SHEETS}
        for sheet in plan.carried:
            name = safe_sheet_name(sheet.name, taken)
            taken.add(name)
            write_plain_sheet(
                book,
                name,
                relocated_rows(sheet.rows, sheet.name, moves),
                sheet.state,
                sheet.widths,
                sheet.formats,
            )
        _write_own_tables(book, plan, log_summary)
        book.close()

    atomic_write(path, build, before_publish)


def _write_plan(book: Book, plan: Plan, merge: MergeResult | None, moves: Relocation | None) -> None:
    """The plan sheet: every action, its changes highlighted, the central team's columns."""
    from .report import plan_rows

    layout = plan.layout
    write_plan_sheet(
        book,
        layout,
        with_extra_columns(plan, plan_rows(plan, merge), moves),
        title=plan.meta.title,
        subtitle=f"Master plan · {plural(len(plan.actions), 'action')} · layout {layout.name} · "
        "edit central and committee columns here; services return theirs through "
        "xlplan templates.",
        status_column=True,
        lock=None,
        row_count=len(plan.actions),
        extra_columns=[(c.header, c.width, c.num_format) for c in plan.extra_columns],
    )


def _write_reports(book: Book, plan: Plan, merge: MergeResult | None) -> None:
    """What the committee reads: the Summary, Changes and Issues, Progress, the Committee
    view and the Key."""
    from .report import write_cycle_sheets, write_merge_sheets

    layout = plan.layout
    history = progress_history(plan, merge)
    if merge is not None:
        # The figures just recorded for this cycle are the Summary's: worked out once.
        write_merge_sheets(book, plan, merge, history.latest_of(merge.cycle))
    elif plan.cycle_changes or plan.cycle_issues:
        write_cycle_sheets(book, plan, plan.meta.cycle or "")
    if history.cycles:
        write_progress_sheet(book, plan, history)
    write_committee_sheet(book, plan, plan.meta.cycle or (merge.cycle if merge else ""))
    write_key_sheet(book, layout, name=KEY_SHEET, intro=[layout.description or layout.title])


def _write_log(book: Book, plan: Plan, log_styles) -> list[list]:
    """The Change log (its earlier rows copied as they are where they can be); the small
    summary of it the next merge asks instead of reading it."""
    layout = plan.layout
    due = layout.column(layout.due_field).header if layout.due_field else ""
    log_summary = summary_rows(plan.log, plan.meta.cycle or "", due)
    write_change_log(
        book,
        plan.log,
        LOG_SHEET,
        LOG_HEADERS,
        LOG_WIDTHS,
        title="Change log: every change merged in earlier cycles",
        notes=[
            "This cycle's changes are on the Changes sheet; they move here when "
            "the next cycle is issued. Edits made by hand in the master are added "
            "here when the next merge finds them."
        ],
        styles=log_styles,
        token=str(log_summary[0][-1]),
    )
    return log_summary


def _write_own_tables(book: Book, plan: Plan, log_summary: list[list]) -> None:
    """xlplan's own hidden sheets: metadata, the record of what was issued, the returns
    merged, the snapshot of the audited cells, the history and the log's summary."""
    write_metadata_sheet(book, plan.meta)
    if plan.record.rows:
        write_packed_sheet(book, RECORD_SHEET, record_table(plan.layout, plan.record))
    if plan.merged:
        write_plain_sheet(
            book, RETURNS_SHEET, [RETURNS_HEADERS, *(m.row() for m in plan.merged)], "veryhidden"
        )
    # The audited cells as written now: the next merge logs what was edited by hand since.
    snapshot = snapshot_rows(plan.layout, ((a.id, a.values) for a in plan.actions))
    write_packed_sheet(book, SNAPSHOT_SHEET, snapshot)
    if plan.history_table:
        write_packed_sheet(book, HISTORY_SHEET, plan.history_table)
    if len(plan.log):  # (an empty log is read in no time: no summary needed)
        write_packed_sheet(book, LOG_SUMMARY_SHEET, log_summary)


def stamp_metadata(plan: Plan, merge: MergeResult | None = None) -> None:
    """What the master's metadata says of the write itself."""
    plan.meta.header_row = HEADER_ROW + 1
    if merge is not None:
        plan.meta.last_cycle = merge.cycle
        plan.meta.last_merged_at = merge.merged_at.strftime("%Y-%m-%d %H:%M")
    plan.meta.generator = f"xlplan {__version__}"


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
    write_table(
        book,
        SERVICES_SHEET,
        SERVICES_HEADERS,
        (c.row() for c in plan.contacts),
        SERVICES_WIDTHS,
        title=SERVICES_TITLE,
        notes=SERVICES_NOTES,
    )


def plan_moves(plan: Plan) -> Relocation | None:
    """Where the plan sheet's rows and columns go in the master about to be written (actions
    in plan order under the header), or None when nothing moves."""
    rows = {a.row: HEADER_ROW + 1 + i for i, a in enumerate(plan.actions) if a.row is not None}
    columns = {old: new for old, new in plan.column_moves.items() if old != new}
    if not columns and all(old == new for old, new in rows.items()):
        return None
    first = min(rows, default=HEADER_ROW + 1)
    return Relocation(plan.layout.sheet, rows, plan.column_moves, header_shift=rows.get(first, first) - first)


def _moved(values: list, sheet: str, moves: Relocation | None) -> list:
    if moves is None or not any(isinstance(v, Formula) for v in values):
        return values
    return [Formula(relocate(v.text, sheet, moves), v.value) if isinstance(v, Formula) else v for v in values]


def with_extra_columns(plan: Plan, rows: Iterable[SheetRow], moves: Relocation | None) -> Iterator[SheetRow]:
    """The plan sheet's rows with the central team's own columns, their formulas following
    the cells they point at."""
    extra = {a.id: a.extra for a in plan.actions if a.extra} if plan.extra_columns else {}
    typed = {a.id: a for a in plan.actions if a.row in plan.layout_formulas}
    for row in rows:
        if row.action_id in extra:
            row.extra = _moved(extra[row.action_id], plan.layout.sheet, moves)
        action = typed.get(row.action_id)
        if action is not None:
            # The formula stays while the cell shows what it did; a change made by this merge
            # replaces it (the cell is marked and the change noted).
            row.formulas = {
                name: Formula(
                    relocate(text, plan.layout.sheet, moves) if moves else text, action.values.get(name)
                )
                for name, text in plan.layout_formulas[action.row].items()
                if name not in row.marks
            }
        yield row


def relocated_rows(rows: list[list], sheet: str, moves: Relocation | None) -> list[list]:
    """A sheet of the central team's, its formulas' references into the plan sheet moved."""
    return [_moved(row, sheet, moves) for row in rows] if moves is not None else rows


def atomic_write(
    path: Path, build: Callable[[Path], None], before_publish: Callable[[Path], None] | None = None
) -> None:
    """Build into a temporary file beside `path`, then rename it over `path` (after
    `before_publish(temporary file)`, which may stop it by raising)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise XlplanError(f"Cannot write {path}: the folder {folder} does not exist.")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".xlsx.tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise XlplanError(
            f"Cannot write in {folder}: {exc.strerror or exc}. Choose another "
            "output with -o, or fix the folder's permissions."
        ) from exc
    tmp = Path(tmp_name)
    try:
        build(tmp)
        if before_publish is not None:
            before_publish(tmp)
        publish(tmp, path)
    except OSError as exc:
        raise XlplanError(
            f"Cannot write {path}: {exc.strerror or exc}. Nothing was changed; "
            "free some space or choose another output with -o."
        ) from exc
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
                notice = (
                    f"A lock left on {path.name} by an earlier merge ({who}, "
                    + ("no longer running" if gone else f"{age / 60:.0f} minutes old")
                    + ") was taken over."
                )
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
        raise XlplanError(
            f"Cannot keep a copy of {plan_path} before updating it: "
            f"{exc.strerror or exc}. Nothing was changed; use -o to write elsewhere."
        ) from exc
    return backup


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
