"""A worker redeployed mid-run with patched code carries every running workflow to completion.

Real processes, as a team deploys: a server, a worker process serving v1 of ``Greeting``
(``workers/patch_worker.py``), runs started and left waiting for a signal mid-run; the worker is stopped with
SIGTERM (it must exit at once and cleanly: nothing of theirs is running); a worker process with v2, whose
change is behind ``ctx.patched("v2")``, takes over. It has none of the runs cached: each old run is replayed
from its history, finds no marker where the patch is, and stays on the old branch; new runs record the marker
and take the new one. Then v3 (``deprecate_patch``), once no v1 run is left, carries the v2 runs on. And a
worker told to stop while a workflow task runs finishes that task before it exits.
"""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from inprocess import eventually
from mainspring import Client, WorkflowHandle
from mainspring.errors import NondeterminismError
from mainspring.worker import Replayer, WorkflowHistory
from support import ServerProcess, WorkerProcess

WORKER = Path(__file__).resolve().parent / "workers" / "patch_worker.py"
#: A worker with nothing running must not wait for its graceful timeout (10 s) to exit.
PROMPT_EXIT_S = 8.0


def _versions() -> ModuleType:
    """The worker's module, for its workflow code (replayed here) and names."""
    spec = importlib.util.spec_from_file_location("patch_worker", WORKER)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pw = _versions()


def deploy(server: ServerProcess, version: str, task_queue: str, log_dir: Path) -> WorkerProcess:
    args = ["--task-queue", task_queue, "--version", version]
    return WorkerProcess(WORKER, server.address, args=args, log_path=log_dir / f"worker-{version}.log").start()


async def sigterm(worker: WorkerProcess) -> float:
    """SIGTERM the worker and wait for it to exit; how long that took. It must exit with 0, having said
    it stopped, and without a traceback or a graceful timeout that ran out."""
    assert worker.proc is not None and worker.proc.poll() is None, worker.log()
    t = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(worker.proc.wait, 30)
    took = time.monotonic() - t
    log = worker.log()
    assert code == 0, log
    assert "SIGTERM received" in log and "patch_worker: stopped" in log, log
    for bad in ("Traceback", "did not finish in time", "abandoned", "non-determinism"):
        assert bad not in log, log
    return took


async def start(client: Client, prefix: str, count: int, task_queue: str) -> list[WorkflowHandle[Any, Any]]:
    return [
        await client.start_workflow(pw.NAME, f"{prefix}-{i}", id=f"{prefix}-{i}", task_queue=task_queue)
        for i in range(count)
    ]


async def waiting_for_go(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the run has greeted and its code is blocked on the signal (its last task completed, no command)."""

    async def probe() -> bool:
        types = [e["event_type"] for e in await handle.fetch_history()]
        return "ActivityTaskCompleted" in types and types[-1] == "WorkflowTaskCompleted"

    await eventually(probe, timeout=30, what=f"{handle.id} to wait for its signal")


async def finish(handles: list[WorkflowHandle[Any, Any]]) -> list[dict[str, str]]:
    for h in handles:
        await h.signal("go")
    return [await h.result(timeout=60) for h in handles]


def patch_markers(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The details of the history's patch markers for ``v2``."""
    return [
        e["attributes"]["details"]
        for e in history
        if e["event_type"] == "MarkerRecorded"
        and e["attributes"].get("marker_name") == "core_patch"
        and e["attributes"].get("marker_id") == pw.PATCH
    ]


def expected(path: str, name: str) -> dict[str, str]:
    greeting = "Hello" if path == "old" else "Bonjour"
    return {"path": path, "greeting": f"{greeting}, {name}", "farewell": f"Goodbye, {name}"}


async def test_runs_started_on_v1_finish_on_v2_on_the_old_branch_and_new_runs_take_the_new(
    server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    tq = f"patch-{uuid.uuid4().hex[:8]}"
    w1 = deploy(server, "v1", tq, tmp_path)
    try:
        old = await start(client, "old", 5, tq)
        for h in old:
            await waiting_for_go(h)
        # One run's signal lands as the worker is told to stop: its task runs on v1 or is left to v2,
        # and either way it is carried to the end (on the old branch: it greeted under v1).
        await old[-1].signal("go")
        took = await sigterm(w1)
    finally:
        w1.kill()
    assert took < PROMPT_EXIT_S, f"the worker took {took:.1f}s to exit on SIGTERM with nothing running"

    w2 = deploy(server, "v2", tq, tmp_path)
    try:
        new = await start(client, "new", 3, tq)
        for h in new:
            await waiting_for_go(h)
        results = await finish(old[:-1] + new)
        last_old = await old[-1].result(timeout=60)
        await sigterm(w2)
    finally:
        w2.kill()

    assert [*results[:4], last_old] == [expected("old", f"old-{i}") for i in range(5)]
    assert results[4:] == [expected("new", f"new-{i}") for i in range(3)]
    # What history says of each: the old runs recorded no marker (replayed by v2, the patch answered
    # False), the new ones one each, before their greeting.
    for h in old:
        history = await h.fetch_history()
        assert patch_markers(history) == [], h.id
        assert [e["attributes"]["activity_type"] for e in history if e["event_type"] == "ActivityTaskScheduled"] == [
            "hello",
            "farewell",
        ]
    for h in new:
        history = await h.fetch_history()
        assert patch_markers(history) == [{"patch_id": "v2", "deprecated": False}], h.id
        types = [e["event_type"] for e in history]
        assert types.index("MarkerRecorded") < types.index("ActivityTaskScheduled")
    # Each v2 worker took over whole histories it had never seen: nothing was cached on it.
    assert "non-determinism" not in w2.log()
    # The same histories replayed against each version here: v2 fits both kinds, v1 only the old runs.
    old_history = WorkflowHistory(old[0].id, await old[0].fetch_history())
    new_history = WorkflowHistory(new[0].id, await new[0].fetch_history())
    await Replayer(workflows=[pw.v2]).replay_workflows([old_history, new_history], raise_on_replay_failure=True)
    failed = await Replayer(workflows=[pw.v1]).replay_workflow(new_history, raise_on_replay_failure=False)
    assert isinstance(failed.replay_failure, NondeterminismError)


async def test_v3_deprecates_the_patch_once_no_v1_run_is_left(
    server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    tq = f"patch-{uuid.uuid4().hex[:8]}"
    # A v1 run, to its end; then v2 while it is gone: runs that recorded the marker wait mid-run.
    w1 = deploy(server, "v1", tq, tmp_path)
    try:
        (v1_run,) = await start(client, "v1run", 1, tq)
        await waiting_for_go(v1_run)
        assert await finish([v1_run]) == [expected("old", "v1run-0")]
        await sigterm(w1)
    finally:
        w1.kill()
    w2 = deploy(server, "v2", tq, tmp_path)
    try:
        mid = await start(client, "mid", 3, tq)
        for h in mid:
            await waiting_for_go(h)
        await sigterm(w2)
    finally:
        w2.kill()

    # Every v1 run is closed: v3 may drop the old branch. It replays the v2 runs (their marker is where its
    # deprecate_patch is) and records the marker, deprecated, in new runs.
    w3 = deploy(server, "v3", tq, tmp_path)
    try:
        fresh = await start(client, "v3run", 2, tq)
        for h in fresh:
            await waiting_for_go(h)
        results = await finish(mid + fresh)
        await sigterm(w3)
    finally:
        w3.kill()
    assert results == [expected("new", f"mid-{i}") for i in range(3)] + [
        expected("new", f"v3run-{i}") for i in range(2)
    ]
    for h in mid:
        assert patch_markers(await h.fetch_history()) == [{"patch_id": "v2", "deprecated": False}], h.id
    for h in fresh:
        assert patch_markers(await h.fetch_history()) == [{"patch_id": "v2", "deprecated": True}], h.id
    # Why v3 had to wait for the v1 runs to close: a v1 history does not fit it (its old branch is gone),
    # while the v2 and v3 histories do.
    v1_history = WorkflowHistory(v1_run.id, await v1_run.fetch_history())
    failed = await Replayer(workflows=[pw.v3]).replay_workflow(v1_history, raise_on_replay_failure=False)
    assert isinstance(failed.replay_failure, NondeterminismError)
    histories = [WorkflowHistory(h.id, await h.fetch_history()) for h in (mid[0], fresh[0])]
    await Replayer(workflows=[pw.v3]).replay_workflows(histories, raise_on_replay_failure=True)
    # And v2 still replays a v3 run (the marker is there, not deprecated or not: patched() finds it).
    await Replayer(workflows=[pw.v2]).replay_workflow(histories[1])


async def test_sigterm_during_a_workflow_task_finishes_it_before_the_worker_exits(
    server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    tq = f"patch-{uuid.uuid4().hex[:8]}"
    w1 = deploy(server, "v1", tq, tmp_path)
    try:
        handle = await client.start_workflow("Napper", 1.5, id="napper", task_queue=tq)
        await eventually(
            lambda: asyncio.to_thread(lambda: "nap started" in w1.log()), timeout=30, what="the local activity"
        )
        took = await sigterm(w1)
    finally:
        w1.kill()
    # The task ran to its end on the worker being stopped, and was reported before it exited: the run is
    # complete with no worker left, its local activity recorded once (it did not run again elsewhere).
    assert took < PROMPT_EXIT_S, f"the worker took {took:.1f}s to exit with a 1.5 s task running"
    assert await handle.result(timeout=10) == "rested"
    history = await handle.fetch_history()
    assert [e["event_type"] for e in history].count("MarkerRecorded") == 1
    assert [e["event_type"] for e in history].count("WorkflowTaskStarted") == 1
