"""Queries against a real server: a worker answers from the workflow's current state, without writing
history: on a cached run, an evicted one (``max_cached_workflows=0``), a closed one and after a worker
restart (all replayed from history); an unknown name lists the known ones; a query that tries to issue a
command is refused; a payload is checked at the boundary; with no worker the error names the task queue;
the CLI and the HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from inprocess import eventually, history_types, running_worker
from mainspring import Client, NotFoundError, RPCError
from mainspring.errors import WorkflowQueryFailedError
from support import ServerProcess, WorkerProcess, run_cli
from workers.query_worker import Lookup, Progress, Tracker

WORKER_SCRIPT = Path(__file__).resolve().parent / "workers" / "query_worker.py"
CACHE_SIZES = pytest.mark.parametrize("cache", [1000, 0], ids=["cached", "evicted"])


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


def new_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:8]}"


async def _until_progress(handle: object, count: int) -> Progress:
    async def probe() -> Progress | None:
        p = await handle.query(Tracker.progress)  # type: ignore[attr-defined]
        return p if p.count >= count else None

    return await eventually(probe, timeout=30, what=f"the query to see {count} items")


@CACHE_SIZES
async def test_a_query_reads_the_running_workflows_state_and_records_nothing(client: Client, cache: int) -> None:
    tq = new_queue()
    async with running_worker(client, tq, workflows=[Tracker], max_cached_workflows=cache):
        handle = await client.start_workflow(Tracker.run, 3, id=new_id(), task_queue=tq)
        await handle.signal(Tracker.add, "apple")
        await handle.signal(Tracker.add, "pear")
        got = await _until_progress(handle, 2)
        assert got == Progress(2, ["apple", "pear"])
        assert await handle.query(Tracker.has, Lookup("pear")) is True
        assert await handle.query(Tracker.has, Lookup("pear", at_least=2)) is False
        # By name: the JSON answer as it is, or decoded to result_type.
        assert await handle.query("progress") == {"count": 2, "items": ["apple", "pear"]}
        assert await handle.query("progress", result_type=Progress) == got
        before = await history_types(handle)
        for _ in range(5):
            await handle.query(Tracker.progress)
        assert await history_types(handle) == before  # a query is no event
        await handle.signal(Tracker.add, "fig")
        assert await asyncio.wait_for(handle.result(), 30) == ["apple", "pear", "fig"]


@CACHE_SIZES
async def test_a_query_right_after_a_signal_sees_it(client: Client, cache: int) -> None:
    # Read after write: the query waits for the workflow task that delivers the acknowledged signal.
    tq = new_queue()
    async with running_worker(client, tq, workflows=[Tracker], max_cached_workflows=cache):
        handle = await client.start_workflow(Tracker.run, 10, id=new_id(), task_queue=tq)
        for i in range(4):
            await handle.signal(Tracker.add, f"item-{i}")
            got = await handle.query(Tracker.progress, rpc_timeout=timedelta(seconds=60))
            assert got.count == i + 1
        await handle.signal(Tracker.done)
        assert len(await asyncio.wait_for(handle.result(), 30)) == 4


async def test_a_closed_workflow_is_queried_from_its_history(client: Client) -> None:
    tq = new_queue()
    async with running_worker(client, tq, workflows=[Tracker]) as worker:
        handle = await client.start_workflow(Tracker.run, 2, id=new_id(), task_queue=tq)
        await handle.signal(Tracker.add, "a")
        await handle.signal(Tracker.add, "b")
        assert await asyncio.wait_for(handle.result(), 30) == ["a", "b"]
        closed_history = await history_types(handle)
        # The worker evicted the closed run: it replays the history into an instance of its own.
        assert await handle.query(Tracker.progress) == Progress(2, ["a", "b"])
        assert await handle.query(Tracker.has, Lookup("b")) is True
        assert handle.run_id is not None and worker.cache.peek(handle.run_id) is None  # and it keeps none
    assert await history_types(handle) == closed_history


async def test_a_query_after_a_worker_restart_replays_on_the_fresh_worker(
    client: Client, server: ServerProcess, tmp_path: Path
) -> None:
    tq = new_queue()
    first = WorkerProcess(WORKER_SCRIPT, server.address, args=["--task-queue", tq], log_path=tmp_path / "w1.log")
    first.start()
    try:
        handle = await client.start_workflow(Tracker.run, 5, id=new_id(), task_queue=tq)
        for item in ("x", "y", "z"):
            await handle.signal(Tracker.add, item)
        await _until_progress(handle, 3)
    finally:
        first.stop()
    second = WorkerProcess(WORKER_SCRIPT, server.address, args=["--task-queue", tq], log_path=tmp_path / "w2.log")
    second.start()
    try:
        # Nothing of the run is in the new process's memory: it is rebuilt from the history.
        assert await handle.query(Tracker.progress, rpc_timeout=timedelta(seconds=30)) == Progress(3, ["x", "y", "z"])
        await handle.signal(Tracker.add, "w")
        assert (await _until_progress(handle, 4)).items == ["x", "y", "z", "w"]
        await handle.signal(Tracker.done)
        assert await asyncio.wait_for(handle.result(), 30) == ["x", "y", "z", "w"]
    finally:
        second.stop()


async def test_an_unknown_query_name_lists_the_known_ones(client: Client) -> None:
    tq = new_queue()
    async with running_worker(client, tq, workflows=[Tracker]):
        handle = await client.start_workflow(Tracker.run, 1, id=new_id(), task_queue=tq)
        await _until_progress(handle, 0)
        with pytest.raises(WorkflowQueryFailedError) as info:
            await handle.query("progres")
        assert info.value.known == ["big", "has", "progress", "sneaky_sleep", "sneaky_timer"]
        assert "Did you mean 'progress'?" in info.value.message and "'has'" in info.value.message
        with pytest.raises(TypeError, match="not a query handler"):
            await handle.query(Tracker.add)  # type: ignore[call-overload]
        await handle.signal(Tracker.done)
        await asyncio.wait_for(handle.result(), 30)


@CACHE_SIZES
async def test_a_query_that_tries_to_issue_a_command_is_refused(client: Client, cache: int) -> None:
    tq = new_queue()
    async with running_worker(client, tq, workflows=[Tracker], max_cached_workflows=cache):
        handle = await client.start_workflow(Tracker.run, 1, id=new_id(), task_queue=tq)
        await _until_progress(handle, 0)
        before = await history_types(handle)
        with pytest.raises(WorkflowQueryFailedError, match="tried to issue a StartTimer command"):
            await handle.query(Tracker.sneaky_timer)
        with pytest.raises(WorkflowQueryFailedError, match="scheduled workflow code to run"):
            await handle.query(Tracker.sneaky_sleep)
        # The workflow is unharmed: its state reads as before, and it runs on to its end without a timer.
        assert await handle.query(Tracker.progress) == Progress(0, [])
        await handle.signal(Tracker.add, "one")
        assert await asyncio.wait_for(handle.result(), 30) == ["one"]
    after = await history_types(handle)
    assert "TimerStarted" not in after and after[: len(before)] == before


async def test_a_payload_that_does_not_fit_is_refused_naming_the_field(client: Client) -> None:
    tq = new_queue()
    async with running_worker(client, tq, workflows=[Tracker]):
        handle = await client.start_workflow(Tracker.run, 1, id=new_id(), task_queue=tq)
        await _until_progress(handle, 0)
        with pytest.raises(WorkflowQueryFailedError) as info:
            await handle.query("has", {"item": "x", "at_least": "many"})
        assert "at_least" in info.value.message and "does not fit" in info.value.message
        with pytest.raises(WorkflowQueryFailedError, match="item"):
            await handle.query("has", {"at_least": 1})
        assert await handle.query("has", {"item": "x"}) is False
        await handle.signal(Tracker.done)
        await asyncio.wait_for(handle.result(), 30)


async def test_an_answer_over_the_payload_limit_is_refused_and_the_worker_stays(client: Client) -> None:
    tq = new_queue()
    async with running_worker(client, tq, workflows=[Tracker]):
        handle = await client.start_workflow(Tracker.run, 1, id=new_id(), task_queue=tq)
        await _until_progress(handle, 0)
        sessions = (await client.transport.call("GET", "/api/v1/namespaces/default/task-queues"))["task_queues"]
        with pytest.raises(WorkflowQueryFailedError, match="over the server's limit"):
            await handle.query(Tracker.big, 3_000_000)
        assert await handle.query(Tracker.big, 10) == "x" * 10
        # The same session: the worker's connection was not closed by an oversized frame.
        after = (await client.transport.call("GET", "/api/v1/namespaces/default/task-queues"))["task_queues"]
        assert [w["session_id"] for q in after for w in q["workers"] if q["name"] == tq] == [
            w["session_id"] for q in sessions for w in q["workers"] if q["name"] == tq
        ]
        await handle.signal(Tracker.done)
        await asyncio.wait_for(handle.result(), 30)


async def test_with_no_worker_the_query_times_out_naming_the_task_queue(client: Client) -> None:
    tq = new_queue()
    handle = await client.start_workflow(Tracker.run, 1, id=new_id(), task_queue=tq)
    with pytest.raises(RPCError) as info:
        await handle.query(Tracker.progress, rpc_timeout=timedelta(seconds=0.5))
    assert info.value.status == 408 and info.value.code == "no_worker"
    assert f"no worker polls task queue {tq!r}" in info.value.message
    with pytest.raises(NotFoundError):
        await client.get_workflow_handle("no-such-workflow").query("progress")
    # A worker that comes while the query waits answers it.
    waiting = asyncio.ensure_future(handle.query(Tracker.progress, rpc_timeout=timedelta(seconds=30)))
    await asyncio.sleep(0.3)
    async with running_worker(client, tq, workflows=[Tracker]):
        assert await asyncio.wait_for(waiting, 40) == Progress(0, [])
        await handle.signal(Tracker.done)
        await asyncio.wait_for(handle.result(), 30)


async def test_the_http_api_answers_queries_and_json_errors(client: Client, server: ServerProcess) -> None:
    tq = new_queue()
    url = "/api/v1/namespaces/default/workflows/query"
    async with running_worker(client, tq, workflows=[Tracker]):
        handle = await client.start_workflow(Tracker.run, 2, id=new_id(), task_queue=tq)
        wid = handle.workflow_id
        await handle.signal(Tracker.add, "kiwi")
        await _until_progress(handle, 1)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            r = await http.post(url, json={"workflow_id": wid, "query_name": "progress"})
            assert r.status_code == 200 and r.json() == {"answer": {"count": 1, "items": ["kiwi"]}}
            r = await http.post(url, json={"workflow_id": wid, "query_name": "has", "input": {"item": "kiwi"}})
            assert r.status_code == 200 and r.json() == {"answer": True}
            r = await http.post(url, json={"workflow_id": wid, "query_name": "nope"})
            assert r.status_code == 400 and r.json()["code"] == "unknown_query"
            assert r.json()["details"]["known"] == ["big", "has", "progress", "sneaky_sleep", "sneaky_timer"]
            r = await http.post(url, json={"workflow_id": wid, "query_name": "has", "input": {"item": 3}})
            assert r.status_code == 400 and r.json()["code"] == "invalid_input" and "item" in r.json()["message"]
            r = await http.post(url, json={"workflow_id": wid, "query_name": "sneaky_timer"})
            assert r.status_code == 400 and r.json()["code"] == "query_failed"
            r = await http.post(url, json={"workflow_id": wid, "query_name": "progress", "timeout": 0})
            assert r.status_code == 400 and "timeout" in r.json()["message"]
            r = await http.post(url, json={"workflow_id": "missing", "query_name": "progress"})
            assert r.status_code == 404 and r.json()["message"]
            r = await http.post(url, json={"workflow_id": wid})
            assert r.status_code == 400 and "query_name" in r.json()["message"]
        await handle.signal(Tracker.done)
        await asyncio.wait_for(handle.result(), 30)
    other = await client.start_workflow(Tracker.run, 1, id=new_id(), task_queue=new_queue())
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        r = await http.post(url, json={"workflow_id": other.workflow_id, "query_name": "progress", "timeout": 0.3})
    assert r.status_code == 408 and r.json()["code"] == "no_worker"


async def test_the_cli_prints_the_answer_and_offers_the_known_names(client: Client, server: ServerProcess) -> None:
    tq = new_queue()
    addr = server.address
    async with running_worker(client, tq, workflows=[Tracker]):
        handle = await client.start_workflow(Tracker.run, 2, id=new_id(), task_queue=tq)
        wid = handle.workflow_id
        await handle.signal(Tracker.add, "plum")
        await _until_progress(handle, 1)
        r = await asyncio.to_thread(run_cli, "workflow", "query", "-w", wid, "--name", "progress", address=addr)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"count": 1, "items": ["plum"]}
        r = await asyncio.to_thread(
            run_cli, "workflow", "query", "-w", wid, "--name", "has", "--input", '{"item": "plum"}', address=addr
        )
        assert r.returncode == 0 and json.loads(r.stdout) is True, r.stderr
        typo = await asyncio.to_thread(run_cli, "workflow", "query", "-w", wid, "--name", "progess", address=addr)
        assert typo.returncode != 0
        assert "Did you mean 'progress'?" in typo.stderr and "sneaky_timer" in typo.stderr
        typo_json = await asyncio.to_thread(
            run_cli, "workflow", "query", "-w", wid, "--name", "progess", "-o", "json", address=addr
        )
        assert typo_json.returncode != 0
        err = json.loads(typo_json.stderr)
        assert err["code"] == "unknown_query" and "progress" in err["details"]["known"]
        bad = await asyncio.to_thread(
            run_cli, "workflow", "query", "-w", wid, "--name", "has", "--input", "{oops", address=addr
        )
        assert bad.returncode != 0 and "not valid JSON" in bad.stderr
        await handle.signal(Tracker.done)
        await asyncio.wait_for(handle.result(), 30)
