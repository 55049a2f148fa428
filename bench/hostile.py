"""Time and memory of `xlplan validate` and `xlplan merge` on crafted hostile returns.

Each file is the bundled CHS return with one thing done to it that once made a reader
allocate gigabytes, abort, or take time growing with the square of the input (issue 14).
Every run must stay under 1 GB (the largest process, and the sampled sum of the tree when
returns are read in child processes) and answer with exit 0, 1 or 2.

    python bench/hostile.py --workdir /tmp/xlhostile
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import measure, xlplan_command  # noqa: E402

EXAMPLE = HERE.parent / "examples" / "lpt-cqc-2017"
BASE = EXAMPLE / "returns" / "CHS.xlsx"
GOOD = EXAMPLE / "returns" / "FYPC.xlsx"
PLAN = EXAMPLE / "plan.xlsx"
LIMIT_MIB = 1024


def rewrite(parts: dict[str, Callable[[bytes], bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(BASE) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename in parts:
                data = parts[info.filename](data)
            zout.writestr(info.filename, data)
    return out.getvalue()


def before_end(extra: bytes) -> Callable[[bytes], bytes]:
    return lambda data: data.replace(b"</sheetData>", extra + b"</sheetData>", 1)


def far(ref: str) -> bytes:
    row = "".join(c for c in ref if c.isdigit())
    return before_end(f'<row r="{row}"><c r="{ref}"><v>1</v></c></row>'.encode())


def junk_rows(count: int) -> Callable[[bytes], bytes]:
    return before_end(
        b"".join(
            f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>junk {n}</t></is></c></row>'.encode()
            for n in range(100, 100 + count)
        )
    )


def no_root(megabytes: int) -> Callable[[bytes], bytes]:
    rng = random.Random(1)
    junk = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(2**20)) * megabytes
    return lambda _: b'<?xml version="1.0"?><!--' + junk + b"-->"


def plan_sheet_part() -> str:
    from xml.etree import ElementTree

    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    with zipfile.ZipFile(BASE) as archive:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    rid = next(s.get(f"{rel}id") for s in book.iter(f"{ns}sheet") if s.get("name") == "Action plan")
    target = next(r.get("Target") for r in rels if r.get("Id") == rid)
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


def cases() -> dict[str, Callable[[], bytes]]:
    part = plan_sheet_part()
    return {
        "value at XFD1048576": lambda: rewrite({part: far("XFD1048576")}),
        "value at IV1048576": lambda: rewrite({part: far("IV1048576")}),
        "value at ZZ100000": lambda: rewrite({part: far("ZZ100000")}),
        "stray value at A1048576": lambda: rewrite({part: far("A1048576")}),
        "value at S200000 (allowed)": lambda: rewrite({part: far("S200000")}),
        "400,000 junk rows": lambda: rewrite({part: junk_rows(400_000)}),
        "2,000 junk rows": lambda: rewrite({part: junk_rows(2_000)}),
        "60,000 unclosed <c t=e>": lambda: rewrite({part: before_end(b'<c t="e">' * 60_000)}),
        "30 MB part, no root": lambda: rewrite({"docProps/app.xml": no_root(30)}),
        "120 MB part, no root": lambda: rewrite({"docProps/app.xml": no_root(120)}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    work = args.workdir
    shutil.rmtree(work / "files", ignore_errors=True)
    (work / "files").mkdir(parents=True)
    xlplan = xlplan_command()
    rows = []
    for name, build in cases().items():
        path = (
            work
            / "files"
            / (
                name.replace(" ", "_").replace(",", "").replace("<", "").replace(">", "").replace("=", "")
                + ".xlsx"
            )
        )
        path.write_bytes(build())
        validate = measure(
            [*xlplan, "validate", str(path), "--plan", str(PLAN)], work / "logs" / f"validate-{path.stem}.log"
        )
        inbox = work / "inbox"
        shutil.rmtree(inbox, ignore_errors=True)
        inbox.mkdir()
        shutil.copy(path, inbox / path.name)
        shutil.copy(GOOD, inbox / GOOD.name)
        merge = measure(
            [*xlplan, "merge", str(PLAN), str(inbox), "-o", str(work / "merged.xlsx")],
            work / "logs" / f"merge-{path.stem}.log",
        )
        rows.append((name, path.stat().st_size, validate, merge))
        print(
            f"{name:<28} {path.stat().st_size / 2**20:6.1f} MB  validate {validate['wall']:6.2f} s "
            f"{validate['peak_mib']:5.0f} MiB exit {validate['rc']}  merge {merge['wall']:6.2f} s "
            f"{merge['peak_mib']:5.0f} MiB exit {merge['rc']}",
            flush=True,
        )
    bad = [
        r
        for r in rows
        if r[2]["rc"] not in (0, 1, 2)
        or r[3]["rc"] != 0
        or max(r[2]["peak_mib"], r[3]["peak_mib"]) > LIMIT_MIB
    ]
    print("all within 1 GB and exit 0/1/2" if not bad else f"OVER LIMIT OR BAD EXIT: {[r[0] for r in bad]}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
