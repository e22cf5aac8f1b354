"""Smoke test of the benchmark suite: every workload runs end to end, small, through ``bench/run.py``.

Real processes only (``mainspring server start-dev``, the worker scripts, Temporal's dev server, DBOS on
SQLite), as the suite runs them. The JSON figures must be there and the results correct; the speed
figures themselves are never asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

RUN = ROOT / "bench" / "run.py"

#: The figures each workload must report, under the reference scripts' names.
FIGURES = {
    "W1": ["p50_ms", "p95_ms"],
    "W2": [
        "wf_per_s",
        "act_per_s",
        "server_cpu_s",
        "worker_cpu_s",
        "server_peak_rss_mb",
        "worker_peak_rss_mb",
        "wall_s",
    ],
    "W3": ["ms_per_activity", "wall_s"],
    "W4": ["recovery_s", "wrong_results", "reexecuted_steps", "step_executions", "new_worker_ready_s"],
    "W5": ["starts_per_s", "server_peak_rss_mb", "worker_peak_rss_mb", "describe_ms", "list_ms", "all_waiting_s"],
    "W6": ["recovery_s", "replay_events_per_s", "recovery_events_per_s", "events_at_kill"],
    "W8": ["wf_per_s", "longest_gap_s", "server_peak_rss_mb", "worker_peak_rss_mb", "wall_s"],
    # At the small n below: one K (n itself) and one workflow per payload size.
    "W7": ["k50_s", "k50_ms_per_activity", "k50_workflow_tasks"],
    "W9": ["1kb_p50_ms", "1mb_p50_ms", "2mb_p50_ms", "1mb_db_bytes_per_wf", "1mb_db_copies_per_wf"],
    "W10": ["p50_ms", "p99_ms", "signal_p50_ms", "queries_per_round_trip"],
    "W11": ["query_p50_ms", "query_p99_ms", "update_rt_p50_ms"],
    "W12": [
        "signals_per_s",
        "signal_ack_p50_ms",
        "complete_after_last_signal_s",
        "replay_us_per_event",
        "history_length",
    ],
    "W13": ["la_p50_ms", "la_p99_ms", "la_mean_ms", "wall_s"],
    "W14": ["child_p50_ms", "child_p99_ms", "k10_s", "k10_ms_per_child"],
    "W15": ["runs_per_s", "list_page_1000_p50_ms", "list_first_20_ms", "events_per_run"],
    "W17": ["replay_events_per_s", "replay_events_per_cpu_s", "replay_linearity", "history_length", "replays"],
    "BATCH": ["terminate_s", "runs_per_s", "setup_s"],
    "CLI": ["help_ms", "list_ms", "describe_ms", "help_min_ms", "python_ms"],
}


def bench(tmp_path: Path, *args: str, timeout: float = 200) -> tuple[list[dict[str, Any]], str]:
    """Run bench/run.py; return its JSON objects and its whole stdout. Fails if it exits non-zero."""
    proc = subprocess.run(
        [sys.executable, str(RUN), *args, "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "BENCH_RUNDIR": str(tmp_path)},
    )
    print(proc.stdout)
    print(proc.stderr[-5000:], file=sys.stderr)
    assert proc.returncode == 0, f"bench/run.py {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-5000:]}"
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return rows, proc.stdout


def check_row(row: dict[str, Any], engine: str, workload: str, n: int) -> None:
    assert "error" not in row, row
    assert (row["engine"], row["workload"], row["n"], row["run"]) == (engine, workload, n, 0)
    for key in FIGURES[workload]:
        assert key in row, f"{engine} {workload}: no {key!r} in {row}"
        value = row[key]
        if engine == "dbos" and key.startswith("server_"):
            assert value is None  # DBOS has no server
        else:
            assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
            assert value >= 0, (key, value)
    assert row["versions"], row


@pytest.mark.parametrize(
    ("workload", "n", "extra"),
    [
        ("W1", 3, []),
        ("W2", 20, []),
        ("W3", 10, []),
        # Kill as soon as every start is acknowledged and a step has run, so the crash lands mid-run.
        ("W4", 10, ["--kill-after", "0"]),
        ("W5", 200, ["--w5-samples", "5"]),
        # Killed past a page of history (1,000 events), so the fresh worker has to fetch pages.
        ("W6", 500, ["--w6-kill-events", "1500"]),
        ("W8", 30, []),
        ("W7", 50, []),
        ("W9", 1, []),
        ("W10", 5, []),
        ("W11", 5, []),
        ("W12", 200, []),
        ("W13", 50, []),
        ("W14", 10, []),
        ("W15", 100, []),
        ("W17", 100, []),
        ("BATCH", 100, []),
    ],
)
def test_mainspring_workload(tmp_path: Path, workload: str, n: int, extra: list[str]) -> None:
    rows, out = bench(tmp_path, workload, "--engine", "mainspring", "--n", str(n), *extra)
    assert len(rows) == 1
    row = rows[0]
    check_row(row, "mainspring", workload, n)
    assert f"SUMMARY {workload} mainspring n={n}" in out
    if workload == "W2":
        assert row["act_per_s"] == pytest.approx(3 * row["wf_per_s"], rel=1e-3)
    if workload == "W4":
        # Every workflow returned exactly its five steps, and every step ran at least once.
        assert row["wrong_results"] == 0, row["wrong_examples"]
        assert row["all_correct"] is True
        assert row["unique_steps"] == 5 * n
        assert row["step_executions"] == row["unique_steps"] + row["reexecuted_steps"]
        assert row["recovery_s"] <= row["recovery_from_spawn_s"]
        # --kill-after 0: the worker died with work left, so the new worker really recovered something.
        assert row["kill_landed_mid_run"] is True, row
    if workload == "W5":
        assert row["server_rss_mb"] > 0 and row["worker_rss_mb"] > 0
        assert "all 200" in row["waiting_check"]
    if workload == "W6":
        assert row["events_at_kill"] >= 1500
    if workload == "W12":
        assert row["all_delivered_in_order"] is True and row["signals_recorded"] == n
    if workload == "W17":
        assert row["history_length"] == 6 * n + 5 and row["replays"] == 5  # W3's workflow: 6 events a step
    if workload == "W8":
        assert row["batches"] == 3 and len(row["batch_wf_per_s"]) == 3
    # Nothing is left behind in the run folder.
    assert not list(tmp_path.glob("*.db")), list(tmp_path.iterdir())


def test_all_engines_w1_and_ratios(tmp_path: Path) -> None:
    rows, out = bench(tmp_path, "W1", "--engine", "all", "--n", "3")
    assert [r["engine"] for r in rows] == ["mainspring", "temporal", "dbos"]
    for r in rows:
        check_row(r, r["engine"], "W1", 3)
    assert "RATIOS W1" in out
    ratio_lines = [line for line in out.splitlines() if line.strip().startswith(("p50_ms", "p95_ms"))]
    assert any("vs temporal" in line and "vs dbos" in line for line in ratio_lines), out


def test_temporal_and_dbos_w2(tmp_path: Path) -> None:
    rows, _ = bench(tmp_path, "W2", "--engine", "temporal,dbos", "--n", "10")
    assert [r["engine"] for r in rows] == ["temporal", "dbos"]
    for r in rows:
        check_row(r, r["engine"], "W2", 10)


def test_cli_workload_runs_both_clis_in_one_run(tmp_path: Path) -> None:
    # No --engine: the CLI workload alone pairs mainspring with temporal (installed with the bench extra).
    rows, out = bench(tmp_path, "cli", "--n", "2")
    assert [r["engine"] for r in rows] == ["mainspring", "temporal"]
    for r in rows:
        check_row(r, r["engine"], "CLI", 2)
    assert "RATIOS CLI" in out and "list_ms (lower is better): vs temporal" in out
    assert not list(tmp_path.glob("*.db")), list(tmp_path.iterdir())


def test_unknown_workload_is_refused() -> None:
    proc = subprocess.run([sys.executable, str(RUN), "W99"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "unknown workload 'W99'" in proc.stderr
