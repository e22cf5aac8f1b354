"""A write that fails (a full disk) in the middle of a workflow's multi-step operations: a child workflow's start
(the parent's Initiated commit, the child's run, the parent's Started record), a continue-as-new (the closing
run and the next run, one commit), a reset (the base run's termination and link and the new run, one commit).
While the write fails nothing of it is visible; once the disk is back the step is taken once, nothing stored
is lost, and the workflow completes as it would have.

Real processes and a real full disk: the server runs on a SQLite file on a small tmpfs (mounting needs root;
the tests skip where it is not allowed) that the test fills, and a trigger the test puts in the database makes
only the chosen write too big for the room left (``support.WriteFault``); the worker runs in the test's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from carts import CALLS, Cart, stamp
from inprocess import events_of, eventually, running_worker
from mainspring import Client, WorkflowHandle, workflow
from support import ServerProcess, WriteFault, tmpfs

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only, pytest.mark.timeout(170)]

NS = "/api/v1/namespaces/default"


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def on_a_small_disk(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, Path, Client]]:
    """A server whose database is on a 16 MiB tmpfs, the tmpfs, and a client."""
    with tmpfs(tmp_path / "fs", "16m") as fs:
        server = ServerProcess(fs / "m.db", log_path=tmp_path / "server.log", extra_args=["--headless"]).start()
        try:
            async with await Client.connect(server.address) as client:
                yield server, fs, client
        finally:
            server.stop()


async def failed(server: ServerProcess) -> None:
    """Wait until the server logged that a database write failed (the fault was hit)."""

    async def seen() -> bool:
        return "a database write failed" in server.log()

    await eventually(seen, timeout=30, what="a write that fails")


def runs_in_db(db: str, workflow_id: str) -> list[tuple[str, str]]:
    """(run id, status) of each run of ``workflow_id``, oldest first, read from the file (what is committed)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT run_id, status FROM executions WHERE workflow_id=? ORDER BY start_time, rowid", (workflow_id,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def items_in_db(db: str, run_id: str, kind: str) -> list[str]:
    """The keys of the run's stored items of ``kind``."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT key FROM pending WHERE run_id=? AND kind=?", (run_id, kind)).fetchall()
    return sorted(r[0] for r in rows)


def current_in_db(db: str, workflow_id: str) -> str | None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT run_id FROM current_executions WHERE workflow_id=?", (workflow_id,)).fetchone()
    return row[0] if row else None


async def types(handle: WorkflowHandle[Any, Any]) -> list[str]:
    return [e["event_type"] for e in await handle.fetch_history()]


# --- a child workflow's start ------------------------------------------------------------------------------------


@workflow.defn(name="FaultChild")
class Child:
    """Waits to be told to finish: nothing but the step the fault hit moves its parent on meanwhile."""

    def __init__(self) -> None:
        self.done = False

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self, ctx: workflow.Context, item: str) -> str:
        await ctx.wait_condition(lambda: self.done)
        return f"child saw {item}"


@workflow.defn(name="FaultParent")
class Parent:
    """Starts its child once told to (so the test can make the disk full first)."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def start(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, ctx: workflow.Context, item: str) -> str:
        await ctx.wait_condition(lambda: self.go)
        return await ctx.execute_child_workflow(Child.run, item, id=f"{ctx.info.workflow_id}-child")


#: The write of each step of a child's start: (table, condition on the inserted row).
CHILD_STEPS = {
    "initiated": ("history", "NEW.event_type = 'StartChildWorkflowExecutionInitiated'"),
    "child-run": ("executions", "NEW.workflow_type = 'FaultChild'"),
    "started": ("history", "NEW.event_type = 'ChildWorkflowExecutionStarted'"),
}


@pytest.mark.parametrize("step", list(CHILD_STEPS))
async def test_a_child_start_whose_write_fails_is_made_once_when_the_disk_is_back(tmp_path: Path, step: str) -> None:
    async with on_a_small_disk(tmp_path) as (server, fs, client):
        tq = f"tq-{uuid.uuid4().hex[:8]}"
        async with running_worker(client, tq, workflows=[Parent, Child]):
            handle = await client.start_workflow(Parent.run, "x", id=new_id(), task_queue=tq)
            await eventually(lambda: events_of(handle, "WorkflowTaskCompleted"), timeout=30, what="the first task")
            child_id = f"{handle.workflow_id}-child"
            fault = WriteFault(fs, server.db, *CHILD_STEPS[step])
            try:
                await handle.signal(Parent.start)
                await failed(server)
                await asyncio.sleep(1)  # while the disk stays full, the step fails each time it is tried
                seen = await types(handle)
                children = runs_in_db(server.db, child_id)
                # Nothing of the failed write is visible; the steps before it are.
                if step == "initiated":
                    assert "StartChildWorkflowExecutionInitiated" not in seen and children == []
                elif step == "child-run":
                    assert seen.count("StartChildWorkflowExecutionInitiated") == 1 and children == []
                else:
                    assert "ChildWorkflowExecutionStarted" not in seen and len(children) == 1
                assert seen.count("WorkflowExecutionSignaled") == 1
            finally:
                fault.clear()
            # The step is taken by itself once the disk is back (the child does nothing meanwhile).
            await eventually(
                lambda: events_of(handle, "ChildWorkflowExecutionStarted"), timeout=30, what="the child's start"
            )
            await client.get_workflow_handle_for(Child.run, child_id).signal(Child.finish)
            assert await asyncio.wait_for(handle.result(), 60) == "child saw x"
        seen = await types(handle)
        for once in (
            "WorkflowExecutionSignaled",
            "StartChildWorkflowExecutionInitiated",
            "ChildWorkflowExecutionStarted",
            "ChildWorkflowExecutionCompleted",
        ):
            assert seen.count(once) == 1, (once, seen)
        assert [status for _, status in runs_in_db(server.db, child_id)] == ["COMPLETED"]
        started = (await client.get_workflow_handle(child_id).fetch_history())[0]["attributes"]
        assert started["parent_run_id"] == handle.run_id
    assert "Traceback" not in server.log()


# --- continue-as-new ---------------------------------------------------------------------------------------------

PAUSE_AT, STOP = 3, 6


@workflow.defn(name="FaultCounter")
class Counter:
    """Continues as new with n + 1 until STOP; the run of PAUSE_AT waits for a signal first."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def resume(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, ctx: workflow.Context, n: int) -> int:
        if n == PAUSE_AT:
            await ctx.wait_condition(lambda: self.go)
        if n < STOP:
            ctx.continue_as_new(n + 1, workflow=Counter.run)
        return n


def inputs_in_db(db: str, workflow_id: str) -> list[int]:
    """Each run's input, oldest first, from the file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT h.attributes FROM executions e JOIN history h ON h.run_id = e.run_id AND h.event_id = 1 "
            "WHERE e.workflow_id=? ORDER BY e.start_time, e.rowid",
            (workflow_id,),
        ).fetchall()
    return [json.loads(r[0])["input"] for r in rows]


@pytest.mark.parametrize("fails_in", ["commit", "statement"])
async def test_a_continue_as_new_whose_write_fails_leaves_neither_half_and_the_chain_goes_on_exactly(
    tmp_path: Path, fails_in: str
) -> None:
    async with on_a_small_disk(tmp_path) as (server, fs, client):
        tq = f"tq-{uuid.uuid4().hex[:8]}"
        wid = new_id()
        async with running_worker(client, tq, workflows=[Counter]):
            handle = await client.start_workflow(Counter.run, 0, id=wid, task_queue=tq)

            async def paused() -> bool:
                paused_run = client.get_workflow_handle(wid)
                return inputs_in_db(server.db, wid)[-1:] == [PAUSE_AT] and bool(
                    await events_of(paused_run, "WorkflowTaskCompleted")
                )

            await eventually(paused, timeout=30, what=f"the run of {PAUSE_AT} waiting")
            before = runs_in_db(server.db, wid)
            # The next run's create (in the savepoint of the close of the one before it) runs out of room, as the
            # transaction commits or, with more to write than the server's page cache holds, in the insert itself.
            mib = 32 if fails_in == "commit" else 128
            fault = WriteFault(fs, server.db, "executions", f"NEW.workflow_id = '{wid}'", mib=mib)
            try:
                await client.get_workflow_handle(wid).signal(Counter.resume)
                await failed(server)
                await asyncio.sleep(1)  # while the disk stays full, the workflow task fails each time it is tried
                # Neither half: the run is still open, there is no next run, the id's current run is the same.
                assert runs_in_db(server.db, wid) == before
                assert before[-1][1] == "RUNNING" and current_in_db(server.db, wid) == before[-1][0]
                last = client.get_workflow_handle(wid, run_id=before[-1][0])
                assert "WorkflowExecutionContinuedAsNew" not in await types(last)
            finally:
                fault.clear()
            assert await asyncio.wait_for(handle.result(), 60) == STOP
        # Exactly one run for each n, each continued as new but the last: none lost, none made twice.
        assert inputs_in_db(server.db, wid) == list(range(STOP + 1))
        statuses = [status for _, status in runs_in_db(server.db, wid)]
        assert statuses == ["CONTINUED_AS_NEW"] * STOP + ["COMPLETED"]
        last = client.get_workflow_handle(wid, run_id=before[-1][0])
        assert (await types(last)).count("WorkflowExecutionSignaled") == 1
    assert "Traceback" not in server.log()


# --- reset -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base_is", ["running", "closed"])
async def test_a_reset_whose_commit_fails_changes_nothing_and_works_once_the_disk_is_back(
    tmp_path: Path, base_is: str
) -> None:
    async with on_a_small_disk(tmp_path) as (server, fs, client):
        tq = f"tq-{uuid.uuid4().hex[:8]}"
        wid = new_id()
        a, b = f"{wid}-a", f"{wid}-b"
        async with running_worker(client, tq, workflows=[Cart], activities=[stamp]):
            handle = await client.start_workflow(Cart.run, None, id=wid, task_queue=tq)
            await eventually(lambda: events_of(handle, "WorkflowTaskCompleted"), timeout=30, what="the first task")
            assert await handle.execute_update(Cart.add, a, id="a") == f"{a}#1"
            if base_is == "closed":
                await handle.signal(Cart.finish)
                assert await asyncio.wait_for(handle.result(), 30) == [f"{a}#1"]
            status = "RUNNING" if base_is == "running" else "COMPLETED"
            base = str(handle.run_id)
            body = {"workflow_id": wid, "reset_type": "FirstWorkflowTask", "reason": "fault test"}
            # The reset's one commit (the base run's termination and link, the new run's create) runs out of room.
            fault = WriteFault(fs, server.db, "executions", f"NEW.workflow_id = '{wid}'")
            try:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                    r = await http.post(NS + "/workflows/reset", json=body)
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "storage_unavailable"
            finally:
                fault.clear()
            # Nothing changed: the run is as it was, unlinked, the id's current run; there is no new run.
            assert (await handle.describe()).status == status
            assert runs_in_db(server.db, wid) == [(base, status)]
            assert current_in_db(server.db, wid) == base and items_in_db(server.db, base, "rs") == []
            assert "WorkflowExecutionTerminated" not in await types(handle)
            if base_is == "running":  # it goes on: it takes another update
                assert await handle.execute_update(Cart.add, b, id="b") == f"{b}#1"
            # The reset goes through, once.
            new_run = await handle.reset(reset_type="FirstWorkflowTask", reason="fault test")
            again = client.get_workflow_handle_for(Cart.run, wid, run_id=new_run)
            if base_is == "running":
                await again.signal(Cart.finish)
            # The updates, reapplied, ran again in the new run (and the closed run's finish signal, reapplied).
            expected = [f"{a}#2", f"{b}#2"] if base_is == "running" else [f"{a}#2"]
            assert await asyncio.wait_for(again.result(), 60) == expected
        final = "TERMINATED" if base_is == "running" else "COMPLETED"
        assert runs_in_db(server.db, wid) == [(base, final), (new_run, "COMPLETED")]
        assert items_in_db(server.db, base, "rs") == ["to"]
        assert (await types(handle)).count("WorkflowExecutionTerminated") == (1 if base_is == "running" else 0)
        completed = await events_of(again, "WorkflowExecutionUpdateCompleted")
        assert [e["attributes"]["update_id"] for e in completed] == (["a", "b"] if base_is == "running" else ["a"])
    assert "Traceback" not in server.log()


async def test_updates_a_reset_reapplied_are_kept_while_the_new_runs_acceptance_of_them_fails(tmp_path: Path) -> None:
    async with on_a_small_disk(tmp_path) as (server, fs, client):
        tq = f"tq-{uuid.uuid4().hex[:8]}"
        wid = new_id()
        a = f"{wid}-a"
        async with running_worker(client, tq, workflows=[Cart], activities=[stamp]):
            handle = await client.start_workflow(Cart.run, None, id=wid, task_queue=tq)
            await eventually(lambda: events_of(handle, "WorkflowTaskCompleted"), timeout=30, what="the first task")
            assert await handle.execute_update(Cart.add, a, id="a") == f"{a}#1"
            base = str(handle.run_id)
            # The reset's own write fits; the new run's first workflow task, which accepts the update, does not.
            when = f"NEW.event_type = 'WorkflowExecutionUpdateAccepted' AND NEW.run_id <> '{base}'"
            fault = WriteFault(fs, server.db, "history", when)
            try:
                new_run = await handle.reset(reset_type="FirstWorkflowTask")
                await failed(server)
                await asyncio.sleep(1)  # while the disk stays full, the workflow task fails each time it is tried
                again = client.get_workflow_handle_for(Cart.run, wid, run_id=new_run)
                assert "WorkflowExecutionUpdateAccepted" not in await types(again)
                assert items_in_db(server.db, new_run, "ru") == ["a"]  # still there to be taken
            finally:
                fault.clear()
            await again.signal(Cart.finish)
            # The handler ran again. Its activity may have run more than once: a worker is handed the activities
            # a workflow task schedules with its answer, before that task's write is durable, and an activity
            # runs at least once (the step lost with the write schedules it again).
            result = await asyncio.wait_for(again.result(), 60)
            assert result == [f"{a}#{CALLS[a]}"] and CALLS[a] >= 2, result
        seen = await types(again)
        for once in ("WorkflowExecutionUpdateAccepted", "ActivityTaskScheduled", "WorkflowExecutionUpdateCompleted"):
            assert seen.count(once) == 1, (once, seen)
        assert items_in_db(server.db, new_run, "ru") == []
    assert "Traceback" not in server.log()


async def test_a_build_whose_first_sighting_cannot_be_written_still_registers(tmp_path: Path) -> None:
    """The order of builds is kept in the store (``worker_builds``); on a full disk that write fails, the worker
    registers anyway (its build ordered by the server's memory), and once the disk is back the next build is
    recorded."""
    async with on_a_small_disk(tmp_path) as (server, fs, _client), httpx.AsyncClient(timeout=30) as http:
        url = f"{server.url}{NS}/workers"
        fault = WriteFault(fs, fs / "m.db", "worker_builds", "1=1")
        try:
            r = await http.post(url, json={"identity": "w1", "task_queue": "q", "build_id": "1.0"})
            assert r.status_code in (200, 201), r.text
            await failed(server)
            assert "could not record build '1.0'" in server.log()
        finally:
            fault.clear()
        r = await http.post(url, json={"identity": "w2", "task_queue": "q", "build_id": "2.0"})
        assert r.status_code in (200, 201), r.text
        with contextlib.closing(sqlite3.connect(fs / "m.db")) as conn:
            builds = [b for (b,) in conn.execute("SELECT build_id FROM worker_builds ORDER BY build_id")]
        assert builds == ["2.0"]
        queue = (await http.get(f"{server.url}{NS}/task-queues", params={"name": "q"})).json()["task_queues"][0]
        assert [b["build_id"] for b in queue["builds"] if b["current"]] == ["2.0"]


async def test_audit_entries_and_keys_that_cannot_be_written_are_kept_or_refused(tmp_path: Path) -> None:
    """With auth on and the disk full for the audit log: the calls it records go on, their entries wait in
    memory and are written once the disk is back; a key whose write fails is refused (503), not half made."""
    from support import first_api_key

    with tmpfs(tmp_path / "fs", "16m") as fs:
        args = ["--headless", "--auth", "api-key"]
        server = ServerProcess(fs / "m.db", log_path=tmp_path / "server.log", extra_args=args).start()
        try:
            admin = {"authorization": f"Bearer {first_api_key(server)}"}
            async with httpx.AsyncClient(timeout=30, headers=admin) as http:
                fault = WriteFault(fs, fs / "m.db", "audit_log", "1=1")
                try:
                    wid = new_id()
                    body = {"workflow_id": wid, "workflow_type": "t", "task_queue": "q"}
                    assert (await http.post(f"{server.url}{NS}/workflows", json=body)).status_code == 201

                    async def complained() -> bool:
                        return "could not write 1 audit entries" in server.log()

                    await eventually(complained, timeout=30, what="the audit write to fail")
                finally:
                    fault.clear()
                fault = WriteFault(fs, fs / "m.db", "api_keys", "1=1")
                try:
                    made = await http.post(
                        f"{server.url}/api/v1/api-keys", json={"name": "n", "namespace": "default", "role": "reader"}
                    )
                    assert made.status_code == 503, made.text
                finally:
                    fault.clear()
                listed = (await http.get(f"{server.url}/api/v1/api-keys")).json()["keys"]
                assert [k["name"] for k in listed] == ["first-admin"]  # the refused key was not made

                async def written() -> bool:
                    got = (await http.get(f"{server.url}/api/v1/audit")).json()["entries"]
                    return any(e["target"] == wid and e["operation"] == "start_workflow" for e in got)

                await eventually(written, timeout=30, what="the held audit entry to be written")
        finally:
            server.stop()
