"""What was measured, on which machine: the xlplan code under test (the working tree, or a
--commit snapshot unpacked with git archive), a fingerprint of it, and the machine and
library versions the figures come from."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CODE = REPO  # the xlplan tree measured: the working tree, or a --commit snapshot (bench.py sets it)


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
