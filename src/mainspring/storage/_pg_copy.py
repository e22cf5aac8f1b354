"""The PostgreSQL store's side of ``store copy``: the same rows as ``_sqlite_copy``, in PostgreSQL's SQL.

Run ids are ordered ``COLLATE "C"`` (byte order), whatever the database's collation: the order SQLite
uses, so that paging through runs means the same on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._base import NamespaceRecord, StoreCounts, StoredBuild, StoredEvent, StoredKey, StoredRun, StoredSchema
from ._sqlite_copy import COUNTS, EXPORT_RUNS, stored_run
from ._sqlite_writes import EXEC_COLUMNS

if TYPE_CHECKING:
    from psycopg import AsyncConnection, AsyncCursor

__all__ = ["count_contents", "export_events", "export_runs", "import_metadata", "import_runs"]


async def export_runs(conn: AsyncConnection[Any], after: str, limit: int) -> list[StoredRun]:
    async with conn.transaction():  # one snapshot: the rows and their items as one commit left them
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur = await conn.execute(
            EXPORT_RUNS + 'WHERE e.run_id COLLATE "C" > %s ORDER BY e.run_id COLLATE "C" LIMIT %s', (after, limit)
        )
        rows = list(await cur.fetchall())
        if not rows:
            return []
        cur = await conn.execute(
            "SELECT run_id, kind, key, value FROM pending WHERE run_id = ANY(%s) ORDER BY run_id, kind, key",
            ([r[2] for r in rows],),
        )
        items: dict[str, list[tuple[str, str, str]]] = {}
        for run_id, kind, key, value in await cur.fetchall():
            items.setdefault(run_id, []).append((kind, key, value))
    return [stored_run(r, items.get(r[2], [])) for r in rows]


async def export_events(
    conn: AsyncConnection[Any], run_ids: Sequence[str], first_event_id: int, last_event_id: int
) -> list[StoredEvent]:
    if not run_ids:
        return []
    cur = await conn.execute(
        "SELECT run_id, event_id, event_type, event_time, attributes FROM history WHERE run_id = ANY(%s) "
        'AND event_id >= %s AND event_id <= %s ORDER BY run_id COLLATE "C", event_id',
        (list(run_ids), first_event_id, min(last_event_id, 2**62)),
    )
    return [(r[0], int(r[1]), r[2], r[3], r[4]) for r in await cur.fetchall()]


async def import_runs(cur: AsyncCursor[Any], runs: Sequence[StoredRun]) -> None:
    """Inside the writer's transaction (fenced by the store's lease); plain INSERTs, so that a clash refuses
    the whole import (see ``_sqlite_copy.import_runs``)."""
    rows = []
    for run in runs:
        r = run.record
        rows.append(
            (
                r.namespace,
                r.workflow_id,
                r.run_id,
                r.workflow_type,
                r.task_queue,
                r.status.value,
                r.start_time,
                r.close_time,
                r.next_event_id,
                r.version,
                r.request_id,
                run.state,
            )
        )
    await cur.executemany(
        "INSERT INTO executions (" + EXEC_COLUMNS + ", state) VALUES (" + ",".join(["%s"] * 12) + ")", rows
    )
    current = [
        (run.record.namespace, run.record.workflow_id, run.record.run_id, *run.current)
        for run in runs
        if run.current is not None
    ]
    if current:
        await cur.executemany("INSERT INTO current_executions VALUES (%s, %s, %s, %s, %s)", current)
    pending = [(run.record.run_id, *item) for run in runs for item in run.pending]
    if pending:
        await cur.executemany("INSERT INTO pending VALUES (%s, %s, %s, %s)", pending)
    events = [e for run in runs for e in run.events]
    if events:
        # COPY: a long history goes in as one stream, not one statement per event.
        async with cur.copy("COPY history (run_id, event_id, event_type, event_time, attributes) FROM STDIN") as copy:
            for e in events:
                await copy.write_row(e)


async def import_metadata(
    cur: AsyncCursor[Any],
    namespaces: Sequence[NamespaceRecord],
    keys: Sequence[StoredKey],
    schemas: Sequence[StoredSchema],
    builds: Sequence[StoredBuild],
) -> None:
    if namespaces:
        await cur.executemany(
            "INSERT INTO namespaces VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "description = EXCLUDED.description, created_at = EXCLUDED.created_at",
            [(n.name, n.description, n.created_at) for n in namespaces],
        )
    if keys:
        await cur.executemany(
            "INSERT INTO server_keys VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "key = EXCLUDED.key, created_at = EXCLUDED.created_at",
            [(k.name, k.key, k.created_at) for k in keys],
        )
    if schemas:
        await cur.executemany(
            "INSERT INTO workflow_schemas (namespace, task_queue, workflow_type, input_schema, updated_at, handlers) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (namespace, task_queue, workflow_type) DO UPDATE SET "
            "input_schema = EXCLUDED.input_schema, updated_at = EXCLUDED.updated_at, handlers = EXCLUDED.handlers",
            [(s.namespace, s.task_queue, s.workflow_type, s.input_schema, s.updated_at, s.handlers) for s in schemas],
        )
    if builds:
        await cur.executemany(
            "INSERT INTO worker_builds (namespace, task_queue, build_id, first_seen) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (namespace, task_queue, build_id) DO UPDATE SET first_seen = EXCLUDED.first_seen",
            [(b.namespace, b.task_queue, b.build_id, b.first_seen) for b in builds],
        )


async def count_contents(conn: AsyncConnection[Any]) -> StoreCounts:
    cur = await conn.execute(COUNTS)
    row = await cur.fetchone()
    assert row is not None
    return StoreCounts(*(int(v) for v in row))
