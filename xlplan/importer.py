"""Starting from what a trust already has: a plan in .xlsx, .xls, .ods or .csv.

Trusts keep plans as people print them: title rows, section headings across merged cells,
a key row, headers in their own words ("RAG", "Lead"), extra columns, a Glossary sheet.
Import finds the table, keeps every action and nothing else in the plan, and carries what
the layout does not know into the master, so nothing of the source is lost or invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .carry import ExtraColumn as CentralColumn
from .errors import XlplanError
from .excel import (
    CellValue,
    cell_name,
    column_letter,
    display,
)
from .import_options import column_maps, rating_maps, routed_layout
from .import_rows import (
    SKIP_KINDS,
    SkippedRow,
    check_references,
    extra_columns,
    read_actions,
    similar_services,
)
from .import_source import read_source
from .import_table import (
    SourceSheet,
    clip,
    find_header,
    no_header_message,
    refuse_missing_essentials,
    refuse_unknown_maps,
)
from .layout import Layout, load_layout, normal_header
from .masterbook import write_master
from .metadata import META_SHEET, new_metadata
from .plan import CarriedSheet, Plan, new_plan_id
from .problems import Problem

SHOW_SKIPPED = 5  # rows named per kind in a message; the rest are counted


@dataclass
class ColumnMatch:
    """How one source column was read: into a layout column, or kept as a central column."""

    source: str  # the header as the source has it
    letter: str
    header: str  # the master's header for it
    how: str  # header | alias | close wording | --map | kept


@dataclass
class ImportResult:
    path: Path
    actions: int
    services: dict[str, int]
    source_sheet: str | None
    header_row: int
    problems: list[Problem] = field(default_factory=list)
    columns: list[ColumnMatch] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    carried_sheets: list[str] = field(default_factory=list)
    route_header: str = ""

    def skipped_summary(self) -> list[str]:
        """'skipped 3 section heading(s): row 5 'Section 3 – …', …' per kind of row."""
        lines = []
        for kind, words in SKIP_KINDS.items():
            rows = [s for s in self.skipped if s.kind == kind]
            if not rows:
                continue
            named = ", ".join(
                f"row {s.row}" + (f" {clip(s.text, 50)!r}" if kind != "header" else "")
                for s in rows[:SHOW_SKIPPED]
            )
            more = f" and {len(rows) - SHOW_SKIPPED} more" if len(rows) > SHOW_SKIPPED else ""
            lines.append(f"skipped {len(rows)} {words}: {named}{more}")
        return lines


# --- the import ----------------------------------------------------------------------------


def import_plan(
    source: Path,
    output: Path,
    *,
    layout_name: str = "cqc",
    title: str | None = None,
    maps: list[str] | None = None,
    route: str | None = None,
    rating_map: list[str] | None = None,
) -> ImportResult:
    layout, layout_toml = load_layout(layout_name)
    if route:
        layout, layout_toml, route_source = routed_layout(layout, layout_toml, route)
    mapping = column_maps(list(maps or []), layout)
    if route and route_source:
        mapping.setdefault(normal_header(route_source), layout.route)
    ratings = rating_maps(list(rating_map or []), layout)
    sheets, problems = read_source(source)
    sheet, (header_index, positions, how, unmatched) = _plan_sheet(source, sheets, layout, mapping, problems)
    rows, header = sheet.rows, sheet.rows[header_index]
    where = {"file": str(source), "sheet": sheet.name}
    refuse_unknown_maps(source, sheet, header_index, header, mapping)
    refuse_missing_essentials(source, sheet, header_index, header, layout, positions, unmatched, route)
    extras = extra_columns(rows, header_index, header, unmatched, layout)
    columns = _column_matches(layout, header, header_index, positions, how, extras, problems, where)
    if title is None:
        title = next((display(c) for r in rows[:header_index] for c in r if c is not None), None)
    plan = Plan(
        meta=new_metadata(
            "master",
            plan_id=new_plan_id(source.read_bytes()),
            title=(title or layout.title).strip()[:200],
            layout_name=layout.name,
            layout_toml=layout_toml,
        ),
        layout=layout,
        actions=[],
        extra_columns=[CentralColumn(e.header, None, e.index) for e in extras],
    )
    skipped, source_rows = read_actions(
        plan, sheet, header_index, positions, extras, ratings, problems, where
    )
    # The kept columns travel as the central team's own columns of the master (xlplan.carry).
    for action in plan.actions:
        action.extra = [action.values.pop(e.field, None) for e in extras]
    if not plan.actions:
        raise XlplanError(
            f"Source {source}: the header is on row {header_index + 1}"
            + (f" of sheet {sheet.name!r}" if sheet.name else "")
            + " but no action rows follow it. Nothing to import."
        )
    check_references(plan, source_rows, positions, problems, where)
    routes, route_problems = plan.routes()
    problems.extend(route_problems)
    services: dict[str, int] = {}
    for service_list in routes.values():
        for service in service_list:
            services[service] = services.get(service, 0) + 1
    problems.extend(similar_services(routes, source_rows, layout, where))
    carried = _carry_other_sheets(plan, sheets, sheet, source, problems)
    source_actions = len(plan.actions)  # what the user counts in their file
    problems.extend(plan.split_joint_actions())
    write_master(plan, output)
    return ImportResult(
        output,
        source_actions,
        services,
        sheet.name,
        header_index + 1,
        problems,
        columns=columns,
        skipped=skipped,
        carried_sheets=carried,
        route_header=layout.column(layout.route).header,
    )


def _plan_sheet(
    source: Path, sheets: list[SourceSheet], layout: Layout, mapping: dict[str, str], problems: list[Problem]
) -> tuple[SourceSheet, tuple]:
    """The sheet holding the plan, and its header: the fullest match of the layout's columns
    wins; between equals, a visible sheet before a hidden copy. An error in words if none."""
    found = None
    for sheet in sheets:
        header = find_header(sheet.rows, layout, mapping)
        if header and (
            found is None
            or (len(header[1]), sheet.state == "visible") > (len(found[1][1]), found[0].state == "visible")
        ):
            found = (sheet, header)
    if found is None:
        left_out = [p.message for p in problems if p.code == "sheet-not-read"]
        raise XlplanError(
            no_header_message(source, sheets, layout) + "".join(f"\n  Not read: {m}" for m in left_out)
        )
    return found


def _column_matches(
    layout: Layout,
    header: list[CellValue],
    header_index: int,
    positions: dict[str, int],
    how: dict[str, str],
    extras: list,
    problems: list[Problem],
    where: dict,
) -> list[ColumnMatch]:
    """How each source column was read, in the source's order: a layout column (and how it
    was matched), or kept as a central column; a layout column the source lacks is said."""
    columns = [
        ColumnMatch(
            display(header[positions[f]]), column_letter(positions[f]), layout.column(f).header, how[f]
        )
        for f in sorted(positions, key=positions.get)
    ]
    for extra in extras:
        columns.append(ColumnMatch(extra.source, column_letter(extra.index), extra.header, "kept"))
        problems.append(
            Problem(
                "column-kept",
                f"source column {extra.source!r} ({extra.filled} filled cell(s)) is not "
                f"in layout {layout.name!r}; it is kept in the master as the central column "
                f"{extra.header!r} (not issued to services). To import it as a layout column, add "
                f'--map "{extra.source}=FIELD".',
                cell=cell_name(header_index, extra.index),
                column=extra.source,
                **where,
            )
        )
    columns.sort(key=lambda c: _letter_index(c.letter))
    for column in layout.columns:
        if column.field not in positions:
            problems.append(
                Problem(
                    "missing-column",
                    f"the source has no column {column.header!r}; it starts empty.",
                    column=column.header,
                    severity="info",
                    **where,
                )
            )
    return columns


def _carry_other_sheets(
    plan: Plan, sheets: list, plan_sheet, source: Path, problems: list[Problem]
) -> list[str]:
    """The source's other sheets, kept in the master as they are; their names."""
    carried = []
    for other in sheets:
        if other is not plan_sheet:
            plan.carried.append(CarriedSheet(_carried_name(other.name), _trim(other.rows), other.state))
            carried.append(other.name or "")
            problems.append(
                Problem(
                    "sheet-kept",
                    f"sheet {other.name!r} ({len(other.rows)} rows) is kept in the master as it is.",
                    file=str(source),
                    sheet=other.name,
                )
            )
    return carried


def _letter_index(letters: str) -> int:
    index = 0
    for char in letters:
        index = index * 26 + ord(char) - 64
    return index


def _carried_name(name: str | None) -> str:
    # The master's own hidden sheet must stay the master's.
    return f"{name} (source)" if name == META_SHEET else (name or "Source")


def _trim(rows: list[list[CellValue]]) -> list[list[CellValue]]:
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return rows


def new_plan(output: Path, *, layout_name: str = "cqc", title: str | None = None) -> Plan:
    layout, layout_toml = load_layout(layout_name)
    plan = Plan(
        meta=new_metadata(
            "master",
            plan_id=new_plan_id(layout_toml.encode()),
            title=title or layout.title,
            layout_name=layout.name,
            layout_toml=layout_toml,
        ),
        layout=layout,
        actions=[],
    )
    write_master(plan, output)
    return plan
