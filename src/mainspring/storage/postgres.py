"""The PostgreSQL store: the same ``Store`` as SQLite's, on a database a team already runs.

Driver: psycopg 3 (async), the PostgreSQL project's maintained driver for Python; ``pip install
'mainspring[postgres]'``.

Writes: one writer connection applies every queued write in one transaction (group commit): while one
batch commits, the next one gathers. Each write of a batch runs in its own savepoint, so a refused one
(a stale version, a workflow id already running) fails alone; a transaction that fails (the database
went away, a full disk) fails every write in it: nothing is reported written that is not, and a write is
acknowledged only after its COMMIT returned. After a lost connection the next batch connects again.

Ownership: ``Store.open`` promises that this server owns every run (see ``_base``). A database can be
reached by several servers, so that promise is a lease (``_pg_leases.StoreLease``): one row, renewed by the
holder, taken over by another server only once it lapsed, and checked ``FOR UPDATE`` inside every write
transaction (fencing): a server that was paused past its lease writes nothing. A second server is refused,
or with ``standby=True`` waits and takes over when the holder dies.

Reads: a few connections of their own, in autocommit; a run with its items is read in one snapshot.

Portable SQL only, so that PostgreSQL-compatible distributed databases (CockroachDB, YugabyteDB) can
follow: no LISTEN/NOTIFY, no advisory locks, no server-side functions; ``INSERT ... ON CONFLICT``,
``UPDATE ... FROM (VALUES ...)``, ``FOR UPDATE [SKIP LOCKED]`` and ``now()`` are all both of them have.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .._json import dumps_str
from . import _pg_copy
from ._base import (
    AuditEntry,
    ConditionFailedError,
    ExecutionAlreadyRunningError,
    ExecutionRecord,
    ExecutionWrite,
    HistoryEvent,
    ListQuery,
    NamespaceRecord,
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
from ._cluster import ClusterView, read_cluster
from ._pg_leases import LeaseLostError, LeaseOptions, ShardLeases, StoreLease
from ._pg_schema import check, latest_schema_version, migrate
from ._pg_writes import can_update_together, creates_together, delete_run, updates_together, write_one
from ._sqlite_writes import EXEC_COLUMNS
from ._visibility_sql import POSTGRES, count_rows, count_sql, list_sql, next_page_token
from .sqlite import _EVENT_TYPES, _loads, _row_to_record

if TYPE_CHECKING:
    from psycopg import AsyncConnection, AsyncCursor, AsyncPipeline

    from .._visibility._ast import VisibilityQuery
    from ..api.enums import WorkflowStatus

__all__ = ["PostgresStore", "latest_schema_version", "redact"]

_SCHEDULE_COLUMNS = "namespace, schedule_id, body, version"
_AUDIT_COLUMNS = "at, namespace, principal, method, operation, target, peer, status, request_id, seq"
_API_KEY_COLUMNS = "key_id, name, namespace, role, secret_hash, created_at, created_by, revoked_at"
_UI_SESSION_COLUMNS = "session_hash, principal, grants, method, key_id, csrf_token, created_at, expires_at"

log = logging.getLogger(__name__)

#: At most this many writes in one transaction.
_MAX_BATCH = 500
_READERS = 4

_Write = ExecutionWrite | Callable[["AsyncCursor[Any]"], Awaitable[Any]]

#: The run counts' rows of connections that are gone, added into this connection's own (see
#: migrations/postgres/0007_run_counts.sql), so that their rows do not pile up over restarts. The count is
#: the same before and after. Live connections' rows are left alone: their writers may hold them locked. Two
#: servers folding at once cannot count a row twice: the second's DELETE waits for the first's and then
#: finds the row gone.
_FOLD_RUN_COUNTS = (
    "WITH gone AS (DELETE FROM run_counts WHERE slot <> pg_backend_pid() AND slot NOT IN "
    "(SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL) RETURNING namespace, status, runs) "
    "INSERT INTO run_counts (namespace, status, slot, runs) "
    "SELECT namespace, status, pg_backend_pid(), SUM(runs) FROM gone GROUP BY namespace, status "
    "ON CONFLICT (namespace, status, slot) DO UPDATE SET runs = run_counts.runs + EXCLUDED.runs"
)


class _OneByOne:
    """A write to apply one statement at a time, in a savepoint, never with others."""

    __slots__ = ("op",)

    def __init__(self, op: _Write) -> None:
        self.op = op


class _Bulk:
    """A write that cannot go in pipeline mode (COPY, as ``store copy`` sends histories): a transaction of
    its own, statement after statement."""

    __slots__ = ("op",)

    def __init__(self, op: Callable[[AsyncCursor[Any]], Awaitable[Any]]) -> None:
        self.op = op


_Op = _Write | _OneByOne | _Bulk


def _refused_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg
    except ImportError:
        return (ConditionFailedError, ExecutionAlreadyRunningError)
    return (ConditionFailedError, ExecutionAlreadyRunningError, psycopg.errors.IntegrityError)


#: What refuses one write (a stale version, a running workflow id, a duplicate key) and not its batch.
_REFUSED = _refused_errors()


class _AloneRefused(Exception):
    """A batch of one write was refused when sent whole (see ``PostgresStore._alone``)."""


def _refusal(e: BaseException) -> StorageError:
    return e if isinstance(e, StorageError) else StorageError(str(e))


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://..."
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


class _Pending:
    __slots__ = ("future", "op")

    def __init__(self, op: _Op, future: asyncio.Future[Any]) -> None:
        self.op = op
        self.future = future


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StorageError("PostgreSQL support needs psycopg: pip install 'mainspring[postgres]'") from None
    return psycopg


class PostgresStore(Store):
    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        standby: bool = False,
        lease: LeaseOptions | None = None,
        node: str | None = None,
        address: str = "",
    ) -> None:
        self.url = url
        self.migrate = migrate
        self.standby = standby
        self.lease_options = lease or LeaseOptions(
            shards=1, duration=timedelta(seconds=5), renew_every=timedelta(seconds=1)
        )
        self.node = node or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.address = address
        self.schema_version = 0
        self.migrations_applied: tuple[int, ...] = ()
        #: Called (with why) when this server lost the store to another: it must stop serving.
        self.on_lost: Callable[[str], None] | None = None
        #: Called when an operator drained this server (``mainspring cluster drain``): it should stop
        #: serving; closing the store gives the lease back, and a standby takes it over.
        self.on_drain: Callable[[], None] | None = None
        self._writer: AsyncConnection[Any] | None = None
        self._readers: asyncio.Queue[AsyncConnection[Any]] | None = None
        self._all_readers: list[AsyncConnection[Any]] = []
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._lease: StoreLease | None = None

    @property
    def description(self) -> str:
        return f"PostgreSQL at {redact(self.url)}"

    def leases_held(self) -> int | None:
        lease = self._lease
        return len(lease.leases.held) if lease is not None and lease.leases is not None else 0

    @property
    def holder(self) -> tuple[str, str] | None:
        """While ``open`` waits for a store another server holds: that server's (node, address)."""
        return self._lease.holder if self._lease is not None else None

    async def describe_cluster(self) -> ClusterView:
        async def read(conn: AsyncConnection[Any]) -> ClusterView:
            return await read_cluster(conn, redact(self.url), self.lease_options.duration, me=self.node)

        view: ClusterView = await self._with_reader(read)
        return view

    # --- connections ----------------------------------------------------------------------------------

    async def _connect(self, *, autocommit: bool = False) -> AsyncConnection[Any]:
        psycopg = _driver()
        try:
            conn: AsyncConnection[Any] = await psycopg.AsyncConnection.connect(
                self.url,
                autocommit=autocommit,
                connect_timeout=10,
                application_name=ShardLeases.backend_name(self.node),
            )
        except psycopg.Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StorageError(f"cannot connect to the database {redact(self.url)}: {first}") from None
        except ValueError as e:  # a malformed URL
            raise StorageError(f"invalid database URL {redact(self.url)}: {e}") from None
        if not autocommit:
            try:
                await conn.execute(ShardLeases.session_settings(self.lease_options))
                await conn.commit()
            except psycopg.Error as e:
                await conn.close()
                raise StorageError(f"cannot set up a connection to the database {redact(self.url)}: {e}") from None
        return conn

    async def _abandon_open(self, conn: AsyncConnection[Any]) -> None:
        """An ``open`` that failed (refused, cancelled, the database away): close every connection it made,
        the lease's own included, so that nothing is left for the garbage collector to find open."""
        await conn.close()
        await self._close_readers()
        if self._lease is not None:
            await self._lease.release()
            self._lease = None

    async def open(self) -> None:
        psycopg = _driver()
        conn = await self._connect()
        try:
            if self.migrate:
                self.migrations_applied = await migrate(conn, redact(self.url))
                self.schema_version = latest_schema_version()
            else:
                self.schema_version = await check(conn, redact(self.url))
            self._lease = StoreLease(self._connect, self.node, self.address, self.lease_options, self._lost)
            self._lease.on_drain = self._drained
            await self._lease.take(wait=self.standby)
            await conn.execute(_FOLD_RUN_COUNTS)
            await conn.commit()
            self._all_readers = [await self._connect(autocommit=True) for _ in range(_READERS)]
        except psycopg.Error as e:
            await self._abandon_open(conn)
            raise StorageError(f"cannot open the database {redact(self.url)}: {e}") from None
        except BaseException:
            await self._abandon_open(conn)
            raise
        self._writer = conn
        self._readers = asyncio.Queue()
        for r in self._all_readers:
            self._readers.put_nowait(r)
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._write_loop(), name="mainspring-pg-writer")

    def _lost(self, why: str) -> None:
        if self.on_lost is not None:
            self.on_lost(why)

    def _drained(self) -> None:
        if self.on_drain is not None:
            self.on_drain()

    async def _close_readers(self) -> None:
        # The queue's connections too: one the database dropped was replaced by a new one there.
        conns = list(self._all_readers)
        while self._readers is not None and not self._readers.empty():
            conns.append(self._readers.get_nowait())
        for r in conns:
            await r.close()
        self._all_readers = []

    async def close(self) -> None:
        if self._task is not None:
            self._queue.put_nowait(None)
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._lease is not None:
            await self._lease.release()
            self._lease = None
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        await self._close_readers()
        self._readers = None

    # --- writes (group commit) ------------------------------------------------------------------------

    def submit(self, op: ExecutionWrite, *, quiet: bool | None = None) -> asyncio.Future[None]:
        return self._enqueue(op)

    def _enqueue(self, op: _Op) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._task is None:
            fut.set_exception(StorageError("the store is closed"))
        else:
            self._queue.put_nowait(_Pending(op, fut))
        return fut

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            await self._commit(batch)
            if stop:
                return

    async def _writer_conn(self) -> AsyncConnection[Any]:
        if self._writer is None or self._writer.closed or self._writer.broken:
            if self._writer is not None:
                await self._writer.close()
            self._writer = None
            self._writer = await self._connect()
        return self._writer

    async def _commit(self, batch: list[_Pending]) -> None:
        """Write ``batch`` in one transaction (see the module's docstring).

        In pipeline mode: statements go out without waiting for each answer, so a batch takes a round
        trip to the database per kind of write (plus the commit), not one per statement. What must be
        read before going on (a lookup, a version check) is read from its own cursor once the answers
        are in (``pipe.sync()``), and a refusal raised inside its savepoint rolls back what came after."""
        if any(isinstance(p.op, _Bulk) for p in batch):
            others = [p for p in batch if not isinstance(p.op, _Bulk)]
            if others:
                await self._commit(others)
            for p in batch:
                if isinstance(p.op, _Bulk):
                    await self._commit_bulk(p, p.op)
            return
        psycopg = _driver()
        results: dict[int, tuple[bool, Any]] = {}
        t0 = time.perf_counter()
        try:
            conn = await self._writer_conn()
            lease = self._lease
            assert lease is not None
            async with conn.pipeline() as pipe, conn.transaction():
                fence = conn.cursor()
                await lease.fence_send(fence)
                cur = conn.cursor()
                if len(batch) == 1 and await self._alone(pipe, cur, batch[0].op, lease, fence):
                    results[0] = (True, None)
                    rest = []
                else:
                    rest = await self._together(conn, pipe, cur, batch, results)
                    await lease.fence_check(fence)  # before the commit, whatever happens after
                for i in rest:
                    try:
                        async with conn.transaction():  # a savepoint: a refused write fails alone
                            results[i] = (True, await self._apply(cur, batch[i].op))
                            await pipe.sync()  # its errors, if any, inside its savepoint
                    except _REFUSED as e:
                        results[i] = (False, _refusal(e))
        except _AloneRefused:
            # Tried again, to be refused with its own error (or, if it no longer is, applied).
            op = batch[0].op
            assert not isinstance(op, _OneByOne | _Bulk)
            await self._commit([_Pending(_OneByOne(op), batch[0].future)])
            return
        except (LeaseLostError, psycopg.Error, StorageError, OSError) as e:
            await self._failed(batch, e)
            return
        observe = self.observe_commit
        if observe is not None:
            observe(time.perf_counter() - t0, len(batch))
        for i, p in enumerate(batch):
            if p.future.done():
                continue
            ok, value = results[i]
            if ok:
                p.future.set_result(value)
            else:
                p.future.set_exception(value)

    async def _commit_bulk(self, pending: _Pending, op: _Bulk) -> None:
        try:
            conn = await self._writer_conn()
            lease = self._lease
            assert lease is not None
            async with conn.transaction():
                await lease.fence(conn.cursor())
                result = await op.op(conn.cursor())
        except (LeaseLostError, _driver().Error, StorageError, OSError) as e:
            await self._failed([pending], e)
            return
        pending.future.set_result(result)

    async def _failed(self, batch: list[_Pending], e: BaseException) -> None:
        """Fail every write of ``batch`` with ``e`` (a lost lease as it is, anything else as a StorageError
        naming the database's first line), and drop a broken connection."""
        if isinstance(e, LeaseLostError):
            self._fail(batch, e)
            return
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.error("a database write failed: %s (%d changes lost with it)", first, len(batch))
        self._fail(batch, StorageError(f"the database write failed: {first}"))
        if self._writer is not None and (self._writer.broken or self._writer.closed):
            await self._writer.close()
            self._writer = None

    @staticmethod
    async def _alone(
        pipe: AsyncPipeline, cur: AsyncCursor[Any], op: _Op, lease: StoreLease, fence: AsyncCursor[Any]
    ) -> bool:
        """A batch of one transition (the common case when the server is not busy): its statements and
        the commit in two round trips, with no savepoint. False (nothing sent) if it is not such a write.
        A refusal (a stale version, say) raises ``_AloneRefused``: the transaction is rolled back and the
        write tried again one statement at a time, to be refused with its own error."""
        if not isinstance(op, ExecutionWrite) or op.follow_on is not None:
            return False
        check = await (updates_together(cur, [op]) if op.expected_version is not None else creates_together(cur, [op]))
        if check is None:
            return False
        try:
            await pipe.sync()
            await lease.fence_check(fence)
            await check()
        except _REFUSED as e:
            raise _AloneRefused from e
        return True

    @staticmethod
    async def _together(
        conn: AsyncConnection[Any],
        pipe: AsyncPipeline,
        cur: AsyncCursor[Any],
        batch: list[_Pending],
        results: dict[int, tuple[bool, Any]],
    ) -> list[int]:
        """Apply the batch's updates, then its creates, each kind with a few statements for all of it
        (``_pg_writes``), in a savepoint each; the indexes of the writes still to apply one by one: those
        of a kind that could not go together (one of them refused: each is then refused with its own
        error), and the rest (other writes, a write with a ``follow_on``)."""
        rest = list(range(len(batch)))
        # A write that creates its run's successor (``follow_on``) is applied on its own, in its savepoint.
        ops = {i: p.op for i, p in enumerate(batch) if isinstance(p.op, ExecutionWrite) and p.op.follow_on is None}
        updates = [i for i, op in ops.items() if op.expected_version is not None]
        creates = [i for i, op in ops.items() if op.expected_version is None]
        for kind, is_update in ((updates, True), (creates, False)):
            writes = [ops[i] for i in kind]
            if not kind or (is_update and not can_update_together(writes)):
                continue
            try:
                async with conn.transaction():
                    check = await (updates_together(cur, writes) if is_update else creates_together(cur, writes))
                    if check is None:
                        continue
                    await pipe.sync()
                    await check()
            except _REFUSED:
                continue
            for i in kind:
                results[i] = (True, None)
            done = set(kind)
            rest = [i for i in rest if i not in done]
        return rest

    @staticmethod
    def _fail(batch: list[_Pending], error: BaseException) -> None:
        for p in batch:
            if not p.future.done():
                p.future.set_exception(error)

    async def _apply(self, cur: AsyncCursor[Any], op: _Op) -> Any:
        if isinstance(op, _OneByOne):
            op = op.op
        assert not isinstance(op, _Bulk)  # see _commit_bulk
        if isinstance(op, ExecutionWrite):
            await write_one(cur, op)
            return None
        return await op(cur)

    # --- namespaces and keys --------------------------------------------------------------------------

    async def create_namespace(self, name: str, description: str = "") -> bool:
        async def do(cur: AsyncCursor[Any]) -> bool:
            await cur.execute(
                "INSERT INTO namespaces VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING name",
                (name, description, time.time()),
            )
            return await cur.fetchone() is not None

        created: bool = await self._enqueue(do)
        return created

    async def get_namespace(self, name: str) -> NamespaceRecord | None:
        rows = await self._read("SELECT name, description, created_at FROM namespaces WHERE name=%s", (name,))
        return NamespaceRecord(*rows[0]) if rows else None

    async def list_namespaces(self) -> list[NamespaceRecord]:
        rows = await self._read("SELECT name, description, created_at FROM namespaces ORDER BY name")
        return [NamespaceRecord(*r) for r in rows]

    async def server_key(self, name: str) -> bytes:
        rows = await self._read("SELECT key FROM server_keys WHERE name=%s", (name,))
        if rows:
            return bytes(rows[0][0])

        async def do(cur: AsyncCursor[Any]) -> bytes:
            # Never replaced once made: every token signed with it would stop verifying.
            await cur.execute(
                "INSERT INTO server_keys VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_bytes(32), time.time()),
            )
            await cur.execute("SELECT key FROM server_keys WHERE name=%s", (name,))
            row = await cur.fetchone()
            assert row is not None
            return bytes(row[0])

        key: bytes = await self._enqueue(do)
        return key

    # --- reads ----------------------------------------------------------------------------------------

    async def _with_reader(self, read: Callable[[AsyncConnection[Any]], Awaitable[Any]]) -> Any:
        psycopg = _driver()
        readers = self._readers
        if readers is None:
            raise StorageError("the store is closed")
        conn = await readers.get()
        try:
            # A connection the database dropped (it restarted, say) is made again, and the read tried once
            # more on it: a read changes nothing, so trying it twice is safe.
            for attempt in (1, 2):
                if conn.closed or conn.broken:
                    await conn.close()
                    conn = await self._connect(autocommit=True)
                try:
                    return await read(conn)
                except psycopg.OperationalError as e:
                    if attempt == 2 or not (conn.closed or conn.broken):
                        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                        raise StorageError(f"the database read failed: {first}") from None
        finally:
            readers.put_nowait(conn)

    async def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async def read(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall())

        rows: list[tuple[Any, ...]] = await self._with_reader(read)
        return rows

    async def _run_with_items(self, sql: str, params: tuple[Any, ...]) -> ExecutionRecord | None:
        async def read(conn: AsyncConnection[Any]) -> ExecutionRecord | None:
            async with conn.transaction():  # one snapshot: the row and its items as one commit left them
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur = await conn.execute(sql, params)
                row = await cur.fetchone()
                if row is None:
                    return None
                cur = await conn.execute("SELECT kind, key, value FROM pending WHERE run_id=%s", (row[2],))
                items = list(await cur.fetchall())
            return _row_to_record(row, row[11], items)

        record: ExecutionRecord | None = await self._with_reader(read)
        return record

    async def get_execution(
        self, namespace: str, workflow_id: str, run_id: str | None = None
    ) -> ExecutionRecord | None:
        if run_id is not None:
            return await self._run_with_items(
                "SELECT " + EXEC_COLUMNS + ", state FROM executions WHERE run_id=%s AND namespace=%s AND "
                "workflow_id=%s",
                (run_id, namespace, workflow_id),
            )
        return await self._run_with_items(
            "SELECT " + EXEC_COLUMNS + ", state FROM executions WHERE namespace=%s AND workflow_id=%s "
            "ORDER BY start_time DESC LIMIT 1",
            (namespace, workflow_id),
        )

    async def get_run(self, run_id: str) -> ExecutionRecord | None:
        return await self._run_with_items(
            "SELECT " + EXEC_COLUMNS + ", state FROM executions WHERE run_id=%s", (run_id,)
        )

    async def _history_rows(self, run_id: str, first: int, last: int) -> list[tuple[Any, ...]]:
        return await self._read(
            "SELECT event_id, event_type, event_time, attributes FROM history "
            "WHERE run_id=%s AND event_id>=%s AND event_id<=%s ORDER BY event_id",
            (run_id, first, min(last, 2**62)),
        )

    async def read_history(
        self, run_id: str, first_event_id: int = 1, last_event_id: int | None = None
    ) -> list[HistoryEvent]:
        rows = await self._history_rows(run_id, first_event_id, last_event_id or 2**62)
        try:
            return [HistoryEvent(int(r[0]), _EVENT_TYPES[r[1]], r[2], _loads(r[3])) for r in rows]
        except KeyError as e:
            raise StorageError(f"the history of run {run_id} cannot be read: unknown event type {e}") from e
        except ValueError as e:
            raise StorageError(f"the history of run {run_id} cannot be read: a stored event is damaged ({e})") from e

    async def read_history_json(
        self, run_id: str, first_event_id: int, last_event_id: int
    ) -> list[tuple[int, str, float, str]]:
        rows = await self._history_rows(run_id, first_event_id, last_event_id)
        try:
            for r in rows:
                _loads(r[3])
                if r[1] not in _EVENT_TYPES:
                    raise ValueError(f"unknown event type {r[1]!r}")
        except ValueError as e:
            raise StorageError(f"the history of run {run_id} cannot be read: a stored event is damaged ({e})") from e
        return [(int(r[0]), r[1], r[2], r[3]) for r in rows]

    async def list_executions(self, namespace: str, query: ListQuery) -> tuple[list[ExecutionRecord], str | None]:
        sql, params, limit = list_sql(namespace, query, POSTGRES, EXEC_COLUMNS)
        rows = await self._read(sql, params)
        records = [_row_to_record(r, None) for r in rows[:limit]]
        token = next_page_token(query, records[-1]) if len(rows) > limit else None
        return records, token

    async def listed_search_attributes(self, run_ids: Sequence[str]) -> dict[str, str]:
        if not run_ids:
            return {}
        rows = await self._read(
            "SELECT run_id, value FROM pending WHERE kind='sa' AND key='' AND run_id = ANY(%s)", (list(run_ids),)
        )
        return {str(r): str(v) for r, v in rows}

    async def count_executions(
        self, namespace: str, filter: VisibilityQuery | None, group_by_status: bool = False
    ) -> tuple[int, list[tuple[WorkflowStatus, int]]]:
        sql, params, pairs = count_sql(namespace, ListQuery(filter=filter), POSTGRES, group_by_status)
        return count_rows(await self._read(sql, params), pairs, group_by_status)

    async def delete_execution(self, run_id: str) -> bool:
        deleted: bool = await self._enqueue(lambda cur: delete_run(cur, run_id))
        return deleted

    async def open_executions(self) -> AsyncIterator[ExecutionRecord]:
        last = ""
        while True:

            async def read(conn: AsyncConnection[Any], after: str = last) -> list[ExecutionRecord]:
                async with conn.transaction():
                    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    cur = await conn.execute(
                        "SELECT " + EXEC_COLUMNS + ", state FROM executions WHERE status='RUNNING' AND "
                        'run_id COLLATE "C" > %s ORDER BY run_id COLLATE "C" LIMIT 1000',
                        (after,),
                    )
                    rows = list(await cur.fetchall())
                    if not rows:
                        return []
                    items: dict[str, list[tuple[str, str, str]]] = {}
                    cur = await conn.execute(
                        "SELECT run_id, kind, key, value FROM pending WHERE run_id = ANY(%s)", ([r[2] for r in rows],)
                    )
                    for rid, kind, key, value in await cur.fetchall():
                        items.setdefault(rid, []).append((kind, key, value))
                return [_row_to_record(r, r[11], items.get(r[2])) for r in rows]

            records: list[ExecutionRecord] = await self._with_reader(read)
            if not records:
                return
            for rec in records:
                yield rec
            last = records[-1].run_id

    async def note_build(self, namespace: str, task_queue: str, build_id: str, first_seen: float) -> float:
        async def do(cur: AsyncCursor[Any]) -> float:
            await cur.execute(
                "INSERT INTO worker_builds VALUES (%s, %s, %s, %s) ON CONFLICT (namespace, task_queue, build_id) "
                "DO UPDATE SET first_seen = LEAST(worker_builds.first_seen, EXCLUDED.first_seen) RETURNING first_seen",
                (namespace, task_queue, build_id, first_seen),
            )
            row = await cur.fetchone()
            assert row is not None
            return float(row[0])

        earliest: float = await self._enqueue(do)
        return earliest

    async def put_workflow_schema(
        self,
        namespace: str,
        task_queue: str,
        workflow_type: str,
        schema: dict[str, Any] | None,
        handlers: list[dict[str, Any]] | None = None,
    ) -> None:
        text = dumps_str(schema) if schema is not None else None
        handlers_text = dumps_str(handlers) if handlers is not None else None

        async def do(cur: AsyncCursor[Any]) -> None:
            await cur.execute(
                "INSERT INTO workflow_schemas (namespace, task_queue, workflow_type, input_schema, updated_at, "
                "handlers) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (namespace, task_queue, workflow_type) "
                "DO UPDATE SET input_schema=EXCLUDED.input_schema, updated_at=EXCLUDED.updated_at, "
                "handlers=EXCLUDED.handlers",
                (namespace, task_queue, workflow_type, text, time.time(), handlers_text),
            )

        await self._enqueue(do)

    async def _schema_column(self, column: str, namespace: str, task_queue: str, workflow_type: str) -> Any:
        rows = await self._read(
            f"SELECT {column} FROM workflow_schemas WHERE namespace=%s AND task_queue=%s AND workflow_type=%s",
            (namespace, task_queue, workflow_type),
        )
        if not rows or rows[0][0] is None:
            return None
        return _loads(rows[0][0])

    async def get_workflow_schema(self, namespace: str, task_queue: str, workflow_type: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._schema_column("input_schema", namespace, task_queue, workflow_type)
        return result

    async def get_workflow_handlers(
        self, namespace: str, task_queue: str, workflow_type: str
    ) -> list[dict[str, Any]] | None:
        result: list[dict[str, Any]] | None = await self._schema_column(
            "handlers", namespace, task_queue, workflow_type
        )
        return result

    # --- store copy (see Store.export_runs and storage._copy) ----------------------------------------

    async def export_runs(self, after: str, limit: int) -> list[StoredRun]:
        runs: list[StoredRun] = await self._with_reader(lambda conn: _pg_copy.export_runs(conn, after, limit))
        return runs

    async def export_events(
        self, run_ids: Sequence[str], first_event_id: int = 1, last_event_id: int = 2**62
    ) -> list[StoredEvent]:
        events: list[StoredEvent] = await self._with_reader(
            lambda conn: _pg_copy.export_events(conn, run_ids, first_event_id, last_event_id)
        )
        return events

    async def export_server_keys(self) -> list[StoredKey]:
        rows = await self._read("SELECT name, key, created_at FROM server_keys ORDER BY name")
        return [StoredKey(r[0], bytes(r[1]), r[2]) for r in rows]

    async def export_workflow_schemas(self) -> list[StoredSchema]:
        rows = await self._read(
            "SELECT namespace, task_queue, workflow_type, input_schema, handlers, updated_at FROM workflow_schemas "
            "ORDER BY namespace, task_queue, workflow_type"
        )
        return [StoredSchema(*r) for r in rows]

    async def import_runs(self, runs: Sequence[StoredRun]) -> None:
        await self._enqueue(_Bulk(lambda cur: _pg_copy.import_runs(cur, runs)))

    async def put_api_key(self, key: StoredApiKey) -> None:
        async def do(cur: AsyncCursor[Any]) -> bool:
            await cur.execute(
                "INSERT INTO api_keys VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key_id) DO NOTHING "
                "RETURNING key_id",
                dataclasses.astuple(key),
            )
            return await cur.fetchone() is not None

        if not await self._enqueue(do):
            raise StorageError(f"an API key with id {key.key_id!r} exists already")

    async def list_api_keys(self) -> list[StoredApiKey]:
        rows = await self._read(f'SELECT {_API_KEY_COLUMNS} FROM api_keys ORDER BY key_id COLLATE "C"')
        return [StoredApiKey(*r) for r in rows]

    async def revoke_api_key(self, key_id: str, at: float) -> StoredApiKey | None:
        async def do(cur: AsyncCursor[Any]) -> StoredApiKey | None:
            await cur.execute("UPDATE api_keys SET revoked_at=%s WHERE key_id=%s AND revoked_at IS NULL", (at, key_id))
            await cur.execute(f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE key_id=%s", (key_id,))
            row = await cur.fetchone()
            return StoredApiKey(*row) if row else None

        key: StoredApiKey | None = await self._enqueue(do)
        return key

    async def put_ui_session(self, session: StoredUiSession) -> None:
        async def do(cur: AsyncCursor[Any]) -> bool:
            await cur.execute(
                f"INSERT INTO ui_sessions ({_UI_SESSION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (session_hash) DO NOTHING RETURNING session_hash",
                dataclasses.astuple(session),
            )
            return await cur.fetchone() is not None

        if not await self._enqueue(do):
            raise StorageError("a UI session with this id exists already")

    async def get_ui_session(self, session_hash: str, now: float) -> StoredUiSession | None:
        rows = await self._read(
            f"SELECT {_UI_SESSION_COLUMNS} FROM ui_sessions WHERE session_hash=%s AND expires_at>%s",
            (session_hash, now),
        )
        return StoredUiSession(*rows[0]) if rows else None

    async def delete_ui_session(self, session_hash: str) -> bool:
        async def do(cur: AsyncCursor[Any]) -> bool:
            # (RETURNING, not rowcount: the writer's pipeline does not count rows.)
            await cur.execute("DELETE FROM ui_sessions WHERE session_hash=%s RETURNING 1", (session_hash,))
            return bool(await cur.fetchall())

        deleted: bool = await self._enqueue(do)
        return deleted

    async def delete_ui_sessions_of_keys(self, key_ids: Sequence[str]) -> int:
        ids = list(key_ids)

        async def do(cur: AsyncCursor[Any]) -> int:
            await cur.execute("DELETE FROM ui_sessions WHERE key_id = ANY(%s) RETURNING 1", (ids,))
            return len(await cur.fetchall())

        if not ids:
            return 0
        count: int = await self._enqueue(do)
        return count

    async def purge_ui_sessions(self, now: float) -> int:
        async def do(cur: AsyncCursor[Any]) -> int:
            await cur.execute("DELETE FROM ui_sessions WHERE expires_at<=%s RETURNING 1", (now,))
            return len(await cur.fetchall())

        count: int = await self._enqueue(do)
        return count

    async def add_search_attribute(self, namespace: str, name: str, type_name: str, created_at: float) -> str | None:
        async def do(cur: AsyncCursor[Any]) -> str | None:
            await cur.execute(
                "INSERT INTO search_attributes VALUES (%s, %s, %s, %s) ON CONFLICT (namespace, name) DO NOTHING "
                "RETURNING type",
                (namespace, name, type_name, created_at),
            )
            if await cur.fetchone() is not None:
                return None
            await cur.execute("SELECT type FROM search_attributes WHERE namespace=%s AND name=%s", (namespace, name))
            row = await cur.fetchone()
            return str(row[0]) if row is not None else type_name

        had: str | None = await self._enqueue(do)
        return had

    async def list_search_attributes(self, namespace: str | None) -> list[tuple[str, str, str]]:
        if namespace is None:
            rows = await self._read(
                'SELECT namespace, name, type FROM search_attributes ORDER BY namespace COLLATE "C", name COLLATE "C"'
            )
        else:
            rows = await self._read(
                'SELECT namespace, name, type FROM search_attributes WHERE namespace=%s ORDER BY name COLLATE "C"',
                (namespace,),
            )
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    async def remove_search_attribute(self, namespace: str, name: str) -> bool:
        async def do(cur: AsyncCursor[Any]) -> bool:
            await cur.execute(
                "DELETE FROM search_attributes WHERE namespace=%s AND name=%s RETURNING name", (namespace, name)
            )
            return await cur.fetchone() is not None

        removed: bool = await self._enqueue(do)
        return removed

    async def create_schedule(self, schedule: StoredSchedule) -> bool:
        async def do(cur: AsyncCursor[Any]) -> bool:
            # RETURNING, not rowcount: a pipelined batch does not know its rowcount (see put_api_key).
            await cur.execute(
                "INSERT INTO schedules (namespace, schedule_id, body, version) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (namespace, schedule_id) DO NOTHING RETURNING version",
                dataclasses.astuple(schedule),
            )
            return await cur.fetchone() is not None

        created: bool = await self._enqueue(do)
        return created

    async def get_schedule(self, namespace: str, schedule_id: str) -> StoredSchedule | None:
        rows = await self._read(
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE namespace=%s AND schedule_id=%s",
            (namespace, schedule_id),
        )
        return StoredSchedule(*rows[0]) if rows else None

    async def list_schedules(
        self, namespace: str | None, *, after: str = "", limit: int | None = None
    ) -> list[StoredSchedule]:
        if namespace is None:
            rows = await self._read(
                f'SELECT {_SCHEDULE_COLUMNS} FROM schedules ORDER BY namespace COLLATE "C", schedule_id COLLATE "C"'
            )
        else:
            rows = await self._read(
                f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE namespace=%s "
                'AND schedule_id COLLATE "C" > %s ORDER BY schedule_id COLLATE "C" LIMIT %s',
                (namespace, after, limit),
            )
        return [StoredSchedule(*r) for r in rows]

    async def update_schedule(self, schedule: StoredSchedule, expected_version: int) -> bool:
        async def do(cur: AsyncCursor[Any]) -> bool:
            await cur.execute(
                "UPDATE schedules SET body=%s, version=%s WHERE namespace=%s AND schedule_id=%s AND version=%s "
                "RETURNING version",
                (schedule.body, schedule.version, schedule.namespace, schedule.schedule_id, expected_version),
            )
            return await cur.fetchone() is not None

        updated: bool = await self._enqueue(do)
        return updated

    async def delete_schedule(self, namespace: str, schedule_id: str) -> bool:
        async def do(cur: AsyncCursor[Any]) -> bool:
            await cur.execute(
                "DELETE FROM schedules WHERE namespace=%s AND schedule_id=%s RETURNING version",
                (namespace, schedule_id),
            )
            return await cur.fetchone() is not None

        deleted: bool = await self._enqueue(do)
        return deleted

    async def create_batch_job(self, job: StoredBatchJob) -> bool:
        async def do(cur: AsyncCursor[Any]) -> bool:
            # RETURNING, not rowcount: a pipelined batch does not know its rowcount (see put_api_key).
            await cur.execute(
                f"INSERT INTO batch_jobs ({BATCH_COLUMNS}) VALUES ({', '.join(['%s'] * 16)}) "
                "ON CONFLICT (namespace, job_id) DO NOTHING RETURNING version",
                dataclasses.astuple(job),
            )
            return await cur.fetchone() is not None

        created: bool = await self._enqueue(do)
        return created

    async def get_batch_job(self, namespace: str, job_id: str) -> StoredBatchJob | None:
        rows = await self._read(
            f"SELECT {BATCH_COLUMNS} FROM batch_jobs WHERE namespace=%s AND job_id=%s", (namespace, job_id)
        )
        return StoredBatchJob(*rows[0]) if rows else None

    async def list_batch_jobs(self, namespace: str | None, *, running: bool = False) -> list[StoredBatchJob]:
        where, params = batch_where(namespace, running, "%s")
        rows = await self._read(
            f'SELECT {BATCH_COLUMNS} FROM batch_jobs{where} ORDER BY started_at DESC, job_id COLLATE "C"', params
        )
        return [StoredBatchJob(*r) for r in rows]

    async def update_batch_job(self, job: StoredBatchJob, expected_version: int) -> bool:
        values = dataclasses.astuple(job)

        async def do(cur: AsyncCursor[Any]) -> bool:
            await cur.execute(
                f"UPDATE batch_jobs SET {BATCH_SET} WHERE namespace=%s AND job_id=%s AND version=%s RETURNING version",
                (*values[2:], job.namespace, job.job_id, expected_version),
            )
            return await cur.fetchone() is not None

        updated: bool = await self._enqueue(do)
        return updated

    async def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        rows = [dataclasses.astuple(e)[:-1] for e in entries]

        async def do(cur: AsyncCursor[Any]) -> None:
            await cur.executemany(
                "INSERT INTO audit_log (at, namespace, principal, method, operation, target, peer, status, "
                "request_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )

        await self._enqueue(do)

    async def read_audit(self, namespaces: Sequence[str] | None, before: int | None, limit: int) -> list[AuditEntry]:
        where = ["seq < %s"]
        params: list[Any] = [before if before is not None else 2**62]
        if namespaces is not None:
            where.append("namespace = ANY(%s)")
            params.append(list(namespaces))
        rows = await self._read(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT %s",
            (*params, limit),
        )
        return [AuditEntry(*r) for r in rows]

    async def export_worker_builds(self) -> list[StoredBuild]:
        rows = await self._read(
            "SELECT namespace, task_queue, build_id, first_seen FROM worker_builds "
            'ORDER BY namespace COLLATE "C", task_queue COLLATE "C", build_id COLLATE "C"'
        )
        return [StoredBuild(*r) for r in rows]

    async def import_metadata(
        self,
        namespaces: Sequence[NamespaceRecord],
        keys: Sequence[StoredKey],
        schemas: Sequence[StoredSchema],
        builds: Sequence[StoredBuild] = (),
    ) -> None:
        await self._enqueue(_Bulk(lambda cur: _pg_copy.import_metadata(cur, namespaces, keys, schemas, builds)))

    async def count_contents(self) -> StoreCounts:
        counts: StoreCounts = await self._with_reader(_pg_copy.count_contents)
        return counts
