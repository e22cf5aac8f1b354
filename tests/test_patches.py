"""Versioning with patches (``ctx.patched`` / ``ctx.deprecate_patch``, Temporal's shape), against a real
server: runs that went past the change on v1 of a workflow's code, then a worker redeployed with v2 (the
change behind ``patched``) carries them all to completion, the old ones on the old path, new ones on the new;
then v3 (``deprecate_patch``) and v4 (the call removed) replay what they may, and a history the code no
longer fits is named as such.

Each version is a function registered under the same workflow name; each worker is fresh, so every run it
takes is replayed from its history first, as after a redeploy.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from inprocess import events_of, eventually, running_worker
from mainspring import Client, activity, workflow
from mainspring.errors import WorkflowQueryFailedError
from mainspring.workflow import WorkflowDefinition

NAME = "PatchedGreeting"
STC = timedelta(seconds=10)


@activity.defn
async def old_greeting(name: str) -> str:
    return f"Hello, {name}"


@activity.defn
async def new_greeting(name: str) -> str:
    return f"Bonjour, {name}"


async def _wait_go(ctx: workflow.Context) -> None:
    go: list[bool] = []
    ctx.set_signal_handler("go", lambda: go.append(True))
    await ctx.wait_condition(lambda: bool(go))


@workflow.defn(name=NAME)
async def v1(ctx: workflow.Context, name: str) -> str:
    greeting = await ctx.execute_activity(old_greeting, name, start_to_close_timeout=STC)
    await _wait_go(ctx)
    return greeting


@workflow.defn(name=NAME)
async def v2(ctx: workflow.Context, name: str) -> str:
    if ctx.patched("bonjour"):
        greeting = await ctx.execute_activity(new_greeting, name, start_to_close_timeout=STC)
    else:
        greeting = await ctx.execute_activity(old_greeting, name, start_to_close_timeout=STC)
    await _wait_go(ctx)
    return greeting


@workflow.defn(name=NAME)
async def v3(ctx: workflow.Context, name: str) -> str:
    ctx.deprecate_patch("bonjour")
    greeting = await ctx.execute_activity(new_greeting, name, start_to_close_timeout=STC)
    await _wait_go(ctx)
    return greeting


@workflow.defn(name=NAME)
async def v4(ctx: workflow.Context, name: str) -> str:
    greeting = await ctx.execute_activity(new_greeting, name, start_to_close_timeout=STC)
    await _wait_go(ctx)
    return greeting


ACTIVITIES = [old_greeting, new_greeting]


def new_id() -> str:
    return f"patch-{uuid.uuid4().hex[:10]}"


async def _started_waiting(client: Client, wid: str) -> None:
    handle = client.get_workflow_handle(wid)

    async def waiting() -> bool:
        types = [e["event_type"] for e in await handle.fetch_history()]
        return "ActivityTaskCompleted" in types and types[-1] == "WorkflowTaskCompleted"

    await eventually(waiting, timeout=30, what=f"{wid} waiting for its signal")


async def _finish(client: Client, version: WorkflowDefinition | object, task_queue: str, ids: list[str]) -> list[str]:
    async with running_worker(client, task_queue, workflows=[version], activities=ACTIVITIES):  # type: ignore[list-item]
        for wid in ids:
            await client.get_workflow_handle(wid).signal("go")
        return [await client.get_workflow_handle(wid, result_type=str).result(timeout=30) for wid in ids]


async def _markers(client: Client, wid: str) -> list[dict[str, object]]:
    return [e["attributes"] for e in await events_of(client.get_workflow_handle(wid), "MarkerRecorded")]


async def test_a_redeployed_worker_carries_old_runs_on_the_old_path_and_new_runs_on_the_new(
    client: Client, task_queue: str
) -> None:
    old = [new_id() for _ in range(3)]
    async with running_worker(client, task_queue, workflows=[v1], activities=ACTIVITIES):
        for wid in old:
            await client.start_workflow(NAME, "old", id=wid, task_queue=task_queue)
            await _started_waiting(client, wid)
    # v2 deployed: the old runs are replayed (no marker in their history), new ones start on it.
    new = [new_id() for _ in range(2)]
    async with running_worker(client, task_queue, workflows=[v2], activities=ACTIVITIES):
        for wid in new:
            await client.start_workflow(NAME, "new", id=wid, task_queue=task_queue)
            await _started_waiting(client, wid)
    assert await _finish(client, v2, task_queue, old + new) == ["Hello, old"] * 3 + ["Bonjour, new"] * 2
    for wid in old:
        assert await _markers(client, wid) == []
    for wid in new:
        assert await _markers(client, wid) == [
            {
                "marker_name": "core_patch",
                "marker_id": "bonjour",
                "details": {"patch_id": "bonjour", "deprecated": False},
                "workflow_task_completed_event_id": (await _markers(client, wid))[0][
                    "workflow_task_completed_event_id"
                ],
            }
        ]


async def test_deprecate_then_remove_the_patch(client: Client, task_queue: str) -> None:
    on_v2, on_v3 = new_id(), new_id()
    async with running_worker(client, task_queue, workflows=[v2], activities=ACTIVITIES):
        await client.start_workflow(NAME, "a", id=on_v2, task_queue=task_queue)
        await _started_waiting(client, on_v2)
    async with running_worker(client, task_queue, workflows=[v3], activities=ACTIVITIES):
        await client.start_workflow(NAME, "b", id=on_v3, task_queue=task_queue)
        await _started_waiting(client, on_v3)
    # v3 replays v2's run (its marker is there) and records a deprecated one for its own.
    assert await _finish(client, v3, task_queue, [on_v2, on_v3]) == ["Bonjour, a", "Bonjour, b"]
    assert [m["details"] for m in await _markers(client, on_v3)] == [{"patch_id": "bonjour", "deprecated": True}]

    # v4 has no call: a run with the deprecated marker replays (the marker is passed over).
    on_v3_again = new_id()
    async with running_worker(client, task_queue, workflows=[v3], activities=ACTIVITIES):
        await client.start_workflow(NAME, "c", id=on_v3_again, task_queue=task_queue)
        await _started_waiting(client, on_v3_again)
    assert await _finish(client, v4, task_queue, [on_v3_again]) == ["Bonjour, c"]


async def test_a_removed_patch_a_history_still_has_is_non_determinism_named(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[v2], activities=ACTIVITIES):
        await client.start_workflow(NAME, "x", id=wid, task_queue=task_queue)
        await _started_waiting(client, wid)
        await client.get_workflow_handle(wid).signal("go")
        assert await client.get_workflow_handle(wid, result_type=str).result(timeout=30) == "Bonjour, x"
    handle = client.get_workflow_handle(wid)
    # Replaying the finished run with v4 (as a query does on a fresh worker): the marker does not fit.
    async with running_worker(client, task_queue, workflows=[v4], activities=ACTIVITIES):
        with pytest.raises(WorkflowQueryFailedError, match=r"non-determinism.*core_patch"):
            await handle.query("nothing", result_type=str)


@workflow.defn
async def bad_patch_ids(ctx: workflow.Context) -> list[str]:
    said = []
    for bad in ("", "x" * 1001, "tab\there", 7):
        try:
            ctx.patched(bad)  # type: ignore[arg-type]
        except (TypeError, ValueError) as e:
            said.append(type(e).__name__)
    return said


async def test_patch_ids_are_checked_at_the_call(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[bad_patch_ids]):
        said = await client.execute_workflow(bad_patch_ids, id=new_id(), task_queue=task_queue)
    assert said == ["ValueError", "ValueError", "ValueError", "TypeError"]
