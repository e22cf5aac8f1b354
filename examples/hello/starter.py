"""Start the hello workflow from Python, type-checked end to end: `python examples/hello/starter.py`."""

from __future__ import annotations

import argparse
import asyncio

from workflows import TASK_QUEUE, WorkflowInput, sdk_example_workflow

from mainspring import Client


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--address", default=None, help="server address (default: $MAINSPRING_ADDRESS or localhost:7233)"
    )
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--workflow-id", default="example_id")
    args = parser.parse_args()
    async with await Client.connect(args.address, namespace=args.namespace) as client:
        # The input type and the result type come from sdk_example_workflow's signature.
        result = await client.execute_workflow(
            sdk_example_workflow,
            WorkflowInput(code="python", kind="typesafe"),
            id=args.workflow_id,
            task_queue=args.task_queue,
        )
        print(result.platform, result.features)


if __name__ == "__main__":
    asyncio.run(main())
