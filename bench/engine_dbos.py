"""DBOS driver: runs one workload once with DBOS on SQLite, as in the reference scripts.

DBOS is a library: the workflows, the client calls and the SQLite system database share one process
(bench/dbos_app.py), started fresh with a fresh database file for every run. There is no server, so the
``server_*`` figures are null; ``worker_cpu_s`` and ``worker_peak_rss_mb`` are that one process's.
W4: process A starts the workflows and is SIGKILLed; process B (the same script, so the same application
version) recovers them in ``DBOS.launch()``; ``recovery_s`` runs from B being ready (launched) until all
are done.
"""

from __future__ import annotations

import json
import queue
import signal
import time
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

from common import (
    BENCH_DIR,
    PY,
    Child,
    Options,
    Result,
    remove_files,
    run_tag,
    rundir,
    step_lines,
    w4_figures,
)


def version() -> dict[str, Any]:
    try:
        return {"dbos": pkg_version("dbos")}
    except PackageNotFoundError:
        return {"dbos": "unknown"}


def _app(mode: str, url: str, n: int, opts: Options, log: Path, env: dict[str, str]) -> Child:
    argv = [PY, str(BENCH_DIR / "dbos_app.py"), mode, "--db", url, "-n", str(n)]
    argv += ["--w5-concurrency", str(opts.w5_concurrency), "--w5-samples", str(opts.w5_samples)]
    return Child(argv, log=log, env=env)


def run_once(workload: str, n: int, run: int, opts: Options) -> Result:
    if workload == "CLI":
        raise NotImplementedError("CLI compares the mainspring and temporal commands; DBOS has no such CLI")
    if workload == "W6":
        # Not run: at W3's ~9 ms a step, the 12,500 steps before the kill alone take ~2 minutes a run (and
        # DBOS recovers by re-running the workflow, reading each step's recorded output: no event history).
        raise NotImplementedError("W6 is measured on Mainspring only (see bench/README.md)")
    if workload in ("W10", "W11"):
        # DBOS has workflow messages (send/recv) and events, not signal and query handlers on a running
        # workflow's state: not the same thing to time.
        raise NotImplementedError(f"{workload} compares Mainspring with Temporal (signals and queries); not DBOS")
    if workload == "W12":
        raise NotImplementedError("W12 compares Mainspring's signals with Temporal's (see bench/README.md)")
    if workload == "W13":
        # A DBOS step is always local (in the workflow's process): there is no task-queue activity to compare.
        raise NotImplementedError("W13 compares Mainspring's local activities with Temporal's; not DBOS")
    if workload == "W15":
        raise NotImplementedError("W15 is continue-as-new, which DBOS does not have (see bench/README.md)")
    if workload == "W18":
        raise NotImplementedError("W18 fills a Mainspring store directly (a million runs); not DBOS")
    if workload == "W19":
        raise NotImplementedError("W19 is schedules; DBOS's scheduled workflows are cron decorators in code, not data")
    if workload == "W17":
        # DBOS recovers by re-running the workflow against its recorded step outputs: no history to replay.
        raise NotImplementedError("W17 replays a history (Mainspring, Temporal); DBOS keeps no event history")
    tag = run_tag("dbos", workload, run)
    d = rundir()
    db = d / f"{tag}.sqlite"
    url = opts.postgres_url() if opts.postgres_url else f"sqlite:///{db}"
    step_log = d / f"{tag}.steps"
    env = {"BENCH_STEP_LOG": str(step_log)}
    res: Result = {"engine": "dbos", "workload": workload, "n": n, "run": run}
    t_setup = time.time()
    logs = [d / f"{tag}.a.log", d / f"{tag}.b.log"]
    try:
        if workload != "W4":
            app = _app(workload, url, n, opts, logs[0], env)
            try:
                line = app.wait_line("RESULT ", 3600)
                app.proc.wait(30)
            finally:
                app.stop()
            res.update(json.loads(line[len("RESULT ") :]))
        else:
            res.update(_w4(url, n, opts, logs, env, step_log))
    finally:
        if not opts.keep_files:
            remove_files(db, step_log, *logs)
    db_kind = "postgres" if url.startswith("postgresql") else "sqlite"
    res.update(server_cpu_s=None, server_peak_rss_mb=None, client_cpu_s=None, db=db_kind)
    if workload == "W5":
        res["server_rss_mb"] = None
    res["total_cpu_s"] = res.get("worker_cpu_s")
    res["note"] = "one process (workflows, steps, client and SQLite): worker_* is that process; no server"
    res["run_total_s"] = time.time() - t_setup
    return res


def _w4(url: str, n: int, opts: Options, logs: list[Path], env: dict[str, str], step_log: Path) -> Result:
    a = _app("W4A", url, n, opts, logs[0], env)
    try:
        t0 = float(a.wait_line("STARTING", 120).split()[1])
        t_started = float(a.wait_line("STARTED", 600).split()[1])
        # Kill at max(first start + kill_after, all starts acknowledged, a step has run).
        time.sleep(max(0.0, t0 + opts.kill_after - time.time()))
        deadline = time.time() + 60
        while not step_lines(step_log) and time.time() < deadline:
            time.sleep(0.005)
        a.proc.send_signal(signal.SIGKILL)
        t_kill = time.time()
        a.proc.wait(10)
    finally:
        a.kill()
    done_before = 0
    while True:
        try:
            line = a.lines.get(timeout=2)
        except queue.Empty:
            break
        if line is None:
            break
        done_before += line.startswith("DONE ")
    steps_before = len(step_lines(step_log))
    t_spawn = time.time()
    b = _app("W4B", url, n, opts, logs[1], env)
    try:
        t_ready = float(b.wait_line("READY", 120).split()[1])
        out = json.loads(b.wait_line("RESULT ", 900)[len("RESULT ") :])
        b.proc.wait(30)
    finally:
        b.stop()
    t_done = out.pop("t_done")
    results = out.pop("results")
    ids = [f"w4-{i}" for i in range(n)]
    return {
        "recovery_s": t_done - t_ready,
        "recovery_from_spawn_s": t_done - t_spawn,
        "new_worker_ready_s": t_ready - t_spawn,
        "starts_s": t_started - t0,
        "kill_after_s": t_kill - t0,
        "wf_done_before_kill": done_before,
        "step_execs_before_kill": steps_before,
        **out,
        **w4_figures(step_log, n, results, ids),
    }
