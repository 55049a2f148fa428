"""The rules a return is judged by: one function per rule, each with its problem code.

`check_return` turns a read return into the edits that may be applied and the problems
found; validate prints them, merge applies the edits, the Issues sheet lists the problems.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .dates import parse_uk_date
from .excel import ERROR_VALUES, FORMULA_LEADERS, ILLEGAL_XML_CHARS, MAX_CELL_CHARS, CellValue, display
from .layout import Column, Layout
from .plan import Plan, normal_ref, parent_refs
from .problems import Problem, Severity, plural, short
from .returns import ReturnRow, ServiceReturn


@dataclass
class Edit:
    """A service's change to one of its own cells, checked and ready to apply."""

    action_id: str
    field: str
    old: CellValue  # as issued
    new: CellValue
    cell: str | None
    action: str | None = None  # the reference as issued, for messages (never the hidden ID)


@dataclass
class CheckedReturn:
    ret: ServiceReturn
    edits: list[Edit] = field(default_factory=list)
    proposals: list[ReturnRow] = field(default_factory=list)
    refused: bool = False  # the whole file is refused (unreadable, another plan, …)

    @property
    def problems(self) -> list[Problem]:
        return self.ret.problems

    @property
    def status(self) -> str:
        if self.ret.unreadable:
            return "unreadable"
        if self.refused:
            return "refused"
        if any(p.is_error for p in self.problems):
            return "errors"
        if any(p.severity == Severity.WARNING for p in self.problems):
            return "warnings"
        return "ok"


def same(a: CellValue, b: CellValue) -> bool:
    """Equal as a person reads them: line endings and surrounding spaces do not count."""
    if a == b:
        return True
    if isinstance(a, str):
        a = a.replace("\r\n", "\n").strip() or None
    if isinstance(b, str):
        b = b.replace("\r\n", "\n").strip() or None
    return a == b


@dataclass
class PlanIndex:
    """What every return is checked against, computed once per plan rather than per return."""

    services: set[str]
    ratings: dict[str, str]  # normalised reference -> the service rating in the master
    descendants: dict[str, list[str]]  # normalised reference -> references below it
    baseline: dict[str, dict[str, CellValue]]  # ID -> the master's values

    @classmethod
    def of(cls, plan: Plan) -> PlanIndex:
        layout = plan.layout
        routes, _ = plan.routes()
        ratings: dict[str, str] = {}
        descendants: dict[str, list[str]] = {}
        for action in plan.actions:
            ref = normal_ref(display(action.get(layout.reference)))
            if not ref:
                continue
            if layout.service_rating:
                ratings[ref] = display(action.get(layout.service_rating))
            for parent in parent_refs(ref):
                descendants.setdefault(parent, []).append(ref)
        return cls(services={s for services in routes.values() for s in services},
                   ratings=ratings, descendants=descendants,
                   baseline={a.id: a.values for a in plan.actions})


def check_return(ret: ServiceReturn, plan: Plan | None = None, *, as_of: dt.date | None = None,
                 cycle: str | None = None, index: PlanIndex | None = None) -> CheckedReturn:
    checked = CheckedReturn(ret)
    if plan is not None and index is None:
        index = PlanIndex.of(plan)
    if ret.unreadable or ret.layout is None:
        checked.refused = True
        return checked
    if not check_identity(ret, plan, cycle, index):
        checked.refused = True
        return checked
    layout = ret.layout
    baseline = ret.issued if ret.issued is not None else (index.baseline if index else {})
    expected = list(ret.issued) if ret.issued is not None else None
    rows = check_rows(ret, expected, baseline)
    for row in rows:
        for column in layout.columns:
            if column.field not in ret.positions:
                continue
            edit = check_cell(ret, row, column, baseline[row.action_id].get(column.field))
            if edit is not None:
                checked.edits.append(edit)
    for proposal in ret.proposals:
        if refuse_update_in_spare_row(ret, proposal):
            continue
        for column in layout.columns:
            if column.field in ret.positions and proposal.values.get(column.field) is not None:
                value = check_value(ret, proposal, column, proposal.values[column.field])
                proposal.values[column.field] = value if value is not _REFUSED else None
        ref = display(proposal.values.get(layout.reference)) or "(no reference)"
        ret.problem("proposed-action", f"a new action {ref} is proposed in spare row "
                    f"{proposal.row + 1}; merge adds it to the plan, flagged as proposed.",
                    sheet=ret.sheet, cell=ret.cell(proposal.row, layout.reference), action=ref)
        checked.proposals.append(proposal)
    final = {row.action_id: dict(baseline[row.action_id]) for row in rows}
    for edit in checked.edits:
        final[edit.action_id][edit.field] = edit.new
    check_business_rules(ret, layout, rows, final, index, as_of or dt.date.today())
    check_required(ret, rows, final, checked.proposals)
    return checked


def refuse_update_in_spare_row(ret: ServiceReturn, row: ReturnRow) -> bool:
    """A spare row with progress, evidence or a rating but no action (no reference, nothing in
    the columns that describe an action) is an update typed in the wrong place: adding it
    would put a blank action in the plan and count it in the Summary. True: refused."""
    layout = ret.layout
    assert layout is not None
    # What an update holds: ratings, dates, progress and evidence, who the service or owner
    # is. Anything else (a reference, a requirement, the action itself) names an action.
    update_only = {layout.route, *layout.evidence_fields}
    update_only.update(c.field for c in layout.columns if c.type in ("rating", "date")
                       or (c.owner == "service" and c.type == "text"))
    update_only.discard(layout.reference)
    if any(display(row.values.get(c.field)).strip() for c in layout.columns
           if c.field not in update_only):
        return False
    filled = [c.header for c in layout.columns if display(row.values.get(c.field)).strip()]
    ret.problem("update-in-spare-row", f"spare row {row.row + 1} holds "
                + ", ".join(repr(short(h, 40)) for h in filled) + " but no reference and no action, "
                "so it cannot be added to the plan and was not applied. If it is an update to an "
                "existing action, type it on that action's own row; if it is a new action, fill in "
                f"its {layout.column(layout.reference).header!r} and describe the action.",
                sheet=ret.sheet, cell=ret.cell(row.row, layout.reference))
    return True


def check_identity(ret: ServiceReturn, plan: Plan | None, cycle: str | None,
                   index: PlanIndex | None) -> bool:
    """Is this a return of this plan, from a service it knows? False refuses the whole file."""
    meta = ret.meta
    if plan is not None and meta is not None and meta.plan_id != plan.plan_id:
        ret.problem("other-plan", f"this return belongs to plan {meta.title!r} (ID {meta.plan_id}), "
                    f"not {plan.meta.title!r} (ID {plan.plan_id}). It was not read further.")
        return False
    if cycle and meta is not None and meta.cycle != cycle:
        ret.problem("other-cycle", f"issued for cycle {meta.cycle!r}, not {cycle!r}: an old "
                    "template may have been filled in. Check the figures are current.")
    if index is not None and ret.service is not None and ret.service not in index.services:
        ret.problem("unknown-service", f"the plan has no actions for service {ret.service!r} "
                    "(renamed or removed from the master since issue). It was not merged.")
        return False
    if ret.service is None and plan is not None:
        ret.problem("unknown-service", "no row of this workbook matches an action of the plan, so "
                    "the service cannot be told. It was not merged.")
        return False
    return True


def check_rows(ret: ServiceReturn, expected: list[str] | None,
               baseline: dict[str, dict[str, CellValue]]) -> list[ReturnRow]:
    """The rows that can be matched to issued actions; deleted, doubled and added rows reported."""
    layout = ret.layout
    assert layout is not None
    seen: dict[str, ReturnRow] = {}
    doubled: set[str] = set()
    for row in ret.rows:
        ref = display(row.values.get(layout.reference)) or None
        if row.action_id in seen:
            doubled.add(row.action_id)
            ret.problem("row-duplicated", f"rows {seen[row.action_id].row + 1} and {row.row + 1} are "
                        "the same issued action; neither is applied. Delete the copy.",
                        sheet=ret.sheet, action=ref, cell=ret.cell(row.row, layout.reference))
        elif row.action_id not in baseline or (expected is not None and row.action_id not in expected):
            ret.problem("row-added", f"row {row.row + 1} was not issued"
                        + (" (its ID is not one this file was issued with)" if row.action_id else "")
                        + "; it is not applied. Put new actions in the green spare rows.",
                        sheet=ret.sheet, action=ref, cell=ret.cell(row.row, layout.reference))
        else:
            seen[row.action_id] = row
    if expected is not None:
        for action_id in expected:
            if action_id not in seen and action_id not in doubled:
                ref = display(baseline.get(action_id, {}).get(layout.reference)) or action_id
                ret.problem("row-deleted", f"action {ref} was issued but is not in the return "
                            "(row deleted). The master keeps it unchanged; restore the row.",
                            sheet=ret.sheet, action=ref)
    return [row for action_id, row in seen.items() if action_id not in doubled]


_REFUSED = object()


def check_cell(ret: ServiceReturn, row: ReturnRow, column: Column, issued: CellValue) -> Edit | None:
    """The edit a returned cell makes, if any and if allowed."""
    layout = ret.layout
    assert layout is not None
    value = row.values.get(column.field)
    special = ret.special_cells.get((row.row, ret.positions[column.field])) if ret.special_cells else None
    if special is None and same(value, issued):
        return None  # most cells: nothing to say, so nothing to build
    cell = ret.cell(row.row, column.field)
    ref = display(row.values.get(layout.reference)) or display(issued) or row.action_id
    where = {"sheet": ret.sheet, "cell": cell, "action": ref, "column": column.header}
    if special and special[0] == "error":
        ret.problem("error-value", f"the cell shows the error {special[1]} instead of content "
                    "(a broken formula or reference). Type the text itself; the cell was not applied.",
                    value=special[1], **where)
        return None
    if special and special[0] == "formula" and same(value, issued):
        # A formula whose shown value is what was issued (or that was never calculated):
        # nothing changes, but the formula should not stay in a plan people sign off.
        ret.problem("formula", f"the cell holds the formula {short(special[1], 80)}; it was not "
                    "applied (its value is unchanged). Type the text itself.",
                    value=special[1], **where)
        return None
    if same(value, issued):
        return None
    if column.owner != "service":
        ret.problem("locked-cell-changed", f"this {column.owner} column is read-only for services: "
                    f"it was {short(display(issued)) or '(empty)'!r} when issued and is now "
                    f"{short(display(value)) or '(empty)'!r}. The change was refused; ask the central "
                    "team to change it in the master.", value=short(display(value), 200), **where)
        return None
    if special and special[0] == "formula":
        ret.problem("formula", f"the cell holds the formula {short(special[1], 80)}; its shown value "
                    f"{short(display(value))!r} is kept as text.", value=special[1], **where)
    new = check_value(ret, row, column, value)
    if new is _REFUSED:
        return None
    return Edit(row.action_id, column.field, issued, new, cell, action=ref)


def check_value(ret: ServiceReturn, row: ReturnRow, column: Column, value: CellValue):
    """The value to store for what a person typed, or _REFUSED (with the problem recorded)."""
    layout = ret.layout
    assert layout is not None
    cell = ret.cell(row.row, column.field)
    ref = display(row.values.get(layout.reference)) or None
    where = {"sheet": ret.sheet, "cell": cell, "action": ref, "column": column.header}
    if not isinstance(value, str):
        if column.type == "rating" and value is not None:
            ret.problem("invalid-rating", f"{display(value)!r} is not a rating; pick one of "
                        f"{', '.join(layout.rating_values)}. Not applied.", value=display(value), **where)
            return _REFUSED
        return value
    if value.strip() in ERROR_VALUES:
        ret.problem("error-value", f"the cell holds the error {value.strip()} instead of content. "
                    "Type the text itself; not applied.", value=value, **where)
        return _REFUSED
    if len(value) > MAX_CELL_CHARS:
        ret.problem("too-long", f"{len(value):,} characters, over Excel's {MAX_CELL_CHARS:,}-character "
                    "cell limit. Shorten it or point to a document; not applied.", **where)
        return _REFUSED
    if ILLEGAL_XML_CHARS.search(value):
        value = ILLEGAL_XML_CHARS.sub("", value)
        ret.problem("control-chars", "invisible control characters (pasted from another program) "
                    "were removed; the rest of the text is kept.", **where)
    if column.type == "rating":
        normal = layout.normalise_rating(value)
        if normal is None:
            ret.problem("invalid-rating", f"{short(value)!r} is not on the scale; pick one of "
                        f"{', '.join(layout.rating_values)} from the dropdown. Not applied.",
                        value=short(value, 200), **where)
            return _REFUSED
        if normal != value:
            ret.problem("rating-normalised", f"{value!r} read as {normal!r}.", value=value, **where)
        return normal
    if column.type == "choice" and value.strip() not in column.choices:
        ret.problem("invalid-choice", f"{short(value)!r} is not one of {', '.join(column.choices)}. "
                    "Not applied.", value=short(value, 200), **where)
        return _REFUSED
    if column.type == "date" and value.strip() and parse_uk_date(value) is None:
        ret.problem("not-a-date", f"{short(value)!r} names no single day, so lateness cannot be "
                    "checked; kept as written. A date such as 31/03/2025 can be checked.",
                    value=short(value, 200), **where)
    if value.lstrip().startswith(FORMULA_LEADERS):
        ret.problem("formula-like-text", f"{short(value, 40)!r} starts like a formula; it is kept "
                    "as text and will never be calculated.", value=short(value, 200), **where)
    return value


def check_business_rules(ret: ServiceReturn, layout: Layout, rows: list[ReturnRow],
                         final: dict[str, dict[str, CellValue]], index: PlanIndex | None,
                         as_of: dt.date) -> None:
    rating_field = layout.service_rating
    if rating_field is None:
        return
    complete = layout.complete_ratings
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
        if rating in complete and layout.evidence_fields and not any(
                display(values.get(f)).strip() for f in layout.evidence_fields):
            ret.problem("complete-without-evidence", f"rated {rating} (complete) but "
                        + " and ".join(repr(layout.column(f).header) for f in layout.evidence_fields)
                        + " is empty. Say what the evidence is and where it is kept.",
                        cell=ret.cell(row.row, layout.evidence_fields[0]),
                        column=layout.column(layout.evidence_fields[0]).header, value=rating, **where)
        if layout.due_field and rating not in complete:
            due = parse_uk_date(values.get(layout.due_field))
            if due is not None and due < as_of:
                ret.problem("overdue", f"due {due:%d/%m/%Y}, which has passed (as of {as_of:%d/%m/%Y}), "
                            f"and {_rated(rating)}: not complete. Update the rating, the "
                            "date or the comments.", cell=ret.cell(row.row, layout.due_field),
                            column=layout.column(layout.due_field).header,
                            value=display(values.get(layout.due_field)), **where)
        if rating in complete:
            own = normal_ref(display(values.get(layout.reference)))
            below = local_descendants.get(own, []) + (index.descendants.get(own, []) if index else [])
            for child_ref in below:
                child_rating = rating_of(child_ref)
                if child_rating not in complete:
                    ret.problem("parent-complete-child-open", f"rated {rating} (complete) while "
                                f"its sub-action {child_ref} is {_rated(child_rating)}.",
                                cell=ret.cell(row.row, rating_field), column=rating_header,
                                value=rating, **where)
                    break


def _rated(rating: str) -> str:
    """'rated Amber', or 'not rated' (never 'rated nothing')."""
    return f"rated {rating}" if rating else "not rated"


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
        problems.append(Problem(
            "unmapped-rating", f"{value!r} is not on the scale ({scale}), so the Summary counts "
            f"{plural(len(refs), 'action')} as not rated: {_listing(refs)}. Change these cells "
            f"to a rating of the scale, or map the word: on the Key sheet, add {value} to "
            "'Also read as' of the rating it means (for example Blue), then merge again.",
            column=header, value=value, action=refs[0] if len(refs) == 1 else None))
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
            problems.append(Problem(
                "required-missing", f"{column.header!r} must be filled in and is empty for "
                f"{plural(len(empty), 'action')}: {_listing(empty)}. Fill it in on the plan sheet.",
                sheet=layout.sheet, column=column.header))
    return problems


def check_required(ret: ServiceReturn, rows: list[ReturnRow],
                   final: dict[str, dict[str, CellValue]], proposals: list[ReturnRow]) -> None:
    """Required columns a return left empty: the service's own on its rows, any on a proposal."""
    layout = ret.layout
    assert layout is not None
    required = [c for c in layout.columns if c.required and c.field in ret.positions]
    for column in required:
        mine = [(row, final[row.action_id]) for row in rows] if column.owner == "service" else []
        for row, values in mine + [(p, p.values) for p in proposals]:
            if not display(values.get(column.field)).strip():
                ref = display(values.get(layout.reference)) or None
                ret.problem("required-missing", f"{column.header!r} must be filled in.",
                            sheet=ret.sheet, cell=ret.cell(row.row, column.field), action=ref,
                            column=column.header)
