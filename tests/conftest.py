"""Shared fixtures: the bundled example plans, the real CLI, and reading workbooks back.

Every workbook a test looks at is written by `xlplan` itself into a temporary folder and
read back from disk, with openpyxl (protection, validations, print set-up) or calamine
(values, as xlplan itself reads them).
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
import python_calamine
from click.testing import CliRunner

from xlplan.cli import main
from xlplan.layout import load_layout

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
LPT_SOURCE = EXAMPLES / "lpt-cqc-2017" / "source.csv"

CQC, _ = load_layout("cqc")
H = {c.field: c.header for c in CQC.columns}  # field -> header as the trust prints it

# The four layouts xlplan ships, and the example plan each was made for.
LAYOUTS = ["cqc", "kmpt", "eput", "solent"]
SEED_SOURCES = {
    "lpt-cqc-2017": "cqc",
    "kmpt-mr-d-2016": "kmpt",
    "kmpt-mr-x-2016": "kmpt",
    "eput-safety-2024": "eput",
    "solent-cqc-2017": "solent",
}
# The Solent plan names people, not teams (its layout routes by a Team column the plan
# lacks): imported routed by person on purpose.
SEED_ROUTES = {"solent-cqc-2017": ["--route", "Assigned To"]}
DEFAULT_SCALE = ["White", "Red", "Amber", "Green", "Purple", "Blue"]

# Where xlplan puts things in the workbooks it writes (1-based, as a person counts).
PLAN_SHEET = "Action plan"
HEADER_ROW = 3
FIRST_DATA_ROW = 4
ID_HEADER = "xlplan ID"
META_SHEET = "_xlplan"
ISSUED_SHEET = "_xlplan_issued"

# The LPT cycle the module-scoped templates are issued for.
CYCLE = "2025-Q1"
DUE = "31/03/2025"
EPOCH = "1700000000"
LPT_SERVICE_FILES = {
    "Corporate": "Corporate.xlsx",
    "AMH/ILD": "AMH-ILD.xlsx",
    "CHS": "CHS.xlsx",
    "FYPC": "FYPC.xlsx",
    "AMH/LD": "AMH-LD.xlsx",
}


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


LPT_ROWS = read_csv(LPT_SOURCE)
# The 18 headers exactly as the trust prints them: the first line of the source.
# A tuple, so no test can change it for the others.
LPT_HEADERS = tuple(LPT_ROWS[0])
LPT_ACTIONS = LPT_ROWS[1:]


def lpt_source_row(reference: str) -> dict[str, str]:
    """The source row with this Action Reference, as {header: cell}."""
    ref_col = LPT_HEADERS.index("Action Reference")
    row = next(r for r in LPT_ACTIONS if r[ref_col] == reference)
    return dict(zip(LPT_HEADERS, row, strict=True))


def invoke(*args: object, env: dict[str, str] | None = None):
    """Run `xlplan ARGS` as a user would; whatever happens, never a traceback.

    SOURCE_DATE_EPOCH (which pins time stamps and plan IDs) is unset unless a test sets it,
    so a CI machine that exports it globally runs the same tests.
    """
    result = CliRunner().invoke(main, [str(a) for a in args], env={"SOURCE_DATE_EPOCH": None, **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"xlplan {' '.join(map(str, args))} raised {result.exception!r}\n{result.output}"
    )
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="session")
def run():
    """`run("import", src, "-o", out)` -> the click Result (output holds stdout and stderr)."""
    return invoke


def import_lpt(folder: Path) -> Path:
    plan = folder / "plan.xlsx"
    result = invoke("import", LPT_SOURCE, "-o", plan)
    assert result.exit_code == 0, result.output
    return plan


@pytest.fixture
def lpt_plan(tmp_path: Path) -> Path:
    """A fresh master imported from the LPT source, for a test that changes things."""
    return import_lpt(tmp_path)


@pytest.fixture(scope="module")
def lpt_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One LPT master per module, for tests that only read it."""
    return import_lpt(tmp_path_factory.mktemp("lpt-master"))


@pytest.fixture(scope="module")
def templates_dir(lpt_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LPT service templates, issued once per module for cycle 2025-Q1."""
    outdir = tmp_path_factory.mktemp("outbox")
    result = invoke(
        "template", lpt_master, "-o", outdir, "--cycle", CYCLE, "--due", DUE, env={"SOURCE_DATE_EPOCH": EPOCH}
    )
    assert result.exit_code == 0, result.output
    return outdir


def fold_joint(actions: list[dict], route_header: str) -> list[dict]:
    """The master's rows with the per-service parts of a joint action folded back into one
    row, as the source has it: adjacent rows equal in every cell but the routing cell and the
    hidden ID. The routing cell of a folded row lists each part's service."""
    folded: list[dict] = []
    ignore = {route_header, ID_HEADER, "Changed this cycle"}
    for action in actions:
        last = folded[-1] if folded else None
        if (
            last is not None
            and action[route_header] not in last["services"]
            and all(last[k] == v for k, v in action.items() if k not in ignore)
        ):
            last["services"].append(action[route_header])
            continue
        folded.append({**action, "services": [action[route_header]]})
    return folded


def sheet_values(path: Path, sheet: str) -> list[list[object]]:
    """A sheet's values as calamine reads them: "" for an empty cell, row 0 = row 1."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def all_sheet_values(path: Path) -> dict[str, list[list[object]]]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in book.sheet_names}


def plan_table(path: Path, sheet: str = PLAN_SHEET) -> tuple[list[str], list[dict[str, object]]]:
    """The plan sheet's header row and its action rows as {header: value}."""
    rows = sheet_values(path, sheet)
    header = [str(c) for c in rows[HEADER_ROW - 1]]
    body = [dict(zip(header, row, strict=False)) for row in rows[FIRST_DATA_ROW - 1 :]]
    return header, [r for r in body if any(v not in ("", None) for v in r.values())]


def metadata(path: Path) -> dict[str, str]:
    """The hidden `_xlplan` sheet as {key: value}; long values span several rows."""
    values: dict[str, str] = {}
    for row in sheet_values(path, META_SHEET):
        if row and row[0]:
            values[row[0]] = values.get(row[0], "") + str(row[1])
    return values


def open_book(path: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(path)


def edit_master(
    path: Path, edits: dict[tuple[str, str], object], swap: tuple[str, str] | None = None, extra=None
) -> None:
    """Compliance staff editing the master in Excel: cells by (reference, column), a column
    named by its layout field or its header as printed, on the first row of that reference;
    `swap` two rows' cells (a sort done by hand), `extra(book)` anything else."""
    book = openpyxl.load_workbook(path)
    sheet = book[PLAN_SHEET]
    header = [c.value for c in sheet[HEADER_ROW]]
    ref_col = header.index(H["action_ref"]) + 1
    rows: dict[object, int] = {}
    for r in range(FIRST_DATA_ROW, sheet.max_row + 1):
        rows.setdefault(sheet.cell(r, ref_col).value, r)
    for (ref, column), value in edits.items():
        sheet.cell(rows[ref], header.index(H.get(column, column)) + 1).value = value
    if swap:
        a, b = rows[swap[0]], rows[swap[1]]
        for col in range(1, len(header) + 1):
            first, second = sheet.cell(a, col), sheet.cell(b, col)
            first.value, second.value = second.value, first.value
    if extra:
        extra(book)
    book.save(path)
