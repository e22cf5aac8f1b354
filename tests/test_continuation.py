"""The one-round-trip step: a worker that holds a workflow runs it on an activity's result at once.

When the continuation is accepted, the activity's completion and the workflow task it caused are one
commit, and the history is exactly what the slower path writes: a worker that replays it from scratch
(no cache) reaches the same decisions and the same ``ctx.now()`` values. When the history moved on
meanwhile (here: a timer fired while the activity ran), the continuation is refused, the result is
recorded as usual, the worker drops its cached copy, and the workflow still ends right.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from inprocess import history_types, running_worker
from mainspring import Client, activity, workflow
from mainspring.workflow import WorkflowInfo, get_definition
from mainspring.workflow._instance import WorkflowInstance
from support import ServerProcess

START_TO_CLOSE = timedelta(seconds=5)


def new_id() -> str:
    return f"cont-{uuid.uuid4().hex[:10]}"


@activity.defn
async def add_one(value: int) -> int:
    return value + 1


@activity.defn
async def slow_add_one(value: int) -> int:
    await asyncio.sleep(0.4)
    return value + 1


@workflow.defn
async def counting(ctx: workflow.Context, steps: int) -> tuple[int, list[str]]:
    value = 0
    times: list[str] = []
    for _ in range(steps):
        value = await ctx.execute_activity(add_one, value, start_to_close_timeout=START_TO_CLOSE)
        times.append(ctx.now().isoformat())
    return value, times


@workflow.defn
async def racing(ctx: workflow.Context, start: int) -> list[int]:
    # The timer fires while the slow activity runs, so the activity's continuation finds a history
    # that moved on and is refused; the workflow must still see both, in history order.
    seen: list[int] = []

    async def timer() -> None:
        await ctx.sleep(0.05)
        seen.append(-1)

    async def work() -> None:
        seen.append(await ctx.execute_activity(slow_add_one, start, start_to_close_timeout=START_TO_CLOSE))

    await asyncio.gather(timer(), work())
    seen.append(await ctx.execute_activity(add_one, seen[-1], start_to_close_timeout=START_TO_CLOSE))
    return seen


async def test_continued_steps_write_the_usual_history_and_replay_the_same(client: Client, task_queue: str) -> None:
    steps = 12
    async with running_worker(client, task_queue, workflows=[counting], activities=[add_one]):
        handle = await client.start_workflow(counting, steps, id=new_id(), task_queue=task_queue)
        value, times = await handle.result()
    assert value == steps
    types = await history_types(handle)
    # Every step has the full set of events, in the usual order.
    one_step = [
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
    ]
    body = types[4:-1]  # after the first workflow task, before WorkflowExecutionCompleted
    assert body == one_step * steps, types
    assert types[-1] == "WorkflowExecutionCompleted"
    # The time each step saw is the recorded WorkflowTaskStarted time, and times never go back.
    started = [e for e in await handle.fetch_history() if e["event_type"] == "WorkflowTaskStarted"][1:]
    assert [datetime.fromisoformat(e["event_time"]).isoformat() for e in started] == times
    assert times == sorted(times)

    # Replaying the recorded history from scratch reaches the same decisions and the same times.
    history = await handle.fetch_history()
    info = WorkflowInfo(
        "default",
        handle.workflow_id,
        history[0]["attributes"]["run_id"],
        "counting",
        task_queue,
        datetime.fromisoformat(history[0]["event_time"]),
    )
    replay = WorkflowInstance(get_definition(counting), info)  # type: ignore[abstract]
    assert replay.activate(history) == []  # nothing left to do: every command matched its event
    assert replay.finished

    # A worker with no cache (every task a full replay, so no continuations) writes the same history.
    async with running_worker(
        client, f"{task_queue}-replay", workflows=[counting], activities=[add_one], max_cached_workflows=0
    ):
        again = await client.start_workflow(counting, steps, id=new_id(), task_queue=f"{task_queue}-replay")
        assert (await again.result())[0] == steps
    assert await history_types(again) == types


async def test_a_refused_continuation_falls_back_and_the_workflow_ends_right(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[racing], activities=[add_one, slow_add_one]):
        handle = await client.start_workflow(racing, 10, id=new_id(), task_queue=task_queue)
        assert await handle.result() == [-1, 11, 12]
    types = await history_types(handle)
    assert types.count("TimerFired") == 1
    assert types.count("ActivityTaskCompleted") == 2
    assert types[-1] == "WorkflowExecutionCompleted"
    # Replaying that history from scratch gives the same answer.
    async with running_worker(
        client, task_queue, workflows=[racing], activities=[add_one, slow_add_one], max_cached_workflows=0
    ):
        again = await client.start_workflow(racing, 10, id=new_id(), task_queue=task_queue)
        assert await again.result() == [-1, 11, 12]


async def test_many_concurrent_workflows_on_one_worker(client: Client, task_queue: str) -> None:
    """Continuations, eager activities and ordinary tasks interleave on one worker without mixing up runs."""
    async with running_worker(client, task_queue, workflows=[counting], activities=[add_one]):
        handles = [await client.start_workflow(counting, 4, id=new_id(), task_queue=task_queue) for _ in range(40)]
        results = await asyncio.gather(*(h.result() for h in handles))
    assert [r[0] for r in results] == [4] * 40


# --- the protocol itself, driven by hand over HTTP (deterministic: no timing races) ------------------------

NS = "/api/v1/namespaces/default"


def _schedule(activity_id: str, value: int) -> dict[str, Any]:
    return {
        "type": "ScheduleActivity",
        "activity_id": activity_id,
        "activity_type": "add",
        "input": value,
        "start_to_close_timeout": 10,
    }


def test_step_protocol_by_hand(server: ServerProcess) -> None:
    tq = f"steps-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server.url + NS, timeout=30) as http:
        session = http.post(
            "/workers",
            json={"identity": "hand", "task_queue": tq, "workflow_types": [{"name": "w"}], "activity_types": ["add"]},
        ).json()["session_id"]
        http.post("/workflows", json={"workflow_id": "s1", "workflow_type": "w", "task_queue": tq})
        task = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        # Completing the first workflow task hands the scheduled activity straight back (eager) and
        # returns the events written, so a cached copy of the workflow stays current.
        done = http.post(
            "/workflow-tasks/complete",
            json={"task_token": task["task_token"], "commands": [_schedule("a1", 1)], "eager_activity_slots": 2},
        ).json()
        assert [e["event_type"] for e in done["events"]] == ["WorkflowTaskCompleted", "ActivityTaskScheduled"]
        assert [t["activity_id"] for t in done["activity_tasks"]] == ["a1"]
        a1 = done["activity_tasks"][0]
        last_seen = done["events"][-1]["event_id"]

        # A continuation on a stale view of the history is refused; the result is still recorded,
        # and the workflow task it causes is handed back (this session is the sticky one).
        refused = http.post(
            "/activity-tasks/complete",
            json={
                "task_token": a1["task_token"],
                "result": 2,
                "continuation": {"base_event_id": last_seen - 1, "started_time": _now(), "commands": []},
                "want_workflow_task": True,
            },
        ).json()
        assert refused["continuation"]["accepted"] is False
        assert "history changed" in refused["continuation"]["reason"]
        inline = refused["workflow_task"]
        assert inline is not None and inline["first_event_id"] == last_seen + 1
        assert [e["event_type"] for e in inline["history"]] == [
            "ActivityTaskStarted",
            "ActivityTaskCompleted",
            "WorkflowTaskScheduled",
            "WorkflowTaskStarted",
        ]
        done = http.post(
            "/workflow-tasks/complete",
            json={"task_token": inline["task_token"], "commands": [_schedule("a2", 2)], "eager_activity_slots": 1},
        ).json()
        a2 = done["activity_tasks"][0]
        last_seen = done["events"][-1]["event_id"]

        # An accepted continuation: one request records the result and the workflow task run on it.
        started = _now()
        accepted = http.post(
            "/activity-tasks/complete",
            json={
                "task_token": a2["task_token"],
                "result": 3,
                "continuation": {"base_event_id": last_seen, "started_time": started, "commands": [_schedule("a3", 3)]},
                "eager_activity_slots": 1,
            },
        ).json()
        assert accepted["continuation"]["accepted"] is True
        assert [e["event_type"] for e in accepted["continuation"]["events"]] == [
            "WorkflowTaskCompleted",
            "ActivityTaskScheduled",
        ]
        a3 = accepted["activity_tasks"][0]
        history = http.get("/workflows/history", params={"workflow_id": "s1"}).json()["events"]
        step = history[last_seen : last_seen + 6]
        assert [e["event_type"] for e in step] == [
            "ActivityTaskStarted",
            "ActivityTaskCompleted",
            "WorkflowTaskScheduled",
            "WorkflowTaskStarted",
            "WorkflowTaskCompleted",
            "ActivityTaskScheduled",
        ]
        assert step[1]["attributes"]["result"] == 3
        # The workflow code saw the time it proposed; that is what was recorded.
        assert datetime.fromisoformat(step[3]["event_time"]) == datetime.fromisoformat(started)
        last_seen = accepted["continuation"]["events"][-1]["event_id"]

        # Bad commands in a continuation are refused (the usual workflow task then fails with them). An
        # empty activity id would not do: the request model refuses it, and the whole request with it.
        untimed = {**_schedule("a4", 1), "start_to_close_timeout": None}
        bad = http.post(
            "/activity-tasks/complete",
            json={
                "task_token": a3["task_token"],
                "result": 4,
                "continuation": {"base_event_id": last_seen, "started_time": _now(), "commands": [untimed]},
            },
        ).json()
        assert bad["continuation"]["accepted"] is False and "timeout" in bad["continuation"]["reason"]
        d = http.get("/workflows/describe", params={"workflow_id": "s1"}).json()
        assert d["pending_workflow_task"] is not None and d["pending_activities"] == []


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
