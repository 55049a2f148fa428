"""What the plain scripts share: finding the returns, the header row, comparing values."""

from __future__ import annotations

from pathlib import Path

# The date merges judge overdue by, and the cycle label, in every run of the bench.
AS_OF = "2017-01-01"
CYCLE = "bench"


def returns(inbox: str) -> list[Path]:
    return sorted(
        p for p in Path(inbox).iterdir() if p.suffix.lower() == ".xlsx" and not p.name.startswith(("~$", "."))
    )


def header_index(rows: list, id_header: str) -> int:
    for index, row in enumerate(rows[:30]):
        if id_header in row:
            return index
    raise SystemExit(f"no {id_header!r} header row")


def same(a, b) -> bool:
    return (a if a not in ("", None) else None) == (b if b not in ("", None) else None)


def shown(value) -> str:
    if value in (None, ""):
        return "(empty)"
    if hasattr(value, "strftime"):
        return value.strftime("%d/%m/%Y")
    return str(value)
