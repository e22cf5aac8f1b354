"""The worker channel (a WebSocket per worker): its protocol, and that the session is the connection.

With the worker lease set to a minute, a SIGKILLed worker's tasks still move to another worker within
seconds: only the closed connection can have told the server. Protocol mistakes get an error answer
that names what is wrong, like the HTTP API's 4xx.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from support import EXAMPLES, ServerProcess, WorkerProcess, run_cli, wait_until

NS = "/api/v1/namespaces/default"


@pytest.fixture
def long_lease_server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "ch.db", extra_args=["--worker-session-timeout", "60"]).start()
    try:
        yield srv
    finally:
        srv.stop()


def _url(server: ServerProcess, namespace: str = "default") -> str:
    return f"ws://{server.address}/api/v1/namespaces/{namespace}/workers/connect"


def _call(ws: ClientConnection, i: int, op: str, body: Any) -> dict[str, Any]:
    ws.send(json.dumps({"i": i, "op": op, "b": body}))
    answer: dict[str, Any] = json.loads(ws.recv(timeout=10))
    assert answer["i"] == i
    return answer


def test_a_killed_worker_is_noticed_when_its_connection_closes(
    long_lease_server: ServerProcess, tmp_path: Path
) -> None:
    server = long_lease_server
    env = {"ORDER_STEP_SECONDS": "3", "ORDER_LOG": str(tmp_path / "steps.log")}
    first = WorkerProcess(
        EXAMPLES / "order" / "worker.py", server.address, env=env, log_path=tmp_path / "w1.log"
    ).start()
    r = run_cli(
        "workflow",
        "start",
        "-t",
        "order-task-queue",
        "--type",
        "order_workflow",
        "-w",
        "o1",
        "-i",
        '{"order_id": "o1", "items": 1}',
        address=server.address,
    )
    assert r.returncode == 0, r.stderr

    def running_reserve() -> bool:
        d = httpx.get(server.url + NS + "/workflows/describe", params={"workflow_id": "o1"}).json()
        return any(a["state"] == "STARTED" for a in d["pending_activities"])

    wait_until(running_reserve, timeout=15, what="the first activity to run")
    killed_at = time.monotonic()
    first.kill()

    def requeued() -> dict[str, Any] | None:
        d = httpx.get(server.url + NS + "/workflows/describe", params={"workflow_id": "o1"}).json()
        for a in d["pending_activities"]:
            failure = a.get("last_failure") or {}
            if a["state"] == "SCHEDULED" and "was lost" in failure.get("message", ""):
                return dict(a)
        return None

    activity = wait_until(requeued, timeout=20, what="the dead worker's activity to be handed back")
    # The lease is 60 s: handing the activity back this early means the closed connection told the server.
    assert time.monotonic() - killed_at < 30
    assert activity["attempt"] == 2
    second = WorkerProcess(
        EXAMPLES / "order" / "worker.py",
        server.address,
        env={**env, "ORDER_STEP_SECONDS": "0.05"},
        log_path=tmp_path / "w2.log",
    ).start()
    try:
        r = run_cli("workflow", "result", "-w", "o1", "-o", "json", address=server.address, timeout=60)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["result"]["steps"] == ["reserve", "charge", "pack", "ship", "notify"]
    finally:
        second.stop()


def test_channel_protocol_errors_are_answered_clearly(server: ServerProcess) -> None:
    # The first message must register.
    with connect(_url(server)) as ws:
        answer = _call(ws, 1, "poll_activity_task", {"timeout": 0.1})
        assert answer["err"]["status"] == 400 and "register" in answer["err"]["message"]
    # A bad registration names the problem.
    with connect(_url(server)) as ws:
        answer = _call(ws, 1, "register", {"identity": "x", "task_queue": ""})
        assert answer["err"]["status"] == 400 and "task queue" in answer["err"]["message"]
    # An unknown namespace is refused.
    with connect(_url(server, "nope")) as ws:
        answer = _call(ws, 1, "register", {"identity": "x", "task_queue": "q"})
        assert answer["err"]["status"] == 404 and "nope" in answer["err"]["message"]

    tq = f"ch-{uuid.uuid4().hex[:6]}"
    with connect(_url(server)) as ws:
        session = _call(ws, 1, "register", {"identity": "hand", "task_queue": tq, "activity_types": ["a"]})["ok"]
        assert session["session_id"] and session["max_payload_bytes"] == 2 * 1024 * 1024
        assert _call(ws, 2, "poll_activity_task", {"timeout": 0.1}) == {"i": 2, "ok": None}  # nothing to do
        unknown = _call(ws, 3, "launch_rockets", {})
        assert unknown["err"]["status"] == 400 and "launch_rockets" in unknown["err"]["message"]
        bad = _call(ws, 4, "complete_activity_task", {"result": 1})
        assert bad["err"]["status"] == 400 and "task_token" in bad["err"]["message"]
        stale = _call(ws, 5, "complete_activity_task", {"task_token": "a|nope|1|1", "result": 1})
        assert stale["err"]["status"] == 404
        # Several polls wait at once on one connection, sent in one frame (an array); each is answered,
        # and answers that are ready together may share a frame too.
        ws.send(json.dumps([{"i": i, "op": "poll_activity_task", "b": {"timeout": 0.2}} for i in (6, 7)]))
        answers: set[int] = set()
        while len(answers) < 2:
            frame = json.loads(ws.recv(timeout=10))
            answers |= {a["i"] for a in (frame if isinstance(frame, list) else [frame])}
        assert answers == {6, 7}
        ws.send(json.dumps({"i": 0, "op": "bye"}))
    # The server is unharmed: the hello example still runs end to end.
    w = WorkerProcess(EXAMPLES / "hello" / "worker.py", server.address).start()
    try:
        r = run_cli(
            "workflow",
            "execute",
            "-t",
            "hello-task-queue",
            "--type",
            "sdk_example_workflow",
            "-w",
            "h",
            "-i",
            '{"code": "python", "kind": "typesafe"}',
            address=server.address,
        )
        assert r.returncode == 0, r.stderr
    finally:
        w.stop()


def test_a_poll_can_take_several_ready_tasks(server: ServerProcess) -> None:
    """poll_workflow_tasks answers with the first task and the others ready at that moment, up to max_tasks."""
    tq = f"batch-{uuid.uuid4().hex[:6]}"
    with connect(_url(server)) as ws:
        _call(ws, 1, "register", {"identity": "hand", "task_queue": tq, "workflow_types": []})
        bad = _call(ws, 2, "poll_workflow_tasks", {"timeout": 0.1, "max_tasks": 0})
        assert bad["err"]["status"] == 400 and "max_tasks" in bad["err"]["message"]
        too_many = _call(ws, 3, "poll_workflow_tasks", {"timeout": 0.1, "max_tasks": 65})
        assert too_many["err"]["status"] == 400 and "max_tasks" in too_many["err"]["message"]
        assert _call(ws, 4, "poll_workflow_tasks", {"timeout": 0.1, "max_tasks": 4}) == {"i": 4, "ok": {"tasks": []}}

        ids = [f"b{i}" for i in range(5)]
        with httpx.Client(base_url=server.url) as http:
            for wid in ids:
                body = {"workflow_id": wid, "workflow_type": "wf", "task_queue": tq, "input": wid}
                assert http.post(NS + "/workflows", json=body).status_code == 201
        first = _call(ws, 5, "poll_workflow_tasks", {"timeout": 5, "max_tasks": 3})["ok"]["tasks"]
        rest = _call(ws, 6, "poll_workflow_tasks", {"timeout": 5, "max_tasks": 3})["ok"]["tasks"]
        assert [len(first), len(rest)] == [3, 2]
        got = first + rest
        assert sorted(t["workflow_id"] for t in got) == ids  # each exactly once
        for t in got:  # each a whole workflow task, its history from the start
            types = [e["event_type"] for e in t["history"]]
            assert types == ["WorkflowExecutionStarted", "WorkflowTaskScheduled", "WorkflowTaskStarted"]
            assert t["history"][0]["attributes"]["input"] == t["workflow_id"]
        ws.send(json.dumps({"i": 0, "op": "bye"}))
