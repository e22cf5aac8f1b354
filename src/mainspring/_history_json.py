"""A page of history events as JSON text, built from the attributes as stored.

Shared by the server (small pages, on its event loop) and the store's page process (large ones, see
``storage._page_process``), which must build exactly the same text: a worker replays what it is sent,
and the event times it sees are the times its workflow code saw live.
"""

from __future__ import annotations

from ._time import rfc3339

__all__ = ["Row", "page_text"]

#: (event_id, event_type, event_time, attributes as stored JSON text)
Row = tuple[int, str, float, str]


def page_text(rows: list[Row], budget: int) -> tuple[str, int, int]:
    """(a JSON array of the events, how many it holds, the last one's id), cut once more than ``budget``
    bytes would be used (never fewer than one event, if there is one)."""
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
    return "[" + ",".join(parts) + "]", len(parts), last
