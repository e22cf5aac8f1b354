"""An activity whose exception is chained ``depth`` deep: `python tests/workers/deep_failure_worker.py [--address ...]`.

``deep_failure_workflow`` (input: the depth) runs ``deep_failure`` once; it raises ``ValueError("level
<depth>")`` from ``ValueError("level <depth - 1>")`` ... from ``ValueError("bottom")``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import timedelta

from mainspring import Client, RetryPolicy, Worker, activity, workflow

TASK_QUEUE = "deep-failure-queue"


def _raise_chain(depth: int) -> None:
    error: Exception = ValueError("bottom")
    for level in range(1, depth + 1):
        chained = ValueError(f"level {level}")
        chained.__cause__ = error
        error = chained
    raise error


@activity.defn(name="deep_failure")
async def deep_failure(depth: int) -> None:
    _raise_chain(depth)


@workflow.defn(name="deep_failure_workflow")
async def deep_failure_workflow(ctx: workflow.Context, depth: int) -> None:
    await ctx.execute_activity(
        deep_failure,
        depth,
        activity_id="deep",
        start_to_close_timeout=timedelta(seconds=120),
        retry_policy=RetryPolicy(maximum_attempts=1),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=TASK_QUEUE, workflows=[deep_failure_workflow], activities=[deep_failure])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
