"""Every problem code in xlplan/problems.py, planted in a real file and found.

One test per code, parametrised over `CODES` itself: a code added to problems.py with no
plant here fails `test_code_is_planted_and_found[new-code]`, so no rule goes untested. Each
plant makes the situation the code names as a user or a service would (a real master
imported through the CLI, real templates, edited with openpyxl or at the zip level where
openpyxl refuses), runs the library verb that judges it, and looks for the code.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from conftest import LPT_HEADERS, LPT_SOURCE, PLAN_SHEET, invoke

from xlplan.importer import import_plan
from xlplan.masterread import read_plan
from xlplan.merge import merge
from xlplan.problems import CODES, Problem
from xlplan.simulate import fill_in
from xlplan.validate import validate

CYCLE = "2017-Q2"
EARLY = dt.date(2017, 1, 1)  # before every due date: nothing is overdue
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Codes that no rule emits yet, with why. `test_codes_no_rule_emits_are_really_unused` keeps
# this honest: once a module emits the code, it needs a plant like every other.
NOT_EMITTED = {
    "unmatched-column": "import keeps a column the layout does not know as a central column "
    "(column-kept) instead of reporting it unmatched",
}


@dataclass
class World:
    plan: Path
    outbox: Path

    @property
    def chs(self) -> Path:
        return self.outbox / "CHS.xlsx"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("codes")
    plan, outbox = root / "plan.xlsx", root / "outbox"
    assert invoke("import", LPT_SOURCE, "-o", plan).exit_code == 0
    result = invoke("template", plan, "-o", outbox, "--cycle", CYCLE, "--due", "14/07/2017")
    assert result.exit_code == 0, result.output
    return World(plan, outbox)


# --- how a plant is judged ----------------------------------------------------------------


def validated(
    *paths: Path, plan: Path | None = None, as_of: dt.date = EARLY, cycle: str | None = None
) -> list[Problem]:
    result = validate(list(paths), plan=plan, as_of=as_of, cycle=cycle)
    return [p for c in result.checked for p in c.problems] + result.skipped


def merged(plan: Path, inbox: Path, tmp: Path) -> list[Problem]:
    return merge(plan, [inbox], output=tmp / "merged.xlsx", as_of=EARLY).problems


def imported(rows: list[list[str]], tmp: Path) -> list[Problem]:
    source = tmp / "source.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return import_plan(source, tmp / "imported.xlsx").problems


# --- ways to make a file ------------------------------------------------------------------


def edit_book(src: Path, dst: Path, change: Callable[[openpyxl.Workbook], None]) -> Path:
    book = openpyxl.load_workbook(src)
    change(book)
    book.save(dst)
    return dst


def set_meta(src: Path, dst: Path, key: str, value: str) -> Path:
    def change(book: openpyxl.Workbook) -> None:
        [row] = [r for r in book["_xlplan"].iter_rows() if r[0].value == key]
        row[1].value = value

    return edit_book(src, dst, change)


def plan_row(sheet, reference: str) -> int:
    header = [c.value for c in sheet[3]]
    col = header.index("Action Reference") + 1
    return next(r for r in range(4, sheet.max_row + 1) if sheet.cell(r, col).value == reference)


def returned(world: World, tmp: Path, edits: dict, name: str = "CHS.xlsx", **options) -> Path:
    path = tmp / name
    fill_in(world.chs, path, edits, **options)
    return path


def rewritten(src: Path, dst: Path, old: bytes, new: bytes) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, data.replace(old, new))
    return dst


def import_rows(*rows: dict[str, str]) -> list[list[str]]:
    """A source with the LPT headers (less the last, plus one the layout lacks)."""
    headers = [*LPT_HEADERS[:-1], "Our own notes"]
    return [headers] + [[row.get(h, "") for h in headers] for row in rows]


def import_row(values: dict[str, str]) -> list[str]:
    return [values.get(h, "") for h in LPT_HEADERS]


# --- the plants: code -> (world, tmp_path) -> the problems found --------------------------

PLANTS: dict[str, Callable[[World, Path], list[Problem]]] = {}


def plant(code: str):
    def register(function):
        assert code not in PLANTS, code
        PLANTS[code] = function
        return function

    return register


@plant("not-a-workbook")
def _(world, tmp):
    path = tmp / "CHS.xlsx"
    path.write_text("a note, saved with the wrong extension", encoding="utf-8")
    return validated(path, plan=world.plan)


@plant("corrupt")
def _(world, tmp):
    path = tmp / "CHS.xlsx"
    path.write_bytes(world.chs.read_bytes()[:4000])
    return validated(path, plan=world.plan)


@plant("encrypted")
def _(world, tmp):
    path = tmp / "CHS.xlsx"
    path.write_bytes(CFB_MAGIC + b"\0" * 504 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 512)
    return validated(path, plan=world.plan)


@plant("too-large")
def _(world, tmp):
    path = tmp / "CHS.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * 2**21)  # 2 MB of spaces: a bomb's ratio
    return validated(path, plan=world.plan)


@plant("unsafe-xml")
def _(world, tmp):
    return validated(
        rewritten(world.chs, tmp / "CHS.xlsx", b"?>", b'?><!DOCTYPE x [<!ENTITY e "e">]>'), plan=world.plan
    )


@plant("skipped-file")
def _(world, tmp):
    shutil.copy(world.chs, tmp / "~$CHS.xlsx")  # Excel's lock file while CHS.xlsx is open
    return validated(tmp, plan=world.plan)


@plant("macros-ignored")
def _(world, tmp):
    path = tmp / "CHS.xlsm"
    shutil.copy(world.chs, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("xl/vbaProject.bin", CFB_MAGIC + b"\0" * 1024)
    return validated(path, plan=world.plan)


@plant("no-metadata")
def _(world, tmp):
    def drop(book):
        del book["_xlplan"]

    return validated(edit_book(world.chs, tmp / "CHS.xlsx", drop), plan=world.plan)


@plant("not-a-template")
def _(world, tmp):
    return validated(shutil.copy(world.plan, tmp / "plan.xlsx"), plan=world.plan)


@plant("other-plan")
def _(world, tmp):
    return validated(set_meta(world.chs, tmp / "CHS.xlsx", "plan_id", "another-plan"), plan=world.plan)


@plant("other-cycle")
def _(world, tmp):
    return validated(world.chs, plan=world.plan, cycle="2017-Q3")


@plant("unknown-service")
def _(world, tmp):
    def rename(book):  # the central team renamed the directorate after issue
        sheet = book[PLAN_SHEET]
        for row in sheet.iter_rows(min_row=4):
            for cell in row:
                if isinstance(cell.value, str) and "CHS" in cell.value:
                    cell.value = cell.value.replace("CHS", "Community Health")

    master = edit_book(world.plan, tmp / "plan.xlsx", rename)
    return validated(world.chs, plan=master)


@plant("newer-format")
def _(world, tmp):
    return validated(set_meta(world.chs, tmp / "CHS.xlsx", "format_version", "999"), plan=world.plan)


@plant("superseded")
def _(world, tmp):
    inbox = tmp / "inbox"
    inbox.mkdir()
    returned(world, inbox, {("2.1", "directorate_rag"): "Red"}, name="CHS draft.xlsx")
    returned(world, inbox, {("2.1", "directorate_rag"): "Green"})
    return merged(world.plan, inbox, tmp)


@plant("no-return")
def _(world, tmp):
    inbox = tmp / "inbox"
    inbox.mkdir()
    returned(world, inbox, {})
    return merged(world.plan, inbox, tmp)


@plant("missing-sheet")
def _(world, tmp):
    def drop(book):
        del book[PLAN_SHEET]

    return validated(edit_book(world.chs, tmp / "CHS.xlsx", drop), plan=world.plan)


@plant("missing-column")
def _(world, tmp):
    def rename(book):
        sheet = book[PLAN_SHEET]
        header = [c.value for c in sheet[3]]
        sheet.cell(3, header.index("Comments/ Remedial Actions") + 1).value = "Our comments"

    return validated(edit_book(world.chs, tmp / "CHS.xlsx", rename), plan=world.plan)


@plant("row-deleted")
def _(world, tmp):
    def delete(book):
        sheet = book[PLAN_SHEET]
        sheet.delete_rows(plan_row(sheet, "2.1.3"))

    return validated(edit_book(world.chs, tmp / "CHS.xlsx", delete), plan=world.plan)


def _copy_row_into_first_spare(book, action_id: str | None) -> None:
    sheet = book[PLAN_SHEET]
    source = plan_row(sheet, "2.1.1")
    header = [c.value for c in sheet[3]]
    id_col = header.index("xlplan ID") + 1
    spare = next(
        r for r in range(4, sheet.max_row + 1) if str(sheet.cell(r, id_col).value or "").startswith("new-")
    )
    for col in range(1, len(header) + 1):
        sheet.cell(spare, col).value = sheet.cell(source, col).value
    if action_id is not None:
        sheet.cell(spare, id_col).value = action_id


@plant("row-duplicated")
def _(world, tmp):
    path = edit_book(world.chs, tmp / "CHS.xlsx", lambda b: _copy_row_into_first_spare(b, None))
    return validated(path, plan=world.plan)


@plant("row-added")
def _(world, tmp):
    def type_below(book):  # a new action typed below the spare rows, where nothing was issued
        sheet = book[PLAN_SHEET]
        row = sheet.max_row + 2
        sheet.cell(row, 4).value, sheet.cell(row, 7).value = "99.9", "A new action typed below."

    return validated(edit_book(world.chs, tmp / "CHS.xlsx", type_below), plan=world.plan)


@plant("locked-cell-changed")
def _(world, tmp):
    path = returned(world, tmp, {("2.1", "provider_requirement"): "Met: close it."}, unprotect=True)
    return validated(path, plan=world.plan)


@plant("unknown-action")
def _(world, tmp):
    inbox = tmp / "inbox"
    inbox.mkdir()
    returned(world, inbox, {("2.1.3", "directorate_rag"): "Green"})

    def delete(book):  # the central team removed the action while the template was out
        sheet = book[PLAN_SHEET]
        sheet.delete_rows(plan_row(sheet, "2.1.3"))

    return merged(edit_book(world.plan, tmp / "plan.xlsx", delete), inbox, tmp)


@plant("proposed-action")
def _(world, tmp):
    path = returned(world, tmp, {}, proposals=[{"action_ref": "2.9", "action": "A new audit."}])
    return validated(path, plan=world.plan)


@plant("invalid-rating")
def _(world, tmp):
    return validated(returned(world, tmp, {("2.1", "directorate_rag"): "Yellow"}), plan=world.plan)


@plant("rating-normalised")
def _(world, tmp):
    return validated(returned(world, tmp, {("2.1", "directorate_rag"): " amber "}), plan=world.plan)


@plant("invalid-choice")
def _(world, tmp):
    # A layout with a choice column: the CQC layout, its directorate rating made a choice.
    toml = (Path(__file__).resolve().parent.parent / "layouts" / "cqc.toml").read_text(encoding="utf-8")
    marker = 'field = "manager"'
    assert marker in toml
    toml = toml.replace(marker, marker + '\ntype = "choice"\nchoices = ["Ward manager", "Matron"]', 1)
    layout = tmp / "choice.toml"
    layout.write_text(toml, encoding="utf-8")
    master, outbox = tmp / "plan.xlsx", tmp / "outbox"
    assert invoke("import", LPT_SOURCE, "-o", master, "--layout", layout).exit_code in (0, 1)
    assert invoke("template", master, "-o", outbox, "--service", "CHS").exit_code == 0
    path = tmp / "CHS.xlsx"
    fill_in(outbox / "CHS.xlsx", path, {("2.1", "manager"): "Chief executive"})
    return validated(path, plan=master)


@plant("error-value")
def _(world, tmp):
    return validated(returned(world, tmp, {("2.1", "comments"): "#REF!"}), plan=world.plan)


@plant("too-long")
def _(world, tmp):
    # openpyxl silently cuts text to 32,767 characters, so the long text goes into the XML.
    marked = returned(world, tmp, {("2.1", "comments"): "LONG-MARK"}, name="marked.xlsx")
    return validated(rewritten(marked, tmp / "CHS.xlsx", b"LONG-MARK", b"y" * 33_000), plan=world.plan)


@plant("control-chars")
def _(world, tmp):
    # Excel stores a pasted control character as _x0007_.
    return validated(returned(world, tmp, {("2.1", "comments"): "bell_x0007_here"}), plan=world.plan)


@plant("formula")
def _(world, tmp):
    def formula(book):
        sheet = book[PLAN_SHEET]
        header = [c.value for c in sheet[3]]
        sheet.cell(plan_row(sheet, "2.1"), header.index("Comments/ Remedial Actions") + 1).value = "=1+1"

    return validated(edit_book(world.chs, tmp / "CHS.xlsx", formula), plan=world.plan)


@plant("formula-like-text")
def _(world, tmp):
    return validated(returned(world, tmp, {("2.1", "comments"): "=not a formula"}), plan=world.plan)


@plant("not-a-date")
def _(world, tmp):
    return validated(returned(world, tmp, {("2.1.3", "due"): "sometime soon"}), plan=world.plan)


@plant("complete-without-evidence")
def _(world, tmp):
    path = returned(world, tmp, {("2.1.3", "directorate_rag"): "Purple", ("2.1.3", "comments"): None})
    return validated(path, plan=world.plan)


@plant("parent-complete-child-open")
def _(world, tmp):
    path = returned(
        world,
        tmp,
        {
            ("2.1", "directorate_rag"): "Blue",
            ("2.1", "comments"): "Done.",
            ("2.1.1", "directorate_rag"): "Red",
        },
    )
    return validated(path, plan=world.plan)


@plant("overdue")
def _(world, tmp):
    path = returned(world, tmp, {("2.1.3", "due"): "31/01/2017", ("2.1.3", "directorate_rag"): "Amber"})
    return validated(path, plan=world.plan, as_of=dt.date(2017, 3, 1))


@plant("conflict")
def _(world, tmp):
    inbox = tmp / "inbox"
    inbox.mkdir()
    returned(world, inbox, {("2.1", "comments"): "The service's account."})

    def central(book):  # the central team wrote in the same cell after issue
        sheet = book[PLAN_SHEET]
        header = [c.value for c in sheet[3]]
        sheet.cell(plan_row(sheet, "2.1"), header.index("Comments/ Remedial Actions") + 1).value = "Ours."

    return merged(edit_book(world.plan, tmp / "plan.xlsx", central), inbox, tmp)


@plant("no-route")
def _(world, tmp):
    return imported(import_rows({"Action Reference": "1", "Directorate": ""}), tmp)


@plant("route-inherited")
def _(world, tmp):
    return imported(
        import_rows(
            {"Action Reference": "1", "Directorate": "CHS"}, {"Action Reference": "1.1", "Directorate": ""}
        ),
        tmp,
    )


@plant("duplicate-reference")
def _(world, tmp):
    return imported(
        import_rows(
            {"Action Reference": "1", "Directorate": "CHS"}, {"Action Reference": "1", "Directorate": "FYPC"}
        ),
        tmp,
    )


@plant("blank-reference")
def _(world, tmp):
    return imported(
        import_rows(
            {"Action Reference": "1", "Directorate": "CHS"},
            {"Action Reference": "", "Directorate": "CHS", LPT_HEADERS[6]: "An action nobody numbered."},
        ),
        tmp,
    )


@plant("sheet-content-lost")
def _(world, tmp):
    from openpyxl.chart import BarChart, Reference

    def chart(book):
        sheet = book.create_sheet("Our figures")
        sheet.append([3])
        bars = BarChart()
        bars.add_data(Reference(sheet, min_col=1, min_row=1, max_row=1))
        sheet.add_chart(bars, "C3")

    inbox = tmp / "inbox"
    inbox.mkdir()
    return merged(edit_book(world.plan, tmp / "plan.xlsx", chart), inbox, tmp)


@plant("new-row-in-master")
def _(world, tmp):
    def add(book):  # typed straight into the master, below the last action
        sheet = book[PLAN_SHEET]
        header = [c.value for c in sheet[3]]
        row = sheet.max_row + 1
        sheet.cell(row, header.index("Action Reference") + 1).value = "99"
        sheet.cell(row, header.index("Directorate") + 1).value = "CHS"

    return read_plan(edit_book(world.plan, tmp / "plan.xlsx", add)).read_problems


# --- the master's record, cycles and proposals ------------------------------------------------


@plant("row-unidentified")
def _(world, tmp):
    def forge(book):  # a row's grey cells replaced by text that was never issued, its ID kept
        sheet = book[PLAN_SHEET]
        sheet.protection.sheet = False
        for col in (1, 2, 5, 6):
            sheet.cell(5, col).value = f"Not what was issued ({col})"

    return validated(edit_book(world.chs, tmp / "CHS.xlsx", forge), plan=world.plan)


@plant("row-moved")
def _(world, tmp):
    def clear_id(book):
        book[PLAN_SHEET].cell(5, len(LPT_HEADERS) + 1).value = None

    return validated(edit_book(world.chs, tmp / "CHS.xlsx", clear_id), plan=world.plan)


@plant("already-merged")
def _(world, tmp):
    plan, inbox = tmp / "plan.xlsx", tmp / "inbox"
    shutil.copy(world.plan, plan)
    inbox.mkdir()
    fill_in(world.chs, inbox / "CHS.xlsx", {("2.1", "comments"): "Audit done."})
    merge(plan, [inbox], as_of=EARLY)
    return merge(plan, [inbox], as_of=EARLY).problems


@plant("proposal-rejected")
def _(world, tmp):
    plan, inbox = tmp / "plan.xlsx", tmp / "inbox"
    shutil.copy(world.plan, plan)
    inbox.mkdir()
    fill_in(world.chs, inbox / "CHS.xlsx", {}, proposals=[{"action_ref": "2.9", "action": "New."}])
    merge(plan, [inbox], as_of=EARLY)

    def reject(book):
        sheet = book[PLAN_SHEET]
        header = [c.value for c in sheet[3]]
        status = header.index("Changed this cycle") + 1
        for row in range(4, sheet.max_row + 1):
            if str(sheet.cell(row, status).value or "").startswith("proposed by"):
                sheet.cell(row, status).value = f"{sheet.cell(row, status).value}; reject: not needed"

    edit_book(plan, plan, reject)
    return merge(plan, [inbox], as_of=EARLY).problems


@plant("skipped-row")
def _(world, tmp):
    return imported(
        [
            list(LPT_HEADERS),
            ["Section 1 - Safe care"] + [""] * (len(LPT_HEADERS) - 1),
            import_row({"Action Reference": "1", "Directorate": "CHS"}),
        ],
        tmp,
    )


@plant("column-kept")
def _(world, tmp):
    return imported(
        [
            [*LPT_HEADERS, "Our own notes"],
            [*import_row({"Action Reference": "1", "Directorate": "CHS"}), "Keep me"],
        ],
        tmp,
    )


@plant("sheet-kept")
def _(world, tmp):
    book = openpyxl.Workbook()
    book.active.append(list(LPT_HEADERS))
    book.active.append(import_row({"Action Reference": "1", "Directorate": "CHS"}))
    book.create_sheet("Glossary").append(["CQC", "Care Quality Commission"])
    book.save(tmp / "source.xlsx")
    return import_plan(tmp / "source.xlsx", tmp / "imported.xlsx").problems


@plant("no-address")
def _(world, tmp):
    from xlplan.send import Message, write_drafts
    from xlplan.template import issue_templates

    plan = tmp / "plan.xlsx"
    shutil.copy(world.plan, plan)
    issued = issue_templates(plan, tmp / "outbox", cycle=CYCLE, services=["CHS"])
    return write_drafts(read_plan(plan), issued, Message())[1]


@plant("mail-refused")
def _(world, tmp):
    inbox = tmp / "inbox"
    inbox.mkdir()
    (inbox / "returns.zip").write_bytes(b"PK\x03\x04 this zip was cut short")
    return validated(inbox, plan=world.plan)


# Codes whose situation needs a whole story to make (an email, a Numbers file, an import with
# sheets of its own): planted and asserted in the named test, which must exist and name the code.
PLANTED_ELSEWHERE = {
    "joint-action-split": "test_integrity.py::test_templates_issued_before_the_split_still_reach_each_services_own_row",  # noqa: E501 - a test's name
    "rows-sorted": "test_integrity.py::test_a_return_sorted_without_its_hidden_id_column_is_refused_whole",
    "issued-values-changed": "test_integrity.py::test_an_edited_hidden_copy_of_the_issued_values_is_detected_and_not_trusted",  # noqa: E501 - a test's name
    "stale-return": "test_integrity.py::test_a_return_of_an_earlier_cycle_is_refused_by_merge_unless_accepted",  # noqa: E501 - a test's name
    "proposal-pending": "test_cycle.py::test_a_later_merge_adds_to_the_cycle_and_audits_the_central_edits",
    "similar-services": "test_import_trusts.py::test_service_names_differing_by_case_or_spacing_are_flagged",
    "numbers": "test_import_trusts.py::test_an_unreadable_source_says_what_it_is_and_what_to_do",
    "sheet-not-read": "test_import_trusts.py::test_an_excel4_macro_sheet_does_not_stop_the_data_sheets_being_read",  # noqa: E501 - a test's name
    "bad-address": "test_mail.py::test_bad_addresses_and_services_without_one_are_listed",
    "no-workbook-attached": "test_mail.py::test_an_inbox_of_emails_gives_the_same_master_as_the_bare_files",
    "unknown-sender": "test_mail.py::test_validate_names_the_email_and_warns_of_a_stranger",
    "metadata-mismatch": "test_hostile.py::test_a_return_whose_hidden_layout_gives_it_every_column_changes_nothing_else",  # noqa: E501 - a test's name
    "metadata-visible": "test_hostile.py::test_metadata_sheets_made_visible_are_told",
    "other-service-row": "test_hostile.py::test_rows_the_master_routes_to_another_service_are_not_applied",
    "read-failed": "test_hostile.py::test_a_reader_out_of_memory_is_that_files_problem",
    "stale-lock": "test_hostile.py::test_a_lock_left_by_a_process_that_is_gone_is_taken_over",
    "too-many-rows": "test_hostile.py::test_far_more_rows_than_issued_is_one_message",
    "update-in-spare-row": "test_carry.py::test_an_update_in_a_spare_row_is_refused_with_what_to_do",
    "unmapped-rating": "test_carry.py::test_a_rating_off_the_scale_is_listed_every_merge_until_mapped",
    "required-missing": "test_carry.py::test_a_required_cell_left_empty_in_the_master_is_listed",
}


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(CODES))
def test_code_is_planted_and_found(code: str, world: World, tmp_path: Path) -> None:
    if code in NOT_EMITTED:
        pytest.skip(f"{code}: {NOT_EMITTED[code]}")
    if code in PLANTED_ELSEWHERE:
        import ast

        file, name = PLANTED_ELSEWHERE[code].split("::")
        text = (Path(__file__).parent / file).read_text(encoding="utf-8")
        [test] = [n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == name]
        words = ast.get_source_segment(text, test) or ""
        named = {code, code.replace("-", " "), code.replace("-", "_")}
        assert any(w in words for w in named) or code in text, (code, PLANTED_ELSEWHERE[code])
        return
    assert code in PLANTS, f"no test plants the problem code {code!r}: add one to {Path(__file__).name}"
    found = PLANTS[code](world, tmp_path)
    assert code in {p.code for p in found}, [p.line() for p in found]
    assert all(p.severity is not None for p in found)


def test_every_plant_is_for_a_known_code() -> None:
    assert set(PLANTS) <= set(CODES)
    assert not set(PLANTS) & set(NOT_EMITTED)


def test_codes_no_rule_emits_are_really_unused() -> None:
    package = Path(__file__).resolve().parent.parent / "xlplan"
    for code in NOT_EMITTED:
        users = [
            p.name
            for p in package.glob("*.py")
            if p.name != "problems.py" and f'"{code}"' in p.read_text(encoding="utf-8")
        ]
        assert users == [], f"{code} is emitted by {users} now: plant it and drop it from NOT_EMITTED"
