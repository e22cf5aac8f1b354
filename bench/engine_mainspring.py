"""Mainspring driver: runs one workload once and returns its figures.

Topology, as a user runs it: ``mainspring server start-dev --port P --db-filename <fresh file>`` (the default
full durability: WAL with synchronous=FULL), one worker process (bench/mainspring_worker.py, default
``Worker`` settings), and the client (``mainspring.Client``) in this process. Each run gets a fresh
server, database file and worker. The worker and this client run on uvloop (installed with Mainspring).
"""

from __future__ import annotations

import asyncio
import compileall
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mainspring
import mainspring_defs as defs
import procstat
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
from mainspring import Client, WorkflowHandle
from mainspring.errors import WorkflowQueryFailedError

W5_TIMER_SECONDS = 3600.0


def version() -> dict[str, Any]:
    return {"mainspring": mainspring.__version__}


def _cli() -> list[str]:
    """The ``mainspring`` command of this interpreter's environment (else ``python -m mainspring``)."""
    script = Path(PY).parent / "mainspring"
    return [str(script)] if script.exists() else [PY, "-m", "mainspring"]


def _cpu(server: Child, worker: Child) -> tuple[float, float, float]:
    """CPU seconds so far of the server, the worker and this (client) process."""
    return procstat.cpu_seconds(server.pid), procstat.cpu_seconds(worker.pid), procstat.self_cpu_seconds()


def run_once(workload: str, n: int, run: int, opts: Options) -> Result:
    if workload == "CLI":
        return _cli_workload(n, run, opts)
    if workload == "W16":
        import uvloop

        return uvloop.run(_w16(n))
    if workload == "W18":
        return _w18_workload(n, run, opts)
    import uvloop  # the client runs on uvloop too, as the README recommends for programs that use one

    return uvloop.run(_run(workload, n, run, opts))


async def _wait_healthy(client: Client, server: Child, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited with {server.proc.returncode}: {server.tail()}")
        try:
            await client.health()
            return
        except mainspring.ServerUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _start_worker(address: str, tq: str, env: dict[str, str], log: Path) -> tuple[Child, float]:
    """A fresh worker process; returns it and the moment it said READY."""
    w = Child([PY, str(BENCH_DIR / "mainspring_worker.py"), "--address", address, "--task-queue", tq], log=log, env=env)
    line = await asyncio.to_thread(w.wait_line, "READY", 60.0)
    return w, float(line.split()[1])


def _offline_key(store: str) -> str:
    import json
    import subprocess

    made = subprocess.run(
        [*_cli(), "operator", "api-key", "create", "--db", store, "--role", "admin", "--namespace", "*", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(made.stdout)["api_key"])


async def _run(workload: str, n: int, run: int, opts: Options) -> Result:
    tag = run_tag("mainspring", workload, run)
    d = rundir()
    db = d / f"{tag}.db"
    step_log = d / f"{tag}.steps"
    port = free_port()
    address = f"127.0.0.1:{port}"
    tq = f"tq-{tag}"
    env = {"BENCH_STEP_LOG": str(step_log), "BENCH_ACT_TIMEOUT_S": str(opts.act_timeout_s)}
    res: Result = {"engine": "mainspring", "workload": workload, "n": n, "run": run}
    children: list[Child] = []
    t_setup = time.time()
    try:
        with stopping(children):
            argv = [*_cli(), "server", "start-dev", "--port", str(port), "--ui-port", str(free_port())]
            # BENCH_MAINSPRING_DB: a store URL (e.g. postgresql://...) in place of the fresh SQLite file; every
            # run then shares that database (ids carry the run tag, so runs do not collide).
            store = opts.postgres_url() if opts.postgres_url else os.environ.get("BENCH_MAINSPRING_DB")
            argv += ["--db", store or str(db)]
            if store:
                res["store"] = "postgres"
            # Extra server flags for an experiment (e.g. a small --execution-cache-size); none by default.
            argv += os.environ.get("BENCH_MAINSPRING_SERVER_ARGS", "").split()
            if os.environ.get("BENCH_MAINSPRING_AUTH"):
                # Authentication on (--auth api-key): a key made offline against the store, which this client
                # and the worker send with every request and channel (MAINSPRING_API_KEY).
                os.environ["MAINSPRING_API_KEY"] = _offline_key(store or str(db))
                argv += ["--auth", "api-key"]
                res["auth"] = "api-key"
            server = Child(argv, log=d / f"{tag}.server.log")
            children.append(server)
            standbys: list[Child] = []
            if opts.servers > 1:
                async with await Client.connect(address) as first:  # the first to start holds the store
                    await _wait_healthy(first, server)
                ports = [free_port() for _ in range(opts.servers - 1)]
                for i, p in enumerate(ports):
                    other = [*_cli(), "server", "start-dev", "--port", str(p), "--ui-port", str(free_port())]
                    other += ["--db", str(store), "--standby"]
                    standbys.append(Child(other, log=d / f"{tag}.standby{i}.server.log"))
                children.extend(standbys)
                address = ",".join([address, *(f"127.0.0.1:{p}" for p in ports)])
                res["servers"] = opts.servers
            t = opts.mainspring_client_timeout
            connecting = Client.connect(address) if t is None else Client.connect(address, timeout=t)
            async with await connecting as client:
                await _wait_healthy(client, server)
                worker, _ = await _start_worker(address, tq, env, d / f"{tag}.worker.log")
                children.append(worker)
                # Warm-up (not measured), as in the reference scripts.
                await client.execute_workflow(defs.greet_wf, "warmup", id=f"warm-{tag}", task_queue=tq)
                s0, w0, c0 = _cpu(server, worker)
                sb0 = sum(procstat.cpu_seconds(c.pid) for c in standbys)
                if workload == "W1":
                    res.update(await _w1(client, tq, tag, n))
                elif workload == "W2":
                    res.update(await _w2(client, tq, tag, n))
                elif workload == "W3":
                    res.update(await _w3(client, tq, tag, n))
                elif workload == "W4":
                    old = worker
                    figures, worker, s_spawn = await _w4(client, tq, tag, n, opts, old, server, env, step_log, w0)
                    children.append(worker)
                    res.update(figures)
                elif workload == "W5":
                    res.update(await _w5(client, tq, tag, n, opts, server, worker))
                elif workload == "W8":
                    res.update(await _w8(client, tq, tag, n))
                elif workload == "W6":
                    figures, worker = await _w6(client, tq, tag, n, opts, worker, env, d / f"{tag}.worker2.log")
                    children.append(worker)
                    res.update(figures)
                elif workload == "W7":
                    res.update(await _w7(client, tq, tag, n))
                elif workload == "W9":
                    res.update(await _w9(client, tq, tag, n, db))
                elif workload == "W10":
                    res.update(await _w10(client, tq, tag, n))
                elif workload == "W11":
                    res.update(await _w11(client, tq, tag, n))
                elif workload == "W12":
                    res.update(await _w12(client, tq, tag, n, opts))
                elif workload == "W15":
                    res.update(await _w15(client, tq, tag, n))
                elif workload == "W13":
                    res.update(await _w13(client, tq, tag, n))
                elif workload == "W14":
                    res.update(await _w14(client, tq, tag, n))
                elif workload == "W17":
                    res.update(await _w17(client, tq, tag, n))
                elif workload == "W19":
                    from w19 import w19

                    res.update(await w19(client, tq, tag, n, server.pid))
                elif workload == "BATCH":
                    res.update(await _batch(client, tq, tag, n, opts, server, worker))
                else:
                    raise ValueError(workload)
                s1, w1, c1 = _cpu(server, worker)
                if standbys:
                    res["standby_cpu_s"] = round(sum(procstat.cpu_seconds(c.pid) for c in standbys) - sb0, 2)
                res.update(
                    server_cpu_s=s1 - s0,
                    worker_cpu_s=w1 - w0,
                    client_cpu_s=c1 - c0,
                    server_peak_rss_mb=procstat.peak_rss_mb(server.pid),
                    worker_peak_rss_mb=procstat.peak_rss_mb(worker.pid),
                )
                if workload == "W4":
                    # A fresh process: its total CPU is its CPU from spawn to now (start-up included).
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
    res["run_total_s"] = time.time() - t_setup  # the whole run: server and worker start-up, warm-up, teardown
    return res


# ---------------------------------------------------------------------------------------------------- W16


async def _w16(n: int) -> Result:
    """W16: the time-skipping test environment (in this process: server, worker and client on one loop) runs n
    workflows that each sleep 7 days and then run one activity, all started at once; the wall time from the
    first start to the last result."""
    from mainspring import Worker
    from mainspring.testing import WorkflowEnvironment

    t_setup = time.time()
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="w16", workflows=[defs.week_wf], activities=[defs.greet]),
    ):
        t0 = time.perf_counter()
        handles = await asyncio.gather(
            *(env.client.start_workflow(defs.week_wf, f"w{i}", id=f"w16-{i}", task_queue="w16") for i in range(n))
        )
        results = await asyncio.gather(*(h.result(timeout=600) for h in handles))
        wall = time.perf_counter() - t0
    assert results == [f"Hello, w{i}!" for i in range(n)], "W16: a result is wrong"
    return {
        "engine": "mainspring",
        "workload": "W16",
        "n": n,
        "wall_s": wall,
        "ms_per_workflow": wall * 1000 / n,
        "client_cpu_s": procstat.self_cpu_seconds(),
        "run_total_s": time.time() - t_setup,
    }


# ---------------------------------------------------------------------------------------------------- CLI


def _cli_workload(n: int, run: int, opts: Options) -> Result:
    """CLI: the wall time of `mainspring --help`, `workflow list` and `workflow describe` (one run
    started beforehand), against a server of their own; no worker."""
    tag = run_tag("mainspring", "CLI", run)
    # As a user's install has it: pip compiles a package's bytecode when it installs it, but not an
    # editable install's source (this checkout's), and with PYTHONDONTWRITEBYTECODE set none is ever
    # written, so every call compiled the CLI's modules again (~18 ms of a ~90 ms `--help`).
    compileall.compile_dir(str(Path(mainspring.__file__).parent), quiet=1)
    d = rundir()
    db = d / f"{tag}.db"
    address = f"127.0.0.1:{free_port()}"
    res: Result = {"engine": "mainspring", "workload": "CLI", "n": n, "run": run}
    children: list[Child] = []
    try:
        with stopping(children):
            argv = [*_cli(), "server", "start-dev", "--headless", "--port", address.rsplit(":", 1)[1]]
            server = Child([*argv, "--db-filename", str(db)], log=d / f"{tag}.server.log")
            children.append(server)
            server.wait_line("Ready", 60.0)
            wid = f"cli-{tag}"
            start = ["workflow", "start", "--task-queue", "cli", "--type", "t", "--workflow-id", wid]
            subprocess.run([*_cli(), *start, "--address", address], check=True, capture_output=True, timeout=60)
            res.update(
                cli_timings(
                    {
                        "help": [*_cli(), "--help"],
                        "list": [*_cli(), "workflow", "list", "--address", address],
                        "describe": [*_cli(), "workflow", "describe", "--workflow-id", wid, "--address", address],
                    },
                    n,
                )
            )
    finally:
        if not opts.keep_files:
            remove_files(db, d / f"{tag}.server.log")
    return res


def _w18_workload(n: int, run: int, opts: Options) -> Result:
    """W18 (bench/w18.py): a server of its own on a copy of the filled store; the client asks, no worker."""
    import uvloop

    import w18

    tag = run_tag("mainspring", "W18", run)
    d = rundir()
    db, fill_s = w18.prepared(d, n)
    address = f"127.0.0.1:{free_port()}"
    res: Result = {"engine": "mainspring", "workload": "W18", "n": n, "run": run}
    if fill_s is not None:
        res["fill_s"] = round(fill_s, 1)
    children: list[Child] = []
    try:
        with stopping(children):
            argv = [*_cli(), "server", "start-dev", "--headless", "--port", address.rsplit(":", 1)[1]]
            server = Child([*argv, "--db-filename", str(db)], log=d / f"{tag}.server.log")
            children.append(server)
            server.wait_line("Ready", 300.0)

            async def ask() -> dict[str, Any]:
                async with await Client.connect(address) as client:
                    return await w18.measure(client)

            res.update(uvloop.run(ask()))
            res["server_peak_rss_mb"] = procstat.peak_rss_mb(server.pid)
    finally:
        remove_files(db)
        if not opts.keep_files:
            remove_files(d / f"{tag}.server.log")
    return res


# ---------------------------------------------------------------------------------------------------- W1..W3


async def _w1(client: Client, tq: str, tag: str, n: int) -> Result:
    lat = []
    for i in range(n):
        t = time.perf_counter()
        r = await client.execute_workflow(defs.greet_wf, f"n{i}", id=f"w1-{tag}-{i}", task_queue=tq)
        lat.append((time.perf_counter() - t) * 1000)
        if r != f"Hello, n{i}!":
            raise AssertionError(f"W1 workflow {i} returned {r!r}")
    return {"p50_ms": pct(lat, 0.5), "p95_ms": pct(lat, 0.95), "mean_ms": statistics.mean(lat), "max_ms": max(lat)}


async def _w2(client: Client, tq: str, tag: str, n: int) -> Result:
    async def one(i: int) -> int:
        h = await client.start_workflow(defs.three_noop_wf, i, id=f"w2-{tag}-{i}", task_queue=tq)
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
    r = await client.execute_workflow(defs.long_wf, n, id=f"w3-{tag}", task_queue=tq)
    wall = time.perf_counter() - t
    if r != n:
        raise AssertionError(f"W3 returned {r!r}, expected {n}")
    return {"wall_s": wall, "ms_per_activity": wall * 1000 / n}


async def _w8(client: Client, tq: str, tag: str, n: int) -> Result:
    async def start(i: int) -> Any:
        h = await client.start_workflow(defs.greet_wf, str(i), id=f"w8-{tag}-{i}", task_queue=tq)
        return h.result()

    return await w8_burst(start, n)


# ---------------------------------------------------------------------------------------------------- W10, W11


async def _message_workflow(client: Client, tq: str, wid: str) -> WorkflowHandle[Any, int]:
    """A running MessageWF whose first workflow task has run (it is in the worker's cache)."""
    h = await client.start_workflow(defs.MessageWF.run, id=wid, task_queue=tq)
    deadline = time.monotonic() + 30
    while True:
        try:
            await h.query(defs.MessageWF.last)
            return h
        except WorkflowQueryFailedError:  # its first workflow task has not run yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


async def _w10(client: Client, tq: str, tag: str, n: int) -> Result:
    """Signal round trip: send signal i, then query until the handler's effect is visible; n times on one
    running workflow."""
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
    """Queries on one running, cached workflow: n in a row."""
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


# ---------------------------------------------------------------------------------------------------- W7, W9


async def _w7(client: Client, tq: str, tag: str, n: int) -> Result:
    times: dict[int, float] = {}
    tasks_of: Result = {}
    for k in [k for k in W7_KS if k <= n] or [n]:
        t = time.perf_counter()
        r = await client.execute_workflow(defs.fan_out_wf, k, id=f"w7-{tag}-{k}", task_queue=tq)
        times[k] = time.perf_counter() - t
        if r != k * (k - 1) // 2:
            raise AssertionError(f"W7 K={k} returned {r!r}")
        history = await client.get_workflow_handle(f"w7-{tag}-{k}").fetch_history()
        tasks = sum(1 for e in history if e["event_type"] == "WorkflowTaskCompleted")
        tasks_of[f"k{k}_workflow_tasks"] = tasks
        _progress(f"W7 K={k}: {times[k]:.2f} s, {tasks} workflow tasks")
    return {**w7_figures(times), **tasks_of}


async def _w9(client: Client, tq: str, tag: str, n: int, db: Path) -> Result:
    out: Result = {}
    for size in W9_SIZES:
        payload = "p" * size
        before = await asyncio.to_thread(sqlite_used_bytes, db)
        lat = []
        for i in range(n):
            t = time.perf_counter()
            r = await client.execute_workflow(defs.echo_wf, payload, id=f"w9-{tag}-{size}-{i}", task_queue=tq)
            lat.append((time.perf_counter() - t) * 1000)
            if r != payload:
                raise AssertionError(f"W9 size {size}: the echo differs")
        grown = await asyncio.to_thread(sqlite_used_bytes, db) - before
        label = _size_label(size)
        out[f"{label}_p50_ms"] = pct(lat, 0.5)
        out[f"{label}_db_bytes_per_wf"] = grown / n
        out[f"{label}_db_copies_per_wf"] = grown / n / size
        _progress(f"W9 {label}: p50 {pct(lat, 0.5):.1f} ms, db +{grown / n:,.0f} bytes per workflow")
    return out


def _size_label(size: int) -> str:
    return f"{size // 1_000_000}mb" if size >= 1_000_000 else f"{size // 1000}kb"


# ---------------------------------------------------------------------------------------------------- W12


async def _w12(client: Client, tq: str, tag: str, n: int, opts: Options) -> Result:
    """n signals into one workflow, as fast as this client sends them (``w12_send``); then the checks
    (handler order == history order, all n there) and a replay of the history, whole and its first half
    (ms per event of each: equal if replay is linear), by the worker's replay code in this process."""
    handle = await client.start_workflow(defs.SignalSinkWF.run, n, id=f"w12-{tag}", task_queue=tq)
    figures = await w12_send(lambda i: handle.signal(defs.SignalSinkWF.add, i), n, opts.w12_in_flight)
    t = time.perf_counter()
    seen = await handle.result()
    figures["complete_after_last_signal_s"] = time.perf_counter() - t
    history = await handle.fetch_history()
    recorded = [e["attributes"]["input"] for e in history if e["event_type"] == "WorkflowExecutionSignaled"]
    figures.update(w12_check(seen, recorded, n))
    full = _replay_seconds(history, handle.run_id or "", tq)
    half_history = history[: half_cut(history, "WorkflowTaskStarted")]
    half = _replay_seconds(half_history, handle.run_id or "", tq)
    figures.update(
        history_length=len(history),
        workflow_tasks=sum(1 for e in history if e["event_type"] == "WorkflowTaskCompleted"),
        replay_ms=full * 1000,
        replay_us_per_event=full * 1e6 / len(history),
        replay_half_us_per_event=half * 1e6 / len(half_history),
        replay_linearity=(full / len(history)) / (half / len(half_history)),
    )
    _progress(f"W12: {figures['signals_per_s']:.0f} signals/s, {len(history)} events, replay {full * 1000:.1f} ms")
    return figures


def _replay_seconds(history: list[dict[str, Any]], run_id: str, tq: str, repeats: int = 5) -> float:
    """The shortest of ``repeats`` replays of ``history`` by a fresh WorkflowInstance (as a worker replays
    an evicted run), in seconds."""
    from mainspring.workflow import WorkflowInfo, get_definition
    from mainspring.workflow._instance import WorkflowInstance

    started = datetime.fromisoformat(history[0]["event_time"])
    info = WorkflowInfo("default", "w12", run_id, "SignalSinkWF", tq, started)
    best = float("inf")
    for _ in range(repeats):
        inst = WorkflowInstance(get_definition(defs.SignalSinkWF), info)  # type: ignore[abstract]
        t = time.perf_counter()
        inst.activate(history)
        best = min(best, time.perf_counter() - t)
        signals = sum(1 for e in history if e["event_type"] == "WorkflowExecutionSignaled")
        if len(inst.workflow_object.seen) != signals:  # the replay ran every handler, or it measured nothing
            raise AssertionError(f"W12: the replay's handler saw {len(inst.workflow_object.seen)} of {signals}")
        inst.dispose()
    return best


# ---------------------------------------------------------------------------------------------------- W17


async def _w17(client: Client, tq: str, tag: str, n: int) -> Result:
    """W17: one workflow of n sequential no-op activities (W3's, 6 events a step) run to its end on the
    server; its history fetched; then replayed in this process by ``mainspring.worker.Replayer``, as a user
    checks new code against old runs, W17_REPEATS times whole and as many times its first half."""
    from mainspring.worker import Replayer, WorkflowHistory

    t = time.perf_counter()
    handle = await client.start_workflow(defs.long_wf, n, id=f"w17-{tag}", task_queue=tq)
    if (r := await handle.result()) != n:
        raise AssertionError(f"W17 returned {r!r}")
    build_s = time.perf_counter() - t
    events = await handle.fetch_history()
    run_id = handle.run_id or "replay"
    whole = WorkflowHistory(handle.id, events, run_id=run_id)
    cut = half_cut(events, "WorkflowTaskStarted")
    half = WorkflowHistory(handle.id, events[:cut], run_id=run_id)
    replayer = Replayer(workflows=[defs.long_wf])
    walls, cpus, half_walls = [], [], []
    for _ in range(W17_REPEATS):
        t, c = time.perf_counter(), time.process_time()
        # Raises on any disagreement, and a closed history must end with the code's last command matched.
        await replayer.replay_workflow(whole)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        t = time.perf_counter()
        await replayer.replay_workflow(half)
        half_walls.append(time.perf_counter() - t)
    figures = w17_figures(len(events), walls, cpus, cut, half_walls)
    figures["build_s"] = build_s
    _progress(f"W17: {len(events)} events, replay {figures['replay_events_per_s']:.0f} events/s")
    return figures


# ---------------------------------------------------------------------------------------------------- W15


async def _w15(client: Client, tq: str, tag: str, n: int) -> Result:
    """A continue-as-new loop: one workflow id, n runs back to back (each a few events), start to the last
    run's result; then ``workflow list`` of that id paged through (1000 a page), and the runs counted."""
    wid = f"w15-{tag}"
    t = time.perf_counter()
    handle = await client.start_workflow(defs.can_loop_wf, n - 1, id=wid, task_queue=tq)
    await handle.result()
    elapsed = time.perf_counter() - t
    pages: list[float] = []
    runs, token = 0, None
    t_list = time.perf_counter()
    while True:
        t_page = time.perf_counter()
        page = await client.list_workflows(workflow_id=wid, limit=1000, page_token=token)
        pages.append((time.perf_counter() - t_page) * 1000)
        runs += len(page.executions)
        token = page.next_page_token
        if not token:
            break
    list_s = time.perf_counter() - t_list
    if runs != n:
        raise AssertionError(f"W15: {runs} runs listed, not {n}")
    t_first = time.perf_counter()
    first = await client.list_workflows(workflow_id=wid, limit=20)  # what `workflow list -w` shows
    figures: Result = {
        "runs_per_s": n / elapsed,
        "total_s": elapsed,
        "list_all_s": list_s,
        "list_page_1000_p50_ms": pct(pages, 0.5),
        "list_page_1000_max_ms": max(pages),
        "list_first_20_ms": (time.perf_counter() - t_first) * 1000,
        "events_per_run": first.executions[-1]["history_length"],
    }
    _progress(f"W15: {figures['runs_per_s']:.0f} runs/s, list of {n} runs in {list_s * 1000:.0f} ms")
    return figures


# ---------------------------------------------------------------------------------------------------- W14


async def _w14(client: Client, tq: str, tag: str, n: int) -> Result:
    """n children one after another (each one's start-to-result, from the parent's history), then one parent
    starting K children at once for each K of W14_KS."""
    wid = f"w14-{tag}-chain"
    r = await client.execute_workflow(defs.child_chain_wf, n, id=wid, task_queue=tq)
    if r != n * (n - 1) // 2:
        raise AssertionError(f"W14 chain returned {r!r}")
    history = await client.get_workflow_handle(wid).fetch_history()
    initiated = {
        e["event_id"]: datetime.fromisoformat(e["event_time"])
        for e in history
        if e["event_type"] == "StartChildWorkflowExecutionInitiated"
    }
    spans = [
        (datetime.fromisoformat(e["event_time"]) - initiated[e["attributes"]["initiated_event_id"]]).total_seconds()
        * 1000
        for e in history
        if e["event_type"] == "ChildWorkflowExecutionCompleted"
    ]
    if len(spans) != n:
        raise AssertionError(f"W14: {len(spans)} children completed, not {n}")
    times: dict[int, float] = {}
    for k in w14_ks(n):
        t = time.perf_counter()
        r = await client.execute_workflow(defs.child_fan_out_wf, k, id=f"w14-{tag}-{k}", task_queue=tq)
        times[k] = time.perf_counter() - t
        if r != k * (k - 1) // 2:
            raise AssertionError(f"W14 K={k} returned {r!r}")
        _progress(f"W14 K={k}: {times[k]:.2f} s")
    figures = w14_figures(spans, times)
    _progress(f"W14: child start-to-result p50 {figures['child_p50_ms']:.2f} ms")
    return figures


# ---------------------------------------------------------------------------------------------------- W4


async def _w4(
    client: Client,
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
    handles = await asyncio.gather(*(client.start_workflow(defs.crash_wf, W4_STEPS, id=w, task_queue=tq) for w in ids))
    t_started = time.time()
    results: dict[str, Any] = {}

    async def wait(h: WorkflowHandle[list[str]]) -> None:
        results[h.workflow_id] = await h.result()

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
    new_worker, t_ready = await _start_worker(client.address, tq, env, step_log.with_suffix(".worker2.log"))
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


# ---------------------------------------------------------------------------------------------------- W6


async def _history_length(client: Client, workflow_id: str) -> int:
    return (await client.get_workflow_handle(workflow_id).describe()).history_length


async def _w6(
    client: Client, tq: str, tag: str, n: int, opts: Options, worker: Child, env: dict[str, str], log2: Path
) -> tuple[Result, Child]:
    """One workflow of n sequential activities; SIGKILL its worker once the history holds w6_kill_events
    events; a fresh worker must rebuild the workflow from the history (paged to it) and record the next step.

    recovery_s: from the fresh worker being ready (its session is up) to the first WorkflowTaskCompleted
    after the kill (the replayed workflow's next decision, recorded), as seen by polling the history.
    replay_events_per_s: the history at the kill replayed by a WorkflowInstance in this process, alone
    (no fetching), as a worker replays it. recovery_events_per_s: events at the kill / recovery_s (fetching
    the pages included). The run is then terminated: what comes after the recovery is W3's figure.
    """
    from mainspring.workflow import WorkflowInfo, get_definition
    from mainspring.workflow._instance import WorkflowInstance

    wid = f"w6-{tag}"
    kill_at = min(opts.w6_kill_events, 3 * n)  # 6 events a step: at most half way
    handle = await client.start_workflow(defs.long_wf, n, id=wid, task_queue=tq)
    t0 = time.perf_counter()
    while (length := await _history_length(client, wid)) < kill_at:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"W6: the worker died: {worker.tail()}")
        await asyncio.sleep(0.2 if kill_at - length > 5000 else 0.01)
    worker.kill()
    build_s = time.perf_counter() - t0
    at_kill = await _history_length(client, wid)
    new_worker, t_ready = await _start_worker(client.address, tq, env, log2)
    # The first workflow task the fresh worker completes (it must replay everything first).
    seen = await _history_length(client, wid)
    t_done = None
    deadline = time.time() + 120
    while t_done is None:
        if time.time() > deadline:
            raise AssertionError(f"W6: no step recorded within 120 s of a fresh worker: {new_worker.tail()}")
        length = await _history_length(client, wid)
        if length > seen:
            page = await client._call(  # one page of the newest events (the client pages only whole histories)
                "GET", "/workflows/history", params={"workflow_id": wid, "first_event_id": seen + 1, "limit": 1000}
            )
            if any(e["event_type"] == "WorkflowTaskCompleted" for e in page["events"]):
                t_done = time.time()
        await asyncio.sleep(0.005)
    recovery = t_done - t_ready
    # Replay alone: the history as it was at the kill, by the worker's own replay code, here.
    history = (await handle.fetch_history())[:at_kill]
    started = datetime.fromisoformat(history[0]["event_time"])
    info = WorkflowInfo("default", wid, handle.run_id or "", "LongWF", tq, started)
    inst = WorkflowInstance(get_definition(defs.long_wf), info)  # type: ignore[abstract]
    t, c = time.perf_counter(), time.process_time()
    inst.activate(history)
    replay_s, replay_cpu_s = time.perf_counter() - t, time.process_time() - c
    inst.dispose()
    await handle.terminate(reason="W6 measured")
    return {
        "recovery_s": recovery,
        "events_at_kill": at_kill,
        "kill_after_s": build_s,
        "replay_s": replay_s,
        "replay_events_per_s": at_kill / replay_s,
        # The same on CPU time: on a shared machine, wall time counts the time other processes had the core.
        "replay_cpu_s": replay_cpu_s,
        "replay_events_per_cpu_s": at_kill / replay_cpu_s,
        "recovery_events_per_s": at_kill / recovery,
        "note_w6": "recovery_s: fresh worker ready -> its first WorkflowTaskCompleted (history polled every ~5 ms)",
    }, new_worker


# ---------------------------------------------------------------------------------------------------- W5


def _progress(msg: str) -> None:
    print(f"  [mainspring] {msg}", file=sys.stderr, flush=True)


async def _settled_length(client: Client, workflow_id: str, timeout: float = 600.0) -> int:
    """The history length of a workflow once its timer is started and no workflow task is pending."""
    h = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + timeout
    while True:
        desc = await h.describe()
        if desc.pending_timers and desc.pending_workflow_task is None:
            return desc.history_length
        if time.monotonic() > deadline:
            raise AssertionError(f"W5: {workflow_id} did not start its timer within {timeout}s: {desc.raw}")
        await asyncio.sleep(0.2)


async def _count_unsettled(client: Client, prefix: str, settled_len: int) -> tuple[int, int]:
    """(W5 workflows seen, how many of them have not yet reached ``settled_len`` events), by paging.

    The list is read unfiltered, newest first (the database is fresh, so it holds only this run's
    workflows and the warm-up): a filter on the id prefix or the status makes the server sort every
    matching row for each page.
    """
    seen = unsettled = 0
    token: str | None = None
    while True:
        page = await client.list_workflows(limit=1000, page_token=token)
        for e in page.executions:
            if not e["workflow_id"].startswith(prefix):
                continue
            seen += 1
            if e["status"] != "RUNNING" or e["history_length"] < settled_len:
                unsettled += 1
        token = page.next_page_token
        if not token:
            return seen, unsettled


async def _batch(client: Client, tq: str, tag: str, n: int, opts: Options, server: Child, worker: Child) -> Result:
    """BATCH: n workflows waiting on a one-hour timer (started as W5's), then terminated by one batch job by query
    (``client.terminate_workflows``, at the highest rate a job takes); timed from the job's start to its end."""
    from mainspring.api.batch import MAX_BATCH_RPS

    prefix = f"batch-{tag}-"
    ids = [f"{prefix}{i:07d}" for i in range(n)]
    next_i = 0

    async def starter() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            await client.start_workflow(defs.timer_wf, W5_TIMER_SECONDS, id=ids[i], task_queue=tq)

    t0 = time.perf_counter()
    await asyncio.gather(*(starter() for _ in range(min(opts.w5_concurrency, n))))
    settled_len = await _settled_length(client, ids[0])
    await _settled_length(client, ids[-1])
    while True:
        seen, unsettled = await _count_unsettled(client, prefix, settled_len)
        if seen == n and unsettled == 0:
            break
        if server.proc.poll() is not None or worker.proc.poll() is not None:
            raise RuntimeError("BATCH: the server or the worker died")
        await asyncio.sleep(1.0)
    setup_s = time.perf_counter() - t0
    _progress(f"BATCH: {n} waiting on their timer after {setup_s:.1f}s; terminating them by query")
    query = f"WorkflowId STARTS_WITH '{prefix}' AND ExecutionStatus = 'Running'"
    t1 = time.perf_counter()
    handle = await client.terminate_workflows(query, reason="bench", rps=MAX_BATCH_RPS)
    job = await handle.wait(poll_interval=timedelta(milliseconds=20))
    terminate_s = time.perf_counter() - t1
    if (job.state.value, job.done, job.failed) != ("COMPLETED", n, 0):
        raise AssertionError(f"BATCH: the job ended {job}")
    left = (await client.count_workflows(query)).count
    if left:
        raise AssertionError(f"BATCH: {left} runs still running after the job")
    _progress(f"BATCH: {n} terminated in {terminate_s:.2f}s ({n / terminate_s:.0f} runs/s)")
    return {"terminate_s": round(terminate_s, 3), "runs_per_s": round(n / terminate_s, 1), "setup_s": round(setup_s, 1)}


async def _w5(client: Client, tq: str, tag: str, n: int, opts: Options, server: Child, worker: Child) -> Result:
    prefix = f"w5-{tag}-"
    ids = [f"{prefix}{i:07d}" for i in range(n)]
    next_i = 0
    report_every = max(1000, n // 10)

    async def starter() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            await client.start_workflow(defs.timer_wf, W5_TIMER_SECONDS, id=ids[i], task_queue=tq)
            if (i + 1) % report_every == 0:
                _progress(f"{i + 1} started")

    t0 = time.perf_counter()
    await asyncio.gather(*(starter() for _ in range(min(opts.w5_concurrency, n))))
    start_wall = time.perf_counter() - t0
    _progress(f"all {n} started in {start_wall:.1f}s; waiting until every timer is started")

    # All waiting = every workflow's first workflow task done and its timer started. One workflow,
    # checked by describe, gives the history length of that state; then every workflow is checked by
    # paging through the list, and a random sample is checked by describe.
    settled_len = await _settled_length(client, ids[0])
    await _settled_length(client, ids[-1])  # cheap to poll; the last started is about the last to settle
    while True:
        seen, unsettled = await _count_unsettled(client, prefix, settled_len)
        if seen == n and unsettled == 0:
            break
        if server.proc.poll() is not None or worker.proc.poll() is not None:
            raise RuntimeError("W5: the server or the worker died")
        _progress(f"{unsettled} of {n} not yet waiting on their timer")
        await asyncio.sleep(1.0)
    all_waiting = time.perf_counter() - t0
    _progress(f"all {n} waiting on their timer {all_waiting:.1f}s after the first start")
    rng = random.Random(0)
    sample = rng.sample(ids, min(100, n))
    for wid in sample:
        desc = await client.get_workflow_handle(wid).describe()
        if not desc.pending_timers or desc.pending_workflow_task is not None:
            raise AssertionError(f"W5: {wid} is not waiting on its timer: {desc.raw}")

    # Memory once all are waiting; then describe and list latencies (sequential calls from this client).
    figures: Result = {
        "server_rss_mb": procstat.rss_mb(server.pid),
        "worker_rss_mb": procstat.rss_mb(worker.pid),
    }
    describe_ms = []
    for wid in rng.sample(ids, min(opts.w5_samples, n)):
        t = time.perf_counter()
        await client.get_workflow_handle(wid).describe()
        describe_ms.append((time.perf_counter() - t) * 1000)
    list_ms = []
    for _ in range(opts.w5_samples):
        t = time.perf_counter()
        page = await client.list_workflows(limit=50)
        list_ms.append((time.perf_counter() - t) * 1000)
        if len(page.executions) != min(50, n + 1):  # + the warm-up workflow
            raise AssertionError(f"W5: the list returned {len(page.executions)} workflows")
    figures.update(
        starts_per_s=n / start_wall,
        start_wall_s=start_wall,
        all_waiting_s=all_waiting,
        describe_ms=statistics.median(describe_ms),
        describe_max_ms=max(describe_ms),
        list_ms=statistics.median(list_ms),
        list_max_ms=max(list_ms),
        waiting_check=f"list: all {n} at history length >= {settled_len}; describe: {len(sample)} random have a timer",
        start_concurrency=opts.w5_concurrency,
    )
    return figures


# ---------------------------------------------------------------------------------------------------- W13


async def _w13(client: Client, tq: str, tag: str, n: int) -> Result:
    """n local activities in a row in one workflow; the round trip measured inside it (``w13_figures``)."""
    t = time.perf_counter()
    stamps = await client.execute_workflow(defs.local_loop_wf, n, id=f"w13-{tag}", task_queue=tq)
    wall = time.perf_counter() - t
    if len(stamps) != n:
        raise AssertionError(f"W13 returned {len(stamps)} stamps, expected {n}")
    return {**w13_figures(stamps), "wall_s": wall}
