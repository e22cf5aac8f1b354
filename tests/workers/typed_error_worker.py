"""An activity worker whose activity raises an exception class only this process has:
`python tests/workers/typed_error_worker.py --address HOST:PORT --task-queue TQ`.

``raise_only_here`` raises ``OnlyHere(code=7)``, a class defined in this script (``__main__``): a workflow
worker in another process cannot have it, so the workflow sees ``ApplicationError(type="OnlyHere")``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from mainspring import Client, Worker, activity


class OnlyHere(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"only here, code {code}")
        self.code = code


@activity.defn
async def raise_only_here(key: str) -> str:
    raise OnlyHere(7)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="localhost:7233")
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = await Client.connect(args.address)
    await Worker(client, task_queue=args.task_queue, activities=[raise_only_here]).run()


if __name__ == "__main__":
    asyncio.run(main())
