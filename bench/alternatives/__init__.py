"""What xlplan is measured against, one module each, and the in-process merge timing. Each
runs in a fresh process (`bench.py _worker NAME SPEC`) and imports only what it uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable

# worker name -> module (in this package) whose run(spec) does the work
WORKERS = {
    "phases": "merge_phases",
    "floor": "floor",
    "openpyxl": "openpyxl_script",
    "pandas": "pandas_naive",
    "template": "xlsxwriter_template",
}


def worker(name: str) -> Callable[[dict], None]:
    return importlib.import_module(f"{__name__}.{WORKERS[name]}").run
