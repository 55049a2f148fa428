"""Drive a real LibreOffice Calc (headless) from pytest.

UNO lives in the system python (Debian's /usr/bin/python3 with python3-uno), not in the
venv that runs pytest, so this module never imports ``uno``.  It starts

* one headless ``soffice`` per test session, with a private throw-away profile, listening
  on a named pipe, and
* one long-lived worker, ``tests/lo_worker.py`` under the system python, connected to it,

and talks to the worker in JSON lines over its stdin/stdout (one request, one answer).

    lo = LibreOffice()            # or the ``libreoffice`` fixture
    lo.start()
    with lo.open("outbox/FYPC.xlsx") as doc:
        doc.type_into("Action plan", "M4", "done")     # as a person types: protection applies
        doc.cell_string("Action plan", "M4")
        doc.validation("Action plan", "N4")            # {"type": "LIST", "formula1": ...}
        doc.rendered_colour("Action plan", "N4")       # "#c00000" as LibreOffice paints it
        doc.invalid_cells("Action plan")               # LibreOffice's own validity check
        doc.save_as("back.xlsx", "xlsx")
    lo.stop()

If soffice dies mid-test the call raises ``LibreOfficeCrashed`` (with the tail of
soffice's log) and the next call starts a fresh soffice, so one crash fails one test,
not the rest of the session.

Typed text is read in the en-GB locale (30/06/2017 becomes a date), as NHS staff type;
``LibreOffice(locale=None)`` keeps LibreOffice's default.  Headless typing never runs
data validation (no dialog): check a refused value with ``invalid_cells``.  The worker
hides Calc's input line first: with the -nogui packages, building it aborts soffice
shortly after the first cell-cursor move (see INPUT_LINE_CHILD_WINDOW in lo_worker.py).

Environment overrides: ``XLPLAN_SOFFICE`` (the soffice binary), ``XLPLAN_UNO_PYTHON``
(the python that can ``import uno``; default /usr/bin/python3).
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
WORKER = HERE / "lo_worker.py"
UNO_PYTHON = os.environ.get("XLPLAN_UNO_PYTHON", "/usr/bin/python3")

# What the harness (and its users) wait for at most, in seconds.
START_TIMEOUT = 60.0
CALL_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

PLAN_SHEET = "Action plan"


class LibreOfficeError(RuntimeError):
    """An operation failed inside LibreOffice (bad cell, file that will not load...)."""


class LibreOfficeCrashed(LibreOfficeError):
    """soffice died (or stopped answering); the next call starts a new one."""


class LibreOfficeUnavailable(RuntimeError):
    """soffice or the UNO python is not installed here."""


# --------------------------------------------------------------------------- discovery


def soffice_path() -> str | None:
    return os.environ.get("XLPLAN_SOFFICE") or shutil.which("soffice") or shutil.which("libreoffice")


_REASON: list[str | None] = []


def unavailable_reason() -> str | None:
    """None when LibreOffice can be driven here, else why not (for a skip message)."""
    if _REASON:
        return _REASON[0]
    reason = None
    if soffice_path() is None:
        reason = "soffice is not on PATH (run .ci/install-libreoffice)"
    elif not os.access(UNO_PYTHON, os.X_OK):
        reason = f"{UNO_PYTHON} (the python with UNO) does not exist"
    elif shutil.which("pdftoppm") is None:
        reason = "pdftoppm (poppler-utils) is not on PATH (run .ci/install-libreoffice)"
    else:
        try:
            proc = subprocess.run(
                [UNO_PYTHON, "-c", "import uno, unohelper"],
                capture_output=True,
                text=True,
                timeout=30,
                env=_clean_env(),
            )
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["?"])[-1]
                reason = f"{UNO_PYTHON} cannot import uno ({last}); install python3-uno"
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"{UNO_PYTHON} -c 'import uno' failed: {exc}"
    _REASON.append(reason)
    return reason


def _clean_env() -> dict[str, str]:
    """The environment for soffice and the system python: nothing from the venv/pyenv
    that would make Debian's python load the wrong site-packages."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PYTHONPATH",
            "PYTHONHOME",
            "VIRTUAL_ENV",
            "PYTHONSTARTUP",
            "PYTHONUSERBASE",
            "PYENV_VERSION",
            "PYTHONSAFEPATH",
        )
    }
    env.setdefault("LANG", "C.UTF-8")
    return env


def _kill_group(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM then SIGKILL the process group ``proc`` leads (started with
    start_new_session), waiting up to ``timeout`` for it to go."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # Children (oosplash -> soffice.bin) may outlive the leader: sweep the group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def processes_matching(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (Linux /proc; [] elsewhere)."""
    out = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and int(entry.name) != os.getpid():
            out.append(int(entry.name))
    return out


# --------------------------------------------------------------------------- images


def read_ppm(path: Path) -> tuple[int, int, bytes]:
    """(width, height, RGB bytes) of a binary PPM (P6, maxval 255), as pdftoppm writes."""
    data = Path(path).read_bytes()
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError(f"{path}: not an 8-bit P6 PPM")
    width, height = int(fields[1]), int(fields[2])
    pos += 1
    return width, height, data[pos : pos + width * height * 3]


def colour_histogram(path: Path, chromatic_only: bool = True, min_spread: int = 40) -> Counter:
    """Pixel counts per "#rrggbb" in a PPM.  ``chromatic_only`` drops white, greys and
    black (page, borders, text), keeping only pixels whose channels differ by at least
    ``min_spread``: the cell fills."""
    width, height, rgb = read_ppm(path)
    counts: Counter = Counter()
    for i in range(0, width * height * 3, 3):
        r, g, b = rgb[i], rgb[i + 1], rgb[i + 2]
        if chromatic_only and max(r, g, b) - min(r, g, b) < min_spread:
            continue
        counts[f"#{r:02x}{g:02x}{b:02x}"] += 1
    return counts


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def colour_distance(a: str, b: str) -> int:
    """Largest per-channel difference between two "#rrggbb" colours."""
    return max(abs(x - y) for x, y in zip(hex_to_rgb(a), hex_to_rgb(b), strict=True))


def pdf_to_png(
    pdf: Path | str, outdir: Path | str, dpi: int = 50, first: int | None = None, last: int | None = None
) -> list[Path]:
    """Render a PDF's pages to PNGs with poppler's pdftoppm; returns them in page order."""
    pdf, outdir = Path(pdf), Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = ["pdftoppm", "-png", "-r", str(dpi)]
    if first:
        cmd += ["-f", str(first)]
    if last:
        cmd += ["-l", str(last)]
    subprocess.run(cmd + [str(pdf), str(outdir / pdf.stem)], check=True, capture_output=True, timeout=120)
    return sorted(outdir.glob(f"{pdf.stem}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def pdf_pages(pdf: Path | str) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise ValueError(f"pdfinfo gave no page count for {pdf}")


# --------------------------------------------------------------------------- harness


class LibreOffice:
    """One headless soffice + one UNO worker.  Start once, use for many documents."""

    def __init__(
        self,
        workdir: Path | str | None = None,
        call_timeout: float = CALL_TIMEOUT,
        locale: str | None = "en-GB",
    ):
        reason = unavailable_reason()
        if reason:
            raise LibreOfficeUnavailable(reason)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="xlplan-lo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.call_timeout = call_timeout
        # The locale typed text is read in: en-GB, as NHS staff type (30/06/2017 is a
        # date).  None keeps LibreOffice's default from LANG (usually en-US: text).
        self.locale = locale
        self.soffice: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.generation = 0  # bumps on every (re)start; stale Doc handles refuse
        self.timings: dict[str, list[float]] = {}
        self.info: dict[str, Any] = {}
        self.crashes: list[str] = []
        self._answers: queue.Queue = queue.Queue()
        self._next_id = 1
        self._pipe = ""
        self._profile: Path | None = None
        self._log: Path | None = None
        self._render_count = 0
        self._atexit = False

    # ------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return (
            self.soffice is not None
            and self.soffice.poll() is None
            and self.worker is not None
            and self.worker.poll() is None
        )

    def start(self) -> LibreOffice:
        if self.running:
            return self
        t0 = time.monotonic()
        self.generation += 1
        tag = f"xlplan_lo_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._pipe = tag
        self._profile = self.workdir / f"profile-{self.generation}"
        self._log = self.workdir / f"soffice-{self.generation}.log"
        self._answers = queue.Queue()
        log = open(self._log, "wb")
        self.soffice = subprocess.Popen(
            [
                soffice_path(),
                "--headless",
                "--invisible",
                "--nologo",
                "--norestore",
                "--nodefault",
                "--nolockcheck",
                "--nofirststartwizard",
                f"-env:UserInstallation={self._profile.as_uri()}",
                f"--accept=pipe,name={tag};urp;StarOffice.ComponentContext",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            start_new_session=True,
        )
        log.close()
        with open(self.workdir / f"worker-{self.generation}.log", "wb") as worker_log:
            self.worker = subprocess.Popen(
                [UNO_PYTHON, str(WORKER), "--pipe", tag, "--connect-timeout", str(START_TIMEOUT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=worker_log,
                text=True,
                encoding="utf-8",
                env=_clean_env(),
                start_new_session=True,
                bufsize=1,
            )
        threading.Thread(target=self._pump, args=(self.worker, self._answers), daemon=True).start()
        try:
            ready = self._read(0, START_TIMEOUT)
            if not ready.get("ok"):
                raise LibreOfficeError(f"the UNO worker could not connect: {ready.get('error')}")
            self.info = self.call("hello")
            if self.locale:
                self.call("set_locale", locale=self.locale)
        except BaseException:
            self._teardown()
            raise
        self._time("start", time.monotonic() - t0)
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        return self

    def stop(self) -> None:
        """Close every document, terminate soffice, wait; kill whatever is left."""
        if self.worker is None and self.soffice is None:
            return
        t0 = time.monotonic()
        graceful = False
        if self.running:
            try:
                self.call("quit", timeout=STOP_TIMEOUT)
                graceful = True
            except LibreOfficeError:
                pass
        self._teardown(graceful)
        self._time("stop", time.monotonic() - t0)

    def restart(self) -> LibreOffice:
        self._teardown()
        return self.start()

    def _teardown(self, graceful: bool = False) -> None:
        """Stop the worker and soffice.  ``graceful``: soffice was asked to terminate,
        give it time to exit on its own; otherwise kill it at once."""
        worker, soffice = self.worker, self.soffice
        self.worker = self.soffice = None
        if worker is not None:
            try:
                worker.stdin.close()
            except OSError:
                pass
            try:
                worker.wait(5)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(worker, 2)
            if worker.stdout:
                worker.stdout.close()
        if soffice is not None:
            try:
                soffice.wait(STOP_TIMEOUT if graceful else 0.5)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(soffice, 5)
        if self._pipe:
            for pid in processes_matching(self._pipe):  # belt and braces: our pipe only
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)

    def leftover_processes(self) -> list[int]:
        """Processes still holding this instance's pipe name (should be [] after stop)."""
        return processes_matching(self._pipe) if self._pipe else []

    def __enter__(self) -> LibreOffice:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ protocol

    @staticmethod
    def _pump(proc: subprocess.Popen, answers: queue.Queue) -> None:
        for line in proc.stdout:
            answers.put(line)
        answers.put(None)

    def _read(self, req_id: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._answers.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise TimeoutError from None
            if line is None:
                raise EOFError
            answer = json.loads(line)
            if answer.get("id") == req_id:
                return answer

    def soffice_log(self, lines: int = 30) -> str:
        try:
            text = self._log.read_text(errors="replace") if self._log else ""
        except OSError:
            return ""
        keep = [ln for ln in text.splitlines() if "javaldx" not in ln]
        return "\n".join(keep[-lines:])

    def call(self, op: str, timeout: float | None = None, **args: Any) -> Any:
        """Run one worker operation; returns its result or raises LibreOfficeError."""
        if not self.running:
            if op == "quit":
                return None
            self.start()
        req_id = self._next_id
        self._next_id += 1
        t0 = time.monotonic()
        try:
            self.worker.stdin.write(json.dumps({"id": req_id, "op": op, "args": args}) + "\n")
            self.worker.stdin.flush()
            answer = self._read(req_id, timeout or self.call_timeout)
        except (TimeoutError, EOFError, BrokenPipeError, OSError) as exc:
            what = (
                "did not answer within %ss" % (timeout or self.call_timeout)
                if isinstance(exc, TimeoutError)
                else "went away"
            )
            log = self.soffice_log()
            self._teardown()
            if op == "quit":
                return None
            self.crashes.append(f"{op}: {what}")
            raise LibreOfficeCrashed(
                f"LibreOffice {what} during {op}({args}).\nsoffice log:\n{log}"
            ) from None
        finally:
            self._time(op, time.monotonic() - t0)
        if answer.get("ok"):
            return answer.get("result")
        if answer.get("crashed"):
            log = self.soffice_log()
            self._teardown()
            self.crashes.append(f"{op}: {answer.get('error')}")
            raise LibreOfficeCrashed(
                f"soffice died during {op}({args}): {answer.get('error')}\nsoffice log:\n{log}"
            )
        raise LibreOfficeError(
            f"{op}({args}) failed: {answer.get('kind')}: {answer.get('error')}\n{answer.get('traceback', '')}"
        )

    def _time(self, what: str, seconds: float) -> None:
        self.timings.setdefault(what, []).append(seconds)

    # ------------------------------------------------------------ documents

    def open(
        self, path: Path | str, expect_sheets: Iterable[str] | None = None, read_only: bool = False
    ) -> Doc:
        """Load ``path`` hidden.  Raises LibreOfficeError if it does not load, or (with
        ``expect_sheets``) if its sheets are not exactly those, in that order."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(path)
        res = self.call("open", path=str(path), read_only=read_only)
        doc = Doc(self, res["doc"], path, res["sheets"], res["interactions"], res["dialogs"])
        if expect_sheets is not None and list(expect_sheets) != doc.sheet_names:
            doc.close()
            raise LibreOfficeError(
                f"{path}: LibreOffice sees sheets {doc.sheet_names}, expected {list(expect_sheets)}"
            )
        return doc

    def convert(self, path: Path | str, out: Path | str, fmt: str) -> Path:
        """Open ``path`` in this soffice and store it as ``fmt`` (xlsx, ods, pdf, xls, csv)."""
        self.call("convert", path=str(path), out=str(out), fmt=fmt)
        return Path(out)

    def to_pdf(self, path: Path | str, outdir: Path | str) -> Path:
        """The whole workbook as LibreOffice prints it: ``outdir/<stem>.pdf``."""
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        return self.convert(path, outdir / (Path(path).stem + ".pdf"), "pdf")

    @staticmethod
    def to_png(pdf: Path | str, outdir: Path | str, dpi: int = 50) -> list[Path]:
        return pdf_to_png(pdf, outdir, dpi=dpi)

    def render_path(self, suffix: str) -> Path:
        self._render_count += 1
        folder = self.workdir / "render"
        folder.mkdir(exist_ok=True)
        return folder / f"r{self.generation}-{self._render_count}{suffix}"


class Doc:
    """A document open in LibreOffice.  Cells are A1 strings; sheets are names."""

    def __init__(
        self,
        lo: LibreOffice,
        doc_id: int,
        path: Path,
        sheet_names: list[str],
        interactions: list[dict],
        dialogs: list[dict],
    ):
        self.lo = lo
        self.id = doc_id
        self.path = path
        self.sheet_names = sheet_names
        # What LibreOffice asked while loading (repair? password? data lost?) and any
        # message box it raised: both empty for a clean file.
        self.interactions = interactions
        self.load_dialogs = dialogs
        self._generation = lo.generation
        self.closed = False

    def __repr__(self) -> str:
        return f"<Doc {self.id} {self.path.name}{' closed' if self.closed else ''}>"

    def _call(self, op: str, **args: Any) -> Any:
        if self.closed:
            raise LibreOfficeError(f"{self!r} is closed")
        if self._generation != self.lo.generation or not self.lo.running:
            raise LibreOfficeCrashed(
                f"{self!r} was open in a LibreOffice that has since "
                "died or been restarted; open the file again"
            )
        return self.lo.call(op, doc=self.id, **args)

    def __enter__(self) -> Doc:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self.closed and self._generation == self.lo.generation and self.lo.running:
            self.lo.call("close", doc=self.id)
        self.closed = True

    # ------------------------------------------------------------ load health

    def problems(self, expect_sheets: Iterable[str] | None = None) -> list[str]:
        """Everything suggesting LibreOffice had to repair or guess while loading."""
        out = [f"LibreOffice asked {i['request']}: {i.get('message', '')}".strip() for i in self.interactions]
        out += [f"message box {d['title']!r}: {' '.join(d['texts'])}" for d in self.load_dialogs]
        if expect_sheets is not None and list(expect_sheets) != self.sheet_names:
            out.append(f"sheets {self.sheet_names} != expected {list(expect_sheets)}")
        return out

    # ------------------------------------------------------------ sheets

    def sheets(self) -> list[dict]:
        """[{index, name, visible, protected, tab_colour}] in workbook order."""
        return self._call("sheets")

    def sheet_visibility(self, sheet: str) -> str:
        """ "visible" or "hidden".  LibreOffice 7.4's UNO API has no veryHidden: an xlsx
        veryHidden sheet reads as "hidden" (IsVisible false) and is saved back as hidden."""
        for info in self.sheets():
            if info["name"] == sheet:
                return "visible" if info["visible"] else "hidden"
        raise LibreOfficeError(f"no sheet {sheet!r} in {self.sheet_names}")

    def is_protected(self, sheet: str) -> bool:
        return self._call("is_protected", sheet=sheet)

    def document_protected(self) -> bool:
        """Workbook (structure) protection as LibreOffice sees it."""
        return self._call("document_protected")

    def unprotect(self, sheet: str, password: str = "") -> bool:
        """Try Tools > Protect Sheet off with ``password``; True if that worked."""
        return self._call("unprotect", sheet=sheet, password=password)

    def select_sheet(self, sheet: str) -> str:
        return self._call("select_sheet", sheet=sheet)

    def frozen(self, sheet: str) -> bool:
        return self._call("frozen", sheet=sheet)

    def print_titles(self, sheet: str) -> dict:
        """{"rows": [first, last] (1-based) or None, "columns": [A, B] or None,
        "print_areas": [...]}."""
        return self._call("print_titles", sheet=sheet)

    def print_title_rows(self, sheet: str) -> tuple[int, int] | None:
        rows = self.print_titles(sheet)["rows"]
        return tuple(rows) if rows else None

    def page_setup(self, sheet: str) -> dict:
        return self._call("page_setup", sheet=sheet)

    def used_range(self, sheet: str) -> dict:
        """{"range": "A1:S27", "rows": 27, "columns": 19}."""
        return self._call("used_range", sheet=sheet)

    def charts(self, sheet: str) -> list[dict]:
        """[{name, ranges, title, diagram}] of the sheet's chart objects."""
        return self._call("charts", sheet=sheet)

    def chart_names(self, sheet: str) -> list[str]:
        return [c["name"] for c in self.charts(sheet)]

    def annotations(self, sheet: str) -> list[dict]:
        return self._call("annotations", sheet=sheet)

    def conditional_formats(self, sheet: str) -> list[dict]:
        """[{id, ranges: ["N4:N27"], entries: [{entry_type, operator, formula1, formula2,
        style, background, font_colour}]}]."""
        return self._call("conditional_formats", sheet=sheet)

    # ------------------------------------------------------------ cells

    def type_into(self, sheet: str, cell: str, text: str) -> dict:
        """Type ``text`` into ``cell`` as a person does (Name Box, then Enter): sheet
        protection applies.  Returns {"before", "after", "cursor", "dialogs"}; a refused
        edit shows as after == before plus the message box LibreOffice raised, e.g.
        "Protected cells can not be modified."  Validation is NOT applied headless."""
        return self._call("type_into", sheet=sheet, cell=cell, text=text)

    def cell(self, sheet: str, cell: str) -> dict:
        """{"string", "value", "formula", "type", "locked"}."""
        return self._call("cell", sheet=sheet, cell=cell)

    def cell_string(self, sheet: str, cell: str) -> str:
        return self._call("cell_string", sheet=sheet, cell=cell)

    def range_strings(self, sheet: str, rng: str) -> list[list[Any]]:
        return self._call("range_strings", sheet=sheet, rng=rng)

    def cell_locked(self, sheet: str, cell: str) -> bool:
        return self._call("cell_protection", sheet=sheet, cell=cell)["locked"]

    def cell_protection(self, sheet: str, cell: str) -> dict:
        return self._call("cell_protection", sheet=sheet, cell=cell)

    def validation(self, sheet: str, cell: str) -> dict:
        """The cell's data validation: {"type": "LIST"|"ANY"|"DATE"..., "formula1",
        "show_error", "alert_style": "STOP"|"WARNING"|"INFO"|"MACRO", input/error texts}."""
        return self._call("validation", sheet=sheet, cell=cell)

    def invalid_cells(self, sheet: str) -> list[str]:
        """Cells whose content fails their data validation, by LibreOffice's own check
        (Tools > Detective > Mark Invalid Data).  Headless typing skips the validation
        dialog, so this is how to see that a value would have been refused."""
        return self._call("invalid_cells", sheet=sheet)

    def cell_conditions(self, sheet: str, cell: str) -> list[dict]:
        """The conditional-format entries that cover ``cell`` (operator, formula1, style,
        the style's background)."""
        return self._call("cell_conditions", sheet=sheet, cell=cell)

    def annotation(self, sheet: str, cell: str) -> str | None:
        return self._call("annotation", sheet=sheet, cell=cell)

    def background(self, sheet: str, cell: str) -> str | None:
        """The cell's own fill ("#rrggbb"), or None if transparent.  NOT conditional
        formatting: for the colour a person sees, use rendered_colour()."""
        return self._call("background", sheet=sheet, cell=cell)

    def render_range(self, sheet: str, rng: str, dpi: int = 30, titles: bool = False) -> Path:
        """Export ``rng`` alone to PDF through LibreOffice's own layout and rasterise it
        with pdftoppm; returns the PPM image."""
        pdf = self.lo.render_path(".pdf")
        self._call("render_range", sheet=sheet, rng=rng, path=str(pdf), titles=titles)
        stem = pdf.with_suffix("")
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return stem.with_suffix(".ppm")

    def rendered_colours(self, sheet: str, cell: str) -> Counter:
        """Histogram of the non-grey pixel colours LibreOffice paints for ``cell``."""
        return colour_histogram(self.render_range(sheet, cell))

    def rendered_colour(self, sheet: str, cell: str) -> str | None:
        """The fill colour LibreOffice actually paints for ``cell`` (conditional formats
        applied), as "#rrggbb"; None when it is white/grey (no coloured fill)."""
        counts = self.rendered_colours(sheet, cell)
        return counts.most_common(1)[0][0] if counts else None

    # ------------------------------------------------------------ saving

    def save_as(self, path: Path | str, fmt: str | None = None) -> Path:
        """Store a copy as xlsx / ods / xls / pdf / csv (format from the suffix if not
        given).  The document stays open and unchanged."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._call("save_as", path=str(path), fmt=fmt or path.suffix.lstrip("."))
        return path

    def dispatch(self, command: str, **args: Any) -> dict:
        """Run any .uno: command on the document's frame (as a menu item would)."""
        return self._call("dispatch", command=command, args=args)


# --------------------------------------------------------------------------- helpers

Edit = tuple[str, str] | tuple[str, str, str]


def service_fills_in(
    lo: LibreOffice,
    template: Path | str,
    out_xlsx: Path | str | None,
    out_ods: Path | str | None,
    edits: Iterable[Edit],
) -> list[dict]:
    """A service opens ``template`` in LibreOffice, types ``edits`` and saves it back as
    .xlsx (``out_xlsx``) and, separately, as .ods (``out_ods``); either may be None.

    ``edits`` are (cell, text) on the "Action plan" sheet or (sheet, cell, text).
    Returns, per edit, {"sheet", "cell", "text", "before", "after", "dialogs"}: typing
    into a locked cell is refused the way LibreOffice refuses a person (after ==
    before), so check what you expect.
    """
    results = []
    with lo.open(template) as doc:
        for edit in edits:
            sheet, cell, text = (PLAN_SHEET, *edit) if len(edit) == 2 else edit
            res = doc.type_into(sheet, cell, text)
            results.append({"sheet": sheet, "cell": cell, "text": text, **res})
        if out_xlsx is not None:
            doc.save_as(out_xlsx, "xlsx")
        if out_ods is not None:
            doc.save_as(out_ods, "ods")
    return results


_SHARED: list[LibreOffice] = []


def shared(workdir: Path | str | None = None) -> LibreOffice:
    """The one LibreOffice of this test session (started on first use)."""
    if not _SHARED:
        _SHARED.append(LibreOffice(workdir))
    return _SHARED[0].start()


def shutdown_shared() -> None:
    while _SHARED:
        _SHARED.pop().stop()


@pytest.fixture(scope="session", name="libreoffice")
def libreoffice_fixture(tmp_path_factory):
    """A running headless LibreOffice for the whole session, or a skip saying why not.
    Installs nothing (see .ci/install-libreoffice).  Import it into a test module with
    ``from libreoffice import libreoffice_fixture  # noqa: F401``; every module that does
    shares the same soffice."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"LibreOffice tests skipped: {reason}")
    lo = shared(tmp_path_factory.mktemp("libreoffice"))
    yield lo
    shutdown_shared()
