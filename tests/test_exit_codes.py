"""The exit codes scripts rely on, and the CLI's last guard.

validate: 0 clean or warnings only, 1 errors, 2 a file could not be read.
merge: 0 written, 1 written but --strict found problems, 2 nothing written.
Any command: the exit code an XlplanError carries; 3 for an unexpected exception, with one line
on stderr that says which file it failed on and how to report it (the traceback only with
--debug).

The unexpected exception is a bug planted for the test: a library function replaced by one
that raises, as a bug in it would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import invoke

from xlplan.cli import main
from xlplan.simulate import fill_in


@pytest.fixture(scope="module")
def issued(lpt_master: Path, templates_dir: Path) -> tuple[Path, Path]:
    return lpt_master, templates_dir / "CHS.xlsx"


def test_validate_exits_0_for_a_clean_return(issued, tmp_path: Path) -> None:
    plan, chs = issued
    result = invoke("validate", chs, "--plan", plan, "--as-of", "2017-01-01")
    assert result.exit_code == 0, result.output


def test_validate_exits_1_for_errors(issued, tmp_path: Path) -> None:
    plan, chs = issued
    fill_in(chs, tmp_path / "CHS.xlsx", {("2.1", "directorate_rag"): "Yellow"})
    result = invoke("validate", tmp_path / "CHS.xlsx", "--plan", plan, "--as-of", "2017-01-01")
    assert result.exit_code == 1, result.output


def test_validate_exits_2_for_an_unreadable_file(issued, tmp_path: Path) -> None:
    plan, chs = issued
    (tmp_path / "CHS.xlsx").write_text("not a workbook", encoding="utf-8")
    result = invoke("validate", tmp_path / "CHS.xlsx", chs, "--plan", plan)
    assert result.exit_code == 2, result.output


def test_merge_exits_0_when_written_1_when_strict_finds_problems(issued, tmp_path: Path) -> None:
    plan, chs = issued
    inbox = tmp_path / "inbox"
    fill_in(chs, inbox / "CHS.xlsx", {("2.1", "directorate_rag"): "Yellow"})
    written = invoke("merge", plan, inbox, "-o", tmp_path / "out.xlsx")
    assert written.exit_code == 0, written.output
    strict = invoke("merge", plan, inbox, "-o", tmp_path / "strict.xlsx", "--strict")
    assert strict.exit_code == 1, strict.output
    assert (tmp_path / "strict.xlsx").exists()


def test_merge_exits_2_when_nothing_is_written(tmp_path: Path) -> None:
    result = invoke("merge", tmp_path / "no-such-plan.xlsx", tmp_path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("xlplan: ")


def _break(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(target, broken)


def test_an_unexpected_error_reading_one_file_is_that_files_problem(issued, monkeypatch) -> None:
    """One file never stops the others (#14): a bug met while reading a return makes that
    return `read-failed`, exit 2, not a crash of the whole command."""
    plan, chs = issued
    _break(monkeypatch, "xlplan.validate.read_return")
    result = CliRunner().invoke(main, ["validate", str(chs), "--plan", str(plan)])
    assert result.exit_code == 2
    assert "[read-failed]" in result.stdout and "RuntimeError" in result.stdout
    assert "Traceback" not in result.output


def test_an_unexpected_error_exits_3_with_one_line_naming_the_file(issued, monkeypatch) -> None:
    plan, chs = issued
    _break(monkeypatch, "xlplan.validate.list_inbox")
    result = CliRunner().invoke(main, ["validate", str(chs), "--plan", str(plan)])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    assert result.stderr.startswith(
        f"xlplan: unexpected error in `validate` on {chs}, {plan}: RuntimeError: a bug over two lines."
    )
    assert "Please report it to the xlplan maintainers" in result.stderr
    assert "--debug" in result.stderr
    assert "Traceback" not in result.output


def test_an_unexpected_error_outside_a_file_names_the_files_given(issued, monkeypatch, tmp_path) -> None:
    plan, chs = issued
    _break(monkeypatch, "xlplan.merge.write_master")
    result = CliRunner().invoke(main, ["merge", str(plan), str(chs), "-o", str(tmp_path / "o.xlsx")])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"xlplan: unexpected error in `merge` on {plan}, {chs}: ")
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(issued, monkeypatch) -> None:
    plan, chs = issued
    _break(monkeypatch, "xlplan.validate.list_inbox")
    result = CliRunner().invoke(main, ["--debug", "validate", str(chs), "--plan", str(plan)])
    assert result.exit_code == 3
    assert "Traceback" in result.stderr and "RuntimeError: a bug" in result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1].startswith("xlplan: unexpected error")
