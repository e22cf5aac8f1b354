"""One contract for every store: the same operations, conflicts and faults on SQLite and on PostgreSQL (a real
cluster, tests/pgserver.py). A store-specific behaviour (SQLite's file lock, its checkpoints) is tested in
tests/test_storage.py; what any store must do is here."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from mainspring._visibility._parser import parse_query
from mainspring.api import EventType, WorkflowStatus
from mainspring.storage import (
    ConditionFailedError,
    ExecutionAlreadyRunningError,
    ExecutionRecord,
    ExecutionWrite,
    HistoryEvent,
    ListQuery,
    PendingItem,
    StorageError,
    Store,
    store_from_url,
)

Opener = Callable[[], Awaitable[Store]]


def _record(workflow_id: str, *, start: float | None = None, version: int = 1) -> ExecutionRecord:
    return ExecutionRecord(
        namespace="default",
        workflow_id=workflow_id,
        run_id=str(uuid.uuid4()),
        workflow_type="wf",
        task_queue="tq",
        status=WorkflowStatus.RUNNING,
        start_time=start if start is not None else time.time(),
        close_time=None,
        next_event_id=2,
        version=version,
        state={"x": 1},
    )


def _started(run_id: str) -> HistoryEvent:
    return HistoryEvent(1, EventType.WORKFLOW_EXECUTION_STARTED, time.time(), {"run_id": run_id, "input": [1, "a"]})


def _step(r: ExecutionRecord, state: dict[str, Any] | None = None) -> ExecutionWrite:
    expected = r.version
    r.version += 1
    r.state = state or {"v": r.version}
    return ExecutionWrite(dataclasses.replace(r), expected, [])


def _items(rec: ExecutionRecord | None) -> dict[tuple[str, str], Any]:
    assert rec is not None
    return {(i.kind, i.key): i.value for i in rec.pending}


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def opener(store_url: str) -> AsyncIterator[Opener]:
    """Opens a store on this test's database (the same one each time); closes what it opened."""
    opened: list[Store] = []

    async def open_one() -> Store:
        store = store_from_url(store_url)
        await store.open()
        opened.append(store)
        return store

    yield open_one
    for s in opened:
        await s.close()


async def test_create_update_and_history(opener: Opener) -> None:
    store = await opener()
    try:
        rec = _record("wf-1")
        await store.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
        # A second run of a running workflow id is refused, and nothing of it is stored.
        other = _record("wf-1")
        with pytest.raises(ExecutionAlreadyRunningError) as info:
            await store.write(ExecutionWrite(other, None, [_started(other.run_id)]))
        assert info.value.run_id == rec.run_id
        assert await store.get_run(other.run_id) is None
        assert await store.read_history(other.run_id) == []

        rec.version = 2
        rec.next_event_id = 3
        rec.state = {"x": 2}
        await store.write(ExecutionWrite(rec, 1, [HistoryEvent(2, EventType.WORKFLOW_TASK_SCHEDULED, 1.0, {})]))
        # A stale writer (expecting version 1 again) is refused and changes nothing.
        stale = _record("wf-1")
        stale.run_id = rec.run_id
        stale.version = 2
        with pytest.raises(ConditionFailedError):
            await store.write(ExecutionWrite(stale, 1, [HistoryEvent(3, EventType.TIMER_FIRED, 1.0, {})]))
        loaded = await store.get_execution("default", "wf-1")
        assert loaded is not None and loaded.state == {"x": 2} and loaded.version == 2
        events = await store.read_history(rec.run_id)
        assert [e.event_id for e in events] == [1, 2]
        assert events[0].attributes["input"] == [1, "a"]

        # Closing the run frees the workflow id for a new run.
        rec.version = 3
        rec.status = WorkflowStatus.COMPLETED
        rec.close_time = time.time()
        await store.write(ExecutionWrite(rec, 2, []))
        await store.write(ExecutionWrite(other, None, [_started(other.run_id)]))
        newest = await store.get_execution("default", "wf-1")
        assert newest is not None and newest.run_id == other.run_id
    finally:
        await store.close()


async def test_group_commit_isolates_failures(opener: Opener) -> None:
    """Many concurrent writes share commits; one refused write does not fail its neighbours."""
    store = await opener()
    try:
        records = [_record(f"wf-{i}") for i in range(200)]
        dup = _record("wf-7")  # conflicts with a running run in the same batch
        writes = [store.write(ExecutionWrite(r, None, [_started(r.run_id)])) for r in records]
        writes.append(store.write(ExecutionWrite(dup, None, [_started(dup.run_id)])))
        results = await asyncio.gather(*writes, return_exceptions=True)
        assert all(r is None for r in results[:-1])
        assert isinstance(results[-1], ExecutionAlreadyRunningError)
        page, _ = await store.list_executions("default", ListQuery(limit=1000))
        assert len(page) == 200
    finally:
        await store.close()


async def test_durable_across_reopen(opener: Opener) -> None:
    store = await opener()
    rec = _record("keep")
    await store.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
    await store.close()
    store = await opener()
    try:
        opened = [r async for r in store.open_executions()]
        assert [r.run_id for r in opened] == [rec.run_id]
        assert opened[0].state == {"x": 1}
    finally:
        await store.close()


async def test_listing_pages_newest_first_with_filters(opener: Opener) -> None:
    store = await opener()
    try:
        base = 1_000_000.0
        for i in range(25):
            r = _record(f"order-{i:02d}" if i % 2 else f"user-{i:02d}", start=base + i)
            await store.write(ExecutionWrite(r, None, []))
        seen: list[str] = []
        token = None
        while True:
            page, token = await store.list_executions("default", ListQuery(limit=10, page_token=token))
            seen += [r.workflow_id for r in page]
            if token is None:
                break
        assert len(seen) == 25 and len(set(seen)) == 25
        assert seen[0] == "user-24" and seen[-1] == "user-00"  # newest first
        orders, _ = await store.list_executions("default", ListQuery(workflow_id_prefix="order-"))
        assert len(orders) == 12 and all(r.workflow_id.startswith("order-") for r in orders)
        recent, _ = await store.list_executions("default", ListQuery(started_after=base + 20))
        assert len(recent) == 5
        with pytest.raises(StorageError, match="invalid page token"):
            await store.list_executions("default", ListQuery(page_token="!!garbage"))
    finally:
        await store.close()


async def test_many_updates_commit_together_and_a_stale_one_fails_alone(opener: Opener) -> None:
    """Updates batched into one statement; when one is stale, it alone is refused and the rest apply."""
    store = await opener()
    try:
        records = [_record(f"wf-{i}") for i in range(50)]
        await asyncio.gather(*(store.write(ExecutionWrite(r, None, [_started(r.run_id)])) for r in records))

        def step(r: ExecutionRecord, expected: int, event_id: int) -> ExecutionWrite:
            r.version = expected + 1
            r.next_event_id = event_id + 1
            r.state = {"step": event_id}
            return ExecutionWrite(r, expected, [HistoryEvent(event_id, EventType.TIMER_FIRED, 1.0, {"n": event_id})])

        # All at once: they share commits (and statements).
        await asyncio.gather(*(store.write(step(r, 1, 2)) for r in records))
        stale = _record("wf-7")
        stale.run_id = records[7].run_id
        writes = [store.write(step(r, 2, 3)) for r in records]
        writes.append(store.write(step(stale, 1, 3)))  # expects version 1: stale
        results = await asyncio.gather(*writes, return_exceptions=True)
        assert all(r is None for r in results[:-1]), results
        assert isinstance(results[-1], ConditionFailedError)
        for r in records:
            loaded = await store.get_run(r.run_id)
            assert loaded is not None and loaded.version == 3 and loaded.state == {"step": 3}
            assert [e.event_id for e in await store.read_history(r.run_id)] == [1, 2, 3]
    finally:
        await store.close()


async def test_many_starts_commit_together_and_a_running_id_is_refused_alone(opener: Opener) -> None:
    """New runs batched into a few statements; a start of an id that is running falls back to one by one."""
    store = await opener()
    try:
        old = _record("again")
        await store.write(ExecutionWrite(old, None, [_started(old.run_id)]))
        old.status, old.close_time, old.version = WorkflowStatus.COMPLETED, time.time(), 2
        await store.write(ExecutionWrite(old, 1, []))

        records = [_record(f"s-{i}") for i in range(100)] + [_record("again")]  # a new run of a closed id
        await asyncio.gather(*(store.write(ExecutionWrite(r, None, [_started(r.run_id)])) for r in records))
        for r in records:
            loaded = await store.get_run(r.run_id)
            assert loaded is not None and loaded.status is WorkflowStatus.RUNNING and loaded.state == {"x": 1}
            assert [e.event_id for e in await store.read_history(r.run_id)] == [1]

        more = [_record(f"t-{i}") for i in range(20)]
        clash = _record("s-3")  # running since the batch above
        writes = [store.write(ExecutionWrite(r, None, [_started(r.run_id)])) for r in [*more, clash]]
        results = await asyncio.gather(*writes, return_exceptions=True)
        assert all(r is None for r in results[:-1]), results
        assert isinstance(results[-1], ExecutionAlreadyRunningError)
        assert await store.get_run(clash.run_id) is None
        page, _ = await store.list_executions("default", ListQuery(limit=1000))
        assert len(page) == 1 + 101 + 20
    finally:
        await store.close()


async def test_a_conditional_create_needs_the_newest_run_it_was_decided_on(opener: Opener) -> None:
    store = await opener()
    try:
        # No run of the id: "" holds, a run id does not.
        first = _record("wf-if", start=1.0)
        with pytest.raises(ConditionFailedError):
            await store.write(ExecutionWrite(first, None, [_started(first.run_id)], if_current="someone"))
        await store.write(ExecutionWrite(first, None, [_started(first.run_id)], if_current=""))
        first.version, first.status, first.close_time = 2, WorkflowStatus.COMPLETED, 2.0
        await store.write(ExecutionWrite(first, 1, []))
        # Decided on the first run, and another start came in between: refused, and nothing of it is stored.
        between = _record("wf-if", start=3.0)
        late = _record("wf-if", start=4.0)
        await store.write(ExecutionWrite(between, None, [_started(between.run_id)]))
        between.version, between.status, between.close_time = 2, WorkflowStatus.FAILED, 3.5
        await store.write(ExecutionWrite(between, 1, []))
        with pytest.raises(ConditionFailedError):
            await store.write(ExecutionWrite(late, None, [_started(late.run_id)], if_current=first.run_id))
        assert await store.get_run(late.run_id) is None and await store.read_history(late.run_id) == []
        # In a batch of creates (written together when they can be): the conditional one still checked alone.
        results = await asyncio.gather(
            store.write(ExecutionWrite(late, None, [_started(late.run_id)], if_current=between.run_id)),
            *(
                store.write(ExecutionWrite(r, None, [_started(r.run_id)]))
                for r in [_record(f"wf-b{i}") for i in range(5)]
            ),
            return_exceptions=True,
        )
        assert results == [None] * 6
        newest = await store.get_execution("default", "wf-if")
        assert newest is not None and newest.run_id == late.run_id
    finally:
        await store.close()


async def test_deleting_a_closed_run_removes_its_row_history_and_items(opener: Opener) -> None:
    store = await opener()
    try:
        old = _record("wf-del", start=1.0)
        await store.write(ExecutionWrite(old, None, [_started(old.run_id)]))
        old.version, old.status, old.close_time = 2, WorkflowStatus.COMPLETED, 2.0
        await store.write(ExecutionWrite(old, 1, []))
        new = _record("wf-del", start=3.0)
        await store.write(
            ExecutionWrite(new, None, [_started(new.run_id)], put_items=[PendingItem("t", "t1", [2, 9.0])])
        )
        # A running run is not deleted (the engine terminates it first).
        with pytest.raises(ConditionFailedError):
            await store.delete_execution(new.run_id)
        new.version, new.status, new.close_time = 2, WorkflowStatus.TERMINATED, 4.0
        await store.write(ExecutionWrite(new, 1, []))
        assert await store.delete_execution(new.run_id) is True
        assert await store.get_run(new.run_id) is None
        assert await store.read_history(new.run_id) == []
        assert await store.delete_execution(new.run_id) is False
        # The id's newest remaining run is its current one again: a start decided on it is allowed.
        newest = await store.get_execution("default", "wf-del")
        assert newest is not None and newest.run_id == old.run_id
        next_run = _record("wf-del", start=5.0)
        await store.write(ExecutionWrite(next_run, None, [_started(next_run.run_id)], if_current=old.run_id))
        next_run.version, next_run.status, next_run.close_time = 2, WorkflowStatus.COMPLETED, 6.0
        await store.write(ExecutionWrite(next_run, 1, []))
        # Deleting every run of the id leaves nothing of it: a start may then expect no run at all.
        assert await store.delete_execution(old.run_id) and await store.delete_execution(next_run.run_id)
        assert await store.get_execution("default", "wf-del") is None
        page, _ = await store.list_executions("default", ListQuery(workflow_id="wf-del"))
        assert page == []
        again = _record("wf-del", start=7.0)
        await store.write(ExecutionWrite(again, None, [_started(again.run_id)], if_current=""))
    finally:
        await store.close()


def _closed(r: ExecutionRecord, status: WorkflowStatus) -> ExecutionWrite:
    expected = r.version
    r.version, r.status, r.close_time = expected + 1, status, time.time()
    return ExecutionWrite(dataclasses.replace(r), expected, [])


async def _counts(store: Store, namespace: str = "default") -> dict[WorkflowStatus, int]:
    """Counts by status as the count table answers them (no filter), checked against a scan of the runs (a
    filter on the type, which every run of these tests has, so the count reads the executions instead)."""
    total, groups = await store.count_executions(namespace, None, True)
    scanned_total, scanned = await store.count_executions(namespace, parse_query("WorkflowType = 'wf'"), True)
    assert (total, groups) == (scanned_total, scanned)
    assert (await store.count_executions(namespace, None)) == (total, [])
    return dict(groups)


async def _raw(store_url: str, *statements: str) -> None:
    """Run SQL on the test's database outside the store (the store closed)."""
    if store_url.startswith("sqlite"):
        conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
        try:
            for sql in statements:
                conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
        return
    import psycopg

    async with await psycopg.AsyncConnection.connect(store_url) as pg:
        for sql in statements:
            await pg.execute(sql)


async def test_counts_by_status_stay_exact_through_every_kind_of_write(opener: Opener, store_url: str) -> None:
    """The count table (migrations sqlite/0011, postgres/0007) follows starts alone and in batches, closes
    alone and in batches, a continue-as-new, refused writes, deletes, other namespaces, a reopen, and a
    database migrated with runs in it (the migration's backfill)."""
    R, C, F, T, CAN = (
        WorkflowStatus.RUNNING,
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
        WorkflowStatus.TERMINATED,
        WorkflowStatus.CONTINUED_AS_NEW,
    )
    store = await opener()
    assert await _counts(store) == {}
    batch = [_record(f"c-{i}") for i in range(30)]
    await asyncio.gather(*(store.write(ExecutionWrite(r, None, [_started(r.run_id)])) for r in batch))
    alone = _record("c-alone")
    await store.write(ExecutionWrite(alone, None, [_started(alone.run_id)]))
    with pytest.raises(ExecutionAlreadyRunningError):  # refused: counted nowhere
        dup = _record("c-3")
        await store.write(ExecutionWrite(dup, None, [_started(dup.run_id)]))
    assert await _counts(store) == {R: 31}

    # Closes together (one statement), a stale close refused, steps that keep the status.
    closes = [_closed(r, C) for r in batch[:10]] + [_closed(r, F) for r in batch[10:13]]
    stale = ExecutionWrite(dataclasses.replace(batch[20], version=9), 5, [])
    results = await asyncio.gather(*(store.write(w) for w in [*closes, stale]), return_exceptions=True)
    assert results[:-1] == [None] * 13 and isinstance(results[-1], ConditionFailedError)
    await asyncio.gather(*(store.write(_step(r)) for r in batch[13:20]))
    await store.write(_closed(alone, T))
    assert await _counts(store) == {R: 17, C: 10, F: 3, T: 1}

    # Continue-as-new: the old run closes and its follow-on starts in one write.
    chain = batch[25]
    nxt = _record("c-25")
    can = _closed(chain, CAN)
    await store.write(dataclasses.replace(can, follow_on=ExecutionWrite(nxt, None, [_started(nxt.run_id)])))
    assert await _counts(store) == {R: 17, C: 10, F: 3, T: 1, CAN: 1}

    # Deletes (retention's): the last of a status leaves it out of the groups.
    assert await store.delete_execution(alone.run_id) is True
    assert await store.delete_execution(batch[0].run_id) is True
    assert await store.delete_execution(batch[0].run_id) is False
    other = dataclasses.replace(_record("elsewhere"), namespace="team")
    await store.write(ExecutionWrite(other, None, [_started(other.run_id)]))
    expected = {R: 17, C: 9, F: 3, CAN: 1}
    assert await _counts(store) == expected
    assert await _counts(store, "team") == {R: 1}

    # Filters on ExecutionStatus alone read the table too, and agree with a scan.
    for text, want in [
        ("ExecutionStatus = 'Running'", 17),
        ("ExecutionStatus != 'Running'", 13),
        ("ExecutionStatus IN ('Completed', 'Failed')", 12),
        ("ExecutionStatus NOT IN ('Completed', 'Failed')", 18),
        ("ExecutionStatus = 'Running' OR ExecutionStatus = 'ContinuedAsNew'", 18),
        ("ExecutionStatus = 'Running' AND ExecutionStatus = 'Failed'", 0),
        ("NOT (ExecutionStatus = 'Completed')", 21),
        ("ExecutionStatus = 'Terminated'", 0),
    ]:
        total, groups = await store.count_executions("default", parse_query(text), True)
        scan = await store.count_executions("default", parse_query(f"({text}) AND WorkflowType = 'wf'"), True)
        assert (total, groups) == scan and total == want, text
        assert await store.count_executions("default", parse_query(text)) == (want, [])

    # Reopened (PostgreSQL folds the gone connection's rows into the new one's): the same counts.
    await store.close()
    store = await opener()
    assert await _counts(store) == expected
    await store.close()
    if not store_url.startswith("sqlite"):
        import psycopg

        async with await psycopg.AsyncConnection.connect(store_url) as pg:
            cur = await pg.execute("SELECT count(DISTINCT slot), count(*) FROM run_counts")
            assert await cur.fetchone() == (1, 6)  # one slot: default's 5 statuses (Terminated at 0), team's 1

    # A database that held runs before the count table existed: the migration counts them.
    if store_url.startswith("sqlite"):
        drop = [f"DROP TRIGGER run_counts_{t}" for t in ("created", "changed", "deleted")]
        drop += ["DROP TABLE run_counts", "DELETE FROM schema_migrations WHERE version = 11"]
    else:
        drop = ["DROP TABLE run_counts"] + [
            f"DROP FUNCTION mainspring_run_counts_{f} CASCADE" for f in ("created", "deleted", "changed")
        ]
        drop += ["DELETE FROM schema_migrations WHERE version = 7"]
    await _raw(store_url, *drop)
    store = await opener()
    assert await _counts(store) == expected
    assert await _counts(store, "team") == {R: 1}


async def test_pending_items_alone_and_in_one_batch(opener: Opener) -> None:
    store = await opener()
    a, b = _record("a"), _record("b")
    await store.write(ExecutionWrite(a, None, [_started(a.run_id)], put_items=[PendingItem("a", "5", {"v": 1})]))
    await store.write(ExecutionWrite(b, None, [_started(b.run_id)]))
    assert _items(await store.get_run(a.run_id)) == {("a", "5"): {"v": 1}}
    w = _step(a)
    w.put_items = [PendingItem("a", "5", {"v": 2}), PendingItem("t", "t1", [3, 4.5])]
    await store.write(w)
    assert _items(await store.get_run(a.run_id)) == {("a", "5"): {"v": 2}, ("t", "t1"): [3, 4.5]}
    # Submitted together (one batch): two runs, and a second write of run a behind its first.
    wa1, wb = _step(a), _step(b)
    wa1.delete_items, wa1.put_items = [("a", "5"), ("a", "404")], [PendingItem("a", "7", {"v": 7})]
    wb.put_items = [PendingItem("a", str(i), {"i": i}) for i in range(3000)]
    wa2 = _step(a)
    wa2.clear_pending, wa2.put_items = True, [PendingItem("t", "t2", [9, 1.0])]
    assert await asyncio.gather(store.submit(wa1), store.submit(wb), store.submit(wa2)) == [None, None, None]
    assert _items(await store.get_run(a.run_id)) == {("t", "t2"): [9, 1.0]}
    rb = await store.get_execution("default", "b")
    assert rb is not None and len(rb.pending) == 3000 and rb.version == 2
    opened = {r.run_id: r async for r in store.open_executions()}
    assert _items(opened[a.run_id]) == {("t", "t2"): [9, 1.0]} and len(opened[b.run_id].pending) == 3000
    with pytest.raises(ConditionFailedError):
        await store.write(ExecutionWrite(a, 1, [], delete_items=[("t", "t2")]))
    assert _items(await store.get_run(a.run_id)) == {("t", "t2"): [9, 1.0]}


async def test_a_follow_on_run_and_namespaces_keys_and_schemas(opener: Opener) -> None:
    store = await opener()
    assert await store.create_namespace("team", "theirs") is True
    assert await store.create_namespace("team") is False
    assert [n.name for n in await store.list_namespaces()] == ["team"]
    ns = await store.get_namespace("team")
    assert ns is not None and ns.description == "theirs"
    key = await store.server_key("task_tokens")
    assert len(key) == 32 and await store.server_key("task_tokens") == key
    await store.put_workflow_schema("default", "tq", "wf", {"type": "object"}, [{"kind": "signal", "name": "s"}])
    assert await store.get_workflow_schema("default", "tq", "wf") == {"type": "object"}
    assert await store.get_workflow_handlers("default", "tq", "wf") == [{"kind": "signal", "name": "s"}]
    assert await store.get_workflow_schema("default", "tq", "other") is None
    # When a worker build was first seen: the earliest start wins, a later one changes nothing.
    assert await store.note_build("default", "tq", "1.0", 100.5) == 100.5
    assert await store.note_build("default", "tq", "1.0", 300.0) == 100.5
    assert await store.note_build("default", "tq", "1.0", 50.25) == 50.25
    assert await store.note_build("default", "other-tq", "1.0", 400.0) == 400.0

    first = _record("chain", start=1.0)
    await store.write(ExecutionWrite(first, None, [_started(first.run_id)]))
    first.version, first.status, first.close_time = 2, WorkflowStatus.CONTINUED_AS_NEW, 2.0
    nxt = _record("chain", start=2.0)
    await store.write(ExecutionWrite(first, 1, [], follow_on=ExecutionWrite(nxt, None, [_started(nxt.run_id)])))
    newest = await store.get_execution("default", "chain")
    assert newest is not None and newest.run_id == nxt.run_id
    # A follow-on of a run that is not the current one refuses the whole write.
    stale = _record("chain", start=3.0)
    closed = dataclasses.replace(first, version=3)
    with pytest.raises(ConditionFailedError):
        await store.write(ExecutionWrite(closed, 2, [], follow_on=ExecutionWrite(stale, None, [])))
    again = await store.get_run(first.run_id)
    assert again is not None and again.version == 2 and await store.get_run(stale.run_id) is None
    # Keys and namespaces outlive the store.
    await store.close()
    store = await opener()
    assert await store.server_key("task_tokens") == key
    assert await store.get_namespace("team") is not None
    assert await store.note_build("default", "tq", "1.0", 900.0) == 50.25
    assert [(b.task_queue, b.build_id, b.first_seen) for b in await store.export_worker_builds()] == [
        ("other-tq", "1.0", 400.0),
        ("tq", "1.0", 50.25),
    ]


async def test_api_keys_and_the_audit_log(opener: Opener, store_url: str) -> None:
    from mainspring.storage import AuditEntry, StoredApiKey
    from mainspring.storage._admin import add_api_key

    store = await opener()
    key = StoredApiKey("aaaaaaaaaaaa", "ci", "default", "writer", "h" * 64, 10.0, "first-admin (x)")
    await store.put_api_key(key)
    with pytest.raises(StorageError, match="exists already"):
        await store.put_api_key(dataclasses.replace(key, name="again"))
    # Made offline beside the open store (operator api-key create --db): seen by the store's next read.
    await add_api_key(store_url, StoredApiKey("bbbbbbbbbbbb", "w", "*", "admin", "g" * 64, 11.0, "store"))
    assert [k.key_id for k in await store.list_api_keys()] == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    revoked = await store.revoke_api_key("aaaaaaaaaaaa", 20.0)
    assert revoked is not None and revoked.revoked_at == 20.0 and revoked.secret_hash == "h" * 64
    again = await store.revoke_api_key("aaaaaaaaaaaa", 30.0)  # the first revocation stands
    assert again is not None and again.revoked_at == 20.0
    assert await store.revoke_api_key("nope", 1.0) is None
    entries = [
        AuditEntry(float(i), "default" if i % 2 else "other", "ci (a)", "api-key", "start_workflow", f"w{i}",
                   "127.0.0.1", 201, f"r{i}")
        for i in range(5)
    ]  # fmt: skip
    await store.append_audit(entries[:3])
    await store.append_audit(entries[3:])
    newest = await store.read_audit(None, None, 10)
    assert [e.target for e in newest] == ["w4", "w3", "w2", "w1", "w0"]
    assert [e.seq for e in newest] == sorted((e.seq for e in newest), reverse=True)
    assert dataclasses.replace(newest[0], seq=0) == entries[4]
    page = await store.read_audit(["default"], newest[1].seq, 10)  # older than w3, of default only
    assert [e.target for e in page] == ["w1"]
    await store.close()
    store = await opener()
    assert [k.revoked_at for k in await store.list_api_keys()] == [20.0, None]
    assert len(await store.read_audit(["default", "other"], None, 2)) == 2


async def test_schedules_are_created_once_updated_on_their_version_listed_and_deleted(opener: Opener) -> None:
    from mainspring.storage import StoredSchedule

    store = await opener()
    a = StoredSchedule("default", "nightly", '{"n": 1}', 1)
    assert await store.create_schedule(a)
    assert not await store.create_schedule(dataclasses.replace(a, body='{"n": 99}'))  # the id is taken
    assert await store.get_schedule("default", "nightly") == a
    assert await store.create_schedule(StoredSchedule("other", "nightly", "{}", 1))  # ids are per namespace
    assert await store.create_schedule(StoredSchedule("default", "hourly", "{}", 1))
    # Conditional on the stored version: a writer that read version 1 after another wrote 2 is refused.
    assert await store.update_schedule(dataclasses.replace(a, body='{"n": 2}', version=2), 1)
    assert not await store.update_schedule(dataclasses.replace(a, body='{"n": 3}', version=2), 1)
    assert not await store.update_schedule(StoredSchedule("default", "nope", "{}", 2), 1)
    assert await store.get_schedule("default", "nightly") == StoredSchedule("default", "nightly", '{"n": 2}', 2)
    assert [s.schedule_id for s in await store.list_schedules("default")] == ["hourly", "nightly"]
    # A page: after an id (in byte order, "Z" before "a"), at most a limit.
    assert await store.create_schedule(StoredSchedule("default", "Zulu", "{}", 1))
    assert [s.schedule_id for s in await store.list_schedules("default", limit=2)] == ["Zulu", "hourly"]
    assert [s.schedule_id for s in await store.list_schedules("default", after="hourly")] == ["nightly"]
    assert [s.schedule_id for s in await store.list_schedules("default", after="Zulu", limit=1)] == ["hourly"]
    assert await store.delete_schedule("default", "Zulu")
    assert [(s.namespace, s.schedule_id) for s in await store.list_schedules(None)] == [
        ("default", "hourly"),
        ("default", "nightly"),
        ("other", "nightly"),
    ]
    assert await store.delete_schedule("default", "hourly")
    assert not await store.delete_schedule("default", "hourly")
    await store.close()
    store = await opener()  # durable
    assert [s.schedule_id for s in await store.list_schedules("default")] == ["nightly"]
    assert await store.get_schedule("default", "hourly") is None


# --- PostgreSQL: schema, ownership, faults -------------------------------------------------------------


async def test_postgres_migrates_from_scratch_concurrently_and_refuses_newer_or_behind(postgres_url: str) -> None:
    import psycopg

    from mainspring.storage._pg_schema import latest_schema_version, migrate, migrations

    behind = store_from_url(postgres_url, migrate=False)
    with pytest.raises(StorageError, match=r"schema version 0, this Mainspring needs .*mainspring store migrate"):
        await behind.open()
    conns = [await psycopg.AsyncConnection.connect(postgres_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate(c, "db") for c in conns))
        assert sorted(v for a in applied for v in a) == [v for v, _ in migrations()]
        store = store_from_url(postgres_url, migrate=False)
        await store.open()
        assert getattr(store, "schema_version", None) == latest_schema_version()
        await store.close()
        await conns[0].execute("INSERT INTO schema_migrations VALUES (999, 0)")
        await conns[0].commit()
        with pytest.raises(StorageError, match="schema version 999, newer than this Mainspring"):
            await store_from_url(postgres_url).open()
    finally:
        for c in conns:
            await c.close()


async def test_postgres_a_second_server_is_refused_and_a_standby_takes_over(postgres_url: str) -> None:
    from mainspring.storage import StoreOwnershipError

    first = store_from_url(postgres_url)
    await first.open()
    with pytest.raises(StoreOwnershipError, match="in use by server"):
        await store_from_url(postgres_url).open()
    standby = store_from_url(postgres_url, standby=True)
    taking = asyncio.ensure_future(standby.open())
    await asyncio.sleep(0.5)
    assert not taking.done()
    await first.close()  # gives the lease back: the standby takes it at its next look
    await asyncio.wait_for(taking, 15)
    rec = _record("after")
    await standby.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
    await standby.close()


async def test_postgres_bad_urls_are_one_line_errors(postgres_server: Any) -> None:
    with pytest.raises(StorageError, match=r"cannot connect to the database .*nosuchdb"):
        await store_from_url(postgres_server.url("nosuchdb")).open()
    with pytest.raises(StorageError, match="cannot connect to the database"):
        await store_from_url("postgresql://postgres:secret@127.0.0.1:1/x").open()
    try:
        await store_from_url("postgresql://postgres:secret@127.0.0.1:1/x").open()
    except StorageError as e:
        assert "secret" not in str(e) and "\n" not in str(e)
    with pytest.raises(StorageError, match="unknown database URL scheme 'mysql'"):
        store_from_url("mysql://root@localhost/db")


@pytest.mark.timeout(120)
# A connection object the restart cut off mid-connect is sometimes collected unclosed (psycopg warns):
# hygiene, not data; what this test checks is below.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_postgres_restarted_mid_writes_loses_nothing_acknowledged(
    postgres_server: Any, postgres_url: str
) -> None:
    store = store_from_url(postgres_url)
    await store.open()
    try:
        acked: list[str] = []
        failed = 0
        stop = asyncio.Event()

        async def writer() -> None:
            nonlocal failed
            i = 0
            while not stop.is_set():
                r = _record(f"pgr-{i}")
                i += 1
                try:
                    await store.write(ExecutionWrite(r, None, [_started(r.run_id)]))
                    acked.append(r.run_id)
                except StorageError:
                    failed += 1
                    await asyncio.sleep(0.05)

        task = asyncio.ensure_future(writer())
        await asyncio.sleep(0.5)
        await asyncio.to_thread(postgres_server.restart)
        before = len(acked)
        deadline = time.monotonic() + 30
        while len(acked) < before + 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await task
        assert len(acked) >= before + 20, "writes did not go through again after the restart"
        for run_id in acked:
            assert await store.get_run(run_id) is not None
    finally:
        await store.close()


async def test_postgres_applies_a_batch_with_statements_for_all_of_it(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch path is taken (not only its one-by-one fallback): starts and steps of many runs go in a
    few statements each, with their events and pending items."""
    from mainspring.storage import _pg_writes, postgres

    together: list[tuple[str, int]] = []

    def spy(name: str) -> Any:
        real = getattr(_pg_writes, name)

        async def counted(cur: Any, ops: list[ExecutionWrite]) -> bool:
            ok: bool = await real(cur, ops)
            if ok:
                together.append((name, len(ops)))
            return ok

        return counted

    for name in ("updates_together", "creates_together"):
        monkeypatch.setattr(postgres, name, spy(name))
    store = store_from_url(postgres_url)
    await store.open()
    try:
        records = [_record(f"b-{i}") for i in range(40)]
        starts = [
            ExecutionWrite(r, None, [_started(r.run_id)], put_items=[PendingItem("timer", "t1", {"at": 1})])
            for r in records
        ]
        await asyncio.gather(*(store.write(w) for w in starts))
        steps = []
        for r in records:
            w = _step(r)
            steps.append(
                dataclasses.replace(
                    w,
                    events=[HistoryEvent(2, EventType.TIMER_FIRED, 1.0, {"n": 2})],
                    delete_items=[("timer", "t1")],
                    put_items=[PendingItem("activity", "a1", {"n": 1}), PendingItem("activity", "a1", {"n": 2})],
                )
            )
        await asyncio.gather(*(store.write(w) for w in steps))
        assert {name for name, n in together if n > 1} == {"updates_together", "creates_together"}, together
        for r in records:
            loaded = await store.get_run(r.run_id)
            assert loaded is not None and loaded.version == 2
            assert _items(loaded) == {("activity", "a1"): {"n": 2}}
            assert [e.event_id for e in await store.read_history(r.run_id)] == [1, 2]
    finally:
        await store.close()
