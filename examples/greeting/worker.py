"""Run the greeting example's worker: `python examples/greeting/worker.py [--address HOST:PORT]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from workflows import TASK_QUEUE, GreetingWorkflow, call_greeting_service

from mainspring import Client, MainspringError, Worker


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--address", default=None, help="server address (default: $MAINSPRING_ADDRESS or localhost:7233)"
    )
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = await Client.connect(args.address, namespace=args.namespace)
    worker = Worker(
        client, task_queue=args.task_queue, workflows=[GreetingWorkflow], activities=[call_greeting_service]
    )
    await worker.run()
    await client.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except MainspringError as e:  # said already in the log; no traceback for a server that is not there
        sys.exit(f"Error: {e}")
