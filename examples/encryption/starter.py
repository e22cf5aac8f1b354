"""Start the encryption example's workflow: `python examples/encryption/starter.py [--address HOST:PORT]`.

The order (with its card number) is encrypted before it leaves this process, and so is everything the
workflow and its activity send back; the client decrypts the result.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses

from codec import CompressThenEncrypt, EncryptionCodec
from workflows import TASK_QUEUE, EncryptedOrder, Order

import mainspring.converter
from mainspring import Client


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--address", default=None, help="server address (default: $MAINSPRING_ADDRESS or localhost:7233)"
    )
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--workflow-id", default="encryption-example")
    parser.add_argument("--compress", action="store_true", help="compress before encrypting (as worker.py --compress)")
    args = parser.parse_args()
    codec = CompressThenEncrypt() if args.compress else EncryptionCodec()
    converter = dataclasses.replace(mainspring.converter.default(), payload_codec=codec)
    async with await Client.connect(args.address, data_converter=converter) as client:
        handle = await client.start_workflow(
            EncryptedOrder.run,
            Order(customer="Ada", card_number="4111 1111 1111 1111"),
            id=args.workflow_id,
            task_queue=args.task_queue,
        )
        await handle.signal(EncryptedOrder.add_note, "leave it at the door")
        print(await handle.result())


if __name__ == "__main__":
    asyncio.run(main())
