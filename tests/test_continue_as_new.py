"""Continue-as-new against a real server: a run closes as CONTINUED_AS_NEW and the next run of its id starts in
the same commit; results follow the chain; each run links its neighbours; the input is checked; the chain stays
exact when a worker or the server is killed in the middle of it."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from inprocess import eventually, running_worker, serving
from mainspring import Client, WorkflowHandle, workflow
from mainspring.api import EventType, WorkflowStatus
from mainspring.storage import (
    ExecutionAlreadyRunningError,
    ExecutionRecord,
    ExecutionWrite,
    HistoryEvent,
    ListQuery,
    SQLiteStore,
    StorageError,
)
from support import ServerProcess, can_worker, run_cli, store_sql


def new_id() -> str:
    return f"can-{uuid.uuid4().hex[:10]}"


@dataclass
class Count:
    n: int
    stop: int
    total: int = 0


@workflow.defn(name="counter")
async def counter(ctx: workflow.Context, c: Count) -> dict[str, Any]:
    if c.n < c.stop:
        ctx.continue_as_new(Count(c.n + 1, c.stop, c.total + c.n), workflow=counter)
    return {
        "n": c.n,
        "total": c.total + c.n,
        "continued_from": ctx.info.continued_run_id,
        "history_length": ctx.info.history_length,
    }


@workflow.defn(name="ClassCounter")
class ClassCounter:
    @workflow.run
    async def run(self, ctx: workflow.Context, n: int) -> int:
        if n > 0:
            ctx.continue_as_new(n - 1, workflow=ClassCounter.run)
        return n


@workflow.defn(name="bad_continue")
async def bad_continue(ctx: workflow.Context, n: int) -> int:
    ctx.continue_as_new("not a number")  # wrong type: the task fails with a TypeError naming it
    return n


@workflow.defn(name="swallowing")
async def swallowing(ctx: workflow.Context, n: int) -> int:
    try:
        if n < 2:
            ctx.continue_as_new(n + 1)
    except Exception:  # ContinueAsNewError is a BaseException: not caught here
        return -1
    return n


async def _chain(client: Client, workflow_id: str) -> list[dict[str, Any]]:
    """Every run of ``workflow_id``, oldest first (all pages of ``list_workflows``)."""
    runs: list[dict[str, Any]] = []
    token = None
    while True:
        page = await client.list_workflows(workflow_id=workflow_id, limit=1000, page_token=token)
        runs += page.executions
        token = page.next_page_token
        if not token:
            return runs[::-1]


async def test_counter_continues_as_new_and_result_follows_the_chain(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[counter]):
        handle = await client.start_workflow(counter, Count(0, 5), id=wid, task_queue=task_queue)
        first_run = handle.run_id
        # The first run's handle gets the last run's result.
        result = await asyncio.wait_for(handle.result(), 60)
    assert result["n"] == 5
    assert result["total"] == sum(range(6))
    runs = await _chain(client, wid)
    assert [r["status"] for r in runs] == ["CONTINUED_AS_NEW"] * 5 + ["COMPLETED"]
    assert runs[0]["run_id"] == first_run
    # Each run's history is its own, and small.
    assert all(r["history_length"] <= 6 for r in runs), runs
    # Each run links its neighbours, both ways.
    for prev, nxt in itertools.pairwise(runs):
        d_prev = await client.get_workflow_handle(wid, run_id=prev["run_id"]).describe()
        d_next = await client.get_workflow_handle(wid, run_id=nxt["run_id"]).describe()
        assert d_prev.next_run_id == nxt["run_id"]
        assert d_next.previous_run_id == prev["run_id"]
    assert result["continued_from"] == runs[-2]["run_id"]
    first = await client.get_workflow_handle(wid, run_id=first_run).describe()
    assert first.previous_run_id is None
    # The closing event names the next run and carries its input; the next run's start names the one before.
    history = await client.get_workflow_handle(wid, run_id=first_run).fetch_history()
    closing = history[-1]
    assert closing["event_type"] == "WorkflowExecutionContinuedAsNew"
    assert closing["attributes"]["new_execution_run_id"] == runs[1]["run_id"]
    assert closing["attributes"]["input"] == {"n": 1, "stop": 5, "total": 0}
    second = await client.get_workflow_handle(wid, run_id=runs[1]["run_id"]).fetch_history()
    assert second[0]["attributes"]["continued_execution_run_id"] == first_run


async def test_class_workflow_continues_as_new(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[ClassCounter]):
        result = await asyncio.wait_for(client.execute_workflow(ClassCounter.run, 3, id=wid, task_queue=task_queue), 60)
    assert result == 0
    assert [r["status"] for r in await _chain(client, wid)] == ["CONTINUED_AS_NEW"] * 3 + ["COMPLETED"]


async def test_continue_as_new_is_not_swallowed_by_except_exception(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[swallowing]):
        assert (
            await asyncio.wait_for(client.execute_workflow(swallowing, 0, id=new_id(), task_queue=task_queue), 60) == 2
        )


async def test_wrong_input_type_fails_the_task_and_names_the_problem(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[bad_continue]):
        handle: WorkflowHandle[Any, int] = await client.start_workflow(bad_continue, 1, id=wid, task_queue=task_queue)

        async def failed_task() -> dict[str, Any] | None:
            d = await handle.describe()
            wt = d.pending_workflow_task
            return wt if wt and wt.get("last_failure") else None

        wt = await eventually(failed_task, timeout=30, what="the workflow task to fail")
    assert "continue_as_new" in wt["last_failure"]["message"]
    assert "bad_continue" in wt["last_failure"]["message"]
    # Nothing was continued: the run is still the only one, and running.
    assert [r["status"] for r in await _chain(client, wid)] == ["RUNNING"]


async def test_cli_result_and_describe_follow_the_chain(server: ServerProcess, client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[counter]):
        handle = await client.start_workflow(counter, Count(0, 2), id=wid, task_queue=task_queue)
        await asyncio.wait_for(handle.result(), 60)
        first = handle.run_id
        assert first is not None
        out = await asyncio.to_thread(
            run_cli, "workflow", "result", "-w", wid, "-r", first, "-o", "json", address=server.address
        )
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert printed["result"]["n"] == 2
    assert printed["run_id"] == handle.result_run_id != first  # the last run's
    desc = await asyncio.to_thread(run_cli, "workflow", "describe", "-w", wid, "-r", first, address=server.address)
    assert "Next run" in desc.stdout, desc.stdout


async def test_wait_result_follows_over_http(server: ServerProcess, client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[counter]):
        handle = await client.start_workflow(counter, Count(0, 3), id=wid, task_queue=task_queue)
        await asyncio.wait_for(handle.result(), 60)
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get(
            "/api/v1/namespaces/default/workflows/result",
            params={"workflow_id": wid, "run_id": handle.run_id, "wait": 0},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "COMPLETED"
    assert body["run_id"] != handle.run_id
    assert body["result"]["n"] == 3


# --- crashes ---------------------------------------------------------------------------------------------------


def _runs_in_db(store: str, workflow_id: str) -> list[tuple[str, str, str]]:
    """(run_id, status, the input of its start) of every run of ``workflow_id``, oldest first, read from the
    store itself (``ServerProcess.store``: the SQLite file, or the PostgreSQL database; the tables are the same)."""
    rows = store_sql(
        store,
        "SELECT e.run_id, e.status, h.attributes FROM executions e JOIN history h "
        "ON h.run_id = e.run_id AND h.event_id = 1 WHERE e.workflow_id=? ORDER BY e.start_time, e.run_id",
        (workflow_id,),
    )
    return [(r[0], r[1], json.loads(r[2]).get("input")) for r in rows]


def _check_chain(runs: list[tuple[str, str, Any]], first_n: int = 0) -> None:
    """Exactly one run per step, each with its step's input, each closed as continued but the last."""
    assert [r[2]["n"] for r in runs] == list(range(first_n, first_n + len(runs))), [r[2] for r in runs]
    statuses = [r[1] for r in runs]
    assert all(s == "CONTINUED_AS_NEW" for s in statuses[:-1]), runs[-5:]
    assert statuses[-1] in ("RUNNING", "COMPLETED"), runs[-5:]


def _start_counter(server: ServerProcess, workflow_id: str, task_queue: str, stop: int) -> None:
    """Start the worker script's counter from 0 to ``stop``, with the CLI."""
    out = run_cli(
        *("workflow", "start", "--type", "counter", "-w", workflow_id, "-t", task_queue),
        *("-i", json.dumps({"n": 0, "stop": stop})),
        address=server.address,
    )
    assert out.returncode == 0, out.stderr


def test_worker_sigkill_keeps_the_chain_exact(server: ServerProcess, tmp_path: Path, task_queue: str) -> None:
    wid = new_id()
    stop = 400
    worker = can_worker(server, task_queue, tmp_path).start()
    try:
        _start_counter(server, wid, task_queue, stop)
        db = server.store
        # Killed in the middle of the loop, twice; another worker takes over each time.
        for _ in range(2):
            before = len(_runs_in_db(db, wid))
            _wait_for_runs(db, wid, before + 30)
            worker.kill()
            worker = can_worker(server, task_queue, tmp_path).start()
        out = run_cli("workflow", "result", "-w", wid, "-o", "json", "--timeout", "120", address=server.address)
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        worker.stop()
    runs = _runs_in_db(server.store, wid)
    assert len(runs) == stop + 1
    _check_chain(runs)
    assert runs[-1][1] == "COMPLETED"


def _wait_for_runs(db: str, workflow_id: str, count: int, timeout: float = 60.0) -> None:
    from support import wait_until

    wait_until(lambda: len(_runs_in_db(db, workflow_id)) >= count, timeout, what=f"{count} runs of {workflow_id}")


def test_server_sigkill_during_the_loop_leaves_a_consistent_chain(
    server: ServerProcess, tmp_path: Path, task_queue: str
) -> None:
    wid = new_id()
    stop = 100_000  # never reached: the test stops it
    worker = can_worker(server, task_queue, tmp_path).start()
    try:
        _start_counter(server, wid, task_queue, stop)
        db = server.store
        for _ in range(3):
            before = len(_runs_in_db(db, wid))
            _wait_for_runs(db, wid, before + 50)
            server.kill()  # SIGKILL, in the middle of a busy loop of continue-as-new commits
            runs = _runs_in_db(db, wid)
            _check_chain(runs)
            assert [r[1] for r in runs].count("RUNNING") == 1
            server.start()
            # The chain goes on from where it was.
            _wait_for_runs(db, wid, len(runs) + 20)
        # The loop runs on as the terminate is made: its run may continue as new just before (then it is asked again).
        for _ in range(20):
            out = run_cli("workflow", "terminate", "-w", wid, "--reason", "done", address=server.address)
            if out.returncode == 0 or "CONTINUED_AS_NEW" not in out.stderr:
                break
        assert out.returncode == 0, out.stderr
    finally:
        worker.stop()
    runs = _runs_in_db(server.store, wid)
    assert [r[2]["n"] for r in runs] == list(range(len(runs)))
    assert [r[1] for r in runs][:-1] == ["CONTINUED_AS_NEW"] * (len(runs) - 1)
    assert runs[-1][1] == "TERMINATED"
    assert server.store != server.db or os.path.exists(server.db)


# --- the store: a run's close and its successor's create are one atomic write -----------------------------------


def _store_record(workflow_id: str, run_id: str | None = None) -> ExecutionRecord:
    return ExecutionRecord(
        namespace="default",
        workflow_id=workflow_id,
        run_id=run_id or str(uuid.uuid4()),
        workflow_type="wf",
        task_queue="tq",
        status=WorkflowStatus.RUNNING,
        start_time=time.time(),
        close_time=None,
        next_event_id=2,
        version=1,
        request_id="start-1",
    )


def _close_with_follow_on(old: ExecutionRecord, new: ExecutionRecord) -> ExecutionWrite:
    closed = dataclasses.replace(
        old, status=WorkflowStatus.CONTINUED_AS_NEW, close_time=time.time(), next_event_id=3, version=old.version + 1
    )
    event = HistoryEvent(2, EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW, 1.0, {"new_execution_run_id": new.run_id})
    started = HistoryEvent(1, EventType.WORKFLOW_EXECUTION_STARTED, 1.0, {"continued_execution_run_id": old.run_id})
    return ExecutionWrite(closed, old.version, [event], follow_on=ExecutionWrite(new, None, [started]))


@pytest.mark.sqlite_only  # the SQLite store itself, in process
async def test_the_store_closes_a_run_and_creates_its_successor_in_one_write(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    await store.open()
    try:
        old = _store_record("chain")
        await store.write(ExecutionWrite(old, None, [HistoryEvent(1, EventType.WORKFLOW_EXECUTION_STARTED, 1.0, {})]))
        new = _store_record("chain")
        await store.write(_close_with_follow_on(old, new))
        assert (await store.get_run(old.run_id)).status is WorkflowStatus.CONTINUED_AS_NEW  # type: ignore[union-attr]
        current = await store.get_execution("default", "chain")
        assert current is not None and current.run_id == new.run_id and current.status is WorkflowStatus.RUNNING
        assert [e.event_type for e in await store.read_history(new.run_id)] == [EventType.WORKFLOW_EXECUTION_STARTED]
        # The chain's current run is what a start of the id (even repeated with its request id) finds.
        with pytest.raises(ExecutionAlreadyRunningError) as err:
            await store.write(ExecutionWrite(_store_record("chain"), None, []))
        assert err.value.run_id == new.run_id

        # A successor that cannot be created (its run id is taken) refuses the whole write: the run stays open.
        clash = _store_record("chain", run_id=old.run_id)
        with pytest.raises((StorageError, sqlite3.IntegrityError)):
            await store.write(_close_with_follow_on(current, clash))
        again = await store.get_run(new.run_id)
        assert again is not None and again.status is WorkflowStatus.RUNNING and again.version == 1
        assert [e.event_id for e in await store.read_history(new.run_id)] == [1]
        # And one whose run is not the current one of its id (stale) is refused too.
        with pytest.raises(StorageError):
            await store.write(_close_with_follow_on(old, _store_record("chain")))

        # Among many other writes committed together, each chain step stays whole.
        others = [_store_record(f"other-{i}") for i in range(30)]
        await asyncio.gather(*(store.write(ExecutionWrite(r, None, [])) for r in others))
        nxt = _store_record("chain")
        steps = [store.write(ExecutionWrite(dataclasses.replace(r, version=2, next_event_id=3), 1, [])) for r in others]
        results = await asyncio.gather(*steps, store.write(_close_with_follow_on(again, nxt)), return_exceptions=True)
        assert all(r is None for r in results), results
        current = await store.get_execution("default", "chain")
        assert current is not None and current.run_id == nxt.run_id
        page, _ = await store.list_executions("default", ListQuery(workflow_id="chain"))
        assert [r.status for r in page] == [WorkflowStatus.RUNNING] + [WorkflowStatus.CONTINUED_AS_NEW] * 2
    finally:
        await store.close()


@pytest.mark.sqlite_only  # the SQLite store itself, in process
async def test_a_write_queued_behind_a_refused_successor_is_refused_with_it(tmp_path: Path) -> None:
    # The engine queues a continued run's first step behind the write that creates it, without waiting for that
    # write (EngineCore._commit): what makes it safe is that the store applies writes in order, and the step's
    # version check finds no such run if its create was refused.
    store = SQLiteStore(str(tmp_path / "s.db"))
    await store.open()
    try:
        old = _store_record("chain")
        await store.write(ExecutionWrite(old, None, [HistoryEvent(1, EventType.WORKFLOW_EXECUTION_STARTED, 1.0, {})]))
        current = _store_record("chain")
        await store.write(_close_with_follow_on(old, current))
        # ``old`` was closed already: a second close of it, with its own successor, is refused whole.
        successor = _store_record("chain")
        step = ExecutionWrite(
            dataclasses.replace(successor, version=2, next_event_id=3),
            1,
            [HistoryEvent(2, EventType.WORKFLOW_TASK_SCHEDULED, 1.0, {})],
        )
        first, second = store.submit(_close_with_follow_on(old, successor)), store.submit(step)
        results = await asyncio.gather(first, second, return_exceptions=True)
        assert all(isinstance(r, StorageError) for r in results), results
        assert await store.get_run(successor.run_id) is None
        assert await store.read_history(successor.run_id) == []
        still = await store.get_execution("default", "chain")
        assert still is not None and still.run_id == current.run_id and still.status is WorkflowStatus.RUNNING
    finally:
        await store.close()


@pytest.mark.slow
def test_the_run_page_links_the_runs_of_the_chain(server: ServerProcess, tmp_path: Path, task_queue: str) -> None:
    from playwright.sync_api import expect

    from support import chromium

    wid = new_id()
    worker = can_worker(server, task_queue, tmp_path).start()
    try:
        out = run_cli(
            *("workflow", "execute", "--type", "counter", "-w", wid, "-t", task_queue),
            *("-i", json.dumps({"n": 0, "stop": 1})),
            address=server.address,
        )
        assert out.returncode == 0, out.stderr
    finally:
        worker.stop()
    runs = _runs_in_db(server.store, wid)
    first, last = runs[0][0], runs[1][0]
    with chromium() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.ui_url}/namespaces/default/workflows/{wid}/{first}")
        nxt = page.locator('[data-chain="next"]')
        expect(nxt).to_contain_text(last, timeout=15_000)
        expect(page.locator("dt", has_text="Continued as new")).to_be_visible()
        nxt.click()
        expect(page.locator('[data-chain="previous"]')).to_contain_text(first, timeout=15_000)
        expect(page.locator('[data-chain="next"]')).to_have_count(0)
        page.close()
    assert not errors, errors


@workflow.defn(name="until_suggested")
async def until_suggested(ctx: workflow.Context, runs: int) -> list[int]:
    """Sleeps until the server suggests continuing as new, then does, twice; returns each run's history length."""
    while not ctx.info.is_continue_as_new_suggested():
        await ctx.sleep(0.01)
    if runs < 2:
        ctx.continue_as_new(runs + 1)
    return [runs, ctx.info.history_length]


async def test_continuing_when_the_server_suggests_it_keeps_each_history_short(tmp_path: Path, task_queue: str) -> None:
    async with serving(tmp_path / "s.db", extra_args=["--warn-history-events", "20"]) as (_, client):
        wid = new_id()
        async with running_worker(client, task_queue, workflows=[until_suggested]):
            result = await asyncio.wait_for(
                client.execute_workflow(until_suggested, 0, id=wid, task_queue=task_queue), 60
            )
        assert result[0] == 2 and 20 <= result[1] < 40
        runs = await _chain(client, wid)
        assert [r["status"] for r in runs] == ["CONTINUED_AS_NEW"] * 2 + ["COMPLETED"]
        assert all(r["history_length"] < 45 for r in runs), runs


# --- the next run's first task in the completion's answer ------------------------------------------------------

NS = "/api/v1/namespaces/default"


def _continue(n: int, **more: Any) -> dict[str, Any]:
    return {"type": "ContinueAsNewWorkflow", "input": n, **more}


def test_the_next_runs_first_task_comes_back_in_the_answer(server: ServerProcess) -> None:
    tq = f"next-{uuid.uuid4().hex[:6]}"
    wid = new_id()
    with httpx.Client(base_url=server.url + NS, timeout=30) as http:
        session = http.post(
            "/workers", json={"identity": "hand", "task_queue": tq, "workflow_types": [{"name": "loop"}]}
        ).json()["session_id"]
        first = http.post("/workflows", json={"workflow_id": wid, "workflow_type": "loop", "task_queue": tq}).json()
        task = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        # Asked for, and this session runs the next run's type on its queue: the answer carries its first task,
        # the whole (short) history of a run that its first run's close created.
        done = http.post(
            "/workflow-tasks/complete",
            json={"task_token": task["task_token"], "commands": [_continue(1)], "want_next_run_task": True},
        ).json()
        nxt = done["next_run_task"]
        assert nxt is not None and nxt["workflow_id"] == wid and nxt["run_id"] != first["run_id"]
        assert nxt["first_event_id"] == 1
        assert [e["event_type"] for e in nxt["history"]] == [
            "WorkflowExecutionStarted",
            "WorkflowTaskScheduled",
            "WorkflowTaskStarted",
        ]
        assert nxt["history"][0]["attributes"]["continued_execution_run_id"] == first["run_id"]
        # Handed out once: no poll gets it as well.
        assert http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 0.5}).status_code == 204
        # Its completion is recorded as any; a next run of a type this session does not run is not handed back,
        # but offered to the workers that run it.
        done = http.post(
            "/workflow-tasks/complete",
            json={
                "task_token": nxt["task_token"],
                "commands": [_continue(2, workflow_type="other")],
                "want_next_run_task": True,
            },
        ).json()
        assert done.get("next_run_task") is None
        other = http.post(
            "/workers", json={"identity": "other", "task_queue": tq, "workflow_types": [{"name": "other"}]}
        ).json()["session_id"]
        third = http.post("/workflow-tasks/poll", json={"session_id": other, "timeout": 10}).json()
        assert third["workflow_type"] == "other" and third["history"][0]["attributes"]["input"] == 2
        # Not asked for: the answer has none, and the task goes to a poll.
        done = http.post(
            "/workflow-tasks/complete", json={"task_token": third["task_token"], "commands": [_continue(3)]}
        ).json()
        assert done.get("next_run_task") is None
        fourth = http.post("/workflow-tasks/poll", json={"session_id": other, "timeout": 10}).json()
        assert fourth["history"][0]["attributes"]["input"] == 3
        runs = http.get("/workflows", params={"workflow_id": wid}).json()["executions"]
        assert [r["status"] for r in runs] == ["RUNNING"] + ["CONTINUED_AS_NEW"] * 3
        history = http.get("/workflows/history", params={"workflow_id": wid, "run_id": nxt["run_id"]}).json()["events"]
        assert [e["event_type"] for e in history] == [
            "WorkflowExecutionStarted",
            "WorkflowTaskScheduled",
            "WorkflowTaskStarted",
            "WorkflowTaskCompleted",
            "WorkflowExecutionContinuedAsNew",
        ]
