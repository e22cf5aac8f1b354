"""A worker for the tests of what a newcomer meets: `python tests/workers/newcomer_worker.py --address A`.

- ``nap_workflow`` (input: seconds) runs ``nap``, an activity that sleeps that long and returns "rested".
- ``broken_workflow`` (no input) raises a plain ``ValueError``: a bug in workflow code, so its workflow task
  fails and the server retries it (with backoff) until the code is fixed.

``--log-level debug`` shows the worker's debug lines too.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import timedelta

from mainspring import Client, Worker, activity, workflow

TASK_QUEUE = "newcomer"


@activity.defn(name="nap")
async def nap(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "rested"


@workflow.defn(name="nap_workflow")
async def nap_workflow(ctx: workflow.Context, seconds: float) -> str:
    return await ctx.execute_activity(nap, seconds, start_to_close_timeout=timedelta(seconds=seconds + 60))


@workflow.defn(name="broken_workflow")
async def broken_workflow(ctx: workflow.Context) -> str:
    raise ValueError("boom: a bug in workflow code")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("asyncio", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.task_queue, workflows=[nap_workflow, broken_workflow], activities=[nap])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
