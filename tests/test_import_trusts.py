"""A central team imports the plan it really keeps: merged title rows, section headings, a key
row, its own words for the headers ("RAG", "Lead"), free-text dates, an extra column and a
Glossary sheet, in .xlsx and as the CSV export of the same; and files that cannot be read."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import LAYOUTS, all_sheet_values, plan_table, sheet_values, write_csv

from xlplan.layout import load_layout
from xlplan.safety_gate import _is_encrypted_xls

# Each layout's columns as a trust heads them in its own file, in the trust's order.
TRUST_HEADERS = {
    "cqc": [
        "Ref",
        "Requirement",
        "Service",
        "Action",
        "Lead",
        "Target date",
        "Update",
        "RAG Status",
        "Notes",
    ],
    "kmpt": [
        "Ref",
        "Recommendation",
        "Action",
        "Lead",
        "Due date",
        "Progress update",
        "Evidence",
        "RAG",
        "Notes",
    ],
    "eput": ["Ref", "Safety action", "Measurement", "Lead", "Target date", "Progress", "RAG", "Notes"],
    "solent": [
        "No.",
        "Recommendation",
        "Actions",
        "Lead",
        "Team",
        "Deadline",
        "Progress",
        "Evidence",
        "RAG status",
        "Notes",
    ],
}
# Where each role sits among those headers (the routing column differs per layout).
ROUTE_HEADER = {"cqc": "Service", "kmpt": "Lead", "eput": "Lead", "solent": "Team"}
RATING_HEADER = {"cqc": "RAG Status", "kmpt": "RAG", "eput": "RAG", "solent": "RAG status"}
DUE_HEADER = {"cqc": "Target date", "kmpt": "Due date", "eput": "Target date", "solent": "Deadline"}
ACTION_HEADER = {"cqc": "Action", "kmpt": "Action", "eput": "Safety action", "solent": "Actions"}
REF_HEADER = {"cqc": "Ref", "kmpt": "Ref", "eput": "Ref", "solent": "No."}
# (reference, service, rating as typed, due as typed, notes) for the five actions.
ACTIONS = [
    ("1.1", "Kate Slater", "G", "End July 2024", "Chased twice"),
    ("1.2", "K Slater", "Complete", dt.datetime(2024, 9, 30), ""),
    ("2.1", "Estates", "R/A", "TBC", dt.datetime(2024, 9, 12)),
    ("2.2", "Estates", "On track", "Q3 2024/25", ""),
    ("2.3", "Wards", "In progress", "Immediate", "See glossary"),
]
# The rating each becomes in the master; "In progress" is not on the scale and stays as typed.
RATINGS = ["Green", "Purple", "Red", "Green", "In progress"]
GLOSSARY = [["Term", "Meaning"], ["CQC", "Care Quality Commission"], ["RAG", "Red, Amber, Green"]]
KEY_TEXT = "Key: R = off track, A = at risk, G = on track, C = complete"


def trust_rows(name: str) -> tuple[list[list[object]], list[tuple[int, int]]]:
    """The plan sheet as a person keeps it, and which rows are merged across the table."""
    headers = TRUST_HEADERS[name]
    width = len(headers)

    def action(ref, service, rating, due, notes) -> list[object]:
        row: list[object] = [""] * width
        row[headers.index(REF_HEADER[name])] = ref
        row[headers.index(ACTION_HEADER[name])] = f"Action {ref}: audit and report"
        row[headers.index(ROUTE_HEADER[name])] = service
        row[headers.index(RATING_HEADER[name])] = rating
        row[headers.index(DUE_HEADER[name])] = due
        row[headers.index("Notes")] = notes
        if name == "solent":
            row[headers.index("Lead")] = "Named lead"
        return row

    rows: list[list[object]] = [
        ["Anytown NHS Trust – CQC Action Plan 2024"],  # 1, merged title
        ["Updated 30 June 2024"],  # 2
        [],  # 3
        list(headers),  # 4
        ["Section 1 – Safe care: staffing and supervision"],  # 5, merged heading
        action(*ACTIONS[0]),  # 6
        action(*ACTIONS[1]),  # 7
        list(headers[:-1]),  # 8, the header printed again on a new page (without Notes)
        ["Section 2 – Well-led: estates and environment"],  # 9, merged heading
        action(*ACTIONS[2]),  # 10
        action(*ACTIONS[3]),  # 11
        action(*ACTIONS[4]),  # 12
        [],  # 13
        [KEY_TEXT],  # 14
    ]
    merged = [(1, width), (5, width), (9, width)]
    return rows, merged


def trust_workbook(name: str, path: Path) -> Path:
    rows, merged = trust_rows(name)
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Action plan 2024"
    for row in rows:
        ws.append([None if v == "" else v for v in row] or [None])
    for row, width in merged:
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
    glossary = book.create_sheet("Glossary")
    for row in GLOSSARY:
        glossary.append(row)
    book.save(path)
    return path


def trust_csv(name: str, path: Path) -> Path:
    """The CSV Excel exports from the same sheet: dates as the person saw them."""
    rows, _ = trust_rows(name)
    shown = [[v.strftime("%d/%m/%Y") if isinstance(v, dt.datetime) else str(v) for v in row] for row in rows]
    return write_csv(path, shown)


def import_trust(run, tmp_path: Path, name: str, kind: str, *extra: str):
    source = (
        trust_workbook(name, tmp_path / "our plan.xlsx")
        if kind == "xlsx"
        else trust_csv(name, tmp_path / "our plan.csv")
    )
    out = tmp_path / "master.xlsx"
    result = run("import", source, "-o", out, "--layout", name, *extra)
    return result, out


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
@pytest.mark.parametrize("name", LAYOUTS)
def test_a_plan_as_trusts_keep_it_imports_its_actions_and_nothing_else(run, tmp_path, name, kind):
    result, out = import_trust(run, tmp_path, name, kind)

    assert result.exit_code == 0, result.output
    layout, _ = load_layout(name)
    assert f"Imported 5 actions from {tmp_path / ('our plan.' + kind)}" in result.output
    assert "header on row 4" in result.output
    _, actions = plan_table(out, layout.sheet)
    ref = layout.column(layout.reference).header
    assert [a[ref] for a in actions] == [a[0] for a in ACTIONS]
    route = layout.column(layout.route).header
    assert [a[route] for a in actions] == [a[1] for a in ACTIONS]
    # The skipped rows are listed by kind, with their row numbers and text.
    assert (
        "Skipped 2 section heading(s): row 5 'Section 1 – Safe care: staffing and "
        "supervision', row 9 'Section 2 – Well-led: estates and environment'."
    ) in result.output
    assert "Skipped 1 key or footnote row(s): row 14 'Key: R = off track" in result.output
    assert "Skipped 1 repeated header row(s): row 8." in result.output
    assert "Unassigned" not in result.output
    assert (
        f"4 services: Kate Slater (1), K Slater (1), Estates (2), Wards (1) (routed by {route!r})"
    ) in result.output
    assert sheet_values(out, layout.sheet)[0][0] == "Anytown NHS Trust – CQC Action Plan 2024"


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
@pytest.mark.parametrize("name", LAYOUTS)
def test_ratings_map_through_the_scale_and_what_does_not_is_listed(run, tmp_path, name, kind):
    result, out = import_trust(run, tmp_path, name, kind)

    assert result.exit_code == 0, result.output
    layout, _ = load_layout(name)
    _, actions = plan_table(out, layout.sheet)
    rating = layout.column(layout.service_rating).header
    assert [a[rating] for a in actions] == RATINGS
    assert (f"{RATING_HEADER[name]!r} -> {rating!r} (alias)") in result.output
    assert "'In progress' (row(s) 12) is not on the scale" in result.output
    assert '--map-rating "In progress=VALUE"' in result.output

    again, out2 = import_trust(
        run,
        tmp_path,
        name,
        kind,
        "--force",
        "--map-rating",
        "In progress=Amber",
        "--map-rating",
        "complete=Blue",
    )
    assert again.exit_code == 0, again.output
    _, actions = plan_table(out2, layout.sheet)
    assert [a[rating] for a in actions] == ["Green", "Blue", "Red", "Green", "Amber"]
    assert "not on the scale" not in again.output


@pytest.mark.parametrize("name", LAYOUTS)
def test_free_text_dates_stay_as_written_and_real_dates_stay_dates(run, tmp_path, name):
    result, out = import_trust(run, tmp_path, name, "xlsx")

    assert result.exit_code == 0, result.output
    layout, _ = load_layout(name)
    _, actions = plan_table(out, layout.sheet)
    due = layout.column(layout.due_field).header
    assert [a[due] for a in actions][0] == "End July 2024"
    assert isinstance([a[due] for a in actions][1], dt.datetime | dt.date)
    assert [a[due] for a in actions][2:] == ["TBC", "Q3 2024/25", "Immediate"]


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
@pytest.mark.parametrize("name", LAYOUTS)
def test_a_column_the_layout_does_not_know_is_kept_as_a_central_column(run, tmp_path, name, kind):
    result, out = import_trust(run, tmp_path, name, kind)

    assert result.exit_code == 0, result.output
    layout, _ = load_layout(name)
    header, actions = plan_table(out, layout.sheet)
    assert header[len(layout.columns) :] == ["Changed this cycle", "xlplan ID", "Notes"]
    # A date typed into a column that is not a date column is the text the person saw.
    assert [a["Notes"] for a in actions] == ["Chased twice", "", "12/09/2024", "", "See glossary"]
    assert "'Notes' kept as the central column 'Notes' (not issued to services)" in result.output
    # It is the master's, not the services': no template shows it.
    outbox = tmp_path / "outbox"
    issued = run("template", out, "-o", outbox)
    assert issued.exit_code == 0, issued.output
    for path in outbox.glob("*.xlsx"):
        assert "Notes" not in [str(c) for c in sheet_values(path, layout.sheet)[2]]


@pytest.mark.parametrize("name", LAYOUTS)
def test_the_other_sheets_of_the_source_are_kept_in_the_master(run, tmp_path, name):
    result, out = import_trust(run, tmp_path, name, "xlsx")

    assert result.exit_code == 0, result.output
    assert "Kept sheets as they are: 'Glossary'." in result.output
    assert all_sheet_values(out)["Glossary"][:3] == GLOSSARY


def test_names_of_one_person_typed_two_ways_are_flagged_with_their_rows(run, tmp_path):
    result, _ = import_trust(run, tmp_path, "kmpt", "xlsx")

    assert result.exit_code == 0, result.output
    assert (
        "'Kate Slater' on row(s) 6; 'K Slater' on row(s) 7 look like one service typed 2 ways"
    ) in result.output


def test_service_names_differing_by_case_or_spacing_are_flagged(run, tmp_path):
    rows = [
        ["Ref", "Action", "Owner"],
        ["1", "Audit", "Estates "],
        ["2", "Train", "ESTATES"],
        ["3", "Fix", "Wards"],
    ]
    source = write_csv(tmp_path / "plan.csv", rows)

    result = run("import", source, "-o", tmp_path / "plan.xlsx", "--layout", "kmpt")

    assert result.exit_code == 0, result.output
    assert "'Estates' on row(s) 2; 'ESTATES' on row(s) 3 look like one service" in result.output
    assert "Wards" not in result.output.split("similar-services")[1].split("\n")[0]


# --- the reference, routing and action columns -------------------------------------------

LOST_CSV = [
    ["Ref", "Action", "Target Date", "RAG Status", "Evidence", "Progress Update", "Responsible Lead"],
    ["1", "Audit care plans", "End July 2017", "A", "Minutes", "Started", "J Smith"],
    ["2", "Train staff", "30/09/2017", "G", "", "", "A Jones"],
]


def test_a_plan_without_the_routing_column_is_refused_naming_what_was_found(run, tmp_path):
    source = write_csv(tmp_path / "plan.csv", LOST_CSV)
    out = tmp_path / "plan.xlsx"

    result = run("import", source, "-o", out)

    assert result.exit_code == 2
    assert "no column for 'Directorate' (the service (team) each action goes to)" in result.output
    assert "Columns found: 'Ref' = Action Reference; 'Action' = Please describe" in result.output
    assert "'Responsible Lead' = Manager responsible" in result.output
    assert "Not matched: 'Progress Update'." in result.output
    assert '--route "Responsible Lead"' in result.output
    assert "Nothing was written." in result.output
    assert not out.exists()


def test_route_chooses_the_routing_column_and_the_master_keeps_it(run, tmp_path):
    source = write_csv(tmp_path / "plan.csv", LOST_CSV)
    out = tmp_path / "plan.xlsx"

    result = run("import", source, "-o", out, "--route", "Responsible Lead")

    assert result.exit_code == 0, result.output
    assert "2 services: J Smith (1), A Jones (1)" in result.output
    outbox = tmp_path / "outbox"
    issued = run("template", out, "-o", outbox)
    assert issued.exit_code == 0, issued.output
    assert sorted(p.name for p in outbox.glob("*.xlsx")) == ["A Jones.xlsx", "J Smith.xlsx"]


def test_route_by_a_column_the_layout_does_not_know(run, tmp_path):
    rows = [[*LOST_CSV[0], "Division"], [*LOST_CSV[1], "Surgery"], [*LOST_CSV[2], "Medicine"]]
    source = write_csv(tmp_path / "plan.csv", rows)
    out = tmp_path / "plan.xlsx"

    result = run("import", source, "-o", out, "--layout", "kmpt", "--route", "Division")

    assert result.exit_code == 0, result.output
    assert "2 services: Surgery (1), Medicine (1) (routed by 'Division')" in result.output
    header, actions = plan_table(out)
    assert [a["Division"] for a in actions] == ["Surgery", "Medicine"]


def test_map_reads_a_column_as_the_field_the_user_names(run, tmp_path):
    source = write_csv(tmp_path / "plan.csv", LOST_CSV)
    out = tmp_path / "plan.xlsx"

    result = run(
        "import",
        source,
        "-o",
        out,
        "--map",
        "Responsible Lead=directorate",
        "--map",
        "Progress Update=Manager responsible for delivering the action?",
    )

    assert result.exit_code == 0, result.output
    assert "G 'Responsible Lead' -> 'Directorate' (--map)" in result.output
    _, actions = plan_table(out)
    assert [a["Directorate"] for a in actions] == ["J Smith", "A Jones"]
    assert [a["Manager responsible for delivering the action?"] for a in actions] == ["Started", ""]
    assert [a["Directorate RAG Rating"] for a in actions] == ["Amber", "Green"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--map", "Lead owner"], 'write it as --map "Your header=field"'),
        (["--map", "Responsible Lead=nonsense"], "layout 'cqc' has no column 'nonsense'"),
        (["--map", "Nowhere=directorate"], "--map names 'nowhere', but the header (row 1) has no"),
        (["--map-rating", "Complete=Mauve"], "'Mauve' is not on the layout's scale"),
    ],
)
def test_a_wrong_map_is_refused_in_plain_words(run, tmp_path, args, expected):
    source = write_csv(tmp_path / "plan.csv", LOST_CSV)

    result = run("import", source, "-o", tmp_path / "plan.xlsx", *args)

    assert result.exit_code == 2
    assert expected in result.output
    assert not (tmp_path / "plan.xlsx").exists()


def test_a_plan_without_an_action_column_is_refused(run, tmp_path):
    rows = [[c for c in r if c != r[1]] for r in LOST_CSV]
    source = write_csv(tmp_path / "plan.csv", rows)

    result = run("import", source, "-o", tmp_path / "plan.xlsx", "--layout", "kmpt")

    assert result.exit_code == 2
    assert "no column for 'Action Required' (what will be done)" in result.output


# --- sources that cannot be read ------------------------------------------------------------

LIBRARY_WORDS = [
    "CalamineError",
    "Cfb",
    "OSError",
    "Unrecognized",
    "File not found",
    "BadZipFile",
    "Error:",
    "Traceback",
    "failed to fill",
]


def _numbers(tmp_path: Path, suffix: str) -> Path:
    """An Apple Numbers document as a single file: a zip of .iwa parts."""
    path = tmp_path / f"Action plan{suffix}"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Index/Document.iwa", b"\x00\x1c\x00" * 50)
        archive.writestr("Metadata/Properties.plist", b"<plist/>")
        archive.writestr("preview.jpg", b"\xff\xd8\xff")
    return path


def _password_xlsx(tmp_path: Path) -> Path:
    # An encrypted OOXML file is an OLE container holding EncryptionInfo and EncryptedPackage.
    path = tmp_path / "plan.xlsx"
    path.write_bytes(
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 504
        + "EncryptionInfo".encode("utf-16-le")
        + b"\0" * 2048
    )
    return path


def _truncated(tmp_path: Path) -> Path:
    path = trust_workbook("kmpt", tmp_path / "whole.xlsx")
    cut = tmp_path / "plan.xlsx"
    cut.write_bytes(path.read_bytes()[:3000])
    return cut


def _damaged_part(tmp_path: Path) -> Path:
    """A workbook whose plan sheet's compressed data is scrambled (a bad copy, a bad disk)."""
    path = trust_workbook("kmpt", tmp_path / "plan.xlsx")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start : start + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    return path


UNREADABLE = {
    "numbers": (lambda p: _numbers(p, ".numbers"), ["Apple Numbers", "Export To > Excel"]),
    "numbers renamed .xlsx": (lambda p: _numbers(p, ".xlsx"), ["Apple Numbers", "Export To > Excel"]),
    "password .xlsx": (_password_xlsx, ["password", "remove the password"]),
    "truncated .xlsx": (_truncated, ["damaged", "save it as .xlsx"]),
    "scrambled part": (_damaged_part, ["damaged", "save it as .xlsx"]),
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_an_unreadable_source_says_what_it_is_and_what_to_do(run, tmp_path, case):
    make, expected = UNREADABLE[case]
    source = make(tmp_path)
    out = tmp_path / "master.xlsx"

    result = run("import", source, "-o", out)

    assert result.exit_code == 2
    assert result.output.startswith(f"xlplan: Source {source} ")
    for words in expected:
        assert words in result.output
    for words in LIBRARY_WORDS:
        assert words not in result.output
    assert "send it again" not in result.output
    assert not out.exists()


def test_debug_shows_the_library_words_for_a_report(run, tmp_path):
    source = _truncated(tmp_path)

    result = run("--debug", "import", source, "-o", tmp_path / "master.xlsx")

    assert result.exit_code == 2
    assert "(--debug: " in result.output


def _with_macro_sheet(path: Path) -> Path:
    """An Excel 4 macro sheet beside the data sheets, as xl/macrosheets/ holds it."""
    items = {}
    with zipfile.ZipFile(path) as source:
        for info in source.infolist():
            items[info.filename] = source.read(info)
    body = items.pop("xl/worksheets/sheet2.xml").decode()
    items["xl/macrosheets/sheet1.xml"] = (
        body.replace(
            "<worksheet", '<xm:macrosheet xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"', 1
        )
        .replace("</worksheet>", "</xm:macrosheet>")
        .encode()
    )
    rels = items["xl/_rels/workbook.xml.rels"].decode()
    rels = rels.replace(
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="/xl/worksheets/sheet2.xml"',
        'Type="http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet" '
        'Target="/xl/macrosheets/sheet1.xml"',
    )
    assert "xlMacrosheet" in rels
    items["xl/_rels/workbook.xml.rels"] = rels.encode()
    items["[Content_Types].xml"] = (
        items["[Content_Types].xml"]
        .decode()
        .replace(
            '"/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.worksheet+xml"',
            '"/xl/macrosheets/sheet1.xml" ContentType="application/vnd.ms-excel.macrosheet+xml"',
        )
        .encode()
    )
    with zipfile.ZipFile(path, "w") as target:
        for name, data in items.items():
            target.writestr(name, data)
    return path


def test_an_excel4_macro_sheet_does_not_stop_the_data_sheets_being_read(run, tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Plan"
    for row in [TRUST_HEADERS["kmpt"][:4], ["1", "Rec", "Audit", "Estates"], ["2", "Rec", "Train", "Wards"]]:
        ws.append(row)
    book.create_sheet("Macro1")["A1"] = "=HALT()"
    source = tmp_path / "plan.xlsm"
    book.save(source)
    _with_macro_sheet(source)
    out = tmp_path / "master.xlsx"

    result = run("import", source, "-o", out, "--layout", "kmpt")

    assert result.exit_code == 0, result.output
    assert "Imported 2 actions" in result.output
    assert "sheet 'Macro1' is an Excel 4 macro sheet; macros are never read or run" in result.output
    assert "[sheet-not-read]" in result.output
    assert "Macro1" not in all_sheet_values(out)


@pytest.mark.libreoffice
def test_a_password_protected_xls_is_called_that(run, tmp_path):
    """LibreOffice saves the .xls; the FILEPASS record Excel writes for a password to open is
    put right after the workbook's BOF, where Excel puts it (LibreOffice 7.4 cannot be asked
    for a password from the command line)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed")
    plain = trust_workbook("kmpt", tmp_path / "plan.xlsx")
    subprocess.run(
        [soffice, "--headless", "--convert-to", "xls", "--outdir", str(tmp_path), str(plain)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = bytearray((tmp_path / "plan.xls").read_bytes())
    bof = data.find(b"\x09\x08\x10\x00\x00\x06\x05\x00")
    assert bof >= 0
    # The 16 bytes after the BOF (INTERFACEHDR, MMS, INTERFACEEND) become one FILEPASS record.
    data[bof + 20 : bof + 36] = b"\x2f\x00\x0c\x00" + b"\x01\x00\x01\x00\x01\x00" + b"\0" * 6
    source = tmp_path / "locked.xls"
    source.write_bytes(bytes(data))

    # Recognised from the record itself, before any reader meets the scrambled text.
    assert _is_encrypted_xls(source) and not _is_encrypted_xls(tmp_path / "plan.xls")

    result = run("import", source, "-o", tmp_path / "master.xlsx", "--layout", "kmpt")

    assert result.exit_code == 2
    assert f"Source {source} is protected by a password to open" in result.output
    for words in LIBRARY_WORDS:
        assert words not in result.output


def test_headings_merged_from_a_later_column_and_a_closing_footnote_are_not_actions(run, tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["Ref", "Action (what we will do)", "Lead (name and role)", "Target date (dd/mm/yy)", "RAG"])
    ws.append([None, "Theme A: medicines"])
    ws.merge_cells("B2:E2")
    ws.append(["A1", "Audit fridges", "Pharmacy", "End May", "G"])
    ws.append(["A2", "Train staff", "Pharmacy", "June", "A"])
    ws.append(["Approved by the Quality Committee, 12 June 2024"])
    source = tmp_path / "plan.xlsx"
    book.save(source)
    out = tmp_path / "master.xlsx"

    result = run("import", source, "-o", out, "--layout", "kmpt")

    assert result.exit_code == 0, result.output
    assert "Imported 2 actions" in result.output
    assert "Skipped 1 section heading(s): row 2 'Theme A: medicines'." in result.output
    assert (
        "Skipped 1 key or footnote row(s): row 5 'Approved by the Quality Committee, 12 June 2024'."
    ) in result.output
    assert "'Target date (dd/mm/yy)' -> 'To be Achieved by (date)' (alias)" in result.output
    _, actions = plan_table(out)
    assert [(a["#"], a["Owner"], a["RAG Rating"]) for a in actions] == [
        ("A1", "Pharmacy", "Green"),
        ("A2", "Pharmacy", "Amber"),
    ]


def test_a_foreign_table_is_told_which_layout_finds_its_columns(run, tmp_path):
    rows = [
        ["No.", "Issue", "Action", "Owner", "Timescale", "Status"],
        ["1", "Fridge checks", "Audit", "Pharmacy", "June", "G"],
    ]
    source = write_csv(tmp_path / "plan.csv", rows)

    result = run("import", source, "-o", tmp_path / "plan.xlsx")

    assert result.exit_code == 2
    assert (
        "Layout 'kmpt' finds its reference, routing and action columns in this header: add --layout kmpt."
    ) in result.output
    assert '--route "Owner"' in result.output


def test_a_csv_cell_past_excels_limit_is_cut_and_reported_not_a_crash(run, tmp_path):
    path = tmp_path / "plan.csv"
    path.write_text('Ref,Action,Owner\n1,"' + "x" * 200_000 + '",Wards\n', encoding="utf-8")

    result = run("import", path, "-o", tmp_path / "plan.xlsx", "--layout", "kmpt")

    assert result.exit_code == 1
    assert "200,000 characters, over Excel's 32,767" in result.output
    _, actions = plan_table(tmp_path / "plan.xlsx")
    assert len(actions[0]["Action Required"]) == 32_767


def test_an_action_that_starts_with_key_or_note_words_stays_an_action(run, tmp_path):
    rows = [
        ["Ref", "Action", "Owner"],
        ["", "Key worker allocation to be reviewed", "Wards"],
        ["", "Note taking in handovers audited", "Estates"],
        ["KEY"],
        ["Red = off track, Green = on track"],
    ]
    source = write_csv(tmp_path / "plan.csv", rows)

    result = run("import", source, "-o", tmp_path / "plan.xlsx", "--layout", "kmpt")

    assert result.exit_code == 0, result.output
    assert "Imported 2 actions" in result.output
    assert "Skipped 2 key or footnote row(s): row 4 'KEY', row 5 'Red = off track" in result.output
    _, actions = plan_table(tmp_path / "plan.xlsx")
    assert [a["Owner"] for a in actions] == ["Wards", "Estates"]


def test_kept_columns_and_sheets_survive_a_merge(run, tmp_path):
    result, out = import_trust(run, tmp_path, "kmpt", "xlsx")
    assert result.exit_code == 0, result.output
    outbox, inbox = tmp_path / "outbox", tmp_path / "inbox"
    assert run("template", out, "-o", outbox).exit_code == 0
    inbox.mkdir()
    first = sorted(outbox.glob("*.xlsx"))[0]
    shutil.copy(first, inbox / first.name)

    merged = run("merge", out, inbox, "-o", tmp_path / "consolidated.xlsx")

    assert merged.exit_code == 0, merged.output
    values = all_sheet_values(tmp_path / "consolidated.xlsx")
    assert values["Glossary"][:3] == GLOSSARY
    header, actions = plan_table(tmp_path / "consolidated.xlsx")
    assert "Notes" in header
    assert [a["Notes"] for a in actions] == ["Chased twice", "", "12/09/2024", "", "See glossary"]
