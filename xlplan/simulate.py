"""Filling in a template the way a service does, for the bundled examples, demos and tests.

Edits go through openpyxl, which keeps the template's protection, validations and hidden
sheets; like a person in Excel, it can only type into unlocked cells unless `unprotect`
is given (which is what a service that removes the sheet protection does).
"""

from __future__ import annotations

from pathlib import Path

from .excel import display
from .layout import Layout
from .masterread import read_metadata
from .metadata import ID_HEADER, SPARE_PREFIX
from .plan import layout_of
from .workbook import open_workbook


def fill_in(
    template: Path,
    output: Path,
    edits: dict[tuple[str, str], object],
    *,
    proposals: list[dict[str, object]] = (),
    unprotect: bool = False,
) -> None:
    """Write `output`: `template` with `edits[(action reference, field)] = value` typed in."""
    from openpyxl import load_workbook

    meta = read_metadata(open_workbook(template))
    if meta is None:
        raise ValueError(f"{template} is not an xlplan template")
    layout: Layout = layout_of(meta, str(template))
    book = load_workbook(template)
    sheet = book[layout.sheet]
    header_row = meta.header_row
    header = [display(c.value) for c in sheet[header_row]]
    col_of = {c.field: header.index(c.header) + 1 for c in layout.columns}
    id_col = header.index(ID_HEADER) + 1
    row_of: dict[str, int] = {}
    spare_rows: list[int] = []
    for row in range(header_row + 1, sheet.max_row + 1):
        action_id = display(sheet.cell(row, id_col).value)
        if action_id.startswith(SPARE_PREFIX):
            spare_rows.append(row)
            continue
        ref = display(sheet.cell(row, col_of[layout.reference]).value)
        row_of.setdefault(ref, row)
    if unprotect:
        sheet.protection.sheet = False
    for (ref, field_name), value in edits.items():
        cell = sheet.cell(row_of[ref], col_of[field_name])
        if sheet.protection.sheet and cell.protection.locked:
            # A service cannot type there either; pass unprotect=True to edit as someone who
            # removed the protection would.
            raise ValueError(f"{cell.coordinate} ({field_name} of {ref}) is locked")
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"  # text a service types is never a formula
    for proposal, row in zip(proposals, spare_rows, strict=False):
        for field_name, value in proposal.items():
            cell = sheet.cell(row, col_of[field_name])
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"
    output.parent.mkdir(parents=True, exist_ok=True)
    book.save(output)
