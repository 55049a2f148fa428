"""The business rules over a plan's values: complete needs evidence, overdue, a parent complete
with a sub-action open, required cells; and what the master itself holds that the committee
cannot trust as read (ratings off the scale, required cells left empty)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from .excel import CellValue, display
from .layout import Layout
from .plan import Plan, normal_ref, parent_refs
from .plan_index import PlanIndex
from .problems import Problem, plural
from .progress import is_complete_rating, overdue_since
from .service_return import ReturnRow, ServiceReturn


def check_business_rules(
    ret: ServiceReturn,
    layout: Layout,
    rows: list[ReturnRow],
    final: dict[str, dict[str, CellValue]],
    index: PlanIndex | None,
    as_of: dt.date,
    *,
    after_merge: dict[str, dict[str, CellValue]] | None = None,
    due_as_written: Callable[[str], CellValue] | None = None,
) -> list[Problem]:
    """What the return's rows say once applied: complete without evidence, overdue, a parent
    complete while a sub-action is open."""
    rating_field = layout.service_rating
    if rating_field is None:
        return []
    problems: list[Problem] = []
    rating_header = layout.column(rating_field).header
    # The return's own rows overlay the master's ratings; their sub-actions may be in either.
    local_ratings: dict[str, str] = {}
    local_descendants: dict[str, list[str]] = {}
    for row in rows:
        ref = normal_ref(display(final[row.action_id].get(layout.reference)))
        if ref:
            local_ratings[ref] = display(final[row.action_id].get(rating_field))
            for parent in parent_refs(ref):
                local_descendants.setdefault(parent, []).append(ref)

    def rating_of(ref: str) -> str:
        if ref in local_ratings:
            return local_ratings[ref]
        return index.ratings.get(ref, "") if index else ""

    for row in rows:
        values = final[row.action_id]
        ref = display(values.get(layout.reference)) or row.action_id
        rating = display(values.get(rating_field))
        where = {"sheet": ret.sheet, "action": ref}
        if (
            is_complete_rating(rating, layout)
            and layout.evidence_fields
            and not any(display(values.get(f)).strip() for f in layout.evidence_fields)
        ):
            problems.append(
                ret.found(
                    "complete-without-evidence",
                    f"rated {rating} (complete) but "
                    + " and ".join(repr(layout.column(f).header) for f in layout.evidence_fields)
                    + " is empty. Say what the evidence is and where it is kept.",
                    cell=ret.cell(row.row, layout.evidence_fields[0]),
                    column=layout.column(layout.evidence_fields[0]).header,
                    value=rating,
                    **where,
                )
            )
        judged = after_merge[row.action_id] if after_merge else values
        due = overdue_since(judged, layout, as_of)
        if due is not None and layout.due_field is not None:
            shown = display(judged.get(rating_field))
            problems.append(
                ret.found(
                    "overdue",
                    f"due {due:%d/%m/%Y}, which has passed (as of {as_of:%d/%m/%Y}), "
                    f"and {_rated(shown)}: not complete. Update the rating, the "
                    "date or the comments.",
                    cell=ret.cell(row.row, layout.due_field),
                    column=layout.column(layout.due_field).header,
                    value=display(
                        due_as_written(row.action_id) if due_as_written else judged.get(layout.due_field)
                    ),
                    **where,
                )
            )
        if is_complete_rating(rating, layout):
            own = normal_ref(display(values.get(layout.reference)))
            below = local_descendants.get(own, []) + (index.descendants.get(own, []) if index else [])
            for child_ref in below:
                child_rating = rating_of(child_ref)
                if not is_complete_rating(child_rating, layout):
                    problems.append(
                        ret.found(
                            "parent-complete-child-open",
                            f"rated {rating} (complete) while "
                            f"its sub-action {child_ref} is {_rated(child_rating)}.",
                            cell=ret.cell(row.row, rating_field),
                            column=rating_header,
                            value=rating,
                            **where,
                        )
                    )
                    break
    return problems


def _rated(rating: str) -> str:
    """'rated Amber', or 'not rated' (never 'rated nothing')."""
    return f"rated {rating}" if rating else "not rated"


def check_required(
    ret: ServiceReturn,
    rows: list[ReturnRow],
    final: dict[str, dict[str, CellValue]],
    proposals: list[ReturnRow],
) -> list[Problem]:
    """Required columns a return left empty: the service's own on its rows, any on a proposal."""
    layout = ret.layout
    assert layout is not None
    problems: list[Problem] = []
    required = [c for c in layout.columns if c.required and c.field in ret.positions]
    for column in required:
        mine = [(row, final[row.action_id]) for row in rows] if column.owner == "service" else []
        for row, values in mine + [(p, p.values) for p in proposals]:
            if not display(values.get(column.field)).strip():
                ref = display(values.get(layout.reference)) or None
                problems.append(
                    ret.found(
                        "required-missing",
                        f"{column.header!r} must be filled in.",
                        sheet=ret.sheet,
                        cell=ret.cell(row.row, column.field),
                        action=ref,
                        column=column.header,
                    )
                )
    return problems


# --- the master itself, after a merge ---------------------------------------------------------


def check_master(plan: Plan) -> list[Problem]:
    """What the master holds that the committee cannot trust as read, listed every merge until
    put right: ratings off the scale, required cells left empty."""
    return unmapped_ratings(plan) + required_missing_in_master(plan)


def _listing(refs: list[str], limit: int = 12) -> str:
    more = f" and {len(refs) - limit} more" if len(refs) > limit else ""
    return ", ".join(refs[:limit]) + more


def unmapped_ratings(plan: Plan) -> list[Problem]:
    """Ratings kept as written (at import, or typed in the master) that are not on the scale:
    the Summary counts them as not rated, so say so until they are changed or mapped."""
    layout = plan.layout
    found: dict[tuple[str, str], list[str]] = {}
    for action in plan.actions:
        for column in layout.columns:
            if column.type != "rating":
                continue
            value = display(action.get(column.field)).strip()
            if value and layout.normalise_rating(value) is None:
                found.setdefault((column.header, value), []).append(_named(plan, action))
    problems: list[Problem] = []
    scale = ", ".join(layout.rating_values)
    for (header, value), refs in found.items():
        problems.append(
            Problem(
                "unmapped-rating",
                f"{value!r} is not on the scale ({scale}), so the Summary counts "
                f"{plural(len(refs), 'action')} as not rated: {_listing(refs)}. Change these cells "
                f"to a rating of the scale, or map the word: on the Key sheet, add {value} to "
                "'Also read as' of the rating it means (for example Blue), then merge again.",
                column=header,
                value=value,
                action=refs[0] if len(refs) == 1 else None,
            )
        )
    return problems


def _named(plan: Plan, action) -> str:
    """An action as people find it: its reference, or its row when it has none."""
    if display(action.get(plan.layout.reference)).strip() or action.row is None:
        return plan.ref(action)
    return f"row {action.row + 1}"


def required_missing_in_master(plan: Plan) -> list[Problem]:
    """Columns the layout marks `required` that are empty in the master, one line per column."""
    layout = plan.layout
    problems: list[Problem] = []
    for column in layout.columns:
        if not column.required:
            continue
        empty = [_named(plan, a) for a in plan.actions if not display(a.get(column.field)).strip()]
        if empty:
            problems.append(
                Problem(
                    "required-missing",
                    f"{column.header!r} must be filled in and is empty for "
                    f"{plural(len(empty), 'action')}: {_listing(empty)}. Fill it in on the plan sheet.",
                    sheet=layout.sheet,
                    column=column.header,
                )
            )
    return problems
