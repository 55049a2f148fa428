"""Make a plan of N actions across S services, its templates, and returns as services fill
them in (ratings on about half the rows, progress notes on a third), for the benchmark."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from xlplan import FORMAT_VERSION, __version__
from xlplan.layout import load_layout
from xlplan.masterbook import write_master
from xlplan.metadata import Metadata
from xlplan.plan import Action, Plan, now, read_plan
from xlplan.record import issued_row
from xlplan.template import issue_templates, safe_filename, write_template

WORDS = (
    "care plan audit staff training patients carers ward community team review policy "
    "safeguarding assessment risk record keeping medicines supervision evidence monitoring "
    "governance meeting committee improvement quality compliance report board monthly"
).split()
SCALE = ["White", "Red", "Amber", "Green", "Purple", "Blue"]


def text(rng: random.Random, low: int, high: int) -> str:
    size = rng.randint(low, high)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < size:
        words.append(rng.choice(WORDS))
    return " ".join(words)[:size].capitalize() + "."


def make_plan(path: Path, services: int, per_service: int, seed: int = 7) -> Plan:
    rng = random.Random(seed)
    layout, toml = load_layout("cqc")
    plan = Plan(
        meta=Metadata(
            format_version=FORMAT_VERSION,
            kind="master",
            plan_id="bench",
            title="Benchmark plan",
            layout_name="cqc",
            layout_toml=toml,
            generator=f"xlplan {__version__}",
        ),
        layout=layout,
        actions=[],
    )
    for s in range(1, services + 1):
        for a in range(1, per_service + 1):
            values = {
                "overarching_ref": str(s) if a == 1 else None,
                "provider_requirement": text(rng, 50, 400),
                "directorate": f"Service {s:03d}",
                "action_ref": f"{s}.{a}",
                "core_service_report": "Core service report",
                "core_service_requirement": text(rng, 50, 400),
                "action": text(rng, 100, 800),
                "sustain": text(rng, 50, 500),
                "resources": text(rng, 50, 200),
                "due": rng.choice(["End July 2017", "30/09/2017", "TBC", "March 2018"]),
                "impact": text(rng, 50, 300),
                "manager": f"Manager {rng.randint(1, 99)}",
                "comments": text(rng, 50, 400) if rng.random() < 0.5 else None,
                "directorate_rag": rng.choice(SCALE),
                "committee_rag": None,
                "compass_rag": None,
                "group": "Quality group",
                "expected_compass": "Dec-17",
            }
            plan.actions.append(Action(id=plan.new_id(), values=values))
    write_master(plan, path)
    return plan


def make_returns(plan_path: Path, outbox: Path, inbox: Path, seed: int = 11) -> int:
    """Returns as services send them: the issued template with their cells edited."""
    rng = random.Random(seed)
    plan = read_plan(plan_path)
    routes, _ = plan.routes()
    inbox.mkdir(parents=True, exist_ok=True)
    issued_at = now()
    changed = 0
    for service in plan.services():
        actions = [a for a in plan.actions if service in routes[a.id]]
        shown = []
        for action in actions:
            values = dict(action.values)
            if rng.random() < 0.5:
                values["directorate_rag"] = rng.choice(SCALE)
                changed += values["directorate_rag"] != action.values["directorate_rag"]
            if rng.random() < 1 / 3:
                values["comments"] = text(rng, 50, 800)
                changed += 1
            shown.append(Action(action.id, values))
        write_template(
            plan,
            service,
            actions,
            inbox / f"{safe_filename(service)}.xlsx",
            cycle="bench",
            due=None,
            issued_at=issued_at,
            password="",
            shown=shown,
        )
        plan.record.replace(
            service,
            (
                issued_row(plan.layout, a.id, a.values, service=service, cycle="bench", issued_at="bench")
                for a in actions
            ),
        )
    # As `xlplan template` does: the master records what it issued, and merge judges by it.
    write_master(plan, plan_path)
    return changed


def add_history(plan_path: Path, cycles: int, seed: int = 5) -> int:
    """Cycles 1 .. `cycles`-1 already run: each left as many changes in the Change log as a
    cycle of the generated returns makes (a third of the comments, half the ratings)."""
    from xlplan.plan import LogEntry

    rng = random.Random(seed)
    plan = read_plan(plan_path)
    layout = plan.layout
    routes, _ = plan.routes()
    entries = 0
    for cycle in range(1, cycles):
        stamp = f"20{10 + cycle // 4:02d}-{(cycle % 4) * 3 + 1:02d}-01 09:00"
        for action in plan.actions:
            service = routes[action.id][0]
            for name, share in (("directorate_rag", 1 / 2), ("comments", 1 / 3)):
                if rng.random() < share:
                    new = rng.choice(SCALE) if name == "directorate_rag" else text(rng, 50, 800)
                    plan.log.append(
                        LogEntry(
                            f"bench-{cycle}",
                            stamp,
                            service,
                            f"{service}.xlsx",
                            plan.ref(action),
                            layout.column(name).header,
                            action.get(name),
                            new,
                            "change",
                            action.id,
                        )
                    )
                    entries += 1
    write_master(plan, plan_path)
    return entries


def generate(folder: Path, services: int, actions: int, *, outbox: bool = True, cycle: int = 1) -> dict:
    """plan.xlsx, outbox/ (the templates as issued; optional) and inbox/ (the returns) in
    `folder`, then generated.json with the sizes, written last: its presence means the
    folder is complete and can be reused."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "generated.json").unlink(missing_ok=True)
    start = time.perf_counter()
    make_plan(folder / "plan.xlsx", services, actions)
    history = add_history(folder / "plan.xlsx", cycle) if cycle > 1 else 0
    if outbox:
        issue_templates(folder / "plan.xlsx", folder / "outbox", cycle="bench")
    changed = make_returns(folder / "plan.xlsx", folder / "outbox", folder / "inbox")
    info = {
        "services": services,
        "actions_per_service": actions,
        "actions": services * actions,
        "changed_cells": changed,
        "cycle": cycle,
        "log_entries": history,
        "seconds": round(time.perf_counter() - start, 1),
        "generator": f"xlplan {__version__}",
    }
    (folder / "generated.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--actions", type=int, default=200, help="actions per service")
    parser.add_argument(
        "--no-outbox",
        action="store_true",
        help="skip issuing the templates to outbox/ (the benchmark does not need them)",
    )
    parser.add_argument(
        "--cycle",
        type=int,
        default=1,
        help="the cycle the returns are for: earlier cycles' changes fill the Change log",
    )
    args = parser.parse_args()
    info = generate(args.folder, args.services, args.actions, outbox=not args.no_outbox, cycle=args.cycle)
    print(
        f"{args.services} x {args.actions}: {info['changed_cells']} changed cells, "
        f"{info['seconds']:.1f} s to generate",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
