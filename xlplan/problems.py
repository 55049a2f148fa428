"""One problem type everywhere: what checks return, validate prints, --json dumps, the Issues
sheet lists and --annotate marks. A new rule is a new code here, never a new format."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .problem_json import ProblemOut


class Severity(StrEnum):
    ERROR = "error"  # the cell or the file is refused
    WARNING = "warning"  # accepted, but worth a look
    INFO = "info"  # what xlplan did for you (a normalised rating, an inherited directorate)


# code -> (severity, what it means). Stable: scripts and the Issues sheet filter on these.
CODES: dict[str, tuple[Severity, str]] = {
    # reading files
    "not-a-workbook": (Severity.ERROR, "The file is not a workbook xlplan can read."),
    "corrupt": (Severity.ERROR, "The workbook is damaged or truncated."),
    "encrypted": (Severity.ERROR, "The workbook is protected by a password to open."),
    "too-large": (Severity.ERROR, "The file, or what it unpacks to, is larger than a return can be."),
    "unsafe-xml": (Severity.ERROR, "The workbook holds XML constructs (entities, DTDs) xlplan refuses."),
    "numbers": (Severity.ERROR, "An Apple Numbers file: export it as .xlsx from Numbers."),
    "read-failed": (Severity.ERROR, "Reading the file failed (the reader crashed or ran out of memory)."),
    "skipped-file": (Severity.INFO, "A file in the folder that is not a return (lock file, hidden file)."),
    "macros-ignored": (Severity.WARNING, "The workbook holds macros; they are never run nor carried."),
    "metadata-visible": (Severity.WARNING, "The hidden xlplan sheets were made visible by another program."),
    # identity
    "no-metadata": (Severity.WARNING, "The xlplan metadata is gone; the return was matched by layout."),
    "not-a-template": (Severity.ERROR, "The workbook is not an xlplan service template."),
    "other-plan": (Severity.ERROR, "The return belongs to another plan."),
    "other-cycle": (Severity.WARNING, "The return was issued for another cycle."),
    "unknown-service": (Severity.ERROR, "The plan has no actions for this service."),
    "newer-format": (Severity.ERROR, "The workbook was written by a newer xlplan."),
    "metadata-mismatch": (
        Severity.WARNING,
        "The return's hidden layout disagrees with the master's; the master's was used.",
    ),
    "superseded": (Severity.INFO, "A later return from the same service was applied instead."),
    "no-return": (Severity.WARNING, "A service sent nothing back this cycle."),
    # structure
    "missing-sheet": (Severity.ERROR, "The action plan sheet is missing or renamed."),
    "missing-column": (Severity.ERROR, "A column of the layout is missing or its header was changed."),
    "row-deleted": (Severity.ERROR, "An issued action is missing from the return."),
    "row-duplicated": (Severity.ERROR, "An issued action appears more than once."),
    "row-added": (Severity.ERROR, "A row was added outside the spare rows; it cannot be matched."),
    "too-many-rows": (Severity.ERROR, "Far more rows than were issued: the whole return is refused."),
    "other-service-row": (Severity.ERROR, "A row of an action the master routes to another service."),
    "locked-cell-changed": (Severity.ERROR, "A central or committee cell was changed; refused."),
    "unknown-action": (Severity.ERROR, "An action the plan does not hold."),
    "proposed-action": (Severity.INFO, "A new action proposed in a spare row."),
    "update-in-spare-row": (
        Severity.ERROR,
        "A spare row holds progress or a rating but no action: type the update on the action's own row.",
    ),
    # values
    "invalid-rating": (Severity.ERROR, "A rating outside the scale."),
    "rating-normalised": (Severity.INFO, "A rating spelled differently was read as the scale's value."),
    "unmapped-rating": (
        Severity.WARNING,
        "A rating in the master is not on the scale; it "
        "counts as not rated until changed or mapped on the Key sheet.",
    ),
    "invalid-choice": (Severity.ERROR, "A value outside the column's list."),
    "error-value": (Severity.ERROR, "An Excel error value (#REF!, #N/A) instead of content."),
    "too-long": (Severity.ERROR, "Text longer than Excel's 32,767-character cell limit."),
    "control-chars": (Severity.WARNING, "Invisible control characters were removed."),
    "formula": (Severity.WARNING, "A formula: its shown value is kept as text, never the formula."),
    "formula-like-text": (Severity.INFO, "Text starting with = + - @ is kept as text, never a formula."),
    "not-a-date": (Severity.WARNING, "A date column holds text that names no single day."),
    "required-missing": (Severity.WARNING, "A required cell is empty."),
    # business rules
    "complete-without-evidence": (Severity.WARNING, "Rated complete with no evidence or comment."),
    "parent-complete-child-open": (Severity.WARNING, "A parent rated complete while a child is not."),
    "overdue": (Severity.WARNING, "The target date has passed and the action is not complete."),
    # merge
    "stale-lock": (Severity.WARNING, "A lock left by a merge that is no longer running was taken over."),
    "conflict": (Severity.WARNING, "The service and the master both changed a cell since issue."),
    "unmatched-column": (Severity.WARNING, "A source column matches no column of the layout."),
    "no-route": (Severity.WARNING, "An action names no service; it was issued to 'Unassigned'."),
    "route-inherited": (Severity.INFO, "A blank routing cell was inherited from the parent action."),
    "duplicate-reference": (Severity.WARNING, "Two actions share a reference; both are kept."),
    "blank-reference": (Severity.WARNING, "An action has no reference; it is kept with its own ID."),
    # import
    "skipped-row": (Severity.INFO, "A source row that is not an action (heading, key, blank, header)."),
    "column-kept": (Severity.INFO, "A source column the layout does not know, kept as a central column."),
    "sheet-kept": (Severity.INFO, "Another sheet of the source, kept in the master as it is."),
    "sheet-not-read": (Severity.WARNING, "A chart, macro or unreadable sheet of the source was left out."),
    "similar-services": (Severity.WARNING, "Service names that differ only by initials, case or spacing."),
    "sheet-content-lost": (
        Severity.WARNING,
        "Something on the master xlplan cannot carry (an image, a chart, merged cells, notes); said once.",
    ),
    "new-row-in-master": (Severity.INFO, "A row added to the master by hand was given an ID."),
    "joint-action-split": (Severity.INFO, "An action issued to several services became one row each."),
    # the master's record of what it issued
    "row-moved": (Severity.INFO, "A row left its hidden ID; it was matched by its locked cells."),
    "row-unidentified": (Severity.ERROR, "A row matches no action issued to the service; refused."),
    "rows-sorted": (Severity.ERROR, "The sheet was sorted without its hidden ID column; refused."),
    "issued-values-changed": (Severity.ERROR, "The hidden copy of the issued values was edited."),
    # cycles
    "stale-return": (Severity.ERROR, "A return of an earlier cycle; refused (see --accept-cycle)."),
    "already-merged": (Severity.INFO, "The same file was merged earlier this cycle; nothing changed."),
    "proposal-pending": (Severity.WARNING, "A proposed action the central team has not decided."),
    "proposal-rejected": (Severity.INFO, "A proposed action the central team rejected left the plan."),
    # email (xlplan.contacts, xlplan.mail)
    "bad-address": (Severity.WARNING, "An address on the Services sheet is not of the form name@domain."),
    "no-address": (Severity.WARNING, "A service has no email address; its draft's To is empty."),
    "no-workbook-attached": (Severity.WARNING, "An email in the inbox has no workbook attached."),
    "unknown-sender": (Severity.WARNING, "A return came from an address not among the service's contacts."),
    "mail-refused": (Severity.ERROR, "An email or zip in the inbox is damaged or beyond a safety limit."),
}


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    file: str | None = None
    sheet: str | None = None
    cell: str | None = None
    action: str | None = None
    column: str | None = None
    value: str | None = None
    service: str | None = None
    severity: Severity | None = None  # None: the code's own severity

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown problem code {self.code!r}")
        severity = CODES[self.code][0] if self.severity is None else Severity(self.severity)
        object.__setattr__(self, "severity", severity)

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    def where(self) -> str:
        parts = []
        if self.sheet:
            parts.append(f"sheet {self.sheet!r}")
        if self.cell:
            parts.append(f"cell {self.cell}")
        if self.action:
            parts.append(f"action {self.action}")
        if self.column:
            parts.append(f"column {short(self.column, 40)!r}")
        return ", ".join(parts)

    def line(self) -> str:
        where = self.where()
        return f"{self.severity}: [{self.code}] " + (f"{where}: " if where else "") + self.message

    def to_json(self) -> ProblemOut:
        from .problem_json import ProblemOut  # pydantic stays off `xlplan --help`'s path

        return ProblemOut(
            severity=str(self.severity),
            code=self.code,
            sheet=self.sheet,
            cell=self.cell,
            action=self.action,
            column=self.column,
            value=self.value,
            message=self.message,
            service=self.service,
            file=self.file,
        )


def skipped_file(name: str, why: str, severity: str | None = None) -> Problem:
    """A file in an inbox that is not a return. The word is said once, first, in the message
    itself, so validate's line, --json and the Issues sheet all read "skipped: <why>"."""
    return Problem("skipped-file", f"skipped: {why}", file=name, severity=severity)


def plural(count: int, singular: str, many: str | None = None) -> str:
    """'1 conflict', '3 conflicts', '1 action added' read as people write them."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def short(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
