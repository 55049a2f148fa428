"""A problem's JSON shape (`validate --json`, `merge --json`), typed at the edge of output.

Kept apart from problems.py so that the CLI, which needs problem codes and wording on every
run, does not import pydantic just to print `--help`."""

from __future__ import annotations

from pydantic import BaseModel


class ProblemOut(BaseModel):
    """A problem as JSON: the one shape `validate --json` and `merge --json` print.
    validate lists problems under their file, which already says the file and the service,
    so it leaves those two out (`NESTED_IN_FILE`)."""

    severity: str
    code: str
    sheet: str | None
    cell: str | None
    action: str | None
    column: str | None
    value: str | None
    message: str
    service: str | None
    file: str | None


NESTED_IN_FILE = {"service", "file"}
