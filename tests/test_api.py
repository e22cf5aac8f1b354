"""The server's HTTP/JSON API (its OpenAPI description, docs, health, and the start/describe/history/result/
list/poll/complete endpoints driven by hand) and ``mainspring server start-dev`` itself.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

import mainspring
from support import EXAMPLES, ServerProcess, WorkerProcess, free_port, run_cli

NS = "/api/v1/namespaces/default"
HELLO_INPUT = {"code": "python", "kind": "typesafe"}
EXPECTED = {
    "kind": "worker",
    "platform": "mainspring",
    "features": ["performance", "async", "type-safe", "resource-efficient"],
}


def one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


# --- the API's description --------------------------------------------------------------------------------


def test_openapi_document_is_valid_and_lists_the_endpoints(server: ServerProcess) -> None:
    r = httpx.get(server.url + "/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = r.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["version"] == mainspring.__version__
    validate(doc)  # raises if it is not a valid OpenAPI 3.1 document

    operations = {(method.upper(), path): op for path, item in doc["paths"].items() for method, op in item.items()}
    expected = {
        ("POST", "/api/v1/namespaces/{namespace}/workflows"): "start_workflow",
        ("GET", "/api/v1/namespaces/{namespace}/workflows"): "list_workflows",
        ("GET", "/api/v1/namespaces/{namespace}/workflows/describe"): "describe_workflow",
        ("GET", "/api/v1/namespaces/{namespace}/workflows/history"): "get_history",
        ("GET", "/api/v1/namespaces/{namespace}/workflows/result"): "get_result",
        ("POST", "/api/v1/namespaces/{namespace}/workflow-tasks/poll"): "poll_workflow_task",
        ("POST", "/api/v1/namespaces/{namespace}/workflow-tasks/complete"): "complete_workflow_task",
        ("POST", "/api/v1/namespaces/{namespace}/activity-tasks/poll"): "poll_activity_task",
        ("POST", "/api/v1/namespaces/{namespace}/activity-tasks/complete"): "complete_activity_task",
        ("GET", "/api/v1/health"): "health",
    }
    for key, operation_id in expected.items():
        assert key in operations, f"{key} missing from {sorted(operations)}"
        assert operations[key]["operationId"] == operation_id
    start = operations[("POST", "/api/v1/namespaces/{namespace}/workflows")]
    body_ref = start["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = doc["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert {"workflow_id", "workflow_type", "task_queue"} <= set(body_schema["required"])
    for status in ("400", "409", "413"):
        error_ref = start["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert set(doc["components"]["schemas"][error_ref.rsplit("/", 1)[1]]["properties"]) >= {"code", "message"}
    result = operations[("GET", "/api/v1/namespaces/{namespace}/workflows/result")]
    assert {p["name"] for p in result["parameters"]} >= {"namespace", "workflow_id", "run_id", "wait"}


def test_docs_page_and_health(server: ServerProcess) -> None:
    r = httpx.get(server.url + "/api/v1/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text.lower() or "<!doctype html" in r.text.lower()
    assert "/api/v1/openapi.json" in r.text
    assert "/api/v1/namespaces/{namespace}/workflows" in r.text

    r = httpx.get(server.url + "/api/v1/health")
    assert r.status_code == 200
    health = r.json()
    assert health["status"] == "ok"
    assert health["version"] == mainspring.__version__


# --- the workflow endpoints -------------------------------------------------------------------------------


def test_start_describe_history_result_list_over_http(server: ServerProcess, hello_worker: WorkerProcess) -> None:
    with httpx.Client(base_url=server.url + NS, timeout=30) as http:
        r = http.post(
            "/workflows",
            json={
                "workflow_id": "api-1",
                "workflow_type": "sdk_example_workflow",
                "task_queue": "hello-task-queue",
                "input": HELLO_INPUT,
            },
        )
        assert r.status_code == 201, r.text
        run_id = r.json()["run_id"]
        assert r.json() == {"workflow_id": "api-1", "run_id": run_id, "namespace": "default"}

        # Long-poll for the result.
        r = http.get("/workflows/result", params={"workflow_id": "api-1", "wait": 20})
        assert r.status_code == 200
        assert r.json() == {
            "workflow_id": "api-1",
            "run_id": run_id,
            "status": "COMPLETED",
            "result": EXPECTED,
            "failure": None,
        }

        d = http.get("/workflows/describe", params={"workflow_id": "api-1", "run_id": run_id}).json()
        assert d["execution"]["status"] == "COMPLETED" and d["execution"]["run_id"] == run_id
        assert d["input"] == HELLO_INPUT and d["result"] == EXPECTED

        history = http.get("/workflows/history", params={"workflow_id": "api-1"}).json()
        assert history["next_page_token"] is None
        events = history["events"]
        assert len(events) == d["execution"]["history_length"]
        assert events[0]["event_type"] == "WorkflowExecutionStarted"
        assert events[-1]["event_type"] == "WorkflowExecutionCompleted"
        # Paging through the history gives the same events.
        paged: list[dict[str, Any]] = []
        params: dict[str, Any] = {"workflow_id": "api-1", "limit": 3}
        while True:
            page = http.get("/workflows/history", params=params).json()
            paged += page["events"]
            if not page["next_page_token"]:
                break
            params["page_token"] = page["next_page_token"]
        assert paged == events

        listed = http.get("/workflows", params={"status": "COMPLETED", "workflow_id_prefix": "api-"}).json()
        assert [e["run_id"] for e in listed["executions"]] == [run_id]
        assert http.get("/workflows", params={"status": "RUNNING"}).json()["executions"] == []
        assert http.get("/workflows", params={"workflow_type": "other"}).json()["executions"] == []


def test_task_queues_cancel_and_terminate_over_http(server: ServerProcess, hello_worker: WorkerProcess) -> None:
    with httpx.Client(base_url=server.url + NS, timeout=30) as http:
        queues = http.get("/task-queues").json()["task_queues"]
        [queue] = [q for q in queues if q["name"] == "hello-task-queue"]
        [worker] = queue["workers"]
        assert worker["channel"] is True and worker["identity"]
        assert worker["workflow_types"] == ["sdk_example_workflow"]
        assert worker["activity_types"] == ["sdk_example_activity"]
        assert worker["last_seen"] >= worker["connected_since"]
        assert http.get("/task-queues", params={"name": "nobody-here"}).json() == {"task_queues": []}

        # Nobody polls "idle-queue": the started workflow's first task waits there, in its backlog.
        start = {"workflow_id": "api-term", "workflow_type": "t", "task_queue": "idle-queue"}
        run_id = http.post("/workflows", json=start).json()["run_id"]
        idle = http.get("/task-queues", params={"name": "idle-queue"}).json()["task_queues"]
        assert idle == [{"name": "idle-queue", "workers": [], "backlog": {"workflow": 1, "activity": 0}, "builds": []}]

        r = http.post("/workflows/cancel", json={"workflow_id": "api-term", "reason": "r1"})
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": True, "workflow_id": "api-term", "run_id": run_id, "already_requested": False}
        r = http.post("/workflows/terminate", json={"workflow_id": "api-term", "reason": "r2", "identity": "me"})
        assert r.status_code == 200 and r.json()["run_id"] == run_id
        r = http.post("/workflows/terminate", json={"workflow_id": "api-term"})
        assert r.status_code == 400 and r.json()["code"] == "not_running"
        r = http.post("/workflows/cancel", json={"workflow_id": "nope"})
        assert r.status_code == 404
        r = http.post("/workflows/cancel", json={"workflow_id": ""})
        assert r.status_code == 400 and "workflow_id" in r.json()["message"]
        r = http.post("/workflows/cancel", json={"run_id": run_id})
        assert r.status_code == 400 and "workflow_id" in r.json()["message"]
        events = http.get("/workflows/history", params={"workflow_id": "api-term"}).json()["events"]
        assert [e["event_type"] for e in events][-2:] == [
            "WorkflowExecutionCancelRequested",
            "WorkflowExecutionTerminated",
        ]
        assert events[-1]["attributes"] == {"reason": "r2", "identity": "me"}
        d = http.get("/workflows/describe", params={"workflow_id": "api-term"}).json()
        assert d["execution"]["status"] == "TERMINATED"
        assert d["failure"]["type"] == "TerminatedError" and d["failure"]["message"] == "r2"
        assert http.get("/task-queues", params={"name": "idle-queue"}).json() == {"task_queues": []}


def test_a_worker_by_hand_polls_and_completes_tasks(server: ServerProcess) -> None:
    """Drive one workflow through the worker endpoints directly: poll, schedule an activity, complete it."""
    tq = f"by-hand-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server.url + NS, timeout=30) as http:
        r = http.post(
            "/workers",
            json={
                "identity": "by-hand",
                "task_queue": tq,
                "workflow_types": [{"name": "by_hand"}],
                "activity_types": ["greet"],
            },
        )
        assert r.status_code == 201, r.text
        session = r.json()["session_id"]
        assert r.json()["max_payload_bytes"] == 2 * 1024 * 1024

        # Nothing to do yet: the poll ends empty with 204.
        t0 = time.monotonic()
        r = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 0.3})
        assert r.status_code == 204
        assert time.monotonic() - t0 < 5

        run_id = http.post(
            "/workflows", json={"workflow_id": "hand-1", "workflow_type": "by_hand", "task_queue": tq, "input": 41}
        ).json()["run_id"]

        task = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        assert (task["workflow_id"], task["run_id"], task["workflow_type"]) == ("hand-1", run_id, "by_hand")
        assert task["first_event_id"] == 1 and task["attempt"] == 1
        assert [e["event_type"] for e in task["history"]] == [
            "WorkflowExecutionStarted",
            "WorkflowTaskScheduled",
            "WorkflowTaskStarted",
        ]
        assert task["history"][0]["attributes"]["input"] == 41
        r = http.post(
            "/workflow-tasks/complete",
            json={
                "task_token": task["task_token"],
                "sticky": False,
                "commands": [
                    {
                        "type": "ScheduleActivity",
                        "activity_id": "greet-1",
                        "activity_type": "greet",
                        "input": 41,
                        "start_to_close_timeout": 10,
                    }
                ],
            },
        )
        assert r.status_code == 200, r.text

        d = http.get("/workflows/describe", params={"workflow_id": "hand-1"}).json()
        assert [(a["activity_id"], a["state"]) for a in d["pending_activities"]] == [("greet-1", "SCHEDULED")]

        act = http.post("/activity-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        assert (act["activity_id"], act["activity_type"], act["input"], act["attempt"]) == ("greet-1", "greet", 41, 1)
        r = http.post("/activity-tasks/complete", json={"task_token": act["task_token"], "result": 42})
        assert r.status_code == 200, r.text

        task = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        completed = [e for e in task["history"] if e["event_type"] == "ActivityTaskCompleted"]
        if task["first_event_id"] == 1 or not completed:
            full = http.get("/workflows/history", params={"workflow_id": "hand-1"}).json()["events"]
            completed = [e for e in full if e["event_type"] == "ActivityTaskCompleted"]
        assert completed[0]["attributes"]["result"] == 42
        r = http.post(
            "/workflow-tasks/complete",
            json={"task_token": task["task_token"], "commands": [{"type": "CompleteWorkflow", "result": "answer 42"}]},
        )
        assert r.status_code == 200, r.text

        res = http.get("/workflows/result", params={"workflow_id": "hand-1", "wait": 5}).json()
        assert (res["status"], res["result"]) == ("COMPLETED", "answer 42")
        # The same task cannot be completed twice.
        r = http.post("/workflow-tasks/complete", json={"task_token": task["task_token"], "commands": []})
        assert 400 <= r.status_code < 500 and {"code", "message"} <= set(r.json())

        assert http.delete(f"/workers/{session}").status_code == 200
        r = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 0.1})
        assert r.status_code == 404 and r.json()["code"] == "session_not_found"


# --- mainspring server start-dev ----------------------------------------------------------------------------


def test_start_dev_says_where_it_listens_and_where_its_data_lives(server: ServerProcess, tmp_path: Path) -> None:
    log = server.log()
    assert f"http://127.0.0.1:{server.port}" in log
    assert f"http://127.0.0.1:{server.port}/api/v1/docs" in log
    assert str(tmp_path / "mainspring.db") in log
    assert "SQLite" in log
    assert re.search(r"Ready in \d+\.\d+s", log)
    assert httpx.get(server.url + "/api/v1/health").json()["store"] == str(tmp_path / "mainspring.db")


def test_in_memory_database_keeps_nothing_after_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so that a file named ':memory:' would show up here
    srv = ServerProcess(":memory:", log_path=tmp_path / "memory-server.log").start()
    try:
        assert "in memory" in srv.log()
        r = httpx.post(
            srv.url + NS + "/workflows",
            json={"workflow_id": "m-1", "workflow_type": "t", "task_queue": "q", "input": None},
        )
        assert r.status_code == 201
        assert httpx.get(srv.url + NS + "/workflows").json()["executions"][0]["workflow_id"] == "m-1"
        srv.restart()
        assert httpx.get(srv.url + NS + "/workflows").json()["executions"] == []
        r = httpx.get(srv.url + NS + "/workflows/describe", params={"workflow_id": "m-1"})
        assert r.status_code == 404
    finally:
        srv.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory-server.log"]


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli(
            "server",
            "start-dev",
            "--ui-port",
            str(free_port()),
            "--port",
            str(port),
            "--db-filename",
            str(tmp_path / "x.db"),
            timeout=20,
        )
    line = one_error_line(r)
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line
    assert "Ready" not in r.stdout
    assert not (tmp_path / "x.db").exists()


def test_a_second_server_on_the_same_database_refuses(server: ServerProcess, hello_worker: WorkerProcess) -> None:
    r = run_cli(
        "workflow",
        "execute",
        "--task-queue=hello-task-queue",
        "--type=sdk_example_workflow",
        "--workflow-id=first",
        "--input",
        json.dumps(HELLO_INPUT),
        address=server.address,
    )
    assert r.returncode == 0, r.stderr
    r = run_cli(
        "server",
        "start-dev",
        "--ui-port",
        str(free_port()),
        "--port",
        str(free_port()),
        "--db-filename",
        server.db,
        timeout=20,
    )
    line = one_error_line(r)
    assert "is in use by another Mainspring server" in line and "--db-filename" in line
    assert "Ready" not in r.stdout
    # The first server is unharmed.
    d = httpx.get(server.url + NS + "/workflows/describe", params={"workflow_id": "first"}).json()
    assert d["execution"]["status"] == "COMPLETED" and d["result"] == EXPECTED


def test_bad_start_dev_options_are_refused_before_starting(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    r = run_cli(
        "server",
        "start-dev",
        "--ui-port",
        str(free_port()),
        "--port",
        str(free_port()),
        "--db-filename",
        db,
        "--namespace",
        "bad ns",
    )
    assert r.returncode == 2 and "invalid namespace 'bad ns'" in r.stderr
    r = run_cli(
        "server",
        "start-dev",
        "--ui-port",
        str(free_port()),
        "--port",
        str(free_port()),
        "--db-filename",
        db,
        "--max-payload-size",
        "lots",
    )
    assert r.returncode == 2 and "'lots' is not a size" in r.stderr
    r = run_cli("server", "start-dev", "--ui-port", str(free_port()), "--port", "70000", "--db-filename", db)
    assert r.returncode == 2 and "70000" in r.stderr
    assert not Path(db).exists()


def test_the_server_is_ready_quickly(tmp_path: Path) -> None:
    # Only loosely: speed goals are for benchmarks, not for tests on a busy machine.
    srv = ServerProcess(tmp_path / "quick.db").start()
    try:
        assert srv.ready_seconds is not None and srv.ready_seconds < 5
        m = re.search(r"Ready in (\d+\.\d+)s", srv.log())
        assert m and float(m.group(1)) < 5
    finally:
        srv.stop()


def _stop_with(sig: signal.Signals, tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "stop.db").start()
    try:
        assert srv.proc is not None
        srv.proc.send_signal(sig)
        assert srv.proc.wait(10) == 0
        assert srv.log().rstrip().endswith("Server stopped.")
        # The store was closed: SQLite removes the WAL files when the last connection closes.
        assert not (tmp_path / "stop.db-wal").exists() and not (tmp_path / "stop.db-shm").exists()
    finally:
        srv.kill()


def test_ctrl_c_stops_the_server_cleanly(tmp_path: Path) -> None:
    _stop_with(signal.SIGINT, tmp_path)


def test_sigterm_stops_the_server_cleanly(tmp_path: Path) -> None:
    _stop_with(signal.SIGTERM, tmp_path)


def test_server_stops_promptly_after_a_worker_left(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "stop.db").start()
    try:
        hello = EXAMPLES / "hello" / "worker.py"
        # A worker comes and goes: its activity polls were waiting on the queue when it left.
        WorkerProcess(hello, srv.address, log_path=tmp_path / "w1.log").start().stop()
        w2 = WorkerProcess(hello, srv.address, log_path=tmp_path / "w2.log").start()
        # The next worker's workflow schedules an activity on that queue.
        r = run_cli(
            "workflow",
            "execute",
            "--task-queue=hello-task-queue",
            "--type=sdk_example_workflow",
            "--workflow-id=x",
            "--input",
            json.dumps(HELLO_INPUT),
            address=srv.address,
        )
        assert r.returncode == 0, r.stderr
        w2.stop()
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGINT)  # (SIGTERM has a bug of its own, see above)
        try:
            code = srv.proc.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, "the server did not stop within 5 s of Ctrl+C"
    finally:
        srv.kill()
