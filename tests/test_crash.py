"""Crash tests: workers and the server die (SIGKILL) or stop (SIGTERM) in mid-run, and no work is lost.

Everything is a real process: ``mainspring server start-dev`` on a SQLite file, the order example's
worker (``examples/order/worker.py``) and ``tests/workers/crash_worker.py``. The order activities
append ``<order_id> <step> <attempt>`` to ``ORDER_LOG`` when they finish their work, so a test can
count how often each step really ran; histories and ``describe`` show why a task ran again.

Each test prints what it saw (kill moments, re-executions); run with ``-s`` to read it.
"""

from __future__ import annotations

import asyncio
import collections
import re
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mainspring import Client, ServerUnavailableError, WorkflowHandle, WorkflowStatus
from support import EXAMPLES, ServerProcess, WorkerProcess, running, store_sql, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

T = TypeVar("T")

ORDER_WORKER = EXAMPLES / "order" / "worker.py"
CRASH_WORKER = Path(__file__).resolve().parent / "workers" / "crash_worker.py"
ORDER_QUEUE = "order-task-queue"
STEPS = ["reserve", "charge", "pack", "ship", "notify"]


# ====================================================================================================
# Helpers
# ====================================================================================================


def identity(w: WorkerProcess) -> str:
    """The identity a worker process announces (the Worker default: ``pid@host``)."""
    assert w.proc is not None
    return f"{w.proc.pid}@{socket.gethostname()}"


def order_input(order_id: str) -> dict[str, Any]:
    return {"order_id": order_id, "items": len(order_id)}


def expected_order(order_id: str) -> dict[str, Any]:
    return {"order_id": order_id, "steps": STEPS}


def read_steps(path: Path) -> list[tuple[str, str, int]]:
    """The lines of ORDER_LOG as (order_id, step, attempt)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:  # a line being written may be incomplete
            out.append((parts[0], parts[1], int(parts[2])))
    return out


def reexecutions(path: Path, order_ids: Iterable[str]) -> dict[tuple[str, str], int]:
    """(order_id, step) -> how many extra times it ran; asserts that every step ran at least once."""
    counts = collections.Counter((o, s) for o, s, _ in read_steps(path))
    for o in order_ids:
        for s in STEPS:
            assert counts[(o, s)] >= 1, f"{o} {s} never ran"
    return {k: c - 1 for k, c in counts.items() if c > 1}


def ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["event_time"]).timestamp()


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, interval: float = 0.1
) -> T:
    """Await ``probe()`` until it is truthy, riding out a server that is (re)starting."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = await probe()
            if value:
                return value
        except ServerUnavailableError as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" ({last})" if last else ""))
        await asyncio.sleep(interval)


def chain_worker(server: ServerProcess, tmp_path: Path) -> tuple[WorkerProcess, Path]:
    """A crash worker on task queue "chains" that logs each ``chain_step`` it runs; it and its log."""
    chain_log = tmp_path / "chain.log"
    env = {"CHAIN_LOG": str(chain_log)}
    args = ["--task-queue", "chains"]
    return WorkerProcess(CRASH_WORKER, server.address, args=args, env=env, log_path=tmp_path / "w.log"), chain_log


def chain_steps(chain_log: Path) -> int:
    """How many ``chain_step`` executions the log shows so far."""
    try:
        return chain_log.read_text().count("\n")
    except FileNotFoundError:
        return 0


async def restart(server: ServerProcess) -> None:
    """Start the (killed) server again on the same port and file.

    Then let the event loop run a moment, as it would in a real program: the tests block it while they
    wait for processes, and the client must see its pooled connections to the old process close.
    """
    server.start()
    await asyncio.sleep(0.2)


async def start_orders(client: Client, order_ids: Iterable[str]) -> dict[str, str]:
    """Start one order workflow per id (concurrently); workflow id -> run id."""
    ids = list(order_ids)
    handles = await asyncio.gather(
        *(client.start_workflow("order_workflow", order_input(o), id=o, task_queue=ORDER_QUEUE) for o in ids)
    )
    return {h.workflow_id: str(h.run_id) for h in handles}


async def wait_all_closed(client: Client, workflow_ids: Iterable[str], timeout: float) -> dict[str, Any]:
    """Wait until every workflow closed, assert each COMPLETED, and return workflow id -> result."""
    ids = set(workflow_ids)

    async def all_closed() -> dict[str, str] | None:
        page = await client.list_workflows(limit=1000)
        status = {e["workflow_id"]: e["status"] for e in page.executions}
        missing = ids - status.keys()
        assert not missing, f"workflows lost: {sorted(missing)}"
        if any(status[i] == WorkflowStatus.RUNNING for i in ids):
            return None
        return {i: status[i] for i in ids}

    await eventually(all_closed, timeout=timeout, what=f"{len(ids)} workflows to close", interval=0.2)
    results: dict[str, Any] = {}
    for wid in sorted(ids):
        d = await client.get_workflow_handle(wid).describe()
        assert d.status is WorkflowStatus.COMPLETED, f"{wid} {d.status}: {d.failure}"
        results[wid] = d.result
    return results


class Activity:
    """One activity of a history: its scheduled, started and closing events."""

    def __init__(self, scheduled: dict[str, Any]) -> None:
        self.scheduled = scheduled
        self.started: dict[str, Any] | None = None
        self.closed: list[dict[str, Any]] = []

    @property
    def type(self) -> str:
        return str(self.scheduled["attributes"]["activity_type"])

    @property
    def started_attrs(self) -> dict[str, Any]:
        assert self.started is not None, f"{self.type} has no ActivityTaskStarted"
        return dict(self.started["attributes"])


def activities_of(events: list[dict[str, Any]]) -> list[Activity]:
    acts: dict[int, Activity] = {}
    for e in events:
        t, a = e["event_type"], e["attributes"]
        if t == "ActivityTaskScheduled":
            acts[e["event_id"]] = Activity(e)
        elif t == "ActivityTaskStarted":
            acts[a["scheduled_event_id"]].started = e
        elif t in ("ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut"):
            acts[a["scheduled_event_id"]].closed.append(e)
    return list(acts.values())


async def check_order_history(client: Client, workflow_id: str) -> list[Activity]:
    """Each of the five activities was scheduled once and completed exactly once, with its own name as result."""
    events = await client.get_workflow_handle(workflow_id).fetch_history()
    types = [e["event_type"] for e in events]
    assert types[0] == "WorkflowExecutionStarted" and types[-1] == "WorkflowExecutionCompleted", types
    assert types.count("WorkflowExecutionCompleted") == 1
    acts = activities_of(events)
    assert [a.type for a in acts] == STEPS, f"{workflow_id}: {[a.type for a in acts]}"
    for a in acts:
        assert [c["event_type"] for c in a.closed] == ["ActivityTaskCompleted"], f"{workflow_id} {a.type}: {a.closed}"
        assert a.closed[0]["attributes"]["result"] == a.type
    assert types.count("ActivityTaskCompleted") == 5
    assert types.count("TimerStarted") == 1 and types.count("TimerFired") == 1
    return acts


# ====================================================================================================
# 1. A worker dies (SIGKILL) in the middle of a batch
# ====================================================================================================


async def test_worker_sigkill_mid_batch_new_worker_finishes_everything(tmp_path: Path) -> None:
    session_timeout = 2.0
    server = ServerProcess(tmp_path / "m.db", extra_args=["--worker-session-timeout", str(session_timeout)])
    steps_log = tmp_path / "steps.log"
    env = {"ORDER_LOG": str(steps_log), "ORDER_STEP_SECONDS": "0.25"}
    w1 = WorkerProcess(ORDER_WORKER, server.address, env=env, log_path=tmp_path / "w1.log")
    w2 = WorkerProcess(ORDER_WORKER, server.address, env=env, log_path=tmp_path / "w2.log")
    with running(server, w1, w2):
        server.start()
        w1.start()
        dead = identity(w1)
        async with await Client.connect(server.address) as client:
            order_ids = [f"order-{i:02d}" for i in range(20)]
            await start_orders(client, order_ids)

            # Some steps have run, most have not: kill the worker with activities in flight (not, say,
            # all of them waiting out a retry backoff or the order's timer).
            wait_until(lambda: len(read_steps(steps_log)) >= 8, timeout=30, what="some order steps to run")

            async def running_activity() -> bool:
                # One that has just started and will still be running at the kill: every step takes
                # 0.25 s, except charge's first attempt, which fails at once (and its retry waits 0.2 s;
                # killed then, the worker would hold nothing, and nothing would be taken back).
                for o in order_ids:
                    for p in (await client.get_workflow_handle(o).describe()).pending_activities:
                        if p["state"] != "STARTED" or (p["activity_type"] == "charge" and p["attempt"] == 1):
                            continue
                        if time.time() - datetime.fromisoformat(p["last_started_time"]).timestamp() < 0.1:
                            return True
                return False

            await eventually(running_activity, timeout=15, what="an activity to be running")
            kill_time = time.time()
            w1.kill()
            done_at_kill = len(read_steps(steps_log))
            assert done_at_kill < 60, f"the batch was nearly done ({done_at_kill}/100 steps) before the kill"

            # With no other worker running, describe shows the server taking the dead worker's activities
            # back: queued again for a new attempt, the last one failed as WorkerLost (not timed out).
            async def requeued() -> list[dict[str, Any]]:
                out = []
                for o in order_ids:
                    for p in (await client.get_workflow_handle(o).describe()).pending_activities:
                        if (p["last_failure"] or {}).get("type") == "WorkerLost":
                            out.append(p)
                return out

            for p in await eventually(requeued, timeout=15, what="the dead worker's activities to be taken back"):
                assert p["state"] == "SCHEDULED" and p["last_worker_identity"] == dead, p
                assert f"worker {dead} was lost" in p["last_failure"]["message"], p
                # Taken back before the lost attempt's 10 s start_to_close would have fired.
                requeued_at = datetime.fromisoformat(p["next_attempt_time"]).timestamp()
                assert requeued_at < datetime.fromisoformat(p["last_started_time"]).timestamp() + 10, p

            w2.start()
            survivor = identity(w2)
            results = await wait_all_closed(client, order_ids, timeout=40)
            assert results == {o: expected_order(o) for o in order_ids}

            lost: list[tuple[str, Activity]] = []
            for o in order_ids:
                for a in await check_order_history(client, o):
                    failure = a.started_attrs.get("last_failure") or {}
                    # No attempt was given up on because start_to_close (10 s) elapsed.
                    assert failure.get("timeout_type") != "START_TO_CLOSE", (o, a.type, failure)
                    if failure.get("type") == "WorkerLost":
                        lost.append((o, a))

        # The dead worker's in-flight activities were handed to the new worker because the server
        # noticed the worker was gone (its session lapsed), not because start_to_close fired.
        assert lost, "no activity was in flight on the killed worker (the kill came too late to prove anything)"
        for o, a in lost:
            failure = a.started_attrs["last_failure"]
            assert f"worker {dead} was lost" in failure["message"], failure
            assert a.started_attrs["identity"] == survivor
            start_to_close = a.scheduled["attributes"]["start_to_close_timeout"]
            assert start_to_close == 10
            # The re-run attempt started before the killed attempt's start_to_close could have fired.
            assert a.started is not None and ts(a.started) < kill_time + start_to_close, (o, a.type)

        extra = reexecutions(steps_log, order_ids)
        print(
            f"\n[worker SIGKILL] killed after {done_at_kill}/100 steps; {len(lost)} in-flight activities re-dispatched "
            f"as WorkerLost ({', '.join(f'{o}/{a.type}' for o, a in lost)}); "
            f"re-executed (ran twice, result used once): {sum(extra.values())} {sorted(extra)}"
        )


# ====================================================================================================
# 1b. A dead worker is given no new work
# ====================================================================================================


async def test_dead_worker_is_given_no_new_tasks(tmp_path: Path) -> None:
    """Work scheduled after a worker died goes to the live worker, not to the dead one's open polls.

    The server must notice that the dead worker's long-polls went away (their connections closed) rather
    than hand them new tasks that come back only when its session lapses, as WorkerLost failures that
    use up an attempt (with maximum_attempts=1 the activity would fail without ever running).
    """
    # Long enough that all of these tasks are scheduled while the dead worker's session still counts.
    server = ServerProcess(tmp_path / "m.db", extra_args=["--worker-session-timeout", "8"])
    env = {"ORDER_LOG": str(tmp_path / "steps.log"), "ORDER_STEP_SECONDS": "0.1"}
    a = WorkerProcess(ORDER_WORKER, server.address, env=env, log_path=tmp_path / "a.log")
    b = WorkerProcess(ORDER_WORKER, server.address, env=env, log_path=tmp_path / "b.log")
    with running(server, a, b):
        server.start()
        a.start()
        b.start()  # both idle and polling; A's polls reached the server first
        dead = identity(a)
        kill_time = time.time()
        a.kill()
        async with await Client.connect(server.address) as client:
            ids = [f"order-{i}" for i in range(6)]
            await start_orders(client, ids)  # every task of these is scheduled after A died
            results = await wait_all_closed(client, ids, timeout=30)
            assert results == {o: expected_order(o) for o in ids}
            handed_to_dead = []
            for o in ids:
                for act in await check_order_history(client, o):
                    assert ts(act.scheduled) > kill_time
                    failure = act.started_attrs.get("last_failure") or {}
                    if dead in failure.get("message", ""):
                        handed_to_dead.append(f"{o}/{act.type}: {failure['message']}")
        assert not handed_to_dead, f"tasks scheduled after worker {dead} died were handed to it: {handed_to_dead}"


# ====================================================================================================
# 2. The server dies (SIGKILL) mid-run, twice, and restarts on the same file
# ====================================================================================================


async def test_server_sigkill_twice_mid_run_every_workflow_completes(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "m.db")
    steps_log = tmp_path / "steps.log"
    env = {"ORDER_LOG": str(steps_log), "ORDER_STEP_SECONDS": "0.2"}
    worker = WorkerProcess(ORDER_WORKER, server.address, env=env, log_path=tmp_path / "worker.log")
    with running(server, worker):
        server.start()
        worker.start()
        async with await Client.connect(server.address) as client:
            order_ids = [f"order-{i:02d}" for i in range(20)]
            runs = await start_orders(client, order_ids)

            # Kill 1: early in the batch.
            wait_until(lambda: len(read_steps(steps_log)) >= 15, timeout=30, what="15 order steps")
            server.kill()
            first_kill = len(read_steps(steps_log))
            await restart(server)
            assert worker.proc is not None and worker.proc.poll() is None, "the worker exited while the server was down"

            # Kill 2: later, right after a burst of starts was acknowledged (some may still be in flight).
            wait_until(lambda: len(read_steps(steps_log)) >= first_kill + 25, timeout=30, what="25 more steps")
            late_ids = [f"late-{i}" for i in range(6)]
            starts = [
                asyncio.ensure_future(
                    client.start_workflow("order_workflow", order_input(o), id=o, task_queue=ORDER_QUEUE)
                )
                for o in late_ids
            ]
            for fut in asyncio.as_completed(starts):
                try:
                    await fut  # the first acknowledgement
                    break
                except ServerUnavailableError:
                    continue
            server.kill()
            second_kill = len(read_steps(steps_log))
            outcomes = await asyncio.gather(*starts, return_exceptions=True)
            acked: dict[str, str] = {}
            for o, out in zip(late_ids, outcomes, strict=True):
                if isinstance(out, WorkflowHandle):
                    acked[o] = str(out.run_id)
                else:
                    assert isinstance(out, ServerUnavailableError), repr(out)
            assert acked
            await restart(server)
            assert worker.proc is not None and worker.proc.poll() is None, "the worker exited while the server was down"

            # Every acknowledged start survived the kill, with the run id it was given.
            async def present() -> dict[str, str]:
                page = await client.list_workflows(limit=1000)
                return {e["workflow_id"]: e["run_id"] for e in page.executions}

            stored = await eventually(present, timeout=10, what="the workflow list")
            for o, run_id in {**runs, **acked}.items():
                assert stored.get(o) == run_id, f"acknowledged workflow {o} (run {run_id}) was lost"
            # Starts that were in flight at the kill may or may not have been committed; any that were
            # must complete too.
            all_ids = sorted(set(order_ids) | {o for o in late_ids if o in stored})

            results = await wait_all_closed(client, all_ids, timeout=40)
            assert results == {o: expected_order(o) for o in all_ids}
            for o in all_ids:
                await check_order_history(client, o)

        extra = reexecutions(steps_log, all_ids)
        print(
            f"\n[server SIGKILL x2] kills after {first_kill} and {second_kill} steps; "
            f"{len(acked)}/{len(late_ids)} late starts acknowledged before kill 2, "
            f"{len(all_ids) - len(order_ids)} stored; {len(all_ids)} workflows completed; "
            f"re-executed: {sum(extra.values())} {sorted(extra)}"
        )


async def test_server_sigkill_during_quick_steps_loses_no_step_and_records_none_twice(tmp_path: Path) -> None:
    # Quick steps: the server hands each next activity to the worker in the answer that records the
    # step before it, and writes that step while the activity runs. Killing the server at arbitrary
    # moments catches some of those writes unfinished: the worker then ran an activity (and advanced
    # its cached workflow) for a step that was never stored. The workflow must still count exactly,
    # with every step in its history once and in order.
    server = ServerProcess(tmp_path / "m.db")
    worker, chain_log = chain_worker(server, tmp_path)
    steps, ids = 300, [f"chain-{i}" for i in range(4)]

    with running(server, worker):
        server.start()
        worker.start()
        async with await Client.connect(server.address) as client:
            for wid in ids:
                await client.start_workflow("chain_workflow", steps, id=wid, task_queue="chains")
            kills = []
            for target in (150, 450, 750):
                wait_until(lambda t=target: chain_steps(chain_log) >= t, timeout=30, what=f"{target} steps")  # type: ignore[misc]
                server.kill()
                kills.append(chain_steps(chain_log))
                await restart(server)
            results = await wait_all_closed(client, ids, timeout=60)
            assert results == {wid: steps for wid in ids}
            for wid in ids:
                events = await client.get_workflow_handle(wid).fetch_history()
                scheduled = [e["attributes"]["input"] for e in events if e["event_type"] == "ActivityTaskScheduled"]
                completed = [e["attributes"]["result"] for e in events if e["event_type"] == "ActivityTaskCompleted"]
                assert scheduled == list(range(steps)), f"{wid}: steps scheduled out of order or twice"
                assert completed == list(range(1, steps + 1)), f"{wid}: results recorded out of order or twice"
    assert kills[-1] < len(ids) * steps, "the chains finished before the last kill: nothing was proven"
    counts = collections.Counter(chain_log.read_text().splitlines())
    print(
        f"\n[server SIGKILL x3 during quick steps] kills after {kills} executions; "
        f"{sum(c - 1 for c in counts.values())} steps ran again after a kill"
    )


async def test_a_step_whose_write_fails_after_its_answer_went_out_is_done_again(tmp_path: Path) -> None:
    # The server answers a quick step before writing it. Here that write fails: another connection to
    # the database (file) bumps the run's version, so the server's conditional write is refused, as any
    # failed commit would be. The worker already ran the next activity and advanced its cached
    # workflow past the stored history. The server must drop its copy (and refuse writes from anything
    # still holding it), the worker's copy must be caught, and the step done again from the stored
    # history once its activity times out: the workflow still counts exactly, each step once in order.
    db = tmp_path / "m.db"
    server = ServerProcess(db)
    worker, chain_log = chain_worker(server, tmp_path)
    steps, wid = 300, "chain-tampered"

    with running(server, worker):
        server.start()
        worker.start()
        async with await Client.connect(server.address) as client:
            await client.start_workflow("chain_workflow", steps, id=wid, task_queue="chains")
            wait_until(lambda: chain_steps(chain_log) >= 50, timeout=30, what="50 steps")
            store_sql(server.store, "UPDATE executions SET version = version + 1 WHERE workflow_id = ?", (wid,))
            at_failure = chain_steps(chain_log)
            results = await wait_all_closed(client, [wid], timeout=60)
            assert results == {wid: steps}
            events = await client.get_workflow_handle(wid).fetch_history()
    scheduled = [e["attributes"]["input"] for e in events if e["event_type"] == "ActivityTaskScheduled"]
    completed = [e["attributes"]["result"] for e in events if e["event_type"] == "ActivityTaskCompleted"]
    assert scheduled == list(range(steps)), "steps scheduled out of order or twice"
    assert completed == list(range(1, steps + 1)), "results recorded out of order or twice"
    assert at_failure < steps, "the chain finished before the write failed: nothing was proven"
    assert "could not write a step" in server.log_path.read_text(), "no write failed after its answer"
    print(
        f"\n[failed write behind an answer] after {at_failure} steps; {chain_steps(chain_log) - steps} steps ran again"
    )


# ====================================================================================================
# 3. Durable timers survive server and worker restarts
# ====================================================================================================


async def test_durable_timers_survive_server_and_worker_restarts(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "m.db")
    args = ["--task-queue", "naps"]
    w1 = WorkerProcess(CRASH_WORKER, server.address, args=args, log_path=tmp_path / "w1.log")
    w2 = WorkerProcess(CRASH_WORKER, server.address, args=args, log_path=tmp_path / "w2.log")
    naps = {"nap-long": 10.0, "nap-short": 3.0}
    with running(server, w1, w2):
        server.start()
        w1.start()
        async with await Client.connect(server.address) as client:
            for wid, seconds in naps.items():
                await client.start_workflow("nap_workflow", {"seconds": seconds}, id=wid, task_queue="naps")

            async def fire_times() -> dict[str, float] | None:
                out = {}
                for wid in naps:
                    d = await client.get_workflow_handle(wid).describe()
                    if not d.pending_timers:
                        return None
                    out[wid] = datetime.fromisoformat(d.pending_timers[0]["fire_time"]).timestamp()
                return out

            fire = await eventually(fire_times, timeout=15, what="both workflows to sleep")
            w1.kill()
            server.kill()
            assert time.time() < fire["nap-short"], "nap-short woke before the restart; nothing was proven"
            # nap-short comes due while the server is down; nap-long after the server is back.
            wait_until(lambda: time.time() > fire["nap-short"] + 0.2, timeout=10, what="nap-short to come due")
            await restart(server)
            now = time.time()
            d = await client.get_workflow_handle("nap-long").describe()
            assert d.status is WorkflowStatus.RUNNING
            if now < fire["nap-long"] - 0.05:  # (on a very slow machine it may have come due already)
                assert d.pending_timers, "nap-long lost its timer in the restart"
            w2.start()
            results = await wait_all_closed(client, naps, timeout=30)

            for wid, seconds in naps.items():
                assert results[wid]["slept"] >= seconds, (wid, results[wid])
                events = await client.get_workflow_handle(wid).fetch_history()
                started = [e for e in events if e["event_type"] == "TimerStarted"]
                fired = [e for e in events if e["event_type"] == "TimerFired"]
                assert len(started) == 1 and len(fired) == 1, [e["event_type"] for e in events]
                assert ts(fired[0]) >= ts(started[0]) + seconds - 0.01
                # The new worker (fresh process, no cache) rebuilt the workflow by replay and finished it.
                last_wt = [e for e in events if e["event_type"] == "WorkflowTaskCompleted"][-1]
                assert last_wt["attributes"]["identity"] == identity(w2)


# ====================================================================================================
# 4. Graceful shutdown on SIGTERM
# ====================================================================================================


async def test_worker_sigterm_finishes_running_activities_and_hands_over_at_once(tmp_path: Path) -> None:
    # A session timeout longer than the test: if the stopped worker's session were left to lapse,
    # its work could not move on in time. Ending the session is what lets the next worker go on.
    server = ServerProcess(tmp_path / "m.db", extra_args=["--worker-session-timeout", "120"])
    steps_log = tmp_path / "steps.log"
    env = {"ORDER_LOG": str(steps_log), "ORDER_STEP_SECONDS": "1.0"}
    a = WorkerProcess(ORDER_WORKER, server.address, env=env, log_path=tmp_path / "a.log")
    b = WorkerProcess(ORDER_WORKER, server.address, env=env, log_path=tmp_path / "b.log")
    with running(server, a, b):
        server.start()
        a.start()
        ident_a = identity(a)
        async with await Client.connect(server.address) as client:
            first = [f"first-{i}" for i in range(4)]
            await start_orders(client, first)

            async def running_on_a() -> set[tuple[str, int, int]] | None:
                out = set()
                for wid in first:
                    d = await client.get_workflow_handle(wid).describe()
                    for p in d.pending_activities:
                        if p["state"] == "STARTED" and p["last_worker_identity"] == ident_a:
                            out.add((wid, p["scheduled_event_id"], p["attempt"]))
                return out if len(out) == len(first) else None

            in_flight = await eventually(running_on_a, timeout=15, what="an activity of each workflow running on A")
            assert a.proc is not None
            a.proc.send_signal(signal.SIGTERM)
            # Work that turns up while A is finishing up: A must not take it.
            after = [f"after-{i}" for i in range(3)]
            await start_orders(client, after)
            assert a.proc.poll() is None, "A exited before the new work was queued; nothing was proven"
            assert a.proc.wait(20) == 0, a.log()

            b.start()
            ident_b = identity(b)
            results = await wait_all_closed(client, first + after, timeout=40)
            assert results == {o: expected_order(o) for o in first + after}

            histories = {wid: await client.get_workflow_handle(wid).fetch_history() for wid in first + after}
            for wid in first + after:
                await check_order_history(client, wid)
            # The activities A was running when it got SIGTERM ran to completion there: same attempt, no retry.
            for wid, sched_id, attempt in in_flight:
                act = next(x for x in activities_of(histories[wid]) if x.scheduled["event_id"] == sched_id)
                assert act.started_attrs["identity"] == ident_a, (wid, act.type, act.started_attrs)
                assert act.started_attrs["attempt"] == attempt
                assert (act.started_attrs.get("last_failure") or {}).get("type") != "WorkerLost"
            # A stopped polling on SIGTERM: everything started afterwards ran on B only.
            for wid in after:
                idents = {e["attributes"].get("identity") for e in histories[wid]} - {None}
                assert idents == {ident_b}, (wid, idents)
            # No activity was taken back because A's session lapsed (it ended it instead).
            for wid in first + after:
                for act in activities_of(histories[wid]):
                    failure = act.started_attrs.get("last_failure") or {}
                    assert "was lost" not in failure.get("message", ""), (wid, act.type, failure)

    a_log = a.log()
    assert "SIGTERM received" in a_log
    assert "did not finish in time" not in a_log
    assert "stopped heartbeating" not in server.log()
    print(f"\n[SIGTERM] {len(in_flight)} activities running on A at SIGTERM all finished on A")


async def test_worker_sigterm_keeps_session_while_draining_and_ends_it(tmp_path: Path) -> None:
    """An activity that outlives the session timeout still finishes during the drain (the worker keeps
    heartbeating); one that outlives the graceful timeout is given back when the worker ends its session,
    and the next worker runs it at once (its failure says the worker stopped, not that it was lost)."""
    server = ServerProcess(tmp_path / "m.db", extra_args=["--worker-session-timeout", "2"])
    slow_log = tmp_path / "slow.log"
    args = ["--task-queue", "slow", "--graceful-timeout", "5"]
    env = {"SLOW_LOG": str(slow_log)}
    a = WorkerProcess(CRASH_WORKER, server.address, args=args, env=env, log_path=tmp_path / "a.log")
    b = WorkerProcess(CRASH_WORKER, server.address, args=args, env=env, log_path=tmp_path / "b.log")

    def slow_lines() -> list[str]:
        return slow_log.read_text().splitlines() if slow_log.exists() else []

    with running(server, a, b):
        server.start()
        a.start()
        ident_a = identity(a)
        assert a.proc is not None
        pid_a = a.proc.pid
        async with await Client.connect(server.address) as client:
            # "short" outlives the 2 s session timeout but not the 5 s graceful timeout; "long" outlives both.
            for name, seconds in (("short", 3.5), ("long", 60.0)):
                await client.start_workflow(
                    "slow_workflow", {"name": name, "seconds": seconds}, id=name, task_queue="slow"
                )
            wait_until(
                lambda: {f"start short 1 {pid_a}", f"start long 1 {pid_a}"} <= set(slow_lines()),
                timeout=15,
                what="both activities to start on A",
            )
            a.proc.send_signal(signal.SIGTERM)
            assert a.proc.wait(20) == 0, a.log()
            b.start()
            ident_b = identity(b)
            results = await wait_all_closed(client, ["short", "long"], timeout=30)
            assert results == {"short": "short done on attempt 1", "long": "long done on attempt 2"}

            short = activities_of(await client.get_workflow_handle("short").fetch_history())
            assert len(short) == 1
            assert short[0].started_attrs["identity"] == ident_a
            assert short[0].started_attrs["attempt"] == 1

            long = activities_of(await client.get_workflow_handle("long").fetch_history())
            assert len(long) == 1
            started = long[0].started_attrs
            assert started["identity"] == ident_b and started["attempt"] == 2
            failure = started["last_failure"]
            assert failure["type"] == "WorkerLost"
            assert f"worker {ident_a} stopped" in failure["message"], failure

    lines = slow_lines()
    assert f"end short 1 {pid_a}" in lines
    assert not any(line.startswith("end long 1") for line in lines), lines
    assert "did not finish in time" in a.log()
    assert "stopped heartbeating" not in server.log()


async def test_worker_sigterm_exits_when_a_blocking_activity_outlives_the_graceful_timeout(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "m.db")
    slow_log = tmp_path / "slow.log"
    args = ["--task-queue", "slow", "--graceful-timeout", "1"]
    env = {"SLOW_LOG": str(slow_log)}
    a = WorkerProcess(CRASH_WORKER, server.address, args=args, env=env, log_path=tmp_path / "a.log")
    b = WorkerProcess(CRASH_WORKER, server.address, args=args, env=env, log_path=tmp_path / "b.log")
    with running(server, a, b):
        server.start()
        a.start()
        assert a.proc is not None
        async with await Client.connect(server.address) as client:
            await client.start_workflow(
                "slow_workflow", {"name": "blocking", "seconds": 25, "blocking": True}, id="blocking", task_queue="slow"
            )
            wait_until(lambda: slow_log.exists() and "start blocking 1" in slow_log.read_text(), timeout=15)
            a.proc.send_signal(signal.SIGTERM)
            try:
                # Graceful timeout (1 s), then ending the session: it should be gone well before the activity ends.
                code: int | None = a.proc.wait(8)
            except subprocess.TimeoutExpired:
                code = None
                a.kill()
            assert code == 0, f"the worker did not exit within 8 s of SIGTERM:\n{a.log()}"
            b.start()
            results = await wait_all_closed(client, ["blocking"], timeout=20)
            assert results == {"blocking": "blocking done on attempt 2"}
        assert "did not finish in time" in a.log()


# ====================================================================================================
# 5. Reconnect with backoff while the server is down
# ====================================================================================================


async def test_worker_reconnects_with_backoff_after_server_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "m.db")
    steps_log = tmp_path / "steps.log"
    env = {"ORDER_LOG": str(steps_log), "ORDER_STEP_SECONDS": "0.2"}
    worker = WorkerProcess(ORDER_WORKER, server.address, env=env, log_path=tmp_path / "worker.log")
    with running(server, worker):
        server.start()
        worker.start()
        assert worker.proc is not None
        ident = identity(worker)
        async with await Client.connect(server.address) as client:
            before = [f"before-{i}" for i in range(5)]
            await start_orders(client, before)
            wait_until(lambda: len(read_steps(steps_log)) >= 5, timeout=30, what="some order steps")
            log_offset = len(worker.log())
            server.kill()

            def delays() -> list[float]:
                return [float(x) for x in re.findall(r"retrying in (\d+(?:\.\d+)?)s", worker.log()[log_offset:])]

            # The worker keeps retrying, waiting longer each time (and not exiting).
            wait_until(lambda: max(delays(), default=0) >= 0.8, timeout=15, what="the worker to back off")
            assert worker.proc.poll() is None, worker.log()
            assert min(delays()) < max(delays()) <= 5.0
            assert "cannot reach the Mainspring server" in worker.log()[log_offset:]

            await restart(server)  # the same port and the same file
            results = await wait_all_closed(client, before, timeout=40)
            assert results == {o: expected_order(o) for o in before}

            after = await client.start_workflow(
                "order_workflow", order_input("after-restart"), id="after-restart", task_queue=ORDER_QUEUE
            )
            results = await wait_all_closed(client, ["after-restart"], timeout=30)
            assert results == {"after-restart": expected_order("after-restart")}
            acts = await check_order_history(client, "after-restart")
            assert {a.started_attrs["identity"] for a in acts} == {ident}
            events = await after.fetch_history()
            assert {e["attributes"]["identity"] for e in events if e["event_type"] == "WorkflowTaskCompleted"} == {
                ident
            }
            for o in before:
                await check_order_history(client, o)
        assert worker.proc.poll() is None, "the worker exited"
        assert "reconnected to the server" in worker.log()[log_offset:]
