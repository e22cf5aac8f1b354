"""The SQLite store on real files: migrations, group commit, locking, checkpoints, faults. What every store must do
(conditional writes, paging, batches) is in tests/test_store_contract.py, which runs on SQLite too."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import queue
import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mainspring._json import dumps
from mainspring.api import EventType, WorkflowStatus
from mainspring.storage import (
    ConditionFailedError,
    ExecutionAlreadyRunningError,
    ExecutionRecord,
    ExecutionWrite,
    HistoryEvent,
    ListQuery,
    PendingItem,
    SQLiteStore,
    StorageError,
    StoreOwnershipError,
    store_from_url,
)
from mainspring.storage._sqlite_checkpoint import WRITER_FALLBACK_PAGES, Checkpointer
from mainspring.storage._sqlite_file import migrations
from mainspring.storage.sqlite import latest_schema_version
from support import fill, tmpfs, wait_until

#: About the SQLite store itself: skipped when the tests run on PostgreSQL (MAINSPRING_TEST_STORE=postgres).
pytestmark = pytest.mark.sqlite_only


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


async def _open(path: Path) -> SQLiteStore:
    store = SQLiteStore(str(path))
    await store.open()
    return store


async def test_migrations_from_scratch_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = await _open(db)
    await store.close()
    store = await _open(db)  # reopening applies nothing twice
    await store.close()
    conn = sqlite3.connect(db)
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert versions == [v for v, _ in migrations()]
    assert journal == "wal"


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    store = await _open(db)
    await store.close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (latest_schema_version() + 5, time.time()))
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer than this Mainspring"):
        await _open(db)


async def test_second_store_on_same_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    first = await _open(db)
    try:
        with pytest.raises(StorageError, match="in use by another Mainspring server"):
            await _open(db)
    finally:
        await first.close()
    again = await _open(db)  # the lock is released on close
    await again.close()


async def test_the_store_lock_names_the_file_and_its_holder(tmp_path: Path) -> None:
    """Owning a store is part of its interface: a refusal is a StoreOwnershipError that says which file
    and which process holds it; the owner owns every run in it (the engine asks before loading one)."""
    db = tmp_path / "owned.db"
    first = await _open(db)
    try:
        assert first.owns("any-run-id")
        with pytest.raises(StoreOwnershipError) as refused:
            await _open(db)
        assert refused.value.holder == str(os.getpid())
        assert str(db) in str(refused.value) and f"(pid {os.getpid()})" in str(refused.value)
    finally:
        await first.close()


async def test_a_second_store_on_the_same_file_by_another_name_is_refused(tmp_path: Path) -> None:
    """The lock is on the file, not its name: a hard link, a symlink and a relative path all reach it."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    db = tmp_path / "a" / "m.db"
    first = await _open(db)
    try:
        os.link(db, tmp_path / "b" / "hard.db")
        os.symlink(db, tmp_path / "b" / "soft.db")
        relative = os.path.relpath(db, os.getcwd())
        for name in (tmp_path / "b" / "hard.db", tmp_path / "b" / "soft.db", relative):
            with pytest.raises(StorageError, match="in use by another Mainspring server"):
                await _open(Path(name))
        rec = _record("still-mine")  # the first store still writes
        await first.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
    finally:
        await first.close()
    again = await _open(tmp_path / "b" / "soft.db")  # released on close; opened by any of its names
    try:
        assert await again.get_run(rec.run_id) is not None
    finally:
        await again.close()


async def test_a_file_system_too_small_for_the_write_ahead_log_is_a_clear_error(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "2m") as fs, pytest.raises(StorageError) as info:
        await _open(fs / "m.db")
    message = str(info.value)
    expected = rf"needs ~\d+ MiB free at {re.escape(str(fs))} \([\d,]+ KiB free\): free some space"
    assert re.search(expected, message), message
    assert "--db-filename" in message


async def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        await _open(tmp_path / "nope" / "x.db")


async def test_memory_store_and_urls(tmp_path: Path) -> None:
    store = store_from_url(":memory:")
    await store.open()
    try:
        rec = _record("m")
        await store.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
        assert (await store.get_run(rec.run_id)) is not None
        assert "memory" in store.description
    finally:
        await store.close()
    assert isinstance(store_from_url(f"sqlite:///{tmp_path}/x.db"), SQLiteStore)
    from mainspring.storage.postgres import PostgresStore

    assert isinstance(store_from_url("postgresql://localhost/db"), PostgresStore)
    assert isinstance(store_from_url("postgres://localhost/db"), PostgresStore)
    with pytest.raises(StorageError, match="unknown database URL scheme 'mysql'"):
        store_from_url("mysql://localhost/db")


async def test_an_older_database_is_migrated_in_place(tmp_path: Path) -> None:
    """A database made by schema version 1 is brought to the newest version, its data intact."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    first = sorted((Path(__file__).parent.parent / "src/mainspring/storage/migrations/sqlite").glob("0001_*.sql"))
    conn.executescript(first[0].read_text())
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    conn.execute("INSERT INTO schema_migrations VALUES (1, ?)", (time.time(),))
    conn.execute(
        "INSERT INTO executions VALUES ('r1', 'default', 'wf', 't', 'q', 'RUNNING', 1.0, NULL, 2, 1, NULL, '{}')"
    )
    conn.commit()
    conn.close()
    store = await _open(db)
    try:
        page, _ = await store.list_executions("default", ListQuery(status=WorkflowStatus.RUNNING))
        assert [r.run_id for r in page] == ["r1"]
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert versions == [v for v, _ in migrations()]
    assert {"executions_by_status", "executions_by_type"} <= indexes
    assert await _open_and_key(db) == await _open_and_key(db)  # version 3's table is there


async def test_a_server_key_is_made_once_and_kept(tmp_path: Path) -> None:
    """Migration 3 adds the server's keys: each made at its first use, the same after a reopen (the
    task tokens handed out before a restart must verify after it), different for each name and store."""
    db = tmp_path / "k.db"
    store = await _open(db)
    try:
        key = await store.server_key("task_tokens")
        assert len(key) == 32 and key != bytes(32)
        assert await asyncio.gather(*(store.server_key("task_tokens") for _ in range(5))) == [key] * 5
        other = await store.server_key("another")
        assert other != key
    finally:
        await store.close()
    store = await _open(db)
    try:
        assert await store.server_key("task_tokens") == key
        assert await store.server_key("another") == other
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT name, key FROM server_keys ORDER BY name").fetchall()
    conn.close()
    assert rows == [("another", other), ("task_tokens", key)]
    assert await _open_and_key(tmp_path / "elsewhere.db") != key
    # A store that keeps nothing makes one per process, as stable while it lives.
    memory = store_from_url(":memory:")
    await memory.open()
    try:
        mem_key = await memory.server_key("task_tokens")
        assert len(mem_key) == 32 and mem_key != key
        assert await memory.server_key("task_tokens") == mem_key
    finally:
        await memory.close()


async def _open_and_key(path: Path) -> bytes:
    store = await _open(path)
    try:
        return await store.server_key("task_tokens")
    finally:
        await store.close()


class _CountingQueue(queue.SimpleQueue):  # type: ignore[type-arg]
    """The writer thread's queue, counting what is handed to the thread."""

    def __init__(self) -> None:
        self.handed = 0

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        self.handed += 1
        super().put(item, block, timeout)


async def _counting_store(db: Path) -> tuple[SQLiteStore, _CountingQueue]:
    """An open store whose changes handed to the writer thread are counted."""
    store = SQLiteStore(str(db))
    counting = _CountingQueue()
    store._queue = counting
    await store.open()
    return store, counting


async def test_a_lone_change_is_written_by_the_caller_and_a_burst_by_the_writer_thread(tmp_path: Path) -> None:
    """Both ways of writing are the same transaction: conditional, durable, failures reported."""
    db = tmp_path / "lone.db"
    store, counting = await _counting_store(db)
    try:
        lone = _record("lone")
        await store.write(ExecutionWrite(lone, None, [_started(lone.run_id)]))  # a start: always the thread
        assert counting.handed == 1
        await asyncio.sleep(0.01)
        lone.version, lone.next_event_id, lone.state = 2, 3, {"step": 2}
        await store.write(ExecutionWrite(lone, 1, [HistoryEvent(2, EventType.TIMER_FIRED, 1.0, {})]))
        await asyncio.sleep(0.01)
        with pytest.raises(ConditionFailedError):  # stale, and refused the same way
            await store.write(ExecutionWrite(lone, 1, [HistoryEvent(3, EventType.TIMER_FIRED, 1.0, {})]))
        assert counting.handed == 1  # neither went through the thread

        burst = [_record(f"b-{i}") for i in range(20)]
        await asyncio.gather(*(store.write(ExecutionWrite(r, None, [_started(r.run_id)])) for r in burst))
        handed = counting.handed
        for r in burst:
            r.version, r.next_event_id = 2, 3
        await asyncio.gather(
            *(store.write(ExecutionWrite(r, 1, [HistoryEvent(2, EventType.TIMER_FIRED, 1.0, {})])) for r in burst)
        )
        assert counting.handed >= handed + 19  # back to back: the thread commits them together
    finally:
        await store.close()

    store = await _open(db)
    try:
        loaded = await store.get_run(lone.run_id)
        assert loaded is not None and loaded.version == 2 and loaded.state == {"step": 2}
        assert [e.event_id for e in await store.read_history(lone.run_id)] == [1, 2]
        for r in burst:
            got = await store.get_run(r.run_id)
            assert got is not None and got.version == 2
            assert [e.event_id for e in await store.read_history(r.run_id)] == [1, 2]
    finally:
        await store.close()


async def test_a_caller_that_knows_the_load_chooses_how_its_change_is_written(tmp_path: Path) -> None:
    """``quiet=True``: at once on the caller's thread, even right after another change; ``quiet=False``:
    through the writer thread, even alone. Both durable, both conditional."""
    db = tmp_path / "hint.db"
    store, counting = await _counting_store(db)
    try:
        rec = _record("hint")
        await store.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
        handed = counting.handed
        for version in range(2, 6):  # back to back, which the store alone would batch
            rec.version, rec.next_event_id = version, version + 1
            event = HistoryEvent(version, EventType.TIMER_FIRED, 1.0, {})
            await store.write(ExecutionWrite(rec, version - 1, [event]), quiet=True)
        assert counting.handed == handed
        await asyncio.sleep(0.01)
        rec.version, rec.next_event_id = 6, 7
        await store.write(ExecutionWrite(rec, 5, [HistoryEvent(6, EventType.TIMER_FIRED, 1.0, {})]), quiet=False)
        assert counting.handed == handed + 1
        with pytest.raises(ConditionFailedError):
            await store.write(ExecutionWrite(rec, 5, [HistoryEvent(7, EventType.TIMER_FIRED, 1.0, {})]), quiet=True)
    finally:
        await store.close()
    store = await _open(db)
    try:
        loaded = await store.get_run(rec.run_id)
        assert loaded is not None and loaded.version == 6
        assert [e.event_id for e in await store.read_history(rec.run_id)] == [1, 2, 3, 4, 5, 6]
    finally:
        await store.close()


async def test_the_write_ahead_log_is_grown_once_when_the_store_opens(tmp_path: Path) -> None:
    """A log that grows commit by commit makes each commit's sync also journal the file's new size; the
    store grows it to its working size at open, and the padding leaves nothing behind."""
    db = tmp_path / "wal.db"
    wal = Path(f"{db}-wal")
    store = await _open(db)
    try:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        grown = wal.stat().st_size
        assert grown >= 1000 * page_size
        rec = _record("after-growth")
        await store.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
        await asyncio.sleep(0.01)
        rec.version, rec.next_event_id = 2, 3
        await store.write(ExecutionWrite(rec, 1, [HistoryEvent(2, EventType.TIMER_FIRED, 1.0, {})]))
        assert wal.stat().st_size == grown  # written from the start of the log again, in place
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "mainspring_wal_pad" not in tables
    store = await _open(db)
    try:
        loaded = await store.get_run(rec.run_id)
        assert loaded is not None and loaded.version == 2
        assert [e.event_id for e in await store.read_history(rec.run_id)] == [1, 2]
    finally:
        await store.close()


async def _in_one_batch(store: SQLiteStore, counting: _CountingQueue, writes: list[Any]) -> list[Any]:
    """Run ``writes`` (coroutines) so that the writer thread commits them all in one transaction: the
    writer is held until every one of them is queued."""
    store._writing.acquire()
    try:
        handed = counting.handed
        tasks = [asyncio.ensure_future(w) for w in writes]
        for _ in range(1000):
            if counting.handed - handed == len(tasks):
                break
            await asyncio.sleep(0.001)
        assert counting.handed - handed == len(tasks), "the writes were not all queued"
    finally:
        store._writing.release()
    return await asyncio.gather(*tasks, return_exceptions=True)


def _step(r: ExecutionRecord, state: dict[str, Any] | None = None) -> ExecutionWrite:
    expected = r.version
    r.version, r.next_event_id, r.state = expected + 1, r.next_event_id + 1, state or {"step": expected + 1}
    return ExecutionWrite(r, expected, [HistoryEvent(r.next_event_id - 1, EventType.TIMER_FIRED, 1.0, {})])


@pytest.mark.parametrize("with_other_writes", [False, True])
async def test_a_write_that_finds_the_database_full_fails_every_write_of_its_batch(
    tmp_path: Path, with_other_writes: bool
) -> None:
    """SQLITE_FULL (here from SQLite's page limit, set on the writer connection) in one write of a group
    commit: the writes already applied with it (several updates in one statement), and those after it
    (a namespace, another start), are not in the database, so each fails with StorageError. Reporting
    them written lost acknowledged changes. Once there is room again, the same writes go through."""
    db = tmp_path / "full.db"
    store, counting = await _counting_store(db)
    try:
        records = [_record(f"u-{i}") for i in range(5)]
        await asyncio.gather(*(store.write(ExecutionWrite(r, None, [_started(r.run_id)])) for r in records))
        conn = store._writer
        assert conn is not None
        page_size, pages, free = (
            conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_size", "page_count", "freelist_count")
        )
        conn.execute(f"PRAGMA max_page_count = {pages}")
        big = _record("big")
        big.state = {"pad": "x" * ((free + 16) * page_size)}  # more than the free pages left in the file
        writes: list[Any] = [store.write(_step(r)) for r in records]
        writes.append(store.write(ExecutionWrite(big, None, [_started(big.run_id)])))
        if with_other_writes:
            small = _record("small")
            writes.append(store.create_namespace("lost"))
            writes.append(store.write(ExecutionWrite(small, None, [_started(small.run_id)])))
        results = await _in_one_batch(store, counting, writes)
        assert all(isinstance(r, StorageError) for r in results), results
        assert not any(isinstance(r, (ConditionFailedError, ExecutionAlreadyRunningError)) for r in results)
        assert "full" in str(results[0])
        for r in records:
            loaded = await store.get_run(r.run_id)
            assert loaded is not None and loaded.version == 1, "an update of the failed batch was written"
            assert [e.event_id for e in await store.read_history(r.run_id)] == [1]
        assert await store.get_run(big.run_id) is None
        assert await store.get_namespace("lost") is None
        page, _ = await store.list_executions("default", ListQuery(limit=100))
        assert len(page) == len(records)

        conn.execute("PRAGMA max_page_count = 4294967294")
        for r in records:
            r.version, r.next_event_id = 1, 2
        writes = [store.write(_step(r)) for r in records]
        writes.append(store.write(ExecutionWrite(big, None, [_started(big.run_id)])))
        assert await _in_one_batch(store, counting, writes) == [None] * len(writes)
    finally:
        await store.close()
    store = await _open(db)
    try:
        for r in [*records, big]:
            loaded = await store.get_run(r.run_id)
            assert loaded is not None and loaded.version == r.version
    finally:
        await store.close()


async def test_a_lone_write_on_the_callers_thread_that_finds_the_database_full_fails_cleanly(tmp_path: Path) -> None:
    """The inline path (a lone change written by its caller, see ``_submit``) commits the same way."""
    store, counting = await _counting_store(tmp_path / "lone-full.db")
    try:
        rec = _record("lone")
        await store.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
        conn = store._writer
        assert conn is not None
        page_size, pages, free = (
            conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_size", "page_count", "freelist_count")
        )
        conn.execute(f"PRAGMA max_page_count = {pages}")
        handed = counting.handed
        with pytest.raises(StorageError, match="full"):
            await store.write(_step(rec, {"pad": "z" * ((free + 16) * page_size)}), quiet=True)
        assert counting.handed == handed  # written on this thread, not by the writer thread
        loaded = await store.get_run(rec.run_id)
        assert loaded is not None and loaded.version == 1 and loaded.state == {"x": 1}
        rec.version, rec.next_event_id = 1, 2
        await store.write(_step(rec), quiet=True)  # a small one fits
        loaded = await store.get_run(rec.run_id)
        assert loaded is not None and loaded.version == 2
    finally:
        await store.close()


async def test_a_group_commit_whose_commit_fails_fails_every_write_in_it(tmp_path: Path) -> None:
    """On a full file system (a tmpfs filled up), the statements of a batch of updates succeed in memory
    and its COMMIT fails (the write-ahead log cannot grow): every update fails, none is stored, and the
    store takes writes again once space is freed."""
    with tmpfs(tmp_path / "fs", "12m") as fs:
        db = fs / "c.db"
        store, counting = await _counting_store(db)
        try:
            records = [_record(f"c-{i}") for i in range(40)]
            await asyncio.gather(*(store.write(ExecutionWrite(r, None, [_started(r.run_id)])) for r in records))
            filler = fill(fs)
            # ~6 MiB of new pages: more than the log's ~4 MiB, so the commit must grow it.
            results = await _in_one_batch(
                store, counting, [store.write(_step(r, {"pad": "y" * 150_000})) for r in records]
            )
            assert all(isinstance(r, StorageError) for r in results), results
            for r in records:
                loaded = await store.get_run(r.run_id)
                assert loaded is not None and loaded.version == 1, "an update of the failed commit was written"
            filler.unlink()
            for r in records:
                r.version, r.next_event_id = 1, 2
            results = await _in_one_batch(store, counting, [store.write(_step(r)) for r in records])
            assert results == [None] * len(records)
        finally:
            await store.close()


async def test_a_refused_start_in_a_batch_of_updates_applied_together_does_not_undo_them(tmp_path: Path) -> None:
    """Updates written together in one statement, and one start in the same batch refused (its workflow
    id is running): the start fails alone and the updates are committed. (The refusal of the one write
    left once the updates were applied together used to roll back the whole transaction, updates
    included, while they were reported written.)"""
    store, counting = await _counting_store(tmp_path / "mixed.db")
    try:
        records = [_record(f"m-{i}") for i in range(4)]
        await asyncio.gather(*(store.write(ExecutionWrite(r, None, [_started(r.run_id)])) for r in records))
        again = _record("m-0")  # a second run of a running workflow id: refused
        writes: list[Any] = [store.write(_step(r)) for r in records]
        writes.append(store.write(ExecutionWrite(again, None, [_started(again.run_id)])))
        results = await _in_one_batch(store, counting, writes)
        assert results[:-1] == [None] * len(records), results
        assert isinstance(results[-1], ExecutionAlreadyRunningError), results[-1]
        for r in records:
            loaded = await store.get_run(r.run_id)
            assert loaded is not None and loaded.version == 2, "an update reported written was rolled back"
            assert [e.event_id for e in await store.read_history(r.run_id)] == [1, 2]
    finally:
        await store.close()


def _items(rec: ExecutionRecord | None) -> dict[tuple[str, str], Any]:
    assert rec is not None
    return {(i.kind, i.key): i.value for i in rec.pending}


async def test_pending_items_are_written_as_each_write_says_alone_and_in_a_batch(tmp_path: Path) -> None:
    """A write's items: put (insert or replace), deleted, or all cleared first; the same whether it is
    written alone, with other runs' writes in one statement, or behind a write of its own run submitted
    before it (in order, in one batch). Reads give a run's row and items as one commit left them."""
    store, counting = await _counting_store(tmp_path / "m.db")
    try:
        a, b = _record("a"), _record("b")
        await store.write(ExecutionWrite(a, None, [_started(a.run_id)], put_items=[PendingItem("a", "5", {"v": 1})]))
        await store.write(ExecutionWrite(b, None, [_started(b.run_id)]))
        assert _items(await store.get_run(a.run_id)) == {("a", "5"): {"v": 1}}

        # Alone: replace one, add one.
        w = _step(a)
        w.put_items = [PendingItem("a", "5", {"v": 2}), PendingItem("t", "t1", [3, 4.5])]
        await store.write(w)
        assert _items(await store.get_run(a.run_id)) == {("a", "5"): {"v": 2}, ("t", "t1"): [3, 4.5]}

        # Two runs in one batch (one statement each), and a second write of run a behind its first.
        wa1, wb = _step(a), _step(b)
        wa1.record = dataclasses.replace(a)  # as the engine does: the next step changes ``a``
        wa1.delete_items, wa1.put_items = [("a", "5"), ("a", "404")], [PendingItem("a", "7", {"v": 7})]
        wb.put_items = [PendingItem("a", str(i), {"i": i}) for i in range(9000)]  # past one statement's limit
        wa2 = _step(a)
        wa2.clear_pending, wa2.put_items = True, [PendingItem("t", "t2", [9, 1.0])]
        handed = counting.handed
        with store._writing:  # the writer thread is held: all three are queued, then written in one batch
            futures = [store.submit(wa1), store.submit(wb), store.submit(wa2)]
            assert counting.handed - handed == 3
        assert await asyncio.gather(*futures) == [None, None, None]
        assert _items(await store.get_run(a.run_id)) == {("t", "t2"): [9, 1.0]}
        rb = await store.get_execution("default", "b")
        assert rb is not None and len(rb.pending) == 9000 and rb.version == 2
        opened = {r.run_id: r async for r in store.open_executions()}
        assert _items(opened[a.run_id]) == {("t", "t2"): [9, 1.0]} and len(opened[b.run_id].pending) == 9000

        # A stale write changes none of its items.
        stale = ExecutionWrite(a, 1, [], delete_items=[("t", "t2")])
        with pytest.raises(ConditionFailedError):
            await store.write(stale)
        assert _items(await store.get_run(a.run_id)) == {("t", "t2"): [9, 1.0]}
    finally:
        await store.close()


def _big_step(r: ExecutionRecord, size: int) -> ExecutionWrite:
    """A step that appends one event of about ``size`` bytes (history only grows: new pages each time)."""
    expected = r.version
    r.version, r.next_event_id = expected + 1, r.next_event_id + 1
    event = HistoryEvent(r.next_event_id - 1, EventType.ACTIVITY_TASK_COMPLETED, 1.0, {"result": "r" * size})
    return ExecutionWrite(r, expected, [event])


async def test_the_log_is_copied_into_the_file_by_a_thread_of_its_own_not_by_a_commit(tmp_path: Path) -> None:
    """A commit that took the write-ahead log past 1,000 pages used to copy them into the database file
    and sync it before it returned (with 1 MB payloads, nearly every workflow waited for that). Now the
    checkpointer thread does it after the commits; the commits only append to the log."""
    db = tmp_path / "ck.db"
    store = await _open(db)
    try:
        assert store._checkpointer is not None
        store._checkpointer.stop()  # as if its thread had not got round to it yet
        before = db.stat().st_size
        rec = _record("big")
        await store.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
        for _ in range(4):  # 12 MB: three times the 1,000 pages at which a commit used to checkpoint
            await store.write(_big_step(rec, 3_000_000))
        assert db.stat().st_size == before, "a commit copied the log into the database file"
        store._checkpointer = Checkpointer(store._file, store.synchronous)
        store._checkpointer.start()
        store._checkpointer.written()
        # The file had ~4 MB of free pages (see grow_wal): the rest of the 12 MB makes it grow.
        await asyncio.to_thread(wait_until, lambda: db.stat().st_size > before + 6_000_000, 30, 0.05, "a checkpoint")
        assert len((await store.read_history(rec.run_id))[-1].attributes["result"]) == 3_000_000
    finally:
        await store.close()


async def test_the_writer_still_checkpoints_when_the_log_grows_past_its_fallback(tmp_path: Path) -> None:
    """However the checkpointer thread fares (stopped here), the log stays bounded: past
    WRITER_FALLBACK_PAGES a commit checkpoints by itself, as SQLite does by default."""
    db = tmp_path / "fallback.db"
    store = await _open(db)
    try:
        assert store._checkpointer is not None
        store._checkpointer.stop()
        store._checkpointer = None
        with contextlib.closing(sqlite3.connect(db)) as conn:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        before = db.stat().st_size
        rec = _record("bigger")
        await store.write(ExecutionWrite(rec, None, [_started(rec.run_id)]))
        step = 3_000_000
        for _ in range(WRITER_FALLBACK_PAGES * page_size // step + 2):
            await store.write(_big_step(rec, step))
        assert db.stat().st_size > before + 6_000_000, "no commit checkpointed the log"
        assert Path(f"{db}-wal").stat().st_size < (WRITER_FALLBACK_PAGES + 1024) * (page_size + 24)
    finally:
        await store.close()


async def test_an_event_the_engine_encoded_is_stored_as_that_json_and_not_kept_twice(tmp_path: Path) -> None:
    """The engine encodes an event's attributes once (to count the history's bytes) and hands the JSON
    to the store with the event, which writes it rather than encoding a 1 MB payload again, and drops it."""
    store = await _open(tmp_path / "enc.db")
    try:
        rec = _record("enc")
        attrs = {"run_id": rec.run_id, "input": 'é"\n' * 1000}
        event = HistoryEvent(1, EventType.WORKFLOW_EXECUTION_STARTED, 1.0, attrs, dumps(attrs))
        await store.write(ExecutionWrite(rec, None, [event]))
        assert event.encoded is None  # written: the event keeps its attributes only
        ((_, _, _, text),) = await store.read_history_json(rec.run_id, 1, 1)
        assert text == dumps(attrs).decode()
        assert (await store.read_history(rec.run_id))[0].attributes == attrs
    finally:
        await store.close()


async def test_deleting_a_closed_run_removes_its_row_history_and_items(tmp_path: Path) -> None:
    path = tmp_path / "del.db"
    store = await _open(path)
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
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for table in ("history", "pending", "executions"):
            rows = conn.execute(f"SELECT count(*) FROM {table} WHERE run_id IN (?, ?)", (old.run_id, new.run_id))
            assert rows.fetchone()[0] == 0, table
