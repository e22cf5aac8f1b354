"""Workflows for the web UI tests: `python tests/workers/ui_worker.py [--address ...] [--task-queue ...]`.

- ``ui_failing_workflow`` (input: a reason string) calls ``ui_decline_card``, which raises a non-retryable
  ``ApplicationError`` of type ``CardDeclined``: the workflow fails, and the failure's cause is that error.
- ``ui_sleeping_workflow`` (input ``{"seconds": float}``) waits on a durable timer, then returns ``"woke"``.
- ``ui_progress_workflow`` (input ``{"seconds": float}``) runs ``ui_progress``, whose first attempt
  heartbeats and then fails (``Unavailable``); the second heartbeats ``{"step": n}`` for that long. While it
  runs, the run has a pending activity with an attempt, a last failure and a last heartbeat.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from mainspring import ApplicationError, Client, RetryPolicy, VersioningBehavior, Worker, activity, workflow

TASK_QUEUE = "ui-task-queue"


@dataclass
class Duration:
    seconds: float


@activity.defn(name="ui_decline_card")
async def decline_card(reason: str) -> str:
    raise ApplicationError(f"card declined: {reason}", type="CardDeclined", non_retryable=True)


@activity.defn(name="ui_progress")
async def progress(d: Duration) -> str:
    attempt = activity.info().attempt
    activity.heartbeat({"step": 0, "attempt": attempt})
    if attempt == 1:
        raise ApplicationError("upstream unavailable, try again", type="Unavailable")
    step = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + d.seconds
    while loop.time() < deadline:
        step += 1
        activity.heartbeat({"step": step, "attempt": attempt})
        await asyncio.sleep(0.2)
    return "done"


@workflow.defn(name="ui_failing_workflow")
async def failing_workflow(ctx: workflow.Context, reason: str) -> str:
    return await ctx.execute_activity(
        decline_card, reason, activity_id="charge", start_to_close_timeout=timedelta(seconds=5)
    )


@workflow.defn(name="ui_sleeping_workflow")
async def sleeping_workflow(ctx: workflow.Context, d: Duration) -> str:
    await ctx.sleep(timedelta(seconds=d.seconds))
    return "woke"


@workflow.defn(name="ui_progress_workflow")
async def progress_workflow(ctx: workflow.Context, d: Duration) -> str:
    return await ctx.execute_activity(
        progress,
        d,
        activity_id="progress",
        start_to_close_timeout=timedelta(seconds=d.seconds + 30),
        heartbeat_timeout=timedelta(seconds=10),
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--build-id", default=None, help="Declare this build (its runs PINNED to it).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = await Client.connect(args.address, namespace=args.namespace)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=[failing_workflow, sleeping_workflow, progress_workflow],
        activities=[decline_card, progress],
        build_id=args.build_id,
        versioning=VersioningBehavior.PINNED if args.build_id else None,
    )
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
