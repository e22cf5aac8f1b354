"""A wait for a result on a run whose workflow task keeps failing (a bug in workflow code, retried as
designed) says so once, with the error and how often it failed, instead of waiting in silence: on stderr
for ``mainspring workflow result``, as a logged warning for ``handle.result()``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from mainspring import Client
from support import ServerProcess, WorkerProcess, run_cli, wait_until

WORKER = Path(__file__).resolve().parent / "workers" / "newcomer_worker.py"
STUCK = re.compile(
    r"workflow 'broken-\d' is stuck: its workflow task failed (\d+) times, last with ValueError: .*boom: a bug in "
    r"workflow code; it is retried until a worker runs it without error"
)


def start_broken(server: ServerProcess, workflow_id: str) -> None:
    args = ["--task-queue", "newcomer", "--type", "broken_workflow", "--workflow-id", workflow_id]
    r = run_cli("workflow", "start", *args, address=server.address)
    assert r.returncode == 0, r.stderr

    def failed_twice() -> bool:
        r = run_cli("workflow", "describe", "--workflow-id", workflow_id, "-o", "json", address=server.address)
        wt = json.loads(r.stdout)["pending_workflow_task"]
        return bool(wt) and wt["attempt"] >= 3

    wait_until(failed_twice, 60, interval=0.3, what="the workflow task to fail twice")


def test_the_cli_says_once_that_the_run_is_stuck(server: ServerProcess, tmp_path: Path) -> None:
    w = WorkerProcess(WORKER, server.address, log_path=tmp_path / "worker.log").start()
    try:
        start_broken(server, "broken-1")
        r = run_cli("workflow", "result", "--workflow-id", "broken-1", "--timeout", "10", address=server.address)
        assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 2, r.stderr
        m = STUCK.search(lines[0])
        assert m and lines[0].startswith("Warning: ") and int(m.group(1)) >= 2, lines[0]
        assert lines[1] == "Error: workflow 'broken-1' did not close within 10.0s"

        r = run_cli("workflow", "result", "-w", "broken-1", "--timeout", "8", "-o", "json", address=server.address)
        warning, error = (json.loads(line) for line in r.stderr.strip().splitlines())
        assert STUCK.search(warning["warning"]) and error["code"] == "timeout", r.stderr
    finally:
        w.stop()


async def test_handle_result_logs_one_warning(
    server: ServerProcess, client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = WorkerProcess(WORKER, server.address, log_path=tmp_path / "worker.log").start()
    try:
        start_broken(server, "broken-2")
        with caplog.at_level(logging.WARNING, logger="mainspring.client"), pytest.raises(TimeoutError):
            await client.get_workflow_handle("broken-2").result(timeout=10)
    finally:
        w.stop()
    warnings = [r for r in caplog.records if r.name == "mainspring.client" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert STUCK.search(warnings[0].getMessage()), warnings[0].getMessage()


async def test_a_healthy_run_gets_no_warning(
    server: ServerProcess, client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = WorkerProcess(WORKER, server.address, log_path=tmp_path / "worker.log").start()
    try:
        handle = await client.start_workflow("nap_workflow", 5, id="nap-1", task_queue="newcomer")
        with caplog.at_level(logging.WARNING, logger="mainspring.client"):
            assert await handle.result(timeout=60) == "rested"
    finally:
        w.stop()
    assert not [r for r in caplog.records if r.name == "mainspring.client"], caplog.text
