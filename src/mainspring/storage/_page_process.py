"""Large history pages, read and built in a process of the SQLite store's own.

A page of 1,000 events is ~1-2 us of Python an event to check and write as JSON. In a thread, that work
still holds the interpreter's lock, and the server's event loop, which gives the lock up at every
system call, waits for it each time behind the thread (up to the 5 ms switch interval): a fresh worker
fetching a 300,000-event history page by page slowed every other workflow's steps. In a process of its
own, the page costs the server one pickled string.

The process is started the first time a large page is asked for ("spawn": nothing of the server is
copied into it), opens the database as a second reader (as a thread's connection would be), and ends
with the store, or within a second of the server if the server is killed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .._history_json import page_text
from .._json import loads
from ..api.enums import EventType
from ._base import StorageError

__all__ = ["PageProcess"]

_EVENT_TYPES = frozenset(t.value for t in EventType)
_SELECT = (
    "SELECT event_id, event_type, event_time, attributes FROM history "
    "WHERE run_id=? AND event_id>=? AND event_id<=? ORDER BY event_id"
)

# In the page process: its connection, kept between pages.
_conn: sqlite3.Connection | None = None


def _watch_parent(parent: int) -> None:
    """Run in the page process at its start: end it once the server is gone, however it went (a
    SIGKILLed server closes no pipe this process waits on: it holds both ends of its queue itself)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="mainspring-page-parent", daemon=True).start()


def _page(path: str, run_id: str, first: int, last: int, budget: int) -> tuple[str, int, int]:
    """Run in the page process: the page's text. ValueError if a stored event is damaged."""
    global _conn
    if _conn is None:
        _conn = sqlite3.connect(path, check_same_thread=False)
        _conn.execute("PRAGMA query_only=ON")
    rows = _conn.execute(_SELECT, (run_id, first, last)).fetchall()
    for r in rows:
        # Checked, not kept: the text goes out as it is, and a damaged row must not make an answer
        # that is not JSON.
        loads(r[3])
        if r[1] not in _EVENT_TYPES:
            raise ValueError(f"unknown event type {r[1]!r}")
    return page_text(rows, budget)


class PageProcess:
    """The process that builds one SQLite database's large history pages."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool: ProcessPoolExecutor | None = None

    async def page(self, run_id: str, first: int, last: int, budget: int) -> tuple[str, int, int]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _page, self.path, run_id, first, last, budget)
        except ValueError as e:
            raise StorageError(f"the history of run {run_id} cannot be read: a stored event is damaged ({e})") from e
        except BrokenProcessPool as e:
            # The process died (killed, out of memory): the next page starts another one.
            if self._pool is pool:
                self._pool = None
            raise StorageError(f"the history of run {run_id} could not be read: its page process ended") from e
        except sqlite3.Error as e:
            raise StorageError(f"the history of run {run_id} could not be read: {e}") from e

    async def aclose(self) -> None:
        """End the process, and wait until it has."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    def close(self) -> None:
        """End the process without waiting for it (it exits once it reads that it is to)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
