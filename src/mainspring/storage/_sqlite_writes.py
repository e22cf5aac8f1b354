"""How transitions become rows in the SQLite store: the statements one write, or many together, runs.

``SQLiteStore`` decides which writes go into a transaction and what a failure means (see its
``_write_batch``); this module only turns ``ExecutionWrite`` values into SQL on a connection it is given.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .._json import dumps_str
from ..api.enums import WorkflowStatus
from ._base import ConditionFailedError, ExecutionAlreadyRunningError, ExecutionRecord, ExecutionWrite, HistoryEvent

__all__ = [
    "EXEC_COLUMNS",
    "delete_run",
    "has_items",
    "write_creates_together",
    "write_follow_on",
    "write_items",
    "write_one",
    "write_updates_together",
]

EXEC_COLUMNS = (
    "namespace, workflow_id, run_id, workflow_type, task_queue, status, start_time, close_time, "
    "next_event_id, version, request_id"
)


def attributes_json(e: HistoryEvent) -> str:
    """An event's attributes as the JSON text stored, from ``e.encoded`` if it has it (see
    ``HistoryEvent.encoded``), which is then dropped: an event kept in memory after its write (the
    engine's tail of a run's history) holds its attributes once, not a second time as JSON. A write
    tried again (alone, after a batch statement was refused) encodes them itself."""
    encoded = e.encoded
    if encoded is None:
        return dumps_str(e.attributes)
    e.encoded = None
    return encoded.decode()


def new_row(r: ExecutionRecord) -> tuple[Any, ...]:
    """A new run's executions row, in the order of ``EXEC_COLUMNS`` plus its state."""
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
        dumps_str(r.state),
    )


#: At most this many parameters per statement (SQLite's limit is 32,766).
MAX_PARAMS = 30000


def _chunks(flat: list[Any], width: int) -> list[list[Any]]:
    """``flat`` (rows of ``width`` parameters) in slices that fit one statement each."""
    step = MAX_PARAMS // width * width
    return [flat[i : i + step] for i in range(0, len(flat), step)]


def write_items(conn: sqlite3.Connection, ops: list[ExecutionWrite]) -> None:
    """Apply the pending-item changes of ``ops`` (each for a different run): a few statements for all
    of them, whatever their number. Each op's own order holds: its clear, its deletes, its puts."""
    clears: list[Any] = []
    deletes: list[Any] = []
    puts: list[Any] = []
    for op in ops:
        run_id = op.record.run_id
        if op.clear_pending:
            clears.append(run_id)
        for kind, key in op.delete_items:
            deletes += (run_id, kind, key)
        for item in op.put_items:
            puts += (run_id, item.kind, item.key, dumps_str(item.value))
    for chunk in _chunks(clears, 1):
        conn.execute("DELETE FROM pending WHERE run_id IN (" + ",".join("?" * len(chunk)) + ")", chunk)
    for chunk in _chunks(deletes, 3):
        conn.execute(
            "DELETE FROM pending WHERE (run_id, kind, key) IN (VALUES "
            + ",".join(["(?,?,?)"] * (len(chunk) // 3))
            + ")",
            chunk,
        )
    for chunk in _chunks(puts, 4):
        conn.execute("INSERT OR REPLACE INTO pending VALUES " + ",".join(["(?,?,?,?)"] * (len(chunk) // 4)), chunk)


def has_items(op: ExecutionWrite) -> bool:
    return op.clear_pending or bool(op.delete_items) or bool(op.put_items)


def write_updates_together(conn: sqlite3.Connection, ops: list[ExecutionWrite]) -> bool:
    """Apply many transitions with three statements instead of several each; False (and nothing
    applied) if one of them does not hold (a stale version), so each is then tried on its own.

    Each statement lets other threads run while SQLite works and must get the interpreter lock back
    afterwards; under load that wait, not SQLite, was most of a commit's time.
    """
    rows: list[Any] = []
    events: list[Any] = []
    closed: list[ExecutionRecord] = []
    for op in ops:
        r = op.record
        rows += (
            r.run_id,
            op.expected_version,
            r.status.value,
            r.close_time,
            r.next_event_id,
            r.version,
            dumps_str(r.state),
        )
        for e in op.events:
            events += (r.run_id, e.event_id, e.event_time, e.event_type.value, attributes_json(e))
        if r.status is not WorkflowStatus.RUNNING:
            closed.append(r)
    if len(rows) > MAX_PARAMS or len(events) > MAX_PARAMS:  # SQLite's limit on parameters per statement
        return False
    if len({op.record.run_id for op in ops}) != len(ops):  # two steps of one run: in order, one by one
        return False
    if any(op.follow_on is not None for op in ops):  # (the SQLite store keeps these out: see _write_batch)
        return False
    conn.execute("SAVEPOINT together")
    try:
        cur = conn.execute(
            "UPDATE executions SET status=v.column3, close_time=v.column4, next_event_id=v.column5, "
            "version=v.column6, state=v.column7 FROM (VALUES "
            + ",".join(["(?,?,?,?,?,?,?)"] * len(ops))
            + ") AS v WHERE executions.run_id=v.column1 AND executions.version=v.column2",
            rows,
        )
        if cur.rowcount != len(ops):
            raise ConditionFailedError("a version did not match")
        for r in closed:
            conn.execute(
                "UPDATE current_executions SET status=? WHERE namespace=? AND workflow_id=? AND run_id=?",
                (r.status.value, r.namespace, r.workflow_id, r.run_id),
            )
        if events:
            conn.execute("INSERT INTO history VALUES " + ",".join(["(?,?,?,?,?)"] * (len(events) // 5)), events)
        write_items(conn, [op for op in ops if has_items(op)])
        conn.execute("RELEASE together")
        return True
    except (ConditionFailedError, sqlite3.IntegrityError):
        conn.execute("ROLLBACK TO together")
        conn.execute("RELEASE together")
        return False


def write_creates_together(conn: sqlite3.Connection, ops: list[ExecutionWrite]) -> bool:
    """Record many new runs with four statements instead of six each (see write_updates_together);
    False (and nothing applied) if any of them may be refused (its workflow id is already running, or
    appears twice in the batch), so each is then tried on its own and refused with its own error."""
    keys: list[Any] = []
    requests: dict[tuple[str, str], str | None] = {}
    current: list[Any] = []
    rows: list[Any] = []
    events: list[Any] = []
    for op in ops:
        r = op.record
        keys += (r.namespace, r.workflow_id)
        requests[r.namespace, r.workflow_id] = r.request_id
        current += (r.namespace, r.workflow_id, r.run_id, r.status.value, r.request_id)
        rows += new_row(r)
        for e in op.events:
            events += (r.run_id, e.event_id, e.event_time, e.event_type.value, attributes_json(e))
    n = len(ops)
    if any(op.if_current is not None for op in ops):  # conditional: each checked on its own (write_one)
        return False
    if len(requests) != n or len(rows) > MAX_PARAMS or len(events) > MAX_PARAMS:
        return False
    for ns, wid, status, request_id in conn.execute(
        "SELECT namespace, workflow_id, status, request_id FROM current_executions WHERE (namespace, workflow_id) "
        "IN (VALUES " + ",".join(["(?,?)"] * n) + ")",
        keys,
    ):
        if status == WorkflowStatus.RUNNING or (request_id is not None and requests[ns, wid] == request_id):
            return False
    conn.execute("SAVEPOINT together")
    try:
        conn.execute("INSERT OR REPLACE INTO current_executions VALUES " + ",".join(["(?,?,?,?,?)"] * n), current)
        conn.execute(
            "INSERT INTO executions ("
            + EXEC_COLUMNS
            + ", state) VALUES "
            + ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?)"] * n),
            rows,
        )
        if events:
            conn.execute("INSERT INTO history VALUES " + ",".join(["(?,?,?,?,?)"] * (len(events) // 5)), events)
        write_items(conn, [op for op in ops if has_items(op)])
        conn.execute("RELEASE together")
        return True
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO together")
        conn.execute("RELEASE together")
        return False


def write_one(conn: sqlite3.Connection, op: ExecutionWrite) -> None:
    """Apply one transition: create the run or update it (if its version still holds), append its
    events, change its pending items. Raises if it is refused (see ``SQLiteStore._write_batch``)."""
    r = op.record
    if op.expected_version is None:
        row = conn.execute(
            "SELECT run_id, status, request_id FROM current_executions WHERE namespace=? AND workflow_id=?",
            (r.namespace, r.workflow_id),
        ).fetchone()
        # A start repeated with its request id finds the run it started, even one that has closed.
        if row is not None and (row[1] == WorkflowStatus.RUNNING or (r.request_id and row[2] == r.request_id)):
            raise ExecutionAlreadyRunningError(
                f"workflow {r.workflow_id!r} is already running (run {row[0]})",
                run_id=row[0],
                request_id=row[2],
            )
        if op.if_current is not None and (row[0] if row is not None else "") != op.if_current:
            raise ConditionFailedError(
                f"workflow {r.workflow_id!r} has another newest run than when its start was decided on"
            )
        conn.execute(
            "INSERT OR REPLACE INTO current_executions VALUES (?, ?, ?, ?, ?)",
            (r.namespace, r.workflow_id, r.run_id, r.status.value, r.request_id),
        )
        conn.execute(
            "INSERT INTO executions (" + EXEC_COLUMNS + ", state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            new_row(r),
        )
    else:
        cur = conn.execute(
            "UPDATE executions SET status=?, close_time=?, next_event_id=?, version=?, state=? "
            "WHERE run_id=? AND version=?",
            (
                r.status.value,
                r.close_time,
                r.next_event_id,
                r.version,
                dumps_str(r.state),
                r.run_id,
                op.expected_version,
            ),
        )
        if cur.rowcount != 1:
            raise ConditionFailedError(
                f"execution {r.run_id} was changed concurrently (expected version {op.expected_version})"
            )
        if r.status is not WorkflowStatus.RUNNING:
            conn.execute(
                "UPDATE current_executions SET status=? WHERE namespace=? AND workflow_id=? AND run_id=?",
                (r.status.value, r.namespace, r.workflow_id, r.run_id),
            )
    if op.events:
        conn.executemany(
            "INSERT INTO history VALUES (?, ?, ?, ?, ?)",
            [(r.run_id, e.event_id, e.event_time, e.event_type.value, attributes_json(e)) for e in op.events],
        )
    if has_items(op):
        write_items(conn, [op])
    if op.follow_on is not None:
        write_follow_on(conn, op.record, op.follow_on)


def write_follow_on(conn: sqlite3.Connection, closed: ExecutionRecord, op: ExecutionWrite) -> None:
    """Create the run that follows ``closed`` (just closed by the same write, see ``ExecutionWrite.follow_on``):
    it becomes its workflow id's current run. Raises (the whole write is refused) if ``closed`` was not the
    current run, or is still running."""
    r = op.record
    if op.expected_version is not None or closed.status is WorkflowStatus.RUNNING:
        raise ConditionFailedError(f"run {r.run_id} can only follow a run closed by the same write")
    cur = conn.execute(
        "UPDATE current_executions SET run_id=?, status=?, request_id=? "
        "WHERE namespace=? AND workflow_id=? AND run_id=?",
        (r.run_id, r.status.value, r.request_id, r.namespace, r.workflow_id, closed.run_id),
    )
    if cur.rowcount != 1:
        raise ConditionFailedError(f"run {closed.run_id} is not the current run of workflow {r.workflow_id!r}")
    conn.execute("INSERT INTO executions (" + EXEC_COLUMNS + ", state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", new_row(r))
    if op.events:
        conn.executemany(
            "INSERT INTO history VALUES (?, ?, ?, ?, ?)",
            [(r.run_id, e.event_id, e.event_time, e.event_type.value, attributes_json(e)) for e in op.events],
        )
    if has_items(op):
        write_items(conn, [op])


def delete_run(conn: sqlite3.Connection, run_id: str) -> bool:
    """Delete a closed run with its history and pending items (see ``Store.delete_execution``); False if there
    is no such run. If it was its workflow id's current run, the id's newest remaining run takes its place."""
    row = conn.execute("SELECT namespace, workflow_id, status FROM executions WHERE run_id=?", (run_id,)).fetchone()
    if row is None:
        return False
    namespace, workflow_id, status = row
    if status == WorkflowStatus.RUNNING:
        raise ConditionFailedError(f"run {run_id} is running: only a closed run is deleted")
    conn.execute("DELETE FROM history WHERE run_id=?", (run_id,))
    conn.execute("DELETE FROM pending WHERE run_id=?", (run_id,))
    conn.execute("DELETE FROM executions WHERE run_id=?", (run_id,))
    current = conn.execute(
        "SELECT run_id FROM current_executions WHERE namespace=? AND workflow_id=?", (namespace, workflow_id)
    ).fetchone()
    if current is not None and current[0] == run_id:
        newest = conn.execute(
            "SELECT run_id, status, request_id FROM executions WHERE namespace=? AND workflow_id=? "
            "ORDER BY start_time DESC, run_id DESC LIMIT 1",
            (namespace, workflow_id),
        ).fetchone()
        if newest is None:
            conn.execute("DELETE FROM current_executions WHERE namespace=? AND workflow_id=?", (namespace, workflow_id))
        else:
            conn.execute(
                "UPDATE current_executions SET run_id=?, status=?, request_id=? WHERE namespace=? AND workflow_id=?",
                (*newest, namespace, workflow_id),
            )
    return True
