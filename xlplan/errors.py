"""The one exception a user can act on."""

from __future__ import annotations


class XlplanError(Exception):
    """Something the user can fix: the message says what and how; the CLI exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
