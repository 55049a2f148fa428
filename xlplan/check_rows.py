"""The rules for a return's rows: which issued action each row is (deleted, doubled, added,
sorted, moved, another service's rows), and a return far larger than what was issued."""

from __future__ import annotations

from typing import Any

from .excel import CellValue, display
from .identity import AT_ID, EDITED, FOUND, MOVED, identify_rows, looks_sorted
from .layout import Layout
from .plan_index import PlanIndex
from .problems import Problem, short
from .record import IssuedRow, normal_text
from .service_return import ReturnRow, ServiceReturn

# A return may hold this many rows beyond twice what it was issued (people add a few rows,
# paste a section twice); far more is junk, refused with one message rather than one per row.
ROW_SLACK = 200
MAX_ISSUED_ROWS = 100_000  # without the master: a hidden sheet of issued values longer is junk


def check_size(ret: ServiceReturn, index: PlanIndex | None) -> list[Problem]:
    """A return holding far more rows than its service was issued: one problem, which refuses
    the whole file (an empty list: the size is fine)."""
    if index is not None:
        issued: int | None = index.issued_to.get(ret.service or "", 0)
    else:
        issued = len(ret.issued) if ret.issued is not None else None
    limit = 2 * issued + ROW_SLACK if issued is not None else MAX_ISSUED_ROWS
    held = len(ret.rows) + len(ret.proposals)
    if held > limit:
        than = f"the {issued:,} issued to {ret.service}" if issued is not None else "a return can"
        return [
            ret.found(
                "too-many-rows",
                f"the sheet holds {held:,} rows of actions, far more than "
                f"{than}: nothing in it was applied. Delete the rows that are not the "
                "service's actions (or ask for the workbook as it was sent) and send it again.",
                sheet=ret.sheet,
            )
        ]
    at_most = ret.issued_count() if index is not None else None
    # An upper bound while the sheet is unread: counted exactly only when it is over.
    if at_most is not None and at_most > limit and ret.issued is not None and len(ret.issued) > limit:
        return [
            ret.found(
                "too-many-rows",
                f"its hidden sheet of values as issued lists {len(ret.issued):,} "
                f"actions, far more than the {issued:,} issued to {ret.service}: the file was "
                "altered. Nothing in it was applied; ask the service for the workbook as it "
                "was sent.",
            )
        ]
    return []


def check_rows(
    ret: ServiceReturn,
    expected: list[str] | None,
    baseline: dict[str, dict[str, CellValue]],
    index: PlanIndex | None = None,
) -> tuple[list[ReturnRow], list[Problem]]:
    """The rows that can be matched to issued actions; deleted, doubled and added rows found,
    and (with the master) rows of actions the master routes to another service."""
    layout = ret.layout
    assert layout is not None
    routes = index.routes if index is not None else {}
    problems: list[Problem] = []
    seen: dict[str, ReturnRow] = {}
    doubled: set[str] = set()
    for row in ret.rows:
        ref = display(row.values.get(layout.reference)) or None
        if row.action_id in seen:
            doubled.add(row.action_id)
            problems.append(
                ret.found(
                    "row-duplicated",
                    f"rows {seen[row.action_id].row + 1} and {row.row + 1} are "
                    "the same issued action; neither is applied. Delete the copy.",
                    sheet=ret.sheet,
                    action=ref,
                    cell=ret.cell(row.row, layout.reference),
                )
            )
        elif row.action_id not in baseline or (expected is not None and row.action_id not in expected):
            problems.append(
                row_added(
                    ret,
                    row.row,
                    bool(row.action_id),
                    sheet=ret.sheet,
                    action=ref,
                    cell=ret.cell(row.row, layout.reference),
                )
            )
        elif (
            routes
            and ret.service not in routes.get(row.action_id, [ret.service])
            and not has_joint_part(index, row.action_id, ret.service)
        ):
            owners = " and ".join(routes[row.action_id])
            problems.append(
                ret.found(
                    "other-service-row",
                    f"row {row.row + 1} is action {ref or row.action_id}, "
                    f"which the master routes to {owners}, not {ret.service}: it is not applied.",
                    sheet=ret.sheet,
                    action=ref,
                    cell=ret.cell(row.row, layout.reference),
                )
            )
            doubled.add(row.action_id)  # neither applied nor reported deleted
        else:
            seen[row.action_id] = row
    if expected is not None:
        for action_id in expected:
            if action_id not in seen and action_id not in doubled:
                ref = display(baseline.get(action_id, {}).get(layout.reference)) or action_id
                problems.append(row_deleted(ret, ref))
    return [row for action_id, row in seen.items() if action_id not in doubled], problems


def match_rows(
    ret: ServiceReturn,
    layout: Layout,
    issued: dict[str, IssuedRow],
    current: dict[str, dict[str, CellValue]],
    routes: dict[str, list[str]] | None = None,
) -> tuple[list[ReturnRow] | None, list[Problem]]:
    """The returned rows, each as the issued action its locked cells show it is (copies of the
    return's rows: the return stays as read); rows that match none are refused, copies counted
    once; with what was found. No rows (None) refuses the whole file (sorted)."""
    # Without metadata the IDs are guesses by reference, not hidden IDs: content decides.
    pasted = ret.meta is None
    matches = identify_rows(
        layout,
        [("" if pasted else r.action_id, r.values) for r in ret.rows],
        issued,
        current,
        hints=[r.action_id for r in ret.rows] if pasted else None,
    )
    if looks_sorted(matches):
        moved = sum(1 for m in matches if m.how != AT_ID)
        sorted_problem = ret.found(
            "rows-sorted",
            f"{moved} of {len(matches)} rows no longer match the action their "
            "hidden xlplan ID was issued for: the sheet was sorted (or rows moved) without "
            "its hidden ID column, as Excel does with 'Continue with the current selection'. "
            "Nothing from this file was applied. Undo the sort, or sort by "
            f"{layout.column(layout.reference).header!r} choosing 'Expand the selection', "
            "or fill in a fresh template.",
            sheet=ret.sheet,
        )
        return None, [sorted_problem]
    problems: list[Problem] = []
    by_action: dict[str, list[ReturnRow]] = {}
    refound: list[str] = []
    for row, match in zip(ret.rows, matches, strict=True):
        if match.action_id is None:
            problems.append(_unmatched(ret, layout, row, match.claimed, issued, routes))
            continue
        if match.how in (MOVED, FOUND) and not pasted:
            refound.append(str(row.row + 1))
        # Matched by its locked cells, as issued, unless they were edited.
        matched = ReturnRow(match.action_id, row.row, row.values, locked_intact=match.how != EDITED)
        by_action.setdefault(match.action_id, []).append(matched)
    if refound:
        problems.append(
            ret.found(
                "row-moved",
                f"{len(refound)} row(s) ({', '.join(refound[:8])}"
                f"{', …' if len(refound) > 8 else ''}) had lost their hidden xlplan ID or carried "
                "another action's; each was matched to its action by its grey (read-only) cells, "
                "exactly as issued.",
                sheet=ret.sheet,
            )
        )
    rows: list[ReturnRow] = []
    for copies in by_action.values():
        kept, problem = _one_of(ret, layout, copies)
        if kept is not None:
            rows.append(kept)
        if problem is not None:
            problems.append(problem)
    for action_id in issued:
        if action_id not in by_action and action_id in current:
            ref = display(current[action_id].get(layout.reference)) or action_id
            problems.append(row_deleted(ret, ref))
    return rows, problems


def _unmatched(
    ret: ServiceReturn,
    layout: Layout,
    row: ReturnRow,
    claimed: str,
    issued: dict[str, IssuedRow],
    routes: dict[str, list[str]] | None,
) -> Problem:
    """Why a row matches no action issued to the service: another service's action, an
    issued row whose grey cells were changed past recognition, or a row added."""
    ref = display(row.values.get(layout.reference)) or None
    where = {"sheet": ret.sheet, "action": ref, "cell": ret.cell(row.row, layout.reference)}
    owners = (routes or {}).get(claimed)
    if owners and ret.service not in owners:
        return ret.found(
            "other-service-row",
            f"row {row.row + 1} is action {ref or claimed}, "
            f"which the master routes to {' and '.join(owners)}, not {ret.service}: "
            "it is not applied.",
            **where,
        )
    if claimed in issued:
        return ret.found(
            "row-unidentified",
            f"row {row.row + 1} matches no action issued to "
            f"{ret.service}: its grey (read-only) cells are not those issued with "
            "its hidden ID, nor those of any other action. Its cells were not "
            "applied; type the update on the action's own row.",
            **where,
        )
    return row_added(ret, row.row, bool(claimed), **where)


def _one_of(
    ret: ServiceReturn, layout: Layout, copies: list[ReturnRow]
) -> tuple[ReturnRow | None, Problem | None]:
    """The row to judge among the rows of one action: the only one; or, for copies, the first
    when they agree (said, as a warning) and none when they differ (refused)."""
    first = copies[0]
    if len(copies) == 1:
        return first, None
    differ = [f for f in layout.service_fields if len({normal_text(c.values.get(f)) for c in copies}) > 1]
    ref = display(first.values.get(layout.reference)) or first.action_id
    numbers = " and ".join(str(c.row + 1) for c in copies)
    copy_cell = ret.cell(copies[-1].row, layout.reference)
    if not differ:
        return first, ret.found(
            "row-duplicated",
            f"rows {numbers} are the same action with the same "
            "entries; it was counted once. Delete the copy.",
            sheet=ret.sheet,
            action=ref,
            cell=copy_cell,
            severity="warning",
        )
    shown = "; ".join(
        f"{layout.column(f).header!r}: "
        + " vs ".join(repr(short(display(c.values.get(f)), 60)) for c in copies)
        for f in differ[:3]
    )
    return None, ret.found(
        "row-duplicated",
        f"rows {numbers} are the same action with different entries "
        f"({shown}); neither was applied. Keep one row and send the file again.",
        sheet=ret.sheet,
        action=ref,
        cell=copy_cell,
    )


def has_joint_part(index: PlanIndex | None, action_id: str, service: str | None) -> bool:
    """Is there a row of this action that is `service`'s? A template issued before its joint
    action was split carries the joint row's ID for every service; merge applies the edit to
    the service's own row (Plan.part_for), found the same way (plan.joint_parts)."""
    return index is not None and service is not None and (action_id, service) in index.parts


def row_added(ret: ServiceReturn, row: int, claimed: bool, **where: Any) -> Problem:
    """A returned row (0-based `row`) that was not issued; `claimed`: it carries an ID."""
    return ret.found(
        "row-added",
        f"row {row + 1} was not issued"
        + (" (its ID is not one this file was issued with)" if claimed else "")
        + "; it is not applied. Put new actions in the green spare rows.",
        **where,
    )


def row_deleted(ret: ServiceReturn, ref: str) -> Problem:
    """An issued action missing from the return."""
    return ret.found(
        "row-deleted",
        f"action {ref} was issued but is not in the return "
        "(row deleted). The master keeps it unchanged; restore the row.",
        sheet=ret.sheet,
        action=ref,
    )
