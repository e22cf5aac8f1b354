"""Structured logs (``--log-format json``): a real server writes one JSON object per line on stderr, and a line
logged while a run is changed carries the run's ids and the request's id as fields of their own; the answer
carries the request id back (``X-Request-Id``: the caller's own if sane, else one the server makes)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from mainspring.api.enums import WorkflowStatus
from mainspring.server._logs import REQUEST_ID, RUN, JsonFormatter, request_id
from mainspring.storage import ExecutionRecord
from support import free_port, run_cli, store_url, wait_until


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_json_server_logs_runs_and_requests_as_fields(tmp_path: Path) -> None:
    port, stderr = free_port(), tmp_path / "stderr.log"
    argv = [sys.executable, "-m", "mainspring", "server", "start-dev", "--headless", "--port", str(port)]
    argv += ["--db-filename", store_url(tmp_path / "logs.db"), "--log-format", "json", "--log-level", "info"]
    with open(stderr, "wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ})
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(url + "/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 20, what="the server")
        started = run_cli(
            "workflow",
            "start",
            "--task-queue=nobody",
            "--type=T",
            "--workflow-id=logged-1",
            address=f"127.0.0.1:{port}",
        )
        assert started.returncode == 0, started.stderr
        r = httpx.post(
            url + "/api/v1/namespaces/default/workflows/terminate",
            json={"workflow_id": "logged-1", "reason": "test", "identity": "tester"},
            headers={"x-request-id": "req-42"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-request-id"] == "req-42"
        made = httpx.get(url + "/api/v1/health", headers={"x-request-id": "bad id\twith spaces"}).headers
        assert made["x-request-id"] != "bad id\twith spaces" and len(made["x-request-id"]) < 40

        wait_until(lambda: "terminated by" in stderr.read_text(), 10, what="the termination's log line")
        lines = _json_lines(stderr)  # every line parses
        assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
        [terminated] = [line for line in lines if "terminated by" in line["message"]]
        assert terminated["workflow_id"] == "logged-1" and terminated["namespace"] == "default"
        assert terminated["run_id"] in terminated["message"] and terminated["request_id"] == "req-42"
        assert terminated["level"] == "info" and terminated["time"].endswith("Z")
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_formatter_keeps_extra_fields_and_errors() -> None:
    record = logging.LogRecord("mainspring.x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    record.task_queue = "q"
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    rec = ExecutionRecord(
        namespace="ns", workflow_id="w", run_id="r", workflow_type="T", task_queue="q",
        status=WorkflowStatus.RUNNING, start_time=0.0, close_time=None, next_event_id=1, version=1,
    )  # fmt: skip
    t1, t2 = RUN.set(rec), REQUEST_ID.set(request_id(None))
    try:
        out = json.loads(JsonFormatter().format(record))
    finally:
        RUN.reset(t1)
        REQUEST_ID.reset(t2)
    assert out["message"] == "failed here" and out["level"] == "error" and out["task_queue"] == "q"
    assert (out["namespace"], out["workflow_id"], out["run_id"]) == ("ns", "w", "r")
    assert "ValueError: boom" in out["error"] and out["request_id"]
    plain = json.loads(JsonFormatter().format(logging.LogRecord("m", logging.INFO, "", 1, "plain", (), None)))
    assert set(plain) == {"time", "level", "logger", "message"}  # outside a run and a request: no ids


def test_a_bad_log_format_is_refused() -> None:
    r = run_cli("server", "start-dev", "--log-format", "xml")
    assert r.returncode == 2 and "--log-format" in r.stderr and "json" in r.stderr
