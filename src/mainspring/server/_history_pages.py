"""Pages of history: bounded in events and in bytes, and read and converted off the event loop when large.

A workflow's history may hold hundreds of thousands of events. Nobody gets it in one piece: a workflow
task carries at most one page (its newest events) and the worker fetches the older ones a page at a
time (``get_workflow_task_history`` on its channel); the HTTP API and the web UI page the same way.
A page that is read and turned into JSON on the server's event loop stalls every other workflow
meanwhile, so pages are bounded, and the store read and the conversion of a large page run in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .._json import RawJSON, dumps
from .._time import rfc3339
from ..storage import HistoryEvent, Store
from ._core import event_json

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


def _page(rows: list[tuple[int, str, float, str]], budget: int) -> Page:
    # Built as text from the stored attributes: parsing each event and encoding it again cost twice as
    # much, and a page is read while other workflows wait for the same two cores.
    parts: list[str] = []
    used = 0
    last = 0
    for event_id, event_type, event_time, attributes in rows:
        text = (
            f'{{"event_id":{event_id},"event_time":"{rfc3339(event_time)}",'
            f'"event_type":"{event_type}","attributes":{attributes}}}'
        )
        used += len(text)
        if used > budget and parts:
            break
        parts.append(text)
        last = event_id
    return Page(RawJSON("[" + ",".join(parts) + "]"), len(parts), last)


async def read_page(
    store: Store, run_id: str, first: int, last: int, *, most: int = PAGE_EVENTS, budget: int = PAGE_BYTES
) -> Page:
    """Events ``first`` .. ``last`` of a run, cut at ``most`` events or ``budget`` bytes of JSON
    (whichever comes first, never less than one event if there is one)."""
    last = min(last, first + most - 1)
    if last < first:
        return Page(RawJSON("[]"), 0, 0)
    rows = await store.read_history_json(run_id, first, last)
    if len(rows) <= _OFF_LOOP:
        return _page(rows, budget)
    return await asyncio.to_thread(_page, rows, budget)
