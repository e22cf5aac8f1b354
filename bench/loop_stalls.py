"""No loop stalls: other workflows keep their latency while a long history is read and replayed.

  python bench/loop_stalls.py                 # a 300,000-event history (50,000 steps)
  python bench/loop_stalls.py --steps 20000   # smaller

1. A run of ``LongWF`` (bench/mainspring_defs.py) whose history holds ``6 * steps + 2`` events is written
   straight into a fresh SQLite database with the Store API (running 50,000 activities would take
   minutes), as the server would have written it, ending with a workflow task to run.
2. A dev server starts on that database, with a worker for W1 (``GreetWF``, one activity) on its own task
   queue. After ``--warmup`` W1 runs (not counted: the server's first ones import and compile what
   later ones reuse, 30-60 ms once), a W1 loop (one workflow after another, each awaited) runs for
   ``--baseline`` seconds alone.
3. Then, while the W1 loop goes on: a reader process reads the long history page by page through the
   HTTP API (twice), and a fresh worker process on the long run's task queue gets its workflow task, a
   page of it, fetches the rest over its channel, replays and finishes the run (one more activity).
4. Reported: the W1 latencies (worst, p99, p50) alone and during the window, the window's length, and how
   long the reader and the replaying worker took, and the server's own account of its event loop (its
   worst lateness, from ``/api/v1/health``) alone and during the window. The goal is a worst W1 step of
   <= 50 ms in the window. Each health reading covers the 10 s before it, so the loop's figure alone
   counts only readings taken 10 s or more into the loop (none if ``--baseline`` is shorter), and the
   one during the window those that cover part of it (back to 10 s before it: with the default
   baseline, W1 alone, not the server's start). ``--dump FILE`` writes every step's and reading's time.

The W1 client, the reader and the replaying worker are separate processes so that what is measured is
the server: a client that parsed 300,000 events itself would delay its own W1 loop. On a 2-core machine
the three of them and the server share two cores, so the figures are rough.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import mainspring_defs as defs
from common import BENCH_DIR, PY, Child, free_port, pct, remove_files, rundir
from engine_mainspring import _cli, _start_worker, _wait_healthy
from mainspring import Client
from mainspring.api.enums import EventType, WorkflowStatus
from mainspring.server._execution import new_run_id
from mainspring.server._state import ExecutionState, WorkflowTaskInfo
from mainspring.storage import ExecutionRecord, ExecutionWrite, HistoryEvent
from mainspring.storage.sqlite import SQLiteStore

LONG_TQ = "long-history"
READER = """
import asyncio, sys, time
from mainspring import Client
async def main():
    async with await Client.connect(sys.argv[1], timeout=300) as c:
        h = c.get_workflow_handle(sys.argv[2])
        for _ in range(int(sys.argv[3])):
            t = time.perf_counter()
            n = len(await h.fetch_history())
            print(f"READ {n} {time.perf_counter() - t:.3f}", flush=True)
asyncio.run(main())
"""


async def build(db: Path, steps: int, workflow_id: str) -> tuple[str, int]:
    """Write a LongWF(steps + 1) run that completed ``steps`` activities; (run id, events)."""
    store = SQLiteStore(str(db))
    await store.open()
    try:
        await store.create_namespace("default")
        now = time.time()
        run_id = new_run_id()
        events: list[HistoryEvent] = []

        def add(event_type: EventType, attributes: dict[str, object]) -> int:
            events.append(HistoryEvent(len(events) + 1, event_type, now, attributes))
            return len(events)

        def workflow_task(last: bool = False) -> int:
            scheduled = add(EventType.WORKFLOW_TASK_SCHEDULED, {"task_queue": LONG_TQ, "attempt": 1})
            if last:
                return scheduled
            started = add(
                EventType.WORKFLOW_TASK_STARTED, {"scheduled_event_id": scheduled, "identity": "built", "attempt": 1}
            )
            return add(
                EventType.WORKFLOW_TASK_COMPLETED,
                {"scheduled_event_id": scheduled, "started_event_id": started, "identity": "built"},
            )

        add(
            EventType.WORKFLOW_EXECUTION_STARTED,
            {
                "workflow_type": "LongWF",
                "task_queue": LONG_TQ,
                "input": steps + 1,
                "workflow_id": workflow_id,
                "run_id": run_id,
                "attempt": 1,
            },
        )
        completed = workflow_task()
        for k in range(steps):
            sched = add(
                EventType.ACTIVITY_TASK_SCHEDULED,
                {
                    "activity_id": str(k + 1),
                    "activity_type": "noop",
                    "task_queue": LONG_TQ,
                    "input": 1,
                    "schedule_to_close_timeout": None,
                    "start_to_close_timeout": 5.0,
                    "schedule_to_start_timeout": None,
                    "heartbeat_timeout": None,
                    "retry_policy": {"initial_interval": 1.0, "backoff_coefficient": 2.0, "maximum_attempts": 0},
                    "workflow_task_completed_event_id": completed,
                },
            )
            started = add(EventType.ACTIVITY_TASK_STARTED, {"scheduled_event_id": sched, "attempt": 1})
            add(
                EventType.ACTIVITY_TASK_COMPLETED,
                {"scheduled_event_id": sched, "started_event_id": started, "result": 1, "identity": "built"},
            )
            completed = workflow_task(last=k == steps - 1)
        state = ExecutionState(wt=WorkflowTaskInfo(attempt=1, scheduled_time=now, scheduled_event_id=len(events)))
        rec = ExecutionRecord(
            namespace="default",
            workflow_id=workflow_id,
            run_id=run_id,
            workflow_type="LongWF",
            task_queue=LONG_TQ,
            status=WorkflowStatus.RUNNING,
            start_time=now,
            close_time=None,
            next_event_id=1,
            version=0,
        )
        chunk = 20_000
        for i in range(0, len(events), chunk):
            part = events[i : i + chunk]
            expected = None if i == 0 else rec.version
            rec.version = 1 if i == 0 else rec.version + 1
            rec.next_event_id = part[-1].event_id + 1
            rec.state = state.to_dict()
            await store.write(ExecutionWrite(rec, expected, part))
        return run_id, len(events)
    finally:
        await store.close()


async def w1_loop(client: Client, tq: str, stop: asyncio.Event, out: list[tuple[float, float]]) -> None:
    i = 0
    while not stop.is_set():
        t = time.perf_counter()
        await client.execute_workflow(defs.greet_wf, f"n{i}", id=f"w1-{i}-{time.time_ns()}", task_queue=tq)
        out.append((time.time(), (time.perf_counter() - t) * 1000))
        i += 1


async def loop_lateness(address: str, stop: asyncio.Event, out: list[tuple[float, float]]) -> None:
    """Every 2 s, the server's own account of its event loop: its worst lateness over the last 10 s (ms).
    That tells a stall of the server's loop from the W1 steps' other waits (the CPU the five processes
    share on two cores: a W1 worker or client out of CPU makes a slow step with the server idle)."""
    url = f"http://{address}/api/v1/health"

    def get() -> float:
        with urllib.request.urlopen(url, timeout=10) as r:
            return float(json.loads(r.read())["load"]["loop_late_ms_10s"])

    while not stop.is_set():
        out.append((time.time(), await asyncio.to_thread(get)))
        try:
            await asyncio.wait_for(stop.wait(), 2.0)
        except TimeoutError:
            pass


def figures(lat: list[float]) -> dict[str, float]:
    return {
        "count": len(lat),
        "worst_ms": max(lat),
        "p99_ms": pct(lat, 0.99),
        "p50_ms": statistics.median(lat),
    }


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=50_000, help="activities in the long history (6 events each)")
    ap.add_argument("--baseline", type=float, default=12.0, help="seconds of W1 alone first")
    ap.add_argument("--warmup", type=int, default=20, help="W1 runs before the loop, not counted")
    ap.add_argument("--dump", type=Path, help="write the W1 steps' and the health readings' times (JSON) here")
    ap.add_argument("--reads", type=int, default=2, help="how many times the reader reads the whole history")
    ap.add_argument("--keep-files", action="store_true")
    ap.add_argument("--switch-interval", type=float, default=0.0, help="the server's sys.setswitchinterval (s)")
    a = ap.parse_args()
    d = rundir()
    tag = f"stalls-{int(time.time() * 1000)}"
    db = d / f"{tag}.db"
    wid = f"long-{tag}"
    t = time.perf_counter()
    run_id, n_events = await build(db, a.steps, wid)
    print(f"# built {n_events:,} events in {time.perf_counter() - t:.1f}s ({db})", file=sys.stderr, flush=True)
    port = free_port()
    address = f"127.0.0.1:{port}"
    children: list[Child] = []
    result: dict[str, object] = {"events": n_events}
    try:
        argv = [*_cli(), "server", "start-dev", "--port", str(port), "--ui-port", str(free_port())]
        if a.switch_interval:  # an experiment: the server's GIL switch interval (CPython's default 5 ms)
            code = f"import sys; sys.setswitchinterval({a.switch_interval}); from mainspring.cli import main; main()"
            argv = [PY, "-c", code, *argv[len(_cli()) :]]
        # A history past the server's default limit of 200,000 events: the limit is raised to hold it.
        limit = ["--limit-history-events", str(max(200_000, 2 * n_events))]
        server = Child([*argv, "--db-filename", str(db), *limit], log=d / f"{tag}.server.log")
        children.append(server)
        async with await Client.connect(address, timeout=300) as client:
            await _wait_healthy(client, server)
            w1_worker, _ = await _start_worker(address, "w1", {}, d / f"{tag}.w1worker.log")
            children.append(w1_worker)
            for i in range(max(1, a.warmup)):
                await client.execute_workflow(defs.greet_wf, "warm", id=f"warm-{i}-{tag}", task_queue="w1")
            t_loop = time.time()
            lat: list[tuple[float, float]] = []
            stop = asyncio.Event()
            loop_task = asyncio.create_task(w1_loop(client, "w1", stop, lat))
            late: list[tuple[float, float]] = []
            late_task = asyncio.create_task(loop_lateness(address, stop, late))
            await asyncio.sleep(a.baseline)
            t_window = time.time()
            reader = Child([PY, "-c", READER, address, wid, str(a.reads)], log=d / f"{tag}.reader.log")
            children.append(reader)
            replayer, t_ready = await _start_worker(address, LONG_TQ, {}, d / f"{tag}.replayer.log")
            children.append(replayer)
            handle = client.get_workflow_handle(wid, run_id=run_id)
            got = await handle.result()
            t_replayed = time.time()
            reads = [await asyncio.to_thread(reader.wait_line, "READ", 600.0) for _ in range(a.reads)]
            t_end = time.time()
            stop.set()
            await loop_task
            await late_task
            base = [ms for at, ms in lat if at < t_window]
            window = [ms for at, ms in lat if t_window <= at <= t_end]
            result.update(
                long_result=got,
                w1_alone=figures(base),
                w1_during=figures(window),
                # Each reading covers the 10 s before it: alone, those that cover only the loop alone;
                # during, those that cover part of the window.
                server_loop_late_ms_alone=max((ms for at, ms in late if t_loop + 10 <= at < t_window), default=None),
                server_loop_late_ms_during=max((ms for at, ms in late if t_window <= at <= t_end + 10), default=0.0),
                window_s=t_end - t_window,
                replayer_done_after_ready_s=t_replayed - t_ready,
                reads_s=[float(r.split()[2]) for r in reads],
                read_events=[int(r.split()[1]) for r in reads],
            )
            if a.dump is not None:
                times = {"loop": t_loop, "window": t_window, "replayed": t_replayed, "end": t_end}
                a.dump.write_text(json.dumps({"times": times, "w1_steps": lat, "loop_late_ms_10s": late}))
    finally:
        for c in reversed(children):
            c.stop()
        if not a.keep_files:
            remove_files(db)
            for suffix in (".server.log", ".w1worker.log", ".reader.log", ".replayer.log"):
                remove_files(d / f"{tag}{suffix}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR))
    import uvloop

    sys.exit(uvloop.run(main()))
