"""The counts the Issues sheet opens with, so 11,000 warnings read as a few lines: open
problems by severity, by problem code and by service, the largest first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from .excel import CellValue, display

SHOWN = 12  # codes or services named on a line; the rest are counted as "others"


def _line(label: str, counts: Counter) -> str:
    named = [f"{name} {count}" for name, count in counts.most_common(SHOWN)]
    rest = sum(counts.values()) - sum(c for _, c in counts.most_common(SHOWN))
    if rest:
        named.append(f"{len(counts) - SHOWN} others {rest}")
    return f"{label}: " + (", ".join(named) or "none")


def issue_count_lines(rows: Iterable[Mapping[str, CellValue]]) -> list[str]:
    open_rows = [r for r in rows if display(r.get("Status")) == "open"]
    severity = Counter(display(r.get("Severity")) for r in open_rows)
    codes = Counter(f"{display(r.get('Code'))} ({display(r.get('Severity'))})" for r in open_rows)
    services = Counter(display(r.get("Service")) or "(no service)" for r in open_rows)
    return [
        f"Open: {severity.get('error', 0)} error(s), {severity.get('warning', 0)} warning(s), "
        f"{severity.get('info', 0)} note(s); errors are listed first. Filter the table by "
        "Service, Severity or Code.",
        _line("By problem", codes),
        _line("By service", services),
    ]
