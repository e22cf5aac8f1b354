"""A class workflow for the web UI's message tests: `python tests/workers/messages_worker.py [--address ...]`.

``ui_inbox`` collects notes sent as ``add`` signals (payload ``{"text": str, "priority": int}``, ``text``
required), and as signals of any other name (its dynamic handler notes ``"NAME: PAYLOAD"``), until a ``close``
signal (no payload), then returns the notes' texts in the order they came. Its queries: ``count`` (no
payload), ``notes`` (a prefix string: the texts that start with it) and ``peek`` (an index: that note's text;
an index past the end fails the query with an ``IndexError``). Its updates: ``pin`` (a note, as ``add``; its
validator rejects a blank text or a negative priority; answers ``{"pinned": text, "count": n}``), ``unpin``
(an index: removes that note and answers its text; an index past the end fails the handler with an
``ApplicationError``), ``await_note`` (a text: answers the number of notes once a note of that text came)
and a dynamic one (any other name: notes ``"NAME: PAYLOAD"`` and answers that text).
``ui_bell`` is a class workflow with one signal (``ring``, which ends it) and no update handlers.
``ui_plain`` is a function workflow (it announces no handlers) that sleeps for the seconds it is given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from mainspring import ApplicationError, Client, Worker, workflow

TASK_QUEUE = "ui-messages-queue"


@dataclass
class Note:
    text: str
    priority: int = 0


@dataclass
class Pinned:
    pinned: str
    count: int


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

    @workflow.update
    def pin(self, note: Note) -> Pinned:
        self.notes.append(note)
        return Pinned(note.text, len(self.notes))

    @pin.validator
    def _check_pin(self, note: Note) -> None:
        if not note.text.strip():
            raise ValueError("a pinned note needs some text")
        if note.priority < 0:
            raise ValueError(f"priority must be 0 or more, got {note.priority}")

    @workflow.update
    def unpin(self, index: int) -> str:
        if not 0 <= index < len(self.notes):
            # An ApplicationError fails the update (any other exception would fail the workflow task).
            raise ApplicationError(f"no note at index {index} (there are {len(self.notes)})", type="NoSuchNote")
        return self.notes.pop(index).text

    @workflow.update
    async def await_note(self, ctx: workflow.Context, text: str) -> int:
        await ctx.wait_condition(lambda: any(n.text == text for n in self.notes))
        return len(self.notes)

    @workflow.update(dynamic=True)
    def other_update(self, name: str, payload: object) -> str:
        text = f"{name}: {payload}"
        self.notes.append(Note(text))
        return text


@workflow.defn(name="ui_bell")
class Bell:
    def __init__(self) -> None:
        self.rung = False

    @workflow.run
    async def run(self, ctx: workflow.Context) -> str:
        await ctx.wait_condition(lambda: self.rung, timeout=timedelta(minutes=30))
        return "rung"

    @workflow.signal
    def ring(self) -> None:
        self.rung = True


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
    worker = Worker(client, task_queue=args.task_queue, workflows=[Inbox, Bell, plain])
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
