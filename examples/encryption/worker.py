"""Run the encryption example's worker: `python examples/encryption/worker.py [--address HOST:PORT]`.

Its client encrypts every payload it sends and decrypts every one it receives (``codec.EncryptionCodec``),
with the key in ``$MAINSPRING_ENCRYPTION_KEY``: the server stores ciphertext only. ``--no-codec`` runs it
without the codec (to see the clear error a worker without the key gives).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

from codec import CompressThenEncrypt, EncryptionCodec
from workflows import TASK_QUEUE, EncryptedOrder, charge

import mainspring.converter
from mainspring import Client, MainspringError, Worker


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--address", default=None, help="server address (default: $MAINSPRING_ADDRESS or localhost:7233)"
    )
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument(
        "--compress", action="store_true", help="compress before encrypting (give the starter --compress too)"
    )
    parser.add_argument("--no-codec", action="store_true", help="run without the codec (the tasks fail)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    codec = CompressThenEncrypt() if args.compress else EncryptionCodec()
    converter = dataclasses.replace(mainspring.converter.default(), payload_codec=codec)
    if args.no_codec:
        converter = mainspring.converter.default()
    client = await Client.connect(args.address, namespace=args.namespace, data_converter=converter)
    worker = Worker(client, task_queue=args.task_queue, workflows=[EncryptedOrder], activities=[charge])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except MainspringError as e:
        sys.exit(f"Error: {e}")
