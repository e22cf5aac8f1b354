"""Deterministic replay against a real server.

- ``ctx.now()``, ``ctx.random()`` and ``ctx.uuid4()`` give the same values when history is replayed
  (replays are forced with ``Worker(max_cached_workflows=0)``: every workflow task rebuilds the
  workflow from its whole history);
- the wall clock, real sleep and real randomness are caught in workflow code with a message that says
  what to use instead; the workflow task fails, the workflow does not;
- code that no longer matches its history fails the workflow task with a non-determinism error that
  names the event and the command; the workflow is not failed, and the original code finishes it (on the
  time-skipping environment, ``mainspring_client``: the hour's timers that let one worker go and the next
  one take over take no real time);
- what workflow code raising does: a ``FailureError`` fails the workflow, anything else fails (and
  retries) only the workflow task;
- a longer history replays to the same result.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from inprocess import clock_held, events_of, eventually, history_types, running_worker
from mainspring import (
    ApplicationError,
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowStatus,
    activity,
    workflow,
)


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


START_TO_CLOSE = timedelta(seconds=5)


@activity.defn
async def echo(value: int) -> int:
    return value


@activity.defn
async def double(value: int) -> int:
    return value * 2


@activity.defn
async def step(text: str) -> str:
    return f"{text} done"


async def wait_for_task_failure(handle: WorkflowHandle[Any, Any], *, min_attempt: int = 2) -> dict[str, Any]:
    """Wait until the pending workflow task has failed (and is being retried); return its last failure."""

    async def failed() -> dict[str, Any] | None:
        d = await handle.describe()
        wt = d.pending_workflow_task
        if wt is not None and wt["last_failure"] is not None and wt["attempt"] >= min_attempt:
            assert d.status is WorkflowStatus.RUNNING
            failure: dict[str, Any] = wt["last_failure"]
            return failure
        return None

    return await eventually(failed, what=f"the workflow task to fail (attempt {min_attempt} pending)")


# ================================================================================================
# ctx.now(), ctx.random(), ctx.uuid4() replay the same
# ================================================================================================


@dataclass
class Values:
    step: int
    now: datetime
    number: float
    uid: str


#: Every value each workflow run computed, replays included: (values, ctx.is_replaying).
SEEN: dict[str, list[tuple[Values, bool]]] = {}


@workflow.defn
async def deterministic_values(ctx: workflow.Context, steps: int) -> list[Values]:
    out: list[Values] = []
    for i in range(steps):
        v = Values(i, ctx.now(), ctx.random().random(), str(ctx.uuid4()))
        SEEN.setdefault(ctx.info.run_id, []).append((v, ctx.is_replaying))
        ctx.logger.info("computed step %d of %s", i, ctx.info.workflow_id)
        out.append(v)
        if i % 2:
            await ctx.sleep(0.01)
        else:
            await ctx.execute_activity(echo, i, start_to_close_timeout=START_TO_CLOSE)
    return out


@pytest.mark.parametrize("cache", [0, 1000], ids=["replaying", "cached"])
async def test_now_random_uuid4_are_identical_across_replay(
    client: Client, task_queue: str, cache: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mainspring.workflow")
    steps = 5
    async with running_worker(
        client, task_queue, workflows=[deterministic_values], activities=[echo], max_cached_workflows=cache
    ):
        h1 = await client.start_workflow(deterministic_values, steps, id=new_id(), task_queue=task_queue)
        h2 = await client.start_workflow(deterministic_values, steps, id=new_id(), task_queue=task_queue)
        first, second = await h1.result(), await h2.result()
    assert h1.run_id is not None
    seen = SEEN[h1.run_id]
    for i in range(steps):
        computed = [v for v, _ in seen if v.step == i]
        # Every time the code reached step i (once per later workflow task when replaying) it computed
        # the very same values, and they are the ones the workflow returned.
        assert computed and all(v == first[i] for v in computed), computed
        # A step's code runs once live, and is replayed by every later workflow task when nothing is cached.
        assert sum(1 for v, replaying in seen if v.step == i and not replaying) == 1
        assert len(computed) == (steps + 1 - i if cache == 0 else 1)
    assert len({v.uid for v in first}) == steps
    assert all(uuid.UUID(v.uid).version == 4 for v in first)
    assert len({v.number for v in first}) == steps
    assert all(a.now <= b.now for a, b in itertools.pairwise(first))
    assert first[0].now.tzinfo is not None
    # ctx.now() is the time of the workflow task that ran the step: at the start, the first task's.
    started = (await events_of(h1, "WorkflowTaskStarted"))[0]
    assert first[0].now == datetime.fromisoformat(started["event_time"])
    # ctx.logger stays quiet while replaying: each step is logged once.
    logged = [r.getMessage() for r in caplog.records if h1.workflow_id in r.getMessage()]
    assert logged == [
        f"[deterministic_values {h1.workflow_id}] computed step {i} of {h1.workflow_id}" for i in range(steps)
    ]
    # Another run draws other numbers.
    assert {v.uid for v in second}.isdisjoint({v.uid for v in first})


# ================================================================================================
# The wall clock, real sleep and real randomness are caught
# ================================================================================================


@workflow.defn
async def calls_forbidden(ctx: workflow.Context, what: str) -> str:
    if what == "time.time":
        time.time()
    elif what == "time.sleep":
        time.sleep(0.01)  # noqa: ASYNC251 - the point of the test
    elif what == "datetime.now":
        datetime.now()
    elif what == "random.random":
        random.random()
    elif what == "random.randint":
        random.randint(1, 6)
    elif what == "uuid.uuid4":
        uuid.uuid4()
    elif what == "swallowed":
        # Catching the error does not hide the call: the workflow task still fails.
        try:
            time.time()
        except Exception:
            pass
    elif what == "after-await":
        await ctx.sleep(0.01)
        datetime.now()
    return "finished"


FORBIDDEN = {
    "time.time": ("time.time()", "ctx.now()"),
    "time.sleep": ("time.sleep()", "ctx.sleep("),
    "datetime.now": ("datetime.now()", "ctx.now()"),
    "random.random": ("random.random()", "ctx.random()"),
    "random.randint": ("random.randint()", "ctx.random()"),
    "uuid.uuid4": ("uuid.uuid4()", "ctx.uuid4()"),
    "swallowed": ("time.time()", "ctx.now()"),
    "after-await": ("datetime.now()", "ctx.now()"),
}


@pytest.mark.parametrize("what", list(FORBIDDEN))
async def test_nondeterministic_calls_are_caught(client: Client, task_queue: str, what: str) -> None:
    names_call, suggests = FORBIDDEN[what]
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[calls_forbidden]):
        handle = await client.start_workflow(calls_forbidden, what, id=wid, task_queue=task_queue)
        failure = await wait_for_task_failure(handle)
    message = failure["message"]
    assert failure["type"] == "NondeterministicCallError"
    assert "deterministic" in message
    assert names_call in message, message
    assert suggests in message, message
    assert "test_determinism.py" in message, message  # where it was called from
    d = await handle.describe()
    assert d.status is WorkflowStatus.RUNNING
    assert d.failure is None
    failed = await events_of(handle, "WorkflowTaskFailed")
    assert failed and failed[0]["attributes"]["cause"] == "WORKFLOW_CODE_ERROR"
    assert names_call in failed[0]["attributes"]["failure"]["message"]
    types = await history_types(handle)
    assert "WorkflowExecutionCompleted" not in types and "WorkflowExecutionFailed" not in types


@workflow.defn
async def uses_the_safe_alternatives(ctx: workflow.Context) -> str:
    await ctx.sleep(0.01)
    await asyncio.sleep(0.01)
    stamp = ctx.now().isoformat()
    ctx.logger.info("logging is fine in workflow code: %s", stamp)
    return f"{ctx.random().randint(1, 6)} {ctx.uuid4()} {stamp}"


async def test_safe_alternatives_pass_the_guard(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[uses_the_safe_alternatives], max_cached_workflows=0):
        result = await client.execute_workflow(uses_the_safe_alternatives, id=new_id(), task_queue=task_queue)
    assert len(result.split()) == 3


# ================================================================================================
# Non-determinism detection
# ================================================================================================


HOUR = timedelta(hours=1)


@workflow.defn(name="evolving")
async def evolving_v1(ctx: workflow.Context) -> str:
    await asyncio.gather(ctx.sleep(HOUR), ctx.sleep(HOUR))
    return await ctx.execute_activity(step, "v1", start_to_close_timeout=START_TO_CLOSE)


@workflow.defn(name="evolving")
async def evolving_activity_first(ctx: workflow.Context) -> str:
    """Schedules an activity where the history has the first timer."""
    return await ctx.execute_activity(step, "v2", start_to_close_timeout=START_TO_CLOSE)


@workflow.defn(name="evolving")
async def evolving_returns_at_once(ctx: workflow.Context) -> str:
    """Completes the workflow where the history has the first timer."""
    return "v2"


@workflow.defn(name="evolving")
async def evolving_one_timer(ctx: workflow.Context) -> str:
    """Starts one timer where the history has two."""
    await ctx.sleep(HOUR)
    return await ctx.execute_activity(step, "v2", start_to_close_timeout=START_TO_CLOSE)


@workflow.defn(name="evolving")
async def evolving_three_timers(ctx: workflow.Context) -> str:
    """Starts a third timer the history does not have."""
    await asyncio.gather(ctx.sleep(HOUR), ctx.sleep(HOUR), ctx.sleep(HOUR))
    return await ctx.execute_activity(step, "v2", start_to_close_timeout=START_TO_CLOSE)


#: The changed code, and what the non-determinism error must mention: the event and the command.
CHANGED = {
    "activity-instead-of-timer": (
        evolving_activity_first,
        ["TimerStarted(timer_id='1')", "ScheduleActivity(", "activity_type='step'"],
    ),
    "complete-instead-of-timer": (
        evolving_returns_at_once,
        ["TimerStarted(timer_id='1')", "CompleteWorkflow"],
    ),
    "missing-timer": (
        evolving_one_timer,
        ["TimerStarted(timer_id='2')", "did not issue a StartTimer command"],
    ),
    "extra-timer": (
        evolving_three_timers,
        ["StartTimer(timer_id='3')", "TimerFired"],
    ),
}


@pytest.mark.parametrize("change", list(CHANGED))
async def test_changed_code_is_detected_and_the_original_code_finishes(
    mainspring_client: Client, task_queue: str, change: str
) -> None:
    client = mainspring_client
    changed_code, mentions = CHANGED[change]
    wid = new_id()
    # (Only the last worker runs the activity: the first two never get that far.) The clock is held until the
    # first worker has gone, so that the timers fire for the second.
    async with clock_held(client), running_worker(client, task_queue, workflows=[evolving_v1]):
        handle = await client.start_workflow(evolving_v1, id=wid, task_queue=task_queue)

        async def waiting_on_timer() -> bool:
            return "TimerStarted" in await history_types(handle)

        await eventually(waiting_on_timer, what="the timer to start")

    # A worker with different code of the same name picks the workflow up when the timer fires.
    async with running_worker(client, task_queue, workflows=[changed_code]):
        failure = await wait_for_task_failure(handle)
    message = failure["message"]
    assert failure["type"] == "NondeterminismError"
    assert "non-determinism" in message and "'evolving'" in message
    for mention in mentions:
        assert mention in message, message
    failed = await events_of(handle, "WorkflowTaskFailed")
    assert failed[-1]["attributes"]["cause"] == "NON_DETERMINISTIC"
    assert failed[-1]["attributes"]["failure"]["message"] == message
    d = await handle.describe()
    assert d.status is WorkflowStatus.RUNNING
    assert d.failure is None

    # The original code is deployed again: it replays the history and finishes.
    async with running_worker(client, task_queue, workflows=[evolving_v1], activities=[step]):
        assert await handle.result(timeout=15) == "v1 done"
    types = await history_types(handle)
    assert types[-1] == "WorkflowExecutionCompleted"
    assert types.count("TimerStarted") == 2


# ================================================================================================
# What workflow code raising does
# ================================================================================================


@workflow.defn
async def rejects(ctx: workflow.Context, order: str) -> str:
    await ctx.execute_activity(step, order, start_to_close_timeout=START_TO_CLOSE)
    raise ApplicationError(f"order {order} rejected", {"order": order}, type="Rejected")


async def test_application_error_fails_the_workflow(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[rejects], activities=[step]):
        handle = await client.start_workflow(rejects, "o-1", id=wid, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert info.value.status == "FAILED"
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "Rejected"
    assert cause.message == "order o-1 rejected"
    assert cause.details == ({"order": "o-1"},)
    d = await handle.describe()
    assert d.status is WorkflowStatus.FAILED
    assert d.close_time is not None
    assert d.failure is not None and d.failure["type"] == "Rejected"
    assert (await history_types(handle))[-1] == "WorkflowExecutionFailed"
    assert await events_of(handle, "WorkflowTaskFailed") == []


#: Workflow ids whose bug has been "fixed" (the workflow code below reads it: a deploy, in effect).
FIXED: set[str] = set()


@workflow.defn
async def buggy(ctx: workflow.Context) -> str:
    first = await ctx.execute_activity(step, "before the bug", start_to_close_timeout=START_TO_CLOSE)
    if ctx.info.workflow_id not in FIXED:
        settings: dict[str, str] = {}
        return settings["missing-key"]  # a plain exception: a bug, not a decision to fail the workflow
    return f"{first}; fixed"


async def test_plain_exception_fails_only_the_workflow_task_and_is_retried(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[buggy], activities=[step]):
        handle = await client.start_workflow(buggy, id=wid, task_queue=task_queue)
        failure = await wait_for_task_failure(handle, min_attempt=3)
        assert failure["type"] == "KeyError"
        assert "missing-key" in failure["message"]
        assert failure.get("stack") and "settings[" in failure["stack"]
        d = await handle.describe()
        assert d.status is WorkflowStatus.RUNNING
        assert d.failure is None
        # One trace in history, however many attempts fail (later attempts are not recorded).
        failed = await events_of(handle, "WorkflowTaskFailed")
        assert len(failed) == 1
        assert failed[0]["attributes"]["cause"] == "WORKFLOW_CODE_ERROR"
        FIXED.add(wid)
        assert await handle.result(timeout=15) == "before the bug done; fixed"
    types = await history_types(handle)
    assert types.count("ActivityTaskScheduled") == 1  # the activity before the bug ran once
    assert types[-1] == "WorkflowExecutionCompleted"


# ================================================================================================
# Replaying a longer history
# ================================================================================================

FIRST_LINE_RUNS: dict[str, int] = {}


@workflow.defn
async def thirty_steps(ctx: workflow.Context, n: int) -> list[int]:
    FIRST_LINE_RUNS[ctx.info.run_id] = FIRST_LINE_RUNS.get(ctx.info.run_id, 0) + 1
    results: list[int] = []
    for i in range(n):
        results.append(await ctx.execute_activity(double, i, start_to_close_timeout=START_TO_CLOSE))
        if i % 10 == 9:
            await ctx.sleep(0.01)
    return results


@pytest.mark.parametrize("cache", [0, 1000], ids=["replaying", "cached"])
async def test_long_history_replays_correctly(client: Client, task_queue: str, cache: int) -> None:
    n = 30
    async with running_worker(
        client, task_queue, workflows=[thirty_steps], activities=[double], max_cached_workflows=cache
    ):
        handle = await client.start_workflow(thirty_steps, n, id=new_id(), task_queue=task_queue)
        result = await handle.result(timeout=18)
    assert result == [2 * i for i in range(n)]
    types = await history_types(handle)
    assert types.count("ActivityTaskScheduled") == n
    assert types.count("ActivityTaskCompleted") == n
    assert types.count("TimerFired") == 3
    assert "WorkflowTaskFailed" not in types
    assert handle.run_id is not None
    runs = FIRST_LINE_RUNS[handle.run_id]
    if cache == 0:
        # Every workflow task rebuilt the workflow from the start of its history.
        assert runs == types.count("WorkflowTaskCompleted")
    else:
        # The sticky cache kept the instance: the code ran once, each task fed it only new events.
        assert runs == 1
