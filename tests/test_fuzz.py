"""A seeded mutation campaign over a real return, so the next kind of broken file is found here
before a service sends one.

Each case starts from the bundled CHS return and breaks it at one level: bytes (flipped,
cut, inserted), the zip (a member dropped, swapped, doubled, given odd flags or methods), the
XML of a part (a slice cut or doubled, a hostile snippet inserted, numbers changed) or the
cells (metadata and plan cells set to odd values with openpyxl). Whatever happens, xlplan
must answer for every file, by name, with exit 0, 1 or 2 and no traceback; merge must still
apply the good return beside the broken ones and never touch the master it was not asked to
write. The seed is fixed, so a failure is reproducible: the case names its seed and mutation.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from test_validate import validate, xlplan

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lpt-cqc-2017"
BASE = EXAMPLE / "returns" / "CHS.xlsx"
GOOD = EXAMPLE / "returns" / "FYPC.xlsx"
PLAN = EXAMPLE / "plan.xlsx"
SEED = 20261125
EXIT_OF_STATUS = {"ok": 0, "warnings": 0, "errors": 1, "refused": 1, "unreadable": 2}
CASES = 320
BATCH = 40

SNIPPETS = [
    b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>',
    b'<c r="ZZ100000" t="inlineStr"><is><t>x</t></is></c>',
    b'<!DOCTYPE x [<!ENTITY a "b">]>',
    b'<c t="e">' * 50,
    b'<row r="0"><c r="A0"><v>1</v></c></row>',
    b'<c r="A' + b"9" * 60 + b'"><v>1</v></c>',
    b'<!-- <c r="A99999999"> -->',
    b"<f>SUM(A1:A3</f>",
    b"<v>1e400</v>",
    b'<c r="B4" t="s"><v>999999</v></c>',
    b'<c r="B4" t="b"><v>7</v></c>',
    b'<c r="B4" t="d"><v>not a date</v></c>',
    "<t>Zoë ✅ \U0001f600</t>".encode(),
    b"&#0;&#xFFFF;",
    b"<sheetData/>",
    b"</worksheet>",
    b'<sheet name="Action plan" sheetId="9" r:id="rId1"/>',
    b'<table:table-row table:number-rows-repeated="99999999"/>',
]
ODD_VALUES = [
    "",
    " ",
    "=1+1",
    "#REF!",
    "x" * 40_000,
    "1e400",
    "-1",
    "9" * 400,
    "2017-02-30",
    "Purple",
    "new-1",
    "A0001",
    "[[column]]",
    "x = " + "[" * 500,
    "\ud7ff",
    None,
    0,
    -1.5,
    True,
]


def _zip_members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info, archive.read(info)) for info in archive.infolist()]


def _write_zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore", UserWarning)  # a doubled member is the point
        for info, data in members:
            name = info if isinstance(info, str) else info.filename
            archive.writestr(name, data)
    return out.getvalue()


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    return bytes(raw)


def cut(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def insert_junk(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + rng.randbytes(rng.randint(1, 4000)) + data[at:]


def drop_member(rng: random.Random, data: bytes) -> bytes:
    members = _zip_members(data)
    members.pop(rng.randrange(len(members)))
    return _write_zip(members)


def swap_members(rng: random.Random, data: bytes) -> bytes:
    members = _zip_members(data)
    a, b = rng.sample(range(len(members)), 2)
    (ia, da), (ib, db) = members[a], members[b]
    members[a], members[b] = (ia, db), (ib, da)
    return _write_zip(members)


def double_member(rng: random.Random, data: bytes) -> bytes:
    members = _zip_members(data)
    info, body = rng.choice(members)
    return _write_zip([*members, (info.filename, body[: len(body) // 2])])


def odd_header(rng: random.Random, data: bytes) -> bytes:
    """Set flag bits or a compression method number in one local and central header."""
    members = _zip_members(data)
    name = rng.choice(members)[0].filename.encode()
    raw = bytearray(data)
    field = rng.choice([(6, 8), (8, 10)])  # local header: flags, method
    value = rng.choice([0x01, 0x20, 0x40, 0x41, 9, 12, 14, 99, 0xFFFF])
    start = raw.find(b"PK\x03\x04" + b"", 0)
    while start != -1:
        name_len = int.from_bytes(raw[start + 26 : start + 28], "little")
        if raw[start + 30 : start + 30 + name_len] == name:
            raw[start + field[0] : start + field[1]] = value.to_bytes(2, "little")
            break
        start = raw.find(b"PK\x03\x04", start + 4)
    central = raw.find(b"PK\x01\x02")
    while central != -1:
        name_len = int.from_bytes(raw[central + 28 : central + 30], "little")
        if raw[central + 46 : central + 46 + name_len] == name:
            offset = central + field[0] + 2
            raw[offset : offset + 2] = value.to_bytes(2, "little")
            break
        central = raw.find(b"PK\x01\x02", central + 4)
    return bytes(raw)


def _mutate_part(rng: random.Random, data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    members = _zip_members(data)
    xml = [i for i, (info, _) in enumerate(members) if info.filename.endswith((".xml", ".rels"))]
    # Sheets are where damage matters most: pick them more often.
    sheets = [i for i in xml if "worksheets/" in members[i][0].filename]
    index = rng.choice(sheets if sheets and rng.random() < 0.6 else xml)
    info, body = members[index]
    members[index] = (info, change(body))
    return _write_zip(members)


def xml_slice(rng: random.Random, data: bytes) -> bytes:
    def change(body: bytes) -> bytes:
        a = rng.randrange(len(body) + 1)
        b = min(len(body), a + rng.randint(1, 300))
        return body[:a] + body[b:] if rng.random() < 0.5 else body[:b] + body[a:b] + body[b:]

    return _mutate_part(rng, data, change)


def xml_snippet(rng: random.Random, data: bytes) -> bytes:
    def change(body: bytes) -> bytes:
        tags = [i for i in range(len(body)) if body[i : i + 1] == b"<"] or [0]
        at = rng.choice(tags)
        return body[:at] + rng.choice(SNIPPETS) + body[at:]

    return _mutate_part(rng, data, change)


def xml_numbers(rng: random.Random, data: bytes) -> bytes:
    def change(body: bytes) -> bytes:
        digits = [i for i in range(len(body)) if body[i : i + 1].isdigit()]
        raw = bytearray(body)
        for i in rng.sample(digits, min(len(digits), rng.randint(1, 8))):
            raw[i : i + 1] = str(rng.choice([0, 9, 99999, 1048577, 16385, 4294967296])).encode()[
                :1
            ] * rng.randint(1, 12)
        return bytes(raw)

    return _mutate_part(rng, data, change)


def odd_cells(rng: random.Random, data: bytes) -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(data))
    for _ in range(rng.randint(1, 5)):
        sheet = book[rng.choice(["_xlplan", "_xlplan_issued", "Action plan", "Action plan"])]
        sheet.protection.sheet = False
        row = rng.randint(1, max(sheet.max_row, 1) + 3)
        col = rng.randint(1, max(sheet.max_column, 2) + 1)
        value = rng.choice(ODD_VALUES)
        sheet.cell(row, col).value = value
        if isinstance(value, str):
            sheet.cell(row, col).data_type = "s"
    if rng.random() < 0.2:
        book[rng.choice(book.sheetnames)].title = "renamed"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    flip_bytes,
    cut,
    insert_junk,
    drop_member,
    swap_members,
    double_member,
    odd_header,
    xml_slice,
    xml_slice,
    xml_snippet,
    xml_snippet,
    xml_snippet,
    xml_numbers,
    odd_cells,
    odd_cells,
]


def make_cases(folder: Path, count: int, seed: int, base: Path = BASE) -> list[tuple[Path, str]]:
    """`count` broken copies of `base`, each named after its case number and mutation."""
    rng = random.Random(seed)
    original = base.read_bytes()
    cases = []
    for number in range(count):
        data = original
        names = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            mutation = rng.choice(MUTATIONS)
            try:
                data = mutation(rng, data)
            except Exception:  # noqa: BLE001 - openpyxl/zipfile cannot open what the last one left
                continue  # this mutation does not apply to it: skip it
            names.append(mutation.__name__)
        path = folder / f"case {number:03d} {'+'.join(names) or 'unchanged'}.xlsx"
        path.write_bytes(data)
        cases.append((path, "+".join(names)))
    return cases


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str]]:
    return make_cases(tmp_path_factory.mktemp("fuzz"), CASES, SEED)


@pytest.mark.parametrize("batch", range(CASES // BATCH))
def test_every_broken_return_gets_an_answer(batch: int, cases: list[tuple[Path, str]]) -> None:
    chunk = [path for path, _ in cases[batch * BATCH : (batch + 1) * BATCH]]
    code, data = validate(*chunk, "--plan", PLAN, "--as-of", "2017-01-01")
    assert code in (0, 1, 2)
    reported = {Path(f["path"]).name: f for f in data["files"]}
    assert sorted(reported) == sorted(p.name for p in chunk), "a file went unanswered"
    worst = 0
    for path in chunk:
        report = reported[path.name]
        worst = max(worst, EXIT_OF_STATUS[report["status"]])
        for problem in report["problems"]:
            assert problem["message"] and "Traceback" not in problem["message"], path.name
        if report["status"] == "unreadable":
            assert report["problems"], f"{path.name}: unreadable without a word"
    assert code == worst


def test_the_text_report_names_every_broken_file(cases: list[tuple[Path, str]]) -> None:
    chunk = [path for path, _ in cases[:BATCH]]
    result = xlplan("validate", *chunk, "--plan", PLAN, "--as-of", "2017-01-01")
    assert result.exit_code in (0, 1, 2)
    for path in chunk:
        assert f"{path}: " in result.output, path.name


@pytest.mark.parametrize("batch", range(2))
def test_merge_applies_the_good_return_beside_broken_ones(
    batch: int, cases: list[tuple[Path, str]], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path, _ in cases[batch * 20 : (batch + 1) * 20]:
        shutil.copy(path, inbox / path.name)
    shutil.copy(GOOD, inbox / "FYPC.xlsx")
    before = hashlib.sha256(PLAN.read_bytes()).hexdigest()
    out = tmp_path / "merged.xlsx"
    report = tmp_path / "merge.json"
    result = xlplan("merge", PLAN, inbox, "-o", out, "--as-of", "2017-01-01", "--json", report)
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(PLAN.read_bytes()).hexdigest() == before
    merged = json.loads(report.read_text(encoding="utf-8"))
    fypc = [c for c in merged["changes"] if c["file"] == "FYPC.xlsx"]
    assert fypc, "the good return beside the broken ones was not applied"


def test_a_broken_master_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    for number, (path, how) in enumerate(make_cases(tmp_path, 12, SEED + 1, base=PLAN)):
        before = path.read_bytes()
        result = xlplan("merge", path, GOOD, "--as-of", "2017-01-01", "-o", tmp_path / f"out{number}.xlsx")
        assert result.exit_code in (0, 2), f"{how}: {result.output}"
        assert path.read_bytes() == before, how
        if result.exit_code == 2:
            assert not (tmp_path / f"out{number}.xlsx").exists(), how
        assert not list(tmp_path.glob(".~lock*")), how
