"""The openpyxl script a careful Python user would write: the master loaded, each return
opened read_only, a fill and a comment on each changed cell, a Changes sheet, saved."""

from __future__ import annotations

from .common import CYCLE, returns, same, shown


def run(spec: dict) -> None:
    """What a Python user would write with openpyxl alone."""
    from openpyxl import load_workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    sheet, id_header = spec["sheet"], spec["id_header"]
    master = load_workbook(spec["plan"])
    ws = master[sheet]
    head_row = next(r for r in range(1, 31) if any(c.value == id_header for c in ws[r]))
    header = [c.value for c in ws[head_row]]
    id_col, ref_col = header.index(id_header), header.index(spec["reference_header"])
    cols = {h: header.index(h) for h in spec["service_headers"]}
    rows = {row[id_col].value: row for row in ws.iter_rows(min_row=head_row + 1) if row[id_col].value}
    fill = PatternFill("solid", fgColor="FFEB9C")
    log = []
    for path in returns(spec["inbox"]):
        book = load_workbook(path, read_only=True, data_only=True)
        rs = book[sheet]
        it = rs.iter_rows(values_only=True)
        rheader = None
        for values in it:
            if id_header in values:
                rheader = list(values)
                break
        rid = rheader.index(id_header)
        pairs = [(cols[h], rheader.index(h), h) for h in cols if h in rheader]
        for values in it:
            action_id = values[rid] if rid < len(values) else None
            if not action_id or str(action_id).startswith(spec["spare_prefix"]):
                continue
            row = rows.get(action_id)
            if row is None:
                continue
            for mcol, rcol, column in pairs:
                cell, new = row[mcol], values[rcol]
                if not same(cell.value, new):
                    old = cell.value
                    cell.value = new
                    cell.fill = fill
                    cell.comment = Comment(
                        f"Changed by {path.stem} ({path.name}).\nPrevious value: {shown(old)}"[:2000], "bench"
                    )
                    log.append(
                        [
                            CYCLE,
                            path.stem,
                            path.name,
                            row[ref_col].value,
                            column,
                            old,
                            new,
                            "change",
                            action_id,
                        ]
                    )
        book.close()
    changes = master.create_sheet("Changes")
    changes.append(
        ["Cycle", "Service", "File", "Action", "Column", "Old value", "New value", "Kind", "xlplan ID"]
    )
    for entry in log:
        changes.append(entry)
    master.save(spec["out"])
    print(f"changed={len(log)}")
