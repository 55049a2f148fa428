"""Benchmark xlplan's `template` and `merge` against the I/O floor and the scripts people
would otherwise write.

    python bench/bench.py                                      # lpt, 50x200, 500x200; 3 runs
    python bench/bench.py --workdir /tmp/xlbench --scales lpt,50x200 --runs 3
    python bench/bench.py --workdir /tmp/xlbench --scales 500x200 --alt-runs 1
    python bench/bench.py --workdir /tmp/xlbench --scales "" --skip-startup --profile 50x200

Every measured command is a fresh process, started one at a time (the machine has two
cores). Wall time is from spawning the process to reaping it; CPU time is user + system of
the process and its reaped children. Peak memory is that process's own maximum resident set
size, as the kernel reports it when the process is reaped with os.wait4() (the per-child form
of getrusage(RUSAGE_CHILDREN).ru_maxrss; KiB on Linux). ru_maxrss covers one process, the
largest of the tree, so the tree is also sampled at 10 Hz from /proc: when the command forks
workers (xlplan merge with 8 or more returns), its peak is the larger of ru_maxrss and the
sampled sum of the tree's PSS (marked * in the table; the summed RSS, which counts pages
shared after fork once per process, is kept in the JSON).

What is measured, per scale (S services x N actions each, or the bundled LPT cycle):
  xlplan merge       `xlplan merge PLAN INBOX -o OUT --as-of 2017-01-01`
  floor              python-calamine reads every return (all sheets) and the master (all
                     sheets); XlsxWriter (constant_memory) writes one workbook of the
                     consolidated size: the plan rows with the changed cells filled and
                     carrying a note, and a Changes sheet with a row per changed cell
  openpyxl script    openpyxl loads the master, reads each return (read_only), sets a fill
                     and a comment on each changed cell, adds a Changes sheet, saves
  pandas naive       pd.read_excel of every return, concat, to_excel (nothing checked or
                     highlighted); pandas is installed for the bench only
  xlplan template    `xlplan template PLAN -o OUTDIR --cycle bench`
  xlsxwriter tmpl    a plain script: python-calamine reads the master, XlsxWriter writes
                     the same workbooks (same sheets, cells, formats, validations,
                     conditional formats, notes, sheet and structure protection)
  merge phases       one more merge, in-process, with xlplan.merge's own calls wrapped in
                     timers (read master, read and check returns, write master and its
                     parts) and the peak RSS when each ended: where the time goes, without a
                     profiler's overhead
and once: `xlplan --help` start-up, and `python -X importtime -c "import xlplan.cli"`.
--profile SCALE also records one merge under pyinstrument (WORKDIR/profile-merge-SCALE.txt);
pyinstrument hooks every call, so that merge runs about 1.7x slower than unprofiled and
Python-heavy frames look bigger than they are; it sees the main process only (returns
checked in forked workers show as waiting on them).
"""

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
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LPT = REPO / "examples" / "lpt-cqc-2017"
AS_OF = "2017-01-01"
CYCLE = "bench"

# Targets from the issue (reported against, not enforced).
MERGE_FLOOR_TARGET = {"500x200": 1.3, "50x200": 1.5}
MERGE_PEAK_TARGET_MIB = {"500x200": 1024}
LPT_WALL_TARGET = 2.0
TEMPLATE_XLSXWRITER_TARGET = {"500x200": 2.0}
HELP_TARGET = 0.3
HEAVY_IMPORTS = ("pandas", "openpyxl", "numpy")


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
            self.peak_rss_kib = max(self.peak_rss_kib, sum(
                _proc_kib(f"/proc/{pid}/status", b"VmRSS:") for pid in tree))
            if len(tree) > 1:  # PSS costs a page-table walk: only when it matters
                self.peak_pss_kib = max(self.peak_pss_kib, sum(
                    _proc_kib(f"/proc/{pid}/smaps_rollup", b"Pss:") for pid in tree))

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
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_mib": own,
            "peak_mib": max(own, sampler.peak_pss_kib / 1024) if forked else own,
            "forked": forked, "max_procs": sampler.max_procs if sampler else 1,
            "tree_rss_mib": sampler.peak_rss_kib / 1024 if sampler else None,
            "tree_pss_mib": sampler.peak_pss_kib / 1024 if forked else None,
            "rc": proc.returncode, "log": str(log)}


def summarise(samples: list[dict]) -> dict:
    walls = [s["wall"] for s in samples]
    return {"runs": len(samples), "median": statistics.median(walls), "min": min(walls),
            "max": max(walls), "peak_mib": max(s["peak_mib"] for s in samples),
            "cpu": statistics.median(s["cpu"] for s in samples),
            "forked": max(s["max_procs"] for s in samples) > 1,
            "rc": [s["rc"] for s in samples], "samples": samples}


def repeat(name: str, cmd: list[str], runs: int, logs: Path, *, before=None, ok=(0,),
           quiet: bool = False) -> dict:
    samples = []
    for run in range(1, runs + 1):
        if before:
            before()
        sample = measure(cmd, logs / f"{name}-{run}.log")
        status = "" if sample["rc"] in ok else f"  EXIT {sample['rc']} (see {sample['log']})"
        samples.append(sample)
        if not quiet or status:
            forked = (f"  ({sample['max_procs']} processes: own max RSS "
                      f"{sample['maxrss_mib']:.0f} MiB, tree PSS {sample['tree_pss_mib']:.0f} MiB, "
                      f"tree RSS {sample['tree_rss_mib']:.0f} MiB)" if sample["forked"] else "")
            print(f"    {name:<20} run {run}/{runs}: {sample['wall']:8.2f} s  cpu "
                  f"{sample['cpu']:7.2f} s  {sample['peak_mib']:7.0f} MiB{forked}{status}", flush=True)
    return summarise(samples)


def xlplan_command() -> list[str]:
    """The installed console script (not a pyenv shim, which adds its own start-up)."""
    script = Path(sys.executable).parent / "xlplan"
    if script.exists():
        return [str(script)]
    found = shutil.which("xlplan")
    return [found] if found else [sys.executable, "-m", "xlplan.cli"]


def worker(name: str, spec_path: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "_worker", name, str(spec_path)]


# --------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------

def prepare(scale: str, workdir: Path) -> dict:
    """Plan, inbox and sizes for a scale; generated plans are reused when complete."""
    if scale == "lpt":
        from xlplan.plan import read_plan

        plan = read_plan(LPT / "plan.xlsx")
        return {"scale": scale, "plan": LPT / "plan.xlsx", "inbox": LPT / "returns",
                "services": len(plan.services()), "actions": len(plan.actions),
                "generated": False}
    match = re.fullmatch(r"(\d+)x(\d+)", scale)
    if not match:
        raise SystemExit(f"bench: unknown scale {scale!r}: use lpt or SERVICESxACTIONS, e.g. 50x200")
    services, per_service = int(match[1]), int(match[2])
    folder = workdir / scale
    marker = folder / "generated.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        print(f"  reusing {folder} (generated in {info['seconds']} s)", flush=True)
    else:
        print(f"  generating {services} services x {per_service} actions in {folder} ...", flush=True)
        if folder.exists():
            shutil.rmtree(folder)
        subprocess.run([sys.executable, str(HERE / "generate.py"), str(folder), "--services",
                        str(services), "--actions", str(per_service), "--no-outbox"], check=True)
        info = json.loads(marker.read_text())
    return {"scale": scale, "plan": folder / "plan.xlsx", "inbox": folder / "inbox",
            "services": services, "actions": services * per_service, "generated": True,
            "generator_changed": info["changed_cells"]}


def layout_spec(plan_path: Path) -> dict:
    """What the plain scripts need to know about the plan's layout, read from its metadata."""
    from xlplan.metadata import ID_HEADER, SPARE_PREFIX
    from xlplan.plan import layout_of, read_metadata
    from xlplan.workbook import MASTER_LIMITS, open_workbook

    book = open_workbook(plan_path, MASTER_LIMITS)
    meta = read_metadata(book)
    layout = layout_of(meta, str(plan_path))
    return {
        "sheet": layout.sheet, "id_header": ID_HEADER, "spare_prefix": SPARE_PREFIX,
        "title": meta.title,
        "service_headers": [c.header for c in layout.columns if c.owner == "service"],
        "route_header": layout.column(layout.route).header,
        "reference_header": layout.column(layout.reference).header,
        "route_separators": layout.route_separators,
        "columns": [{"field": c.field, "header": c.header, "type": c.type, "owner": c.owner,
                     "width": c.width, "help": c.help} for c in layout.columns],
        "ratings": [{"value": r.value, "meaning": r.meaning, "fill": r.fill, "font": r.font,
                     "complete": r.complete} for r in layout.ratings],
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
    result: dict = {"scale": scale, "services": data["services"], "actions": data["actions"],
                    "tools": {}}
    alt_runs = args.alt_runs or args.runs

    merged = out / "merged.xlsx"
    result["tools"]["xlplan merge"] = repeat(
        "xlplan merge", [*xl, "merge", plan, inbox, "-o", str(merged), "--as-of", AS_OF],
        args.runs, logs, before=lambda: merged.unlink(missing_ok=True))
    text = Path(result["tools"]["xlplan merge"]["samples"][0]["log"]).read_text(errors="replace")
    found = re.search(r"(\d+) cell\(s\) changed", text)
    result["changed"] = int(found[1]) if found else None

    phases_spec = out / "phases.json"
    phases_spec.write_text(json.dumps({**spec, "out": str(out / "phases.xlsx")}))
    sample = measure(worker("phases", phases_spec), logs / "merge-phases.log")
    found = re.search(r"^phases=(.*)$", Path(sample["log"]).read_text(errors="replace"), re.M)
    if found:
        result["merge_phases"] = json.loads(found[1])
        print("    merge phases (in-process, 1 run): " + ", ".join(
            f"{k.strip()} {v:.2f} s" for k, v in result["merge_phases"].items()), flush=True)
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
            "openpyxl script", worker("openpyxl", script_spec), alt_runs, logs)

        if have_pandas():
            naive_spec = out / "pandas.json"
            naive_spec.write_text(json.dumps({**spec, "out": str(out / "pandas.xlsx")}))
            result["tools"]["pandas naive"] = repeat(
                "pandas naive", worker("pandas", naive_spec), alt_runs, logs)
        else:
            print("    pandas naive: skipped: pandas is not installed. It is not an xlplan "
                  "dependency; for the bench only: pip install pandas", flush=True)

    outbox = out / "outbox"
    result["tools"]["xlplan template"] = repeat(
        "xlplan template", [*xl, "template", plan, "-o", str(outbox), "--cycle", CYCLE],
        args.runs, logs, before=lambda: shutil.rmtree(outbox, ignore_errors=True))
    if not args.skip_alternatives:
        plain = out / "plain-outbox"
        template_spec = out / "template.json"
        template_spec.write_text(json.dumps({**spec, "outdir": str(plain)}))
        result["tools"]["xlsxwriter template"] = repeat(
            "xlsxwriter template", worker("template", template_spec), args.runs, logs,
            before=lambda: shutil.rmtree(plain, ignore_errors=True))
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
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import xlplan.cli"],
                          capture_output=True, text=True, check=True)
    modules = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
            name = parts[2]
            modules.append({"module": name.strip(), "depth": (len(name) - len(name.lstrip())) // 2,
                            "cumulative_us": int(parts[1])})
    heavy = sorted({m["module"].split(".")[0] for m in modules
                    if m["module"].split(".")[0] in HEAVY_IMPORTS})
    cli = next((m["cumulative_us"] for m in modules if m["module"] == "xlplan.cli"), None)
    top = sorted((m for m in modules if m["depth"] == 0), key=lambda m: -m["cumulative_us"])[:8]
    return {"help": help_run, "python": bare, "heavy_imports": heavy,
            "import_cli_ms": cli / 1000 if cli else None,
            "top_imports": [(m["module"], m["cumulative_us"] / 1000) for m in top]}


# --------------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------------

def profile(data: dict, workdir: Path) -> Path:
    """pyinstrument over one whole `xlplan merge`: the session, and its call tree as text."""
    out = workdir / "out" / data["scale"]
    out.mkdir(parents=True, exist_ok=True)
    merged = out / "profiled.xlsx"
    base = [sys.executable, "-m", "pyinstrument"]
    target = ["-m", "xlplan.cli", "merge", str(data["plan"]), str(data["inbox"]), "-o", str(merged),
              "--as-of", AS_OF]
    session = workdir / f"profile-merge-{data['scale']}.pyisession"
    tree = workdir / f"profile-merge-{data['scale']}.txt"
    subprocess.run([*base, "-r", "pyisession", "-o", str(session), *target], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([*base, "--load", str(session), "-r", "text", "--no-color", "--unicode",
                    "-o", str(tree), "-p", "show_all=false"], check=True)
    return tree


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds < 100 else f"{seconds:.0f}"


def ratio(result: dict, top: str, bottom: str) -> float | None:
    tools = result["tools"]
    if top in tools and bottom in tools and tools[bottom]["median"] > 0:
        return tools[top]["median"] / tools[bottom]["median"]
    return None


def report(results: list[dict], start: dict | None, machine: dict) -> str:
    lines = [f"xlplan benchmark · {machine['summary']}", ""]
    for result in results:
        if result.get("code_changed"):
            lines.insert(1, f"WARNING: xlplan's code changed while {result['scale']} ran: its "
                            "figures mix two versions.")
    head = (f"{'scale':<8} {'svc':>4} {'actions':>7} {'changed':>7}  {'what':<20} {'runs':>4} "
            f"{'median s':>9} {'min s':>8} {'max s':>8} {'cpu s':>8} {'peak MiB':>9}")
    if results:
        lines += [head, "-" * len(head)]
    for result in results:
        first = True
        for name, tool in result["tools"].items():
            left = (f"{result['scale']:<8} {result['services']:>4} {result['actions']:>7} "
                    f"{result['changed'] if result['changed'] is not None else '?':>7}"
                    if first else " " * 29)
            bad = "" if all(rc in (0,) for rc in tool["rc"]) else f"  exit {tool['rc']}"
            star = "*" if tool.get("forked") else " "
            lines.append(f"{left}  {name:<20} {tool['runs']:>4} {fmt_s(tool['median']):>9} "
                         f"{fmt_s(tool['min']):>8} {fmt_s(tool['max']):>8} "
                         f"{fmt_s(tool['cpu']):>8} {tool['peak_mib']:>8.0f}{star}{bad}")
            first = False
        parts = []
        for label, top, bottom in (("merge/floor", "xlplan merge", "floor"),
                                   ("script/merge", "openpyxl script", "xlplan merge"),
                                   ("naive/merge", "pandas naive", "xlplan merge"),
                                   ("template/xlsxwriter", "xlplan template", "xlsxwriter template")):
            value = ratio(result, top, bottom)
            if value is not None:
                parts.append(f"{label} {value:.2f}x")
        if parts:
            lines.append(" " * 31 + " · ".join(parts))
        if result.get("merge_phases"):
            lines.append(" " * 31 + "merge phases (in-process, 1 run): " + "; ".join(
                f"{k.strip()} {v:.2f} s" for k, v in result["merge_phases"].items()))
        if result.get("merge_phase_peaks"):
            lines.append(" " * 31 + "merge peak RSS when each phase ended: " + "; ".join(
                f"{k} {v} MiB" for k, v in result["merge_phase_peaks"].items()))
        if result.get("floor_phases"):
            phases = result["floor_phases"]
            lines.append(" " * 31 + f"floor, inside its process (run 1): read+compare "
                         f"{phases['read']:.2f} s, write {phases['write']:.2f} s")
        if result.get("floor_changed") is not None and result["floor_changed"] != result["changed"]:
            lines.append(" " * 31 + f"(the floor's plain comparison finds {result['floor_changed']} "
                         "changed cells: it applies no checks)")
        lines.append("")
    if start:
        lines.append(f"start-up: xlplan --help median {start['help']['median']:.3f} s "
                     f"(min {start['help']['min']:.3f}, max {start['help']['max']:.3f}; "
                     f"python -c pass {start['python']['median']:.3f} s); "
                     f"import xlplan.cli {start['import_cli_ms']:.0f} ms; heavy imports: "
                     f"{', '.join(start['heavy_imports']) or 'none (no pandas, openpyxl, numpy)'}")
        lines.append("  slowest top-level imports: " + ", ".join(
            f"{name} {ms:.0f} ms" for name, ms in start["top_imports"][:5]))
        lines.append("")
    if any(tool.get("forked") for r in results for tool in r["tools"].values()):
        lines.append("* ran as several processes: peak is the sampled sum of their PSS (10 Hz); "
                     "cpu s adds up the processes' CPU time")
        lines.append("")
    verdicts = targets(results, start)
    if verdicts:
        lines.append("targets:")
        lines += ["  " + verdict for verdict in verdicts]
    return "\n".join(lines)


def targets(results: list[dict], start: dict | None) -> list[str]:
    out = []

    def check(label: str, value: float | None, limit: float, unit: str) -> None:
        if value is None:
            return
        ok = value <= limit
        miss = "" if ok else f"  (misses by {value - limit:.2f}{unit}, {value / limit:.2f}x the target)"
        out.append(f"{'met ' if ok else 'MISS'}  {label}: {value:.2f}{unit} (target <= {limit}{unit}){miss}")

    by_scale = {r["scale"]: r for r in results}
    for scale, limit in MERGE_FLOOR_TARGET.items():
        if scale in by_scale:
            check(f"merge {scale} / floor", ratio(by_scale[scale], "xlplan merge", "floor"), limit, "x")
    for scale, limit in MERGE_PEAK_TARGET_MIB.items():
        if scale in by_scale:
            check(f"merge {scale} peak memory", by_scale[scale]["tools"]["xlplan merge"]["peak_mib"],
                  limit, " MiB")
    if "lpt" in by_scale:
        tools = by_scale["lpt"]["tools"]
        check("LPT merge wall", tools["xlplan merge"]["median"], LPT_WALL_TARGET, " s")
        check("LPT template wall", tools["xlplan template"]["median"], LPT_WALL_TARGET, " s")
    for scale, limit in TEMPLATE_XLSXWRITER_TARGET.items():
        if scale in by_scale:
            check(f"template {scale} / plain XlsxWriter",
                  ratio(by_scale[scale], "xlplan template", "xlsxwriter template"), limit, "x")
    if start:
        check("xlplan --help", start["help"]["median"], HELP_TARGET, " s")
        out.append(f"{'met ' if not start['heavy_imports'] else 'MISS'}  import xlplan.cli loads "
                   f"no pandas/openpyxl/numpy" + (f" (loads {', '.join(start['heavy_imports'])})"
                                                   if start["heavy_imports"] else ""))
    return out


CODE = REPO  # the xlplan tree measured: the working tree, or a --commit snapshot


def snapshot(rev: str, workdir: Path) -> Path:
    """xlplan/ and templates/ as committed at `rev`, unpacked under workdir (git archive: the
    repository is only read). Put first on PYTHONPATH, it shadows the editable install."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    folder = workdir / f"code-{sha}"
    if not (folder / "xlplan" / "__init__.py").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", sha, "xlplan", "templates"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    # Bytecode, as `pip install` leaves it: with PYTHONDONTWRITEBYTECODE set, every process
    # would otherwise compile xlplan from source at start-up.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder / "xlplan")], check=True)
    return folder


def code_fingerprint() -> str:
    """A hash of xlplan's source and layouts: a run whose code changed under it says so."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted([*(CODE / "xlplan").rglob("*.py"), *(CODE / "templates").glob("*.toml")]):
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
        rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    summary = (f"{os.cpu_count()} cores, {mem}, {platform.system()} {cpu}, Python "
               f"{platform.python_version()}; " + ", ".join(
                   f"{k} {v}" for k, v in versions.items() if v) + (f"; tree {rev}" if rev else ""))
    return {"cores": os.cpu_count(), "memory": mem, "python": platform.python_version(), "tree": rev,
            "versions": versions, "summary": summary}


# --------------------------------------------------------------------------------------------
# Workers: each runs in its own fresh process and imports only what it uses.
# --------------------------------------------------------------------------------------------

def _returns(inbox: str) -> list[Path]:
    return sorted(p for p in Path(inbox).iterdir()
                  if p.suffix.lower() == ".xlsx" and not p.name.startswith(("~$", ".")))


def _header_index(rows: list, id_header: str) -> int:
    for index, row in enumerate(rows[:30]):
        if id_header in row:
            return index
    raise SystemExit(f"no {id_header!r} header row")


def _same(a, b) -> bool:
    return (a if a not in ("", None) else None) == (b if b not in ("", None) else None)


def _text(value) -> str:
    if value in (None, ""):
        return "(empty)"
    if hasattr(value, "strftime"):
        return value.strftime("%d/%m/%Y")
    return str(value)


def worker_floor(spec: dict) -> None:
    """The least work the job needs: read everything with calamine, compare, write once."""
    import datetime as dt

    import python_calamine as calamine
    import xlsxwriter

    def read_all(path) -> dict[str, list[list]]:
        book = calamine.CalamineWorkbook.from_path(str(path))
        return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False)
                for name in book.sheet_names}

    clock = time.perf_counter()
    sheet, id_header = spec["sheet"], spec["id_header"]
    master = read_all(spec["plan"])
    rows = master[sheet]
    head = _header_index(rows, id_header)
    header = rows[head]
    id_col = header.index(id_header)
    ref_col = header.index(spec["reference_header"])
    master_cols = [header.index(h) for h in spec["service_headers"]]
    by_id = {row[id_col]: row for row in rows[head + 1:] if id_col < len(row) and row[id_col]}
    changed: dict[tuple[str, int], str] = {}
    log: list[list] = []
    for path in _returns(spec["inbox"]):
        sheets = read_all(path)
        ret = sheets.get(sheet) or next(iter(sheets.values()))
        rhead = _header_index(ret, id_header)
        rheader = ret[rhead]
        rid = rheader.index(id_header)
        pairs = [(m, rheader.index(h), h) for m, h in zip(master_cols, spec["service_headers"], strict=True)
                 if h in rheader]
        service = next((r[1] for r in sheets.get("_xlplan", []) if r and r[0] == "service"),
                       path.stem)
        for row in ret[rhead + 1:]:
            action_id = row[rid] if rid < len(row) else None
            if not action_id or str(action_id).startswith(spec["spare_prefix"]):
                continue
            target = by_id.get(action_id)
            if target is None:
                continue
            for mcol, rcol, column in pairs:
                new, old = row[rcol], target[mcol]
                if not _same(new, old):
                    target[mcol] = new
                    changed[(action_id, mcol)] = (f"Changed by {service} ({path.name}).\n"
                                                  f"Previous value: {_text(old)}")[:2000]
                    log.append([CYCLE, service, path.name, target[ref_col], column, old, new,
                                "change", action_id])

    read_done = time.perf_counter()
    book = xlsxwriter.Workbook(spec["out"], {"constant_memory": True, "strings_to_formulas": False,
                                             "strings_to_numbers": False, "strings_to_urls": False})
    plain = book.add_format({"text_wrap": True, "valign": "top"})
    marked = book.add_format({"text_wrap": True, "valign": "top", "bg_color": "#FFEB9C"})
    date = book.add_format({"num_format": "dd/mm/yyyy", "valign": "top"})

    def put(ws, r: int, c: int, value, fmt) -> None:
        if value is None or value == "":
            if fmt is marked:
                ws.write_blank(r, c, None, fmt)
        elif isinstance(value, str):
            ws.write_string(r, c, value, fmt)
        elif isinstance(value, bool):
            ws.write_boolean(r, c, value, fmt)
        elif isinstance(value, (int, float)):
            ws.write_number(r, c, value, fmt)
        elif isinstance(value, (dt.date, dt.datetime)):
            ws.write_datetime(r, c, value if isinstance(value, dt.datetime)
                              else dt.datetime.combine(value, dt.time()), date)
        else:
            ws.write_string(r, c, str(value), fmt)

    ws = book.add_worksheet(sheet)
    for r, row in enumerate(rows):
        action_id = row[id_col] if r > head and id_col < len(row) else None
        for c, value in enumerate(row):
            note = changed.get((action_id, c)) if action_id else None
            put(ws, r, c, value, marked if note else plain)
            if note:
                ws.write_comment(r, c, note, {"author": "bench", "x_scale": 2.2, "y_scale": 1.6})
    changes = book.add_worksheet("Changes")
    for c, text in enumerate(["Cycle", "Service", "File", "Action", "Column", "Old value",
                              "New value", "Kind", "xlplan ID"]):
        changes.write_string(0, c, text)
    for r, entry in enumerate(log, start=1):
        for c, value in enumerate(entry):
            put(changes, r, c, value, plain)
    book.close()
    done = time.perf_counter()
    print(f"changed={len(log)} cells={len(changed)} read+compare={read_done - clock:.2f}s "
          f"write={done - read_done:.2f}s")


def worker_openpyxl(spec: dict) -> None:
    """What a Python user would write with openpyxl alone."""
    from openpyxl import load_workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    sheet, id_header = spec["sheet"], spec["id_header"]
    master = load_workbook(spec["plan"])
    ws = master[sheet]
    head_row = next(r for r in range(1, 31) if any(c.value == id_header for c in ws[r]))
    header = [c.value for c in ws[head_row]]
    id_col, ref_col = header.index(id_header), header.index(spec["reference_header"])
    cols = {h: header.index(h) for h in spec["service_headers"]}
    rows = {row[id_col].value: row for row in ws.iter_rows(min_row=head_row + 1)
            if row[id_col].value}
    fill = PatternFill("solid", fgColor="FFEB9C")
    log = []
    for path in _returns(spec["inbox"]):
        book = load_workbook(path, read_only=True, data_only=True)
        rs = book[sheet]
        it = rs.iter_rows(values_only=True)
        rheader = None
        for values in it:
            if id_header in values:
                rheader = list(values)
                break
        rid = rheader.index(id_header)
        pairs = [(cols[h], rheader.index(h), h) for h in cols if h in rheader]
        for values in it:
            action_id = values[rid] if rid < len(values) else None
            if not action_id or str(action_id).startswith(spec["spare_prefix"]):
                continue
            row = rows.get(action_id)
            if row is None:
                continue
            for mcol, rcol, column in pairs:
                cell, new = row[mcol], values[rcol]
                if not _same(cell.value, new):
                    old = cell.value
                    cell.value = new
                    cell.fill = fill
                    cell.comment = Comment(f"Changed by {path.stem} ({path.name}).\n"
                                           f"Previous value: {_text(old)}"[:2000], "bench")
                    log.append([CYCLE, path.stem, path.name, row[ref_col].value, column, old, new,
                                "change", action_id])
        book.close()
    changes = master.create_sheet("Changes")
    changes.append(["Cycle", "Service", "File", "Action", "Column", "Old value", "New value",
                    "Kind", "xlplan ID"])
    for entry in log:
        changes.append(entry)
    master.save(spec["out"])
    print(f"changed={len(log)}")


def worker_pandas(spec: dict) -> None:
    """The naive pipeline: read every return's first sheet, stack them, write them out."""
    import pandas as pd

    # engine="openpyxl" is pandas' default for .xlsx today; named to pin what is measured.
    frames = [pd.read_excel(path, sheet_name=0, header=2, engine="openpyxl")
              for path in _returns(spec["inbox"])]
    pd.concat(frames, ignore_index=True).to_excel(spec["out"], index=False)
    print(f"rows={sum(len(f) for f in frames)}")


def worker_template(spec: dict) -> None:
    """Plain XlsxWriter: the workbooks `xlplan template` writes, written directly."""
    import datetime as dt
    import re as re_

    import python_calamine as calamine
    import xlsxwriter

    class Workbook(xlsxwriter.Workbook):
        def _write_workbook_pr(self) -> None:  # structure protection, as xlplan adds it
            super()._write_workbook_pr()
            self._xml_empty_tag("workbookProtection", [("lockStructure", "1")])

    book = calamine.CalamineWorkbook.from_path(spec["plan"])
    rows = book.get_sheet_by_name(spec["sheet"]).to_python(skip_empty_area=False)
    meta_rows = [r[:2] for r in book.get_sheet_by_name("_xlplan").to_python() if r and r[0]]
    columns, ratings = spec["columns"], spec["ratings"]
    head = _header_index(rows, spec["id_header"])
    header = rows[head]
    id_col = header.index(spec["id_header"])
    col_at = [header.index(c["header"]) for c in columns]
    route_col = header.index(spec["route_header"])
    ref_col = header.index(spec["reference_header"])
    actions = [r for r in rows[head + 1:] if any(r[i] not in ("", None) for i in col_at)]

    # Routing: the route cell split on its separators; blank inherits from the parent reference.
    by_ref: dict[str, list] = {}
    for r in actions:
        by_ref.setdefault(str(r[ref_col]).strip().rstrip("."), r)
    groups: dict[str, list] = {}
    for r in actions:
        route = str(r[route_col] or "").strip()
        ref = str(r[ref_col]).strip().rstrip(".")
        while not route and "." in ref:
            ref = ref.rsplit(".", 1)[0]
            route = str((by_ref.get(ref) or [""] * len(r))[route_col] or "").strip()
        names = [route]
        for sep in spec["route_separators"]:
            names = [part.strip() for name in names for part in name.split(sep)]
        for name in [n for n in names if n] or ["Unassigned"]:
            groups.setdefault(name, []).append(r)

    def height(values, minimum: float = 15) -> float:
        lines = 1
        for value, column in zip(values, columns, strict=True):
            if isinstance(value, str) and value:
                per = max(int(column["width"] * 1.2) - 1, 4)
                lines = max(lines, sum(max(1, -(-len(p) // per)) for p in value.split("\n")))
        return min(409, max(minimum, lines * 12.75 + 3))

    outdir = Path(spec["outdir"])
    outdir.mkdir(parents=True, exist_ok=True)
    issued_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    for service, members in groups.items():
        name = re_.sub(r'[<>:"/\\|?*\x00-\x1f]', "-", service).strip(" .")[:100] or "service"
        wb = Workbook(str(outdir / f"{name}.xlsx"), {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
            "strings_to_urls": False, "default_date_format": "dd/mm/yyyy"})
        base = {"font_name": "Arial", "font_size": 10, "valign": "top"}

        def fmt(_wb=wb, _base=base, **props):
            return _wb.add_format({**_base, **props})

        cell_fmt = []
        for c in columns:
            props = {"text_wrap": True, "border": 1, "border_color": "#BFBFBF",
                     "locked": c["owner"] != "service"}
            if c["owner"] != "service":
                props.update(bg_color="#F2F2F2", font_color="#404040")
            if c["type"] == "date":
                props.update(num_format="dd/mm/yyyy", align="left")
            if c["type"] in ("rating", "reference"):
                props["align"] = "center"
            cell_fmt.append(fmt(**props))
        id_fmt = fmt(locked=True, font_color="#808080")
        spare_fmt = [fmt(text_wrap=True, border=1, border_color="#BFBFBF", locked=False,
                         bg_color="#E2EFDA", **({"num_format": "dd/mm/yyyy"}
                                                if c["type"] == "date" else {})) for c in columns]
        # The plan sheet.
        ws = wb.add_worksheet(spec["sheet"])
        n = len(columns)
        for i, c in enumerate(columns):
            ws.set_column(i, i, c["width"])
        ws.set_column(n, n, 10, None, {"hidden": True})
        ws.write_string(0, 0, f"{spec['title']} — {service}", fmt(bold=True, font_size=14,
                                                                   valign="vcenter"))
        ws.write_string(1, 0, f"Cycle {CYCLE} · return date: as agreed · type only in the white "
                        "columns; grey columns are read-only. See the Guidance sheet.",
                        fmt(italic=True, valign="vcenter"))
        ws.set_row(2, height([c["header"] for c in columns], minimum=30))
        for i, c in enumerate(columns):
            ws.write_string(2, i, c["header"], fmt(bold=True, text_wrap=True, border=1,
                            border_color="#BFBFBF",
                            bg_color="#DDEBF7" if c["owner"] == "service" else "#D9D9D9"))
        ws.write_string(2, n, spec["id_header"], fmt(bold=True, text_wrap=True, border=1,
                                                     border_color="#BFBFBF", bg_color="#D9D9D9"))
        r = 2
        for row in members:
            r += 1
            values = [row[i] for i in col_at]
            ws.set_row(r, height(values))
            for i, value in enumerate(values):
                if value in ("", None):
                    ws.write_blank(r, i, None, cell_fmt[i])
                elif isinstance(value, (dt.date, dt.datetime)):
                    ws.write_datetime(r, i, value, cell_fmt[i])
                else:
                    ws.write_string(r, i, str(value), cell_fmt[i])
            ws.write_string(r, n, str(row[id_col]), id_fmt)
        for spare in range(1, 6):
            r += 1
            for i in range(n):
                ws.write_blank(r, i, None, spare_fmt[i])
            ws.write_string(r, n, f"{spec['spare_prefix']}{spare}", fmt(locked=True))
            if spare == 1:  # while it is the current row: constant_memory drops earlier rows' notes
                ws.write_comment(r, 0, "Spare rows: propose a new action here. Fill in the "
                                 "reference, the requirement and your action; the central team "
                                 "will review it.", {"author": "xlplan", "x_scale": 2})
        scale = [x["value"] for x in ratings]
        for i, c in enumerate(columns):
            if c["type"] == "rating":
                options = {"validate": "list", "source": scale, "error_type": "stop",
                           "error_title": "Pick a rating from the list",
                           "error_message": ("Ratings are: " + ", ".join(
                               f"{x['value']} ({x['meaning']})" for x in ratings))[:254]}
            elif c["type"] == "date":
                options = {"validate": "date", "criteria": "between",
                           "minimum": dt.date(1990, 1, 1), "maximum": dt.date(2100, 12, 31),
                           "error_type": "warning", "error_title": "Is this a date?",
                           "error_message": "Type a date day first, such as 31/03/2025."}
            elif c["help"]:
                options = {"validate": "any"}
            else:
                continue
            if c["help"]:
                options.update(input_title=c["header"][:32], input_message=c["help"][:255])
            ws.data_validation(3, i, r, i, options)
            if c["type"] == "rating":
                for x in ratings:
                    ws.conditional_format(3, i, r, i, {
                        "type": "cell", "criteria": "==", "value": f'"{x["value"]}"',
                        "format": wb.add_format({"bg_color": x["fill"], "font_color": x["font"]})})
        ws.freeze_panes(3, 0)
        ws.autofilter(2, 0, r, n)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0, 2)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        ws.set_footer(f"&L{service} · cycle {CYCLE}&RPage &P of &N")
        ws.protect("", {"autofilter": True, "format_columns": True, "format_rows": True,
                        "select_locked_cells": True, "select_unlocked_cells": True})
        ws.activate()
        # Guidance.
        guide = wb.add_worksheet("Guidance")
        guide.set_column(0, 0, 28)
        guide.set_column(1, 1, 90)
        wrap, bold = fmt(text_wrap=True), fmt(bold=True, text_wrap=True)
        guide.write_string(0, 0, f"{spec['title']}: how to fill in this workbook",
                           fmt(bold=True, font_size=14))
        g = 2
        for label, text in (("Service", service), ("Cycle", CYCLE), ("Return by", "as agreed"),
                            ("Your actions", f"{len(members)} on the {spec['sheet']!r} sheet")):
            guide.write_string(g, 0, label, bold)
            guide.write_string(g, 1, text, wrap)
            g += 1
        g += 1
        guide.write_string(g, 0, "What to do", bold)
        for number, text in enumerate(GUIDANCE_STEPS, start=1):
            guide.write_string(g, 1, f"{number}. {text}", wrap)
            g += 1
        g += 1
        guide.write_string(g, 0, "Your columns", bold)
        for c in columns:
            if c["owner"] == "service":
                guide.write_string(g, 1, c["header"] + (f" — {c['help']}" if c["help"] else ""), wrap)
                g += 1
        g += 1
        guide.write_string(g, 0, "Rating scale", bold)
        for x in ratings:
            guide.write_string(g, 0, x["value"], fmt(bold=True, bg_color=x["fill"],
                                                     font_color=x["font"], align="center", border=1))
            guide.write_string(g, 1, x["meaning"], wrap)
            g += 1
        guide.protect("", {"select_locked_cells": True, "select_unlocked_cells": True})
        # The values as issued, and the metadata: very hidden.
        issued = wb.add_worksheet("_xlplan_issued")
        issued.write_string(0, 0, spec["id_header"])
        for i, c in enumerate(columns, start=1):
            issued.write_string(0, i, c["field"])
        for k, row in enumerate(members, start=1):
            issued.write_string(k, 0, str(row[id_col]))
            for i, col in enumerate(col_at, start=1):
                value = row[col]
                if isinstance(value, (dt.date, dt.datetime)):
                    issued.write_datetime(k, i, value)
                elif value not in ("", None):
                    issued.write_string(k, i, str(value))
        issued.very_hidden()
        meta = wb.add_worksheet("_xlplan")
        overrides = {"kind": "template", "cycle": CYCLE, "service": service,
                     "issued_at": issued_at, "spare_rows": "5"}
        k = 0
        for key, value in meta_rows:
            meta.write_string(k, 0, str(key))
            meta.write_string(k, 1, overrides.pop(key, str(value)))
            k += 1
        for key, value in overrides.items():
            meta.write_string(k, 0, key)
            meta.write_string(k, 1, value)
            k += 1
        meta.very_hidden()
        wb.close()
    print(f"workbooks={len(groups)}")


def worker_phases(spec: dict) -> None:
    """One `xlplan merge` in-process with its phases timed (no profiler overhead): the merge
    module's own calls are wrapped, so the figures move with the code."""
    import datetime as dt
    import resource

    import xlplan.masterbook as masterbook
    import xlplan.merge as merge
    import xlplan.report as report
    import xlplan.sheets as sheets
    import xlplan.validate as validate

    times: dict[str, float] = {}
    peaks: dict[str, float] = {}  # the process's peak RSS (MiB) when each phase ended

    def wrap(owner, attr: str, label: str) -> None:
        inner = getattr(owner, attr, None)
        if inner is None:
            return

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                times[label] = times.get(label, 0.0) + time.perf_counter() - start
                peaks[label] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        setattr(owner, attr, timed)

    wrap(merge, "read_plan", "read master")
    wrap(merge, "validate", "read + check returns")
    wrap(validate, "read_return", "  read returns")
    wrap(validate, "check_return", "  check returns")
    wrap(merge, "write_master", "write master")
    wrap(masterbook, "write_plan_sheet", "  plan sheet")
    wrap(report, "write_merge_sheets", "  Summary, Changes, Issues")
    wrap(sheets.Book, "close", "  close (notes, zip)")
    start = time.perf_counter()
    merge.merge(Path(spec["plan"]), [Path(spec["inbox"])], output=Path(spec["out"]),
                as_of=dt.date.fromisoformat(AS_OF))
    total = time.perf_counter() - start
    order = ["read master", "read + check returns", "  read returns", "  check returns",
             "write master", "  plan sheet", "  Summary, Changes, Issues", "  close (notes, zip)"]
    print("phases=" + json.dumps({"merge() in-process": total,
                                  **{k: times[k] for k in order if k in times}}))
    print("peaks=" + json.dumps({k.strip(): round(peaks[k]) for k in order if k in peaks}))


GUIDANCE_STEPS = [
    "Type only in the white columns. Grey columns belong to the central team or the committee: "
    "they are locked, and changes to them are refused when the file comes back.",
    "Pick ratings from the dropdown; other values are refused. The scale is below.",
    "A Purple or Blue rating (complete) needs evidence or a comment saying where the evidence is.",
    "To propose a new action, use the green spare rows below your actions.",
    "Do not add, delete or move rows or sheets, rename the file's sheets, or copy the actions into "
    "another workbook: the file carries hidden information xlplan needs to merge it.",
    "Save as Excel Workbook (.xlsx) and send the file back. Renaming the file is fine.",
]

WORKERS = {"phases": worker_phases, "floor": worker_floor, "openpyxl": worker_openpyxl,
           "pandas": worker_pandas, "template": worker_template}


# --------------------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "_worker":
        WORKERS[sys.argv[2]](json.loads(Path(sys.argv[3]).read_text()))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="lpt,50x200,500x200",
                        help="comma-separated: lpt (the bundled LPT cycle) and/or SERVICESxACTIONS "
                             "(actions per service); default %(default)s")
    parser.add_argument("--runs", type=int, default=3, help="runs of each xlplan command and of "
                        "the floor and plain XlsxWriter (default %(default)s)")
    parser.add_argument("--alt-runs", type=int, default=None, help="runs of the openpyxl script "
                        "and the pandas pipeline (default: --runs); 1 is fine at 500x200")
    parser.add_argument("--workdir", type=Path, help="keep generated plans, outputs and logs here "
                        "and reuse the plans next time (default: a temporary folder, deleted)")
    parser.add_argument("--skip-alternatives", action="store_true",
                        help="time xlplan only: no floor, openpyxl, pandas or plain XlsxWriter")
    parser.add_argument("--skip-startup", action="store_true", help="do not time `xlplan --help`")
    parser.add_argument("--profile", metavar="SCALE", help="also profile one `xlplan merge` at "
                        "this scale with pyinstrument (pip install pyinstrument)")
    parser.add_argument("--commit", metavar="REV", help="measure xlplan as committed at REV "
                        "(unpacked with git archive into WORKDIR and put first on PYTHONPATH) "
                        "instead of the working tree, which others may be editing")
    parser.add_argument("--json", type=Path, help="write every figure here (default: "
                        "WORKDIR/results.json when --workdir is given)")
    args = parser.parse_args()
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    requested = set(scales)
    if args.profile and args.profile not in scales:
        scales.append(args.profile)
    if not args.skip_alternatives and not have_pandas():
        print("bench: pandas is not installed, so the naive pandas pipeline will be skipped. It "
              "is not an xlplan dependency; install it for the bench only: pip install pandas",
              file=sys.stderr)

    keep = args.workdir is not None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="xlplan-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    global CODE
    if args.commit:
        CODE = snapshot(args.commit, workdir)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(CODE), os.environ.get("PYTHONPATH", "")) if p)
        sys.path.insert(0, str(CODE))
    imported = subprocess.run([sys.executable, "-c", "import xlplan; print(xlplan.__file__)"],
                              capture_output=True, text=True).stdout.strip()
    machine = machine_info()
    if args.commit:
        machine["summary"] += f"; measured: {args.commit} as committed ({CODE.name})"
        machine["tree"] = CODE.name
    machine["xlplan_imported_from"] = imported
    print(f"xlplan benchmark in {workdir}\n  {machine['summary']}\n  xlplan imported from "
          f"{imported}", flush=True)
    results, start = [], None
    try:
        if not args.skip_startup:
            start = startup(workdir, max(args.runs, 10))
        for scale in scales:
            print(f"scale {scale}", flush=True)
            data = prepare(scale, workdir)
            if scale in requested:
                before = code_fingerprint()
                results.append(run_scale(data, workdir, args))
                results[-1]["code"] = before
                if code_fingerprint() != before:
                    results[-1]["code_changed"] = True
                    print("    WARNING: xlplan's code changed while this scale ran: its figures "
                          "mix two versions; run it again.", flush=True)
            if args.profile == scale:
                if importlib_find("pyinstrument"):
                    tree = profile(data, workdir)
                    print(f"  profile written to {tree} (session: .pyisession beside it; "
                          "python -m pyinstrument --load FILE --show '*/xlsxwriter/*' opens it "
                          "with XlsxWriter's frames shown)", flush=True)
                else:
                    print("  profile skipped: pip install pyinstrument", flush=True)
        text = report(results, start, machine)
        print("\n" + text)
        target = args.json or (workdir / "results.json" if keep else None)
        if target:
            target.write_text(json.dumps({"machine": machine, "startup": start, "scales": results,
                                          "runs": args.runs, "alt_runs": args.alt_runs or args.runs,
                                          "report": text}, indent=1, default=str))
            print(f"\nfigures written to {target}")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def importlib_find(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    main()
