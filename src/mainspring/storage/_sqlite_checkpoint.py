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

from .._repeats import RepeatedLog
from ._sqlite_file import WAL_PAGES

__all__ = ["WRITER_FALLBACK_PAGES", "Checkpointer"]

log = logging.getLogger("mainspring.storage.sqlite")
_repeats = RepeatedLog(log)

#: The writer's own ``wal_autocheckpoint``: a safety net only.
WRITER_FALLBACK_PAGES = 4 * WAL_PAGES
#: After a commit, the checkpoint waits this long for the commits that follow, so that a run of small
#: commits costs one checkpoint (and one sync of the database file), not one each: the long wait
#: while the log holds little, the short one once the last checkpoint found at least _BIG frames
#: in it (large payloads: copy them soon, a little at a time, rather than many megabytes at once).
_GATHER_SMALL = 0.2
_GATHER_BIG = 0.02
_BIG = WAL_PAGES // 4


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
        gather = _GATHER_SMALL
        try:
            while True:
                self._due.wait()
                if self._stopping.wait(gather):
                    return
                self._due.clear()
                try:
                    # (busy, frames in the log, frames copied into the file so far)
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    gather = _GATHER_BIG if frames >= _BIG else _GATHER_SMALL
                except sqlite3.Error as e:
                    # Nothing is lost (the log holds it all) and the writer's fallback bounds the log.
                    _repeats.warning("checkpoint", "a checkpoint of the write-ahead log failed: %s", e)
        finally:
            conn.close()
