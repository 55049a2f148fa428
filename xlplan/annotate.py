"""`validate --annotate`: a copy of each return with every problem cell marked and explained,
for the central team to send back to the service."""

from __future__ import annotations

import shutil
from pathlib import Path

from . import style
from .checks import CheckedReturn
from .errors import XlplanError
from .excel import MAX_NOTE_CHARS, clean_for_cell
from .print_setup import print_openpyxl_table
from .problems import Severity

PROBLEMS_SHEET = "xlplan problems"


def refuse_inbox_as_outdir(outdir: Path, inputs: list[Path]) -> None:
    """Annotated copies never go where the returns are: a copy of CHS.xlsm is CHS.xlsx, which
    would overwrite the service's own file. Checked once, before anything is written."""
    folders = {(p if p.is_dir() else p.parent).resolve() for p in inputs}
    if outdir.resolve() in folders:
        raise XlplanError(
            f"--annotate {outdir} is where the returns are; choose another folder, "
            "so the services' own files are never overwritten.",
            2,
        )


def annotate(checked: CheckedReturn, outdir: Path) -> Path | None:
    """Write the annotated copy; None when the file cannot be read at all.

    An .xlsx or .xlsm is copied with its formatting; an .ods or .xls (which openpyxl cannot
    open) becomes an .xlsx holding its sheets' values, marked the same way."""
    from openpyxl import load_workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    ret = checked.ret
    if ret.unreadable:
        return None
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XlplanError(f"Cannot create {outdir}: {exc.strerror}.") from exc
    refuse_inbox_as_outdir(outdir, [ret.path])
    target = outdir / (ret.path.stem + ".xlsx")
    if ret.path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            # keep_vba=False: macros are never carried; the copy is always a plain .xlsx.
            book = load_workbook(ret.path, keep_vba=False, rich_text=False)
        except Exception:  # noqa: BLE001 - fall back to a plain copy plus the problems sheet
            shutil.copyfile(ret.path, target)
            return target
    else:
        book = values_copy(ret.path)
        if book is None:
            return None
    fills = {
        Severity.ERROR: PatternFill("solid", fgColor=style.PROBLEM_FILL.lstrip("#")),
        Severity.WARNING: PatternFill("solid", fgColor=style.CHANGED_FILL.lstrip("#")),
    }
    notes: dict[str, list[str]] = {}
    worst: dict[str, Severity] = {}
    for problem in checked.problems:
        if problem.cell and problem.sheet == ret.sheet and problem.severity != Severity.INFO:
            notes.setdefault(problem.cell, []).append(f"{problem.severity.upper()}: {problem.message}")
            if worst.get(problem.cell) != Severity.ERROR:
                worst[problem.cell] = problem.severity
    if ret.sheet in book.sheetnames:
        sheet = book[ret.sheet]
        for cell_ref, lines in notes.items():
            cell = sheet[cell_ref]
            cell.fill = fills[worst[cell_ref]]
            comment = Comment(clean_for_cell("\n".join(lines))[:MAX_NOTE_CHARS], "xlplan")
            comment.width, comment.height = 360, 160
            cell.comment = comment
    listing = book.create_sheet(PROBLEMS_SHEET, 0)
    listing.append(["Severity", "Code", "Cell", "Action", "Column", "Value", "What to do"])
    for problem in checked.problems:
        if problem.severity == Severity.INFO:
            continue
        listing.append(
            [
                str(problem.severity),
                problem.code,
                problem.cell,
                problem.action,
                problem.column,
                problem.value,
                problem.message,
            ]
        )
    for letter, width in zip("ABCDEFG", (9, 24, 7, 10, 30, 25, 90), strict=True):
        listing.column_dimensions[letter].width = width
    print_openpyxl_table(listing, 1)
    book.active = 0
    try:
        book.save(target)
        place_notes_where_readers_look(target)
    except OSError as exc:
        raise XlplanError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    return target


def values_copy(path: Path):
    """An openpyxl workbook holding the values of every sheet of `path` (an .ods or .xls),
    each sheet as visible or hidden as it was; None if it cannot be read."""
    from openpyxl import Workbook

    from .safety_gate import UnreadableWorkbook
    from .workbook import open_workbook

    try:
        source = open_workbook(path)
        book = Workbook()
        book.remove(book.active)
        for name in source.sheets:
            sheet = book.create_sheet(name[:31])
            for row in source.rows(name):
                sheet.append([clean_for_cell(v) if isinstance(v, str) else v for v in row])
            state = source.hidden.get(name, "visible")
            sheet.sheet_state = "veryHidden" if state == "veryhidden" else state
    except UnreadableWorkbook:
        return None
    if not book.sheetnames:
        return None
    return book


# Where tools built on ExcelJS look for notes: it indexes only parts named xl/commentsN.xml
# and xl/drawings/vmlDrawingN.vml, and looks them up by the relationship's target taken
# literally ("../commentsN.xml"). openpyxl writes xl/comments/commentN.xml and
# xl/drawings/commentsDrawingN.vml with absolute targets, which such tools fail on
# ("Cannot read properties of undefined (reading 'comments')"). Excel, LibreOffice and
# openpyxl read either layout.
_COMMENTS_TYPE = "/relationships/comments"
_VML_TYPE = "/relationships/vmlDrawing"


def place_notes_where_readers_look(path: Path) -> None:
    """Move the notes parts of an openpyxl-written workbook to the names Excel itself uses."""
    import posixpath
    import zipfile
    from xml.etree import ElementTree

    rel_ns = "http://schemas.openxmlformats.org/package/2006/relationships"
    types_ns = "http://schemas.openxmlformats.org/package/2006/content-types"
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    renames: dict[str, str] = {}
    new_rels: dict[str, bytes] = {}
    counters = {_COMMENTS_TYPE: 0, _VML_TYPE: 0}
    for name in sorted(parts):
        if not (name.startswith("xl/worksheets/_rels/") and name.endswith(".rels")):
            continue
        ElementTree.register_namespace("", rel_ns)
        tree = ElementTree.fromstring(parts[name])
        changed = False
        for rel in tree:
            kind = next((k for k in counters if rel.get("Type", "").endswith(k)), None)
            if kind is None or rel.get("TargetMode") == "External":
                continue
            target = rel.get("Target", "")
            old = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join("xl/worksheets", target))
            )
            if old not in parts:
                continue
            counters[kind] += 1
            new = (
                f"xl/comments{counters[kind]}.xml"
                if kind == _COMMENTS_TYPE
                else f"xl/drawings/vmlDrawing{counters[kind]}.vml"
            )
            renames[old] = new
            rel.set("Target", posixpath.relpath(new, "xl/worksheets"))
            changed = True
        if changed:
            new_rels[name] = ElementTree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    if not renames or any(new in parts and new not in renames for new in renames.values()):
        return
    ElementTree.register_namespace("", types_ns)
    types = ElementTree.fromstring(parts["[Content_Types].xml"])
    for override in types:
        part = override.get("PartName", "").lstrip("/")
        if part in renames:
            override.set("PartName", "/" + renames[part])
    new_rels["[Content_Types].xml"] = ElementTree.tostring(types, xml_declaration=True, encoding="UTF-8")
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(renames.get(name, name), new_rels.get(name, data))
    tmp.replace(path)
