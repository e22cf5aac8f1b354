"""Workflows for the child-workflow UI test: `python tests/workers/children_worker.py [--address ...]`.

- ``family_parent`` (input: a name) runs two ``family_child`` children, ids ``<its id>-a`` and ``<its id>-b``,
  and returns their greetings.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from mainspring import Client, Worker, workflow

TASK_QUEUE = "children-task-queue"


@workflow.defn
async def family_child(ctx: workflow.Context, name: str) -> str:
    return f"hello, {name}"


@workflow.defn
async def family_parent(ctx: workflow.Context, name: str) -> list[str]:
    wid = ctx.info.workflow_id
    return [await ctx.execute_child_workflow(family_child, f"{name} {n}", id=f"{wid}-{n}") for n in ("a", "b")]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.task_queue, workflows=[family_parent, family_child])
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
