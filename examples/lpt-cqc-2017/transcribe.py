#!/usr/bin/env python3
"""Transcribe the LPT trust-wide CQC action plan 2017 seed into source.csv.

Usage: python3 transcribe.py ../../../shared/seeds/002_53b7a7ac47592099.txt

Reads the PDF-extracted, tab-separated seed and writes source.csv next to this
script. Stdlib only. What it does:
  * drops blank lines, the title lines and the header row repeated on every page
    (the first header row supplies the 18 column names, trailing spaces trimmed);
  * drops the empty 19th cell that some pages carry; where a row carries a
    19th value (rows 1 and 7.1) the extraction inserted one empty cell among the
    comment/RAG cells, so one empty cell there is removed to realign the row;
  * joins rows the PDF split across a page break (no reference code, no
    directorate, no action reference) back into the row above: each non-empty
    cell fills the empty cell above, or is appended after a line break;
  * keeps everything else exactly as written (free-text dates, blanks, "W"/"w").
"""

import csv
import os
import sys

NCOLS = 18
TITLE_PREFIXES = ("LEICESTERSHIRE PARTNERSHIP TRUST", "CQC ACTION PLAN")
HEADER_FIRST = "Overarching reference code"
# indexes (0-based) of the columns the extraction may pad with a stray empty cell:
# Comments/ Remedial Actions .. Group responsible for delivering the actions
SHIFT_ZONE = range(12, 17)


def normalise(cells, lineno):
    if len(cells) > NCOLS:
        extra = cells[NCOLS:]
        if not any(c.strip() for c in extra):
            cells = cells[:NCOLS]
        else:
            cells = list(cells)
            while len(cells) > NCOLS:
                empties = [i for i in SHIFT_ZONE if not cells[i].strip()]
                if not empties:
                    raise SystemExit(f"line {lineno}: cannot realign {len(cells)} cells")
                del cells[empties[-1]]
    if len(cells) < NCOLS:
        cells = list(cells) + [""] * (NCOLS - len(cells))
    return cells


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__)
    seed = argv[1]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "source.csv")
    with open(seed, encoding="utf-8") as fh:
        lines = fh.read().replace("\r\n", "\n").split("\n")

    header = None
    rows = []
    joined = 0
    for lineno, line in enumerate(lines, 1):
        cells = line.split("\t")
        if not any(c.strip() for c in cells):
            continue  # blank line
        first = cells[0].strip()
        if first.startswith(TITLE_PREFIXES):
            continue  # title lines repeated on every page
        if first == HEADER_FIRST:
            if header is None:
                header = [c.rstrip() for c in cells[:NCOLS]]
            continue  # header row repeated on every page
        if header is None:
            raise SystemExit(f"line {lineno}: data before header row")
        cells = normalise(cells, lineno)
        is_fragment = not (cells[0].strip() or cells[2].strip() or cells[3].strip())
        if is_fragment and rows:
            target = rows[-1]
            for i, text in enumerate(cells):
                if not text.strip():
                    continue
                target[i] = f"{target[i]}\n{text}" if target[i].strip() else text
            joined += 1
            continue
        rows.append(cells)

    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"{len(rows)} rows written to {out} ({joined} page-split fragment(s) joined)")


if __name__ == "__main__":
    main(sys.argv)
