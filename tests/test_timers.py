"""Durable timers: ``ctx.sleep``, ``asyncio.sleep`` and ``asyncio.wait_for`` in workflow code, several
timers at once, timers in ``describe``, and timers that outlive the worker and the server process.

The engine's timer logic runs on the time-skipping environment (``mainspring_client``, an in-process server
whose clock jumps to its next timer), so the timers are hours long and take no real time; the one test of a
server process that is killed while its timer is pending runs against a real process (the ``server`` fixture).
Workflow time is the time of the current workflow task (``ctx.now()``), so "the timer waited at least
its duration" is asserted on workflow time, which the server sets, and never with an upper bound.
Tests that matter for replay run twice: with the sticky cache, and with ``max_cached_workflows=0``,
which replays the whole history on every workflow task.
"""

from __future__ import annotations

import asyncio
import builtins
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from inprocess import clock_held, events_of, eventually, history_types, running_worker
from mainspring import Client, WorkflowStatus, activity, workflow
from support import ServerProcess

#: The worker's cache size: the default (sticky, no replay) and 0 (every task replays everything).
CACHE_SIZES = pytest.mark.parametrize("cache", [1000, 0], ids=["cached", "replaying"])


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


def seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


# ================================================================================================
# Workflows and activities
# ================================================================================================


@dataclass
class Span:
    started: datetime
    ended: datetime


@workflow.defn
async def sleeper(ctx: workflow.Context, duration: float) -> Span:
    before = ctx.now()
    await ctx.sleep(timedelta(seconds=duration))
    return Span(before, ctx.now())


@workflow.defn
async def asyncio_sleeper(ctx: workflow.Context, duration: float) -> Span:
    before = ctx.now()
    await asyncio.sleep(duration)  # on the workflow's own loop, this is a durable timer too
    return Span(before, ctx.now())


@workflow.defn
async def bad_sleep(ctx: workflow.Context) -> str:
    try:
        await ctx.sleep(-1)
    except ValueError as e:
        return str(e)
    return "no error"


@activity.defn
async def slow_echo(text: str) -> str:
    await asyncio.sleep(1.0 if text.startswith("slow") else 0.0)
    return text


@dataclass
class Race:
    text: str
    timeout: float


@workflow.defn
async def race(ctx: workflow.Context, r: Race) -> str:
    coro = ctx.execute_activity(slow_echo, r.text, start_to_close_timeout=timedelta(seconds=5))
    try:
        result = await asyncio.wait_for(coro, timeout=r.timeout)
    except builtins.TimeoutError:
        # The timer fired first: the activity's future was cancelled. The workflow carries on.
        await ctx.sleep(0.05)
        return "timed out"
    await ctx.sleep(0.05)
    return f"got {result}"


@dataclass
class Woken:
    name: str
    at: datetime


@workflow.defn
async def many_timers(ctx: workflow.Context, durations: list[float]) -> list[Woken]:
    start = ctx.now()
    woken: list[Woken] = []

    async def one(i: int, d: float) -> None:
        if i % 2:
            await asyncio.sleep(d)
        else:
            await ctx.sleep(d)
        woken.append(Woken(f"t{i}", ctx.now()))

    await asyncio.gather(*(one(i, d) for i, d in enumerate(durations)))
    woken.append(Woken("start", start))
    return woken


# ================================================================================================
# Tests
# ================================================================================================


HOUR = 3600.0


@CACHE_SIZES
async def test_ctx_sleep_is_a_durable_timer(mainspring_client: Client, task_queue: str, cache: int) -> None:
    client, wid = mainspring_client, new_id()
    async with running_worker(client, task_queue, workflows=[sleeper], max_cached_workflows=cache):
        span = await client.execute_workflow(sleeper, HOUR, id=wid, task_queue=task_queue)
    assert seconds(span.started, span.ended) >= HOUR
    handle = client.get_workflow_handle(wid)
    types = await history_types(handle)
    assert types.count("TimerStarted") == 1 and types.count("TimerFired") == 1
    assert types.index("TimerStarted") < types.index("TimerFired") < types.index("WorkflowExecutionCompleted")
    started = (await events_of(handle, "TimerStarted"))[0]
    assert started["attributes"]["duration"] == pytest.approx(HOUR)
    fired = (await events_of(handle, "TimerFired"))[0]
    assert fired["attributes"]["timer_id"] == started["attributes"]["timer_id"]
    assert fired["attributes"]["started_event_id"] == started["event_id"]
    assert seconds(datetime.fromisoformat(started["event_time"]), datetime.fromisoformat(fired["event_time"])) >= HOUR


@CACHE_SIZES
async def test_asyncio_sleep_in_a_workflow_is_durable(mainspring_client: Client, task_queue: str, cache: int) -> None:
    client, wid = mainspring_client, new_id()
    async with running_worker(client, task_queue, workflows=[asyncio_sleeper], max_cached_workflows=cache):
        span = await client.execute_workflow(asyncio_sleeper, 2 * HOUR, id=wid, task_queue=task_queue)
    assert seconds(span.started, span.ended) >= 2 * HOUR
    types = await history_types(client.get_workflow_handle(wid))
    assert types.count("TimerStarted") == 1 and types.count("TimerFired") == 1


async def test_negative_sleep_is_refused(mainspring_client: Client, task_queue: str) -> None:
    async with running_worker(mainspring_client, task_queue, workflows=[bad_sleep]):
        message = await mainspring_client.execute_workflow(bad_sleep, id=new_id(), task_queue=task_queue)
    assert "zero or more" in message


@CACHE_SIZES
async def test_wait_for_that_times_out_cancels_the_wait(mainspring_client: Client, task_queue: str, cache: int) -> None:
    # The activity runs in real time (the clock does not skip while it runs), so the timeout is short.
    client, wid = mainspring_client, new_id()
    async with running_worker(
        client,
        task_queue,
        workflows=[race],
        activities=[slow_echo],
        max_cached_workflows=cache,
        graceful_shutdown_timeout=timedelta(seconds=2),
    ):
        result = await client.execute_workflow(race, Race("slow", 0.3), id=wid, task_queue=task_queue)
    assert result == "timed out"
    types = await history_types(client.get_workflow_handle(wid))
    # The wait_for timer fired (a second timer is the short sleep after it); nothing was cancelled.
    assert types.count("TimerStarted") == 2 and types.count("TimerFired") == 2
    assert "TimerCanceled" not in types
    assert "ActivityTaskCompleted" not in types  # the workflow closed before the slow activity finished


@CACHE_SIZES
async def test_wait_for_that_does_not_time_out_cancels_its_timer(
    mainspring_client: Client, task_queue: str, cache: int
) -> None:
    client, wid = mainspring_client, new_id()
    async with running_worker(client, task_queue, workflows=[race], activities=[slow_echo], max_cached_workflows=cache):
        result = await client.execute_workflow(race, Race("fast", HOUR), id=wid, task_queue=task_queue)
    assert result == "got fast"
    handle = client.get_workflow_handle(wid)
    types = await history_types(handle)
    assert types.count("TimerCanceled") == 1
    assert types.count("TimerFired") == 1  # only the short sleep's
    started = await events_of(handle, "TimerStarted")
    canceled = await events_of(handle, "TimerCanceled")
    assert canceled[0]["attributes"]["timer_id"] == started[0]["attributes"]["timer_id"]
    assert types.index("ActivityTaskCompleted") < types.index("TimerCanceled")


@CACHE_SIZES
async def test_several_timers_at_once_with_gather(mainspring_client: Client, task_queue: str, cache: int) -> None:
    client, wid = mainspring_client, new_id()
    durations = [2 * HOUR, 1.2 * HOUR, 1.6 * HOUR, 1.2 * HOUR]
    async with running_worker(client, task_queue, workflows=[many_timers], max_cached_workflows=cache):
        async with clock_held(client):  # the timers stay pending while describe is looked at
            handle = await client.start_workflow(many_timers, durations, id=wid, task_queue=task_queue)

            async def four_pending() -> list[dict[str, Any]] | None:
                d = await handle.describe()
                return d.pending_timers if len(d.pending_timers) == 4 else None

            pending = await eventually(four_pending, what="four pending timers")
            assert sorted(t["timer_id"] for t in pending) == ["1", "2", "3", "4"]
            started = {e["attributes"]["timer_id"]: e for e in await events_of(handle, "TimerStarted")}
            for t in pending:
                ev = started[t["timer_id"]]
                assert t["started_event_id"] == ev["event_id"]
                fire_in = seconds(datetime.fromisoformat(ev["event_time"]), datetime.fromisoformat(t["fire_time"]))
                assert fire_in == pytest.approx(ev["attributes"]["duration"], abs=0.002)
            # All four were started by the same workflow task.
            assert len({e["attributes"]["workflow_task_completed_event_id"] for e in started.values()}) == 1
        woken = await handle.result()
    by_name = {w.name: w.at for w in woken}
    start = by_name.pop("start")
    for i, d in enumerate(durations):
        assert seconds(start, by_name[f"t{i}"]) >= d
    # The longest timer woke last; describe shows no timers once the workflow is done.
    assert woken[len(durations) - 1].name == "t0"
    assert (await handle.describe()).pending_timers == []
    types = await history_types(handle)
    assert types.count("TimerFired") == 4


async def test_timer_fires_while_no_worker_runs(mainspring_client: Client, task_queue: str) -> None:
    """The timer lives on the server: the worker that started it can go away, and a fresh one
    (with nothing cached) picks the workflow up after the timer fired."""
    client, wid = mainspring_client, new_id()
    # The clock is held until this worker has gone: the timer must not fire while it still runs.
    async with clock_held(client), running_worker(client, task_queue, workflows=[sleeper]):
        handle = await client.start_workflow(sleeper, 5 * HOUR, id=wid, task_queue=task_queue)

        async def timer_started() -> bool:
            return "TimerStarted" in await history_types(handle)

        await eventually(timer_started, what="the timer to start")

    async def timer_fired() -> bool:
        return "TimerFired" in await history_types(handle)

    await eventually(timer_fired, what="the timer to fire with no worker running")
    assert (await handle.describe()).status is WorkflowStatus.RUNNING
    async with running_worker(client, task_queue, workflows=[sleeper]):
        span = await handle.result(timeout=10)
    assert seconds(span.started, span.ended) >= 5 * HOUR


async def test_timer_survives_a_server_crash(server: ServerProcess, client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[sleeper]):
        handle = await client.start_workflow(sleeper, 1.0, id=wid, task_queue=task_queue)

        async def timer_started() -> bool:
            return "TimerStarted" in await history_types(handle)

        await eventually(timer_started, what="the timer to start")
        server.kill()  # SIGKILL, while the timer is pending and the worker is connected
        await asyncio.sleep(1.2)  # the timer's time passes while the server is down
        server.start()
        span = await handle.result(timeout=15)
    assert seconds(span.started, span.ended) >= 1.0
    types = await history_types(handle)
    assert types.count("TimerStarted") == 1 and types.count("TimerFired") == 1


def test_event_times_round_up_across_a_second() -> None:
    """Timestamps are written with microseconds; rounding must carry into the seconds."""
    from mainspring.server._execution import iso

    assert iso(12.9999996) == "1970-01-01T00:00:13.000000Z"
