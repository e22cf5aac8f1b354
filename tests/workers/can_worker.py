"""A worker for the continue-as-new and workflow-timeout tests.

`python tests/workers/can_worker.py --address HOST:PORT --task-queue Q`

- ``counter({"n": N, "stop": S})`` continues as new with ``n + 1`` until ``n == stop``, then returns
  ``{"n": N}``: each run is a few events.
- ``flaky({"fail_until": K})`` fails (an ``ApplicationError``) while ``ctx.info.attempt < K``, then returns
  the attempt: for a workflow retry policy.
- ``sleeper({"seconds": S})`` sleeps S seconds on a durable timer, then returns the attempt: for run and
  execution timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from mainspring import ApplicationError, Client, Worker, workflow


@dataclass
class Count:
    n: int
    stop: int


@workflow.defn(name="counter")
async def counter(ctx: workflow.Context, c: Count) -> dict[str, int]:
    if c.n < c.stop:
        ctx.continue_as_new(Count(c.n + 1, c.stop), workflow=counter)
    return {"n": c.n}


@dataclass
class Flaky:
    fail_until: int


@workflow.defn(name="flaky")
async def flaky(ctx: workflow.Context, f: Flaky) -> int:
    if ctx.info.attempt < f.fail_until:
        raise ApplicationError(f"attempt {ctx.info.attempt} fails")
    return ctx.info.attempt


@dataclass
class Sleep:
    seconds: float


@workflow.defn(name="sleeper")
async def sleeper(ctx: workflow.Context, s: Sleep) -> int:
    await ctx.sleep(timedelta(seconds=s.seconds))
    return ctx.info.attempt


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default="can-task-queue")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.task_queue, workflows=[counter, flaky, sleeper])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
