"""Local activities against a real server: run in the workflow's worker within the workflow task, their
outcome recorded as a MarkerRecorded event, retried with backoff by the worker, failures reaching the
workflow as ActivityError, never run again on replay, and kept alive past the workflow task timeout.

The workers run in the test's event loop (``running_worker``); side effects that must survive a worker
are counted in a file under the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inprocess import events_of, history_types, running_worker
from mainspring import (
    ActivityError,
    ApplicationError,
    Client,
    RetryPolicy,
    Worker,
    WorkflowStatus,
    activity,
    workflow,
)
from mainspring.client import WorkflowHandle
from mainspring.workflow import WorkflowInfo, get_definition
from mainspring.workflow._instance import WorkflowInstance
from support import ServerProcess

STC = timedelta(seconds=10)


def new_id() -> str:
    return f"la-{uuid.uuid4().hex[:10]}"


# ================================================================================================
# Activities
# ================================================================================================

ATTEMPTS: dict[str, list[tuple[int, float]]] = {}


@activity.defn
async def double(n: int) -> int:
    return n * 2


@activity.defn
def shout(text: str) -> str:
    """A plain ``def``: run in a thread, as an activity task's would be."""
    return text.upper() + "!"


@dataclass
class Flaky:
    key: str
    fail_attempts: int
    non_retryable: bool = False


@activity.defn
async def flaky(f: Flaky) -> str:
    n = activity.info().attempt
    ATTEMPTS.setdefault(f.key, []).append((n, time.monotonic()))
    if n <= f.fail_attempts:
        raise ApplicationError(f"attempt {n} failed", {"attempt": n}, type="Flaky", non_retryable=f.non_retryable)
    return f"done on attempt {n}"


@dataclass
class Effect:
    path: str
    seconds: float = 0.0


@activity.defn
def side_effect(e: Effect) -> int:
    """Appends a line to a file (what a replay must not do again); its result is the line count."""
    time.sleep(e.seconds)
    with open(e.path, "a") as f:
        f.write("ran\n")
    return len(Path(e.path).read_text().splitlines())


# ================================================================================================
# Workflows
# ================================================================================================


@workflow.defn
async def three_locals(ctx: workflow.Context, n: int) -> list[Any]:
    a = await ctx.execute_local_activity(double, n, start_to_close_timeout=STC)
    b = await ctx.execute_local_activity(shout, f"got {a}", start_to_close_timeout=STC)
    c = await ctx.execute_local_activity("double", a, result_type=int, schedule_to_close_timeout=STC)
    return [a, b, c]


@workflow.defn
async def flaky_local(ctx: workflow.Context, f: Flaky) -> dict[str, Any]:
    policy = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=5)
    try:
        result = await ctx.execute_local_activity(flaky, f, start_to_close_timeout=STC, retry_policy=policy)
    except ActivityError as e:
        cause = e.cause
        assert isinstance(cause, ApplicationError)
        return {
            "error": e.message,
            "attempt": e.attempt,
            "retry_state": e.retry_state,
            "cause_type": cause.type,
            "details": list(cause.details),
        }
    return {"result": result}


@workflow.defn
class LocalThenSignal:
    """A local activity with a side effect, then a wait for a signal (so a fresh worker replays it)."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, ctx: workflow.Context, path: str) -> list[int]:
        first = await ctx.execute_local_activity(side_effect, Effect(path), start_to_close_timeout=STC)
        await ctx.wait_condition(lambda: self.go)
        second = await ctx.execute_local_activity(side_effect, Effect(path), start_to_close_timeout=STC)
        return [first, second]


@workflow.defn
async def mixed(ctx: workflow.Context, n: int) -> list[int]:
    """Activities and local activities in turn: a worker that runs the workflow on an activity's result
    (a continuation) hands over to a workflow task when the code then asks for a local activity."""
    a = await ctx.execute_activity(double, n, start_to_close_timeout=STC)
    b = await ctx.execute_local_activity(double, a, start_to_close_timeout=STC)
    c = await ctx.execute_activity(double, b, start_to_close_timeout=STC)
    d, e = await asyncio.gather(
        ctx.execute_local_activity(double, c, start_to_close_timeout=STC),
        ctx.execute_local_activity(double, c + 1, start_to_close_timeout=STC),
    )
    return [a, b, c, d, e]


@workflow.defn
async def slow_local(ctx: workflow.Context, e: Effect) -> int:
    return await ctx.execute_local_activity(side_effect, e, start_to_close_timeout=timedelta(seconds=30))


# ================================================================================================
# Tests
# ================================================================================================


async def replays_cleanly(handle: WorkflowHandle[Any, Any], wf: Any) -> list[dict[str, Any]]:
    """Replay the closed run's whole history with a fresh instance (as a worker replays an evicted run):
    it must match command for command (markers resolved at the points the live run resolved them) without
    running anything, and reach the end of the code. Returns the history."""
    history = await handle.fetch_history()
    desc = await handle.describe()
    info = WorkflowInfo(
        "default",
        handle.workflow_id,
        desc.run_id,
        desc.workflow_type,
        desc.task_queue,
        datetime.fromisoformat(history[0]["event_time"]),
    )
    inst = WorkflowInstance(get_definition(wf), info)  # type: ignore[abstract]
    try:
        assert inst.activate(history) == []  # every command the code issued is in history
        assert inst.finished and not inst.local_activities
    finally:
        inst.dispose()
    return history


async def test_local_activity_results_are_markers(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[three_locals], activities=[double, shout]):
        handle = await client.start_workflow(three_locals, 21, id=new_id(), task_queue=task_queue)
        assert await handle.result(timeout=60) == [42, "GOT 42!", 84]
    await replays_cleanly(handle, three_locals)
    types = await history_types(handle)
    assert types.count("MarkerRecorded") == 3
    assert "ActivityTaskScheduled" not in types
    # No round trip through the server: the three ran within the first workflow task.
    assert types.count("WorkflowTaskCompleted") == 1
    markers = await events_of(handle, "MarkerRecorded")
    assert [m["attributes"]["marker_name"] for m in markers] == ["LocalActivity"] * 3
    assert [m["attributes"]["details"]["result"] for m in markers] == [42, "GOT 42!", 84]
    assert [m["attributes"]["details"]["activity_type"] for m in markers] == ["double", "shout", "double"]


async def test_local_activities_between_activities_and_at_once(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[mixed], activities=[double]):
        handle = await client.start_workflow(mixed, 1, id=new_id(), task_queue=task_queue)
        assert await handle.result(timeout=60) == [2, 4, 8, 16, 18]
    history = await replays_cleanly(handle, mixed)
    types = [e["event_type"] for e in history]
    assert types.count("MarkerRecorded") == 3 and types.count("ActivityTaskCompleted") == 2
    # The two run at once are recorded together, in the order they were asked for.
    markers = [e for e in history if e["event_type"] == "MarkerRecorded"]
    assert (
        markers[1]["attributes"]["workflow_task_completed_event_id"]
        == markers[2]["attributes"]["workflow_task_completed_event_id"]
    )
    assert [m["attributes"]["details"]["result"] for m in markers[1:]] == [16, 18]


async def test_local_activity_is_retried_with_backoff_then_succeeds(client: Client, task_queue: str) -> None:
    key = new_id()
    async with running_worker(client, task_queue, workflows=[flaky_local], activities=[flaky]):
        handle = await client.start_workflow(flaky_local, Flaky(key, fail_attempts=2), id=key, task_queue=task_queue)
        assert await handle.result(timeout=60) == {"result": "done on attempt 3"}
    await replays_cleanly(handle, flaky_local)
    attempts = ATTEMPTS[key]
    assert [n for n, _ in attempts] == [1, 2, 3]
    # 50 ms, then 100 ms (coefficient 2): at least that much apart.
    assert attempts[1][1] - attempts[0][1] >= 0.05
    assert attempts[2][1] - attempts[1][1] >= 0.1
    markers = await events_of(handle, "MarkerRecorded")
    assert len(markers) == 1 and markers[0]["attributes"]["details"]["attempt"] == 3


async def test_local_activity_failure_reaches_the_workflow_as_activity_error(client: Client, task_queue: str) -> None:
    key = new_id()
    async with running_worker(client, task_queue, workflows=[flaky_local], activities=[flaky]):
        f = Flaky(key, fail_attempts=9, non_retryable=True)
        handle = await client.start_workflow(flaky_local, f, id=key, task_queue=task_queue)
        out = await handle.result(timeout=60)
    assert out["retry_state"] == "NON_RETRYABLE_FAILURE"
    assert out["attempt"] == 1 and out["cause_type"] == "Flaky" and out["details"] == [{"attempt": 1}]
    assert "local activity 'flaky'" in out["error"] and "attempt 1 failed" in out["error"]
    assert len(ATTEMPTS[key]) == 1
    # Retried until the policy gives up (5 attempts).
    key2 = new_id()
    async with running_worker(client, task_queue, workflows=[flaky_local], activities=[flaky]):
        handle = await client.start_workflow(flaky_local, Flaky(key2, fail_attempts=9), id=key2, task_queue=task_queue)
        out = await handle.result(timeout=60)
    assert out["retry_state"] == "MAXIMUM_ATTEMPTS_REACHED" and out["attempt"] == 5
    assert len(ATTEMPTS[key2]) == 5


async def test_replay_uses_the_marker_and_does_not_run_the_local_activity_again(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    path = str(tmp_path / "effects.txt")
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[LocalThenSignal], activities=[side_effect]):
        handle = await client.start_workflow(LocalThenSignal.run, path, id=wid, task_queue=task_queue)
        for _ in range(200):
            if await events_of(handle, "MarkerRecorded"):
                break
            await asyncio.sleep(0.05)
    assert Path(path).read_text().splitlines() == ["ran"]
    # A fresh worker (nothing cached): the signal's task replays the history from the start.
    async with running_worker(client, task_queue, workflows=[LocalThenSignal], activities=[side_effect]):
        await handle.signal(LocalThenSignal.proceed)
        assert await handle.result(timeout=60) == [1, 2]
    await replays_cleanly(handle, LocalThenSignal)
    assert Path(path).read_text().splitlines() == ["ran", "ran"]  # the first one did not run again
    assert (await history_types(handle)).count("MarkerRecorded") == 2


async def test_local_activity_longer_than_the_workflow_task_timeout(tmp_path: Path, task_queue: str) -> None:
    srv = ServerProcess(tmp_path / "short-wt.db", extra_args=["--workflow-task-timeout", "1.5"]).start()
    try:
        client = await Client.connect(srv.address)
        try:
            path = str(tmp_path / "slow.txt")
            async with running_worker(client, task_queue, workflows=[slow_local], activities=[side_effect]):
                handle = await client.start_workflow(
                    slow_local, Effect(path, seconds=4.0), id=new_id(), task_queue=task_queue
                )
                assert await handle.result(timeout=60) == 1
            # Its marker is in a later task than the one that asked for it: replay finds it there.
            await replays_cleanly(handle, slow_local)
            types = await history_types(handle)
            desc = await handle.describe()
        finally:
            await client.close()
    finally:
        srv.stop()
    assert desc.status is WorkflowStatus.COMPLETED
    assert Path(path).read_text().splitlines() == ["ran"]  # ran once, though it outlived two task timeouts
    assert "WorkflowTaskTimedOut" not in types and "WorkflowTaskFailed" not in types
    # The worker completed tasks while it ran (its heartbeat), and recorded the marker in a later one.
    assert types.count("WorkflowTaskCompleted") >= 3
    assert types.index("MarkerRecorded") > types.index("WorkflowTaskCompleted")


@pytest.mark.parametrize("bad", [{}, {"start_to_close_timeout": 5}])
async def test_bad_local_activity_options_fail_the_task_with_a_message(bad: dict[str, Any]) -> None:
    from mainspring.options import _local_activity_options

    with pytest.raises((TypeError, ValueError)) as info:
        _local_activity_options(bad, message_prefix="local activity 'x': ")
    assert "local activity 'x'" in str(info.value) or "execute_local_activity" in str(info.value)


def test_markers_from_a_hand_written_completion_are_checked(server: ServerProcess) -> None:
    """A client writing its own completion: markers are refused when duplicated, oversized or misnamed (400,
    a message naming the field), and a good one becomes MarkerRecorded with its details."""
    import httpx

    with httpx.Client(base_url=server.url + "/api/v1/namespaces/default", timeout=30) as http:
        tq = f"q-{uuid.uuid4().hex[:6]}"
        r = http.post("/workers", json={"identity": "hand", "task_queue": tq, "activity_types": ["act"]})
        assert r.status_code == 201, r.text
        session = r.json()["session_id"]
        assert (
            http.post("/workflows", json={"workflow_id": "m", "workflow_type": "wf", "task_queue": tq}).status_code
            == 201
        )
        task = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        assert task["task_timeout"] == 10

        def poll() -> dict[str, Any]:
            r = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 10})
            assert r.status_code == 200, r.text
            t: dict[str, Any] = r.json()
            return t

        def complete(task: dict[str, Any], *commands: dict[str, Any], **extra: Any) -> httpx.Response:
            body = {"task_token": task["task_token"], "commands": list(commands), **extra}
            return http.post("/workflow-tasks/complete", json=body)

        def marker(marker_id: str = "1", **fields: Any) -> dict[str, Any]:
            return {"type": "RecordMarker", "marker_name": "LocalActivity", "marker_id": marker_id, **fields}

        # Refused by the model: the task stays out.
        r = complete(task, marker(marker_name=""))
        assert r.status_code == 400 and "marker_name" in r.json()["message"], r.text
        # Refused by the check: the attempt fails (BAD_COMMAND), and the next one is handed out.
        r = complete(task, marker(details={"result": 1}), marker(details={"result": 2}))
        assert r.status_code == 400 and "recorded twice" in r.json()["message"], r.text
        task = poll()
        r = complete(task, marker(details={"result": "x" * (3 * 1024 * 1024)}))
        assert r.status_code in (400, 413) and "marker" in r.json()["message"], r.text[:300]
        task = poll()
        # A good one, and a new task at once though nothing happened (force_new_task).
        r = complete(task, marker(details={"activity_type": "a", "attempt": 1, "result": 3}), force_new_task=True)
        assert r.status_code == 200, r.text
        events = http.get("/workflows/history", params={"workflow_id": "m"}).json()["events"]
        types = [e["event_type"] for e in events]
        assert types[-3:] == ["WorkflowTaskCompleted", "MarkerRecorded", "WorkflowTaskScheduled"], types
        assert events[-2]["attributes"]["details"] == {"activity_type": "a", "attempt": 1, "result": 3}
        assert poll()["task_token"] != task["task_token"]


_running = {"now": 0, "most": 0}


@activity.defn
async def counted_nap(seconds: float) -> int:
    _running["now"] += 1
    _running["most"] = max(_running["most"], _running["now"])
    try:
        await asyncio.sleep(seconds)
    finally:
        _running["now"] -= 1
    return 1


@workflow.defn
async def many_local_at_once(ctx: workflow.Context, n: int) -> int:
    calls = [ctx.execute_local_activity(counted_nap, 0.05, start_to_close_timeout=STC) for _ in range(n)]
    return sum(await asyncio.gather(*calls))


async def test_max_concurrent_local_activities_bounds_the_attempts_running_at_once(
    client: Client, task_queue: str
) -> None:
    _running.update(now=0, most=0)
    async with running_worker(
        client,
        task_queue,
        workflows=[many_local_at_once],
        activities=[counted_nap],
        max_concurrent_local_activities=2,
    ):
        assert await client.execute_workflow(many_local_at_once, 6, id=new_id(), task_queue=task_queue) == 6
    assert _running["most"] == 2
    with pytest.raises(ValueError, match="max_concurrent_local_activities"):
        Worker(client, task_queue=task_queue, activities=[counted_nap], max_concurrent_local_activities=0)
