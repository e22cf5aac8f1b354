"""Cancelling and terminating workflows, against a real server: what the workflow code sees, what its
activities and timers see, what history records, and the errors for runs that are not running.

Tests that matter for replay run twice: with the sticky cache, and with ``max_cached_workflows=0``,
which rebuilds the workflow from its whole history on every workflow task.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from inprocess import events_of, eventually, history_types, running_worker
from mainspring import (
    Client,
    InvalidArgumentError,
    NotFoundError,
    WorkflowFailureError,
    WorkflowStatus,
    activity,
    workflow,
)
from support import ServerProcess, run_cli

CACHE_SIZES = pytest.mark.parametrize("cache", [1000, 0], ids=["cached", "replaying"])

#: What the activities below saw, by workflow id (the worker runs in the test's own process).
SEEN: dict[str, list[str]] = {}


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


# ================================================================================================
# Workflows and activities
# ================================================================================================


@workflow.defn
async def waits_an_hour(ctx: workflow.Context) -> str:
    await ctx.sleep(timedelta(hours=1))
    return "woke"


@activity.defn
async def long_async(key: str) -> str:
    SEEN.setdefault(key, []).append("started")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        SEEN[key].append("cancelled")
        raise
    return "finished"


@activity.defn
async def cleanup(key: str) -> str:
    SEEN.setdefault(key, []).append("cleanup")
    return "cleaned"


@workflow.defn
async def cleans_up(ctx: workflow.Context, key: str) -> str:
    """Waits on an activity; when cancelled, runs a clean-up activity and completes with its result."""
    try:
        await ctx.execute_activity(long_async, key, start_to_close_timeout=timedelta(hours=1))
    except asyncio.CancelledError:
        assert ctx.cancel_requested
        return await ctx.execute_activity(cleanup, key, start_to_close_timeout=timedelta(seconds=10))
    return "not cancelled"


@workflow.defn
async def activity_elsewhere(ctx: workflow.Context, key: str) -> str:
    """Waits on an activity of a task queue no worker polls: it never starts."""
    return await ctx.execute_activity(
        long_async, key, task_queue="nobody-polls-this", start_to_close_timeout=timedelta(hours=1)
    )


@activity.defn
def long_sync(key: str) -> str:
    """A plain function in a thread: it cannot be interrupted, so it watches is_cancelled()."""
    SEEN.setdefault(key, []).append("started")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if activity.is_cancelled():
            SEEN[key].append(f"saw cancellation in {threading.current_thread().name}")
            from mainspring import CancelledError

            raise CancelledError("stopped on request")
        time.sleep(0.02)
    return "finished"


@workflow.defn
async def runs_sync_activity(ctx: workflow.Context, key: str) -> str:
    return await ctx.execute_activity(long_sync, key, start_to_close_timeout=timedelta(minutes=1))


@workflow.defn
async def gives_up_waiting(ctx: workflow.Context, key: str) -> str:
    """Stops waiting for its activity after a (durable) timeout: the activity is cancelled, not abandoned."""
    try:
        await asyncio.wait_for(
            ctx.execute_activity(long_async, key, start_to_close_timeout=timedelta(hours=1)), timeout=0.5
        )
    except TimeoutError:
        return "gave up"
    return "finished"


async def _nested_wait(ctx: workflow.Context) -> None:
    await ctx.sleep(timedelta(hours=1))


@workflow.defn
async def waits_in_a_helper(ctx: workflow.Context) -> str:
    await _nested_wait(ctx)
    return "woke"


async def _status(client: Client, wid: str) -> WorkflowStatus | None:
    return (await client.get_workflow_handle(wid).describe()).status


async def _until_waiting(client: Client, wid: str, event_type: str) -> None:
    """Until the run's history shows it waits (its timer or activity was recorded)."""

    async def probe() -> bool:
        return event_type in await history_types(client.get_workflow_handle(wid))

    await eventually(probe, what=f"{event_type} in {wid}'s history")


# ================================================================================================
# Cancel
# ================================================================================================


@CACHE_SIZES
async def test_cancel_a_workflow_waiting_on_a_timer(client: Client, task_queue: str, cache: int) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[waits_an_hour], max_cached_workflows=cache):
        handle = await client.start_workflow(waits_an_hour, id=wid, task_queue=task_queue)
        await _until_waiting(client, wid, "TimerStarted")
        assert await handle.cancel(reason="no longer needed") is True
        assert await handle.cancel(reason="twice") is False  # already requested: nothing new recorded
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=15)
    assert info.value.status == "CANCELED"
    assert "no longer needed" in str(info.value)
    types = await history_types(handle)
    assert types.count("WorkflowExecutionCancelRequested") == 1
    assert types.index("WorkflowExecutionCancelRequested") < types.index("TimerCanceled")
    assert types[-1] == "WorkflowExecutionCanceled"
    requested = (await events_of(handle, "WorkflowExecutionCancelRequested"))[0]
    assert requested["attributes"]["reason"] == "no longer needed"
    d = await handle.describe()
    assert d.status is WorkflowStatus.CANCELED
    assert d.raw["failure"]["kind"] == "cancelled"
    assert d.raw["cancel_requested"]["reason"] == "no longer needed"
    assert d.raw["pending_timers"] == []


@CACHE_SIZES
async def test_cancel_interrupts_a_running_activity_and_lets_the_workflow_clean_up(
    client: Client, task_queue: str, cache: int
) -> None:
    wid = new_id()
    async with running_worker(
        client, task_queue, workflows=[cleans_up], activities=[long_async, cleanup], max_cached_workflows=cache
    ):
        handle = await client.start_workflow(cleans_up, wid, id=wid, task_queue=task_queue)
        await eventually(lambda: _async(SEEN.get(wid)), what="the activity to start")
        await handle.cancel(reason="user asked")
        result = await handle.result(timeout=15)
        # The activity was interrupted where it waited (the worker was told over its channel).
        await eventually(lambda: _async("cancelled" in SEEN[wid]), what="the activity to see its cancellation")
    assert result == "cleaned"  # the workflow caught the cancellation and completed after cleaning up
    assert SEEN[wid] == ["started", "cancelled", "cleanup"]
    types = await history_types(handle)
    assert types.index("WorkflowExecutionCancelRequested") < types.index("ActivityTaskCancelRequested")
    assert types.index("ActivityTaskCancelRequested") < types.index("ActivityTaskCanceled")
    assert types[-1] == "WorkflowExecutionCompleted"
    assert (await handle.describe()).status is WorkflowStatus.COMPLETED
    canceled = (await events_of(handle, "ActivityTaskCanceled"))[0]["attributes"]
    requested = (await events_of(handle, "ActivityTaskCancelRequested"))[0]["attributes"]
    assert canceled["scheduled_event_id"] == requested["scheduled_event_id"]
    assert canceled["started_event_id"] > 0  # it had started: the attempt is recorded


@CACHE_SIZES
async def test_a_workflow_that_stops_waiting_cancels_its_activity(client: Client, task_queue: str, cache: int) -> None:
    wid = new_id()
    async with running_worker(
        client, task_queue, workflows=[gives_up_waiting], activities=[long_async], max_cached_workflows=cache
    ):
        result = await client.execute_workflow(gives_up_waiting, wid, id=wid, task_queue=task_queue)
        await eventually(lambda: _async("cancelled" in SEEN[wid]), what="the activity to be cancelled")
    assert result == "gave up"
    handle = client.get_workflow_handle(wid)
    types = await history_types(handle)
    assert "WorkflowExecutionCancelRequested" not in types  # nobody cancelled the workflow itself
    assert types.index("TimerFired") < types.index("ActivityTaskCancelRequested")
    assert types[-1] == "WorkflowExecutionCompleted"
    assert (await handle.describe()).raw["pending_activities"] == []


async def test_cancel_an_activity_that_never_started(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[activity_elsewhere]):
        handle = await client.start_workflow(activity_elsewhere, wid, id=wid, task_queue=task_queue)
        await _until_waiting(client, wid, "ActivityTaskScheduled")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=15)
    assert info.value.status == "CANCELED"
    types = await history_types(handle)
    # The cancellation of the activity and the end of the run came in the same workflow task: the run
    # closed, and the activity that never started is dropped with it (as in Temporal).
    assert types[-2:] == ["ActivityTaskCancelRequested", "WorkflowExecutionCanceled"], types
    assert wid not in SEEN
    assert (await handle.describe()).raw["pending_activities"] == []


async def test_cancel_reaches_a_plain_function_activity_through_is_cancelled(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[runs_sync_activity], activities=[long_sync]):
        handle = await client.start_workflow(runs_sync_activity, wid, id=wid, task_queue=task_queue)
        await eventually(lambda: _async(SEEN.get(wid)), what="the activity to start")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=15)
        await eventually(lambda: _async(len(SEEN[wid]) == 2), what="the thread to see its cancellation")
    assert info.value.status == "CANCELED"
    assert SEEN[wid][1].startswith("saw cancellation in mainspring-activity-")


async def test_cancel_before_the_first_workflow_task(client: Client, task_queue: str) -> None:
    """No worker yet: the request waits in history, and the code sees it as soon as it runs."""
    wid = new_id()
    handle = await client.start_workflow(waits_an_hour, id=wid, task_queue=task_queue)
    await handle.cancel(reason="changed my mind")
    async with running_worker(client, task_queue, workflows=[waits_an_hour]):
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=15)
    assert info.value.status == "CANCELED"
    assert "TimerStarted" not in await history_types(handle)


async def test_a_cancellation_request_survives_a_server_crash(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    """Acknowledged means committed: the request outlives a SIGKILL of the server."""
    wid = new_id()
    handle = await client.start_workflow(waits_an_hour, id=wid, task_queue=task_queue)
    await handle.cancel(reason="before the crash")
    server.kill()
    server.start()
    await asyncio.sleep(0.2)  # let the client see its old connections close
    async with running_worker(client, task_queue, workflows=[waits_an_hour]):
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=15)
    assert info.value.status == "CANCELED"
    assert "before the crash" in str(info.value)


# ================================================================================================
# Terminate
# ================================================================================================


async def test_terminate_ends_a_run_at_once(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[cleans_up], activities=[long_async, cleanup]):
        handle = await client.start_workflow(cleans_up, wid, id=wid, task_queue=task_queue)
        await eventually(lambda: _async(SEEN.get(wid)), what="the activity to start")
        await handle.terminate(reason="stuck")
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=5)
        # Its running activity is told to stop, too: nobody waits for its result any more.
        await eventually(lambda: _async("cancelled" in SEEN[wid]), what="the activity to be stopped")
    assert info.value.status == "TERMINATED"
    assert "stuck" in str(info.value)
    types = await history_types(handle)
    assert types[-1] == "WorkflowExecutionTerminated"
    assert "cleanup" not in SEEN[wid]  # no more workflow code ran
    d = await handle.describe()
    assert d.status is WorkflowStatus.TERMINATED
    assert d.raw["failure"]["kind"] == "terminated"
    assert d.raw["pending_activities"] == []


async def test_cancel_and_terminate_refuse_runs_that_are_not_running(client: Client, task_queue: str) -> None:
    wid = new_id()
    handle = await client.start_workflow(waits_an_hour, id=wid, task_queue=task_queue)
    await handle.terminate()
    with pytest.raises(InvalidArgumentError, match="not running: it is TERMINATED"):
        await handle.terminate()
    with pytest.raises(InvalidArgumentError, match="not running"):
        await handle.cancel()
    with pytest.raises(NotFoundError):
        await client.get_workflow_handle("no-such-workflow").cancel()
    types = await history_types(handle)
    assert types.count("WorkflowExecutionTerminated") == 1  # the refusals recorded nothing


# ================================================================================================
# Where it waits
# ================================================================================================


async def test_stack_shows_where_each_coroutine_waits(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[waits_in_a_helper]):
        handle = await client.start_workflow(waits_in_a_helper, id=wid, task_queue=task_queue)
        await _until_waiting(client, wid, "TimerStarted")
        stack = await handle.stack()
        await handle.terminate()
    assert stack["worker"], stack
    main = stack["coroutines"][0]
    functions = [f["function"] for f in main["frames"]]
    assert functions[:2] == ["waits_in_a_helper", "_nested_wait"], functions
    assert main["frames"][1]["code"] == "await ctx.sleep(timedelta(hours=1))"
    assert main["frames"][1]["file"].endswith("test_cancel.py")
    after = await handle.stack()
    assert after["coroutines"] == [] and "TERMINATED" in after["message"]


async def test_stack_without_a_worker_says_why(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(waits_an_hour, id=new_id(), task_queue=task_queue)
    stack = await handle.stack()
    assert stack["coroutines"] == []
    assert "no worker holds this workflow" in stack["message"]
    await handle.terminate()


# ================================================================================================
# The CLI
# ================================================================================================


def test_cli_cancel_and_terminate(server: ServerProcess) -> None:
    addr = server.address
    for wid in ("cli-cancel", "cli-term"):
        r = run_cli(
            "workflow", "start", "--task-queue", "q", "--type", "waits_an_hour", "--workflow-id", wid, address=addr
        )
        assert r.returncode == 0, r.stderr
    r = run_cli("workflow", "cancel", "--workflow-id", "cli-cancel", "--reason", "from the CLI", address=addr)
    assert r.returncode == 0, r.stderr
    assert "Cancellation requested" in r.stdout
    r = run_cli("workflow", "terminate", "-w", "cli-term", "--reason", "done", "-o", "json", address=addr)
    assert r.returncode == 0, r.stderr
    assert '"terminated": true' in r.stdout
    r = run_cli("workflow", "terminate", "-w", "cli-term", address=addr)
    assert r.returncode != 0
    assert "not running" in r.stderr and "TERMINATED" in r.stderr
    r = run_cli("workflow", "describe", "-w", "cli-cancel", address=addr)
    assert "Status      RUNNING" in r.stdout  # no worker has run it yet: the request waits in its history
    assert re.search(r"Cancel +requested .* by api@127\.0\.0\.1: from the CLI", r.stdout), r.stdout
    r = run_cli("workflow", "show", "-w", "cli-cancel", address=addr)
    assert "WorkflowExecutionCancelRequested" in r.stdout and "from the CLI" in r.stdout
    r = run_cli("workflow", "cancel", "-w", "nope", address=addr)
    assert r.returncode != 0 and "not found" in r.stderr


async def _async(value: Any) -> Any:
    return value
