"""Start an order workflow from Python and wait for it: `python examples/order/starter.py [--order-id 1001]`."""

from __future__ import annotations

import argparse
import asyncio

from workflows import TASK_QUEUE, Order, order_workflow

from mainspring import Client


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--address", default=None, help="server address (default: $MAINSPRING_ADDRESS or localhost:7233)"
    )
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--order-id", default="1001")
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--workflow-id", default=None, help="default: order-ORDER_ID")
    args = parser.parse_args()
    async with await Client.connect(args.address, namespace=args.namespace) as client:
        # The input type (Order) and the result type (OrderResult) come from order_workflow's signature.
        result = await client.execute_workflow(
            order_workflow,
            Order(order_id=args.order_id, items=args.items),
            id=args.workflow_id or f"order-{args.order_id}",
            task_queue=args.task_queue,
        )
        print(f"order {result.order_id}: {' -> '.join(result.steps)}")


if __name__ == "__main__":
    asyncio.run(main())
