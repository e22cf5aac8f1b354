"""A worker for the cluster fault tests (tests/test_cluster_faults.py): a small order workflow.

`python tests/workers/cluster_worker.py --address A,B,C [--task-queue Q]`

``cluster_order({"n": N})`` runs three activities in turn (reserve, charge, ship), each returning a value
computed from N alone, and returns ``{"n": N, "reserved": ..., "charged": ..., "shipped": ...}``: a
result a test can check exactly for every order. If ``CLUSTER_LOG`` names a file, each activity execution
appends ``<n> <step> <attempt>`` to it (how often a step really ran, across kills).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import dataclass
from datetime import timedelta

from mainspring import Client, MainspringError, RetryPolicy, Worker, activity, workflow


@dataclass
class Order:
    n: int


def _log(n: int, step: str) -> None:
    path = os.environ.get("CLUSTER_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{n} {step} {activity.info().attempt}\n")


@activity.defn
async def reserve(order: Order) -> int:
    _log(order.n, "reserve")
    return order.n % 7 + 1


@activity.defn
async def charge(order: Order) -> int:
    _log(order.n, "charge")
    return order.n * 3 + 11


@activity.defn
async def ship(order: Order) -> str:
    _log(order.n, "ship")
    return f"parcel-{order.n:05d}"


RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=1))


@workflow.defn(name="cluster_order")
async def cluster_order(ctx: workflow.Context, order: Order) -> dict[str, object]:
    timeout = timedelta(seconds=20)
    reserved = await ctx.execute_activity(reserve, order, start_to_close_timeout=timeout, retry_policy=RETRY)
    charged = await ctx.execute_activity(charge, order, start_to_close_timeout=timeout, retry_policy=RETRY)
    shipped = await ctx.execute_activity(ship, order, start_to_close_timeout=timeout, retry_policy=RETRY)
    return {"n": order.n, "reserved": reserved, "charged": charged, "shipped": shipped}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default="cluster-orders")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = await Client.connect(args.address, timeout=60)
    worker = Worker(client, task_queue=args.task_queue, workflows=[cluster_order], activities=[reserve, charge, ship])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except MainspringError as e:
        sys.exit(f"Error: {e}")
