"""A class workflow with queries, for tests/test_queries.py: `python tests/workers/query_worker.py --address A
--task-queue Q [--max-cached N]` runs a worker of it (a fresh process: nothing of a run in its cache).

``Tracker`` (input: how many items it waits for) collects the items signalled to it; its queries read them,
and two of them break the rules (they try to start a timer, or a task), which a worker must refuse.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from mainspring import Client, Worker, workflow


@dataclass
class Progress:
    count: int
    items: list[str]


@dataclass
class Lookup:
    item: str
    at_least: int = 1


@workflow.defn(name="QueryTracker")
class Tracker:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.finish = False
        self.ctx: workflow.Context | None = None
        self.background: asyncio.Future[None] | None = None

    @workflow.run
    async def run(self, ctx: workflow.Context, until: int) -> list[str]:
        self.ctx = ctx
        await ctx.wait_condition(lambda: self.finish or len(self.items) >= until)
        return self.items

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def done(self) -> None:
        self.finish = True

    @workflow.query
    def progress(self) -> Progress:
        return Progress(len(self.items), list(self.items))

    @workflow.query
    def has(self, lookup: Lookup) -> bool:
        return self.items.count(lookup.item) >= lookup.at_least

    @workflow.query
    def big(self, size: int) -> str:
        return "x" * size

    @workflow.query
    def sneaky_timer(self) -> int:
        # A durable timer: a command, which a query may not issue.
        asyncio.get_running_loop().call_later(30, lambda: None)
        return 1

    @workflow.query
    def sneaky_sleep(self) -> int:
        # Workflow code started in the background (it would sleep, a timer): refused too.
        assert self.ctx is not None
        self.background = asyncio.ensure_future(self.ctx.sleep(timedelta(seconds=30)))
        return 2


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--max-cached", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.task_queue, workflows=[Tracker], max_cached_workflows=args.max_cached)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
