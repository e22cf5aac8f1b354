"""The program of the SQLite store's page process (``storage._page_process``): it reads the requests on
its stdin and writes the pages on its stdout, until its stdin closes.

A module of its own, outside ``mainspring.storage``: importing that package (the store, its models)
took 0.3 s and 26 MB; this imports only what a page needs.

Protocol, one request at a time, answered in order:

    request   one line of JSON: [run_id, first_event_id, last_event_id, budget]
    answer    one line of JSON: {"count": n, "last": id, "size": bytes}, then ``size`` bytes of the
              page's text (UTF-8); or {"error": "damaged" | "sqlite", "message": ...} alone.

Its stdin closes when the store ends it, and when the server dies however it died (the kernel closes
a dead process's pipes): so it never outlives the server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import sys
from typing import BinaryIO

from ._history_json import page_text
from ._json import dumps, loads
from .api.enums import EventType

__all__ = ["main"]

_EVENT_TYPES = frozenset(t.value for t in EventType)
_SELECT = (
    "SELECT event_id, event_type, event_time, attributes FROM history "
    "WHERE run_id=? AND event_id>=? AND event_id<=? ORDER BY event_id"
)


def _page(conn: sqlite3.Connection, run_id: str, first: int, last: int, budget: int) -> tuple[str, int, int]:
    """The page's text. ValueError if a stored event is damaged."""
    rows = conn.execute(_SELECT, (run_id, first, last)).fetchall()
    for r in rows:
        # Checked, not kept: the text goes out as it is, and a damaged row must not make an answer
        # that is not JSON.
        loads(r[3])
        if r[1] not in _EVENT_TYPES:
            raise ValueError(f"unknown event type {r[1]!r}")
    return page_text(rows, budget)


def serve(path: str, requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer ``requests`` until they end."""
    conn: sqlite3.Connection | None = None
    for line in requests:
        run_id, first, last, budget = loads(line)
        data = b""
        try:
            if conn is None:
                conn = sqlite3.connect(path, check_same_thread=False)
                conn.execute("PRAGMA query_only=ON")
            text, count, last_id = _page(conn, run_id, first, last, budget)
        except ValueError as e:
            head: dict[str, object] = {"error": "damaged", "message": str(e)}
        except sqlite3.Error as e:
            head = {"error": "sqlite", "message": str(e)}
        else:
            data = text.encode()
            head = {"count": count, "last": last_id, "size": len(data)}
        answers.write(dumps(head) + b"\n")
        answers.write(data)
        answers.flush()


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the server stops on it and closes this
    # process's stdin; a KeyboardInterrupt here would only print a traceback meanwhile.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Bulk work yields the CPU to the engine: on a machine of a few cores a page built a little later is a
    # read that takes a little longer, while the server's loop (and the workers beside it) kept waiting for
    # a core is every workflow's step slower.
    with contextlib.suppress(OSError, AttributeError):  # (no os.nice on Windows)
        os.nice(10)
    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
