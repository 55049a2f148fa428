"""The report: the table of figures, the ratios, and the targets they are read against."""

from __future__ import annotations

# Targets from the issue (reported against, not enforced).
MERGE_FLOOR_TARGET = {"500x200": 1.3, "50x200": 1.5}
MERGE_PEAK_TARGET_MIB = {"500x200": 1024}
LPT_WALL_TARGET = 2.0
TEMPLATE_XLSXWRITER_TARGET = {"500x200": 2.0}
HELP_TARGET = 0.3
# A merge at a later cycle (SxN@C: C-1 earlier cycles in the Change log) against the same plan
# at cycle 1: history must not make merges slower by more than 20 % (#15), CPU and wall.
HISTORY_TARGET = 1.2


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
            lines.insert(
                1,
                f"WARNING: xlplan's code changed while {result['scale']} ran: its figures mix two versions.",
            )
    head = (
        f"{'scale':<8} {'svc':>4} {'actions':>7} {'changed':>7}  {'what':<20} {'runs':>4} "
        f"{'median s':>9} {'min s':>8} {'max s':>8} {'cpu s':>8} {'peak MiB':>9}"
    )
    if results:
        lines += [head, "-" * len(head)]
    for result in results:
        first = True
        for name, tool in result["tools"].items():
            left = (
                f"{result['scale']:<8} {result['services']:>4} {result['actions']:>7} "
                f"{result['changed'] if result['changed'] is not None else '?':>7}"
                if first
                else " " * 29
            )
            bad = "" if all(rc in (0,) for rc in tool["rc"]) else f"  exit {tool['rc']}"
            star = "*" if tool.get("forked") else " "
            lines.append(
                f"{left}  {name:<20} {tool['runs']:>4} {fmt_s(tool['median']):>9} "
                f"{fmt_s(tool['min']):>8} {fmt_s(tool['max']):>8} "
                f"{fmt_s(tool['cpu']):>8} {tool['peak_mib']:>8.0f}{star}{bad}"
            )
            first = False
        parts = []
        for label, top, bottom in (
            ("merge/floor", "xlplan merge", "floor"),
            ("script/merge", "openpyxl script", "xlplan merge"),
            ("naive/merge", "pandas naive", "xlplan merge"),
            ("template/xlsxwriter", "xlplan template", "xlsxwriter template"),
            ("re-issue/xlsxwriter", "template re-issue", "xlsxwriter template"),
        ):
            value = ratio(result, top, bottom)
            if value is not None:
                parts.append(f"{label} {value:.2f}x")
        if parts:
            lines.append(" " * 31 + " · ".join(parts))
        if result.get("merge_phases"):
            lines.append(
                " " * 31
                + "merge phases (in-process, 1 run): "
                + "; ".join(f"{k.strip()} {v:.2f} s" for k, v in result["merge_phases"].items())
            )
        if result.get("merge_phase_peaks"):
            lines.append(
                " " * 31
                + "merge peak RSS when each phase ended: "
                + "; ".join(f"{k} {v} MiB" for k, v in result["merge_phase_peaks"].items())
            )
        if result.get("floor_phases"):
            phases = result["floor_phases"]
            lines.append(
                " " * 31 + f"floor, inside its process (run 1): read+compare "
                f"{phases['read']:.2f} s, write {phases['write']:.2f} s"
            )
        if result.get("floor_changed") is not None and result["floor_changed"] != result["changed"]:
            lines.append(
                " " * 31 + f"(the floor's plain comparison finds {result['floor_changed']} "
                "changed cells: it applies no checks)"
            )
        lines.append("")
    if start:
        lines.append(
            f"start-up: xlplan --help median {start['help']['median']:.3f} s "
            f"(min {start['help']['min']:.3f}, max {start['help']['max']:.3f}; "
            f"python -c pass {start['python']['median']:.3f} s); "
            f"import xlplan.cli {start['import_cli_ms']:.0f} ms; heavy imports: "
            f"{', '.join(start['heavy_imports']) or 'none (no pandas, openpyxl, numpy)'}"
        )
        lines.append(
            "  slowest top-level imports: "
            + ", ".join(f"{name} {ms:.0f} ms" for name, ms in start["top_imports"][:5])
        )
        lines.append("")
    if any(tool.get("forked") for r in results for tool in r["tools"].values()):
        lines.append(
            "* ran as several processes: peak is the sampled sum of their PSS (10 Hz); "
            "cpu s adds up the processes' CPU time"
        )
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
            check(
                f"merge {scale} peak memory",
                by_scale[scale]["tools"]["xlplan merge"]["peak_mib"],
                limit,
                " MiB",
            )
    if "lpt" in by_scale:
        tools = by_scale["lpt"]["tools"]
        check("LPT merge wall", tools["xlplan merge"]["median"], LPT_WALL_TARGET, " s")
        check("LPT template wall", tools["xlplan template"]["median"], LPT_WALL_TARGET, " s")
    for scale, result in by_scale.items():  # the committee pack must not take longer than the merge (#17)
        if scale != "lpt":
            check(f"report {scale} / merge", ratio(result, "xlplan report", "xlplan merge"), 1.0, "x")
    for scale, result in by_scale.items():
        base, _, cycle = scale.partition("@")
        if cycle and base in by_scale and "xlplan merge" in result["tools"]:
            later, first = result["tools"]["xlplan merge"], by_scale[base]["tools"]["xlplan merge"]
            for what, key in (("CPU", "cpu"), ("wall", "median")):
                if first.get(key):
                    check(f"merge {scale} / {base} ({what})", later[key] / first[key], HISTORY_TARGET, "x")
    for scale, limit in TEMPLATE_XLSXWRITER_TARGET.items():
        if scale in by_scale:
            check(
                f"template {scale} / plain XlsxWriter",
                ratio(by_scale[scale], "xlplan template", "xlsxwriter template"),
                limit,
                "x",
            )
    if start:
        check("xlplan --help", start["help"]["median"], HELP_TARGET, " s")
        out.append(
            f"{'met ' if not start['heavy_imports'] else 'MISS'}  import xlplan.cli loads "
            f"no pandas/openpyxl/numpy"
            + (f" (loads {', '.join(start['heavy_imports'])})" if start["heavy_imports"] else "")
        )
    return out
