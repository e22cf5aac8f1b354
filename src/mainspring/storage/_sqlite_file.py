"""The SQLite store's file: the store lock on it, the room it needs, its write-ahead log, its schema.

Everything here runs once, when the store opens (or closes): the hot path is in ``sqlite`` and
``_sqlite_writes``.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import sqlite3
import time
from importlib import resources

from ._base import StorageError, StoreOwnershipError

__all__ = [
    "HELD",
    "WAL_PAGES",
    "applied_versions",
    "check",
    "check_room",
    "free_bytes",
    "grow_wal",
    "in_use",
    "latest_schema_version",
    "migrate",
    "migrations",
    "release_file_lock",
    "rollback",
    "take_file_lock",
]

log = logging.getLogger("mainspring.storage.sqlite")

#: The write-ahead log is grown to about this many pages when the store opens (it is checkpointed
#: long before it grows past a few times that, then written again from the start). See ``grow_wal``
#: and ``_sqlite_checkpoint``.
WAL_PAGES = 1024


def migrations() -> list[tuple[int, str]]:
    out = []
    for entry in resources.files("mainspring.storage.migrations.sqlite").iterdir():
        name = entry.name
        if name.endswith(".sql"):
            out.append((int(name.split("_", 1)[0]), entry.read_text()))
    return sorted(out)


def latest_schema_version() -> int:
    """The newest schema version this build of Mainspring knows."""
    return migrations()[-1][0]


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction, keeping its error the one reported (SQLite may
    have rolled it back by itself: a disk-full error does)."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def free_bytes(folder: str) -> int:
    try:
        st = os.statvfs(folder)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


#: (device, inode) of every database file a store of this process holds open (see take_file_lock).
HELD: set[tuple[int, int]] = set()


def lock_holder(fd: int, real_path: str) -> str:
    """The pid holding the flock() on the file of ``fd``: from /proc/locks (Linux) whatever the name it
    was opened by, else from the note beside the file's real path; "unknown" if neither says."""
    st = os.fstat(fd)
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as f:
            for line in f:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 4242 00:2a:1234 0 EOF" ("->" marks a waiter, not a holder)
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
                    return fields[4]
    except OSError:
        pass
    try:
        with open(real_path + ".lock") as f:
            return f.read().strip() or "unknown"
    except OSError:
        return "unknown"


def take_file_lock(path: str, file: str) -> tuple[int, tuple[int, int]]:
    """Take the store lock on the database file at ``path`` (``file``: its real path), and return the
    locked descriptor and the file's (device, inode) for ``release_file_lock``.

    The store lock (see ``storage._base``): make sure no other server uses this database, however
    its path is spelled. Held from ``open`` to ``close``; this server then owns every run in it.

    SQLite happily lets two servers share a file: two engines on one store would hand out the same
    tasks twice, and two that reach it by different names (a hard link) keep separate write-ahead
    logs and corrupt it. So the lock is on the file itself: flock() on a descriptor of the database
    file locks its inode, whatever path led to it. The descriptor stays open until SQLite's
    connections are closed: closing any descriptor of a file drops every POSIX lock this process
    holds on it, and SQLite locks with POSIX locks (flock() locks are separate from those).
    """
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise StorageError(f"cannot open the database {path!r}: {e.strerror}") from None
    if st is not None and (st.st_dev, st.st_ino) in HELD:
        # Held by another store of this process: asking the kernel would need a descriptor whose
        # closing would drop that store's SQLite locks.
        raise in_use(path, str(os.getpid()))
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise StorageError(f"cannot open the database {path!r}: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = lock_holder(fd, file)
        os.close(fd)
        raise in_use(path, holder) from None
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    HELD.add(key)
    if st.st_nlink > 1:
        log.warning(
            "the database %s has %d names (hard links); always start the server with the same one: "
            "SQLite keeps its write-ahead log beside the name the file was opened by",
            file,
            st.st_nlink,
        )
    try:  # for the message a second server gives (see _lock_holder), nothing more
        with open(file + ".lock", "w") as f:
            f.write(str(os.getpid()))
    except OSError:
        pass
    return fd, key


def release_file_lock(fd: int, key: tuple[int, int]) -> None:
    """Drop the store lock (only once SQLite's connections to the file are closed: see take_file_lock)."""
    HELD.discard(key)
    os.close(fd)


def in_use(path: str, holder: str) -> StoreOwnershipError:
    return StoreOwnershipError(
        f"the database {path!r} is in use by another Mainspring server (pid {holder}); "
        "stop it or choose another --db-filename",
        holder=holder,
    )


def check_room(conn: sqlite3.Connection, file: str) -> None:
    """Refuse to open where the write-ahead log cannot be grown (see ``grow_wal``), saying so:
    otherwise that fails half-way with SQLite's "cannot rollback - no transaction is active"."""
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    try:
        wal = os.path.getsize(file + "-wal")
    except OSError:
        wal = 0
    if wal >= WAL_PAGES * page_size:
        return
    # The log's pages, then as many in the database file (the padding is checkpointed into it),
    # less the free pages it has (left by the padding of an earlier start), plus room for the rest.
    pages = WAL_PAGES * 21 // 20
    free_pages = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    need = pages * (page_size + 24) - wal + max(pages - free_pages, 0) * page_size + 256 * 1024
    folder = os.path.dirname(file)
    free = free_bytes(folder)
    if free < need:
        raise StorageError(
            f"the database needs ~{math.ceil(need / 2**20)} MiB free at {folder} ({free // 1024:,} KiB free): "
            "free some space or choose another --db-filename"
        )


def grow_wal(conn: sqlite3.Connection, file: str) -> None:
    """Grow the write-ahead log to its working size now, once, instead of commit by commit.

    SQLite deletes the log when the last connection closes, so every start began with an empty
    one, and each commit appended to it: a sync that changes a file's size also has the file system
    journal its metadata, which made commits here ~0.7 ms instead of ~0.3 ms until the log first
    reached its checkpoint size (all of a short run, and the first ~1,000 pages of writes after
    every restart). One throwaway transaction of that size, then a checkpoint that sends the next
    write back to the start of the log, leaves a log of that size whose pages are overwritten in
    place from then on. The database file keeps the pages as free pages, reused for real data.
    """
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'mainspring_wal_pad'").fetchone():
        conn.execute("DROP TABLE mainspring_wal_pad")  # left by a server killed between the two steps
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    try:
        size = os.path.getsize(file + "-wal")
    except OSError:
        size = 0
    if size >= WAL_PAGES * page_size:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE mainspring_wal_pad (v BLOB)")
        # One row per page, each as large as a page allows, so each fills a page of its own.
        conn.executemany(
            "INSERT INTO mainspring_wal_pad VALUES (zeroblob(?))", [(page_size // 2 - 64,)] * (2 * WAL_PAGES)
        )
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    conn.execute("DROP TABLE mainspring_wal_pad")
    conn.execute("PRAGMA wal_checkpoint(RESTART)")


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    """The schema versions recorded in the database (none for a new, empty one)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone():
        return set()
    return {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}


def _newer(applied: set[int], path: str) -> StorageError:
    return StorageError(
        f"the database {path!r} has schema version {max(applied)}, newer than this Mainspring "
        f"understands ({latest_schema_version()}); upgrade Mainspring"
    )


def check(conn: sqlite3.Connection, path: str) -> int:
    """The schema's version, when it is current; StorageError if it is behind (``store migrate``) or ahead.
    For a server started not to migrate: changing the schema is then an operator's deliberate step."""
    applied = applied_versions(conn)
    latest = latest_schema_version()
    if applied and max(applied) > latest:
        raise _newer(applied, path)
    # Every version this build has, not only the newest: numbers may have gaps that a later build fills.
    if not applied or any(v not in applied for v, _ in migrations()):
        raise StorageError(
            f"the database {path!r} has schema version {max(applied, default=0)}, this Mainspring needs {latest}: "
            f"run `mainspring store migrate --db {path}`"
        )
    return latest


def migrate(conn: sqlite3.Connection, path: str) -> tuple[int, ...]:
    """Bring the schema to the newest version, one numbered migration per transaction; the versions applied."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    applied = applied_versions(conn)
    known = migrations()
    if applied and max(applied) > known[-1][0]:
        raise _newer(applied, path)
    done: list[int] = []
    for version, sql in known:
        if version in applied:
            continue
        log.info("applying schema migration %d", version)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in sql.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        done.append(version)
    return tuple(done)
