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
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import provenance
from harness import have_pandas, profile, run_scale, startup
from provenance import code_fingerprint, machine_info, snapshot
from report import report
from scales import prepare

# The pieces: measure.py (running and measuring one command), scales.py (the data of each
# scale), harness.py (what runs at each scale, start-up, the profile), alternatives/ (one
# module per alternative, and the in-process merge timing), provenance.py (which code, on
# which machine), report.py (the table and the targets); generate.py makes the data.


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "_worker":
        from alternatives import worker

        worker(sys.argv[2])(json.loads(Path(sys.argv[3]).read_text()))
        return
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scales",
        default="lpt,50x200,500x200",
        help="comma-separated: lpt (the bundled LPT cycle) and/or SERVICESxACTIONS "
        "(actions per service); default %(default)s",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs of each xlplan command and of the floor and plain XlsxWriter (default %(default)s)",
    )
    parser.add_argument(
        "--alt-runs",
        type=int,
        default=None,
        help="runs of the openpyxl script and the pandas pipeline (default: --runs); 1 is fine at 500x200",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep generated plans, outputs and logs here "
        "and reuse the plans next time (default: a temporary folder, deleted)",
    )
    parser.add_argument(
        "--skip-alternatives",
        action="store_true",
        help="time xlplan only: no floor, openpyxl, pandas or plain XlsxWriter",
    )
    parser.add_argument("--skip-startup", action="store_true", help="do not time `xlplan --help`")
    parser.add_argument(
        "--profile",
        metavar="SCALE",
        help="also profile one `xlplan merge` at this scale with pyinstrument (pip install pyinstrument)",
    )
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="measure xlplan as committed at REV "
        "(unpacked with git archive into WORKDIR and put first on PYTHONPATH) "
        "instead of the working tree, which others may be editing",
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="write every figure here (default: WORKDIR/results.json when --workdir is given)",
    )
    args = parser.parse_args()
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    requested = set(scales)
    if args.profile and args.profile not in scales:
        scales.append(args.profile)
    if not args.skip_alternatives and not have_pandas():
        print(
            "bench: pandas is not installed, so the naive pandas pipeline will be skipped. It "
            "is not an xlplan dependency; install it for the bench only: pip install pandas",
            file=sys.stderr,
        )

    keep = args.workdir is not None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="xlplan-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.commit:
        provenance.CODE = snapshot(args.commit, workdir)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(provenance.CODE), os.environ.get("PYTHONPATH", "")) if p
        )
        sys.path.insert(0, str(provenance.CODE))
    # From the workdir: `python -c` puts the current folder first on sys.path, and run from the
    # repository that would find the working tree's xlplan whatever PYTHONPATH says.
    imported = subprocess.run(
        [sys.executable, "-c", "import xlplan; print(xlplan.__file__)"],
        capture_output=True,
        text=True,
        cwd=workdir,
    ).stdout.strip()
    machine = machine_info()
    if args.commit:
        machine["summary"] += f"; measured: {args.commit} as committed ({provenance.CODE.name})"
        machine["tree"] = provenance.CODE.name
    machine["xlplan_imported_from"] = imported
    print(
        f"xlplan benchmark in {workdir}\n  {machine['summary']}\n  xlplan imported from {imported}",
        flush=True,
    )
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
                    print(
                        "    WARNING: xlplan's code changed while this scale ran: its figures "
                        "mix two versions; run it again.",
                        flush=True,
                    )
            if args.profile == scale:
                if importlib_find("pyinstrument"):
                    tree = profile(data, workdir)
                    print(
                        f"  profile written to {tree} (session: .pyisession beside it; "
                        "python -m pyinstrument --load FILE --show '*/xlsxwriter/*' opens it "
                        "with XlsxWriter's frames shown)",
                        flush=True,
                    )
                else:
                    print("  profile skipped: pip install pyinstrument", flush=True)
        text = report(results, start, machine)
        print("\n" + text)
        target = args.json or (workdir / "results.json" if keep else None)
        if target:
            target.write_text(
                json.dumps(
                    {
                        "machine": machine,
                        "startup": start,
                        "scales": results,
                        "runs": args.runs,
                        "alt_runs": args.alt_runs or args.runs,
                        "report": text,
                    },
                    indent=1,
                    default=str,
                )
            )
            print(f"\nfigures written to {target}")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def importlib_find(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    main()
