"""A worker whose one workflow never yields, for the deadlock detector's test (``tests/test_deadlock.py``):
`python tests/workers/busy_worker.py --address ... --task-queue ...`. ``busy_loop`` spins for ever; the
worker's detector (2 s by default) interrupts it and fails its workflow task, which the server retries."""

from __future__ import annotations

import argparse
import asyncio
import logging

from mainspring import Client, Worker, workflow


@workflow.defn(name="busy_loop")
async def busy_loop(ctx: workflow.Context) -> int:
    n = 0
    while True:
        n += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default="busy")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.task_queue, workflows=[busy_loop])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
