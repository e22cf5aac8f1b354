"""Temporal workflows and activities for W1-W5 (the reference scripts' definitions, plus W5's timer workflow).

Shared by temporal_worker.py and the driver. Every activity is ``async def``; activities use
``start_to_close_timeout`` = $BENCH_ACT_TIMEOUT_S (5 s by default; Temporal requires a timeout) and
Temporal's default retry policy. The worker runs them with default settings (sandbox on).
"""

import asyncio
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from common import W4_STEP_SECONDS, append_step

ACT_TIMEOUT = timedelta(seconds=float(os.environ.get("BENCH_ACT_TIMEOUT_S", "5")))


# ---------------------------------------------------------------------------------------------------- activities


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
async def noop(i: int) -> int:
    return i


@activity.defn
async def sleep_step(i: int) -> str:
    await asyncio.sleep(W4_STEP_SECONDS)
    wid = activity.info().workflow_id
    assert wid is not None
    append_step(os.environ.get("BENCH_STEP_LOG"), wid, i)  # one line per execution
    return f"{wid}:step{i}"


@activity.defn
async def echo(payload: str) -> str:  # W9
    return payload


@activity.defn
async def stamp(i: int) -> float:  # W13: when it ran (the worker's clock)
    return time.perf_counter()


# ---------------------------------------------------------------------------------------------------- workflows


@workflow.defn
class GreetWF:  # W1
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=ACT_TIMEOUT)


@workflow.defn
class ThreeNoopWF:  # W2
    @workflow.run
    async def run(self, x: int) -> int:
        acc = 0
        for i in range(3):
            acc += await workflow.execute_activity(noop, i, start_to_close_timeout=ACT_TIMEOUT)
        return x + acc  # acc == 3


@workflow.defn
class LongWF:  # W3
    @workflow.run
    async def run(self, n: int) -> int:
        acc = 0
        for _ in range(n):
            acc += await workflow.execute_activity(noop, 1, start_to_close_timeout=ACT_TIMEOUT)
        return acc


@workflow.defn
class CrashWF:  # W4
    @workflow.run
    async def run(self, n: int) -> list[str]:
        results = []
        for i in range(n):
            results.append(await workflow.execute_activity(sleep_step, i, start_to_close_timeout=ACT_TIMEOUT))
        return results


@workflow.defn
class TimerWF:  # W5: a durable timer (asyncio.sleep in a Temporal workflow is one)
    @workflow.run
    async def run(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds


@workflow.defn
class FanOutWF:  # W7
    @workflow.run
    async def run(self, k: int) -> int:
        results = await asyncio.gather(
            *(workflow.execute_activity(noop, i, start_to_close_timeout=ACT_TIMEOUT) for i in range(k))
        )
        return sum(results)


@workflow.defn
class EchoWF:  # W9
    @workflow.run
    async def run(self, payload: str) -> str:
        return await workflow.execute_activity(echo, payload, start_to_close_timeout=ACT_TIMEOUT)


@workflow.defn
class MessageWF:  # W10, W11: counts the signals it got, read by a query
    def __init__(self) -> None:
        self.seen = 0
        self.stop = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.stop)
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


@workflow.defn
class SignalSinkWF:  # W12: records each signal's payload in the order its handler saw them
    def __init__(self) -> None:
        self.seen: list[int] = []

    @workflow.run
    async def run(self, n: int) -> list[int]:
        await workflow.wait_condition(lambda: len(self.seen) >= n)
        return self.seen

    @workflow.signal
    def add(self, i: int) -> None:
        self.seen.append(i)


@workflow.defn
class CanLoopWF:  # W15: n more runs, each continuing as new
    @workflow.run
    async def run(self, n: int) -> int:
        if n > 0:
            workflow.continue_as_new(n - 1)
        return workflow.info().get_current_history_length()


@workflow.defn
class LocalLoopWF:  # W13: n local activities in a row
    @workflow.run
    async def run(self, n: int) -> list[float]:
        return [await workflow.execute_local_activity(stamp, i, start_to_close_timeout=ACT_TIMEOUT) for i in range(n)]


@workflow.defn
class ChildWF:  # W14
    @workflow.run
    async def run(self, i: int) -> int:
        return i


@workflow.defn
class ChildChainWF:  # W14: n children, one after another
    @workflow.run
    async def run(self, n: int) -> int:
        acc = 0
        for i in range(n):
            acc += await workflow.execute_child_workflow(ChildWF.run, i, id=f"{workflow.info().workflow_id}-c{i}")
        return acc


@workflow.defn
class ChildFanOutWF:  # W14: k children at once
    @workflow.run
    async def run(self, k: int) -> int:
        wid = workflow.info().workflow_id
        return sum(
            await asyncio.gather(*(workflow.execute_child_workflow(ChildWF.run, i, id=f"{wid}-c{i}") for i in range(k)))
        )


WORKFLOWS = [
    GreetWF,
    ThreeNoopWF,
    LongWF,
    CrashWF,
    TimerWF,
    FanOutWF,
    EchoWF,
    MessageWF,
    SignalSinkWF,
    ChildWF,
    ChildChainWF,
    ChildFanOutWF,
    LocalLoopWF,
    CanLoopWF,
]
ACTIVITIES: list[Callable[..., Any]] = [greet, noop, sleep_step, echo, stamp]
