"""How transitions become rows in the PostgreSQL store: the statements one write, or many together, runs.

``PostgresStore`` decides which writes go into a transaction and what a refusal means (see its
``_commit``); this module only turns ``ExecutionWrite`` values into SQL on a cursor it is given, as
``_sqlite_writes`` does for SQLite, with the same statements one write at a time.

Many writes together: a round trip to the database, and psycopg's async work around it, costs far more
than the rows it carries, so a batch of transitions is applied with one statement per table (rows as
``VALUES`` lists) rather than several statements per transition, and sent in pipeline mode (see
``PostgresStore._commit``). psycopg prepares the statements run often (a text per number of rows), so
the database parses and plans each once.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._json import dumps_str
from ..api.enums import WorkflowStatus
from ._base import ConditionFailedError, ExecutionAlreadyRunningError, ExecutionRecord, ExecutionWrite
from ._sqlite_writes import EXEC_COLUMNS, attributes_json, has_items, new_row

if TYPE_CHECKING:
    from psycopg import AsyncCursor

__all__ = [
    "Check",
    "can_update_together",
    "creates_together",
    "delete_run",
    "updates_together",
    "write_follow_on",
    "write_one",
]


# --- many writes together -----------------------------------------------------------------------------

# Each statement takes its rows as ``(VALUES ...)`` with one placeholder per value (``{rows}`` below), cast
# where the database could not tell the type otherwise. (Arrays spread by ``unnest`` keep one statement
# text for any number of rows, but cost psycopg several times more to send: a batch is most often one
# transition, and that case is what the latency of a step is made of.)
_UPDATE_RUNS = (
    "UPDATE executions SET status=v.status, close_time=v.close_time, next_event_id=v.next_event_id, "
    "version=v.version, state=v.state FROM (VALUES {rows}) AS v(run_id, expected, status, close_time, "
    "next_event_id, version, state) WHERE executions.run_id=v.run_id AND executions.version=v.expected",
    "(%s::text,%s::bigint,%s::text,%s::float8,%s::bigint,%s::bigint,%s::text)",
)
_CLOSE_CURRENT = (
    "UPDATE current_executions SET status=v.status FROM (VALUES {rows}) AS v(namespace, workflow_id, run_id, "
    "status) WHERE current_executions.namespace=v.namespace AND current_executions.workflow_id=v.workflow_id "
    "AND current_executions.run_id=v.run_id",
    "(%s::text,%s::text,%s::text,%s::text)",
)
_INSERT_EVENTS = ("INSERT INTO history VALUES {rows}", "(%s,%s,%s,%s,%s)")
_CLEAR_ITEMS = ("DELETE FROM pending WHERE run_id IN ({rows})", "%s")
_DELETE_ITEMS = ("DELETE FROM pending WHERE (run_id, kind, key) IN (VALUES {rows})", "(%s::text,%s::text,%s::text)")
_PUT_ITEMS = (
    "INSERT INTO pending VALUES {rows} ON CONFLICT (run_id, kind, key) DO UPDATE SET value=EXCLUDED.value",
    "(%s,%s,%s,%s)",
)
_FIND_CURRENT = (
    "SELECT namespace, workflow_id, status, request_id FROM current_executions "
    "WHERE (namespace, workflow_id) IN (VALUES {rows})",
    "(%s::text,%s::text)",
)
_PUT_CURRENTS = (
    "INSERT INTO current_executions VALUES {rows} ON CONFLICT (namespace, workflow_id) DO UPDATE SET "
    "run_id=EXCLUDED.run_id, status=EXCLUDED.status, request_id=EXCLUDED.request_id",
    "(%s,%s,%s,%s,%s)",
)
_INSERT_RUNS = ("INSERT INTO executions (" + EXEC_COLUMNS + ", state) VALUES {rows}", "(" + ",".join(["%s"] * 12) + ")")

#: At most this many parameters in one statement (PostgreSQL's limit is 65,535).
_MAX_PARAMS = 30000


@functools.lru_cache(maxsize=512)
def _sql(statement: tuple[str, str], n: int) -> str:
    text, row = statement
    return text.replace("{rows}", ",".join([row] * n))


async def _send(cur: AsyncCursor[Any], statement: tuple[str, str], rows: list[tuple[Any, ...]]) -> None:
    """Send ``statement`` for ``rows``, in as few statements as the parameter limit allows."""
    width = len(rows[0])
    step = max(1, _MAX_PARAMS // width)
    for i in range(0, len(rows), step):
        chunk = rows[i : i + step]
        await cur.execute(_sql(statement, len(chunk)), [v for row in chunk for v in row])


async def _events_and_items(cur: AsyncCursor[Any], ops: list[ExecutionWrite]) -> None:
    """The history events and pending-item changes of ``ops`` (each for a different run), a statement
    each. Each op's own order holds: its clear, its deletes, its puts (they touch only its own run)."""
    events = [
        (op.record.run_id, e.event_id, e.event_time, e.event_type.value, attributes_json(e))
        for op in ops
        for e in op.events
    ]
    if events:
        await _send(cur, _INSERT_EVENTS, events)
    clears = [(op.record.run_id,) for op in ops if op.clear_pending]
    deletes = [(op.record.run_id, kind, key) for op in ops for kind, key in op.delete_items]
    # One row per key: a statement may not change a row twice (the last value put is the one kept).
    puts = {(op.record.run_id, item.kind, item.key): dumps_str(item.value) for op in ops for item in op.put_items}
    if clears:
        await _send(cur, _CLEAR_ITEMS, clears)
    if deletes:
        await _send(cur, _DELETE_ITEMS, deletes)
    if puts:
        await _send(cur, _PUT_ITEMS, [(*k, v) for k, v in puts.items()])


#: After the statements of a batch were sent: raises ``ConditionFailedError`` if the batch could not be
#: applied as a whole (results are read only once the database answered: see ``PostgresStore._commit``).
Check = Callable[[], Awaitable[None]]


async def updates_together(cur: AsyncCursor[Any], ops: list[ExecutionWrite]) -> Check:
    """Send the statements that apply many transitions of existing runs, a few in all. The check they
    return fails if one of them does not hold (a stale version): the caller's savepoint is then rolled
    back, and each write tried on its own, refused with its own error.

    Writes with a ``follow_on``, and two writes of one run, are the caller's to keep out
    (``can_update_together``)."""
    rows = [
        (
            op.record.run_id,
            op.expected_version,
            op.record.status.value,
            op.record.close_time,
            op.record.next_event_id,
            op.record.version,
            dumps_str(op.record.state),
        )
        for op in ops
    ]
    updated = cur.connection.cursor()
    # One statement (a batch is at most a few hundred writes): its row count is the check.
    await updated.execute(_sql(_UPDATE_RUNS, len(rows)), [v for row in rows for v in row])
    closed = [
        (op.record.namespace, op.record.workflow_id, op.record.run_id, op.record.status.value)
        for op in ops
        if op.record.status is not WorkflowStatus.RUNNING
    ]
    if closed:
        await _send(cur, _CLOSE_CURRENT, closed)
    await _events_and_items(cur, [op for op in ops if op.events or has_items(op)])

    async def check() -> None:
        if updated.rowcount != len(ops):
            raise ConditionFailedError("a version did not match")

    return check


def can_update_together(ops: list[ExecutionWrite]) -> bool:
    """Two steps of one run must be applied in order, one by one."""
    return len({op.record.run_id for op in ops}) == len(ops)


async def creates_together(cur: AsyncCursor[Any], ops: list[ExecutionWrite]) -> Check | None:
    """Send the statements that record many new runs, a few in all; None (nothing sent) if some of them
    must be checked one by one (a workflow id twice in the batch, a conditional start). The check fails if
    any may be refused (its workflow id is running, or its request id was seen); an insert that fails (a
    run id that exists) fails them all. Either way each is then tried on its own."""
    requests: dict[tuple[str, str], str | None] = {
        (op.record.namespace, op.record.workflow_id): op.record.request_id for op in ops
    }
    if len(requests) != len(ops) or any(op.if_current is not None for op in ops):
        return None
    # Sent first, so it reads the ids as they were before the statements after it.
    found = cur.connection.cursor()
    await _send(found, _FIND_CURRENT, list(requests))
    current = [(r.namespace, r.workflow_id, r.run_id, r.status.value, r.request_id) for r in (op.record for op in ops)]
    await _send(cur, _PUT_CURRENTS, current)
    await _send(cur, _INSERT_RUNS, [new_row(op.record) for op in ops])
    await _events_and_items(cur, [op for op in ops if op.events or has_items(op)])

    async def check() -> None:
        for ns, wid, status, request_id in await found.fetchall():
            if status == WorkflowStatus.RUNNING or (request_id is not None and requests[ns, wid] == request_id):
                raise ConditionFailedError(f"workflow {wid!r} may not start again")

    return check


# --- the statements of one write ----------------------------------------------------------------------


async def _events(cur: AsyncCursor[Any], run_id: str, events: Any) -> None:
    if events:
        await cur.executemany(
            "INSERT INTO history VALUES (%s, %s, %s, %s, %s)",
            [(run_id, e.event_id, e.event_time, e.event_type.value, attributes_json(e)) for e in events],
        )


async def _items(cur: AsyncCursor[Any], op: ExecutionWrite) -> None:
    run_id = op.record.run_id
    if op.clear_pending:
        await cur.execute("DELETE FROM pending WHERE run_id=%s", (run_id,))
    if op.delete_items:
        await cur.executemany(
            "DELETE FROM pending WHERE run_id=%s AND kind=%s AND key=%s",
            [(run_id, kind, key) for kind, key in op.delete_items],
        )
    if op.put_items:
        await cur.executemany(
            "INSERT INTO pending VALUES (%s, %s, %s, %s) ON CONFLICT (run_id, kind, key) DO UPDATE SET "
            "value=EXCLUDED.value",
            [(run_id, item.kind, item.key, dumps_str(item.value)) for item in op.put_items],
        )


_INSERT_RUN = "INSERT INTO executions (" + EXEC_COLUMNS + ", state) VALUES (" + ",".join(["%s"] * 12) + ")"
_PUT_CURRENT = (
    "INSERT INTO current_executions VALUES (%s, %s, %s, %s, %s) ON CONFLICT (namespace, workflow_id) DO UPDATE "
    "SET run_id=EXCLUDED.run_id, status=EXCLUDED.status, request_id=EXCLUDED.request_id"
)


async def write_one(cur: AsyncCursor[Any], op: ExecutionWrite) -> None:
    """One transition (the same statements as SQLite's ``_sqlite_writes.write_one``)."""
    r = op.record
    if op.expected_version is None:
        await cur.execute(
            "SELECT run_id, status, request_id FROM current_executions WHERE namespace=%s AND workflow_id=%s "
            "FOR UPDATE",
            (r.namespace, r.workflow_id),
        )
        row = await cur.fetchone()
        if row is not None and (row[1] == WorkflowStatus.RUNNING or (r.request_id and row[2] == r.request_id)):
            raise ExecutionAlreadyRunningError(
                f"workflow {r.workflow_id!r} is already running (run {row[0]})", run_id=row[0], request_id=row[2]
            )
        if op.if_current is not None and (row[0] if row is not None else "") != op.if_current:
            raise ConditionFailedError(
                f"workflow {r.workflow_id!r} has another newest run than when its start was decided on"
            )
        await cur.execute(_PUT_CURRENT, (r.namespace, r.workflow_id, r.run_id, r.status.value, r.request_id))
        await cur.execute(_INSERT_RUN, new_row(r))
    else:
        await cur.execute(
            "UPDATE executions SET status=%s, close_time=%s, next_event_id=%s, version=%s, state=%s "
            "WHERE run_id=%s AND version=%s RETURNING run_id",
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
        if await cur.fetchone() is None:
            raise ConditionFailedError(
                f"execution {r.run_id} was changed concurrently (expected version {op.expected_version})"
            )
        if r.status is not WorkflowStatus.RUNNING:
            await cur.execute(
                "UPDATE current_executions SET status=%s WHERE namespace=%s AND workflow_id=%s AND run_id=%s",
                (r.status.value, r.namespace, r.workflow_id, r.run_id),
            )
    await _events(cur, r.run_id, op.events)
    await _items(cur, op)
    if op.follow_on is not None:
        await write_follow_on(cur, r, op.follow_on)


async def write_follow_on(cur: AsyncCursor[Any], closed: ExecutionRecord, op: ExecutionWrite) -> None:
    r = op.record
    if op.expected_version is not None or closed.status is WorkflowStatus.RUNNING:
        raise ConditionFailedError(f"run {r.run_id} can only follow a run closed by the same write")
    await cur.execute(
        "UPDATE current_executions SET run_id=%s, status=%s, request_id=%s "
        "WHERE namespace=%s AND workflow_id=%s AND run_id=%s RETURNING run_id",
        (r.run_id, r.status.value, r.request_id, r.namespace, r.workflow_id, closed.run_id),
    )
    if await cur.fetchone() is None:
        raise ConditionFailedError(f"run {closed.run_id} is not the current run of workflow {r.workflow_id!r}")
    await cur.execute(_INSERT_RUN, new_row(r))
    await _events(cur, r.run_id, op.events)
    await _items(cur, op)


async def delete_run(cur: AsyncCursor[Any], run_id: str) -> bool:
    await cur.execute("SELECT namespace, workflow_id, status FROM executions WHERE run_id=%s FOR UPDATE", (run_id,))
    row = await cur.fetchone()
    if row is None:
        return False
    namespace, workflow_id, status = row
    if status == WorkflowStatus.RUNNING:
        raise ConditionFailedError(f"run {run_id} is running: only a closed run is deleted")
    await cur.execute("DELETE FROM history WHERE run_id=%s", (run_id,))
    await cur.execute("DELETE FROM pending WHERE run_id=%s", (run_id,))
    await cur.execute("DELETE FROM executions WHERE run_id=%s", (run_id,))
    await cur.execute(
        "SELECT run_id FROM current_executions WHERE namespace=%s AND workflow_id=%s", (namespace, workflow_id)
    )
    current = await cur.fetchone()
    if current is not None and current[0] == run_id:
        await cur.execute(
            "SELECT run_id, status, request_id FROM executions WHERE namespace=%s AND workflow_id=%s "
            'ORDER BY start_time DESC, run_id COLLATE "C" DESC LIMIT 1',
            (namespace, workflow_id),
        )
        newest = await cur.fetchone()
        if newest is None:
            await cur.execute(
                "DELETE FROM current_executions WHERE namespace=%s AND workflow_id=%s", (namespace, workflow_id)
            )
        else:
            await cur.execute(
                "UPDATE current_executions SET run_id=%s, status=%s, request_id=%s WHERE namespace=%s AND "
                "workflow_id=%s",
                (*newest, namespace, workflow_id),
            )
    return True
