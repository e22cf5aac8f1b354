"""Hostile input cannot brick the store: whatever a client or a worker sends, it gets a 4xx naming what is
wrong (or a protocol error and a clean close on a channel), nothing unreadable is stored, and the server
starts again afterwards with everything it had.

Each case here once got through: an infinite timer duration was stored as ``null`` and the server then
exited at every restart; deep input, a NaN poll timeout and a huge event id were 500s; an oversized
activity result, a megabyte identity and a 100 MB body were accepted (the body read whole first).
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from inprocess import eventually, running_worker
from mainspring import Client, WorkflowHandle, activity, workflow
from support import ServerProcess

NS = "/api/v1/namespaces/default"
_JSON = {"content-type": "application/json"}


def _error(r: httpx.Response, status: int, *named: str) -> str:
    assert r.status_code == status, f"{r.status_code}: {r.text}"
    body = r.json()
    assert set(body) >= {"code", "message"}, body
    for text in named:
        assert text in body["message"], body["message"]
    message: str = body["message"]
    return message


class HandWorker:
    """A worker driven by hand over HTTP: it registers, and takes workflow tasks one at a time."""

    def __init__(self, http: httpx.Client, task_queue: str) -> None:
        self.http = http
        self.task_queue = task_queue
        r = http.post("/workers", json={"identity": "hand", "task_queue": task_queue, "activity_types": ["act"]})
        assert r.status_code == 201, r.text
        self.session = r.json()["session_id"]

    def start(self, workflow_id: str) -> str:
        r = self.http.post(
            "/workflows", json={"workflow_id": workflow_id, "workflow_type": "wf", "task_queue": self.task_queue}
        )
        assert r.status_code == 201, r.text
        run_id: str = r.json()["run_id"]
        return run_id

    def task(self, kind: str = "workflow") -> dict[str, Any]:
        r = self.http.post(f"/{kind}-tasks/poll", json={"session_id": self.session, "timeout": 10})
        assert r.status_code == 200, r.text
        task: dict[str, Any] = r.json()
        return task

    def complete(self, token: str, *commands: dict[str, Any]) -> httpx.Response:
        return self.http.post("/workflow-tasks/complete", json={"task_token": token, "commands": list(commands)})


def _raw_complete(http: httpx.Client, token: str, commands_json: str) -> httpx.Response:
    """A completion whose commands are written as JSON text (so it can hold 1e309 or NaN)."""
    body = '{"task_token": ' + json.dumps(token) + ', "commands": ' + commands_json + "}"
    return http.post("/workflow-tasks/complete", content=body, headers=_JSON)


def _activity(**fields: Any) -> dict[str, Any]:
    return {
        "type": "ScheduleActivity",
        "activity_id": "a1",
        "activity_type": "act",
        "start_to_close_timeout": 5,
        **fields,
    }


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + NS, timeout=30) as c:
        yield c


def test_durations_intervals_and_coefficients_must_be_finite_and_in_range(
    server: ServerProcess, http: httpx.Client
) -> None:
    hand = HandWorker(http, f"q-{uuid.uuid4().hex[:6]}")
    hand.start("timers")
    token = hand.task()["task_token"]
    history_before = http.get("/workflows/history", params={"workflow_id": "timers"}).json()["events"]

    # Not JSON numbers a store can keep: refused before any model sees them.
    for text in ("1e309", "-1e309", "NaN", "Infinity"):
        timer = '[{"type": "StartTimer", "timer_id": "t", "duration": ' + text + "}]"
        _error(_raw_complete(http, token, timer), 400, "not valid JSON", "finite")
    # Finite, but out of range: refused naming the field.
    for duration in (1e300, -1, 4e9):
        r = hand.complete(token, {"type": "StartTimer", "timer_id": "t", "duration": duration})
        _error(r, 400, "field 'commands.0.StartTimer.duration'")
    for name in (
        "start_to_close_timeout",
        "schedule_to_close_timeout",
        "heartbeat_timeout",
        "schedule_to_start_timeout",
    ):
        for value in (0, -5, 1e300):
            _error(hand.complete(token, _activity(**{name: value})), 400, f"ScheduleActivity.{name}")
    for policy, field in (
        ({"backoff_coefficient": -2}, "backoff_coefficient"),
        ({"backoff_coefficient": 0.5}, "backoff_coefficient"),
        ({"backoff_coefficient": 1e300}, "backoff_coefficient"),
        ({"initial_interval": 0}, "initial_interval"),
        ({"initial_interval": -1}, "initial_interval"),
        ({"maximum_interval": 1e300}, "maximum_interval"),
        ({"maximum_attempts": -1}, "maximum_attempts"),
        ({"initial_interval": 10, "maximum_interval": 1}, "must not be less than initial_interval"),
    ):
        _error(hand.complete(token, _activity(retry_policy=policy)), 400, field)
    # Nothing of that reached history; the task is still current and a good completion goes through.
    assert http.get("/workflows/history", params={"workflow_id": "timers"}).json()["events"] == history_before
    year = 365 * 24 * 3600.0
    r = hand.complete(
        token,
        {"type": "StartTimer", "timer_id": "far", "duration": 99 * year},
        _activity(retry_policy={"backoff_coefficient": 100, "maximum_interval": 99 * year}),
    )
    assert r.status_code == 200, r.text
    # A timer 99 years out, and an activity that retries with the largest coefficient allowed: describe
    # shows them, and after a restart the server comes up with both.
    activity = hand.task("activity")
    failure = {"message": "no", "type": "Boom"}
    r = http.post("/activity-tasks/fail", json={"task_token": activity["task_token"], "failure": failure})
    assert r.status_code == 200, r.text
    described = http.get("/workflows/describe", params={"workflow_id": "timers"})
    assert described.status_code == 200, described.text
    assert described.json()["pending_activities"][0]["state"] == "BACKOFF"
    assert described.json()["pending_timers"][0]["fire_time"].startswith(str(2026 + 99)[:3])
    server.restart()
    described = http.get("/workflows/describe", params={"workflow_id": "timers"})
    assert described.status_code == 200, described.text
    assert [t["timer_id"] for t in described.json()["pending_timers"]] == ["far"]


def test_deep_huge_and_malformed_numbers_are_400s(server: ServerProcess, http: httpx.Client) -> None:
    deep = "[" * 1000 + "]" * 1000
    start = '{"workflow_id": "deep", "workflow_type": "wf", "task_queue": "q", "input": ' + deep + "}"
    _error(http.post("/workflows", content=start, headers=_JSON), 400)
    # Deep enough to get past the JSON parser, too deep to store (state and frames nest it further).
    deep = "[" * 230 + "]" * 230
    start = '{"workflow_id": "deep", "workflow_type": "wf", "task_queue": "q", "input": ' + deep + "}"
    _error(http.post("/workflows", content=start, headers=_JSON), 400, "nested more than 200 levels")
    _error(http.post("/workflow-tasks/poll", content='{"session_id": "s", "timeout": NaN}', headers=_JSON), 400)
    _error(http.post("/workflow-tasks/poll", json={"session_id": "s", "timeout": -1}), 400, "field 'timeout'")
    for params, named in (
        ({"workflow_id": "x", "first_event_id": "100000000000000000000"}, "first_event_id"),
        ({"workflow_id": "x", "first_event_id": "1e20"}, "first_event_id"),
        ({"workflow_id": "x", "limit": "-3"}, "limit"),
        ({"workflow_id": "x\n"}, "control characters"),
        ({"workflow_id": "x", "run_id": "r" * 5000}, "run_id"),
    ):
        _error(http.get("/workflows/history", params=params), 400, named)
    for wait in ("nan", "inf", "-1", "1e400"):
        _error(http.get("/workflows/result", params={"workflow_id": "x", "wait": wait}), 400, "'wait'")
    _error(http.get("/workflows", params={"started_after": "inf"}), 400, "started_after")
    # The same deep input over the client channel is refused the same way, and the channel stays usable.

    async def over_the_channel() -> None:
        nested: Any = []
        for _ in range(230):
            nested = [nested]
        async with await Client.connect(server.address) as client:
            with pytest.raises(Exception, match="nested more than 200 levels"):
                await client.start_workflow("wf", nested, id="deep-ch", task_queue="q")
            handle = await client.start_workflow("wf", [1], id="fine-ch", task_queue="q")
            assert handle.run_id

    asyncio.run(over_the_channel())
    assert server.proc is not None and server.proc.poll() is None
    assert "Traceback" not in server.log()


def test_everything_a_client_sends_is_bounded(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "limits.db", extra_args=["--max-payload-size", "64KiB"]).start()
    try:
        with httpx.Client(base_url=server.url + NS, timeout=60) as http:
            big = "x" * (64 * 1024 + 10)
            hand = HandWorker(http, "limits")
            hand.start("limits")
            token = hand.task()["task_token"]
            assert hand.complete(token, _activity()).status_code == 200
            activity = hand.task("activity")["task_token"]
            _error(http.post("/activity-tasks/complete", json={"task_token": activity, "result": big}), 413, "result")
            _error(
                http.post("/activity-tasks/heartbeat", json={"task_token": activity, "details": big}), 413, "details"
            )
            failure = {"message": "m", "details": [big]}
            _error(http.post("/activity-tasks/fail", json={"task_token": activity, "failure": failure}), 413)
            for body, named in (
                ({"identity": "i" * 2000, "task_queue": "q"}, "identity"),
                ({"identity": "me", "task_queue": "q", "activity_types": ["a"] * 20_000}, "activity_types"),
            ):
                _error(http.post("/workers", json=body), 400, named)
            _error(httpx.post(server.url + "/api/v1/namespaces", json={"name": "n", "description": "d" * 20_000}), 400)
            start = {"workflow_id": "r", "workflow_type": "wf", "task_queue": "q"}
            _error(http.post("/workflows", json={**start, "request_id": "r" * 2000}), 400, "request_id")
            _error(http.post("/workflows/cancel", json={"workflow_id": "r", "identity": "i" * 2000}), 400)
            # The activity still completes with a result of the allowed size.
            r = http.post("/activity-tasks/complete", json={"task_token": activity, "result": "ok"})
            assert r.status_code == 200, r.text

        # Huge bodies are refused as soon as they pass the limit, declared or streamed, four at once,
        # without the server holding them in memory.
        rss_before = psutil.Process(server.proc.pid).memory_info().rss  # type: ignore[union-attr]

        async def huge(client: httpx.AsyncClient, declared: bool) -> httpx.Response:
            chunk = b"x" * (1024 * 1024)

            async def body() -> Any:
                for _ in range(100):
                    yield chunk

            if declared:
                return await client.post(f"{NS}/workflows", content=chunk * 100, headers=_JSON)
            return await client.post(f"{NS}/workflows", content=body(), headers=_JSON)

        async def four() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                return await asyncio.gather(*(huge(client, declared=i % 2 == 0) for i in range(4)))

        for r in asyncio.run(four()):
            _error(r, 413, "limited to 65,536 bytes")
        rss_after = psutil.Process(server.proc.pid).memory_info().rss  # type: ignore[union-attr]
        assert rss_after - rss_before < 100 * 1024 * 1024, (rss_before, rss_after)
    finally:
        server.stop()


def test_a_bad_frame_on_a_channel_gets_a_protocol_error_and_a_clean_close(server: ServerProcess) -> None:
    for path in ("workers", "clients"):
        url = f"ws://{server.address}{NS}/{path}/connect"
        for frame, code in ((b"\x00\x01binary", 1003), ("[1, 2, 3]", 1003), ("{nope", 1007), ("[]", 1003)):
            with connect(url, max_size=None) as ws:
                ws.send(frame)
                answer = json.loads(ws.recv(timeout=10))
                assert answer["err"]["code"] == "protocol_error", answer
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == code, closed.value
        # A frame over the limit (8 MiB with the default 2 MiB payloads) is refused with "message too big".
        with connect(url, max_size=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.send("x" * (20 * 1024 * 1024))
                ws.recv(timeout=20)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value
    assert "Traceback" not in server.log()
    assert httpx.get(server.url + "/api/v1/health").status_code == 200


def test_a_start_repeated_with_its_request_id_is_the_same_run_even_after_it_closed(
    server: ServerProcess, http: httpx.Client
) -> None:
    hand = HandWorker(http, f"q-{uuid.uuid4().hex[:6]}")
    body = {"workflow_id": "once", "workflow_type": "wf", "task_queue": hand.task_queue, "request_id": "req-1"}
    first = http.post("/workflows", json=body)
    assert first.status_code == 201
    token = hand.task()["task_token"]
    assert hand.complete(token, {"type": "CompleteWorkflow", "result": 1}).status_code == 200
    again = http.post("/workflows", json=body)
    assert again.status_code == 200 and again.json()["run_id"] == first.json()["run_id"], again.text
    # Another request id starts a new run of the closed workflow id.
    new = http.post("/workflows", json={**body, "request_id": "req-2"})
    assert new.status_code == 201 and new.json()["run_id"] != first.json()["run_id"]


@activity.defn
async def echo(x: int) -> int:
    return x


@workflow.defn
async def sleeps_forever(ctx: workflow.Context) -> None:
    await asyncio.sleep(1e300)


@workflow.defn
async def bad_activity_id(ctx: workflow.Context) -> int:
    return await ctx.execute_activity(echo, 1, activity_id="two\nlines", start_to_close_timeout=timedelta(seconds=5))


@workflow.defn
async def endless_activity(ctx: workflow.Context) -> int:
    return await ctx.execute_activity(echo, 1, start_to_close_timeout=timedelta(days=365 * 200))


async def _failed_task(handle: WorkflowHandle[Any, Any]) -> Any:
    task = (await handle.describe()).pending_workflow_task
    return task if task and task.get("last_failure") else None


async def test_workflow_code_that_asks_for_what_the_server_refuses_fails_its_task_saying_why(
    client: Client, task_queue: str
) -> None:
    """The SDK checks what the server would refuse before sending it: the workflow task fails with the
    reason, recorded (so describe and the UI show it), rather than a completion turned away unseen."""
    async with running_worker(
        client, task_queue, workflows=[sleeps_forever, bad_activity_id, endless_activity], activities=[echo]
    ):
        for wf, wid, reason in (
            (sleeps_forever, "sleeps", "timer can wait at most 100 years"),
            (bad_activity_id, "bad-id", "must not contain control characters"),
            (endless_activity, "endless", "start_to_close_timeout must be more than 0 and at most 100 years"),
        ):
            handle = await client.start_workflow(wf, id=wid, task_queue=task_queue)
            task = await eventually(
                functools.partial(_failed_task, handle), timeout=20, what=f"{wid}'s workflow task to fail"
            )
            assert reason in task["last_failure"]["message"], task
