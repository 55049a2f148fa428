"""With many services, `xlplan template` writes the workbooks in forked children while it
writes the master. The workbooks and the master must be exactly those one process writes;
a failure in a child must stop the issue with one message, leave the master as it was and
say which workbooks were written."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EPOCH, LPT_ACTIONS, LPT_HEADERS, all_sheet_values, invoke, metadata, write_csv

import xlplan.template as template_module
from xlplan import template_pool
from xlplan.errors import XlplanError
from xlplan.masterbook import write_master
from xlplan.masterread import file_state, read_plan
from xlplan.packed import unpack_rows
from xlplan.template import issue_templates

SERVICES = [f"Service {n:02d}" for n in range(1, 11)]
CYCLE = "2025-Q2"


@pytest.fixture(scope="module")
def many_services(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LPT plan shared out among ten services (every seventh action joint to two),
    imported through the CLI: more services than one process writes alone."""
    folder = tmp_path_factory.mktemp("many")
    route = LPT_HEADERS.index("Directorate")
    rows = []
    for number, row in enumerate(LPT_ACTIONS):
        row = list(row)
        row[route] = SERVICES[number % 10] + (f" & {SERVICES[(number + 1) % 10]}" if number % 7 == 0 else "")
        rows.append(row)
    source = write_csv(folder / "source.csv", [list(LPT_HEADERS), *rows])
    result = invoke("import", source, "-o", folder / "plan.xlsx")
    assert result.exit_code == 0, result.output
    assert len(SERVICES) >= template_pool.PARALLEL_FROM
    return folder / "plan.xlsx"


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Children are used even on a one-core machine, and for the few rows of these plans."""
    monkeypatch.setattr(template_pool.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(template_pool, "PARALLEL_FROM_ROWS", 0)


def issue(plan: Path, outdir: Path, *extra: object):
    return invoke("template", plan, "-o", outdir, "--cycle", CYCLE, *extra, env={"SOURCE_DATE_EPOCH": EPOCH})


def written(folder: Path) -> dict[str, dict[str, list[list[object]]]]:
    return {p.name: all_sheet_values(p) for p in sorted(folder.glob("*.xlsx")) if p.is_file()}


def test_children_write_the_same_workbooks_and_master_as_one_process(
    many_services: Path, tmp_path: Path, two_cores: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    children = []
    real = template_module.write_template

    def counting(*args, **kwargs):
        children.append(os.getpid())
        return real(*args, **kwargs)

    parallel, alone = tmp_path / "parallel", tmp_path / "alone"
    for folder in (parallel, alone):
        folder.mkdir()
        shutil.copy(many_services, folder / "plan.xlsx")
    monkeypatch.setattr(template_module, "write_template", counting)
    result = issue(parallel / "plan.xlsx", parallel / "outbox", "--due", "30/06/2025")
    assert result.exit_code == 0, result.output
    assert children == []  # each was written by a child process: none in this one
    monkeypatch.setattr(template_pool, "PARALLEL_FROM", 10**6)
    result = issue(alone / "plan.xlsx", alone / "outbox", "--due", "30/06/2025")
    assert result.exit_code == 0, result.output
    assert len(children) == len(SERVICES)  # now all in this process

    ours = written(parallel / "outbox")
    assert sorted(ours) == [f"{s}.xlsx" for s in SERVICES]
    assert ours == written(alone / "outbox")
    masters = [all_sheet_values(folder / "plan.xlsx") for folder in (parallel, alone)]
    assert masters[0] == masters[1]
    assert "_xlplan_record" in masters[0]

    # The record holds, for each service, exactly the actions its workbook was issued with.
    plan = read_plan(parallel / "plan.xlsx")
    assert plan.meta.cycle == CYCLE and plan.meta.due is not None
    routes, _ = plan.routes()
    for service in SERVICES:
        issued = ours[f"{service}.xlsx"]["_xlplan_issued"]
        ids = [row[0] for row in issued[1:] if row[0]]
        assert ids == [a.id for a in plan.actions if service in routes[a.id]]  # in plan order
        rows = plan.record.rows_of(service)
        assert [r.action_id for r in rows] == ids and ids
        assert {(r.cycle, r.issued_at) for r in rows} == {(CYCLE, "2023-11-14 22:13")}
        assert metadata(parallel / "outbox" / f"{service}.xlsx")["service"] == service
    # Joint actions are split into one row per service, each issued to its own service.
    assert len(plan.record.rows) == len(plan.actions) > len(LPT_ACTIONS)
    record = unpack_rows([row[0] for row in masters[0]["_xlplan_record"]])
    assert {row[1] for row in record[1:]} == set(SERVICES)


def test_a_few_rows_are_written_in_this_process(
    many_services: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten workbooks of a few rows each: starting children would cost more than it saves."""
    written_here = []
    real = template_module.write_template

    def counting(*args, **kwargs):
        written_here.append(os.getpid())
        return real(*args, **kwargs)

    monkeypatch.setattr(template_pool.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(template_module, "write_template", counting)
    plan = Path(shutil.copy(many_services, tmp_path / "plan.xlsx"))
    result = issue(plan, tmp_path / "outbox")
    assert result.exit_code == 0, result.output
    assert written_here == [os.getpid()] * len(SERVICES)


@pytest.mark.parametrize("children", [True, False], ids=["children", "one process"])
def test_a_workbook_that_cannot_be_written_stops_the_issue_and_leaves_the_master(
    many_services: Path, tmp_path: Path, two_cores: None, monkeypatch: pytest.MonkeyPatch, children: bool
) -> None:
    if not children:
        monkeypatch.setattr(template_pool, "PARALLEL_FROM", 10**6)
    plan = tmp_path / "plan.xlsx"
    shutil.copy(many_services, plan)
    before = plan.read_bytes()
    outbox = tmp_path / "outbox"
    (outbox / "Service 04.xlsx").mkdir(parents=True)  # in the way: a folder of that name
    result = issue(plan, outbox)
    assert result.exit_code == 2
    message = result.output.strip()
    assert message.startswith(f"xlplan: Cannot write {outbox / 'Service 04.xlsx'}: Is a directory.")
    assert "The issue stopped and the master was not changed." in message
    done = [p for p in outbox.glob("*.xlsx") if p.is_file()]
    if done:
        assert f"{len(done)} of 10 service workbooks had been written to {outbox}" in message
        assert "do not send them" in message
    else:
        assert "No service workbook was written." in message
    if not children:  # in order: the three before it
        assert sorted(p.name for p in done) == ["Service 01.xlsx", "Service 02.xlsx", "Service 03.xlsx"]
    assert plan.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "outbox",
        "plan.xlsx",
    ]  # no backup, no temporary file
    assert not [p for p in outbox.iterdir() if p.name.startswith(".")]


@dataclass
class Job:
    path: Path
    dies: bool = False


def write_or_die(job: Job) -> None:
    """Run in a child process: the job marked to die kills it, as the kernel's out-of-memory
    killer would; the others write a file."""
    if job.dies:
        os._exit(9)
    job.path.write_text("written")


def test_a_child_that_dies_stops_the_issue_with_one_message(tmp_path: Path) -> None:
    jobs = [Job(tmp_path / f"{n:02d}.txt", dies=n == 5) for n in range(template_pool.PARALLEL_FROM + 2)]
    writers = template_pool.TemplateWriters(jobs, write_or_die, workers=2)
    writers.start()
    with pytest.raises(XlplanError) as raised:
        try:
            writers.finish()
        finally:
            writers.stop()
    message = raised.value.message
    assert message.startswith(
        "A process writing the service workbooks stopped abruptly (it ran out of memory or was "
        "killed). The issue stopped and the master was not changed."
    )
    assert message.endswith("Fix the problem and run xlplan template again.")
    assert not (tmp_path / "05.txt").exists()
    written = len(list(tmp_path.glob("*.txt")))
    if written:
        assert f"{written} of 10 service workbooks had been written to {tmp_path}" in message
    else:
        assert "No service workbook was written." in message


def test_a_plan_read_before_the_master_changed_is_read_again(many_services: Path, tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.xlsx"
    shutil.copy(many_services, plan_path)
    stale, seen = read_plan(plan_path), file_state(plan_path)
    fresh = read_plan(plan_path)
    action = fresh.actions[0]
    action.values["comments"] = "Edited by the central team after the first read"
    write_master(fresh, plan_path)
    assert file_state(plan_path) != seen

    issue_templates(plan_path, tmp_path / "outbox", cycle=CYCLE, read=(stale, seen))
    service = SERVICES[0]
    rows = all_sheet_values(tmp_path / "outbox" / f"{service}.xlsx")["_xlplan_issued"]
    assert "Edited by the central team after the first read" in {v for row in rows for v in row}

    # Unchanged since it was read, the plan given is used as it is (no second read).
    again, seen = read_plan(plan_path), file_state(plan_path)
    again.meta.title = "Only in memory"
    issue_templates(plan_path, tmp_path / "outbox2", cycle=CYCLE, read=(again, seen))
    assert read_plan(plan_path).meta.title == "Only in memory"


def test_a_master_that_cannot_be_kept_stops_the_issue_and_says_the_workbooks_are_not_recorded(
    many_services: Path, tmp_path: Path, two_cores: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_room(path: Path, why: str = "merge") -> Path:
        raise XlplanError(f"Cannot keep a copy of {path} before updating it: No space left on device.")

    monkeypatch.setattr(template_module, "keep_backup", no_room)
    plan = tmp_path / "plan.xlsx"
    shutil.copy(many_services, plan)
    before = plan.read_bytes()
    outbox = tmp_path / "outbox"
    result = issue(plan, outbox)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"xlplan: Cannot keep a copy of {plan} before updating it: No space left on device. The issue "
        f"stopped and the master was not changed. 10 of 10 service workbooks had been written to "
        f"{outbox}; they are not recorded as issued, so do not send them. Fix the problem and run "
        "xlplan template again."
    )
    assert plan.read_bytes() == before
    assert len(list(outbox.glob("*.xlsx"))) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox", "plan.xlsx"]


def sleeping(job: Job) -> None:
    """Run in a child process: a workbook that takes a long time."""
    import time

    time.sleep(60)


def running(pid: int) -> bool:
    """Is `pid` a live process (not gone, nor a zombie no one has reaped)?"""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            return "\nState:\tZ" not in handle.read()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_children_leave_when_xlplan_is_killed(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\n"
        "from test_template_parallel import Job, sleeping\n"
        "from xlplan import template_pool\n"
        "template_pool.PARALLEL_FROM_ROWS = 0\n"
        f"jobs = [Job(Path({str(tmp_path)!r}) / str(n)) for n in range(10)]\n"
        "writers = template_pool.TemplateWriters(jobs, sleeping, workers=2)\n"
        "writers.start()\n"
        "while len(writers._pool._processes) < 2:\n"
        "    time.sleep(0.1)\n"
        "print(*writers._pool._processes, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    children = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(children) == 2 and all(running(pid) for pid in children)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(running(pid) for pid in children)
