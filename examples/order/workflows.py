"""The order example: five sequential activities, one retried, and a durable timer.

Each activity sleeps ORDER_STEP_SECONDS (default 0.1) to stand in for real work. If ORDER_LOG names
a file, every activity execution appends a line to it, so tests can count executions.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import timedelta

from mainspring import ApplicationError, RetryPolicy, activity, workflow

#: The order example's own task queue (the hello example has another): its worker polls it and its starter
#: starts workflows on it.
TASK_QUEUE = "order-task-queue"


@dataclass
class Order:
    order_id: str
    items: int


@dataclass
class OrderResult:
    order_id: str
    steps: list[str] = field(default_factory=list)


async def _work(step: str, order: Order) -> str:
    await asyncio.sleep(float(os.environ.get("ORDER_STEP_SECONDS", "0.1")))
    log = os.environ.get("ORDER_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:  # noqa: ASYNC230 - a tiny append; fine on the loop
            f.write(f"{order.order_id} {step} {activity.info().attempt}\n")
    return step


@activity.defn
async def reserve(order: Order) -> str:
    return await _work("reserve", order)


@activity.defn
async def charge(order: Order) -> str:
    if activity.info().attempt == 1:
        # The payment provider is flaky: the first attempt always fails, the retry succeeds.
        raise ApplicationError(f"payment gateway timeout for order {order.order_id}", type="GatewayTimeout")
    return await _work("charge", order)


@activity.defn
async def pack(order: Order) -> str:
    return await _work("pack", order)


@activity.defn
async def ship(order: Order) -> str:
    return await _work("ship", order)


@activity.defn
async def notify(order: Order) -> str:
    return await _work("notify", order)


RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=2))


@workflow.defn(name="order_workflow")
async def order_workflow(ctx: workflow.Context, order: Order) -> OrderResult:
    result = OrderResult(order_id=order.order_id)
    for step in (reserve, charge, pack):
        result.steps.append(
            await ctx.execute_activity(step, order, start_to_close_timeout=timedelta(seconds=10), retry_policy=RETRY)
        )
    # Let the parcel rest before it ships: a durable timer that survives restarts.
    await ctx.sleep(timedelta(milliseconds=300))
    for step in (ship, notify):
        result.steps.append(
            await ctx.execute_activity(step, order, start_to_close_timeout=timedelta(seconds=10), retry_policy=RETRY)
        )
    return result


ACTIVITIES = [reserve, charge, pack, ship, notify]
