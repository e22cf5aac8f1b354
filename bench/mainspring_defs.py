"""Mainspring's workflows and activities for W1-W12 and W15 (shared by mainspring_worker.py and the driver).

The same semantics as the Temporal and DBOS definitions: every activity is ``async def``; activities
use ``start_to_close_timeout`` = $BENCH_ACT_TIMEOUT_S (5 s by default) and the default retry policy.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

from common import W4_STEP_SECONDS, append_step
from mainspring import activity, workflow

ACT_TIMEOUT = timedelta(seconds=float(os.environ.get("BENCH_ACT_TIMEOUT_S", "5")))
STEP_LOG = os.environ.get("BENCH_STEP_LOG")
#: W7's activities wait in the queue behind thousands of others: the timeout is for a stuck attempt,
#: not a queue wait (start_to_close starts when an attempt is handed out), so the usual 5 s is kept.
FAN_OUT_TIMEOUT = ACT_TIMEOUT


# ---------------------------------------------------------------------------------------------------- activities


@activity.defn(name="greet")
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn(name="noop")
async def noop(i: int) -> int:
    return i


@activity.defn(name="sleep_step")
async def sleep_step(i: int) -> str:
    await asyncio.sleep(W4_STEP_SECONDS)
    wid = activity.info().workflow_id
    append_step(STEP_LOG, wid, i)  # one line per execution, to count re-executions
    return f"{wid}:step{i}"


@activity.defn(name="echo")
async def echo(payload: str) -> str:  # W9
    return payload


@activity.defn(name="stamp")
async def stamp(i: int) -> float:  # W13: when it ran (the worker's clock)
    return time.perf_counter()


# ---------------------------------------------------------------------------------------------------- workflows


@workflow.defn(name="GreetWF")
async def greet_wf(ctx: workflow.Context, name: str) -> str:  # W1
    return await ctx.execute_activity(greet, name, start_to_close_timeout=ACT_TIMEOUT)


@workflow.defn(name="WeekWF")
async def week_wf(ctx: workflow.Context, name: str) -> str:  # W16: a week of sleep, then W1's activity
    await ctx.sleep(timedelta(days=7))
    return await ctx.execute_activity(greet, name, start_to_close_timeout=ACT_TIMEOUT)


@workflow.defn(name="ThreeNoopWF")
async def three_noop_wf(ctx: workflow.Context, x: int) -> int:  # W2
    acc = 0
    for i in range(3):
        acc += await ctx.execute_activity(noop, i, start_to_close_timeout=ACT_TIMEOUT)
    return x + acc  # acc == 3


@workflow.defn(name="LongWF")
async def long_wf(ctx: workflow.Context, n: int) -> int:  # W3
    acc = 0
    for _ in range(n):
        acc += await ctx.execute_activity(noop, 1, start_to_close_timeout=ACT_TIMEOUT)
    return acc


@workflow.defn(name="CrashWF")
async def crash_wf(ctx: workflow.Context, n: int) -> list[str]:  # W4
    results = []
    for i in range(n):
        results.append(await ctx.execute_activity(sleep_step, i, start_to_close_timeout=ACT_TIMEOUT))
    return results


@workflow.defn(name="TimerWF")
async def timer_wf(ctx: workflow.Context, seconds: float) -> float:  # W5
    await ctx.sleep(timedelta(seconds=seconds))
    return seconds


@workflow.defn(name="FanOutWF")
async def fan_out_wf(ctx: workflow.Context, k: int) -> int:  # W7
    results = await asyncio.gather(
        *(ctx.execute_activity(noop, i, start_to_close_timeout=FAN_OUT_TIMEOUT) for i in range(k))
    )
    return sum(results)


@workflow.defn(name="EchoWF")
async def echo_wf(ctx: workflow.Context, payload: str) -> str:  # W9
    return await ctx.execute_activity(echo, payload, start_to_close_timeout=ACT_TIMEOUT)


@workflow.defn(name="MessageWF")
class MessageWF:  # W10, W11: a workflow that counts the signals it got, read by a query
    def __init__(self) -> None:
        self.seen = 0
        self.stop = False

    @workflow.run
    async def run(self, ctx: workflow.Context) -> int:
        await ctx.wait_condition(lambda: self.stop)
        return self.seen

    @workflow.signal
    def bump(self, i: int) -> None:
        self.seen = max(self.seen, i)

    @workflow.signal
    def finish(self) -> None:
        self.stop = True

    @workflow.query
    def last(self) -> int:
        return self.seen

    @workflow.update
    def set_to(self, i: int) -> int:  # W11: an update round trip (validated, recorded, answered)
        previous, self.seen = self.seen, i
        return previous

    @set_to.validator
    def _check_set_to(self, i: int) -> None:
        if i < 0:
            raise ValueError("W11 sets non-negative values only")


@workflow.defn(name="SignalSinkWF")
class SignalSinkWF:  # W12: records each signal's payload in the order its handler saw them
    def __init__(self) -> None:
        self.seen: list[int] = []

    @workflow.run
    async def run(self, ctx: workflow.Context, n: int) -> list[int]:
        await ctx.wait_condition(lambda: len(self.seen) >= n)
        return self.seen

    @workflow.signal
    def add(self, i: int) -> None:
        self.seen.append(i)


@workflow.defn(name="can_loop_wf")
async def can_loop_wf(ctx: workflow.Context, n: int) -> int:  # W15: n more runs, each continuing as new
    if n > 0:
        ctx.continue_as_new(n - 1, workflow=can_loop_wf)
    return ctx.info.history_length


@workflow.defn(name="LocalLoopWF")
async def local_loop_wf(ctx: workflow.Context, n: int) -> list[float]:  # W13: n local activities in a row
    return [await ctx.execute_local_activity(stamp, i, start_to_close_timeout=ACT_TIMEOUT) for i in range(n)]


@workflow.defn(name="ChildWF")
async def child_wf(ctx: workflow.Context, i: int) -> int:  # W14
    return i


@workflow.defn(name="ChildChainWF")
async def child_chain_wf(ctx: workflow.Context, n: int) -> int:  # W14: n children, one after another
    acc = 0
    for i in range(n):
        acc += await ctx.execute_child_workflow(child_wf, i)
    return acc


@workflow.defn(name="ChildFanOutWF")
async def child_fan_out_wf(ctx: workflow.Context, k: int) -> int:  # W14: k children at once
    return sum(await asyncio.gather(*(ctx.execute_child_workflow(child_wf, i) for i in range(k))))


WORKFLOWS: list[Any] = [
    greet_wf,
    three_noop_wf,
    long_wf,
    crash_wf,
    timer_wf,
    fan_out_wf,
    echo_wf,
    MessageWF,
    SignalSinkWF,
    can_loop_wf,
    local_loop_wf,
    child_wf,
    child_chain_wf,
    child_fan_out_wf,
]
ACTIVITIES: list[activity.ActivityFunction[..., Any]] = [greet, noop, sleep_step, echo, stamp]
