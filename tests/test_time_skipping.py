"""``WorkflowEnvironment.start_time_skipping()``: workflows that wait for days finish in moments of real time,
and timers, retry backoffs, ``wait_condition`` timeouts and signals follow the skipped clock."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest

from mainspring import RetryPolicy, TimeoutError, Worker, activity, workflow
from mainspring.testing import WorkflowEnvironment

_attempts: dict[str, int] = {}


@activity.defn
async def flaky(key: str) -> int:
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < 3:
        raise RuntimeError("not yet")
    return _attempts[key]


@workflow.defn
async def month_long(ctx: workflow.Context, key: str) -> list[float]:
    start = ctx.now()
    await ctx.sleep(timedelta(days=30))
    slept = (ctx.now() - start).total_seconds()
    attempts = await ctx.execute_activity(
        flaky,
        key,
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=RetryPolicy(initial_interval=timedelta(hours=1), backoff_coefficient=1.0),
    )
    after_retries = (ctx.now() - start).total_seconds()
    return [slept, float(attempts), after_retries]


@workflow.defn
class Approval:
    def __init__(self) -> None:
        self.approved = False

    @workflow.run
    async def run(self, ctx: workflow.Context) -> str:
        try:
            await ctx.wait_condition(lambda: self.approved, timeout=timedelta(days=7))
        except TimeoutError:
            return "expired"
        return "approved"

    @workflow.signal
    def approve(self) -> None:
        self.approved = True


async def test_a_month_of_sleep_and_hours_of_backoff_take_moments() -> None:
    began = time.monotonic()
    async with WorkflowEnvironment.start_time_skipping() as env:
        assert env.supports_time_skipping
        before = env.now()
        async with Worker(env.client, task_queue="skip", workflows=[month_long], activities=[flaky]):
            slept, attempts, total = await env.client.execute_workflow(month_long, "k1", id="month", task_queue="skip")
        assert slept >= 30 * 86400
        assert attempts == 3
        assert total >= 30 * 86400 + 2 * 3600  # two backoffs of an hour, on the skipped clock
        assert (env.now() - before).total_seconds() >= 30 * 86400 + 2 * 3600
    assert time.monotonic() - began < 20  # (generous: the point is it is not a month)


async def test_wait_condition_timeouts_and_signals_follow_the_skipped_clock() -> None:
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="skip", workflows=[Approval]),
    ):
        expired = await env.client.start_workflow(Approval.run, id="expires", task_queue="skip")
        assert await expired.result(timeout=20) == "expired"
        approved = await env.client.start_workflow(Approval.run, id="approved", task_queue="skip")
        await approved.signal(Approval.approve)
        assert await approved.result(timeout=20) == "approved"


async def test_env_sleep_moves_the_clock_on() -> None:
    async with WorkflowEnvironment.start_time_skipping() as env:
        before = env.now()
        await env.sleep(timedelta(days=2))
        assert (env.now() - before).total_seconds() >= 2 * 86400
    async with WorkflowEnvironment.start_local() as local:
        assert not local.supports_time_skipping


@workflow.defn
async def many_sleepers(ctx: workflow.Context, n: int) -> int:
    await asyncio.gather(*(ctx.sleep(timedelta(days=7 + i)) for i in range(n)))
    return n


async def test_many_timers_of_one_workflow_fire_in_order_of_the_skipped_clock() -> None:
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="skip", workflows=[many_sleepers]),
    ):
        assert await env.client.execute_workflow(many_sleepers, 5, id="many", task_queue="skip") == 5


@pytest.mark.parametrize("n", [50])
async def test_fifty_week_long_workflows(n: int) -> None:
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="skip", workflows=[many_sleepers]),
    ):
        handles = [await env.client.start_workflow(many_sleepers, 1, id=f"w{i}", task_queue="skip") for i in range(n)]
        assert [await h.result(timeout=30) for h in handles] == [1] * n


@activity.defn
async def slow_but_in_time() -> str:
    await asyncio.sleep(0.3)  # real time: the clock does not skip while an activity runs
    return "done"


@workflow.defn
async def waits_for_a_slow_activity(ctx: workflow.Context) -> str:
    await ctx.sleep(timedelta(hours=5))
    return await ctx.execute_activity(slow_but_in_time, start_to_close_timeout=timedelta(seconds=2))


async def test_time_does_not_skip_while_an_activity_runs() -> None:
    async with WorkflowEnvironment.start_time_skipping() as env:
        async with Worker(
            env.client, task_queue="skip", workflows=[waits_for_a_slow_activity], activities=[slow_but_in_time]
        ):
            result = await env.client.execute_workflow(waits_for_a_slow_activity, id="slow", task_queue="skip")
        assert result == "done"


@activity.defn
async def quick() -> str:
    return "quick"


@workflow.defn
async def sleeps_then_acts(ctx: workflow.Context) -> float:
    start = ctx.now()
    await ctx.sleep(timedelta(days=7))
    await ctx.execute_activity(quick, start_to_close_timeout=timedelta(seconds=10))
    return (ctx.now() - start).total_seconds()


async def test_the_worker_runs_a_workflow_on_its_activity_result_at_the_skipped_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The worker runs the cached workflow on the result right away (a continuation), at the time the server's
    # clock shows: one at its own clock (a week behind) was refused, and the run replayed from its history.
    caplog.set_level(logging.DEBUG, logger="mainspring")
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="skip", workflows=[sleeps_then_acts], activities=[quick]),
    ):
        elapsed = await env.client.execute_workflow(sleeps_then_acts, id="cont", task_queue="skip")
    assert elapsed >= 7 * 86400
    refused = [r.getMessage() for r in caplog.records if "continuation" in r.getMessage()]
    assert refused == []


@workflow.defn
async def naps_an_hour(ctx: workflow.Context) -> str:
    await ctx.sleep(timedelta(hours=1))
    return "up"


async def test_a_delayed_start_is_skipped_to_and_then_waited_for() -> None:
    # The first workflow task waits for a time: due by the clock alone, with no step of the engine's to say
    # so, it must still count as under way once due (until the worker completes it).
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="skip", workflows=[naps_an_hour]),
    ):
        before = env.now()
        handle = await env.client.start_workflow(
            naps_an_hour, id="delayed", task_queue="skip", start_delay=timedelta(days=1)
        )
        assert await handle.result(timeout=20) == "up"
        assert (env.now() - before).total_seconds() >= 86400 + 3600
