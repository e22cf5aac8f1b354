"""Pages of history: bounded in events and in bytes, and read and converted off the event loop when large.

A workflow's history may hold hundreds of thousands of events. Nobody gets it in one piece: a workflow
task carries at most one page (its newest events) and the worker fetches the older ones a page at a
time (``get_workflow_task_history`` on its channel); the HTTP API and the web UI page the same way.
A page that is read and turned into JSON on the server's event loop stalls every other workflow
meanwhile, so pages are bounded, and a large page is read and built away from the loop
(``Store.read_history_page``: the SQLite store does it in a process of its own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .._history_json import page_text
from .._json import RawJSON, dumps
from ..storage import HistoryEvent, Store
from ._execution import event_json

__all__ = ["PAGE_BYTES", "PAGE_EVENTS", "Page", "newest_json", "read_page"]

#: Most events in one page (a workflow task's history, a page of the history API). A page of
#: 1,000 ordinary events is ~200 KB of JSON, a few milliseconds to build: small enough not to
#: delay other work, large enough that paging costs little next to replaying what it brings.
PAGE_EVENTS = 1000
#: Most bytes of event JSON in one page (about): payloads of up to 2 MB each would otherwise make a
#: page of 1,000 events a 2 GB message. A page always holds at least one event, however large.
PAGE_BYTES = 4 * 1024 * 1024
#: Pages of more events than this are converted to JSON in a thread, not on the event loop. Below it
#: the hop to a thread and back (~50-100 us) costs more than the conversion (~1-2 us an event), and
#: the common small workflow (a first task of 3 events) must not pay for long histories.
_OFF_LOOP = 100


def _size(event: dict[str, Any]) -> int:
    return len(dumps(event["attributes"])) + 100  # 100: the event's other fields, about


def _newest_first(events: Sequence[HistoryEvent], budget: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    used = 0
    for e in reversed(events):
        j = event_json(e)
        used += _size(j)
        if used > budget and out:
            break
        out.append(j)
    out.reverse()
    return out


async def newest_json(events: Sequence[HistoryEvent], budget: int = PAGE_BYTES) -> list[dict[str, Any]]:
    """The newest of ``events`` (at most their whole) that fit in ``budget`` bytes of JSON, oldest first."""
    if len(events) <= _OFF_LOOP:
        return _newest_first(events, budget)
    return await asyncio.to_thread(_newest_first, events, budget)


class Page:
    """Events as one JSON array, ready to send (``RawJSON``), with how many and the last one's id."""

    __slots__ = ("count", "events", "last_event_id")

    def __init__(self, events: RawJSON, count: int, last_event_id: int) -> None:
        self.events = events
        self.count = count
        self.last_event_id = last_event_id


async def read_page(
    store: Store, run_id: str, first: int, last: int, *, most: int = PAGE_EVENTS, budget: int = PAGE_BYTES
) -> Page:
    """Events ``first`` .. ``last`` of a run, cut at ``most`` events or ``budget`` bytes of JSON
    (whichever comes first, never less than one event if there is one)."""
    last = min(last, first + most - 1)
    if last < first:
        return Page(RawJSON("[]"), 0, 0)
    if last - first < _OFF_LOOP:
        text, count, last_id = page_text(await store.read_history_json(run_id, first, last), budget)
    else:  # built away from the event loop (by the SQLite store, in a process of its own)
        text, count, last_id = await store.read_history_page(run_id, first, last, budget)
    return Page(RawJSON(text), count, last_id)
