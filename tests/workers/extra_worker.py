"""Workflows the examples lack, for the CLI and bad-input tests: `python tests/workers/extra_worker.py [--address ...]`.

- ``failing_workflow`` (input: a reason string) calls ``decline_card``, which raises a non-retryable
  ``ApplicationError`` of type ``CardDeclined``: the workflow fails with an ``ActivityError`` whose cause
  is that error.
- ``timer_workflow`` (input ``{"seconds": float}``) waits on a durable timer, then returns ``"woke"``.
- ``blocking_workflow`` (input ``{"seconds": float}``) runs ``slow_activity``, which takes that long.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from mainspring import ApplicationError, Client, Worker, activity, workflow

TASK_QUEUE = "test-task-queue"


@dataclass
class Duration:
    seconds: float


@activity.defn(name="decline_card")
async def decline_card(reason: str) -> str:
    raise ApplicationError(f"card declined: {reason}", type="CardDeclined", non_retryable=True)


@activity.defn(name="slow_activity")
async def slow_activity(d: Duration) -> str:
    await asyncio.sleep(d.seconds)
    return "done"


@workflow.defn(name="failing_workflow")
async def failing_workflow(ctx: workflow.Context, reason: str) -> str:
    return await ctx.execute_activity(
        decline_card, reason, activity_id="charge", start_to_close_timeout=timedelta(seconds=5)
    )


@workflow.defn(name="timer_workflow")
async def timer_workflow(ctx: workflow.Context, d: Duration) -> str:
    await ctx.sleep(timedelta(seconds=d.seconds))
    return "woke"


@workflow.defn(name="blocking_workflow")
async def blocking_workflow(ctx: workflow.Context, d: Duration) -> str:
    return await ctx.execute_activity(
        slow_activity, d, activity_id="slow", start_to_close_timeout=timedelta(seconds=d.seconds + 30)
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--workflows-only", action="store_true", help="run no activities (poll no activity tasks)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = await Client.connect(args.address, namespace=args.namespace)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=[failing_workflow, timer_workflow, blocking_workflow],
        activities=[] if args.workflows_only else [decline_card, slow_activity],
    )
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
