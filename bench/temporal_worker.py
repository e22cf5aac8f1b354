"""Temporal worker process for the benchmarks (started by run.py; not normally run by hand).

  python bench/temporal_worker.py --address 127.0.0.1:PORT --task-queue TQ

Default ``Worker`` settings (no tuning), as in the reference scripts. Prints ``READY <unix time>`` once
connected and the worker is built (it starts polling right after).
"""

import argparse
import asyncio
import time

from temporalio.client import Client
from temporalio.worker import Worker

from temporal_defs import ACTIVITIES, WORKFLOWS


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--address", required=True)
    ap.add_argument("--task-queue", required=True)
    a = ap.parse_args()
    client = await Client.connect(a.address)
    worker = Worker(client, task_queue=a.task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)
    print(f"READY {time.time()}", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
