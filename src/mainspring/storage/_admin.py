"""What the ``store`` and ``cluster`` commands read and change: a store's schema version, its pending
migrations, and on PostgreSQL the servers and shard leases recorded in it.

None of this opens the store as a server does: no lease is taken (so ``store migrate`` and ``cluster
describe`` work beside running servers on PostgreSQL), no write-ahead log is grown, no writer starts.
Migrating a SQLite file does take its store lock, since a server must not have the file open meanwhile.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import _pg_schema, _sqlite_file, store_from_url
from ._base import StorageError, StoredApiKey
from ._cluster import ClusterNode, ClusterView, read_cluster
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = [
    "ClusterNode",
    "ClusterView",
    "MigrationReport",
    "SchemaStatus",
    "add_api_key",
    "describe_cluster",
    "migrate_schema",
]


@dataclass(frozen=True)
class SchemaStatus:
    """A store's schema as this build of Mainspring sees it."""

    #: The store, as messages name it (a PostgreSQL URL without its password).
    store: str
    #: The newest migration recorded in the store (0: none, a new database).
    version: int
    #: The newest migration this build has.
    latest: int
    #: Migrations this build has that the store lacks, in order.
    pending: tuple[int, ...]

    @property
    def newer(self) -> bool:
        """The store was migrated by a newer Mainspring than this one."""
        return self.version > self.latest


@dataclass(frozen=True)
class MigrationReport:
    """What ``migrate_schema`` did."""

    store: str
    before: int
    after: int
    applied: tuple[int, ...]


def _sqlite_path(store: SQLiteStore) -> str:
    if store.memory:
        raise StorageError("the database ':memory:' keeps nothing: there is no schema to read or migrate")
    return store.path


def _sqlite_status(path: str) -> tuple[str, set[int]]:
    file = os.path.realpath(path)
    if not os.path.exists(file):
        return file, set()
    try:
        conn = sqlite3.connect(f"file:{quote(file)}?mode=ro", uri=True)
        try:
            return file, _sqlite_file.applied_versions(conn)
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise StorageError(f"cannot read the database {path!r}: {e}") from None


def _sqlite_migrate(path: str) -> MigrationReport:
    file = os.path.realpath(path)
    directory = os.path.dirname(file)
    if not os.path.isdir(directory):
        raise StorageError(f"cannot create the database {path!r}: folder {directory!r} does not exist")
    fd, key = _sqlite_file.take_file_lock(path, file)
    try:
        conn = sqlite3.connect(file, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # what a server's connections use: it persists in the file
            before = max(_sqlite_file.applied_versions(conn), default=0)
            applied = _sqlite_file.migrate(conn, path)
            after = max(_sqlite_file.applied_versions(conn), default=0)
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise StorageError(f"cannot migrate the database {path!r}: {e}") from None
    finally:
        _sqlite_file.release_file_lock(fd, key)
    return MigrationReport(file, before, after, applied)


async def _pg_connect(url: str) -> tuple[str, AsyncConnection[Any]]:
    from .postgres import PostgresStore, redact

    # The store's own connect: its messages (unreachable, refused password, bad URL), password redacted.
    return redact(url), await PostgresStore(url)._connect()


def _pg_failed(what: str, where: str, e: Exception) -> StorageError:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return StorageError(f"cannot {what} the database {where}: {first}")


def _status(store: str, applied: set[int], known: list[int]) -> SchemaStatus:
    version = max(applied, default=0)
    return SchemaStatus(store, version, known[-1], tuple(v for v in known if v not in applied))


async def schema_status(url: str) -> SchemaStatus:
    """The schema version of the store at ``url`` and the migrations it lacks (nothing is changed)."""
    store = store_from_url(url, migrate=False)
    if isinstance(store, SQLiteStore):
        file, applied = _sqlite_status(_sqlite_path(store))
        return _status(file, applied, [v for v, _ in _sqlite_file.migrations()])
    import psycopg

    where, conn = await _pg_connect(url)
    try:
        applied = await _pg_schema.applied_versions(conn)
    except psycopg.Error as e:
        raise _pg_failed("read", where, e) from None
    finally:
        await conn.close()
    return _status(where, applied, [v for v, _ in _pg_schema.migrations()])


async def migrate_schema(url: str) -> MigrationReport:
    """Apply the migrations the store at ``url`` lacks (safe beside servers on PostgreSQL: each migration
    is a transaction of its own that locks the migrations table). StorageError if its schema is newer."""
    store = store_from_url(url)
    if isinstance(store, SQLiteStore):
        return _sqlite_migrate(_sqlite_path(store))
    import psycopg

    where, conn = await _pg_connect(url)
    try:
        before = max(await _pg_schema.applied_versions(conn), default=0)
        applied = await _pg_schema.migrate(conn, where)
        after = max(await _pg_schema.applied_versions(conn), default=0)
    except psycopg.Error as e:
        raise _pg_failed("migrate", where, e) from None
    finally:
        await conn.close()
    return MigrationReport(where, before, after, applied)


async def describe_cluster(url: str) -> ClusterView | None:
    """The servers and shard leases recorded in the PostgreSQL store at ``url``; None for a SQLite store
    (one server, the holder of the file's lock, is all it ever has)."""
    store = store_from_url(url, migrate=False)
    if isinstance(store, SQLiteStore):
        return None
    import psycopg

    from .postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    where, conn = await _pg_connect(url)
    try:
        view = await read_cluster(conn, where, store.lease_options.duration)
        await conn.rollback()
    except psycopg.Error as e:
        raise _pg_failed("read", where, e) from None
    finally:
        await conn.close()
    return view


async def drain_server(url: str, node: str) -> list[str]:
    """Mark the server ``node`` (its node name, or its address) draining in the PostgreSQL store at ``url``:
    at its next lease round (about a second) it stops as on SIGTERM and gives the store back, for a standby
    to take over. The node names marked; StorageError for a SQLite store, or if no server has that name."""
    store = store_from_url(url, migrate=False)
    if isinstance(store, SQLiteStore):
        raise StorageError("a SQLite store has a single server: stop it instead (there is nothing to drain it to)")
    import psycopg

    from ._pg_leases import LeaseOptions, ShardLeases

    where, conn = await _pg_connect(url)
    try:
        marked = await ShardLeases(conn, "operator", "", LeaseOptions(shards=1)).drain(node)
        if not marked:
            cur = await conn.execute("SELECT node, address FROM cluster_nodes ORDER BY started_at, node")
            known = [f"{n} ({a})" if a else str(n) for n, a in await cur.fetchall()]
            await conn.rollback()
            listed = ", ".join(known) if known else "none"
            raise StorageError(f"no server named {node!r} in the store at {where} (its servers: {listed})")
    except psycopg.Error as e:
        raise _pg_failed("drain a server in", where, e) from None
    finally:
        await conn.close()
    return marked


async def add_api_key(url: str, key: StoredApiKey) -> str:
    """Add ``key`` to the store at ``url`` directly (``operator api-key create --db``: the way to make the first
    admin key before any server runs, or with none reachable), migrating the schema first if it is behind.
    Running servers learn of it within seconds. The store, as messages name it."""
    row = dataclasses.astuple(key)
    status = await schema_status(url)
    if status.newer:
        raise StorageError(f"the store {status.store} was migrated by a newer Mainspring (schema {status.version})")
    if status.pending:
        await migrate_schema(url)
    store = store_from_url(url, migrate=False)
    if isinstance(store, SQLiteStore):
        path = _sqlite_path(store)
        try:
            conn = sqlite3.connect(os.path.realpath(path), timeout=10, isolation_level=None)
            try:
                conn.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            finally:
                conn.close()
        except sqlite3.Error as e:
            raise StorageError(f"cannot add the key to the database {path!r}: {e}") from None
        return os.path.realpath(path)
    import psycopg

    where, pg = await _pg_connect(url)
    try:
        await pg.execute("INSERT INTO api_keys VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", row)
        await pg.commit()
    except psycopg.Error as e:
        raise _pg_failed("add the key to", where, e) from None
    finally:
        await pg.close()
    return where
