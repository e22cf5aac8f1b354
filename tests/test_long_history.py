"""Long histories travel in bounded pages, and a worker that has to rebuild a workflow fetches them.

A workflow task carries at most a page of its newest events (1,000 events, or about 4 MB); a worker
that lacks the older ones (a fresh worker, one whose cache is off or evicted the run) fetches them a
page at a time on its channel (``get_workflow_task_history``), then replays. Before, a task carried
the whole history in one message, however long. The HTTP history API pages the same way.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from inprocess import eventually, running_worker
from mainspring import Client, activity, workflow
from support import ServerProcess

START_TO_CLOSE = timedelta(seconds=10)
API = "/api/v1/namespaces/default"
PAGE = 1000
#: Steps of 6 events each: a history of more than one page.
STEPS = 200


@activity.defn
async def add_one(value: int) -> int:
    return value + 1


@activity.defn
async def blob(size: int) -> str:
    return "x" * size


@workflow.defn
async def counting(ctx: workflow.Context, steps: int) -> int:
    value = 0
    for _ in range(steps):
        value = await ctx.execute_activity(add_one, value, start_to_close_timeout=START_TO_CLOSE)
    return value


@workflow.defn
async def counting_then_pause(ctx: workflow.Context, steps: int) -> int:
    value = 0
    for _ in range(steps):
        value = await ctx.execute_activity(add_one, value, start_to_close_timeout=START_TO_CLOSE)
    await ctx.sleep(2.0)  # the worker that ran the steps goes away meanwhile
    return await ctx.execute_activity(add_one, value, start_to_close_timeout=START_TO_CLOSE)


@workflow.defn
async def blobs_then_pause(ctx: workflow.Context, count: int) -> int:
    total = 0
    for _ in range(count):
        total += len(await ctx.execute_activity(blob, 600_000, start_to_close_timeout=START_TO_CLOSE))
    await ctx.sleep(2.0)
    return total


@workflow.defn(name="counting_then_pause")
async def counting_then_pause_changed(ctx: workflow.Context, steps: int) -> int:
    # The same name, different code: step 10 calls another activity (a deploy that breaks replay).
    value = 0
    for i in range(steps):
        act = blob if i == 10 else add_one
        value = await ctx.execute_activity(act, value, start_to_close_timeout=START_TO_CLOSE)  # type: ignore[arg-type]
    await ctx.sleep(2.0)
    return await ctx.execute_activity(add_one, value, start_to_close_timeout=START_TO_CLOSE)


def new_id() -> str:
    return f"long-{uuid.uuid4().hex[:10]}"


@contextmanager
def raw_session(server: ServerProcess, task_queue: str, workflow_type: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A worker session driven by hand: registers and waits for one workflow task; (socket, task).
    Leaving the block closes the socket without answering: the server hands the task on at once."""
    with connect(f"ws://{server.address}{API}/workers/connect", max_size=64 * 1024 * 1024) as ws:
        register = {
            "identity": "by-hand",
            "task_queue": task_queue,
            "workflow_types": [{"name": workflow_type}],
            "activity_types": [],
        }
        ws.send(json.dumps({"i": 1, "op": "register", "b": register}))
        assert "ok" in json.loads(ws.recv(timeout=10))
        answer = call(ws, 2, "poll_workflow_tasks", {"timeout": 20, "max_tasks": 1})
        tasks = answer["ok"]["tasks"]
        assert len(tasks) == 1, answer
        yield ws, tasks[0]


def call(ws: Any, i: int, op: str, body: Any) -> dict[str, Any]:
    ws.send(json.dumps({"i": i, "op": op, "b": body}))
    while True:
        frame = json.loads(ws.recv(timeout=30))
        for message in frame if isinstance(frame, list) else [frame]:
            if message.get("i") == i:
                return dict(message)


async def http_history(server: ServerProcess, workflow_id: str) -> list[dict[str, Any]]:
    """The whole history through the HTTP API, page by page (each one checked to be bounded)."""
    events: list[dict[str, Any]] = []
    first = 1
    async with httpx.AsyncClient(base_url=server.url + API, timeout=30) as http:
        while True:
            r = await http.get("/workflows/history", params={"workflow_id": workflow_id, "first_event_id": first})
            r.raise_for_status()
            page = r.json()
            assert 0 < len(page["events"]) <= PAGE
            events.extend(page["events"])
            if not page["next_page_token"]:
                return events
            first = int(page["next_page_token"])


async def test_a_worker_without_a_cache_pages_a_long_history_and_finishes(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    # Every workflow task is a replay from scratch here: past ~170 steps each one pages.
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[counting], activities=[add_one], max_cached_workflows=0):
        handle = await client.start_workflow(counting, STEPS, id=wid, task_queue=task_queue)
        assert await handle.result() == STEPS
    events = await handle.fetch_history()
    assert len(events) > PAGE
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event_type"] == "WorkflowExecutionCompleted"
    assert not [e for e in events if e["event_type"] in ("WorkflowTaskFailed", "WorkflowTaskTimedOut")]
    # The history API pages too: at most a page whatever the limit asked, and the pages follow each other.
    async with httpx.AsyncClient(base_url=server.url + API, timeout=30) as http:
        page = (await http.get("/workflows/history", params={"workflow_id": wid, "limit": 10_000})).json()
    assert len(page["events"]) == PAGE and page["next_page_token"] == str(PAGE + 1)
    assert await http_history(server, wid) == events


async def test_a_fresh_worker_gets_one_page_fetches_the_rest_and_completes(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[counting_then_pause], activities=[add_one]):
        handle = await client.start_workflow(counting_then_pause, STEPS, id=wid, task_queue=task_queue)

        async def paused() -> bool:
            return any(e["event_type"] == "TimerStarted" for e in await handle.fetch_history())

        await eventually(paused, timeout=60, what="the workflow to reach its timer")
    # The worker that ran the steps is gone; a session by hand gets the task the timer makes.
    with raw_session(server, task_queue, "counting_then_pause") as (ws, task):
        history = task["history"]
        first = task["first_event_id"]
        assert first > 1 and len(history) <= PAGE  # one page, not the whole history
        assert [e["event_id"] for e in history] == list(range(first, first + len(history)))
        assert history[-1]["event_type"] == "WorkflowTaskStarted"
        # The rest comes a page at a time, and is the stored history.
        older: list[dict[str, Any]] = []
        lo, i = 1, 10
        while lo is not None:
            i += 1
            page = call(
                ws,
                i,
                "get_workflow_task_history",
                {"task_token": task["task_token"], "first_event_id": lo, "last_event_id": first - 1},
            )["ok"]
            assert 0 < len(page["events"]) <= PAGE
            older.extend(page["events"])
            lo = page["next_event_id"]
        assert older == (await http_history(server, wid))[: first - 1]
        # Asking for nonsense is a 4xx that says what is wrong, not a 500.
        bad = call(
            ws,
            90,
            "get_workflow_task_history",
            {"task_token": task["task_token"], "first_event_id": 5, "last_event_id": 4},
        )
        assert (bad["err"]["status"], bad["err"]["code"]) == (400, "invalid_argument"), bad
        assert "last_event_id" in bad["err"]["message"]
        forged = call(
            ws, 91, "get_workflow_task_history", {"task_token": "w" + "A" * 40, "first_event_id": 1, "last_event_id": 4}
        )
        assert (forged["err"]["status"], forged["err"]["code"]) == (404, "task_not_found"), forged
    # A fresh worker (nothing cached) gets the task again, pages the history, and finishes the run.
    async with running_worker(client, task_queue, workflows=[counting_then_pause], activities=[add_one]):
        assert await handle.result() == STEPS + 1
    events = await handle.fetch_history()
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event_type"] == "WorkflowExecutionCompleted"


async def test_a_task_is_bounded_in_bytes_too(server: ServerProcess, client: Client, task_queue: str) -> None:
    # Twelve results of 600 KB: a history of ~7 MB in a few dozen events.
    count = 12
    async with running_worker(client, task_queue, workflows=[blobs_then_pause], activities=[blob]):
        handle = await client.start_workflow(blobs_then_pause, count, id=new_id(), task_queue=task_queue)

        async def paused() -> bool:
            return any(e["event_type"] == "TimerStarted" for e in await handle.fetch_history())

        await eventually(paused, timeout=60, what="the workflow to reach its timer")
    with raw_session(server, task_queue, "blobs_then_pause") as (_, task):
        pass
    assert len(json.dumps(task["history"])) < 5 * 1024 * 1024
    assert task["first_event_id"] > 1
    async with running_worker(client, task_queue, workflows=[blobs_then_pause], activities=[blob]):
        assert await handle.result() == count * 600_000


async def test_a_damaged_stored_event_is_a_503_not_broken_json(tmp_path: Path, task_queue: str) -> None:
    # Pages go out as the store holds them, without parsing: each stored event is still checked.
    db = tmp_path / "m.db"
    server = ServerProcess(db).start()
    try:
        wid = new_id()
        async with (
            await Client.connect(server.address) as client,
            running_worker(client, task_queue, workflows=[counting], activities=[add_one]),
        ):
            handle = await client.start_workflow(counting, 30, id=wid, task_queue=task_queue)
            assert await handle.result() == 30
        server.stop()
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("UPDATE history SET attributes = '{\"result\": 1' WHERE event_id = 150")
        server.start()
        async with httpx.AsyncClient(base_url=server.url + API, timeout=30) as http:
            r = await http.get("/workflows/history", params={"workflow_id": wid})
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "storage_unavailable"
            assert "damaged" in r.json()["message"]
            r = await http.get("/workflows/history", params={"workflow_id": wid, "limit": 100})
            assert r.status_code == 200 and len(r.json()["events"]) == 100  # the pages before it are readable
    finally:
        server.stop()


async def test_non_determinism_deep_in_a_paged_history_fails_the_task_and_says_where(
    client: Client, task_queue: str
) -> None:
    # The fresh worker replays the pages as they arrive: a mismatch in a fetched page (step 10 of 200)
    # fails the workflow task as a mismatch anywhere does, and the right code then finishes the run.
    async with running_worker(client, task_queue, workflows=[counting_then_pause], activities=[add_one]):
        handle = await client.start_workflow(counting_then_pause, STEPS, id=new_id(), task_queue=task_queue)

        async def paused() -> bool:
            return any(e["event_type"] == "TimerStarted" for e in await handle.fetch_history())

        await eventually(paused, timeout=60, what="the workflow to reach its timer")
    async with running_worker(client, task_queue, workflows=[counting_then_pause_changed], activities=[add_one]):

        async def failed() -> list[dict[str, Any]]:
            return [e for e in await handle.fetch_history() if e["event_type"] == "WorkflowTaskFailed"]

        failures = await eventually(failed, timeout=60, what="the workflow task to fail")
    attrs = failures[0]["attributes"]
    assert attrs["cause"] == "NON_DETERMINISTIC", attrs
    assert "'blob'" in attrs["failure"]["message"] and "'add_one'" in attrs["failure"]["message"]
    async with running_worker(client, task_queue, workflows=[counting_then_pause], activities=[add_one]):
        assert await handle.result() == STEPS + 1
