"""``mainspring store copy``: a dev store (SQLite) with open workflows moved to PostgreSQL and back, as real
processes: the open workflows carry on in a server started on the copy (a signal, a durable timer, an
activity in flight whose worker completes it with the token the first server gave it), closed ones keep
their histories and run ids. Refusals: a source a server holds, a destination that holds runs, bad URLs.
And the copy routine itself, in process, in pages far smaller than its own, byte for byte."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mainspring import Client
from mainspring._visibility._parser import parse_query
from mainspring.api.enums import EventType, WorkflowStatus
from mainspring.storage import (
    CopyError,
    ExecutionRecord,
    ExecutionWrite,
    HistoryEvent,
    PendingItem,
    SQLiteStore,
    Store,
    StoredApiKey,
    StoredSchedule,
    _copy,
    copy_store,
    store_from_url,
)
from support import WORKERS, ServerProcess, WorkerProcess, run_cli, running

COPY_WORKER = WORKERS / "copy_worker.py"


def sqlite_url(path: Path) -> str:
    return "sqlite:///" + str(path)  # an absolute path: four slashes in all


def copy(from_url: str, to_url: str, timeout: float = 60) -> tuple[int, str, str]:
    r = run_cli("store", "copy", "--from", from_url, "--to", to_url, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


async def history_types(client: Client, workflow_id: str) -> list[str]:
    return [e["event_type"] for e in await client.get_workflow_handle(workflow_id).fetch_history()]


async def all_runs(client: Client, *, whole: bool = False) -> dict[str, Any]:
    """Every run the server lists, by run id: what does not change while it runs, or (``whole``) all it says."""
    return {
        wf.run_id: wf.raw if whole else (wf.id, wf.workflow_type, wf.start_time)
        async for wf in client.list_workflows(limit=1000)
    }


@pytest.mark.timeout(240)
async def test_open_workflows_carry_on_after_a_copy_to_postgres_and_back(tmp_path: Path, postgres_url: str) -> None:
    tq = f"copy-{uuid.uuid4().hex[:8]}"
    dev = tmp_path / "dev.db"
    srv = ServerProcess(dev, log_path=tmp_path / "dev.log")
    worker = WorkerProcess(COPY_WORKER, srv.address, args=["--task-queue", tq], log_path=tmp_path / "worker.log")
    with running(srv, worker):
        srv.start()
        worker.start()
        async with await Client.connect(srv.address, timeout=30) as client:
            done = {}
            for name in ("ann", "bob", "cy"):
                h = await client.start_workflow("copy_hello", name, id=f"hello-{name}", task_queue=tq)
                done[h.id] = await h.result(timeout=30)
            assert done == {f"hello-{n}": f"Hello, {n}!" for n in ("ann", "bob", "cy")}
            await client.start_workflow("copy_waiter", "dee", id="waiter", task_queue=tq)
            timer_set = time.time()
            sleeper = await client.start_workflow("copy_sleeper", 10, id="sleeper", task_queue=tq)
            await client.start_workflow("copy_slow", 5, id="slow", task_queue=tq)
            for wid, waits_on in (
                ("waiter", EventType.WORKFLOW_TASK_COMPLETED),
                ("sleeper", EventType.TIMER_STARTED),
                ("slow", EventType.ACTIVITY_TASK_STARTED),
            ):
                await wait_for_event(client, wid, waits_on)
            histories = {wid: await client.get_workflow_handle(wid).fetch_history() for wid in done}
            described = {
                wid: (await client.get_workflow_handle(wid).describe()).run_id
                for wid in (*done, "waiter", "sleeper", "slow")
            }
            runs_before = await all_runs(client)
            assert (await sleeper.describe()).status is WorkflowStatus.RUNNING

        # A server holds the file: the copy is refused (and writes nothing to the destination).
        code, _, err = copy(sqlite_url(dev), postgres_url)
        assert code == 1
        line = one_error_line(err)
        assert "in use by a running server" in line and str(srv.proc.pid if srv.proc else "") in line, line

        assert srv.stop() == 0  # SIGTERM: a clean stop; the worker stays, its activity still running
        code, out, err = copy(sqlite_url(dev), postgres_url)
        assert code == 0, out + err
        assert "Copied in" in out and "workflow runs" in out, out
        runs_line = next(line for line in out.splitlines() if line.startswith("  workflow runs"))
        assert runs_line.split()[-2:] == ["6", "6"], out

        # A server on the copy, at the same address: the worker carries on with it.
        pg = ServerProcess(postgres_url, port=srv.port, log_path=tmp_path / "pg.log")
        with running(pg):
            pg.start(timeout=30)
            async with await Client.connect(pg.address, timeout=30) as client:
                assert await all_runs(client) == runs_before
                for wid, events in histories.items():
                    assert await client.get_workflow_handle(wid).fetch_history() == events
                for wid, run_id in described.items():
                    assert (await client.get_workflow_handle(wid).describe()).run_id == run_id
                waiter = client.get_workflow_handle("waiter")
                await waiter.signal("go", "again")
                assert await waiter.result(timeout=30) == "Hello, dee again!"
                sleeper = client.get_workflow_handle("sleeper")
                assert await sleeper.result(timeout=30) == "woke after 10 s"
                assert time.time() >= timer_set + 10  # at the timer's own time, not at the server's start
                slow = client.get_workflow_handle("slow")
                assert await slow.result(timeout=60) == "napped 5 s"
                # Completed by the worker with the token the SQLite server gave it: one attempt only.
                assert (await history_types(client, "slow")).count(EventType.ACTIVITY_TASK_STARTED) == 1
                # One more left open, to go back to SQLite.
                await client.start_workflow("copy_waiter", "eve", id="waiter-2", task_queue=tq)
                await wait_for_event(client, "waiter-2", EventType.WORKFLOW_TASK_COMPLETED)
                pg_runs = await all_runs(client, whole=True)
                pg_histories = {
                    wid: await client.get_workflow_handle(wid).fetch_history() for wid in (*described, "waiter-2")
                }
                # A server holds the database: refused, after waiting one lease in case that server is gone.
                code, _, err = copy(postgres_url, sqlite_url(tmp_path / "refused.db"))
                assert code == 1 and "in use by a running server" in one_error_line(err), err
                assert not (tmp_path / "refused.db").exists() or _runs_in(tmp_path / "refused.db") == 0

        back = tmp_path / "back.db"
        code, out, err = copy(postgres_url, sqlite_url(back))
        assert code == 0, out + err
        # The destination holds runs now: a second copy into it is refused.
        code, _, err = copy(sqlite_url(dev), sqlite_url(back))
        assert code == 1 and "already holds 7 workflow runs" in one_error_line(err), err
        code, _, err = copy(sqlite_url(dev), postgres_url)
        assert code == 1 and "already holds" in one_error_line(err), err

        srv2 = ServerProcess(back, port=srv.port, log_path=tmp_path / "back.log")
        with running(srv2):
            srv2.start()
            async with await Client.connect(srv2.address, timeout=30) as client:
                assert await all_runs(client, whole=True) == pg_runs
                for wid, events in pg_histories.items():
                    assert await client.get_workflow_handle(wid).fetch_history() == events
                waiter2 = client.get_workflow_handle("waiter-2")
                await waiter2.signal("go", "home")
                assert await waiter2.result(timeout=30) == "Hello, eve home!"


async def wait_for_event(client: Client, workflow_id: str, event_type: EventType, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while event_type not in await history_types(client, workflow_id):
        if time.monotonic() > deadline:
            raise AssertionError(f"{workflow_id} has no {event_type} after {timeout}s")
        await asyncio.sleep(0.1)


def _runs_in(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM executions").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_bad_urls_and_missing_sources_are_one_line_errors(tmp_path: Path, postgres_server: Any) -> None:
    dev = tmp_path / "dev.db"
    missing = postgres_server.url("no_such_database")
    for from_url, to_url, said in (
        ("mysql://root@localhost/db", sqlite_url(dev), "unknown database URL scheme 'mysql'"),
        (sqlite_url(tmp_path / "nothing.db"), postgres_server.url(), "there is no database file"),
        (":memory:", postgres_server.url(), "in-memory database"),
        (sqlite_url(dev), "postgresql://postgres:hunter2@127.0.0.1:1/x", "cannot connect to the database"),
        (missing, sqlite_url(dev), "cannot connect to the database"),
        (sqlite_url(dev), sqlite_url(dev), "both name"),
    ):
        if from_url == sqlite_url(dev) and not dev.exists():
            assert run_cli("store", "migrate", "--db", str(dev)).returncode == 0  # an empty store to copy from
        code, out, err = copy(from_url, to_url)
        assert code == 1, out + err
        line = one_error_line(err)
        assert said in line and "hunter2" not in line, line
    r = run_cli("store", "copy", "--from", sqlite_url(dev))
    assert r.returncode == 2 and "--to" in r.stderr


# --- the routine itself, in process ----------------------------------------------------------------------


async def fill(store: Store, runs: int) -> None:
    """``runs`` runs written as the engine writes them: every other one closed, some with long histories and
    pending items, two runs of one workflow id (the older closed), a namespace, a key and a schema."""
    await store.create_namespace("default")
    await store.create_namespace("other", "the other one")
    await store.server_key("task_tokens")
    await store.put_workflow_schema("default", "q", "wf", {"type": "string"}, [{"kind": "signal", "name": "go"}])
    await store.note_build("default", "q", "1.0", 1000.25)
    await store.note_build("default", "q", "2.0", 1100.5)
    await store.create_schedule(StoredSchedule("default", "nightly", '{"spec": {"cron_expressions": ["0 3 * * *"]}}'))
    await store.create_schedule(StoredSchedule("other", "hourly", '{"spec": {"intervals": [{"every": 3600}]}}', 7))
    await store.put_api_key(StoredApiKey("k1", "ci", "default", "writer", "h" * 64, 1000.0, "store"))
    await store.put_api_key(StoredApiKey("k2", "old", "other", "reader", "g" * 64, 1000.0, "k1", revoked_at=1001.0))
    for i in range(runs):
        wid = f"wf-{i % (runs - 1)}"  # the last run shares the first one's id
        n_events = 40 if i % 7 == 3 else 3
        events = [
            HistoryEvent(e, EventType.WORKFLOW_EXECUTION_STARTED if e == 1 else EventType.TIMER_STARTED,
                         1000.0 + i + e / 1000, {"n": e, "text": "ü" * (e % 5), "run": i})
            for e in range(1, n_events + 1)
        ]  # fmt: skip
        record = ExecutionRecord(
            namespace="default" if i % 3 else "other",
            workflow_id=wid,
            run_id=f"{uuid.uuid4()}",
            workflow_type="wf",
            task_queue="q",
            status=WorkflowStatus.RUNNING,
            start_time=1000.0 + i,
            close_time=None,
            next_event_id=n_events + 1,
            version=1,
            state={"wt": {"id": i}},
            request_id=f"req-{i}",
        )
        items = [PendingItem("t", str(k), {"fire": 2000.5 + k}) for k in range(i % 4)]
        await store.write(ExecutionWrite(record, None, events=events, put_items=items))
        if i % 2 == 0:
            closed = dataclasses.replace(
                record, status=WorkflowStatus.COMPLETED, close_time=1500.0 + i, version=2, next_event_id=n_events + 2
            )
            done = [HistoryEvent(n_events + 1, EventType.WORKFLOW_EXECUTION_COMPLETED, 1500.0 + i, {"result": i})]
            await store.write(ExecutionWrite(closed, 1, events=done, clear_pending=True))


async def everything(store: Store) -> tuple[Any, ...]:
    """All a store holds that a copy moves, as stored."""
    runs = []
    after = ""
    while page := await store.export_runs(after, 1000):
        runs += page
        after = page[-1].record.run_id
    events = await store.export_events([r.record.run_id for r in runs])
    return (
        await store.list_namespaces(),
        await store.export_server_keys(),
        await store.export_workflow_schemas(),
        await store.export_worker_builds(),
        await store.list_schedules(None),
        [(r.record, r.state, r.current, r.pending) for r in runs],
        events,
        # Counts by status: the count table's (written by the destination's triggers as the runs go in),
        # and a scan's (a filter on the type reads the runs).
        [await store.count_executions(ns, None, True) for ns in ("default", "other")],
        [await store.count_executions(ns, parse_query("WorkflowType = 'wf'"), True) for ns in ("default", "other")],
    )


@pytest.mark.timeout(120)
async def test_the_copy_moves_every_row_byte_for_byte_in_small_pages(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_copy, "RUNS_PER_PAGE", 4)
    monkeypatch.setattr(_copy, "EVENTS_PER_BATCH", 16)  # the 40-event histories are read in pages of 16
    src = SQLiteStore(str(tmp_path / "src.db"))
    await src.open()
    await fill(src, 31)
    await src.close()
    # A damaged state (the server sets such a run aside) moves as it is.
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.execute("UPDATE executions SET state = '{not json' WHERE run_id = (SELECT min(run_id) FROM executions)")

    stores: list[Store] = [SQLiteStore(str(tmp_path / "src.db")), store_from_url(postgres_url)]
    stores.append(SQLiteStore(str(tmp_path / "back.db")))
    for s in stores:
        await s.open()
    try:
        seen: list[int] = []
        report = await copy_store(stores[0], stores[1], progress=lambda p: seen.append(p.runs))
        assert report.source == report.destination and report.source.executions == 31
        assert report.source.events > 200 and report.source.pending > 0
        assert seen == sorted(seen) and seen[-1] == 31 and len(seen) > 8
        await copy_store(stores[1], stores[2])
        first = await everything(stores[0])
        assert await everything(stores[1]) == first
        assert await everything(stores[2]) == first
        assert len(first[5]) == 31 and sum(1 for r in first[5] if r[2] is not None) == 30  # one id has 2 runs
        assert len(first[3]) == 2  # the worker builds
        assert first[7] == first[8] and first[7][0][0] + first[7][1][0] == 31
        assert [s.schedule_id for s in first[4]] == ["nightly", "hourly"] and first[4][1].version == 7
        assert report.schedules == 2
        # API keys stay behind (a dev store's keys must not open a production one).
        assert [k.key_id for k in await stores[0].list_api_keys()] == ["k1", "k2"]
        assert not await stores[1].list_api_keys() and not await stores[2].list_api_keys()
        with pytest.raises(CopyError, match="already holds 31 workflow runs"):
            await copy_store(stores[0], stores[2])
    finally:
        for s in stores:
            await s.close()
