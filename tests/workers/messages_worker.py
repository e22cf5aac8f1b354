"""A class workflow for the web UI's message tests: `python tests/workers/messages_worker.py [--address ...]`.

``ui_inbox`` collects notes sent as ``add`` signals (payload ``{"text": str, "priority": int}``, ``text``
required), and as signals of any other name (its dynamic handler notes ``"NAME: PAYLOAD"``), until a ``close``
signal (no payload), then returns the notes' texts in the order they came. Its queries: ``count`` (no
payload), ``notes`` (a prefix string: the texts that start with it) and ``peek`` (an index: that note's text;
an index past the end fails the query with an ``IndexError``).
``ui_plain`` is a function workflow (it announces no handlers) that sleeps for the seconds it is given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from mainspring import Client, Worker, workflow

TASK_QUEUE = "ui-messages-queue"


@dataclass
class Note:
    text: str
    priority: int = 0


@workflow.defn(name="ui_inbox")
class Inbox:
    def __init__(self) -> None:
        self.notes: list[Note] = []
        self.closed = False

    @workflow.run
    async def run(self, ctx: workflow.Context) -> list[str]:
        await ctx.wait_condition(lambda: self.closed, timeout=timedelta(minutes=30))
        return [n.text for n in self.notes]

    @workflow.signal
    def add(self, note: Note) -> None:
        self.notes.append(note)

    @workflow.signal(name="close")
    def close(self) -> None:
        self.closed = True

    @workflow.signal(dynamic=True)
    def other(self, name: str, payload: object) -> None:
        self.notes.append(Note(f"{name}: {payload}"))

    @workflow.query
    def count(self) -> int:
        return len(self.notes)

    @workflow.query(name="notes")
    def notes_starting(self, prefix: str) -> list[str]:
        return [n.text for n in self.notes if n.text.startswith(prefix)]

    @workflow.query
    def peek(self, index: int) -> str:
        return self.notes[index].text


@workflow.defn(name="ui_plain")
async def plain(ctx: workflow.Context, seconds: float) -> str:
    await ctx.sleep(timedelta(seconds=seconds))
    return "slept"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = await Client.connect(args.address)
    worker = Worker(client, task_queue=args.task_queue, workflows=[Inbox, plain])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
