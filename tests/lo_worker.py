"""LibreOffice UNO worker: runs under the system python that has ``uno`` (Debian's
/usr/bin/python3), never under the test venv.

The test harness (tests/libreoffice.py) starts one headless soffice, then this worker,
and talks to it over stdin/stdout, one JSON object per line:

    request:  {"id": 7, "op": "type_into", "args": {"doc": 1, "sheet": "Action plan",
               "cell": "M4", "text": "done"}}
    answer:   {"id": 7, "ok": true, "result": {...}}
           or {"id": 7, "ok": false, "error": "...", "kind": "IllegalArgumentException",
               "crashed": false, "traceback": "..."}

``crashed`` is true when the UNO bridge died, i.e. soffice is gone; the harness then
restarts soffice and this worker.  Everything printed by UNO or by soffice goes to
stderr: stdout is reserved for the answers.

Only the standard library and ``uno``/``unohelper`` are used, so the file runs on any
python3 that LibreOffice's python3-uno supports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

import uno
import unohelper
from com.sun.star.beans import PropertyValue
from com.sun.star.task import XInteractionHandler

# The answers go to the real stdout; anything else that writes to fd 1 (a library
# warning, a print left in by mistake) is sent to stderr so it cannot corrupt the
# protocol.
_ANSWERS = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

FILTERS = {
    "xlsx": "Calc MS Excel 2007 XML",
    "xls": "MS Excel 97",
    "ods": "calc8",
    "pdf": "calc_pdf_Export",
    "csv": "Text - txt - csv (StarCalc)",
}

# The Calc "input line" (formula bar) is child window 26100 (FID_INPUT_LINE_STATUS).
# The -nogui packages ship no modules/scalc/ui/*.ui files, so the first time the view
# moves its cell cursor an idle timer tries to build the input line from
# modules/scalc/ui/posbox.ui, fails, and soffice aborts (SIGABRT in
# Scheduler::CallbackTaskScheduling) a few hundred ms later.  Marking the child window
# invisible in the configuration, before the first Calc document is loaded, stops it
# from ever being created.
INPUT_LINE_CHILD_WINDOW = "26100"

ROLE_ALERT = 1
ROLE_DIALOG = 12
ROLE_FRAME = 49
ROLE_PUSH_BUTTON = 44


_CF_OPERATORS = (
    "EQUAL LESS GREATER LESS_EQUAL GREATER_EQUAL NOT_EQUAL BETWEEN NOT_BETWEEN DUPLICATE "
    "UNIQUE ERROR NO_ERROR TOP_N_ELEMENTS BOTTOM_N_ELEMENTS TOP_N_PERCENT BOTTOM_N_PERCENT "
    "ABOVE_AVERAGE BELOW_AVERAGE ABOVE_EQUAL_AVERAGE BELOW_EQUAL_AVERAGE BEGINS_WITH "
    "ENDS_WITH CONTAINS NOT_CONTAINS EXPRESSION"
).split()
_CF_ENTRY_TYPES = "CONDITION COLORSCALE DATABAR ICONSET DATE".split()


def _constant_names(group, names):
    """{value: name} for the UNO constants group ``group`` (looked up, not assumed)."""
    out = {}
    for name in names:
        try:
            out[uno.getConstantByName(f"{group}.{name}")] = name
        except Exception:
            pass
    return out


CF_OPERATORS = _constant_names("com.sun.star.sheet.ConditionFormatOperator", _CF_OPERATORS)
CF_ENTRY_TYPES = _constant_names("com.sun.star.sheet.ConditionEntryType", _CF_ENTRY_TYPES)


def pv(name, value):
    prop = PropertyValue()
    prop.Name = name
    prop.Value = value
    return prop


def enum_name(value):
    return getattr(value, "value", value)


def hex_colour(value):
    if value is None or value < 0:
        return None
    return "#%06x" % (value & 0xFFFFFF)


def a1(col, row):
    """0-based column/row -> A1."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


def range_a1(addr):
    start = a1(addr.StartColumn, addr.StartRow)
    end = a1(addr.EndColumn, addr.EndRow)
    return start if start == end else f"{start}:{end}"


class WorkerError(Exception):
    """A request the worker refuses (bad argument, unknown document...)."""


class RecordingHandler(unohelper.Base, XInteractionHandler):
    """Answers LibreOffice's load-time questions the way a user clicking the default
    button would (approve: "yes, repair"), and records every question asked.  An empty
    record means the file loaded without LibreOffice asking anything."""

    def __init__(self):
        self.requests = []

    def handle(self, request):
        req = request.Request
        kind = getattr(getattr(req, "__class__", None), "__name__", type(req).__name__)
        message = getattr(req, "Message", "") or ""
        entry = {"request": kind, "message": message}
        for attr in ("ErrCode", "Classification", "Name", "DocumentURL"):
            if hasattr(req, attr):
                entry[attr] = str(enum_name(getattr(req, attr)))
        options = []
        chosen = None
        for cont in request.Continuations:
            names = [t.typeName for t in getattr(cont, "Types", ())]
            label = next((n.rsplit("XInteraction", 1)[-1] for n in names if "XInteraction" in n), "?")
            options.append(label)
            if chosen is None and label == "Approve":
                chosen = cont
        if chosen is None:
            for cont in request.Continuations:
                names = [t.typeName for t in getattr(cont, "Types", ())]
                if any(n.endswith("XInteractionAbort") for n in names):
                    chosen = cont
        entry["options"] = options
        self.requests.append(entry)
        if chosen is not None:
            chosen.select()


class Worker:
    def __init__(self, pipe, connect_timeout):
        self.local = uno.getComponentContext()
        resolver = self.local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", self.local
        )
        deadline = time.monotonic() + connect_timeout
        last = None
        while True:
            try:
                self.ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
                break
            except Exception as exc:  # NoConnectException until soffice listens
                last = exc
                if time.monotonic() > deadline:
                    raise RuntimeError(f"could not connect to soffice on pipe {pipe}: {last}") from None
                time.sleep(0.05)
        self.smgr = self.ctx.ServiceManager
        self.desktop = self.smgr.createInstanceWithContext("com.sun.star.frame.Desktop", self.ctx)
        self.dispatcher = self.smgr.createInstanceWithContext("com.sun.star.frame.DispatchHelper", self.ctx)
        self.toolkit = self.smgr.createInstanceWithContext("com.sun.star.awt.Toolkit", self.ctx)
        self.docs = {}
        self.next_id = 1
        self._hide_input_line()

    # ---------------------------------------------------------------- plumbing

    def _hide_input_line(self):
        provider = self.smgr.createInstanceWithContext(
            "com.sun.star.configuration.ConfigurationProvider", self.ctx
        )
        windows = provider.createInstanceWithArguments(
            "com.sun.star.configuration.ConfigurationUpdateAccess",
            (pv("nodepath", "/org.openoffice.Office.Views/Windows"),),
        )
        if not windows.hasByName(INPUT_LINE_CHILD_WINDOW):
            windows.insertByName(INPUT_LINE_CHILD_WINDOW, windows.createInstance())
        windows.getByName(INPUT_LINE_CHILD_WINDOW).Visible = False
        windows.commitChanges()

    def _doc(self, doc):
        try:
            return self.docs[int(doc)]
        except (KeyError, TypeError, ValueError):
            raise WorkerError(f"no open document with handle {doc!r}") from None

    def _sheet(self, doc, sheet):
        sheets = self._doc(doc).Sheets
        if isinstance(sheet, int):
            return sheets.getByIndex(sheet)
        if not sheets.hasByName(sheet):
            raise WorkerError(f"no sheet {sheet!r}; the sheets are {list(sheets.ElementNames)}")
        return sheets.getByName(sheet)

    def _cell(self, doc, sheet, cell):
        return self._sheet(doc, sheet).getCellRangeByName(cell)

    def _dialogs(self, close=True):
        """Texts of the message boxes/dialogs LibreOffice has open; closes them.

        A headless soffice still builds its message boxes (e.g. "Protected cells can
        not be modified.") as hidden top-level windows.  Leaving one open makes the next
        one abort soffice, so every dispatch is followed by this sweep."""
        found = []
        count = self.toolkit.getTopWindowCount()
        windows = [self.toolkit.getTopWindow(i) for i in range(count)]
        for win in windows:
            try:
                ctx = win.AccessibleContext
                role = ctx.AccessibleRole
            except Exception:
                continue
            if role not in (ROLE_ALERT, ROLE_DIALOG):
                continue
            texts = []
            self._texts(win, texts, depth=0)
            found.append({"title": ctx.AccessibleName, "texts": texts})
            if close:
                win.dispose()
        return found

    def _texts(self, acc, out, depth):
        ctx = acc.getAccessibleContext()
        if ctx.AccessibleRole != ROLE_PUSH_BUTTON and depth > 0:
            name = ctx.AccessibleName
            if name and name not in out:
                out.append(name)
        if depth < 6:
            for i in range(min(ctx.AccessibleChildCount, 40)):
                self._texts(ctx.getAccessibleChild(i), out, depth + 1)

    def _dispatch(self, frame, command, **args):
        props = tuple(pv(k, v) for k, v in args.items())
        return self.dispatcher.executeDispatch(frame, command, "", 0, props)

    # ---------------------------------------------------------------- operations

    def op_set_locale(self, locale):
        """The locale LibreOffice reads typed numbers and dates in ("en-GB": 30/06/2017
        is a date; the default, from LANG, is usually en-US where it is text)."""
        provider = self.smgr.createInstanceWithContext(
            "com.sun.star.configuration.ConfigurationProvider", self.ctx
        )
        l10n = provider.createInstanceWithArguments(
            "com.sun.star.configuration.ConfigurationUpdateAccess",
            (pv("nodepath", "/org.openoffice.Setup/L10N"),),
        )
        l10n.ooSetupSystemLocale = locale
        l10n.commitChanges()
        return locale

    def op_hello(self):
        provider = self.smgr.createInstanceWithContext(
            "com.sun.star.configuration.ConfigurationProvider", self.ctx
        )
        product = provider.createInstanceWithArguments(
            "com.sun.star.configuration.ConfigurationAccess",
            (pv("nodepath", "/org.openoffice.Setup/Product"),),
        )
        return {
            "product": product.ooName,
            "version": product.ooSetupVersionAboutBox,
            "python": sys.version.split()[0],
        }

    def op_open(self, path, read_only=False):
        url = uno.systemPathToFileUrl(os.path.abspath(path))
        handler = RecordingHandler()
        props = (pv("Hidden", True), pv("InteractionHandler", handler))
        if read_only:
            # Only when asked: an explicit ReadOnly=False makes LibreOffice skip the
            # "repair this file?" question and just fail on a broken package.
            props += (pv("ReadOnly", True),)
        try:
            component = self.desktop.loadComponentFromURL(url, "_blank", 0, props)
        except Exception as exc:
            raise WorkerError(
                f"LibreOffice could not load {path}: {exc}; it asked: {handler.requests}"
            ) from None
        if component is None:
            raise WorkerError(f"LibreOffice did not load {path}; it asked: {handler.requests}")
        if not component.supportsService("com.sun.star.sheet.SpreadsheetDocument"):
            component.close(True)
            raise WorkerError(f"{path} did not open as a spreadsheet")
        doc_id = self.next_id
        self.next_id += 1
        self.docs[doc_id] = component
        return {
            "doc": doc_id,
            "sheets": list(component.Sheets.ElementNames),
            "interactions": handler.requests,
            "dialogs": self._dialogs(),
        }

    def op_close(self, doc):
        component = self.docs.pop(int(doc), None)
        if component is not None:
            component.close(True)
        return None

    def op_documents(self):
        return sorted(self.docs)

    def op_sheets(self, doc):
        out = []
        for i, sheet in enumerate(self._doc(doc).Sheets):
            out.append(
                {
                    "index": i,
                    "name": sheet.Name,
                    "visible": bool(sheet.IsVisible),
                    "protected": bool(sheet.isProtected()),
                    "tab_colour": hex_colour(sheet.TabColor),
                }
            )
        return out

    def op_document_protected(self, doc):
        return bool(self._doc(doc).isProtected())

    def op_type_into(self, doc, sheet, cell, text):
        """Type ``text`` into ``cell`` the way a person does: make the sheet active, move
        the cell cursor there (Name Box / GoToCell) and enter the text.  This goes
        through the view, so sheet protection applies, unlike cell.setString()."""
        component = self._doc(doc)
        target = self._sheet(doc, sheet)
        controller = component.CurrentController
        before = target.getCellRangeByName(cell).String
        leftovers = self._dialogs()
        if controller.ActiveSheet.Name != target.Name:
            controller.setActiveSheet(target)
        frame = controller.Frame
        self._dispatch(frame, ".uno:GoToCell", ToPoint=cell)
        selected = controller.Selection
        where = getattr(selected, "AbsoluteName", None)
        self._dispatch(frame, ".uno:EnterString", StringName=text)
        dialogs = self._dialogs()
        after = target.getCellRangeByName(cell).String
        return {
            "before": before,
            "after": after,
            "cursor": where,
            "dialogs": dialogs,
            "earlier_dialogs": leftovers,
        }

    def op_dispatch(self, doc, command, args=None):
        frame = self._doc(doc).CurrentController.Frame
        result = self._dispatch(frame, command, **(args or {}))
        return {"state": getattr(result, "State", None), "dialogs": self._dialogs()}

    def op_select_sheet(self, doc, sheet):
        component = self._doc(doc)
        component.CurrentController.setActiveSheet(self._sheet(doc, sheet))
        return component.CurrentController.ActiveSheet.Name

    def op_cell(self, doc, sheet, cell):
        c = self._cell(doc, sheet, cell)
        kind = enum_name(c.Type)
        return {
            "string": c.String,
            "value": c.Value,
            "formula": c.Formula,
            "type": kind,
            "locked": bool(c.CellProtection.IsLocked),
        }

    def op_cell_string(self, doc, sheet, cell):
        return self._cell(doc, sheet, cell).String

    def op_range_strings(self, doc, sheet, rng):
        return [list(row) for row in self._cell(doc, sheet, rng).getDataArray()]

    def op_used_range(self, doc, sheet):
        target = self._sheet(doc, sheet)
        cursor = target.createCursor()
        cursor.gotoStartOfUsedArea(False)
        cursor.gotoEndOfUsedArea(True)
        addr = cursor.RangeAddress
        return {"range": range_a1(addr), "rows": addr.EndRow + 1, "columns": addr.EndColumn + 1}

    def op_is_protected(self, doc, sheet):
        return bool(self._sheet(doc, sheet).isProtected())

    def op_unprotect(self, doc, sheet, password=""):
        """Try to lift the sheet protection with ``password`` (what anyone can do from
        Tools > Protect Sheet); returns whether the sheet is unprotected afterwards."""
        target = self._sheet(doc, sheet)
        try:
            target.unprotect(password)
        except Exception:
            pass
        return not target.isProtected()

    def op_cell_protection(self, doc, sheet, cell):
        prot = self._cell(doc, sheet, cell).CellProtection
        return {
            "locked": bool(prot.IsLocked),
            "formula_hidden": bool(prot.IsFormulaHidden),
            "hidden": bool(prot.IsHidden),
            "print_hidden": bool(prot.IsPrintHidden),
        }

    def op_validation(self, doc, sheet, cell):
        val = self._cell(doc, sheet, cell).Validation
        return {
            "type": enum_name(val.Type),
            "operator": enum_name(val.Operator),
            "formula1": val.Formula1,
            "formula2": val.Formula2,
            "show_error": bool(val.ShowErrorMessage),
            "alert_style": enum_name(val.ErrorAlertStyle),
            "error_title": val.ErrorTitle,
            "error_message": val.ErrorMessage,
            "show_input": bool(val.ShowInputMessage),
            "input_title": val.InputTitle,
            "input_message": val.InputMessage,
            "ignore_blank": bool(val.IgnoreBlankCells),
            "show_list": int(val.ShowList),
        }

    def _style_colours(self, component, style_name):
        styles = component.StyleFamilies.getByName("CellStyles")
        if not style_name or not styles.hasByName(style_name):
            return {}
        style = styles.getByName(style_name)
        return {
            "background": None if style.IsCellBackgroundTransparent else hex_colour(style.CellBackColor),
            "font_colour": hex_colour(style.CharColor),
        }

    def op_conditional_formats(self, doc, sheet):
        """Every conditional format of the sheet: its ranges and its entries (condition,
        operator, formulas, the cell style applied and that style's colours)."""
        component = self._doc(doc)
        target = self._sheet(doc, sheet)
        out = []
        for fmt in target.ConditionalFormats.getConditionalFormats():
            ranges = [range_a1(a) for a in fmt.Range.RangeAddresses]
            entries = []
            for i in range(fmt.Count):
                entry = fmt.getByIndex(i)
                item = {"entry_type": CF_ENTRY_TYPES.get(entry.Type, entry.Type)}
                for attr, key in (
                    ("Operator", "operator"),
                    ("Formula1", "formula1"),
                    ("Formula2", "formula2"),
                    ("StyleName", "style"),
                ):
                    if hasattr(entry, attr):
                        item[key] = enum_name(getattr(entry, attr))
                if isinstance(item.get("operator"), int):
                    item["operator"] = CF_OPERATORS.get(item["operator"], item["operator"])
                item.update(self._style_colours(component, item.get("style")))
                entries.append(item)
            out.append({"id": fmt.ID, "ranges": ranges, "entries": entries})
        return out

    def op_cell_conditions(self, doc, sheet, cell):
        """The (old-API) conditional entries that cover one cell, in order."""
        component = self._doc(doc)
        entries = self._cell(doc, sheet, cell).ConditionalFormat
        out = []
        for i in range(entries.Count):
            e = entries.getByIndex(i)
            item = {
                "operator": enum_name(e.Operator),
                "formula1": e.Formula1,
                "formula2": e.Formula2,
                "style": e.StyleName,
            }
            item.update(self._style_colours(component, e.StyleName))
            out.append(item)
        return out

    def op_background(self, doc, sheet, cell):
        c = self._cell(doc, sheet, cell)
        return None if c.IsCellBackgroundTransparent else hex_colour(c.CellBackColor)

    def op_print_titles(self, doc, sheet):
        target = self._sheet(doc, sheet)
        rows = target.getTitleRows()
        cols = target.getTitleColumns()
        return {
            "rows": [rows.StartRow + 1, rows.EndRow + 1] if target.getPrintTitleRows() else None,
            "columns": (
                [a1(cols.StartColumn, 0)[:-1], a1(cols.EndColumn, 0)[:-1]]
                if target.getPrintTitleColumns()
                else None
            ),
            "print_areas": [range_a1(a) for a in target.getPrintAreas()],
        }

    def op_page_setup(self, doc, sheet):
        component = self._doc(doc)
        target = self._sheet(doc, sheet)
        style = component.StyleFamilies.getByName("PageStyles").getByName(target.PageStyle)
        footer = style.RightPageFooterContent if style.FooterIsOn else None
        header = style.RightPageHeaderContent if style.HeaderIsOn else None

        def text(content):
            if content is None:
                return None
            return [content.LeftText.String, content.CenterText.String, content.RightText.String]

        return {
            "style": target.PageStyle,
            "landscape": bool(style.IsLandscape),
            "scale_to_pages_x": style.ScaleToPagesX,
            "scale_to_pages_y": style.ScaleToPagesY,
            "scale": style.PageScale,
            "header": text(header),
            "footer": text(footer),
        }

    def op_frozen(self, doc, sheet):
        component = self._doc(doc)
        controller = component.CurrentController
        controller.setActiveSheet(self._sheet(doc, sheet))
        return bool(controller.hasFrozenPanes())

    def op_charts(self, doc, sheet):
        out = []
        charts = self._sheet(doc, sheet).getCharts()
        for name in charts.ElementNames:
            chart = charts.getByName(name)
            item = {"name": name, "ranges": [range_a1(a) for a in chart.getRanges()]}
            try:
                model = chart.getEmbeddedObject()
                item["title"] = model.Title.String if model.HasMainTitle else None
                item["diagram"] = model.getDiagram().getDiagramType()
            except Exception as exc:
                item["error"] = str(exc)
            out.append(item)
        return out

    def op_invalid_cells(self, doc, sheet):
        """Cells whose content fails their own data validation, by LibreOffice's own
        check (Tools > Detective > Mark Invalid Data: XSheetAuditing.showInvalid()).
        The red circles are removed again and the modified flag restored."""
        component = self._doc(doc)
        target = self._sheet(doc, sheet)
        modified = component.isModified()
        page = target.DrawPage

        def ellipses():
            out = {}
            for i in range(page.Count):
                shape = page.getByIndex(i)
                if shape.ShapeType != "com.sun.star.drawing.EllipseShape":
                    continue
                anchor = getattr(shape.Anchor, "CellAddress", None)
                if anchor is not None:
                    pos = shape.Position
                    out[(anchor.Column, anchor.Row, pos.X, pos.Y)] = a1(anchor.Column, anchor.Row)
            return out

        before = ellipses()
        cells = []
        try:
            target.showInvalid()
            cells = [cell for key, cell in ellipses().items() if key not in before]
        finally:
            target.clearArrows()
            component.setModified(modified)
        return cells

    def op_annotation(self, doc, sheet, cell):
        text = self._cell(doc, sheet, cell).Annotation.String
        return text or None

    def op_annotations(self, doc, sheet):
        out = []
        for note in self._sheet(doc, sheet).getAnnotations():
            pos = note.Position
            out.append({"cell": a1(pos.Column, pos.Row), "text": note.String})
        return out

    def op_save_as(self, doc, path, fmt):
        """Store a copy (the document stays open, still tied to its original file)."""
        fmt = fmt.lower().lstrip(".")
        if fmt not in FILTERS:
            raise WorkerError(f"unknown format {fmt!r}; known: {sorted(FILTERS)}")
        url = uno.systemPathToFileUrl(os.path.abspath(path))
        self._doc(doc).storeToURL(url, (pv("FilterName", FILTERS[fmt]), pv("Overwrite", True)))
        return {"path": os.path.abspath(path), "dialogs": self._dialogs()}

    def op_render_range(self, doc, sheet, rng, path, titles=False):
        """Export just ``rng`` of ``sheet`` to a one-page PDF, as LibreOffice paints it
        (conditional formats applied).  Print titles are switched off for the export
        unless ``titles``, so the page shows only that range."""
        component = self._doc(doc)
        target = self._sheet(doc, sheet)
        modified = component.isModified()
        rows, cols = target.getPrintTitleRows(), target.getPrintTitleColumns()
        if not titles:
            target.setPrintTitleRows(False)
            target.setPrintTitleColumns(False)
        try:
            data = uno.Any(
                "[]com.sun.star.beans.PropertyValue", (pv("Selection", target.getCellRangeByName(rng)),)
            )
            url = uno.systemPathToFileUrl(os.path.abspath(path))
            component.storeToURL(
                url, (pv("FilterName", "calc_pdf_Export"), pv("FilterData", data), pv("Overwrite", True))
            )
        finally:
            target.setPrintTitleRows(rows)
            target.setPrintTitleColumns(cols)
            component.setModified(modified)
        return os.path.abspath(path)

    def op_convert(self, path, out, fmt):
        """Open ``path`` hidden, store it as ``fmt`` at ``out``, close it."""
        opened = self.op_open(path, read_only=True)
        try:
            return self.op_save_as(opened["doc"], out, fmt)
        finally:
            self.op_close(opened["doc"])

    def op_quit(self):
        for doc_id in list(self.docs):
            try:
                self.op_close(doc_id)
            except Exception:
                pass
        try:
            self.desktop.terminate()
        except Exception:  # the bridge goes down with soffice: expected
            pass
        return None


def soffice_alive(worker):
    """Whether the UNO bridge still answers (soffice has not died under us)."""
    try:
        worker.desktop.getComponents()
        return True
    except Exception:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipe", required=True)
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    opts = parser.parse_args()

    def answer(obj):
        _ANSWERS.write(json.dumps(obj) + "\n")
        _ANSWERS.flush()

    try:
        worker = Worker(opts.pipe, opts.connect_timeout)
    except Exception as exc:
        answer(
            {
                "id": 0,
                "ok": False,
                "error": str(exc),
                "kind": type(exc).__name__,
                "crashed": True,
                "traceback": traceback.format_exc(),
            }
        )
        return 2
    answer({"id": 0, "ok": True, "result": "ready"})

    for line in sys.stdin:
        if not line.strip():
            continue
        req_id = None
        try:
            req = json.loads(line)
            req_id = req.get("id")
            op = req["op"]
            method = getattr(worker, "op_" + op, None)
            if method is None:
                raise WorkerError(f"unknown operation {op!r}")
            result = method(**req.get("args", {}))
            answer({"id": req_id, "ok": True, "result": result})
            if op == "quit":
                return 0
        except Exception as exc:
            crashed = not soffice_alive(worker)
            answer(
                {
                    "id": req_id,
                    "ok": False,
                    "error": str(exc),
                    "kind": type(exc).__name__,
                    "crashed": crashed,
                    "traceback": traceback.format_exc(),
                }
            )
            if crashed:
                return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
