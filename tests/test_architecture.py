"""The direction of imports in xlplan/: arrows point inwards only, and nothing goes round in a
circle. See docs/architecture.md for what each layer is for.

Every import counts: at module top, inside a function (a lazy import is still a dependency)
and under `if TYPE_CHECKING:` (a type from an outer layer is knowledge of that layer).

To add a module: put its name in LAYERS. A module in no layer fails
`test_every_module_is_in_a_layer`, so the table cannot fall behind the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xlplan"

# Inner first. A module may import its own layer and any layer listed before it, never one after.
LAYERS: dict[str, set[str]] = {
    # The core knows no workbook files: models, rules and facts as plain functions over values.
    "core": {
        "__init__",
        "errors",
        "excel",
        "dates",
        "problems",
        "problem_json",
        "style",
        "layout",
        "metadata",
        "plan",
        "checks",
        "plan_index",
        "check_cells",
        "check_rows",
        "check_rules",
        "clean",
        "service_return",
        "progress",
        "outcome",
        "record",
        "identity",
        "cycle",
        "packed",
        "central",
        "proposals",
        "contacts",
        "carry",
        "figures",
        "history",
        "issue_counts",
        "changelog",
        "import_table",
        "import_options",
        "import_rows",
    },
    # The Excel edge: the safety gate, readers, writers of each kind of workbook, JSON output.
    "edge": {
        "workbook",
        "returns",
        "inbox",
        "rowxml",
        "sheets",
        "plan_sheet",
        "masterbook",
        "report",
        "report_json",
        "annotate",
        "simulate",
        "mail",
        "saved_email",
        "ods",
        "xmlscan",
        "progress_sheet",
        "pack_pdf",
        "print_setup",
        "committee_sheet",
        "logpart",
        "zipparts",
        "template_pool",
        "master_patch",
        "import_source",
        "csvfile",
        "safety_gate",
        "sheet_styles",
        "sheet_features",
        "sheet_layers",
        "masterread",
        "master_tables",
    },
    # One module per verb: ties the core and the edge together and returns a typed result.
    "verbs": {"importer", "template", "validate", "merge", "diff", "send", "chase", "pack"},
    # The command line, over everything else.
    "cli": {"cli", "cli_common", "cli_plan", "cli_returns"},
}

# Imports allowed to break the rule (none today), each with the reason and what removes it. A listed
# import that is no longer made fails `test_every_allowance_is_still_needed`: delete it then.
ALLOWED: dict[tuple[str, str], str] = {}

# Libraries that touch workbook files: only the edge may import them.
EXCEL_LIBRARIES = {"openpyxl", "xlsxwriter", "python_calamine", "zipfile"}
EDGE_ONLY_LAYERS = {"edge"}
# A workbook library used for something that touches no file, with why.
LIBRARY_ALLOWED = {
    ("carry", "openpyxl"): "openpyxl's formula tokenizer only: it parses a formula's text to move "
    "its references; no workbook is opened",
}


def layer_of(module: str) -> str:
    return next(name for name, members in LAYERS.items() if module in members)


def rank(layer: str) -> int:
    return list(LAYERS).index(layer)


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(imported name, line, is it one of xlplan's own modules) for every import in the file,
    wherever it is: module top, inside functions, under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:  # from . import x, y / from .x import y
                if node.module is None:
                    found += [(alias.name, node.lineno, True) for alias in node.names]
                else:
                    found.append((node.module.split(".")[0], node.lineno, True))
            elif node.level == 0 and node.module:
                top = node.module.split(".")[0]
                if top == "xlplan":
                    rest = node.module.split(".")[1:]
                    if rest:
                        found.append((rest[0], node.lineno, True))
                    else:
                        found += [(alias.name, node.lineno, True) for alias in node.names]
                else:
                    found.append((top, node.lineno, False))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "xlplan" and len(parts) > 1:
                    found.append((parts[1], node.lineno, True))
                else:
                    found.append((parts[0], node.lineno, False))
    return found


def modules() -> dict[str, Path]:
    return {path.stem: path for path in sorted(PACKAGE.glob("*.py"))}


def own_imports() -> dict[str, list[tuple[str, int]]]:
    """module -> the xlplan modules it imports (names that are not modules, such as
    `__version__` in `from . import __version__`, count as the package, `__init__`)."""
    names = modules()
    graph: dict[str, list[tuple[str, int]]] = {}
    for module, path in names.items():
        graph[module] = [
            (name if name in names else "__init__", line) for name, line, own in imports_of(path) if own
        ]
    return graph


def test_every_module_is_in_a_layer() -> None:
    placed = [m for members in LAYERS.values() for m in members]
    assert len(placed) == len(set(placed)), "a module is listed in two layers"
    missing = sorted(set(modules()) - set(placed))
    assert not missing, (
        f"put {missing} in a layer of LAYERS in {Path(__file__).name} (and in docs/architecture.md)"
    )
    gone = sorted(set(placed) - set(modules()))
    assert not gone, f"LAYERS lists modules that no longer exist: {gone}"


def violations(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    found = []
    for module, imported in graph.items():
        for target, line in imported:
            if target == module or (module, target) in ALLOWED:
                continue
            if rank(layer_of(target)) > rank(layer_of(module)):
                found.append(
                    f"xlplan/{module}.py:{line} ({layer_of(module)}) imports {target} "
                    f"({layer_of(target)}), an outer layer"
                )
    return found


def test_imports_point_inwards_only() -> None:
    assert violations(own_imports()) == []


def test_every_allowance_is_still_needed() -> None:
    graph = own_imports()
    for (module, target), reason in ALLOWED.items():
        assert any(t == target for t, _ in graph.get(module, [])), (
            f"{module} no longer imports {target}: remove the allowance ({reason})"
        )
        assert rank(layer_of(target)) > rank(layer_of(module)), (
            f"{module} -> {target} is allowed by the layers now: remove the allowance"
        )


def test_only_the_edge_touches_workbook_libraries() -> None:
    found = []
    for module, path in modules().items():
        if layer_of(module) in EDGE_ONLY_LAYERS:
            continue
        for name, line, own in imports_of(path):
            if not own and name in EXCEL_LIBRARIES and (module, name) not in LIBRARY_ALLOWED:
                found.append(f"xlplan/{module}.py:{line} imports {name}")
    assert found == []


def find_cycle(graph: dict[str, list[tuple[str, int]]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target, _ in graph.get(module, []):
            if target == module or target == "__init__":
                continue
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in graph:
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_cycle_even_through_lazy_imports() -> None:
    cycle = find_cycle(own_imports())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# The check itself, on made-up modules: it must catch what it is for.


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from .merge import merge\n", ("merge", True)),
        ("def f():\n    from .cli import main\n", ("cli", True)),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .report import x\n",
            ("report", True),
        ),
        ("from xlplan.template import issue_templates\n", ("template", True)),
        ("import xlplan.validate\n", ("validate", True)),
        ("import openpyxl.styles\n", ("openpyxl", False)),
    ],
)
def test_the_check_sees_every_kind_of_import(tmp_path: Path, source: str, expected: tuple[str, bool]) -> None:
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert (expected[0], expected[1]) in [(name, own) for name, _, own in imports_of(path)]


def test_the_check_fails_when_the_core_imports_a_verb() -> None:
    graph = {"dates": [("merge", 3)], "merge": [("dates", 1)]}
    assert violations(graph) == ["xlplan/dates.py:3 (core) imports merge (verbs), an outer layer"]
    assert find_cycle(graph) == ["dates", "merge", "dates"]


# The rules a return is judged by return what they find (`list[Problem]`); only
# `checks.check_return` gathers it. A rule that recorded its problems on the return as a side
# effect could not be tested, reused or run twice on its own.
RULE_MODULES = ("checks", "check_rows", "check_cells", "check_rules", "plan_index", "clean")


def recordings(path: Path) -> list[str]:
    """Calls in the file that record a problem on the return: `x.problem(...)`, or adding to
    `ret.problems` (building the result a rule returns is fine)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        func = node.func
        if func.attr == "problem":
            found.append(f"{path.name}:{node.lineno} calls .problem(...)")
        elif (
            func.attr in ("append", "extend")
            and isinstance(func.value, ast.Attribute)
            and func.value.attr == "problems"
            and ast.unparse(func.value.value).split(".")[-1] == "ret"
        ):
            found.append(f"{path.name}:{node.lineno} adds to {ast.unparse(func.value)}")
    return found


def test_rules_return_what_they_find() -> None:
    found = [line for name in RULE_MODULES for line in recordings(PACKAGE / f"{name}.py")]
    assert found == [], "a rule records problems by side effect; return them instead:\n" + "\n".join(found)


def test_recordings_are_seen(tmp_path: Path) -> None:
    """The check above finds what it is for (so it cannot pass by finding nothing)."""
    sample = tmp_path / "rule.py"
    sample.write_text(
        "def rule(ret, checked, problems):\n"
        "    ret.problem('overdue', 'x')\n"
        "    checked.ret.problems.append(1)\n"
        "    ret.problems.extend([])\n"
        "    problems.append(2)\n"
        "    checked.problems.append(3)\n",
        encoding="utf-8",
    )
    assert recordings(sample) == [
        "rule.py:2 calls .problem(...)",
        "rule.py:3 adds to checked.ret.problems",
        "rule.py:4 adds to ret.problems",
    ]
