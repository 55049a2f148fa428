"""The floor: the least work the job needs. python-calamine reads every sheet of every return
and of the master, a plain comparison finds the changed cells, and XlsxWriter
(constant_memory) writes one workbook of the consolidated size: the plan rows with the changed
cells filled and noted, and a Changes sheet. It checks nothing."""

from __future__ import annotations

import time

from .common import CYCLE, header_index, returns, same, shown


def run(spec: dict) -> None:
    """The least work the job needs: read everything with calamine, compare, write once."""
    import datetime as dt

    import python_calamine as calamine
    import xlsxwriter

    def read_all(path) -> dict[str, list[list]]:
        book = calamine.CalamineWorkbook.from_path(str(path))
        return {
            name: book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in book.sheet_names
        }

    clock = time.perf_counter()
    sheet, id_header = spec["sheet"], spec["id_header"]
    master = read_all(spec["plan"])
    rows = master[sheet]
    head = header_index(rows, id_header)
    header = rows[head]
    id_col = header.index(id_header)
    ref_col = header.index(spec["reference_header"])
    master_cols = [header.index(h) for h in spec["service_headers"]]
    by_id = {row[id_col]: row for row in rows[head + 1 :] if id_col < len(row) and row[id_col]}
    changed: dict[tuple[str, int], str] = {}
    log: list[list] = []
    for path in returns(spec["inbox"]):
        sheets = read_all(path)
        ret = sheets.get(sheet) or next(iter(sheets.values()))
        rhead = header_index(ret, id_header)
        rheader = ret[rhead]
        rid = rheader.index(id_header)
        pairs = [
            (m, rheader.index(h), h)
            for m, h in zip(master_cols, spec["service_headers"], strict=True)
            if h in rheader
        ]
        service = next((r[1] for r in sheets.get("_xlplan", []) if r and r[0] == "service"), path.stem)
        for row in ret[rhead + 1 :]:
            action_id = row[rid] if rid < len(row) else None
            if not action_id or str(action_id).startswith(spec["spare_prefix"]):
                continue
            target = by_id.get(action_id)
            if target is None:
                continue
            for mcol, rcol, column in pairs:
                new, old = row[rcol], target[mcol]
                if not same(new, old):
                    target[mcol] = new
                    changed[(action_id, mcol)] = (
                        f"Changed by {service} ({path.name}).\nPrevious value: {shown(old)}"
                    )[:2000]
                    log.append(
                        [CYCLE, service, path.name, target[ref_col], column, old, new, "change", action_id]
                    )

    read_done = time.perf_counter()
    book = xlsxwriter.Workbook(
        spec["out"],
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    plain = book.add_format({"text_wrap": True, "valign": "top"})
    marked = book.add_format({"text_wrap": True, "valign": "top", "bg_color": "#FFEB9C"})
    date = book.add_format({"num_format": "dd/mm/yyyy", "valign": "top"})

    def put(ws, r: int, c: int, value, fmt) -> None:
        if value is None or value == "":
            if fmt is marked:
                ws.write_blank(r, c, None, fmt)
        elif isinstance(value, str):
            ws.write_string(r, c, value, fmt)
        elif isinstance(value, bool):
            ws.write_boolean(r, c, value, fmt)
        elif isinstance(value, (int, float)):
            ws.write_number(r, c, value, fmt)
        elif isinstance(value, (dt.date, dt.datetime)):
            ws.write_datetime(
                r, c, value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time()), date
            )
        else:
            ws.write_string(r, c, str(value), fmt)

    ws = book.add_worksheet(sheet)
    for r, row in enumerate(rows):
        action_id = row[id_col] if r > head and id_col < len(row) else None
        for c, value in enumerate(row):
            note = changed.get((action_id, c)) if action_id else None
            put(ws, r, c, value, marked if note else plain)
            if note:
                ws.write_comment(r, c, note, {"author": "bench", "x_scale": 2.2, "y_scale": 1.6})
    changes = book.add_worksheet("Changes")
    for c, text in enumerate(
        ["Cycle", "Service", "File", "Action", "Column", "Old value", "New value", "Kind", "xlplan ID"]
    ):
        changes.write_string(0, c, text)
    for r, entry in enumerate(log, start=1):
        for c, value in enumerate(entry):
            put(changes, r, c, value, plain)
    book.close()
    done = time.perf_counter()
    print(
        f"changed={len(log)} cells={len(changed)} read+compare={read_done - clock:.2f}s "
        f"write={done - read_done:.2f}s"
    )
