"""DBOS workload process (started by engine_dbos.py, one fresh process and SQLite file per run).

  python bench/dbos_app.py W1 --db sqlite:///x.sqlite [-n N]

DBOS has no server: the workflows, their steps, the client calls and the SQLite system database all live
in this one process, as in the reference scripts. Modes: W1, W2, W3, W5, W8 print ``RESULT {json}`` at the end;
W4A starts the crash workflows and runs until it is killed (printing STARTING/STARTED/DONE lines); W4B
relaunches on the same database (``DBOS.launch()`` recovers the pending workflows) and waits until all
are done. Every step and workflow is ``async def``; steps use DBOS's defaults (no retries).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID

import procstat
from common import (
    W4_STEP_SECONDS,
    W4_STEPS,
    W7_KS,
    W9_SIZES,
    append_step,
    pct,
    sqlite_used_bytes,
    w7_figures,
    w8_burst,
)

STEP_LOG = os.environ.get("BENCH_STEP_LOG")
W5_TIMER_SECONDS = 3600.0


# ---------------------------------------------------------------------------------------------------- steps


@DBOS.step()
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@DBOS.step()
async def noop(i: int) -> int:
    return i


@DBOS.step()
async def sleep_step(i: int) -> str:
    await asyncio.sleep(W4_STEP_SECONDS)
    wid = DBOS.workflow_id
    assert wid is not None
    append_step(STEP_LOG, wid, i)  # one line per execution
    return f"{wid}:step{i}"


@DBOS.step()
async def echo(payload: str) -> str:  # W9
    return payload


# ---------------------------------------------------------------------------------------------------- workflows


@DBOS.workflow()
async def greet_wf(name: str) -> str:  # W1
    return await greet(name)


@DBOS.workflow()
async def three_noop_wf(x: int) -> int:  # W2
    acc = 0
    for i in range(3):
        acc += await noop(i)
    return x + acc


@DBOS.workflow()
async def long_wf(n: int) -> int:  # W3
    acc = 0
    for _ in range(n):
        acc += await noop(1)
    return acc


@DBOS.workflow()
async def crash_wf(n: int) -> list[str]:  # W4
    results = []
    for i in range(n):
        results.append(await sleep_step(i))
    return results


@DBOS.workflow()
async def timer_wf(seconds: float) -> float:  # W5: a durable sleep
    await DBOS.sleep_async(seconds)
    return seconds


@DBOS.workflow()
async def fan_out_wf(k: int) -> int:  # W7: K steps at once (DBOS runs concurrent async steps in order of call)
    results = await asyncio.gather(*(noop(i) for i in range(k)))
    return sum(results)


@DBOS.workflow()
async def echo_wf(payload: str) -> str:  # W9
    return await echo(payload)


async def w7(n: int) -> dict[str, Any]:
    times: dict[int, float] = {}
    for k in [k for k in W7_KS if k <= n] or [n]:
        t = time.perf_counter()
        h = await DBOS.start_workflow_async(fan_out_wf, k)
        r = await h.get_result()
        times[k] = time.perf_counter() - t
        assert r == k * (k - 1) // 2, r
        say(f"# W7 K={k}: {times[k]:.2f} s")
    return w7_figures(times)


async def w9(n: int, db_path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for size in W9_SIZES:
        payload = "p" * size
        label = f"{size // 1_000_000}mb" if size >= 1_000_000 else f"{size // 1000}kb"
        before = sqlite_used_bytes(db_path)
        lat = []
        for _ in range(n):
            t = time.perf_counter()
            h = await DBOS.start_workflow_async(echo_wf, payload)
            r = await h.get_result()
            lat.append((time.perf_counter() - t) * 1000)
            assert r == payload
        grown = sqlite_used_bytes(db_path) - before
        out[f"{label}_p50_ms"] = pct(lat, 0.5)
        out[f"{label}_db_bytes_per_wf"] = grown / n
        out[f"{label}_db_copies_per_wf"] = grown / n / size
        say(f"# W9 {label}: p50 {pct(lat, 0.5):.1f} ms, db +{grown / n:,.0f} bytes/wf")
    return out


# ---------------------------------------------------------------------------------------------------- helpers


async def wait_all(ids: list[str], poll: float = 0.05, timeout: float = 600) -> None:
    """Bulk-poll statuses (one query every ``poll`` s) until none is PENDING/ENQUEUED/DELAYED.

    ``handle.get_result()`` on a recovered workflow polls every 1 s, so the reference scripts poll in bulk.
    """
    t_end = time.time() + timeout
    while True:
        if time.time() > t_end:
            raise TimeoutError(f"not all {len(ids)} workflows finished within {timeout}s")
        rows = await DBOS.list_workflows_async(workflow_ids=ids, load_input=False, load_output=False)
        if len(rows) == len(ids) and all(r.status not in ("PENDING", "ENQUEUED", "DELAYED") for r in rows):
            return
        await asyncio.sleep(poll)


def say(line: str) -> None:
    print(line, flush=True)


async def w4a(n: int) -> None:
    ids = [f"w4-{i}" for i in range(n)]
    say(f"STARTING {time.time()}")

    async def start(w: str) -> Any:
        with SetWorkflowID(w):
            return await DBOS.start_workflow_async(crash_wf, W4_STEPS)

    handles = await asyncio.gather(*(start(w) for w in ids))
    say(f"STARTED {time.time()}")  # all starts acknowledged

    async def one(h: Any) -> None:
        await h.get_result()
        say(f"DONE {h.get_workflow_id()}")

    await asyncio.gather(*(one(h) for h in handles))
    say("ALLDONE")
    await asyncio.sleep(3600)  # until killed


async def w4b(n: int) -> dict[str, Any]:
    ids = [f"w4-{i}" for i in range(n)]
    await wait_all(ids)
    t_done = time.time()
    rows = await DBOS.list_workflows_async(workflow_ids=ids, load_input=False, load_output=True)
    return {
        "t_done": t_done,
        "results": {r.workflow_id: r.output for r in rows},
        "statuses": sorted({r.status for r in rows}),
        # A fresh process: its CPU so far is its CPU from spawn (start-up, launch, recovery).
        "worker_cpu_s": procstat.self_cpu_seconds(),
    }


async def w5(n: int, concurrency: int, samples: int) -> dict[str, Any]:
    ids = [f"w5-{i:07d}" for i in range(n)]
    next_i = 0

    async def starter() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            with SetWorkflowID(ids[i]):
                await DBOS.start_workflow_async(timer_wf, W5_TIMER_SECONDS)

    t0 = time.perf_counter()
    await asyncio.gather(*(starter() for _ in range(min(concurrency, n))))
    start_wall = time.perf_counter() - t0
    # All waiting = every workflow has recorded its durable sleep (the DBOS.sleep step).
    pending = list(ids)
    sem = asyncio.Semaphore(20)

    async def sleeping(wid: str) -> bool:
        async with sem:
            steps = await DBOS.list_workflow_steps_async(wid, load_output=False)
        return any(s["function_name"] == "DBOS.sleep" for s in steps)

    while pending:
        flags = await asyncio.gather(*(sleeping(w) for w in pending))
        pending = [w for w, ok in zip(pending, flags, strict=True) if not ok]
        if pending:
            await asyncio.sleep(0.5)
    all_waiting = time.perf_counter() - t0
    rss = procstat.rss_mb(os.getpid())
    rng = random.Random(0)
    describe_ms = []
    for wid in rng.sample(ids, min(samples, n)):
        t = time.perf_counter()
        st = await DBOS.get_workflow_status_async(wid)
        describe_ms.append((time.perf_counter() - t) * 1000)
        assert st is not None and st.status == "PENDING", st
    list_ms = []
    for _ in range(samples):
        t = time.perf_counter()
        rows = await DBOS.list_workflows_async(limit=50, sort_desc=True, load_input=False, load_output=False)
        list_ms.append((time.perf_counter() - t) * 1000)
        assert len(rows) == min(50, n + 1), len(rows)
    return {
        "starts_per_s": n / start_wall,
        "start_wall_s": start_wall,
        "all_waiting_s": all_waiting,
        "worker_rss_mb": rss,
        "describe_ms": statistics.median(describe_ms),
        "describe_max_ms": max(describe_ms),
        "list_ms": statistics.median(list_ms),
        "list_max_ms": max(list_ms),
        "waiting_check": f"steps of all {n}: each has recorded its DBOS.sleep",
        "start_concurrency": concurrency,
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=["W1", "W2", "W3", "W4A", "W4B", "W5", "W7", "W8", "W9"])
    ap.add_argument("--db", required=True)
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--w5-concurrency", type=int, default=100)
    ap.add_argument("--w5-samples", type=int, default=20)
    a = ap.parse_args()
    n = a.n
    cfg: DBOSConfig = {"name": "mainspring-bench", "system_database_url": a.db, "log_level": "WARNING"}
    DBOS(config=cfg)
    DBOS.launch()
    say(f"READY {time.time()}")
    res: dict[str, Any] = {}
    if a.mode == "W4A":
        await w4a(n)
        return
    if a.mode == "W4B":
        res.update(await w4b(n))
    else:
        await greet_wf("warmup")  # warm-up, not measured
        c0 = procstat.self_cpu_seconds()
        if a.mode == "W1":
            lat = []
            for i in range(n):
                t = time.perf_counter()
                gh = await DBOS.start_workflow_async(greet_wf, f"n{i}")
                r = await gh.get_result()
                lat.append((time.perf_counter() - t) * 1000)
                assert r == f"Hello, n{i}!", r
            res.update(p50_ms=pct(lat, 0.5), p95_ms=pct(lat, 0.95), mean_ms=statistics.mean(lat), max_ms=max(lat))
        elif a.mode == "W2":

            async def one(i: int) -> int:
                h = await DBOS.start_workflow_async(three_noop_wf, i)
                return await h.get_result()

            t = time.perf_counter()
            out = await asyncio.gather(*(one(i) for i in range(n)))
            wall = time.perf_counter() - t
            assert out == [i + 3 for i in range(n)], out[:5]
            res.update(wall_s=wall, wf_per_s=n / wall, act_per_s=3 * n / wall)
        elif a.mode == "W3":
            t = time.perf_counter()
            lh = await DBOS.start_workflow_async(long_wf, n)
            total = await lh.get_result()
            wall = time.perf_counter() - t
            assert total == n, total
            res.update(wall_s=wall, ms_per_activity=wall * 1000 / n)
        elif a.mode == "W5":
            res.update(await w5(n, a.w5_concurrency, a.w5_samples))
        elif a.mode == "W8":

            async def start(i: int) -> Any:
                h = await DBOS.start_workflow_async(greet_wf, str(i))
                return h.get_result()

            res.update(await w8_burst(start, n))
        elif a.mode == "W7":
            res.update(await w7(n))
        elif a.mode == "W9":
            res.update(await w9(n, a.db.removeprefix("sqlite:///")))
        res["worker_cpu_s"] = procstat.self_cpu_seconds() - c0
    res["worker_peak_rss_mb"] = procstat.peak_rss_mb(os.getpid())
    say("RESULT " + json.dumps(res))
    DBOS.destroy()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
