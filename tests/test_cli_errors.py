"""Errors keep their meaning in the CLI's exit status and output: a script can tell "server unreachable",
"not found", "invalid input" and "workflow failed" apart by the status alone, and with ``-o json`` it reads
every error as JSON on stderr. Real CLI processes against a real server and worker.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support import ServerProcess, WorkerProcess, free_port, run_cli

EXTRA_WORKER = Path(__file__).resolve().parent / "workers" / "extra_worker.py"

UNREACHABLE, NOT_FOUND, INVALID, WORKFLOW_FAILED = 4, 3, 2, 5


def failed(r: subprocess.CompletedProcess[str], status: int) -> str:
    """Check a command failed with ``status`` and one ``Error:`` line on stderr; that line."""
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), r.stderr
    return lines[-1]


def failed_json(r: subprocess.CompletedProcess[str], status: int) -> dict[str, object]:
    """Check a ``-o json`` command failed with ``status`` and exactly one JSON error on stderr; it."""
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    error: dict[str, object] = json.loads(r.stderr)
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    return error


def start(workflow_id: str, *extra: str) -> list[str]:
    return ["workflow", "start", "--task-queue", "q", "--type", "t", "--workflow-id", workflow_id, *extra]


def test_each_kind_of_error_has_its_own_exit_status_and_a_json_form(server: ServerProcess, tmp_path: Path) -> None:
    a = server.address
    dead = f"127.0.0.1:{free_port()}"
    cases: list[tuple[list[str], str | None, int, str]] = [
        # (command, address, exit status, JSON error code)
        (["workflow", "list"], dead, UNREACHABLE, "unavailable"),
        (["workflow", "describe", "--workflow-id", "w"], dead, UNREACHABLE, "unavailable"),
        (start("w"), dead, UNREACHABLE, "unavailable"),
        (["workflow", "describe", "--workflow-id", "nope"], a, NOT_FOUND, "not_found"),
        (["workflow", "result", "--workflow-id", "nope"], a, NOT_FOUND, "not_found"),
        (["workflow", "cancel", "--workflow-id", "nope"], a, NOT_FOUND, "not_found"),
        (["workflow", "list", "--namespace", "nope"], a, NOT_FOUND, "namespace_not_found"),
        (start("w", "--input", "{bad"), a, INVALID, "invalid_argument"),
        (start(" w"), a, INVALID, "invalid_argument"),  # refused by the server
        (["workflow", "list", "--address", "not an address"], None, INVALID, "invalid_argument"),
        (["workflow", "list", "--limit", "0"], a, INVALID, "usage_error"),  # refused by click
    ]
    for cmd, address, status, code in cases:
        line = failed(run_cli(*cmd, address=address, timeout=30), status)
        error = failed_json(run_cli(*cmd, "-o", "json", address=address, timeout=30), status)
        assert error["code"] == code, (cmd, error)
        assert str(error["message"]) in line, (cmd, error, line)

    # The workflow failed: its result (the failure) on stdout as before, and the error on stderr.
    w = WorkerProcess(EXTRA_WORKER, a, log_path=tmp_path / "worker.log").start()
    try:
        cmd = ["workflow", "execute", "--task-queue", "test-task-queue", "--type", "failing_workflow"]
        r = run_cli(*cmd, "--workflow-id", "f1", "--input", '"no funds"', address=a, timeout=60)
        assert r.returncode == WORKFLOW_FAILED, r.stderr
        assert "Error: workflow f1 ended FAILED" in r.stderr and "caused by CardDeclined" in r.stderr
        r = run_cli("workflow", "result", "--workflow-id", "f1", "-o", "json", address=a, timeout=60)
        assert json.loads(r.stdout)["status"] == "FAILED"
        error = failed_json(r, WORKFLOW_FAILED)
        assert error["code"] == "workflow_failed" and "ended FAILED" in str(error["message"])
        assert "card declined: no funds" in json.dumps(error["details"])
    finally:
        w.stop()


def test_the_help_lists_the_exit_statuses() -> None:
    r = run_cli("--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for status, words in [
        (INVALID, "invalid input"),
        (NOT_FOUND, "not found"),
        (UNREACHABLE, "server unreachable"),
        (WORKFLOW_FAILED, "the workflow failed"),
    ]:
        assert f"{status} {words}" in text, r.stdout


def test_bad_json_in_an_input_file_names_the_file_and_the_position(server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "order.json"
    path.write_text('{\n  "item": "book",\n  "quantity": \n}\n')
    r = run_cli(*start("w", "--input-file", str(path)), address=server.address)
    line = failed(r, INVALID)
    assert line == f"Error: --input-file {str(path)!r} is not valid JSON: Expecting value at line 4 column 1"
    assert "quote it" not in r.stderr  # the advice for --input on a command line does not apply to a file
