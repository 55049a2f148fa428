"""The harness: what is run at each scale and how its figures are gathered (xlplan's
commands, the in-process merge phases, the alternatives), start-up, and the profile. Running
and measuring one command is measure.py; the data of each scale is scales.py; which code was
measured on which machine is provenance.py. See bench.py for what is measured and how."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from alternatives.common import AS_OF, CYCLE
from measure import measure, repeat, xlplan_command
from scales import layout_spec

HERE = Path(__file__).resolve().parent
HEAVY_IMPORTS = ("pandas", "openpyxl", "numpy")


def worker(name: str, spec_path: Path) -> list[str]:
    return [sys.executable, str(HERE / "bench.py"), "_worker", name, str(spec_path)]


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
