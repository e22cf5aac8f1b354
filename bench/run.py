"""Run the benchmark workloads on Mainspring, Temporal and DBOS, and compare them.

  python bench/run.py W2 --engine mainspring            # one workload, one engine, 3 runs
  python bench/run.py W1 W3 --engine all --runs 3       # each workload on every engine in turn, and the ratios
  python bench/run.py W5 --engine mainspring --n 100000
  python bench/run.py cli                               # CLI start-up: mainspring's commands beside temporal's

Prints one JSON object per run (one line each: ``engine``, ``workload``, ``n``, ``run`` and the figures),
then a summary: the median and min..max of each figure per engine and, when Mainspring ran with another
engine, Mainspring's ratio to each engine for each headline figure. Lines that are not JSON objects start
with ``#`` or are part of the summary. The exit status is 1 if any run failed (its JSON object then has
an ``error``). bench/README.md says what each workload does.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import math
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from common import ENGINES, WORKLOADS, Options, Result, default_n, machine, mainspring_commit, rundir

#: The figures compared across engines, and whether lower or higher is better.
HEADLINE: dict[str, list[tuple[str, str]]] = {
    "W1": [("p50_ms", "lower"), ("p95_ms", "lower")],
    "W2": [
        ("wf_per_s", "higher"),
        ("act_per_s", "higher"),
        ("server_cpu_s", "lower"),
        ("worker_cpu_s", "lower"),
        ("total_cpu_s", "lower"),
        ("server_peak_rss_mb", "lower"),
        ("worker_peak_rss_mb", "lower"),
    ],
    "W3": [("ms_per_activity", "lower")],
    "W4": [("recovery_s", "lower"), ("wrong_results", "lower"), ("reexecuted_steps", "lower")],
    "W6": [("recovery_s", "lower"), ("replay_events_per_s", "higher"), ("recovery_events_per_s", "higher")],
    "W7": [
        ("k500_s", "lower"),
        ("k5000_s", "lower"),
        ("k500_ms_per_activity", "lower"),
        ("k5000_ms_per_activity", "lower"),
    ],
    "W14": [
        ("child_p50_ms", "lower"),
        ("k100_ms_per_child", "lower"),
        ("k1000_ms_per_child", "lower"),
        ("fan_out_linearity", "lower"),
    ],
    "W9": [
        ("1kb_p50_ms", "lower"),
        ("100kb_p50_ms", "lower"),
        ("1mb_p50_ms", "lower"),
        ("2mb_p50_ms", "lower"),
        ("1mb_db_bytes_per_wf", "lower"),
    ],
    "W5": [
        ("starts_per_s", "higher"),
        ("server_peak_rss_mb", "lower"),
        ("worker_peak_rss_mb", "lower"),
        ("describe_ms", "lower"),
        ("list_ms", "lower"),
    ],
    "W8": [("wf_per_s", "higher"), ("longest_gap_s", "lower"), ("server_peak_rss_mb", "lower")],
    "W10": [("p50_ms", "lower"), ("p99_ms", "lower")],
    # update_rt_*: an update's round trip (validator, Accepted and Completed recorded, the result answered).
    "W11": [
        ("query_p50_ms", "lower"),
        ("query_p99_ms", "lower"),
        ("update_rt_p50_ms", "lower"),
        ("update_rt_p99_ms", "lower"),
    ],
    "CLI": [("help_ms", "lower"), ("list_ms", "lower"), ("describe_ms", "lower")],
    # la_*: one local activity round trip inside the workflow (from one's run to the next's), no server trip.
    "W13": [("la_p50_ms", "lower"), ("la_p99_ms", "lower"), ("la_mean_ms", "lower")],
    "W12": [
        ("signals_per_s", "higher"),
        ("signal_ack_p50_ms", "lower"),
        ("complete_after_last_signal_s", "lower"),
        ("replay_us_per_event", "lower"),
        ("server_cpu_s", "lower"),
    ],
    "W15": [("runs_per_s", "higher"), ("list_page_1000_p50_ms", "lower"), ("list_first_20_ms", "lower")],
    "W16": [("wall_s", "lower")],
    "W17": [("replay_events_per_s", "higher"), ("replay_events_per_cpu_s", "higher")],
    "W18": [("first_page_p50_ms", "lower"), ("count_by_status_p50_ms", "lower")],
    "W19": [("lag_p99_ms", "lower"), ("lag_p50_ms", "lower"), ("server_cpu_cores", "lower")],
    "BATCH": [("terminate_s", "lower"), ("runs_per_s", "higher")],
}

INSTALL_HINT = "install the benchmark dependencies: .venv/bin/pip install -e '.[bench]'"


def driver(engine: str) -> ModuleType:
    try:
        return importlib.import_module(f"engine_{engine}")
    except ImportError as e:
        raise SystemExit(f"cannot load the {engine} driver ({e}); {INSTALL_HINT}") from None


def one_run(engine: str, workload: str, n: int, run: int, opts: Options) -> Result:
    mod = driver(engine)
    started = datetime.datetime.now(datetime.UTC)
    t = time.monotonic()
    load = machine()["load_avg_1m"]
    try:
        res: Result = mod.run_once(workload, n, run, opts)
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        res = {"engine": engine, "workload": workload, "n": n, "run": run, "error": f"{type(e).__name__}: {e}"}
    if "run_total_s" not in res:
        res["run_total_s"] = time.monotonic() - t
    if workload == "W4" and "wf_done_before_kill" in res:
        # Did the kill leave work to recover? (At 1 s a fast engine may be nearly done: see --kill-after.)
        res["kill_landed_mid_run"] = res["wf_done_before_kill"] < n
    if "total_cpu_s" not in res and res.get("worker_cpu_s") is not None:
        res["total_cpu_s"] = sum(res.get(k) or 0.0 for k in ("server_cpu_s", "worker_cpu_s", "client_cpu_s"))
    res.update(
        started_at=started.isoformat(timespec="seconds"),
        load_avg_1m_before=load,
        versions=mod.version(),
        mainspring_commit=mainspring_commit(),
    )
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in res.items()}


# ----------------------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------------------


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def medians(rows: Sequence[Result]) -> dict[str, float]:
    keys: list[str] = []
    for r in rows:
        keys += [k for k, v in r.items() if _num(v) and k not in ("run", "load_avg_1m_before") and k not in keys]
    out = {}
    for k in keys:
        vs = [r[k] for r in rows if _num(r.get(k))]
        if vs:
            out[k] = statistics.median(vs)
    return out


def summarize(workload: str, by_engine: dict[str, list[Result]], out: Callable[[str], None]) -> None:
    for engine, rows in by_engine.items():
        ok = [r for r in rows if "error" not in r]
        failed = len(rows) - len(ok)
        ns = sorted({r["n"] for r in rows})
        out(
            f"SUMMARY {workload} {engine} n={','.join(map(str, ns))}: median [min..max] over {len(ok)} runs"
            + (f" ({failed} FAILED)" if failed else "")
        )
        if not ok:
            continue
        keys = [k for k in medians(ok) if k != "n"]
        for k in keys:
            vs = [r[k] for r in ok if _num(r.get(k))]
            out(f"  {k}: {_fmt(statistics.median(vs))} [{_fmt(min(vs))}..{_fmt(max(vs))}]")
        for flag in ("all_correct", "kill_landed_mid_run"):
            flags = [r[flag] for r in ok if flag in r]
            if flags:
                out(f"  {flag}: {sum(1 for f in flags if f)}/{len(flags)} runs")
        if any(r.get("kill_landed_mid_run") is False for r in ok):
            out("  WARNING: in some runs every workflow was done before the kill: lower --kill-after")
        na = sorted({k for r in ok for k, v in r.items() if v is None})
        if na:
            out(f"  not applicable: {', '.join(na)}")
    ms_rows = [r for r in by_engine.get("mainspring", []) if "error" not in r]
    others = [e for e in by_engine if e != "mainspring"]
    if not ms_rows or not others:
        return
    ms = medians(ms_rows)
    out(f"RATIOS {workload}: Mainspring / other engine (medians); 'better' follows the figure's direction")
    for key, direction in HEADLINE[workload]:
        parts = []
        for other in others:
            rows = [r for r in by_engine[other] if "error" not in r]
            o = medians(rows).get(key) if rows else None
            m = ms.get(key)
            parts.append(f"vs {other}: " + ratio_text(m, o, direction))
        out(f"  {key} ({direction} is better): " + "; ".join(parts))
    if workload == "W5":
        sizes = {e: sorted({r["n"] for r in rows}) for e, rows in by_engine.items()}
        out(f"  note: W5 n per engine {sizes}; RSS grows with n, so compare RSS at the same n")


def ratio_text(m: float | None, o: float | None, direction: str) -> str:
    if m is None or o is None:
        return f"n/a (mainspring {_na(m)}, other {_na(o)})"
    if o == 0 and m == 0:
        return "both 0"
    if o == 0:
        return f"mainspring {_fmt(m)} vs 0"
    r = m / o
    better = r < 1 if direction == "lower" else r > 1
    if r == 0:
        return f"{_fmt(r)}x (mainspring 0 vs {_fmt(o)})"
    factor = 1 / r if r < 1 else r
    word = "better" if better else "worse"
    if abs(r - 1) < 1e-9:
        return "1x (equal)"
    return f"{_fmt(r)}x ({_fmt(m)} vs {_fmt(o)}: Mainspring {factor:.3g}x {word})"


def _na(v: float | None) -> str:
    return "n/a" if v is None else _fmt(v)


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------


def _temporal_available() -> bool:
    try:
        driver("temporal").temporal_bin()
    except (SystemExit, RuntimeError):
        return False
    return True


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="+", metavar="WORKLOAD", help="W1 .. W17, BATCH, CLI (or 'all' for W1-W4)")
    ap.add_argument(
        "--engine",
        default=None,
        help="mainspring, temporal, dbos, all, or a comma list (default: mainspring; for CLI alone, mainspring "
        "and temporal when a temporal binary is installed)",
    )
    ap.add_argument(
        "--n",
        type=int,
        default=None,
        help=(
            "workload size (default: W1 50, W2 1000, W3 200, W4 200, W5 per engine, W6 30000, "
            "W7 10000 (largest K), W8 10000 per batch, W9 5 per size, W10 200 signal round trips, W11 500 "
            "queries, W12 1000 signals, W13 1000 local activities, W14 200 children in a row (and fan-outs of "
            "K <= 5n), W15 10000 continue-as-new runs, W17 10000 sequential activities (Temporal 1000), BATCH 10000 "
            "waiting workflows batch-terminated (Mainspring only), CLI 15 per command)"
        ),
    )
    ap.add_argument("--runs", type=int, default=3, help="runs per engine and workload (default 3)")
    ap.add_argument("--kill-after", type=float, default=1.0, help="W4: kill the worker no sooner than this (s)")
    ap.add_argument("--act-timeout", type=float, default=5.0, help="activities' start_to_close_timeout (s)")
    ap.add_argument("--w5-concurrency", type=int, default=100, help="W5: starts in flight at once")
    ap.add_argument("--w5-samples", type=int, default=20, help="W5: describe/list calls per median")
    ap.add_argument(
        "--mainspring-client-timeout",
        type=float,
        default=300.0,
        help="Mainspring: Client.connect(timeout=...) in s; 0 = Mainspring's default (10 s). Default 300",
    )
    ap.add_argument(
        "--w6-kill-events", type=int, default=75_000, help="W6: kill the worker once the history holds this many events"
    )
    ap.add_argument("--w12-in-flight", type=int, default=100, help="W12: signals in flight at once (default 100)")
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="store Mainspring's and DBOS's state in PostgreSQL: a throwaway cluster (default settings, fsync on) "
        "started for the run, a fresh database per engine run; its CPU is reported as pg_cpu_s",
    )
    ap.add_argument(
        "--servers",
        type=int,
        default=1,
        help="with --postgres: this many Mainspring servers on the one database (the first holds the store, the "
        "others are standbys); client and worker get every address; their CPU is reported as standby_cpu_s",
    )
    ap.add_argument("--keep-files", action="store_true", help="keep databases and logs (in $BENCH_RUNDIR)")
    ap.add_argument("--out", default=None, help="also append each run's JSON object to this file")
    a = ap.parse_args(argv)
    wls: list[str] = []
    for w in a.workloads:
        w = w.upper()
        if w == "ALL":
            wls += ["W1", "W2", "W3", "W4"]
        elif w in WORKLOADS:
            wls.append(w)
        else:
            ap.error(f"unknown workload {w!r}: choose from {', '.join(WORKLOADS)} or all")
    a.workloads = wls
    if a.engine is None:
        # The CLI's start-up is compared with Temporal's in the same run, where its binary is at hand.
        a.engine = "mainspring,temporal" if set(wls) == {"CLI"} and _temporal_available() else "mainspring"
    engines = list(ENGINES) if a.engine == "all" else [e.strip() for e in a.engine.split(",")]
    for e in engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r}: choose from {', '.join(ENGINES)} or all")
    a.engines = engines
    if a.runs < 1 or (a.n is not None and a.n < 1) or a.w12_in_flight < 1:
        ap.error("--runs, --n and --w12-in-flight must be at least 1")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    opts = Options(
        kill_after=a.kill_after,
        act_timeout_s=a.act_timeout,
        w5_concurrency=a.w5_concurrency,
        w5_samples=a.w5_samples,
        w6_kill_events=a.w6_kill_events,
        keep_files=a.keep_files,
        mainspring_client_timeout=a.mainspring_client_timeout or None,
        w12_in_flight=a.w12_in_flight,
        servers=a.servers,
    )
    if a.servers < 1 or (a.servers > 1 and not a.postgres):
        raise SystemExit("--servers N needs N >= 1, and --postgres for more than one (SQLite has one server)")
    for e in a.engines:
        driver(e)  # fail early if an engine's packages are missing
    if a.postgres:
        from pgcluster import PgCluster

        cluster = PgCluster().start()
        try:
            return _main(a, dataclasses.replace(opts, postgres_url=cluster.new_database), cluster)
        finally:
            cluster.stop()
    return _main(a, opts, None)


def _main(a: argparse.Namespace, opts: Options, cluster: Any) -> int:
    print("# machine: " + json.dumps(machine()), flush=True)
    print(f"# rundir: {rundir()}  mainspring commit: {mainspring_commit()}", flush=True)
    failed = 0
    for workload in a.workloads:
        by_engine: dict[str, list[Result]] = {}
        for engine in a.engines:
            n = a.n or default_n(engine, workload)
            t = time.monotonic()
            for run in range(a.runs):
                run_opts, pg_before = opts, 0.0
                if cluster is not None:  # the database made first: its creation is not the engine's cost
                    url = cluster.new_database()
                    run_opts = dataclasses.replace(opts, postgres_url=lambda url=url: url)
                    pg_before = cluster.backend_cpu_s()
                res = one_run(engine, workload, n, run, run_opts)
                if cluster is not None and engine != "temporal":
                    res["pg_cpu_s"] = round(cluster.backend_cpu_s() - pg_before, 2)
                failed += "error" in res
                line = json.dumps(res)
                print(line, flush=True)
                if a.out:
                    with open(a.out, "a") as f:
                        f.write(line + "\n")
                by_engine.setdefault(engine, []).append(res)
            print(f"# {engine} {workload}: {a.runs} runs took {time.monotonic() - t:.1f}s", flush=True)
        summarize(workload, by_engine, lambda s: print(s, flush=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
