"""The yardstick for `xlplan template`: a plain script where python-calamine reads the master
and XlsxWriter writes the same workbooks directly (the same sheets, cells, formats, row
heights, validations, conditional formats, notes, sheet and structure protection, and the
very hidden issued-values and metadata sheets). tests/test_bench.py checks the cells match."""

from __future__ import annotations

from pathlib import Path

from .common import CYCLE, header_index

MASTER_ONLY = {"due", "last_cycle", "last_merged_at", "rejected_proposals"}


def run(spec: dict) -> None:
    """Plain XlsxWriter: the workbooks `xlplan template` writes, written directly."""
    import datetime as dt
    import re as re_

    import python_calamine as calamine
    import xlsxwriter

    class Workbook(xlsxwriter.Workbook):
        def _write_workbook_pr(self) -> None:  # structure protection, as xlplan adds it
            super()._write_workbook_pr()
            self._xml_empty_tag("workbookProtection", [("lockStructure", "1")])

    book = calamine.CalamineWorkbook.from_path(spec["plan"])
    rows = book.get_sheet_by_name(spec["sheet"]).to_python(skip_empty_area=False)
    meta_rows = [r[:2] for r in book.get_sheet_by_name("_xlplan").to_python() if r and r[0]]
    # What the master keeps of its own cycle; a template states its own (none unless --due).
    columns, ratings = spec["columns"], spec["ratings"]
    head = header_index(rows, spec["id_header"])
    header = rows[head]
    id_col = header.index(spec["id_header"])
    col_at = [header.index(c["header"]) for c in columns]
    route_col = header.index(spec["route_header"])
    ref_col = header.index(spec["reference_header"])
    actions = [r for r in rows[head + 1 :] if any(r[i] not in ("", None) for i in col_at)]

    # Routing: the route cell split on its separators; blank inherits from the parent reference.
    by_ref: dict[str, list] = {}
    for r in actions:
        by_ref.setdefault(str(r[ref_col]).strip().rstrip("."), r)
    groups: dict[str, list] = {}
    for r in actions:
        route = str(r[route_col] or "").strip()
        ref = str(r[ref_col]).strip().rstrip(".")
        while not route and "." in ref:
            ref = ref.rsplit(".", 1)[0]
            route = str((by_ref.get(ref) or [""] * len(r))[route_col] or "").strip()
        names = [route]
        for sep in spec["route_separators"]:
            names = [part.strip() for name in names for part in name.split(sep)]
        for name in [n for n in names if n] or ["Unassigned"]:
            groups.setdefault(name, []).append(r)

    def height(values, minimum: float = 15) -> float:
        lines = 1
        for value, column in zip(values, columns, strict=True):
            if isinstance(value, str) and value:
                per = max(int(column["width"] * 1.2) - 1, 4)
                lines = max(lines, sum(max(1, -(-len(p) // per)) for p in value.split("\n")))
        return min(409, max(minimum, lines * 12.75 + 3))

    outdir = Path(spec["outdir"])
    outdir.mkdir(parents=True, exist_ok=True)
    issued_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    for service, members in groups.items():
        name = re_.sub(r'[<>:"/\\|?*\x00-\x1f]', "-", service).strip(" .")[:100] or "service"
        wb = Workbook(
            str(outdir / f"{name}.xlsx"),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
                "default_date_format": "dd/mm/yyyy",
            },
        )
        base = {"font_name": "Arial", "font_size": 10, "valign": "top"}

        def fmt(_wb=wb, _base=base, **props):
            return _wb.add_format({**_base, **props})

        cell_fmt = []
        for c in columns:
            props = {
                "text_wrap": True,
                "border": 1,
                "border_color": "#BFBFBF",
                "locked": c["owner"] != "service",
            }
            if c["owner"] != "service":
                props.update(bg_color="#F2F2F2", font_color="#404040")
            if c["type"] == "date":
                props.update(num_format="dd/mm/yyyy", align="left")
            if c["type"] in ("rating", "reference"):
                props["align"] = "center"
            cell_fmt.append(fmt(**props))
        id_fmt = fmt(locked=True, font_color="#808080")
        spare_fmt = [
            fmt(
                text_wrap=True,
                border=1,
                border_color="#BFBFBF",
                locked=False,
                bg_color="#E2EFDA",
                **({"num_format": "dd/mm/yyyy"} if c["type"] == "date" else {}),
            )
            for c in columns
        ]
        # The plan sheet.
        ws = wb.add_worksheet(spec["sheet"])
        n = len(columns)
        for i, c in enumerate(columns):
            ws.set_column(i, i, c["width"])
        ws.set_column(n, n, 10, None, {"hidden": True})
        ws.write_string(0, 0, f"{spec['title']} — {service}", fmt(bold=True, font_size=14, valign="vcenter"))
        ws.write_string(
            1,
            0,
            f"Cycle {CYCLE} · return date: as agreed · type only in the white "
            "columns; grey columns are read-only. See the Guidance sheet.",
            fmt(italic=True, valign="vcenter"),
        )
        ws.set_row(2, height([c["header"] for c in columns], minimum=30))
        for i, c in enumerate(columns):
            ws.write_string(
                2,
                i,
                c["header"],
                fmt(
                    bold=True,
                    text_wrap=True,
                    border=1,
                    border_color="#BFBFBF",
                    bg_color="#DDEBF7" if c["owner"] == "service" else "#D9D9D9",
                ),
            )
        ws.write_string(
            2,
            n,
            spec["id_header"],
            fmt(bold=True, text_wrap=True, border=1, border_color="#BFBFBF", bg_color="#D9D9D9"),
        )
        r = 2
        for row in members:
            r += 1
            values = [row[i] for i in col_at]
            ws.set_row(r, height(values))
            for i, value in enumerate(values):
                if value in ("", None):
                    ws.write_blank(r, i, None, cell_fmt[i])
                elif isinstance(value, (dt.date, dt.datetime)):
                    ws.write_datetime(r, i, value, cell_fmt[i])
                else:
                    ws.write_string(r, i, str(value), cell_fmt[i])
            ws.write_string(r, n, str(row[id_col]), id_fmt)
        for spare in range(1, 6):
            r += 1
            for i in range(n):
                ws.write_blank(r, i, None, spare_fmt[i])
            ws.write_string(r, n, f"{spec['spare_prefix']}{spare}", fmt(locked=True))
            if spare == 1:  # while it is the current row: constant_memory drops earlier rows' notes
                ws.write_comment(
                    r,
                    0,
                    "Spare rows: propose a new action here. Fill in the "
                    "reference, the requirement and your action; the central team "
                    "will review it.",
                    {"author": "xlplan", "x_scale": 2},
                )
        scale = [x["value"] for x in ratings]
        for i, c in enumerate(columns):
            if c["type"] == "rating":
                options = {
                    "validate": "list",
                    "source": scale,
                    "error_type": "stop",
                    "error_title": "Pick a rating from the list",
                    "error_message": (
                        "Ratings are: " + ", ".join(f"{x['value']} ({x['meaning']})" for x in ratings)
                    )[:254],
                }
            elif c["type"] == "date":
                options = {
                    "validate": "date",
                    "criteria": "between",
                    "minimum": dt.date(1990, 1, 1),
                    "maximum": dt.date(2100, 12, 31),
                    "error_type": "warning",
                    "error_title": "Is this a date?",
                    "error_message": "Type a date day first, such as 31/03/2025.",
                }
            elif c["help"]:
                options = {"validate": "any"}
            else:
                continue
            if c["help"]:
                options.update(input_title=c["header"][:32], input_message=c["help"][:255])
            ws.data_validation(3, i, r, i, options)
            if c["type"] == "rating":
                for x in ratings:
                    ws.conditional_format(
                        3,
                        i,
                        r,
                        i,
                        {
                            "type": "cell",
                            "criteria": "==",
                            "value": f'"{x["value"]}"',
                            "format": wb.add_format({"bg_color": x["fill"], "font_color": x["font"]}),
                        },
                    )
        ws.freeze_panes(3, 0)
        ws.autofilter(2, 0, r, n)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0, 2)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        ws.set_footer(f"&L{service} · cycle {CYCLE}&RPage &P of &N")
        ws.protect(
            "",
            {
                "autofilter": True,
                "format_columns": True,
                "format_rows": True,
                "select_locked_cells": True,
                "select_unlocked_cells": True,
            },
        )
        ws.activate()
        # Guidance.
        guide = wb.add_worksheet("Guidance")
        guide.set_column(0, 0, 28)
        guide.set_column(1, 1, 90)
        wrap, bold = fmt(text_wrap=True), fmt(bold=True, text_wrap=True)
        guide.write_string(
            0, 0, f"{spec['title']}: how to fill in this workbook", fmt(bold=True, font_size=14)
        )
        g = 2
        for label, text in (
            ("Service", service),
            ("Cycle", CYCLE),
            ("Return by", "as agreed with the central team"),
            ("Your actions", f"{len(members)} on the {spec['sheet']!r} sheet"),
        ):
            guide.write_string(g, 0, label, bold)
            guide.write_string(g, 1, text, wrap)
            g += 1
        g += 1
        guide.write_string(g, 0, "What to do", bold)
        for number, text in enumerate(GUIDANCE_STEPS, start=1):
            guide.write_string(g, 1, f"{number}. {text}", wrap)
            g += 1
        g += 1
        guide.write_string(g, 0, "Your columns", bold)
        for c in columns:
            if c["owner"] == "service":
                guide.write_string(g, 1, c["header"] + (f" — {c['help']}" if c["help"] else ""), wrap)
                g += 1
        g += 1
        guide.write_string(g, 0, "Rating scale", bold)
        for x in ratings:
            guide.write_string(
                g,
                0,
                x["value"],
                fmt(bold=True, bg_color=x["fill"], font_color=x["font"], align="center", border=1),
            )
            guide.write_string(g, 1, x["meaning"] + (" — complete" if x["complete"] else ""), wrap)
            g += 1
        guide.protect("", {"select_locked_cells": True, "select_unlocked_cells": True})
        # The values as issued, and the metadata: very hidden.
        issued = wb.add_worksheet("_xlplan_issued")
        issued.write_string(0, 0, spec["id_header"])
        for i, c in enumerate(columns, start=1):
            issued.write_string(0, i, c["field"])
        for k, row in enumerate(members, start=1):
            issued.write_string(k, 0, str(row[id_col]))
            for i, col in enumerate(col_at, start=1):
                value = row[col]
                if isinstance(value, (dt.date, dt.datetime)):
                    issued.write_datetime(k, i, value)
                elif value not in ("", None):
                    issued.write_string(k, i, str(value))
        issued.very_hidden()
        meta = wb.add_worksheet("_xlplan")
        overrides = {
            "kind": "template",
            "cycle": CYCLE,
            "service": service,
            "issued_at": issued_at,
            "spare_rows": "5",
        }
        k = 0
        for key, value in meta_rows:
            if key in MASTER_ONLY:
                continue
            meta.write_string(k, 0, str(key))
            meta.write_string(k, 1, overrides.pop(key, str(value)))
            k += 1
        for key, value in overrides.items():
            meta.write_string(k, 0, key)
            meta.write_string(k, 1, value)
            k += 1
        meta.very_hidden()
        wb.close()
    print(f"workbooks={len(groups)}")


GUIDANCE_STEPS = [
    "Type only in the white columns. Grey columns belong to the central team or the committee: "
    "they are locked, and changes to them are refused when the file comes back.",
    "Pick ratings from the dropdown; other values are refused. The scale is below.",
    "A Purple or Blue rating (complete) needs evidence or a comment saying where the evidence is.",
    "To propose a new action, use the green spare rows below your actions.",
    "Do not add, delete or move rows or sheets, rename the file's sheets, or copy the actions into "
    "another workbook: the file carries hidden information xlplan needs to merge it.",
    "Save as Excel Workbook (.xlsx) and send the file back. Renaming the file is fine.",
]
