"""The SQLite store's side of ``store copy``: its rows read out as stored, and rows of another store written in.

``SQLiteStore`` runs these on its connections (reads on its reader, in one snapshot; writes through its
writer thread, as one transaction like any other write); see ``Store.export_runs`` and ``storage._copy``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..api.enums import WorkflowStatus
from ._base import (
    ExecutionRecord,
    NamespaceRecord,
    StoreCounts,
    StoredBuild,
    StoredEvent,
    StoredKey,
    StoredRun,
    StoredSchema,
)
from ._sqlite_writes import EXEC_COLUMNS

__all__ = ["count_contents", "export_events", "export_runs", "import_metadata", "import_runs", "stored_run"]

_QUALIFIED = ", ".join("e." + c.strip() for c in EXEC_COLUMNS.split(","))

#: A page of runs: each row's columns (EXEC_COLUMNS), its state, then its current-run entry's status and
#: request id (NULL status: the workflow id's current run is another).
EXPORT_RUNS = (
    "SELECT " + _QUALIFIED + ", e.state, c.status, c.request_id FROM executions AS e "
    "LEFT JOIN current_executions AS c "
    "ON c.namespace = e.namespace AND c.workflow_id = e.workflow_id AND c.run_id = e.run_id "
)


def stored_run(row: Sequence[Any], items: list[tuple[str, str, str]]) -> StoredRun:
    """A ``StoredRun`` from a row of ``EXPORT_RUNS`` (both stores' form) and its pending items."""
    record = ExecutionRecord(
        namespace=row[0],
        workflow_id=row[1],
        run_id=row[2],
        workflow_type=row[3],
        task_queue=row[4],
        status=WorkflowStatus(row[5]),
        start_time=row[6],
        close_time=row[7],
        next_event_id=int(row[8]),
        version=int(row[9]),
        request_id=row[10],
    )
    current = (row[12], row[13]) if row[12] is not None else None
    return StoredRun(record, row[11], current, items)


def export_runs(conn: sqlite3.Connection, after: str, limit: int) -> list[StoredRun]:
    # TEXT compares as bytes (BINARY collation): the byte order ``Store.export_runs`` promises.
    rows = conn.execute(EXPORT_RUNS + "WHERE e.run_id > ? ORDER BY e.run_id LIMIT ?", (after, limit)).fetchall()
    if not rows:
        return []
    items: dict[str, list[tuple[str, str, str]]] = {}
    for run_id, kind, key, value in conn.execute(
        "SELECT run_id, kind, key, value FROM pending WHERE run_id > ? AND run_id <= ? ORDER BY run_id, kind, key",
        (after, rows[-1][2]),
    ):
        items.setdefault(run_id, []).append((kind, key, value))
    return [stored_run(r, items.get(r[2], [])) for r in rows]


def export_events(
    conn: sqlite3.Connection, run_ids: Sequence[str], first_event_id: int, last_event_id: int
) -> list[StoredEvent]:
    if not run_ids:
        return []
    rows = conn.execute(
        "SELECT run_id, event_id, event_type, event_time, attributes FROM history WHERE run_id IN ("
        + ",".join("?" * len(run_ids))
        + ") AND event_id >= ? AND event_id <= ? ORDER BY run_id, event_id",
        (*run_ids, first_event_id, last_event_id),
    ).fetchall()
    return [(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]


def import_runs(conn: sqlite3.Connection, runs: Sequence[StoredRun]) -> None:
    """Inside the writer's transaction. Plain INSERTs: a run id or a current entry the database holds
    already is an IntegrityError, which refuses the whole import (the store's savepoint rolls it back)."""
    conn.executemany(
        "INSERT INTO executions (" + EXEC_COLUMNS + ", state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [_row(run) for run in runs],
    )
    conn.executemany(
        "INSERT INTO current_executions VALUES (?, ?, ?, ?, ?)",
        [
            (run.record.namespace, run.record.workflow_id, run.record.run_id, *run.current)
            for run in runs
            if run.current is not None
        ],
    )
    conn.executemany(
        "INSERT INTO pending VALUES (?, ?, ?, ?)", [(run.record.run_id, *i) for run in runs for i in run.pending]
    )
    conn.executemany(
        "INSERT INTO history (run_id, event_id, event_type, event_time, attributes) VALUES (?, ?, ?, ?, ?)",
        [e for run in runs for e in run.events],
    )


def _row(run: StoredRun) -> tuple[Any, ...]:
    r = run.record
    return (
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


def import_metadata(
    conn: sqlite3.Connection,
    namespaces: Sequence[NamespaceRecord],
    keys: Sequence[StoredKey],
    schemas: Sequence[StoredSchema],
    builds: Sequence[StoredBuild],
) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO namespaces VALUES (?, ?, ?)",
        [(n.name, n.description, n.created_at) for n in namespaces],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO server_keys VALUES (?, ?, ?)", [(k.name, k.key, k.created_at) for k in keys]
    )
    conn.executemany(
        "INSERT OR REPLACE INTO workflow_schemas"
        " (namespace, task_queue, workflow_type, input_schema, updated_at, handlers) VALUES (?, ?, ?, ?, ?, ?)",
        [(s.namespace, s.task_queue, s.workflow_type, s.input_schema, s.updated_at, s.handlers) for s in schemas],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO worker_builds (namespace, task_queue, build_id, first_seen) VALUES (?, ?, ?, ?)",
        [(b.namespace, b.task_queue, b.build_id, b.first_seen) for b in builds],
    )


#: The statements of ``count_contents``, the same in both stores' SQL.
COUNTS = (
    "SELECT (SELECT count(*) FROM namespaces), (SELECT count(*) FROM executions), "
    "(SELECT count(*) FROM executions WHERE status = 'RUNNING'), (SELECT count(*) FROM history), "
    "(SELECT count(*) FROM pending), (SELECT count(*) FROM server_keys), (SELECT count(*) FROM workflow_schemas), "
    "(SELECT count(*) FROM worker_builds)"
)


def count_contents(conn: sqlite3.Connection) -> StoreCounts:
    row = conn.execute(COUNTS).fetchone()
    return StoreCounts(*(int(v) for v in row))
