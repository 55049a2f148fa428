"""The harness: run a command as a fresh process and measure it (wall, CPU, peak memory of
the process tree), the data each scale runs on, one scale's runs, start-up, the profile, and
what was measured on which machine. See bench.py for what is measured and how."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from alternatives.common import AS_OF, CYCLE

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LPT = REPO / "examples" / "lpt-cqc-2017"
HEAVY_IMPORTS = ("pandas", "openpyxl", "numpy")
CODE = REPO  # the xlplan tree measured: the working tree, or a --commit snapshot (bench.py sets it)


# --------------------------------------------------------------------------------------------
# Measuring one process
# --------------------------------------------------------------------------------------------


def _process_tree(root: int) -> list[int]:
    """`root` and its live descendants, from /proc/*/stat (this kernel has no /proc/*/children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, stack = [root], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            tree.append(child)
            stack.append(child)
    return tree


def _proc_kib(path: str, key: bytes) -> int:
    try:
        with open(path, "rb") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreeSampler:
    """Samples a process tree's memory ten times a second while it runs. A process that forks
    workers (xlplan merge with many returns) uses more than its own ru_maxrss says: then the
    tree's summed PSS (shared pages split between the processes sharing them) is its peak."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        import threading

        self.root, self.interval = root, interval
        self.max_procs, self.peak_rss_kib, self.peak_pss_kib = 1, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            tree = _process_tree(self.root)
            self.max_procs = max(self.max_procs, len(tree))
            self.peak_rss_kib = max(
                self.peak_rss_kib, sum(_proc_kib(f"/proc/{pid}/status", b"VmRSS:") for pid in tree)
            )
            if len(tree) > 1:  # PSS costs a page-table walk: only when it matters
                self.peak_pss_kib = max(
                    self.peak_pss_kib, sum(_proc_kib(f"/proc/{pid}/smaps_rollup", b"Pss:") for pid in tree)
                )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def measure(cmd: list[str], log: Path) -> dict:
    """Run `cmd` to completion: wall seconds (spawn to reap), CPU seconds (the process and its
    reaped children), peak memory (MiB) and exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        sampler = TreeSampler(proc.pid) if Path("/proc/self/stat").exists() else None
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if sampler:
            sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    own = usage.ru_maxrss / 1024  # the largest single process of the tree (KiB on Linux)
    forked = bool(sampler and sampler.max_procs > 1)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "maxrss_mib": own,
        "peak_mib": max(own, sampler.peak_pss_kib / 1024) if forked else own,
        "forked": forked,
        "max_procs": sampler.max_procs if sampler else 1,
        "tree_rss_mib": sampler.peak_rss_kib / 1024 if sampler else None,
        "tree_pss_mib": sampler.peak_pss_kib / 1024 if forked else None,
        "rc": proc.returncode,
        "log": str(log),
    }


def summarise(samples: list[dict]) -> dict:
    walls = [s["wall"] for s in samples]
    return {
        "runs": len(samples),
        "median": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "peak_mib": max(s["peak_mib"] for s in samples),
        "cpu": statistics.median(s["cpu"] for s in samples),
        "forked": max(s["max_procs"] for s in samples) > 1,
        "rc": [s["rc"] for s in samples],
        "samples": samples,
    }


def repeat(
    name: str, cmd: list[str], runs: int, logs: Path, *, before=None, ok=(0,), quiet: bool = False
) -> dict:
    samples = []
    for run in range(1, runs + 1):
        if before:
            before()
        sample = measure(cmd, logs / f"{name}-{run}.log")
        status = "" if sample["rc"] in ok else f"  EXIT {sample['rc']} (see {sample['log']})"
        samples.append(sample)
        if not quiet or status:
            forked = (
                f"  ({sample['max_procs']} processes: own max RSS "
                f"{sample['maxrss_mib']:.0f} MiB, tree PSS {sample['tree_pss_mib']:.0f} MiB, "
                f"tree RSS {sample['tree_rss_mib']:.0f} MiB)"
                if sample["forked"]
                else ""
            )
            print(
                f"    {name:<20} run {run}/{runs}: {sample['wall']:8.2f} s  cpu "
                f"{sample['cpu']:7.2f} s  {sample['peak_mib']:7.0f} MiB{forked}{status}",
                flush=True,
            )
    return summarise(samples)


def xlplan_command() -> list[str]:
    """The installed console script (not a pyenv shim, which adds its own start-up)."""
    script = Path(sys.executable).parent / "xlplan"
    if script.exists():
        return [str(script)]
    found = shutil.which("xlplan")
    return [found] if found else [sys.executable, "-m", "xlplan.cli"]


def worker(name: str, spec_path: Path) -> list[str]:
    return [sys.executable, str(HERE / "bench.py"), "_worker", name, str(spec_path)]


# --------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------


def prepare(scale: str, workdir: Path) -> dict:
    """Plan, inbox and sizes for a scale; generated plans are reused when complete."""
    if scale == "lpt":
        from xlplan.masterread import read_plan

        plan = read_plan(LPT / "plan.xlsx")
        return {
            "scale": scale,
            "plan": LPT / "plan.xlsx",
            "inbox": LPT / "returns",
            "services": len(plan.services()),
            "actions": len(plan.actions),
            "generated": False,
        }
    match = re.fullmatch(r"(\d+)x(\d+)(?:@(\d+))?", scale)
    if not match:
        raise SystemExit(
            f"bench: unknown scale {scale!r}: use lpt or SERVICESxACTIONS[@CYCLE], e.g. 50x200 or 50x200@12"
        )
    services, per_service = int(match[1]), int(match[2])
    history = ["--cycle", match[3]] if match[3] else []
    folder = workdir / scale
    marker = folder / "generated.json"
    from generate import CHANGE_LOG_FORMAT

    info = json.loads(marker.read_text()) if marker.exists() else None
    if info is not None and history and info.get("change_log") != CHANGE_LOG_FORMAT:
        # A master written before xlplan kept its Change log copyable: its first merge parses
        # the log once (as any master after an upgrade), which is not what the line measures.
        print(f"  {folder} was generated by an older xlplan: generating it again", flush=True)
        info = None
    if info is not None:
        print(f"  reusing {folder} (generated in {info['seconds']} s)", flush=True)
    else:
        print(f"  generating {services} services x {per_service} actions in {folder} ...", flush=True)
        if folder.exists():
            shutil.rmtree(folder)
        subprocess.run(
            [
                sys.executable,
                str(HERE / "generate.py"),
                str(folder),
                "--services",
                str(services),
                "--actions",
                str(per_service),
                "--no-outbox",
                *history,
            ],
            check=True,
        )
        info = json.loads(marker.read_text())
    return {
        "scale": scale,
        "plan": folder / "plan.xlsx",
        "inbox": folder / "inbox",
        "services": services,
        "actions": services * per_service,
        "generated": True,
        "generator_changed": info["changed_cells"],
    }


def layout_spec(plan_path: Path) -> dict:
    """What the plain scripts need to know about the plan's layout, read from its metadata."""
    from xlplan.masterread import read_metadata
    from xlplan.metadata import ID_HEADER, SPARE_PREFIX
    from xlplan.plan import layout_of
    from xlplan.safety_gate import MASTER_LIMITS
    from xlplan.workbook import open_workbook

    book = open_workbook(plan_path, MASTER_LIMITS)
    meta = read_metadata(book)
    layout = layout_of(meta, str(plan_path))
    return {
        "sheet": layout.sheet,
        "id_header": ID_HEADER,
        "spare_prefix": SPARE_PREFIX,
        "title": meta.title,
        "service_headers": [c.header for c in layout.columns if c.owner == "service"],
        "route_header": layout.column(layout.route).header,
        "reference_header": layout.column(layout.reference).header,
        "route_separators": layout.route_separators,
        "columns": [
            {
                "field": c.field,
                "header": c.header,
                "type": c.type,
                "owner": c.owner,
                "width": c.width,
                "help": c.help,
            }
            for c in layout.columns
        ],
        "ratings": [
            {"value": r.value, "meaning": r.meaning, "fill": r.fill, "font": r.font, "complete": r.complete}
            for r in layout.ratings
        ],
    }


# --------------------------------------------------------------------------------------------
# One scale
# --------------------------------------------------------------------------------------------


def run_scale(data: dict, workdir: Path, args: argparse.Namespace) -> dict:
    scale = data["scale"]
    out = workdir / "out" / scale
    logs = workdir / "logs" / scale
    out.mkdir(parents=True, exist_ok=True)
    xl = xlplan_command()
    plan, inbox = str(data["plan"]), str(data["inbox"])
    spec = {**layout_spec(data["plan"]), "plan": plan, "inbox": inbox, "cycle": CYCLE}
    result: dict = {"scale": scale, "services": data["services"], "actions": data["actions"], "tools": {}}
    alt_runs = args.alt_runs or args.runs

    merged = out / "merged.xlsx"
    result["tools"]["xlplan merge"] = repeat(
        "xlplan merge",
        [*xl, "merge", plan, inbox, "-o", str(merged), "--as-of", AS_OF],
        args.runs,
        logs,
        before=lambda: merged.unlink(missing_ok=True),
    )
    text = Path(result["tools"]["xlplan merge"]["samples"][0]["log"]).read_text(errors="replace")
    found = re.search(r"(\d+) cell\(s\) changed", text)
    result["changed"] = int(found[1]) if found else None
    # The committee pack of the merged master (#17): it should take less than the merge.
    pack = out / "pack.pdf"
    result["tools"]["xlplan report"] = repeat(
        "xlplan report",
        [*xl, "report", str(merged), "-o", str(pack), "--as-of", AS_OF],
        args.runs,
        logs,
        before=lambda: pack.unlink(missing_ok=True),
    )

    phases_spec = out / "phases.json"
    phases_spec.write_text(json.dumps({**spec, "out": str(out / "phases.xlsx")}))
    sample = measure(worker("phases", phases_spec), logs / "merge-phases.log")
    found = re.search(r"^phases=(.*)$", Path(sample["log"]).read_text(errors="replace"), re.M)
    if found:
        result["merge_phases"] = json.loads(found[1])
        print(
            "    merge phases (in-process, 1 run): "
            + ", ".join(f"{k.strip()} {v:.2f} s" for k, v in result["merge_phases"].items()),
            flush=True,
        )
    found = re.search(r"^peaks=(.*)$", Path(sample["log"]).read_text(errors="replace"), re.M)
    if found:
        result["merge_phase_peaks"] = json.loads(found[1])

    if not args.skip_alternatives:
        floor_spec = out / "floor.json"
        floor_spec.write_text(json.dumps({**spec, "out": str(out / "floor.xlsx")}))
        result["tools"]["floor"] = repeat("floor", worker("floor", floor_spec), args.runs, logs)
        floor_log = Path(result["tools"]["floor"]["samples"][0]["log"]).read_text(errors="replace")
        found = re.search(r"changed=(\d+)", floor_log)
        result["floor_changed"] = int(found[1]) if found else None
        found = re.search(r"read\+compare=([\d.]+)s write=([\d.]+)s", floor_log)
        if found:
            result["floor_phases"] = {"read": float(found[1]), "write": float(found[2])}

        script_spec = out / "openpyxl.json"
        script_spec.write_text(json.dumps({**spec, "out": str(out / "openpyxl.xlsx")}))
        result["tools"]["openpyxl script"] = repeat(
            "openpyxl script", worker("openpyxl", script_spec), alt_runs, logs
        )

        if have_pandas():
            naive_spec = out / "pandas.json"
            naive_spec.write_text(json.dumps({**spec, "out": str(out / "pandas.xlsx")}))
            result["tools"]["pandas naive"] = repeat(
                "pandas naive", worker("pandas", naive_spec), alt_runs, logs
            )
        else:
            print(
                "    pandas naive: skipped: pandas is not installed. It is not an xlplan "
                "dependency; for the bench only: pip install pandas",
                flush=True,
            )

    outbox = out / "outbox"
    # template records what it issued in the master (and keeps a copy of it): it is given a
    # copy of the plan, so every run starts from the same master and the merge's is untouched.
    issued_plan = out / "template-plan.xlsx"

    def fresh_outbox() -> None:
        shutil.rmtree(outbox, ignore_errors=True)
        for old in out.glob("template-plan*.xlsx"):
            old.unlink()
        shutil.copy(plan, issued_plan)

    result["tools"]["xlplan template"] = repeat(
        "xlplan template",
        [*xl, "template", str(issued_plan), "-o", str(outbox), "--cycle", CYCLE],
        args.runs,
        logs,
        before=fresh_outbox,
    )
    # Issued again in the same cycle (a lost workbook sent again): the master that template
    # just wrote gets only its hidden record and metadata replaced (xlplan/master_patch.py).
    again_plan, again_outbox = out / "template-again.xlsx", out / "outbox-again"

    def fresh_again() -> None:
        shutil.rmtree(again_outbox, ignore_errors=True)
        for old in out.glob("template-again.before-*.xlsx"):
            old.unlink()

    if issued_plan.exists():
        shutil.copy(issued_plan, again_plan)
        result["tools"]["template re-issue"] = repeat(
            "template re-issue",
            [*xl, "template", str(again_plan), "-o", str(again_outbox), "--cycle", CYCLE],
            args.runs,
            logs,
            before=fresh_again,
        )
    if not args.skip_alternatives:
        plain = out / "plain-outbox"
        template_spec = out / "template.json"
        template_spec.write_text(json.dumps({**spec, "outdir": str(plain)}))
        result["tools"]["xlsxwriter template"] = repeat(
            "xlsxwriter template",
            worker("template", template_spec),
            args.runs,
            logs,
            before=lambda: shutil.rmtree(plain, ignore_errors=True),
        )
    return result


def have_pandas() -> bool:
    import importlib.util

    return importlib.util.find_spec("pandas") is not None


# --------------------------------------------------------------------------------------------
# Start-up
# --------------------------------------------------------------------------------------------


def startup(workdir: Path, runs: int) -> dict:
    logs = workdir / "logs" / "startup"
    print("  start-up", flush=True)
    help_run = repeat("xlplan --help", [*xlplan_command(), "--help"], runs, logs, quiet=True)
    bare = repeat("python -c pass", [sys.executable, "-c", "pass"], runs, logs, quiet=True)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import xlplan.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
            name = parts[2]
            modules.append(
                {
                    "module": name.strip(),
                    "depth": (len(name) - len(name.lstrip())) // 2,
                    "cumulative_us": int(parts[1]),
                }
            )
    heavy = sorted({m["module"].split(".")[0] for m in modules if m["module"].split(".")[0] in HEAVY_IMPORTS})
    cli = next((m["cumulative_us"] for m in modules if m["module"] == "xlplan.cli"), None)
    top = sorted((m for m in modules if m["depth"] == 0), key=lambda m: -m["cumulative_us"])[:8]
    return {
        "help": help_run,
        "python": bare,
        "heavy_imports": heavy,
        "import_cli_ms": cli / 1000 if cli else None,
        "top_imports": [(m["module"], m["cumulative_us"] / 1000) for m in top],
    }


# --------------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------------


def profile(data: dict, workdir: Path) -> Path:
    """pyinstrument over one whole `xlplan merge`: the session, and its call tree as text."""
    out = workdir / "out" / data["scale"]
    out.mkdir(parents=True, exist_ok=True)
    merged = out / "profiled.xlsx"
    base = [sys.executable, "-m", "pyinstrument"]
    target = [
        "-m",
        "xlplan.cli",
        "merge",
        str(data["plan"]),
        str(data["inbox"]),
        "-o",
        str(merged),
        "--as-of",
        AS_OF,
    ]
    session = workdir / f"profile-merge-{data['scale']}.pyisession"
    tree = workdir / f"profile-merge-{data['scale']}.txt"
    subprocess.run(
        [*base, "-r", "pyisession", "-o", str(session), *target],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            *base,
            "--load",
            str(session),
            "-r",
            "text",
            "--no-color",
            "--unicode",
            "-o",
            str(tree),
            "-p",
            "show_all=false",
        ],
        check=True,
    )
    return tree


def snapshot(rev: str, workdir: Path) -> Path:
    """xlplan/ and its layouts (layouts/, templates/ before the rename) as committed at `rev`,
    unpacked under workdir (git archive: the repository is only read). Put first on
    PYTHONPATH, it shadows the editable install."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    folder = workdir / f"code-{sha}"
    if not (folder / "xlplan" / "__init__.py").exists():
        folder.mkdir(parents=True, exist_ok=True)
        tree = ["git", "-C", str(REPO), "ls-tree", "--name-only", sha]
        listed = subprocess.run(tree, check=True, capture_output=True, text=True).stdout.split()
        layouts = [name for name in ("layouts", "templates") if name in listed]
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", sha, "xlplan", *layouts], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    # Bytecode, as `pip install` leaves it: with PYTHONDONTWRITEBYTECODE set, every process
    # would otherwise compile xlplan from source at start-up.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder / "xlplan")], check=True)
    return folder


def code_fingerprint() -> str:
    """A hash of xlplan's source and layouts: a run whose code changed under it says so."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted([*(CODE / "xlplan").rglob("*.py"), *(CODE / "layouts").glob("*.toml")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:10]


def machine_info() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    versions = {}
    for name in ("xlplan", "python-calamine", "XlsxWriter", "openpyxl", "pandas", "pyinstrument"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    cpu = platform.processor() or platform.machine()
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    summary = (
        f"{os.cpu_count()} cores, {mem}, {platform.system()} {cpu}, Python "
        f"{platform.python_version()}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items() if v)
        + (f"; tree {rev}" if rev else "")
    )
    return {
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "tree": rev,
        "versions": versions,
        "summary": summary,
    }
