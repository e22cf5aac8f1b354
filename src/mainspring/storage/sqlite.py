"""The SQLite store: the embedded, zero-set-up default.

Durability: WAL journal with ``synchronous=FULL``, so a transition is on disk before it is
acknowledged. Throughput: one writer thread applies every queued transition in one transaction and
one fsync (group commit); each transition runs in its own savepoint so one refused write does not
fail its neighbours, while a transaction that fails (disk full, I/O error) fails every write in it:
nothing is reported written that is not. Reads use a second connection on the caller's thread; WAL
lets them run while the writer commits. A third thread copies the log into the database file
(checkpoints), so that no commit waits for that.

The database file's own concerns (the store lock, the room it needs, its write-ahead log, migrations)
are in ``_sqlite_file``; the checkpoints in ``_sqlite_checkpoint``; the statements that turn a write
into rows, in ``_sqlite_writes``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._json import dumps_str, loads
from .._repeats import RepeatedLog
from ..api.enums import EventType, WorkflowStatus
from . import _sqlite_copy
from ._base import (
    AuditEntry,
    ExecutionRecord,
    ExecutionWrite,
    HistoryEvent,
    ListQuery,
    NamespaceRecord,
    PendingItem,
    StorageError,
    Store,
    StoreCounts,
    StoredApiKey,
    StoredBatchJob,
    StoredBuild,
    StoredEvent,
    StoredKey,
    StoredRun,
    StoredSchedule,
    StoredSchema,
    StoredUiSession,
)
from ._batch_sql import BATCH_COLUMNS, BATCH_SET, batch_where
from ._page_process import PageProcess
from ._sqlite_checkpoint import WRITER_FALLBACK_PAGES, Checkpointer
from ._sqlite_file import (
    check,
    check_room,
    free_bytes,
    grow_wal,
    latest_schema_version,
    migrate,
    release_file_lock,
    rollback,
    take_file_lock,
)
from ._sqlite_writes import EXEC_COLUMNS, delete_run, write_creates_together, write_one, write_updates_together
from ._visibility_sql import SQLITE, count_rows, count_sql, list_sql, next_page_token

if TYPE_CHECKING:
    from .._visibility._ast import VisibilityQuery

__all__ = ["SQLiteStore", "latest_schema_version"]

_SCHEDULE_COLUMNS = "namespace, schedule_id, body, version"
_AUDIT_COLUMNS = "at, namespace, principal, method, operation, target, peer, status, request_id, seq"
_API_KEY_COLUMNS = "key_id, name, namespace, role, secret_hash, created_at, created_by, revoked_at"
_UI_SESSION_COLUMNS = "session_hash, principal, grants, method, key_id, csrf_token, created_at, expires_at"

log = logging.getLogger(__name__)
_repeats = RepeatedLog(log)

_MAX_BATCH = 512
T = TypeVar("T")
_dumps = dumps_str
_loads = loads


def _row_to_record(
    row: tuple[Any, ...], state: str | None, items: list[tuple[str, str, str]] | None = None
) -> ExecutionRecord:
    parsed: Any = {}
    unreadable = None
    pending: list[PendingItem] = []
    if state:
        try:
            parsed = _loads(state)
        except ValueError as e:  # a damaged row: one run set aside, not a failed read (or start-up)
            parsed, unreadable = {}, f"it is not valid JSON ({e})"
    for kind, key, value in items or ():
        try:
            pending.append(PendingItem(kind, key, _loads(value)))
        except ValueError as e:
            what = {"a": "activity", "t": "timer"}.get(kind, f"item of kind {kind!r}")
            parsed, pending, unreadable = {}, [], f"its pending {what} {key!r} is not valid JSON ({e})"
            break
    return ExecutionRecord(
        namespace=row[0],
        workflow_id=row[1],
        run_id=row[2],
        workflow_type=row[3],
        task_queue=row[4],
        status=WorkflowStatus(row[5]),
        start_time=row[6],
        close_time=row[7],
        next_event_id=row[8],
        version=row[9],
        request_id=row[10],
        state=parsed,
        pending=pending,
        unreadable=unreadable,
    )


_Op = ExecutionWrite | Callable[[sqlite3.Connection], Any]


#: A change that comes at least this long after the previous one may be written without the
#: writer thread (see ``SQLiteStore._submit``).
_QUIET = 0.001
#: History reads of more events than this run in a thread (see read_history); smaller ones, such as
#: the few new events of a workflow task, are quicker read inline than handed to a thread and back.
_INLINE_EVENTS = 128
#: Event types by their stored name: a dict lookup, where ``EventType(name)`` took a fifth of a long read.
_EVENT_TYPES = {t.value: t for t in EventType}


class _Pending:
    __slots__ = ("error", "future", "loop", "op", "result")

    def __init__(self, op: _Op, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]):
        self.op = op
        self.loop = loop
        self.future = future
        self.result: Any = None
        self.error: BaseException | None = None


def _refused_alone(conn: sqlite3.Connection, e: Exception) -> bool:
    """True if ``e`` refuses one write and leaves its transaction as it was: the write's own condition
    did not hold (a stale version, a running workflow id, a constraint), or its code raised. Anything
    else the database raises (disk full, I/O error, ...) may have rolled back the whole transaction
    by itself, after which each statement would commit on its own: the batch has to fail as one."""
    # ConditionFailedError and ExecutionAlreadyRunningError are not sqlite3 errors.
    return conn.in_transaction and (isinstance(e, sqlite3.IntegrityError) or not isinstance(e, sqlite3.Error))


def _writes(batch: list[_Pending]) -> list[ExecutionWrite]:
    return [op for p in batch if isinstance(op := p.op, ExecutionWrite)]


def _settle(batch: list[_Pending]) -> None:
    for p in batch:
        if p.future.done():
            continue
        if p.error is None:
            p.future.set_result(p.result)
        else:
            p.future.set_exception(p.error)


class SQLiteStore(Store):
    """Store backed by one SQLite file (or an in-memory database with ``path=":memory:"``)."""

    def __init__(self, path: str, *, synchronous: str = "FULL", migrate: bool = True) -> None:
        self.path = path
        #: Bring the schema up to date at ``open`` (else refuse one that is behind: ``store migrate``).
        self.migrate = migrate
        #: The schema's version once open, and the migrations this ``open`` applied.
        self.schema_version = 0
        self.migrations_applied: tuple[int, ...] = ()
        self.memory = path == ":memory:"
        #: The file SQLite opens: the real path, so that however the database is named (a symlink, a
        #: relative path), its write-ahead log is always the one beside the file itself.
        self._file = path if self.memory else os.path.realpath(path)
        self.synchronous = synchronous
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        #: Reads long histories in threads (see read_history), one at a time; opened on first use.
        self._bulk_reader: sqlite3.Connection | None = None
        #: Builds large history pages (read_history_page), once one is asked for.
        self._pages: PageProcess | None = None
        self._bulk_lock = threading.Lock()
        # In-memory databases share one connection between the writer thread and readers.
        self._shared_lock = threading.Lock() if self.memory else None
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        #: Held by whoever is writing with the writer connection: the writer thread, or a caller that
        #: found it idle and writes its one change itself (see ``_submit``).
        self._writing = threading.Lock()
        self._last_submit = 0.0
        #: Failed transactions and the changes lost with them since the last one that went through,
        #: and when the first of them failed (for the log: see _commit_batch).
        self._failed = (0, 0, 0.0)
        #: A descriptor of the database file, flock()ed for the store's whole life (see _sqlite_file.take_file_lock).
        self._lock_fd: int | None = None
        self._lock_key: tuple[int, int] | None = None
        #: Checkpoints the write-ahead log off the writer's path (a file's store only).
        self._checkpointer: Checkpointer | None = None

    @property
    def description(self) -> str:
        return "in memory (nothing is kept after the server stops)" if self.memory else self._file

    # --- lifecycle ------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.memory:
            conn = sqlite3.connect(
                f"file:mainspring-{uuid.uuid4().hex}?mode=memory&cache=shared",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            conn = sqlite3.connect(self._file, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages: the hot part of a large store
        return conn

    async def open(self) -> None:
        if not self.memory:
            directory = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(directory):
                raise StorageError(f"cannot create the database {self.path!r}: folder {directory!r} does not exist")
            self._lock_fd, self._lock_key = take_file_lock(self.path, self._file)
        try:
            self._writer = self._connect()
            self._reader = self._writer if self.memory else self._connect()
            if not self.memory:
                check_room(self._writer, self._file)
            if self.migrate:
                self.migrations_applied = migrate(self._writer, self.path)
                self.schema_version = latest_schema_version()
            else:
                self.schema_version = check(self._writer, self.path)
            if not self.memory:
                grow_wal(self._writer, self._file)
                # From now on the checkpointer thread copies the log into the file; a commit does it
                # only if the log grew this long regardless (see _sqlite_checkpoint).
                self._writer.execute(f"PRAGMA wal_autocheckpoint={WRITER_FALLBACK_PAGES}")
                self._checkpointer = Checkpointer(self._file, self.synchronous)
                self._checkpointer.start()
        except sqlite3.Error as e:
            self._release()
            raise StorageError(self._open_failed(e)) from e
        except BaseException:
            self._release()
            raise
        self._thread = threading.Thread(target=self._write_loop, name="mainspring-sqlite-writer", daemon=True)
        self._thread.start()

    def _open_failed(self, e: sqlite3.Error) -> str:
        message = f"cannot open the database {self.path!r}: {e}"
        if isinstance(e, sqlite3.OperationalError) and ("full" in str(e) or "I/O" in str(e)):
            folder = os.path.dirname(self._file)
            free = free_bytes(folder) // 1024
            message += f" ({free:,} KiB free at {folder}): free some space or choose another --db-filename"
        return message

    def _release(self) -> None:
        if self._pages is not None:
            self._pages.close()
            self._pages = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._bulk_lock:
            if self._bulk_reader is not None:
                self._bulk_reader.close()
                self._bulk_reader = None
        for conn in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
            conn.close()
        self._reader = self._writer = None
        # Only now that SQLite's connections are closed (see _sqlite_file.take_file_lock).
        if self._lock_fd is not None and self._lock_key is not None:
            release_file_lock(self._lock_fd, self._lock_key)
            self._lock_fd = self._lock_key = None

    async def close(self) -> None:
        if self._pages is not None:
            await self._pages.aclose()
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None
        self._release()

    # --- writes (group commit) ------------------------------------------------------------------------

    async def write(self, op: ExecutionWrite, *, quiet: bool | None = None) -> None:
        await self._enqueue(op, quiet)

    def submit(self, op: ExecutionWrite, *, quiet: bool | None = None) -> asyncio.Future[None]:
        return self._enqueue(op, quiet)

    async def _submit(self, op: _Op, quiet: bool | None = None) -> Any:
        return await self._enqueue(op, quiet)

    def _enqueue(self, op: _Op, quiet: bool | None = None) -> asyncio.Future[Any]:
        """Queue ``op`` now (writes are applied in the order they are queued) or write it at once;
        the future is settled when it is durable or refused."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            fut.set_exception(StorageError("the store is closed"))
            return fut
        pending = _Pending(op, loop, fut)
        # A lone change, when nothing else is being written and none came just before, is written
        # right here: handing it to the writer thread and its answer back costs two thread wake-ups,
        # a large share of a lone commit (W1 ~0.5 ms faster). Under load (changes less than
        # _QUIET apart) they go to the thread, to be committed together while the event loop goes
        # on: writing them here blocked the loop and W2 fell from ~520 to ~300 workflows/s. New runs
        # also go to the thread: the server hands a new run's first workflow task out while its
        # start is being written, which needs the event loop free meanwhile. A caller that knows
        # whether other work is waiting says so (``quiet``) instead of this guess from the timing.
        now = time.monotonic()
        if quiet is None:
            quiet = now - self._last_submit >= _QUIET
        self._last_submit = now
        conn = self._writer
        if (
            quiet
            and conn is not None
            and isinstance(op, ExecutionWrite)
            and op.expected_version is not None
            and self._queue.empty()
            and self._writing.acquire(blocking=False)
        ):
            try:
                inline = self._queue.empty()
                if inline:
                    self._commit_batch(conn, [pending])
                    # From its end: changes made while it ran (none can be: this thread was busy) or
                    # just after it are not "quiet", whatever this disk's commit takes.
                    self._last_submit = time.monotonic()
            finally:
                self._writing.release()
            if inline:
                _settle([pending])
                return fut
        self._queue.put(pending)
        return fut

    def _write_loop(self) -> None:
        conn = self._writer
        assert conn is not None
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            with self._writing:
                while len(batch) < _MAX_BATCH:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch.append(nxt)
                self._commit_batch(conn, batch)
            loops: dict[int, tuple[asyncio.AbstractEventLoop, list[_Pending]]] = {}
            for p in batch:
                loops.setdefault(id(p.loop), (p.loop, []))[1].append(p)
            for loop, items in loops.values():
                try:
                    loop.call_soon_threadsafe(_settle, items)
                except RuntimeError:  # the loop is closed; nobody is waiting any more
                    pass
            if stop:
                return

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        """Write ``batch`` in one transaction. A write refused on its own terms (``_refused_alone``)
        fails alone; any other error loses the transaction, and with it every write of the batch."""
        lock = self._shared_lock
        if lock is not None:
            lock.acquire()
        t0 = time.perf_counter()
        try:
            self._write_batch(conn, batch)
            observe = self.observe_commit
            if observe is not None:
                observe(time.perf_counter() - t0, len(batch))
            if self._checkpointer is not None:
                self._checkpointer.written()
            if self._failed[0]:
                transactions, changes, since = self._failed
                if _repeats.warning(
                    "recovered",
                    "database writes go through again, after %d failed transactions (%d changes) in %.1f s",
                    transactions,
                    changes,
                    time.monotonic() - since,
                ):  # else counted on, into the next time it is logged
                    self._failed = (0, 0, 0.0)
        except BaseException as e:
            rollback(conn)
            # Every write fails, including those applied before the error and results already
            # computed: none of them is in the database.
            error = StorageError(f"the database write failed: {e}")
            for p in batch:
                p.result = None
                p.error = error
            transactions, changes, since = self._failed
            self._failed = (transactions + 1, changes + len(batch), since or time.monotonic())
            _repeats.error("commit", "a database write failed: %s (%d changes lost with it)", e, len(batch))
            if not isinstance(e, Exception):
                raise
        finally:
            if lock is not None:
                lock.release()

    def _write_batch(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        rest = batch
        # A write that creates its run's successor (``follow_on``) is applied on its own, in its savepoint.
        updates = [
            p
            for p in rest
            if isinstance(p.op, ExecutionWrite) and p.op.expected_version is not None and p.op.follow_on is None
        ]
        if len(updates) > 1 and write_updates_together(conn, _writes(updates)):
            done = set(updates)
            rest = [p for p in rest if p not in done]
        creates = [p for p in rest if isinstance(p.op, ExecutionWrite) and p.op.expected_version is None]
        if len(creates) > 1 and write_creates_together(conn, _writes(creates)):
            done = set(creates)
            rest = [p for p in rest if p not in done]
        if len(batch) == 1:
            # One write alone: no savepoint needed, its refusal is the transaction's rollback. (Not
            # so for the last of a batch whose others were applied together: they must stay.)
            p = rest[0]
            try:
                self._apply(conn, p)
            except Exception as e:
                if not _refused_alone(conn, e):
                    raise
                p.error = e
                conn.execute("ROLLBACK")
                return
        else:
            for p in rest:
                conn.execute("SAVEPOINT w")
                try:
                    self._apply(conn, p)
                except Exception as e:
                    if not _refused_alone(conn, e):
                        raise
                    conn.execute("ROLLBACK TO w")
                    p.error = e
                conn.execute("RELEASE w")
        conn.execute("COMMIT")

    @staticmethod
    def _apply(conn: sqlite3.Connection, p: _Pending) -> None:
        op = p.op
        if isinstance(op, ExecutionWrite):
            write_one(conn, op)
        else:
            p.result = op(conn)

    # --- server keys ----------------------------------------------------------------------------------

    async def server_key(self, name: str) -> bytes:
        rows = self._read("SELECT key FROM server_keys WHERE name=?", (name,))
        if rows:
            return bytes(rows[0][0])

        def do(conn: sqlite3.Connection) -> bytes:
            # Never replaced once made: every token signed with it would stop verifying.
            conn.execute(
                "INSERT OR IGNORE INTO server_keys VALUES (?, ?, ?)", (name, secrets.token_bytes(32), time.time())
            )
            return bytes(conn.execute("SELECT key FROM server_keys WHERE name=?", (name,)).fetchone()[0])

        key: bytes = await self._submit(do)
        return key

    # --- reads ----------------------------------------------------------------------------------------

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self._reader
        if conn is None:
            raise StorageError("the store is closed")
        if self._shared_lock is not None:
            with self._shared_lock:
                return conn.execute(sql, params).fetchall()
        return conn.execute(sql, params).fetchall()

    async def create_namespace(self, name: str, description: str = "") -> bool:
        def do(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("INSERT OR IGNORE INTO namespaces VALUES (?, ?, ?)", (name, description, time.time()))
            return cur.rowcount == 1

        created: bool = await self._submit(do)
        return created

    async def get_namespace(self, name: str) -> NamespaceRecord | None:
        rows = self._read("SELECT name, description, created_at FROM namespaces WHERE name=?", (name,))
        return NamespaceRecord(*rows[0]) if rows else None

    async def list_namespaces(self) -> list[NamespaceRecord]:
        return [
            NamespaceRecord(*r)
            for r in self._read("SELECT name, description, created_at FROM namespaces ORDER BY name")
        ]

    def _snapshot(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """``read``'s queries, all from one snapshot of the database (a run's row and its items
        as one commit left them, not a mix of two)."""
        conn = self._reader
        if conn is None:
            raise StorageError("the store is closed")
        lock = self._shared_lock
        if lock is not None:
            lock.acquire()
        try:
            conn.execute("BEGIN")
            try:
                return read(conn)
            finally:
                conn.execute("COMMIT")
        finally:
            if lock is not None:
                lock.release()

    def _run_with_items(self, sql: str, params: tuple[Any, ...]) -> ExecutionRecord | None:
        def read(conn: sqlite3.Connection) -> ExecutionRecord | None:
            rows = conn.execute(sql, params).fetchall()
            if not rows:
                return None
            items = conn.execute("SELECT kind, key, value FROM pending WHERE run_id=?", (rows[0][2],)).fetchall()
            return _row_to_record(rows[0], rows[0][11], items)

        return self._snapshot(read)

    async def get_execution(
        self, namespace: str, workflow_id: str, run_id: str | None = None
    ) -> ExecutionRecord | None:
        if run_id is not None:
            return self._run_with_items(
                "SELECT " + EXEC_COLUMNS + ", state FROM executions WHERE run_id=? AND namespace=? AND workflow_id=?",
                (run_id, namespace, workflow_id),
            )
        return self._run_with_items(
            "SELECT " + EXEC_COLUMNS + ", state FROM executions WHERE namespace=? AND workflow_id=? "
            "ORDER BY start_time DESC LIMIT 1",
            (namespace, workflow_id),
        )

    async def get_run(self, run_id: str) -> ExecutionRecord | None:
        return self._run_with_items("SELECT " + EXEC_COLUMNS + ", state FROM executions WHERE run_id=?", (run_id,))

    async def read_history(
        self, run_id: str, first_event_id: int = 1, last_event_id: int | None = None
    ) -> list[HistoryEvent]:
        last = last_event_id if last_event_id is not None else 2**62
        if last - first_event_id < _INLINE_EVENTS:
            return self._read_history(self._read, run_id, first_event_id, last)
        # Reading and parsing a long range takes milliseconds (~5 ms for 1,000 events) that would stall
        # every other workflow on the event loop: it runs in a thread, on a connection of its own.
        return await asyncio.to_thread(self._read_history, self._read_bulk, run_id, first_event_id, last)

    async def read_history_json(
        self, run_id: str, first_event_id: int, last_event_id: int
    ) -> list[tuple[int, str, float, str]]:
        if last_event_id - first_event_id < _INLINE_EVENTS:
            return self._read_history_json(self._read, run_id, first_event_id, last_event_id)
        return await asyncio.to_thread(self._read_history_json, self._read_bulk, run_id, first_event_id, last_event_id)

    async def read_history_page(
        self, run_id: str, first_event_id: int, last_event_id: int, budget: int
    ) -> tuple[str, int, int]:
        if self.memory:  # no second connection can see it: read and built in a thread
            return await super().read_history_page(run_id, first_event_id, last_event_id, budget)
        if self._pages is None:
            self._pages = PageProcess(self._file)  # the name SQLite's connections here use
        return await self._pages.page(run_id, first_event_id, last_event_id, budget)

    def _read_history_json(
        self,
        read: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]],
        run_id: str,
        first_event_id: int,
        last_event_id: int,
    ) -> list[tuple[int, str, float, str]]:
        rows = read(
            "SELECT event_id, event_type, event_time, attributes FROM history "
            "WHERE run_id=? AND event_id>=? AND event_id<=? ORDER BY event_id",
            (run_id, first_event_id, last_event_id),
        )
        try:
            for r in rows:
                # Checked, not kept: the text goes out as it is, and a damaged row must not make an
                # answer that is not JSON (parsing is a third of the cost of making the objects).
                _loads(r[3])
                if r[1] not in _EVENT_TYPES:
                    raise ValueError(f"unknown event type {r[1]!r}")
        except ValueError as e:
            raise StorageError(f"the history of run {run_id} cannot be read: a stored event is damaged ({e})") from e
        return rows

    def _read_bulk(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.memory or self._reader is None:
            return self._read(sql, params)  # one shared connection, behind its lock
        with self._bulk_lock:
            conn = self._bulk_reader
            if conn is None:
                conn = self._bulk_reader = self._connect()
            return conn.execute(sql, params).fetchall()

    def _read_history(
        self,
        read: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]],
        run_id: str,
        first_event_id: int,
        last_event_id: int,
    ) -> list[HistoryEvent]:
        rows = read(
            "SELECT event_id, event_type, event_time, attributes FROM history "
            "WHERE run_id=? AND event_id>=? AND event_id<=? ORDER BY event_id",
            (run_id, first_event_id, last_event_id),
        )
        try:
            return [HistoryEvent(r[0], _EVENT_TYPES[r[1]], r[2], _loads(r[3])) for r in rows]
        except KeyError as e:
            raise StorageError(f"the history of run {run_id} cannot be read: unknown event type {e}") from e
        except ValueError as e:
            raise StorageError(f"the history of run {run_id} cannot be read: a stored event is damaged ({e})") from e

    async def list_executions(self, namespace: str, query: ListQuery) -> tuple[list[ExecutionRecord], str | None]:
        sql, params, limit = list_sql(namespace, query, SQLITE, EXEC_COLUMNS)
        rows = self._read(sql, params)
        records = [_row_to_record(r, None) for r in rows[:limit]]
        token = next_page_token(query, records[-1]) if len(rows) > limit else None
        return records, token

    async def listed_search_attributes(self, run_ids: Sequence[str]) -> dict[str, str]:
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        rows = self._read(
            f"SELECT run_id, value FROM pending WHERE kind='sa' AND key='' AND run_id IN ({marks})", tuple(run_ids)
        )
        return {str(r): str(v) for r, v in rows}

    async def count_executions(
        self, namespace: str, filter: VisibilityQuery | None, group_by_status: bool = False
    ) -> tuple[int, list[tuple[WorkflowStatus, int]]]:
        sql, params, pairs = count_sql(namespace, ListQuery(filter=filter), SQLITE, group_by_status)
        return count_rows(self._read(sql, params), pairs, group_by_status)

    async def delete_execution(self, run_id: str) -> bool:
        # A write like any other, through the writer: applied in order with the run's transitions before it.
        deleted: bool = await self._submit(lambda conn: delete_run(conn, run_id))
        return deleted

    async def open_executions(self) -> AsyncIterator[ExecutionRecord]:
        last = ""
        while True:

            def read(conn: sqlite3.Connection, after: str = last) -> list[ExecutionRecord]:
                rows = conn.execute(
                    "SELECT " + EXEC_COLUMNS + ", state FROM executions WHERE status='RUNNING' AND run_id>? "
                    "ORDER BY run_id LIMIT 1000",
                    (after,),
                ).fetchall()
                if not rows:
                    return []
                items: dict[str, list[tuple[str, str, str]]] = {}
                for run_id, kind, key, value in conn.execute(
                    "SELECT run_id, kind, key, value FROM pending WHERE run_id>? AND run_id<=?", (after, rows[-1][2])
                ):
                    items.setdefault(run_id, []).append((kind, key, value))
                return [_row_to_record(r, r[11], items.get(r[2])) for r in rows]

            records = self._snapshot(read)
            if not records:
                return
            for rec in records:
                yield rec
            last = records[-1].run_id

    async def note_build(self, namespace: str, task_queue: str, build_id: str, first_seen: float) -> float:
        def do(conn: sqlite3.Connection) -> float:
            conn.execute(
                "INSERT INTO worker_builds VALUES (?, ?, ?, ?) ON CONFLICT (namespace, task_queue, build_id) "
                "DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)",
                (namespace, task_queue, build_id, first_seen),
            )
            row = conn.execute(
                "SELECT first_seen FROM worker_builds WHERE namespace=? AND task_queue=? AND build_id=?",
                (namespace, task_queue, build_id),
            ).fetchone()
            return float(row[0])

        earliest: float = await self._submit(do)
        return earliest

    async def put_workflow_schema(
        self,
        namespace: str,
        task_queue: str,
        workflow_type: str,
        schema: dict[str, Any] | None,
        handlers: list[dict[str, Any]] | None = None,
    ) -> None:
        text = _dumps(schema) if schema is not None else None
        handlers_text = _dumps(handlers) if handlers is not None else None

        def do(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO workflow_schemas"
                " (namespace, task_queue, workflow_type, input_schema, updated_at, handlers)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (namespace, task_queue, workflow_type, text, time.time(), handlers_text),
            )

        await self._submit(do)

    async def get_workflow_schema(self, namespace: str, task_queue: str, workflow_type: str) -> dict[str, Any] | None:
        rows = self._read(
            "SELECT input_schema FROM workflow_schemas WHERE namespace=? AND task_queue=? AND workflow_type=?",
            (namespace, task_queue, workflow_type),
        )
        if not rows or rows[0][0] is None:
            return None
        result: dict[str, Any] = _loads(rows[0][0])
        return result

    async def get_workflow_handlers(
        self, namespace: str, task_queue: str, workflow_type: str
    ) -> list[dict[str, Any]] | None:
        rows = self._read(
            "SELECT handlers FROM workflow_schemas WHERE namespace=? AND task_queue=? AND workflow_type=?",
            (namespace, task_queue, workflow_type),
        )
        if not rows or rows[0][0] is None:
            return None
        result: list[dict[str, Any]] = _loads(rows[0][0])
        return result

    # --- store copy (see Store.export_runs and storage._copy) ----------------------------------------

    async def export_runs(self, after: str, limit: int) -> list[StoredRun]:
        return self._snapshot(lambda conn: _sqlite_copy.export_runs(conn, after, limit))

    async def export_events(
        self, run_ids: Sequence[str], first_event_id: int = 1, last_event_id: int = 2**62
    ) -> list[StoredEvent]:
        return self._snapshot(lambda conn: _sqlite_copy.export_events(conn, run_ids, first_event_id, last_event_id))

    async def export_server_keys(self) -> list[StoredKey]:
        rows = self._read("SELECT name, key, created_at FROM server_keys ORDER BY name")
        return [StoredKey(r[0], bytes(r[1]), r[2]) for r in rows]

    async def export_workflow_schemas(self) -> list[StoredSchema]:
        rows = self._read(
            "SELECT namespace, task_queue, workflow_type, input_schema, handlers, updated_at FROM workflow_schemas "
            "ORDER BY namespace, task_queue, workflow_type"
        )
        return [StoredSchema(*r) for r in rows]

    async def import_runs(self, runs: Sequence[StoredRun]) -> None:
        try:
            await self._submit(lambda conn: _sqlite_copy.import_runs(conn, runs))
        except sqlite3.IntegrityError as e:  # refused alone: nothing of it was written
            raise StorageError(f"the database {self.path!r} already holds some of these runs ({e})") from None

    async def put_api_key(self, key: StoredApiKey) -> None:
        def do(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                dataclasses.astuple(key),
            )

        try:
            await self._submit(do)
        except sqlite3.IntegrityError:
            raise StorageError(f"an API key with id {key.key_id!r} exists already") from None

    async def list_api_keys(self) -> list[StoredApiKey]:
        rows = self._read(f"SELECT {_API_KEY_COLUMNS} FROM api_keys ORDER BY key_id")
        return [StoredApiKey(*r) for r in rows]

    async def revoke_api_key(self, key_id: str, at: float) -> StoredApiKey | None:
        def do(conn: sqlite3.Connection) -> StoredApiKey | None:
            conn.execute("UPDATE api_keys SET revoked_at=? WHERE key_id=? AND revoked_at IS NULL", (at, key_id))
            row = conn.execute(f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE key_id=?", (key_id,)).fetchone()
            return StoredApiKey(*row) if row else None

        key: StoredApiKey | None = await self._submit(do)
        return key

    async def put_ui_session(self, session: StoredUiSession) -> None:
        def do(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO ui_sessions ({_UI_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                dataclasses.astuple(session),
            )

        try:
            await self._submit(do)
        except sqlite3.IntegrityError:
            raise StorageError("a UI session with this id exists already") from None

    async def get_ui_session(self, session_hash: str, now: float) -> StoredUiSession | None:
        rows = self._read(
            f"SELECT {_UI_SESSION_COLUMNS} FROM ui_sessions WHERE session_hash=? AND expires_at>?", (session_hash, now)
        )
        return StoredUiSession(*rows[0]) if rows else None

    async def delete_ui_session(self, session_hash: str) -> bool:
        def do(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM ui_sessions WHERE session_hash=?", (session_hash,)).rowcount > 0

        deleted: bool = await self._submit(do)
        return deleted

    async def delete_ui_sessions_of_keys(self, key_ids: Sequence[str]) -> int:
        ids = list(key_ids)

        def do(conn: sqlite3.Connection) -> int:
            marks = ", ".join("?" * len(ids))
            return conn.execute(f"DELETE FROM ui_sessions WHERE key_id IN ({marks})", ids).rowcount

        if not ids:
            return 0
        count: int = await self._submit(do)
        return count

    async def purge_ui_sessions(self, now: float) -> int:
        def do(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM ui_sessions WHERE expires_at<=?", (now,)).rowcount

        count: int = await self._submit(do)
        return count

    async def add_search_attribute(self, namespace: str, name: str, type_name: str, created_at: float) -> str | None:
        def do(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT type FROM search_attributes WHERE namespace=? AND name=?", (namespace, name)
            ).fetchone()
            if row is not None:
                return str(row[0])
            conn.execute("INSERT INTO search_attributes VALUES (?, ?, ?, ?)", (namespace, name, type_name, created_at))
            return None

        had: str | None = await self._submit(do)
        return had

    async def list_search_attributes(self, namespace: str | None) -> list[tuple[str, str, str]]:
        if namespace is None:
            rows = self._read("SELECT namespace, name, type FROM search_attributes ORDER BY namespace, name")
        else:
            rows = self._read(
                "SELECT namespace, name, type FROM search_attributes WHERE namespace=? ORDER BY name", (namespace,)
            )
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    async def remove_search_attribute(self, namespace: str, name: str) -> bool:
        def do(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM search_attributes WHERE namespace=? AND name=?", (namespace, name))
            return cur.rowcount == 1

        removed: bool = await self._submit(do)
        return removed

    async def create_schedule(self, schedule: StoredSchedule) -> bool:
        def do(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO schedules (namespace, schedule_id, body, version) VALUES (?, ?, ?, ?)",
                dataclasses.astuple(schedule),
            )
            return cur.rowcount == 1

        created: bool = await self._submit(do)
        return created

    async def get_schedule(self, namespace: str, schedule_id: str) -> StoredSchedule | None:
        rows = self._read(
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE namespace=? AND schedule_id=?", (namespace, schedule_id)
        )
        return StoredSchedule(*rows[0]) if rows else None

    async def list_schedules(
        self, namespace: str | None, *, after: str = "", limit: int | None = None
    ) -> list[StoredSchedule]:
        if namespace is None:
            rows = self._read(f"SELECT {_SCHEDULE_COLUMNS} FROM schedules ORDER BY namespace, schedule_id")
        else:
            rows = self._read(
                f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE namespace=? AND schedule_id > ? "
                "ORDER BY schedule_id LIMIT ?",
                (namespace, after, -1 if limit is None else limit),
            )
        return [StoredSchedule(*r) for r in rows]

    async def update_schedule(self, schedule: StoredSchedule, expected_version: int) -> bool:
        def do(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE schedules SET body=?, version=? WHERE namespace=? AND schedule_id=? AND version=?",
                (schedule.body, schedule.version, schedule.namespace, schedule.schedule_id, expected_version),
            )
            return cur.rowcount == 1

        updated: bool = await self._submit(do)
        return updated

    async def delete_schedule(self, namespace: str, schedule_id: str) -> bool:
        def do(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM schedules WHERE namespace=? AND schedule_id=?", (namespace, schedule_id))
            return cur.rowcount == 1

        deleted: bool = await self._submit(do)
        return deleted

    async def create_batch_job(self, job: StoredBatchJob) -> bool:
        def do(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                f"INSERT OR IGNORE INTO batch_jobs ({BATCH_COLUMNS}) VALUES ({', '.join('?' * 16)})",
                dataclasses.astuple(job),
            )
            return cur.rowcount == 1

        created: bool = await self._submit(do)
        return created

    async def get_batch_job(self, namespace: str, job_id: str) -> StoredBatchJob | None:
        rows = self._read(f"SELECT {BATCH_COLUMNS} FROM batch_jobs WHERE namespace=? AND job_id=?", (namespace, job_id))
        return StoredBatchJob(*rows[0]) if rows else None

    async def list_batch_jobs(self, namespace: str | None, *, running: bool = False) -> list[StoredBatchJob]:
        where, params = batch_where(namespace, running, "?")
        rows = self._read(f"SELECT {BATCH_COLUMNS} FROM batch_jobs{where} ORDER BY started_at DESC, job_id", params)
        return [StoredBatchJob(*r) for r in rows]

    async def update_batch_job(self, job: StoredBatchJob, expected_version: int) -> bool:
        values = dataclasses.astuple(job)

        def do(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                f"UPDATE batch_jobs SET {BATCH_SET.replace('%s', '?')} WHERE namespace=? AND job_id=? AND version=?",
                (*values[2:], job.namespace, job.job_id, expected_version),
            )
            return cur.rowcount == 1

        updated: bool = await self._submit(do)
        return updated

    async def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        rows = [dataclasses.astuple(e)[:-1] for e in entries]

        def do(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO audit_log (at, namespace, principal, method, operation, target, peer, status, "
                "request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

        await self._submit(do)

    async def read_audit(self, namespaces: Sequence[str] | None, before: int | None, limit: int) -> list[AuditEntry]:
        where = ["seq < ?"]
        params: list[Any] = [before if before is not None else 2**62]
        if namespaces is not None:
            where.append(f"namespace IN ({', '.join('?' * len(namespaces))})")
            params += list(namespaces)
        rows = self._read(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
            (*params, limit),
        )
        return [AuditEntry(*r) for r in rows]

    async def export_worker_builds(self) -> list[StoredBuild]:
        rows = self._read(
            "SELECT namespace, task_queue, build_id, first_seen FROM worker_builds "
            "ORDER BY namespace, task_queue, build_id"
        )
        return [StoredBuild(*r) for r in rows]

    async def import_metadata(
        self,
        namespaces: Sequence[NamespaceRecord],
        keys: Sequence[StoredKey],
        schemas: Sequence[StoredSchema],
        builds: Sequence[StoredBuild] = (),
    ) -> None:
        await self._submit(lambda conn: _sqlite_copy.import_metadata(conn, namespaces, keys, schemas, builds))

    async def count_contents(self) -> StoreCounts:
        return self._snapshot(_sqlite_copy.count_contents)
