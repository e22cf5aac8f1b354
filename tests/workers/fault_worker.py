"""A worker for the fault tests: workflows of quick steps that each write a few kilobytes.

`python tests/workers/fault_worker.py --address HOST:PORT [--task-queue Q]`

- ``padded_chain({"id": ID, "steps": N, "pad": P, "nap": S})`` sleeps S seconds on a durable timer (if S
  is not 0), then runs ``padded_step`` N times in a row, each adding one to the value it is given (and
  carrying ``P``, so each step writes about twice its size: in the activity's stored state and in its
  ActivityTaskScheduled event), and returns ``"ID:N"``: a result that says which run it belongs to and
  that every step counted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from mainspring import Client, RetryPolicy, Worker, activity, workflow


@dataclass
class Chain:
    id: str
    steps: int
    pad: str
    nap: float = 0.0


@dataclass
class Step:
    value: int
    pad: str


@activity.defn(name="padded_step")
async def padded_step(step: Step) -> int:
    return step.value + 1


@workflow.defn(name="padded_chain")
async def padded_chain(ctx: workflow.Context, chain: Chain) -> str:
    if chain.nap:
        await ctx.sleep(timedelta(seconds=chain.nap))
    value = 0
    for _ in range(chain.steps):
        value = await ctx.execute_activity(
            padded_step,
            Step(value, chain.pad),
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )
    return f"{chain.id}:{value}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default="faults")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.task_queue, workflows=[padded_chain], activities=[padded_step])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
