"""`xlplan validate`: a return edited as a service would passes clean; every kind of problem
planted in a real template is found with the right code, cell, action and message; no input,
however broken or hostile, gives a traceback or hangs; --annotate marks a copy, never the
input; the exit code is the worst over all files (0 clean/warnings, 1 errors, 2 unreadable).

Every return here starts as a template `xlplan template` really issued (from the LPT source,
via the CLI) and is edited the way a service or an attacker would: through openpyxl
(`xlplan.simulate.fill_in`, or by hand), or by rewriting the zip's XML where openpyxl refuses.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from xlplan.cli import main
from xlplan.simulate import fill_in

REPO = Path(__file__).resolve().parent.parent
LPT_SOURCE = REPO / "examples" / "lpt-cqc-2017" / "source.csv"
CYCLE, DUE = "2017-Q2", "14/07/2017"
EARLY = ("--as-of", "2017-01-01")  # before every due date in the plan: nothing is overdue

PLAN_SHEET = "Action plan"
SCALE = "White, Red, Amber, Green, Purple, Blue"
RATING_HEADER = "Directorate RAG Rating"
COMMENTS_HEADER = "Comments/ Remedial Actions"
DUE_HEADER = "Insert the date the action AND evidence will be provided"
PROVIDER_HEADER = "Provider Report 'Requirement action'"
COMMITTEE_HEADER = "Committee RAG Rating"
# Where the CHS template puts things (checked by test_chs_template_is_laid_out_as_assumed):
# the plan sheet's header is row 3; 2.1 is the first action; spare rows new-1.. follow 23.1.
CHS_ROW = {"2.1": 4, "2.1.1": 5, "2.1.2": 6, "2.1.3": 7, "5.1.2": 15, "23.1": 64}
FIRST_SPARE = 65
LAST_SPARE = 69
PROBLEM_FILL = "FF9999"
WARNING_FILL = "FFEB9C"


# --------------------------------------------------------------------------- helpers


def xlplan(*args: object, env: dict[str, str | None] | None = None):
    """Run `xlplan ARGS` as a user would: never a traceback, never the last-guard error.
    (How fast is bench/'s question, not a test's: a timed test flakes on a loaded machine.)"""
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    shown = " ".join(map(str, args))
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"xlplan {shown} raised {result.exception!r}\n{result.output}"
    )
    assert "Traceback" not in result.output, result.output
    assert "unexpected error" not in result.output, result.output
    assert result.exit_code != 3, result.output
    return result


def validate(*args: object) -> tuple[int, dict]:
    """`xlplan validate --json ARGS` -> (exit code, the JSON report)."""
    result = xlplan("validate", "--json", *args)
    try:
        data = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"validate --json printed no JSON (exit {result.exit_code}):\n{result.output}")
    return result.exit_code, data


def entry(data: dict, path: Path | str) -> dict:
    """The report of one file, by its name."""
    name = Path(path).name
    found = [f for f in data["files"] if Path(f["path"]).name == name]
    assert len(found) == 1, f"{name}: {json.dumps(data, indent=1)}"
    return found[0]


def single(data: dict) -> dict:
    assert len(data["files"]) == 1, json.dumps(data, indent=1)
    return data["files"][0]


def codes(report: dict) -> list[str]:
    return [p["code"] for p in report["problems"]]


def only(report: dict, code: str) -> dict:
    """The one problem with this code (fails when there are none or several)."""
    found = [p for p in report["problems"] if p["code"] == code]
    assert len(found) == 1, f"{code}: {json.dumps(report['problems'], indent=1)}"
    return found[0]


def serious(report: dict) -> list[dict]:
    return [p for p in report["problems"] if p["severity"] != "info"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit_book(src: Path, dst: Path, change: Callable[[openpyxl.Workbook], None]) -> Path:
    """Open `src` with openpyxl, change it, save as `dst` (as a script or a person would)."""
    book = openpyxl.load_workbook(src)
    change(book)
    book.save(dst)
    return dst


def set_metadata(src: Path, dst: Path, key: str, value: str) -> Path:
    def change(book: openpyxl.Workbook) -> None:
        sheet = book["_xlplan"]
        rows = [r for r in sheet.iter_rows() if r[0].value == key]
        assert len(rows) == 1, key
        rows[0][1].value = value

    return edit_book(src, dst, change)


def copy_values(src: Path, dst: Path, title: str = PLAN_SHEET, columns: int | None = None) -> Path:
    """The plan sheet's values pasted into a brand-new workbook: no metadata, no issued sheet."""
    sheet = openpyxl.load_workbook(src)[PLAN_SHEET]
    book = openpyxl.Workbook()
    target = book.active
    target.title = title
    for row in sheet.iter_rows(min_row=1, values_only=True):
        target.append(list(row[:columns] if columns else row))
    book.save(dst)
    return dst


def rewrite_zip(src: Path, dst: Path, parts: dict[str, Callable[[bytes], bytes | None]]) -> Path:
    """Copy a zip, passing the named members through a function (None drops the member)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename in parts:
                data = parts[info.filename](data)
                if data is None:
                    continue
            zout.writestr(info.filename, data)
    return dst


def replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        assert old in data, old
        return data.replace(old, new, 1)

    return change


def sheet_part(path: Path, sheet: str = PLAN_SHEET) -> str:
    """The zip member holding a sheet's XML (xl/worksheets/sheetN.xml), from workbook.xml."""
    from xml.etree import ElementTree

    main_ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel_ns = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    with zipfile.ZipFile(path) as archive:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    rel_id = next(s.get(f"{rel_ns}id") for s in book.iter(f"{main_ns}sheet") if s.get("name") == sheet)
    target = next(r.get("Target") for r in rels if r.get("Id") == rel_id)
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


def after_xml_declaration(data: bytes) -> int:
    return data.index(b"?>") + 2 if data.startswith(b"<?xml") else 0


# Raw zip writing, for members zipfile cannot make quickly or honestly: a 1 GB deflate stream
# built from one compressed megabyte (a full flush resets the dictionary, so every compressed
# chunk is the same bytes), and headers that lie about a member's size.


def deflate_repeated(
    chunk: bytes, times: int, prefix: bytes = b"", suffix: bytes = b""
) -> tuple[bytes, int, int]:
    """Raw deflate of prefix + chunk * times + suffix -> (compressed, crc32, uncompressed size)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(prefix) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.compress(suffix) + comp.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(suffix, crc)
    return head + block * times + tail, crc & 0xFFFFFFFF, len(prefix) + len(chunk) * times + len(suffix)


def deflated(name: str, data: bytes) -> tuple[str, bytes, int, int]:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return name, comp.compress(data) + comp.flush(), zlib.crc32(data) & 0xFFFFFFFF, len(data)


def write_raw_zip(path: Path, members: list[tuple]) -> Path:
    """members: (name, raw deflate data, crc32, the uncompressed size the headers declare),
    optionally followed by the member's flag bits and compression method number (0, 8)."""
    body, central = bytearray(), bytearray()
    for name, data, crc, size, *rest in members:
        flags, method = rest if rest else (0, 8)
        encoded = name.encode()
        offset = len(body)
        body += (
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21, crc, len(data), size, len(encoded), 0
            )
            + encoded
            + data
        )
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                flags,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(body), 0)
    path.write_bytes(bytes(body + central + end))
    return path


MEGABYTE_OF_SPACES = b" " * 2**20
CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"/>'
)


def zip_bomb(path: Path, megabytes: int) -> Path:
    """A workbook-shaped zip whose sheet1.xml really unpacks to `megabytes` MB (~1 MB per GB)."""
    data, crc, size = deflate_repeated(
        MEGABYTE_OF_SPACES,
        megabytes,
        b'<?xml version="1.0"?><worksheet><sheetData>',
        b"</sheetData></worksheet>",
    )
    return write_raw_zip(
        path, [deflated("[Content_Types].xml", CONTENT_TYPES), ("xl/worksheets/sheet1.xml", data, crc, size)]
    )


def lying_bomb(template: Path, path: Path) -> Path:
    """A real template whose plan sheet unpacks to 1 GB while its headers declare the real size."""
    plan_part = sheet_part(template)
    members = []
    with zipfile.ZipFile(template) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename == plan_part:
                cut = data.index(b"<sheetData>") + len(b"<sheetData>")
                packed, crc, _ = deflate_repeated(MEGABYTE_OF_SPACES, 1024, data[:cut], data[cut:])
                members.append((info.filename, packed, crc, len(data)))
            else:
                members.append(deflated(info.filename, data))
    return write_raw_zip(path, members)


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{("&lol;" if i == 1 else f"&lol{i - 1};") * 10}">\n' for i in range(1, 10))
    + "]>\n"
).encode()


def with_billion_laughs(data: bytes, padding: bytes = b"") -> bytes:
    cut = after_xml_declaration(data)
    body = data[cut:].replace(b"<sheet ", b'<sheet lol="&lol9;" ', 1)
    return data[:cut] + padding + BILLION_LAUGHS + body


def with_xxe(data: bytes) -> bytes:
    cut = after_xml_declaration(data)
    return (
        data[:cut]
        + b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + data[cut:].replace(b"<sheetData>", b"<sheetData>&xxe;", 1)
    )


CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# --------------------------------------------------------------------------- fixtures


@dataclass
class Issued:
    root: Path
    plan: Path
    outbox: Path

    @property
    def chs(self) -> Path:
        return self.outbox / "CHS.xlsx"


@pytest.fixture(scope="module")
def lpt(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    """A master imported from the LPT source and its five templates, through the CLI, once."""
    root = tmp_path_factory.mktemp("lpt-validate")
    plan = root / "plan.xlsx"
    # No SOURCE_DATE_EPOCH: each import gets its own random plan ID (see other_template).
    result = xlplan("import", LPT_SOURCE, "-o", plan, env={"SOURCE_DATE_EPOCH": None})
    assert result.exit_code == 0, result.output
    outbox = root / "outbox"
    result = xlplan("template", plan, "-o", outbox, "--cycle", CYCLE, "--due", DUE)
    assert result.exit_code == 0, result.output
    return Issued(root, plan, outbox)


@pytest.fixture(scope="module")
def other_template(tmp_path_factory: pytest.TempPathFactory, lpt: Issued) -> Path:
    """CHS's template from a second import of the same source: another plan."""
    root = tmp_path_factory.mktemp("other-plan")
    plan = root / "plan.xlsx"
    assert xlplan("import", LPT_SOURCE, "-o", plan, env={"SOURCE_DATE_EPOCH": None}).exit_code == 0
    outbox = root / "outbox"
    assert xlplan("template", plan, "-o", outbox, "--cycle", CYCLE, "--service", "CHS").exit_code == 0
    return outbox / "CHS.xlsx"


CLEAN_EDITS = {
    ("2.1", "directorate_rag"): "Green",
    ("2.1", "comments"): "Care plan audit done in June: 86% compliant.\nRe-audit booked for September.\n"
    "Lead: Zoë Ødegaard (café meeting notes) ✅ 🙂",
    ("2.1.1", "directorate_rag"): "Amber",
    ("2.1.1", "comments"): "Slipped to August —\r\nstaff vacancies. «Naïve» plan revised.",
    ("2.1.2", "directorate_rag"): "Purple",
    ("2.1.2", "comments"): "Evidence on the shared drive: CQC/2.1.2 📁",
    ("2.1.3", "due"): "31/12/2017",
    ("5.1.2", "manager"): "Señora Müller-Łukasz, Head of Nursing",
    ("5.1.2", "directorate_rag"): "Red",
}


@pytest.fixture(scope="module")
def returns(lpt: Issued, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A few returns several tests share: clean, warnings only, errors, unreadable."""
    folder = tmp_path_factory.mktemp("returns")
    clean = folder / "clean.xlsx"
    fill_in(lpt.chs, clean, CLEAN_EDITS)
    warnings = folder / "warnings.xlsx"
    fill_in(lpt.chs, warnings, {("2.1.3", "due"): "sometime soon"})
    errors = folder / "errors.xlsx"
    fill_in(lpt.chs, errors, {("2.1.2", "directorate_rag"): "Yellow", ("2.1.3", "directorate_rag"): "Purple"})
    unreadable = folder / "unreadable.xlsx"
    unreadable.write_text("Action Reference,Directorate RAG Rating\n2.1,Green\n", encoding="utf-8")
    return {"clean": clean, "warnings": warnings, "errors": errors, "unreadable": unreadable}


# --------------------------------------------------------------------------- the fixtures' shape


def test_chs_template_is_laid_out_as_assumed(lpt: Issued) -> None:
    sheet = openpyxl.load_workbook(lpt.chs)[PLAN_SHEET]
    assert sheet["D3"].value == "Action Reference"
    assert sheet["N3"].value == RATING_HEADER
    assert sheet["S3"].value == "xlplan ID"
    for ref, row in CHS_ROW.items():
        assert str(sheet[f"D{row}"].value) == ref
    assert [sheet[f"S{r}"].value for r in range(FIRST_SPARE, LAST_SPARE + 1)] == [
        f"new-{n}" for n in range(1, 6)
    ]
    assert sheet.max_row == LAST_SPARE
    assert sheet.protection.sheet


# --------------------------------------------------------------------------- 1. a clean edit


def test_a_return_edited_as_a_service_would_passes_clean(lpt: Issued, returns: dict[str, Path]) -> None:
    for plan_args in (("--plan", lpt.plan), ()):
        code, data = validate(returns["clean"], *plan_args, *EARLY)
        report = single(data)
        assert code == 0
        assert report["status"] == "ok"
        assert report["problems"] == []
        assert (report["service"], report["cycle"]) == ("CHS", CYCLE)
        assert report["path"] == str(returns["clean"])
    result = xlplan("validate", returns["clean"], "--plan", lpt.plan, *EARLY)
    assert result.exit_code == 0
    assert f"{returns['clean']}: OK (CHS, cycle {CYCLE})" in result.output


def test_every_template_as_issued_passes_clean(lpt: Issued) -> None:
    code, data = validate(lpt.outbox, "--plan", lpt.plan, *EARLY, "--cycle", CYCLE)
    assert code == 0
    assert sorted(Path(f["path"]).name for f in data["files"]) == [
        "AMH-ILD.xlsx",
        "AMH-LD.xlsx",
        "CHS.xlsx",
        "Corporate.xlsx",
        "FYPC.xlsx",
    ]
    for report in data["files"]:
        assert (report["status"], report["problems"], report["cycle"]) == ("ok", [], CYCLE), report


def test_a_real_date_typed_in_the_date_column_is_accepted(lpt: Issued, tmp_path: Path) -> None:
    import datetime as dt

    path = tmp_path / "date.xlsx"
    fill_in(lpt.chs, path, {("2.1.3", "due"): dt.date(2017, 12, 31)})
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    assert (code, single(data)["problems"]) == (0, [])
    code, data = validate(path, "--plan", lpt.plan, "--as-of", "2018-01-01")
    overdue = [p for p in single(data)["problems"] if p["code"] == "overdue" and p["action"] == "2.1.3"]
    assert [(p["cell"], p["value"]) for p in overdue] == [("J7", "31/12/2017")]


# --------------------------------------------------------------------------- 2. each check


def test_invalid_rating(lpt: Issued, tmp_path: Path) -> None:
    path = tmp_path / "yellow.xlsx"
    fill_in(lpt.chs, path, {("2.1.2", "directorate_rag"): "Yellow"})
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    assert report["status"] == "errors"
    assert report["problems"] == [
        {
            "severity": "error",
            "code": "invalid-rating",
            "sheet": PLAN_SHEET,
            "cell": "N6",
            "action": "2.1.2",
            "column": RATING_HEADER,
            "value": "Yellow",
            "message": f"'Yellow' is not on the scale; pick one of {SCALE} from the dropdown. Not applied.",
        }
    ]


def test_rating_spelled_differently_is_normalised_as_info(lpt: Issued, tmp_path: Path) -> None:
    path = tmp_path / "amber.xlsx"
    typed = {"2.1": " amber ", "2.1.1": "AMBER", "2.1.2": "A", "2.1.3": "orange"}
    fill_in(lpt.chs, path, {(ref, "directorate_rag"): value for ref, value in typed.items()})
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 0
    assert report["status"] == "ok"
    assert [
        (p["severity"], p["code"], p["cell"], p["action"], p["column"], p["value"], p["message"])
        for p in report["problems"]
    ] == [
        (
            "info",
            "rating-normalised",
            f"N{CHS_ROW[ref]}",
            ref,
            RATING_HEADER,
            value,
            f"{value!r} read as 'Amber'.",
        )
        for ref, value in typed.items()
    ]


def test_locked_cells_changed_after_removing_the_protection(lpt: Issued, tmp_path: Path) -> None:
    path = tmp_path / "unprotected.xlsx"
    fill_in(
        lpt.chs,
        path,
        {
            ("2.1", "provider_requirement"): "Requirement met - please close.",
            ("2.1.1", "committee_rag"): "Blue",
            ("2.1.1", "directorate_rag"): "Green",
        },
        unprotect=True,
    )
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    assert report["status"] == "errors"
    assert codes(report) == ["locked-cell-changed", "locked-cell-changed"]
    central, committee = report["problems"]
    assert (
        central["severity"],
        central["sheet"],
        central["cell"],
        central["action"],
        central["column"],
        central["value"],
    ) == ("error", PLAN_SHEET, "B4", "2.1", PROVIDER_HEADER, "Requirement met - please close.")
    assert central["message"] == (
        "this central column is read-only for services: it was '(empty)' when issued and is now "
        "'Requirement met - please close.'. The change was refused; ask the central team to change "
        "it in the master."
    )
    assert (committee["cell"], committee["action"], committee["column"], committee["value"]) == (
        "O5",
        "2.1.1",
        COMMITTEE_HEADER,
        "Blue",
    )
    assert committee["message"].startswith("this committee column is read-only for services")


def test_deleted_row(lpt: Issued, tmp_path: Path) -> None:
    path = edit_book(
        lpt.chs, tmp_path / "deleted.xlsx", lambda book: book[PLAN_SHEET].delete_rows(CHS_ROW["2.1.1"])
    )
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    assert report["problems"] == [
        {
            "severity": "error",
            "code": "row-deleted",
            "sheet": PLAN_SHEET,
            "cell": None,
            "action": "2.1.1",
            "column": None,
            "value": None,
            "message": "action 2.1.1 was issued but is not in the return (row deleted). The master "
            "keeps it unchanged; restore the row.",
        }
    ]


def _copy_row(sheet, source: int, target: int) -> None:
    for col in range(1, sheet.max_column + 1):
        sheet.cell(target, col).value = sheet.cell(source, col).value


def test_row_copied_with_its_hidden_id_into_a_spare_row(lpt: Issued, tmp_path: Path) -> None:
    path = edit_book(
        lpt.chs,
        tmp_path / "doubled.xlsx",
        lambda book: _copy_row(book[PLAN_SHEET], CHS_ROW["2.1.1"], FIRST_SPARE + 1),
    )
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    # An exact copy says nothing new: counted once, and the service told to delete it.
    assert code == 0
    assert report["problems"] == [
        {
            "severity": "warning",
            "code": "row-duplicated",
            "sheet": PLAN_SHEET,
            "cell": f"D{FIRST_SPARE + 1}",
            "action": "2.1.1",
            "column": None,
            "value": None,
            "message": f"rows 5 and {FIRST_SPARE + 1} are the same action with the same entries; it was "
            "counted once. Delete the copy.",
        }
    ]


def test_row_inserted_as_a_duplicate(lpt: Issued, tmp_path: Path) -> None:
    def insert_copy(book: openpyxl.Workbook) -> None:
        sheet = book[PLAN_SHEET]
        sheet.insert_rows(6)
        _copy_row(sheet, 5, 6)
        sheet["N6"].value = "Green"  # the copy is edited: still neither may be applied

    path = edit_book(lpt.chs, tmp_path / "inserted.xlsx", insert_copy)
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    assert [(p["code"], p["cell"], p["action"]) for p in report["problems"]] == [
        ("row-duplicated", "D6", "2.1.1")
    ]
    assert only(report, "row-duplicated")["message"] == (
        "rows 5 and 6 are the same action with different entries ('Directorate RAG Rating': '' vs "
        "'Green'); neither was applied. Keep one row and send the file again."
    )


def test_rows_added_outside_the_spare_rows(lpt: Issued, tmp_path: Path) -> None:
    below, cleared, foreign = LAST_SPARE + 3, FIRST_SPARE + 2, LAST_SPARE + 4

    def add_rows(book: openpyxl.Workbook) -> None:
        sheet = book[PLAN_SHEET]
        sheet[f"D{below}"], sheet[f"G{below}"] = "99.1", "An action typed below the spare rows"
        sheet[f"S{cleared}"] = None  # a spare row whose hidden ID was cleared
        sheet[f"D{cleared}"], sheet[f"G{cleared}"] = "99.2", "Typed in a spare row, ID cleared"
        sheet[f"D{foreign}"], sheet[f"S{foreign}"] = "99.3", "A9999"  # an ID this file never had

    path = edit_book(lpt.chs, tmp_path / "added.xlsx", add_rows)
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    assert [(p["severity"], p["code"], p["cell"], p["action"]) for p in report["problems"]] == [
        ("error", "row-added", f"D{cleared}", "99.2"),
        ("error", "row-added", f"D{below}", "99.1"),
        ("error", "row-added", f"D{foreign}", "99.3"),
    ]
    messages = [p["message"] for p in report["problems"]]
    assert messages[1] == (
        f"row {below} was not issued; it is not applied. Put new actions in the green spare rows."
    )
    assert messages[2].startswith(
        f"row {foreign} was not issued (its ID is not one this file was issued with)"
    )


def test_excel_error_values(lpt: Issued, tmp_path: Path) -> None:
    def errors(book: openpyxl.Workbook) -> None:
        sheet = book[PLAN_SHEET]
        for ref, error in (("M5", "#REF!"), ("N6", "#N/A"), ("B7", "#DIV/0!")):
            sheet[ref].value = error
            sheet[ref].data_type = "e"

    path = edit_book(lpt.chs, tmp_path / "errors.xlsx", errors)
    with zipfile.ZipFile(path) as archive:
        assert b't="e"' in archive.read(sheet_part(path))
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    assert [
        (p["severity"], p["code"], p["cell"], p["action"], p["column"], p["value"])
        for p in report["problems"]
    ] == [
        ("error", "error-value", "M5", "2.1.1", COMMENTS_HEADER, "#REF!"),
        ("error", "error-value", "N6", "2.1.2", RATING_HEADER, "#N/A"),
        ("error", "error-value", "B7", "2.1.3", PROVIDER_HEADER, "#DIV/0!"),
    ]
    assert report["problems"][0]["message"] == (
        "the cell shows the error #REF! instead of content (a broken formula or reference). Type "
        "the text itself; the cell was not applied."
    )


def test_text_over_excels_cell_limit(lpt: Issued, tmp_path: Path) -> None:
    # openpyxl silently cuts text to 32,767 characters, so the long text goes into the XML.
    marked = tmp_path / "marked.xlsx"
    fill_in(lpt.chs, marked, {("2.1.1", "comments"): "LONG-MARK", ("2.1.2", "comments"): "LIMIT-MARK"})
    part = sheet_part(marked)
    path = rewrite_zip(
        marked,
        tmp_path / "long.xlsx",
        {part: lambda data: data.replace(b"LONG-MARK", b"y" * 33_000).replace(b"LIMIT-MARK", b"z" * 32_767)},
    )
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    problem = only(report, "too-long")
    assert (problem["severity"], problem["cell"], problem["action"], problem["column"]) == (
        "error",
        "M5",
        "2.1.1",
        COMMENTS_HEADER,
    )
    assert problem["message"] == (
        "33,000 characters, over Excel's 32,767-character cell limit. "
        "Shorten it or point to a document; not applied."
    )
    assert codes(report) == ["too-long"]  # exactly at the limit (M6) is fine


def test_control_characters_are_removed_with_a_warning(lpt: Issued, tmp_path: Path) -> None:
    # Excel stores a pasted control character as _x0007_; a sloppy writer puts the raw byte.
    escaped = tmp_path / "escaped.xlsx"
    fill_in(lpt.chs, escaped, {("2.1.1", "comments"): "bell_x0007_here", ("2.1.2", "comments"): "RAW-MARK"})
    part = sheet_part(escaped)
    path = rewrite_zip(escaped, tmp_path / "control.xlsx", {part: replace(b"RAW-MARK", b"vertical\x0btab")})
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 0
    assert report["status"] == "warnings"
    assert [(p["severity"], p["code"], p["cell"], p["action"], p["column"]) for p in report["problems"]] == [
        ("warning", "control-chars", "M5", "2.1.1", COMMENTS_HEADER),
        ("warning", "control-chars", "M6", "2.1.2", COMMENTS_HEADER),
    ]
    assert report["problems"][0]["message"] == (
        "invisible control characters (pasted from another "
        "program) were removed; the rest of the text is kept."
    )


def test_formula_with_its_calculated_value(lpt: Issued, tmp_path: Path) -> None:
    # As Excel saves a formula: <f> and the cached value <v>.
    marked = tmp_path / "marked.xlsx"
    fill_in(lpt.chs, marked, {("2.1.1", "comments"): "FORMULA-MARK"})
    part = sheet_part(marked)
    path = rewrite_zip(
        marked,
        tmp_path / "formula.xlsx",
        {part: replace(b't="inlineStr"><is><t>FORMULA-MARK</t></is>', b"><f>1+1</f><v>2</v>")},
    )
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 0
    assert report["status"] == "warnings"
    assert report["problems"] == [
        {
            "severity": "warning",
            "code": "formula",
            "sheet": PLAN_SHEET,
            "cell": "M5",
            "action": "2.1.1",
            "column": COMMENTS_HEADER,
            "value": "=1+1",
            "message": "the cell holds the formula =1+1; its shown value '2' is kept as text.",
        }
    ]


def test_formula_written_by_openpyxl_over_a_filled_cell(lpt: Issued, tmp_path: Path) -> None:
    def formula(book: openpyxl.Workbook) -> None:
        book[PLAN_SHEET]["M4"].value = "=1+1"  # 2.1's comments were not empty when issued
        assert book[PLAN_SHEET]["M4"].data_type == "f"

    path = edit_book(lpt.chs, tmp_path / "formula.xlsx", formula)
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 0
    problem = only(report, "formula")
    assert (problem["severity"], problem["cell"], problem["action"], problem["value"]) == (
        "warning",
        "M4",
        "2.1",
        "=1+1",
    )


# Regression: a formula whose shown value equals what was issued (here: never calculated, as
# openpyxl writes none) used to pass unreported, because `same(value, issued)` came first.
def test_formula_in_an_empty_cell_is_reported(lpt: Issued, tmp_path: Path) -> None:
    def formula(book: openpyxl.Workbook) -> None:
        book[PLAN_SHEET]["M5"].value = "=1+1"  # 2.1.1's comments were empty when issued

    path = edit_book(lpt.chs, tmp_path / "formula.xlsx", formula)
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 0
    assert report["status"] == "warnings"
    assert [
        (p["severity"], p["code"], p["cell"], p["action"], p["column"], p["value"])
        for p in report["problems"]
    ] == [("warning", "formula", "M5", "2.1.1", COMMENTS_HEADER, "=1+1")]
    assert report["problems"][0]["message"].startswith("the cell holds the formula =1+1")


def test_text_that_looks_like_a_formula_is_kept_as_text(lpt: Issued, tmp_path: Path) -> None:
    path = tmp_path / "looks-like.xlsx"
    fill_in(
        lpt.chs, path, {("2.1.1", "comments"): "=not a formula", ("2.1.2", "comments"): "+44 116 295 0030"}
    )
    sheet = openpyxl.load_workbook(path)[PLAN_SHEET]
    assert (sheet["M5"].data_type, sheet["M5"].value) == ("s", "=not a formula")
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 0
    assert report["status"] == "ok"
    assert [(p["severity"], p["code"], p["cell"], p["action"], p["value"]) for p in report["problems"]] == [
        ("info", "formula-like-text", "M5", "2.1.1", "=not a formula"),
        ("info", "formula-like-text", "M6", "2.1.2", "+44 116 295 0030"),
    ]
    assert report["problems"][0]["message"] == (
        "'=not a formula' starts like a formula; it is kept as text and will never be calculated."
    )


def test_date_column_holding_no_date(lpt: Issued, returns: dict[str, Path]) -> None:
    code, data = validate(returns["warnings"], "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 0
    assert report["status"] == "warnings"
    assert report["problems"] == [
        {
            "severity": "warning",
            "code": "not-a-date",
            "sheet": PLAN_SHEET,
            "cell": "J7",
            "action": "2.1.3",
            "column": DUE_HEADER,
            "value": "sometime soon",
            "message": "'sometime soon' names no single day, so lateness cannot be checked; kept as "
            "written. A date such as 31/03/2025 can be checked.",
        }
    ]


def test_complete_without_evidence(lpt: Issued, tmp_path: Path) -> None:
    path = tmp_path / "purple.xlsx"
    fill_in(
        lpt.chs,
        path,
        {
            ("2.1.2", "directorate_rag"): "Purple",
            ("2.1.3", "directorate_rag"): "Blue",
            ("2.1.3", "comments"): "Assured at the June committee; minutes on the drive.",
        },
    )
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 0
    assert report["status"] == "warnings"
    assert report["problems"] == [
        {
            "severity": "warning",
            "code": "complete-without-evidence",
            "sheet": PLAN_SHEET,
            "cell": "M6",
            "action": "2.1.2",
            "column": COMMENTS_HEADER,
            "value": "Purple",
            "message": "rated Purple (complete) but 'Comments/ Remedial Actions' is empty. Say what the "
            "evidence is and where it is kept.",
        }
    ]


def test_parent_complete_while_a_child_is_open(lpt: Issued, tmp_path: Path) -> None:
    path = tmp_path / "parent.xlsx"
    fill_in(lpt.chs, path, {("2.1", "directorate_rag"): "Blue", ("2.1.1", "directorate_rag"): "Red"})
    for plan_args in (("--plan", lpt.plan), ()):
        code, data = validate(path, *plan_args, *EARLY)
        report = single(data)
        assert code == 0
        assert report["problems"] == [
            {
                "severity": "warning",
                "code": "parent-complete-child-open",
                "sheet": PLAN_SHEET,
                "cell": "N4",
                "action": "2.1",
                "column": RATING_HEADER,
                "value": "Blue",
                "message": "rated Blue (complete) while its sub-action 2.1.1 is rated Red.",
            }
        ]


def test_overdue(lpt: Issued, tmp_path: Path) -> None:
    code, data = validate(lpt.chs, "--plan", lpt.plan, "--as-of", "2018-01-01")
    report = single(data)
    assert code == 0
    assert report["status"] == "warnings"
    assert set(codes(report)) == {"overdue"}
    problem = next(p for p in report["problems"] if p["action"] == "5.1.2")
    assert problem == {
        "severity": "warning",
        "code": "overdue",
        "sheet": PLAN_SHEET,
        "cell": "J15",
        "action": "5.1.2",
        "column": DUE_HEADER,
        "value": "October 2017",
        "message": "due 31/10/2017, which has passed (as of 01/01/2018), and not rated: not "
        "complete. Update the rating, the date or the comments.",
    }
    # Rated complete (with evidence), it is no longer overdue; 'March 2017 - March 2018' is no day.
    path = tmp_path / "done.xlsx"
    fill_in(
        lpt.chs, path, {("5.1.2", "directorate_rag"): "Purple", ("5.1.2", "comments"): "Done: see CQC/5.1.2"}
    )
    code, data = validate(path, "--plan", lpt.plan, "--as-of", "2018-01-01")
    overdue = {p["action"] for p in single(data)["problems"] if p["code"] == "overdue"}
    assert "5.1.2" not in overdue and "2.1" not in overdue and "5.1.1" in overdue
    code, data = validate(lpt.chs, "--plan", lpt.plan, "--as-of", "2017-01-01")
    assert single(data)["problems"] == []


def test_proposed_actions_in_spare_rows(lpt: Issued, tmp_path: Path) -> None:
    path = tmp_path / "proposal.xlsx"
    fill_in(
        lpt.chs,
        path,
        {},
        proposals=[
            {
                "action_ref": "2.1.9",
                "directorate": "CHS",
                "action": "Weekly care-plan huddle on every ward.",
                "directorate_rag": "White",
            },
            {"action_ref": "2.1.10", "action": "A second idea", "directorate_rag": "Yellow"},
        ],
    )
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1  # the second proposal's rating is off the scale
    assert [(p["severity"], p["code"], p["cell"], p["action"]) for p in report["problems"]] == [
        ("info", "proposed-action", f"D{FIRST_SPARE}", "2.1.9"),
        ("error", "invalid-rating", f"N{FIRST_SPARE + 1}", "2.1.10"),
        ("info", "proposed-action", f"D{FIRST_SPARE + 1}", "2.1.10"),
    ]
    assert report["problems"][0]["message"] == (
        f"a new action 2.1.9 is proposed in spare row {FIRST_SPARE}; merge adds it to the plan, "
        "flagged as proposed."
    )


def test_return_of_another_plan(lpt: Issued, other_template: Path) -> None:
    code, data = validate(other_template, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    assert report["status"] == "refused"
    problem = only(report, "other-plan")
    assert problem["severity"] == "error"
    assert problem["message"].startswith("this return belongs to plan 'CQC action plan' (ID ")
    assert problem["message"].endswith("It was not read further.")
    assert codes(report) == ["other-plan"]
    code, data = validate(other_template, *EARLY)  # on its own it is a fine return
    assert (code, single(data)["status"]) == (0, "ok")


def test_return_of_another_cycle(lpt: Issued) -> None:
    code, data = validate(lpt.chs, "--plan", lpt.plan, *EARLY, "--cycle", "2099-Q1")
    report = single(data)
    assert code == 0
    assert report["status"] == "warnings"
    assert report["problems"] == [
        {
            "severity": "warning",
            "code": "other-cycle",
            "sheet": None,
            "cell": None,
            "action": None,
            "column": None,
            "value": None,
            "message": "issued for cycle '2017-Q2', not '2099-Q1': an old template may have been filled in. "
            "Check the figures are current.",
        }
    ]


def test_unknown_service(lpt: Issued, tmp_path: Path) -> None:
    path = set_metadata(lpt.chs, tmp_path / "nope.xlsx", "service", "Nope")
    assert openpyxl.load_workbook(path)["_xlplan"].sheet_state == "veryHidden"
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    assert (report["service"], report["status"]) == ("Nope", "refused")
    assert report["problems"] == [
        {
            "severity": "error",
            "code": "unknown-service",
            "sheet": None,
            "cell": None,
            "action": None,
            "column": None,
            "value": None,
            "message": "the plan has no actions for service 'Nope' (renamed or removed from the master "
            "since issue). It was not merged.",
        }
    ]


def test_the_master_given_as_a_return(lpt: Issued) -> None:
    for plan_args in (("--plan", lpt.plan), ()):
        code, data = validate(lpt.plan, *plan_args, *EARLY)
        report = single(data)
        assert code == 2
        assert report["status"] == "unreadable"
        assert report["problems"] == [
            {
                "severity": "error",
                "code": "not-a-template",
                "sheet": None,
                "cell": None,
                "action": None,
                "column": None,
                "value": None,
                "message": "this is an xlplan master plan, not a service's return. Returns are the "
                "workbooks `xlplan template` wrote.",
            }
        ]


def test_a_workbook_that_is_no_return(lpt: Issued, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["Budget", "2017"])
    book.save(tmp_path / "budget.xlsx")
    code, data = validate(tmp_path / "budget.xlsx", *EARLY)
    report = single(data)
    assert (code, report["status"], codes(report)) == (2, "unreadable", ["not-a-template"])
    assert "--plan" in report["problems"][0]["message"]


def test_a_workbook_that_is_no_return_checked_against_the_plan(lpt: Issued, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["Budget", "2017"])
    book.save(tmp_path / "budget.xlsx")
    code, data = validate(tmp_path / "budget.xlsx", "--plan", str(lpt.plan), *EARLY)
    report = single(data)
    assert (code, report["status"], codes(report)) == (2, "unreadable", ["not-a-template"])
    assert "not a return of this plan" in report["problems"][0]["message"]


def test_return_pasted_into_a_new_workbook(lpt: Issued, tmp_path: Path) -> None:
    filled = tmp_path / "filled.xlsx"
    fill_in(lpt.chs, filled, {("2.1.2", "directorate_rag"): "Yellow", ("2.1.1", "directorate_rag"): "Green"})
    pasted = copy_values(filled, tmp_path / "pasted.xlsx")
    code, data = validate(pasted, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 1
    assert (report["service"], report["cycle"]) == ("CHS", None)
    assert codes(report) == ["no-metadata", "invalid-rating"]
    no_metadata = only(report, "no-metadata")
    assert no_metadata["severity"] == "warning"
    assert no_metadata["message"] == (
        "the hidden xlplan metadata is gone (the actions were probably copied into a new workbook); "
        "rows were matched to the plan by their grey (read-only) cells, as issued, and the return "
        "taken as 'CHS''s. Next time send back the workbook as issued."
    )
    invalid = only(report, "invalid-rating")
    assert (invalid["cell"], invalid["action"], invalid["value"]) == ("N6", "2.1.2", "Yellow")

    # Without the master it cannot be matched: not a template.
    code, data = validate(pasted, *EARLY)
    report = single(data)
    assert (code, report["status"], codes(report)) == (2, "unreadable", ["not-a-template"])
    assert report["problems"][0]["message"].startswith(
        "the workbook has no xlplan metadata. If it is "
        "a return copied into a new workbook, give the "
        "master with --plan"
    )

    # Pasted without the hidden ID column into a sheet of another name: still matched.
    bare = copy_values(lpt.chs, tmp_path / "bare.xlsx", title="Sheet1", columns=18)
    code, data = validate(bare, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, report["service"], codes(report)) == (0, "CHS", ["no-metadata"])


def test_macros_are_ignored(lpt: Issued, tmp_path: Path) -> None:
    path = tmp_path / "CHS.xlsm"
    fill_in(lpt.chs, tmp_path / "filled.xlsx", {("2.1", "directorate_rag"): "Green"})
    shutil.copyfile(tmp_path / "filled.xlsx", path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("xl/vbaProject.bin", CFB_MAGIC + b"\0" * 1024)
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 0
    assert (report["status"], report["service"]) == ("warnings", "CHS")
    assert report["problems"] == [
        {
            "severity": "warning",
            "code": "macros-ignored",
            "sheet": None,
            "cell": None,
            "action": None,
            "column": None,
            "value": None,
            "message": "the workbook holds macros. They were not run and will not be carried anywhere; "
            "save as .xlsx (Excel Workbook) next time.",
        }
    ]


# Regression: it used to be read as damaged metadata, i.e. `no-metadata` (a warning, exit 0).
def test_return_written_by_a_newer_xlplan(lpt: Issued, tmp_path: Path) -> None:
    path = set_metadata(lpt.chs, tmp_path / "newer.xlsx", "format_version", "99")
    for plan_args in (("--plan", lpt.plan), ()):
        code, data = validate(path, *plan_args, *EARLY)
        report = single(data)
        assert code == 2
        assert report["status"] == "unreadable"
        assert [(p["severity"], p["code"]) for p in report["problems"]] == [("error", "newer-format")]
        assert (
            "was written by a newer xlplan (format 99; this one reads up to 1). Upgrade xlplan"
            in (report["problems"][0]["message"])
        )


# --------------------------------------------------------------------------- 3. broken and hostile files


def _text(folder: Path, template: Path) -> Path:
    path = folder / "notes renamed.xlsx"
    path.write_text("Dear team,\nplease find our return attached.\n", encoding="utf-8")
    return path


def _empty(folder: Path, template: Path) -> Path:
    path = folder / "empty.xlsx"
    path.write_bytes(b"")
    return path


def _truncated(folder: Path, template: Path) -> Path:
    data = template.read_bytes()
    path = folder / "truncated.xlsx"
    path.write_bytes(data[: len(data) // 2])
    return path


def _garbage_zip(folder: Path, template: Path) -> Path:
    path = folder / "garbage.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", b"\x89PNG\r\n not xml at all")
        archive.writestr("xl/workbook.xml", bytes(range(256)) * 8)
        archive.writestr("random.bin", bytes(range(256)) * 8)
    return path


def _bomb_1gb(folder: Path, template: Path) -> Path:
    return zip_bomb(folder / "bomb.xlsx", 1024)


def _bomb_ratio(folder: Path, template: Path) -> Path:
    # 200 MB, under the 250 MB total, but compressed ~1000:1 as no real sheet is.
    return zip_bomb(folder / "ratio.xlsx", 200)


def _oversized(folder: Path, template: Path) -> Path:
    path = folder / "huge.xlsx"
    with path.open("wb") as handle:  # sparse: 51 MB on paper, nothing on disk
        handle.write(b"PK\x03\x04")
        handle.truncate(51 * 2**20)
    return path


def _billion_laughs(folder: Path, template: Path) -> Path:
    return rewrite_zip(template, folder / "laughs.xlsx", {"xl/workbook.xml": with_billion_laughs})


def _xxe(folder: Path, template: Path) -> Path:
    part = sheet_part(template)
    return rewrite_zip(template, folder / "xxe.xlsx", {part: with_xxe})


def _encrypted(folder: Path, template: Path) -> Path:
    path = folder / "encrypted.xlsx"
    path.write_bytes(
        CFB_MAGIC
        + b"\0" * 504
        + "EncryptionInfo".encode("utf-16-le")
        + b"\0" * 2048
        + "EncryptedPackage".encode("utf-16-le")
        + b"\0" * 2048
    )
    return path


def _old_format(folder: Path, template: Path) -> Path:
    path = folder / "old.xlsx"
    path.write_bytes(CFB_MAGIC + b"\0" * 4096)
    return path


HOSTILE = {
    # name: (builder, code, words the message must hold)
    "text renamed .xlsx": (_text, "not-a-workbook", "not an Excel or OpenDocument workbook"),
    "empty file": (_empty, "corrupt", "empty (0 bytes)"),
    "first half of an xlsx": (_truncated, "corrupt", "damaged or truncated"),
    "zip of garbage members": (_garbage_zip, "corrupt", "is not a spreadsheet xlplan can read"),
    "1 GB zip bomb": (_bomb_1gb, "too-large", "unpacks to 1,024 MB (limit 250 MB): refused unread"),
    "1000:1 member": (_bomb_ratio, "too-large", "as only a zip bomb is: refused unread"),
    "51 MB file": (_oversized, "too-large", "the file is 51 MB; a return may be at most 50 MB"),
    "billion laughs": (_billion_laughs, "unsafe-xml", "part xl/workbook.xml declares a DTD or entities"),
    "external entity": (_xxe, "unsafe-xml", "declares a DTD or entities"),
    "password to open": (
        _encrypted,
        "encrypted",
        "File > Info > Protect Workbook > Encrypt with Password, clear the password",
    ),
    "old .xls renamed": (_old_format, "not-a-workbook", "old-format (.xls) file with another extension"),
}


@pytest.fixture(scope="module")
def hostile(lpt: Issued, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {name: build(folder, lpt.chs) for name, (build, _, _) in HOSTILE.items()}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_broken_or_hostile_file_is_refused_without_a_traceback(
    name: str, hostile: dict[str, Path], lpt: Issued
) -> None:
    _, code_expected, words = HOSTILE[name]
    # Refused by the gate, from the zip directory and the XML prolog, before any parser: the
    # gate's own code and words say so (no timing: speed is bench/'s business).
    code, data = validate(hostile[name], "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 2
    assert (report["status"], report["service"], report["cycle"]) == ("unreadable", None, None)
    assert [(p["severity"], p["code"]) for p in report["problems"]] == [("error", code_expected)]
    assert words in report["problems"][0]["message"]


def test_zip_bomb_really_unpacks_to_a_gigabyte(hostile: dict[str, Path]) -> None:
    path = hostile["1 GB zip bomb"]
    assert path.stat().st_size < 2 * 2**20
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size > 2**30
        with archive.open("xl/worksheets/sheet1.xml") as stream:  # the stream is honest
            assert stream.read(64).startswith(b'<?xml version="1.0"?><worksheet><sheetData>')


def test_all_hostile_files_together_in_text_mode(hostile: dict[str, Path], tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path in hostile.values():
        (inbox / path.name).symlink_to(path)
    result = xlplan("validate", inbox)
    assert result.exit_code == 2
    assert result.output.count("UNREADABLE (service unknown)") == len(HOSTILE)


# Regression: the sniff used to read only the first 64 KB of each part, and a DOCTYPE may follow
# any amount of comment or white space in the XML prolog.
@pytest.mark.parametrize("where", ["comment before it in workbook.xml", "spaces before it in the plan sheet"])
def test_dtd_after_a_long_prolog_is_still_refused(where: str, lpt: Issued, tmp_path: Path) -> None:
    if where.startswith("comment"):
        padding = b"<!--" + b"x" * 70_000 + b"-->\n"
        parts = {"xl/workbook.xml": lambda data: with_billion_laughs(data, padding)}
    else:

        def spaced_xxe(data: bytes) -> bytes:
            xxe = with_xxe(data)  # DOCTYPE right after the XML declaration: push it 70 KB down
            cut = after_xml_declaration(xxe)
            late = xxe[:cut] + b" " * 70_000 + xxe[cut:]
            assert late.index(b"<!DOCTYPE") > 70_000
            return late

        parts = {sheet_part(lpt.chs): spaced_xxe}
    path = rewrite_zip(lpt.chs, tmp_path / "late-dtd.xlsx", parts)
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert (code, report["status"], codes(report)) == (2, "unreadable", ["unsafe-xml"])


def _plan_part_cut(template: Path) -> dict[str, Callable[[bytes], bytes | None]]:
    return {sheet_part(template): lambda data: data[: len(data) // 2]}


def _plan_part_garbage(template: Path) -> dict[str, Callable[[bytes], bytes | None]]:
    return {sheet_part(template): lambda data: b"\x00\xff garbage " * 100}


def _metadata_part_garbage(template: Path) -> dict[str, Callable[[bytes], bytes | None]]:
    return {sheet_part(template, "_xlplan"): lambda data: b"\x00\xff garbage " * 100}


def _plan_part_missing(template: Path) -> dict[str, Callable[[bytes], bytes | None]]:
    return {sheet_part(template): lambda data: None}


DAMAGED_PARTS = {
    "plan sheet cut short": _plan_part_cut,
    "plan sheet garbage": _plan_part_garbage,
    "metadata sheet garbage": _metadata_part_garbage,
    "plan sheet part missing": _plan_part_missing,
    "plan sheet larger than declared": None,  # lying_bomb
}


def _damaged(name: str, template: Path, folder: Path) -> Path:
    path = folder / f"{name.replace(' ', '-')}.xlsx"
    if DAMAGED_PARTS[name] is None:
        return lying_bomb(template, path)
    return rewrite_zip(template, path, DAMAGED_PARTS[name](template))


# Regression: calamine parses a sheet only when it is read, after open_workbook's checks, so
# damage inside a sheet used to escape as "unexpected error ... XmlError" (exit 3).
@pytest.mark.parametrize("name", list(DAMAGED_PARTS))
def test_damaged_sheet_inside_a_real_template_is_reported_as_corrupt(
    name: str, lpt: Issued, tmp_path: Path
) -> None:
    path = _damaged(name, lpt.chs, tmp_path)
    code, data = validate(path, "--plan", lpt.plan, *EARLY)
    report = single(data)
    assert code == 2
    assert (report["status"], report["service"]) == ("unreadable", None)
    assert codes(report) in (["corrupt"], ["too-large"])
    message = report["problems"][0]["message"]
    assert "send it again" in message or "sent again" in message, message  # says what to do


def test_one_damaged_return_does_not_hide_the_others(
    lpt: Issued, returns: dict[str, Path], tmp_path: Path
) -> None:
    damaged = _damaged("plan sheet cut short", lpt.chs, tmp_path)
    code, data = validate(damaged, returns["clean"], "--plan", lpt.plan, *EARLY)
    assert code == 2
    assert entry(data, returns["clean"])["status"] == "ok"
    assert entry(data, damaged)["status"] == "unreadable"


def test_junk_in_the_inbox_is_skipped_never_fatal(
    returns: dict[str, Path], lpt: Issued, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "archive").mkdir(parents=True)
    shutil.copyfile(returns["clean"], inbox / "CHS return.xlsx")
    (inbox / "~$CHS return.xlsx").write_bytes(b"\x05lock owner\x00" * 10)
    (inbox / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 100)
    (inbox / "Thumbs.db").write_bytes(CFB_MAGIC + b"\0" * 100)
    (inbox / "notes.txt").write_text("Sent on behalf of CHS.", encoding="utf-8")
    (inbox / "archive" / "broken.xlsx").write_bytes(b"not read: folders are one level deep")
    code, data = validate(inbox, "--plan", lpt.plan, *EARLY)
    assert code == 0
    good = entry(data, "CHS return.xlsx")
    assert (good["status"], good["service"], good["problems"]) == ("ok", "CHS", [])
    skipped = {Path(f["path"]).name: f for f in data["files"] if f["status"] == "skipped"}
    assert sorted(skipped) == [".DS_Store", "Thumbs.db", "notes.txt", "~$CHS return.xlsx"]
    for name, report in skipped.items():
        assert codes(report) == ["skipped-file"]
        assert report["problems"][0]["severity"] == ("warning" if name == "notes.txt" else "info")
    assert skipped["notes.txt"]["problems"][0]["message"] == (
        "skipped: not a workbook (.txt). Returns are .xlsx, .xlsm, .ods or .xls, or saved "
        "emails (.eml, .msg) or a .zip holding them."
    )
    assert "broken.xlsx" not in json.dumps(data)

    result = xlplan("validate", inbox, "--plan", lpt.plan, *EARLY)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    # each skipped file on one line that says so once (the --json message, with its name)
    assert f"notes.txt: {skipped['notes.txt']['problems'][0]['message']}" in lines
    assert "~$CHS return.xlsx: skipped: a lock file or hidden system file." in lines
    said = [line for line in lines if str(inbox) not in line and "skipped" in line]
    assert [line.count("skipped") for line in said] == [1] * 4


def test_a_skipped_file_is_said_skipped_once_on_every_surface(
    returns: dict[str, Path], lpt: Issued, tmp_path: Path
) -> None:
    """validate's line, --json and the merged master's Issues sheet carry one message for a
    file that is not a return, saying "skipped" once, first; a zip's stray file too."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copyfile(returns["clean"], inbox / "CHS return.xlsx")
    (inbox / "notes.txt").write_text("Sent on behalf of CHS.", encoding="utf-8")
    with zipfile.ZipFile(inbox / "returns.zip", "w") as archive:
        archive.write(returns["clean"], "CHS.xlsx")
        archive.writestr("readme.txt", "the return is attached")
    said = (
        "skipped: not a workbook (.txt). Returns are .xlsx, .xlsm, .ods or .xls, or saved "
        "emails (.eml, .msg) or a .zip holding them."
    )

    _, data = validate(inbox, "--plan", lpt.plan, *EARLY)
    messages = {
        Path(f["path"]).name: f["problems"][0]["message"] for f in data["files"] if f["status"] == "skipped"
    }
    assert messages == {
        "notes.txt": said,
        "returns.zip » readme.txt": "skipped: not a workbook or email (.txt).",
    }

    lines = xlplan("validate", inbox, "--plan", lpt.plan, *EARLY).output.splitlines()
    assert [line for line in lines if str(inbox) not in line and "skipped" in line] == [
        f"notes.txt: {said}",
        "returns.zip » readme.txt: skipped: not a workbook or email (.txt).",
    ]

    merged = tmp_path / "merged.xlsx"
    assert xlplan("merge", lpt.plan, inbox, "-o", merged, *EARLY).exit_code == 0
    issues = openpyxl.load_workbook(merged, read_only=True)["Issues"]
    skipped_rows = [r for r in issues.iter_rows(values_only=True) if r[1] == "skipped-file"]
    assert [(r[3], r[9]) for r in skipped_rows] == [("notes.txt", said)]  # the zip's note is info


def test_a_return_saved_as_csv_or_xlsb_is_said_as_what_it_is(lpt: Issued, tmp_path: Path) -> None:
    """A service that saved its return as CSV or Excel binary is told to save it as .xlsx,
    not that it sent something that is not a workbook."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "CHS.csv").write_text("Action Reference,Directorate RAG Rating\n2.1,Green\n", encoding="utf-8")
    (inbox / "FYPC.xlsb").write_bytes(b"PK\x03\x04binary")
    result = xlplan("validate", inbox, "--plan", lpt.plan, *EARLY)
    assert (
        "CHS.csv: skipped: saved as CSV, which keeps neither the hidden IDs nor the locked "
        "columns. Ask the service to save the workbook it was sent as .xlsx (File > Save As > "
        "Excel Workbook) and send that." in result.output.splitlines()
    )
    assert (
        "FYPC.xlsb: skipped: an Excel binary workbook (.xlsb), which xlplan does not read. Ask"
        in result.output
    )
    assert result.output.count("save the workbook it was sent as .xlsx") == 2


# --------------------------------------------------------------------------- 4. LibreOffice


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_ods_saved_by_libreoffice_is_read_with_its_metadata(lpt: Issued, tmp_path: Path) -> None:
    filled = tmp_path / "CHS.xlsx"
    fill_in(lpt.chs, filled, {**CLEAN_EDITS, ("2.1.3", "directorate_rag"): "amber"})
    outdir = tmp_path / "ods"
    profile = (tmp_path / "lo-profile").as_uri()
    try:
        done = subprocess.run(
            [
                "soffice",
                f"-env:UserInstallation={profile}",
                "--headless",
                "--convert-to",
                "ods",
                "--outdir",
                str(outdir),
                str(filled),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("LibreOffice did not convert within 120 s")
    ods = outdir / "CHS.ods"
    if not ods.exists():
        pytest.skip(f"LibreOffice could not convert: {done.stderr.decode(errors='replace')[:300]}")
    for plan_args in (("--plan", lpt.plan), ()):
        code, data = validate(ods, *plan_args, *EARLY)
        report = single(data)
        assert code == 0
        assert (report["service"], report["cycle"], report["status"]) == ("CHS", CYCLE, "ok")
        # The cells were really read: the one lower-case rating is normalised, nothing else said.
        assert [(p["code"], p["cell"], p["value"]) for p in report["problems"]] == [
            ("rating-normalised", "N7", "amber")
        ]


# --------------------------------------------------------------------------- 5. --annotate


def test_annotate_marks_every_problem_cell_in_a_copy(
    lpt: Issued, returns: dict[str, Path], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("clean", "errors", "unreadable"):
        shutil.copyfile(returns[name], inbox / returns[name].name)
    shutil.copyfile(returns["clean"], inbox / "macro.xlsm")
    with zipfile.ZipFile(inbox / "macro.xlsm", "a") as archive:
        archive.writestr("xl/vbaProject.bin", CFB_MAGIC + b"\0" * 1024)
    before = {p.name: sha(p) for p in inbox.iterdir()}
    marked = tmp_path / "marked"

    result = xlplan("validate", inbox, "--plan", lpt.plan, *EARLY, "--annotate", marked)
    assert result.exit_code == 2  # the unreadable one
    assert {p.name: sha(p) for p in inbox.iterdir()} == before  # inputs untouched
    assert sorted(p.name for p in marked.iterdir()) == ["clean.xlsx", "errors.xlsx", "macro.xlsx"]
    assert f"annotated copy: {marked / 'errors.xlsx'}" in result.output

    book = openpyxl.load_workbook(marked / "errors.xlsx")
    assert book.sheetnames[0] == "xlplan problems"
    assert book.active.title == "xlplan problems"
    listing = list(book["xlplan problems"].iter_rows(values_only=True))
    assert listing[0] == ("Severity", "Code", "Cell", "Action", "Column", "Value", "What to do")
    assert [row[:6] for row in listing[1:]] == [
        ("error", "invalid-rating", "N6", "2.1.2", RATING_HEADER, "Yellow"),
        ("warning", "complete-without-evidence", "M7", "2.1.3", COMMENTS_HEADER, "Purple"),
    ]
    sheet = book[PLAN_SHEET]
    error, warning = sheet["N6"], sheet["M7"]
    assert error.value == "Yellow"  # the service's own content is kept
    assert error.fill.fgColor.rgb.endswith(PROBLEM_FILL)
    assert error.comment.author == "xlplan"
    assert error.comment.text == (
        f"ERROR: 'Yellow' is not on the scale; pick one of {SCALE} from the dropdown. Not applied."
    )
    assert warning.fill.fgColor.rgb.endswith(WARNING_FILL)
    assert warning.comment.text.startswith("WARNING: rated Purple (complete)")
    assert sheet["N5"].comment is None and sheet["M6"].comment is None
    notes = [c for row in sheet.iter_rows() for c in row if c.comment]
    assert sum(1 for c in notes if not c.comment.text.startswith("Spare rows")) == 2

    clean = openpyxl.load_workbook(marked / "clean.xlsx")
    assert clean.sheetnames[0] == "xlplan problems"
    assert list(clean["xlplan problems"].iter_rows(values_only=True))[1:] == []
    with zipfile.ZipFile(marked / "macro.xlsx") as archive:
        assert not any("vbaproject" in n.lower() for n in archive.namelist())
    macro = list(openpyxl.load_workbook(marked / "macro.xlsx")["xlplan problems"].iter_rows(values_only=True))
    assert [row[:2] for row in macro[1:]] == [("warning", "macros-ignored")]


def test_annotate_into_the_inbox_itself_is_refused(
    lpt: Issued, returns: dict[str, Path], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("clean", "errors"):
        shutil.copyfile(returns[name], inbox / returns[name].name)
    before = {p.name: sha(p) for p in inbox.iterdir()}
    result = xlplan("validate", inbox, "--plan", lpt.plan, *EARLY, "--annotate", inbox)
    assert result.exit_code == 2
    assert f"--annotate {inbox} is where the returns are; choose another folder" in result.output
    assert {p.name: sha(p) for p in inbox.iterdir()} == before


# Regression: the copy of CHS.xlsm is CHS.xlsx, which used to overwrite the service's own file.
def test_annotate_into_the_inbox_never_overwrites_a_return(
    lpt: Issued, returns: dict[str, Path], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copyfile(returns["clean"], inbox / "CHS.xlsm")
    shutil.copyfile(returns["errors"], inbox / "CHS.xlsx")
    before = {p.name: sha(p) for p in inbox.iterdir()}
    result = xlplan("validate", inbox, "--plan", lpt.plan, *EARLY, "--annotate", inbox)
    assert {p.name: sha(p) for p in inbox.iterdir()} == before
    assert result.exit_code == 2
    assert "is where the returns are" in result.output


# --------------------------------------------------------------------------- 6. exit codes


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["clean"], 0),
        (["warnings"], 0),
        (["clean", "warnings"], 0),
        (["errors"], 1),
        (["clean", "errors", "warnings"], 1),
        (["unreadable"], 2),
        (["clean", "errors", "unreadable"], 2),
        (["unreadable", "clean"], 2),
    ],
)
def test_exit_code_is_the_worst_over_all_files(
    names: list[str], expected: int, returns: dict[str, Path], lpt: Issued
) -> None:
    paths = [returns[n] for n in names]
    code, data = validate(*paths, "--plan", lpt.plan, *EARLY)
    assert code == expected
    statuses = {"clean": "ok", "warnings": "warnings", "errors": "errors", "unreadable": "unreadable"}
    assert [f["status"] for f in data["files"]] == [statuses[n] for n in names]
    assert xlplan("validate", *paths, "--plan", lpt.plan, *EARLY).exit_code == expected  # text mode too


def test_text_report_counts_errors_and_warnings(returns: dict[str, Path], lpt: Issued) -> None:
    result = xlplan("validate", returns["errors"], "--plan", lpt.plan, *EARLY)
    assert result.exit_code == 1
    assert f"{returns['errors']}: ERRORS (CHS, cycle {CYCLE}): 1 error(s), 1 warning(s)" in result.output
    assert (
        "error: [invalid-rating] sheet 'Action plan', cell N6, action 2.1.2, column "
        "'Directorate RAG Rating': 'Yellow' is not on the scale"
    ) in result.output


def test_nothing_to_validate(tmp_path: Path) -> None:
    result = xlplan("validate", tmp_path / "missing.xlsx")
    assert result.exit_code == 2
    assert "missing.xlsx not found" in result.output
    (tmp_path / "empty").mkdir()
    result = xlplan("validate", tmp_path / "empty")
    assert result.exit_code == 2
    assert "No workbooks found to validate." in result.output


def test_bad_options(lpt: Issued, returns: dict[str, Path]) -> None:
    result = xlplan("validate", returns["clean"], "--as-of", "someday")
    assert result.exit_code == 2
    assert "'someday' is not a date" in result.output
    result = xlplan("validate", returns["clean"], "--plan", lpt.chs)
    assert result.exit_code == 2
    assert "is a service template (CHS), not the master plan" in result.output
