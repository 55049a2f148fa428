"""Running a command as a fresh process and measuring it: wall time (spawn to reap), CPU time
and peak memory from os.wait4()'s rusage, and the process tree's memory sampled from /proc
while it runs (for commands that fork workers). Used by harness.py and hostile.py."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


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
