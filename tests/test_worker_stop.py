"""What a worker process says while things go wrong, and how it stops: a second Ctrl-C stops at once and
says what it abandoned, without a traceback; a task outcome the server no longer wants (after a cancel)
is no warning; a bug in workflow code logs its traceback once, then a line per retry. A real server, a
real worker process, real signals.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from support import ServerProcess, WorkerProcess, run_cli, wait_until

WORKER = Path(__file__).resolve().parent / "workers" / "newcomer_worker.py"


def start(address: str, workflow_id: str, workflow_type: str, input_: str | None = None) -> None:
    args = ["workflow", "start", "--task-queue", "newcomer", "--type", workflow_type, "--workflow-id", workflow_id]
    r = run_cli(*args, *(["--input", input_] if input_ is not None else []), address=address)
    assert r.returncode == 0, r.stderr


def describe(address: str, workflow_id: str) -> dict[str, object]:
    r = run_cli("workflow", "describe", "--workflow-id", workflow_id, "-o", "json", address=address)
    assert r.returncode == 0, r.stderr
    data: dict[str, object] = json.loads(r.stdout)
    return data


def activity_started(address: str, workflow_id: str) -> bool:
    pending = describe(address, workflow_id).get("pending_activities") or []
    assert isinstance(pending, list)
    return bool(pending) and pending[0]["state"] == "STARTED"


def test_a_second_sigint_stops_at_once_and_says_what_was_abandoned(server: ServerProcess, tmp_path: Path) -> None:
    w = WorkerProcess(WORKER, server.address, log_path=tmp_path / "worker.log").start()
    try:
        for wid in ("nap-1", "nap-2"):
            start(server.address, wid, "nap_workflow", "120")
        for wid in ("nap-1", "nap-2"):
            wait_until(lambda wid=wid: activity_started(server.address, wid), 30, what=f"{wid}'s activity to start")
        assert w.proc is not None
        w.proc.send_signal(signal.SIGINT)
        wait_until(lambda: "SIGINT received" in w.log(), 15, what="the worker to take the first SIGINT")
        w.proc.send_signal(signal.SIGINT)
        # The activities take two minutes and the graceful timeout is ten seconds: what stops the worker
        # is the second signal, as the log line below says (whatever the time it took).
        wait_until(lambda: w.proc is not None and w.proc.poll() is not None, 60, what="the worker to exit")
        log = w.log()
        assert w.proc.returncode == 0, log
        assert "stopped at once: 2 activities abandoned" in log, log
        assert "did not finish in time" not in log, log
        for noise in ("Traceback", "KeyboardInterrupt", "Unclosed client session"):
            assert noise not in log, log
    finally:
        w.kill()


def test_an_outcome_refused_after_a_cancel_is_logged_at_debug(server: ServerProcess, tmp_path: Path) -> None:
    w = WorkerProcess(WORKER, server.address, args=["--log-level", "debug"], log_path=tmp_path / "worker.log")
    w.start()
    try:
        start(server.address, "nap-3", "nap_workflow", "3")
        wait_until(lambda: activity_started(server.address, "nap-3"), 30, what="the activity to start")
        r = run_cli("workflow", "terminate", "--workflow-id", "nap-3", address=server.address)
        assert r.returncode == 0, r.stderr
        # The activity is stopped (or ends by itself) and reports to a run that has closed.
        wait_until(lambda: "the server refused a task outcome" in w.log(), 30, what="the refused outcome")
    finally:
        w.stop()
    refused = [line for line in w.log().splitlines() if "the server refused a task outcome" in line]
    assert refused and all(" DEBUG mainspring.worker: " in line for line in refused), refused
    assert "no longer current" in refused[0]


def test_a_bug_in_workflow_code_logs_one_traceback_then_a_line_per_retry(server: ServerProcess, tmp_path: Path) -> None:
    w = WorkerProcess(WORKER, server.address, log_path=tmp_path / "worker.log").start()
    try:
        start(server.address, "broken-1", "broken_workflow")

        def attempt() -> int:
            wt = describe(server.address, "broken-1").get("pending_workflow_task")
            return int(wt["attempt"]) if isinstance(wt, dict) else 0

        wait_until(lambda: attempt() >= 4, 60, interval=0.5, what="the workflow task to fail three times")
        wait_until(lambda: len(re.findall(r"failed again \(attempt [3-9]", w.log())) >= 1, 30)
    finally:
        w.stop()
    log = w.log()
    assert log.count("Traceback (most recent call last)") == 1, log
    assert log.count("ValueError: boom: a bug in workflow code") >= 3, log
    again = re.findall(r"workflow task of broken-1 failed again \(attempt (\d+);", log)
    assert again[:2] == ["2", "3"], log
