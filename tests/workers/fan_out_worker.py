"""A worker for the fan-out and payload tests: many activities at once, and large payloads.

`python tests/workers/fan_out_worker.py --address HOST:PORT [--task-queue Q] [--activities-only]`

- ``fan_out_workflow({"k": K, "pad": P, "task_queue": TQ})`` schedules K ``measure`` activities at once
  (on TQ, or the workflow's queue if null), each given ``{"i": i, "pad": "x" * P}``, gathers them and
  returns their results, in order: ``i + P`` each (so a result shows its input reached the activity).
- ``echo_workflow(payload)`` runs ``echo`` on ``payload`` and returns what it returned.

With ``--activities-only`` the worker runs only the activities (on its task queue): a test can keep
activities pending on a queue nobody serves, then start a worker for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mainspring import Client, Worker, activity, workflow


@dataclass
class FanOut:
    k: int
    pad: int = 0
    task_queue: str | None = None


@dataclass
class Piece:
    i: int
    pad: str


@activity.defn(name="measure")
async def measure(piece: Piece) -> int:
    return piece.i + len(piece.pad)


@activity.defn(name="echo")
async def echo(payload: str) -> str:
    return payload


@workflow.defn(name="fan_out_workflow")
async def fan_out_workflow(ctx: workflow.Context, spec: FanOut) -> list[int]:
    pad = "x" * spec.pad
    return list(
        await asyncio.gather(
            *(
                ctx.execute_activity(
                    measure,
                    Piece(i, pad),
                    task_queue=spec.task_queue,
                    start_to_close_timeout=timedelta(seconds=60),
                )
                for i in range(spec.k)
            )
        )
    )


@workflow.defn(name="echo_workflow")
async def echo_workflow(ctx: workflow.Context, payload: str) -> str:
    return await ctx.execute_activity(echo, payload, start_to_close_timeout=timedelta(seconds=60))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default="fan-out")
    parser.add_argument("--activities-only", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = await Client.connect(args.address)
    workflows: list[Any] = [] if args.activities_only else [fan_out_workflow, echo_workflow]
    worker = Worker(client, task_queue=args.task_queue, workflows=workflows, activities=[measure, echo])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
