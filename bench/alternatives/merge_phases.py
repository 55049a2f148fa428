"""Where a merge's time goes: one `xlplan merge` in-process, xlplan's own calls wrapped in
timers (no profiler overhead), with the peak RSS when each phase ended."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .common import AS_OF


def run(spec: dict) -> None:
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
    merge.merge(
        Path(spec["plan"]),
        [Path(spec["inbox"])],
        output=Path(spec["out"]),
        as_of=dt.date.fromisoformat(AS_OF),
    )
    total = time.perf_counter() - start
    order = [
        "read master",
        "read + check returns",
        "  read returns",
        "  check returns",
        "write master",
        "  plan sheet",
        "  Summary, Changes, Issues",
        "  close (notes, zip)",
    ]
    print("phases=" + json.dumps({"merge() in-process": total, **{k: times[k] for k in order if k in times}}))
    print("peaks=" + json.dumps({k.strip(): round(peaks[k]) for k in order if k in peaks}))
