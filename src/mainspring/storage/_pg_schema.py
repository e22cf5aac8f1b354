"""The PostgreSQL store's schema: numbered migrations (``migrations/postgres/NNNN_name.sql``), applied in
order, each in its own transaction, safe when several servers start on one database at once."""

from __future__ import annotations

import logging
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

from ._base import StorageError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["latest_schema_version", "migrate", "migrations"]

log = logging.getLogger("mainspring.storage")


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) of every migration this Mainspring has, in order."""
    found = []
    for entry in resources.files("mainspring.storage.migrations.postgres").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_schema_version() -> int:
    return migrations()[-1][0]


async def applied_versions(conn: AsyncConnection[Any]) -> set[int]:
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        await conn.rollback()
        return set()
    cur = await conn.execute("SELECT version FROM schema_migrations")
    versions = {int(r[0]) for r in await cur.fetchall()}
    await conn.rollback()
    return versions


def _newer(applied: set[int], url: str) -> StorageError:
    return StorageError(
        f"the database {url} has schema version {max(applied)}, newer than this Mainspring knows "
        f"({latest_schema_version()}): upgrade Mainspring"
    )


async def check(conn: AsyncConnection[Any], url: str) -> int:
    """The schema's version, when it is current; StorageError if it is behind (``store migrate``) or ahead."""
    applied = await applied_versions(conn)
    latest = latest_schema_version()
    if applied and max(applied) > latest:
        raise _newer(applied, url)
    # Every version this build has, not only the newest: numbers may have gaps that a later build fills.
    if not applied or any(v not in applied for v, _ in migrations()):
        raise StorageError(
            f"the database {url} has schema version {max(applied, default=0)}, this Mainspring needs {latest}: "
            f"run `mainspring store migrate --db {url}`"
        )
    return latest


async def migrate(conn: AsyncConnection[Any], url: str) -> tuple[int, ...]:
    """Apply the migrations the database lacks; the versions applied.

    Several servers may do this at once: each migration runs in a transaction that first locks
    ``schema_migrations`` (the table is made first, by whichever server gets there; a lost race to make
    it is a unique violation or a duplicate type in PostgreSQL's catalog, tried again), and skips what
    another applied."""
    import psycopg

    for attempt in range(5):
        try:
            async with conn.transaction():
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
                )
            break
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject, psycopg.errors.DuplicateTable):
            # Lost the race: the catalog refuses the second table (its row type) as a unique violation
            # or as a duplicate type, depending on where the two creations crossed. The next try sees it.
            if attempt == 4:
                raise
    applied: list[int] = []
    for version, sql in migrations():
        async with conn.transaction():
            await conn.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {int(r[0]) for r in await cur.fetchall()}
            if done and max(done) > latest_schema_version():
                raise _newer(done, url)
            if version in done:
                continue
            log.info("applying schema migration %d", version)
            await conn.execute(sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (%s, %s)", (version, time.time())
            )
            applied.append(version)
    return tuple(applied)
