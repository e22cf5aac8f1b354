"""Mainspring worker process for the benchmarks (started by run.py; not normally run by hand).

  python bench/mainspring_worker.py --address 127.0.0.1:PORT --task-queue TQ

Default ``Worker`` settings, on uvloop and with ``tune_gc()`` (both what the README recommends for a
worker process). Prints ``READY <unix time>`` once the worker has its session with the server
and is polling. Env: BENCH_STEP_LOG (W4's side-effect log), BENCH_ACT_TIMEOUT_S.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from mainspring import Client, Worker
from mainspring.worker import tune_gc
from mainspring_defs import ACTIVITIES, WORKFLOWS


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)
    tune_gc()

    async def announce() -> None:
        await worker.ready.wait()
        print(f"READY {time.time()}", flush=True)

    announcer = asyncio.create_task(announce())
    try:
        await worker.run()
    finally:
        announcer.cancel()
        await client.close()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
