"""The SQLite store's checkpointer: copies the write-ahead log into the database file in a thread of
its own, so that no commit waits for it.

Left to SQLite, the connection whose commit takes the log past 1,000 pages copies them into the
database file and syncs it, inside that commit. A step of a workflow then waited for a checkpoint
about once every 4 MB written: with 1 MB payloads (stored four times per workflow, as its history
needs) that was nearly every workflow, and the checkpoint (writing ~4 MB again and syncing the file)
cost as much as the step's own commits. Here a thread does it shortly after the writes, on a
connection of its own; a PASSIVE checkpoint never blocks the writer, which keeps appending to the log
meanwhile. The writer still checkpoints by itself past ``WRITER_FALLBACK_PAGES`` (the thread fell
behind, or readers held the log), so the log stays bounded however the thread fares.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from .._repeats import RepeatedLog
from ._sqlite_file import WAL_PAGES

__all__ = ["WRITER_FALLBACK_PAGES", "Checkpointer"]

log = logging.getLogger("mainspring.storage.sqlite")
_repeats = RepeatedLog(log)

#: The writer's own ``wal_autocheckpoint``: a safety net only.
WRITER_FALLBACK_PAGES = 4 * WAL_PAGES
#: After a commit, the checkpoint waits for the commits that follow, so that a run of small commits
#: costs one checkpoint (and one sync of the database file), not one each: long enough for about
#: _EVERY_FRAMES new frames at the rate the last checkpoints found them, at most _GATHER_MAX. Large
#: payloads are so copied soon after their commit, which leaves the log fully copied before the next
#: commit begins, so that one starts the log again from its beginning (a log that never got fully
#: copied between two commits would only grow, to the writer's fallback).
_EVERY_FRAMES = WAL_PAGES // 4
_GATHER_MAX = 0.2
#: After a checkpoint that found the writer checkpointing (its fallback), the next one is tried this soon.
_RETRY = 0.005


class Checkpointer:
    """Checkpoints the log of the database ``file`` shortly after each commit (``written``)."""

    def __init__(self, file: str, synchronous: str) -> None:
        self._file = file
        self._synchronous = synchronous
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Opened here, not in the thread: an error (a locked file, say) is the caller's at once.
        conn = sqlite3.connect(self._file, isolation_level=None, check_same_thread=False, timeout=30)
        # The database file is synced before the log's frames are reused, as the writer's would be.
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="mainspring-sqlite-checkpointer", daemon=True
        )
        self._thread.start()

    def written(self) -> None:
        """A commit appended to the log (called by the writer; cheap)."""
        self._due.set()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._due.set()
        self._thread.join()
        self._thread = None

    def _run(self, conn: sqlite3.Connection) -> None:
        gather = _GATHER_MAX
        last = time.monotonic()
        last_frames = 0
        try:
            while True:
                self._due.wait()
                if self._stopping.wait(gather):
                    return
                self._due.clear()
                if self._stopping.is_set():
                    # stop() came between the wait and the clear: the clear took its wake-up, and
                    # the next wait would never end (stop() then hung joining this thread).
                    return
                try:
                    # (busy, frames in the log, frames copied into the file): the log starts again
                    # from its beginning once every frame was copied, so a count lower than the last
                    # one is a new log.
                    busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as e:
                    # Nothing is lost (the log holds it all) and the writer's fallback bounds the log.
                    _repeats.warning("checkpoint", "a checkpoint of the write-ahead log failed: %s", e)
                    gather = _GATHER_MAX
                    continue
                now = time.monotonic()
                if busy:
                    gather = _RETRY
                    continue
                new = frames - last_frames if frames >= last_frames else frames
                rate = new / max(now - last, 0.001)
                if new >= _EVERY_FRAMES:
                    gather = 0.0  # large writes: copy the next as soon as it is committed
                else:
                    gather = min(_GATHER_MAX, _EVERY_FRAMES / rate) if rate > 0 else _GATHER_MAX
                last, last_frames = now, frames
        finally:
            conn.close()
