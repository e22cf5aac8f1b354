"""A worker for the ``store copy`` tests: `python tests/workers/copy_worker.py --address HOST:PORT --task-queue Q`.

- ``copy_hello(name)`` runs the ``copy_greet`` activity and returns its ``"Hello, NAME!"``: it completes.
- ``copy_waiter(name)`` waits for a ``go`` signal (a string), then greets ``"NAME WORD"``: it stays open
  until signalled.
- ``copy_sleeper(seconds)`` sleeps that long on a durable timer, then returns ``"woke after N s"``.
- ``copy_slow(seconds)`` runs the ``copy_nap`` activity, which takes that long, and returns its answer:
  an activity in flight while its server stops.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import timedelta

from mainspring import Client, Worker, activity, workflow


@activity.defn(name="copy_greet")
async def copy_greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn(name="copy_nap")
async def copy_nap(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"napped {seconds:g} s"


@workflow.defn(name="copy_hello")
async def copy_hello(ctx: workflow.Context, name: str) -> str:
    return await ctx.execute_activity(copy_greet, name, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn(name="copy_waiter")
class CopyWaiter:
    def __init__(self) -> None:
        self.word: str | None = None

    @workflow.run
    async def run(self, ctx: workflow.Context, name: str) -> str:
        await ctx.wait_condition(lambda: self.word is not None)
        return await ctx.execute_activity(
            copy_greet, f"{name} {self.word}", start_to_close_timeout=timedelta(seconds=30)
        )

    @workflow.signal
    def go(self, word: str) -> None:
        self.word = word


@workflow.defn(name="copy_sleeper")
async def copy_sleeper(ctx: workflow.Context, seconds: float) -> str:
    await ctx.sleep(timedelta(seconds=seconds))
    return f"woke after {seconds:g} s"


@workflow.defn(name="copy_slow")
async def copy_slow(ctx: workflow.Context, seconds: float) -> str:
    return await ctx.execute_activity(copy_nap, seconds, start_to_close_timeout=timedelta(seconds=120))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default="copy-task-queue")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = await Client.connect(args.address)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=[copy_hello, CopyWaiter, copy_sleeper, copy_slow],
        activities=[copy_greet, copy_nap],
    )
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
