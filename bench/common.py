"""What the three engine drivers share: options, default sizes, child processes, step logs, machine facts."""

from __future__ import annotations

import contextlib
import itertools
import os
import platform
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PY = sys.executable

ENGINES = ("mainspring", "temporal", "dbos")
WORKLOADS = (
    "W1",
    "W2",
    "W3",
    "W4",
    "W5",
    "W6",
    "W7",
    "W8",
    "W9",
    "W10",
    "W11",
    "W12",
    "W13",
    "W14",
    "W15",
    "W16",
    "W17",
    "W18",
    "W19",
    "BATCH",
    "CLI",
)

#: The default n of each workload. W5's default is per engine (see W5_DEFAULT_N).
DEFAULT_N = {
    "W1": 50,
    "W2": 1000,
    "W3": 200,
    "W4": 200,
    "W6": 30_000,
    "W7": 10_000,
    "W8": 10_000,
    "W9": 5,
    "W10": 200,
    "W11": 500,
    "CLI": 15,
    "W12": 1000,
    "W15": 10_000,
    "W13": 1000,
    "W14": 200,
    "W16": 1000,
    "W17": 10_000,
    "W18": 1_000_000,
    "W19": 10_000,
    "BATCH": 10_000,
}
#: W5 (workflows waiting on a one-hour timer): 100,000 for Mainspring, as the issue asks. Temporal's dev
#: server starts only a few dozen workflows a second here and DBOS keeps every waiting workflow as a task
#: in its one process, so their default is smaller; the figures say which n they were measured at.
W5_DEFAULT_N = {"mainspring": 100_000, "temporal": 1_000, "dbos": 1_000}
#: W17 (a long history replayed): 10,000 steps make 60,000 events on Mainspring. Temporal takes ~45 ms a step
#: on its dev server and caps a history at 51,200 events, so its default is 1,000 steps (~6,000 events).
W17_DEFAULT_N = {"mainspring": 10_000, "temporal": 1_000, "dbos": 1_000}

#: W7 (one workflow gathering K activities): each K up to n is measured, one fresh workflow each.
W7_KS = (500, 5_000, 10_000)
#: W14 (child workflows): n children one after another (start-to-result of each, from the parent's history),
#: then one parent starting K children at once, for each K here up to 5 x n (n itself if none is).
W14_KS = (100, 1_000)


def w14_ks(n: int) -> list[int]:
    """The K's of W14's fan-out at chain length ``n`` (the default n, 200, gives 100 and 1,000)."""
    return [k for k in W14_KS if k <= 5 * n] or [n]


#: W9 (one activity echoing a payload): the payload sizes (bytes of the string); n workflows of each.
W9_SIZES = (1_000, 100_000, 1_000_000, 2_000_000)


def w14_figures(spans_ms: Sequence[float], times: dict[int, float]) -> Result:
    """W14's figures: each child's start-to-result (its Initiated event to its Completed event in the parent's
    history), and for each K of children started at once the total and ms per child, and the ratio of the
    largest K's ms per child to the smallest's (1.0: linear)."""
    out: Result = latency_figures(spans_ms, "child_")
    for k, s in sorted(times.items()):
        out[f"k{k}_s"] = s
        out[f"k{k}_ms_per_child"] = s * 1000 / k
    if len(times) > 1:
        ks = sorted(times)
        out["fan_out_linearity"] = (times[ks[-1]] / ks[-1]) / (times[ks[0]] / ks[0])
    return out


def w7_figures(times: dict[int, float]) -> Result:
    """W7's figures from {K: seconds}: each K's total and ms per activity, and the ratio of the largest
    K's ms per activity to the smallest's (1.0: linear)."""
    out: Result = {}
    for k, s in sorted(times.items()):
        out[f"k{k}_s"] = s
        out[f"k{k}_ms_per_activity"] = s * 1000 / k
    if len(times) > 1:
        lo, hi = min(times), max(times)
        out[f"ratio_ms_per_activity_k{hi}_vs_k{lo}"] = (times[hi] / hi) / (times[lo] / lo)
    return out


def latency_figures(lat_ms: Sequence[float], prefix: str = "") -> Result:
    """p50, p99, mean and max of latencies in ms (W10, W11), each key after ``prefix``."""
    return {
        f"{prefix}p50_ms": pct(lat_ms, 0.5),
        f"{prefix}p99_ms": pct(lat_ms, 0.99),
        f"{prefix}mean_ms": statistics.mean(lat_ms),
        f"{prefix}max_ms": max(lat_ms),
    }


def sqlite_used_bytes(path: str | Path) -> int:
    """Bytes of a SQLite database in use (pages less free pages), as committed now, also in its
    write-ahead log; read with a read-only connection beside the process that writes it."""
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)
    finally:
        conn.close()


#: Each W4 step sleeps this long.
W4_STEP_SECONDS = 0.05
W4_STEPS = 5

Result = dict[str, Any]


@dataclass
class Options:
    """Knobs shared by all engines (set from run.py's command line)."""

    #: W4: SIGKILL the worker this many seconds after the first start at the earliest (the reference
    #: rule: max(first start + kill_after, all starts acknowledged, a step has run)).
    kill_after: float = 1.0
    #: Activities' start_to_close_timeout, as in the reference scripts (Temporal requires one).
    act_timeout_s: float = 5.0
    #: W5: how many starts are in flight at once.
    w5_concurrency: int = 100
    #: W5: how many describe and list calls the medians are taken over.
    w5_samples: int = 20
    #: W6: SIGKILL the worker once the history holds this many events (or half of its last length, if smaller).
    w6_kill_events: int = 75_000
    #: Keep databases, logs and step logs after a run (else they are deleted).
    keep_files: bool = False
    #: Mainspring: the ``timeout`` given to ``Client.connect`` (None: Mainspring's default, 10 s). The
    #: client's pool has 200 connections and a request's timeout includes the time it waits for one, so
    #: with the default, W2's 1,000 concurrent start->result fail while result long-polls hold the pool.
    mainspring_client_timeout: float | None = 300.0
    #: W12: how many signals are in flight at once.
    w12_in_flight: int = 100
    #: ``run.py --postgres``: gives a fresh database's URL on the run's PostgreSQL cluster, for each engine
    #: run that stores its state there (Mainspring's server, DBOS's system database); None: SQLite files.
    postgres_url: Callable[[], str] | None = None
    #: ``run.py --servers N`` (with ``--postgres``): Mainspring servers on the one database, the first
    #: holding the store and the others standbys; the client and worker are given every address.
    servers: int = 1


def default_n(engine: str, workload: str) -> int:
    if workload == "W5":
        return W5_DEFAULT_N[engine]
    if workload == "W17":
        return W17_DEFAULT_N[engine]
    return DEFAULT_N[workload]


def rundir() -> Path:
    """Where databases, logs and step logs go: $BENCH_RUNDIR, else a folder in the temp dir (on disk here)."""
    d = Path(os.environ.get("BENCH_RUNDIR") or Path(tempfile.gettempdir()) / "mainspring-bench")
    d.mkdir(parents=True, exist_ok=True)
    return d


def run_tag(engine: str, workload: str, run: int) -> str:
    return f"{engine}-{workload.lower()}-r{run}-{os.getpid()}-{int(time.time() * 1000)}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: Sequence[float], q: float) -> float:
    """The q-quantile with linear interpolation (the reference scripts' definition)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def remove_files(*paths: Path | str) -> None:
    for p in paths:
        for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
            with contextlib.suppress(OSError):
                os.remove(str(p) + suffix)


# ----------------------------------------------------------------------------------------------------
# Child processes
# ----------------------------------------------------------------------------------------------------


def cli_timings(commands: dict[str, list[str]], n: int, env: dict[str, str] | None = None) -> Result:
    """CLI: the wall time of each command (a fresh process each time, output discarded), ``n`` times, the
    commands taking turns so that a busy moment of the machine falls on all of them alike. The median and
    the minimum of each in ms (``{name}_ms``, ``{name}_min_ms``), and ``python_ms``: a bare ``python -c
    pass`` timed the same way, the floor under any Python CLI on this machine."""
    full_env = {**os.environ, **(env or {})}
    commands = {**commands, "python": [PY, "-c", "pass"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # once each first (not measured): files into the page cache
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=full_env, timeout=60)
    for _ in range(n):
        for name, argv in commands.items():
            t = time.perf_counter()
            r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env, timeout=60)
            times[name].append((time.perf_counter() - t) * 1000)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    res: Result = {}
    for name, ts in times.items():
        res[f"{name}_ms"] = statistics.median(ts)
        res[f"{name}_min_ms"] = min(ts)
    return res


class Child:
    """A child process whose stdout is read line by line (for READY/RESULT lines); stderr goes to a log."""

    def __init__(self, argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.log_path = log
        self.spawned_at = time.time()
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_line(self, prefix: str, timeout: float) -> str:
        """The next stdout line that starts with ``prefix``; RuntimeError if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{self.argv[1]}: no {prefix!r} line within {timeout}s; log: {self.tail()}")
            try:
                line = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(
                    f"{self.argv[1]} exited (rc={self.proc.wait()}) before printing {prefix!r}; log: {self.tail()}"
                )
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def stopping(children: list[Child]) -> Iterator[list[Child]]:
    """Stop every child in the list (newest first) on the way out, whatever happened."""
    try:
        yield children
    finally:
        for c in reversed(children):
            c.stop()


# ----------------------------------------------------------------------------------------------------
# W4's side-effect log
# ----------------------------------------------------------------------------------------------------


def append_step(log: str | None, workflow_id: str, step: int) -> None:
    """One line per *execution* of a step, so re-executions can be counted."""
    if not log:
        return
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{workflow_id} {step}\n".encode())
    finally:
        os.close(fd)


def step_lines(path: Path) -> list[tuple[str, ...]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [tuple(line.split()) for line in text.splitlines() if len(line.split()) == 2]


def expected_w4(workflow_id: str) -> list[str]:
    return [f"{workflow_id}:step{i}" for i in range(W4_STEPS)]


def w4_figures(step_log: Path, n: int, results: dict[str, Any], ids: Sequence[str]) -> Result:
    """Correctness and re-execution figures of a W4 run, the same for every engine."""
    bad = [w for w in ids if results.get(w) != expected_w4(w)]
    lines = step_lines(step_log)
    uniq = len(set(lines))
    return {
        "wrong_results": len(bad),
        "wrong_examples": {w: results.get(w) for w in bad[:3]},
        "step_executions": len(lines),
        "unique_steps": uniq,
        "reexecuted_steps": len(lines) - uniq,
        "all_correct": not bad and uniq == W4_STEPS * n,
    }


def w4_wait_for_kill(t0: float, kill_after: float, started: bool, step_log: Path, deadline_s: float = 60.0) -> None:
    """Wait until it is time to kill the worker: first start + kill_after, and a step has run.

    The caller has already waited for all starts to be acknowledged (``started``), so no start is lost.
    """
    assert started
    time.sleep(max(0.0, t0 + kill_after - time.time()))
    end = time.time() + deadline_s
    while not step_lines(step_log) and time.time() < end:
        time.sleep(0.005)


# ----------------------------------------------------------------------------------------------------
# About the machine and the code measured
# ----------------------------------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def mainspring_commit() -> str:
    """The commit of the Mainspring code being measured ("-dirty" if src/ has changes); $MAINSPRING_COMMIT wins.

    When mainspring is imported from somewhere else than this repository's src/ (an installed copy),
    say so instead of guessing.
    """
    if os.environ.get("MAINSPRING_COMMIT"):
        return os.environ["MAINSPRING_COMMIT"]
    import mainspring

    src = Path(mainspring.__file__).resolve().parent
    if not src.is_relative_to(ROOT / "src"):
        return f"unknown (mainspring from {src})"
    head = _git("rev-parse", "--short=12", "HEAD")
    dirty = _git("status", "--porcelain", "--", "src")
    return head + ("-dirty" if dirty else "") if head else "unknown"


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


# ----------------------------------------------------------------------------------------------------
# W8: bursts
# ----------------------------------------------------------------------------------------------------

#: W8 runs this many batches of n one-activity workflows; each batch is started W8_CHUNK at a time.
W8_BATCHES = 3
W8_CHUNK = 200


async def w8_burst(start: Any, n: int, *, batches: int = W8_BATCHES, chunk: int = W8_CHUNK) -> Result:
    """W8, the same for every engine with an async client: ``await start(i)`` starts workflow ``i`` and
    returns an awaitable of its result (``"Hello, {i}!"``).

    Each batch is started ``chunk`` at a time (the next chunk once the previous one's starts are
    acknowledged), every start's client awaits its result as soon as it has its handle, and the batch
    is over when all its results are in; then the next batch. Reported: the overall rate, the longest
    window without a completion (from the first start to the last result), and per-batch rates.
    """
    import asyncio

    done_at: list[float] = []
    batch_rates: list[float] = []
    wrong = 0

    async def wait(i: int, result: Any) -> None:
        nonlocal wrong
        r = await result
        done_at.append(time.perf_counter())
        if r != f"Hello, {i}!":
            wrong += 1

    t0 = time.perf_counter()
    for b in range(batches):
        tb = time.perf_counter()
        waiting: list[asyncio.Task[None]] = []
        for lo in range(0, n, chunk):
            ids = range(b * n + lo, b * n + min(lo + chunk, n))
            results = await asyncio.gather(*(start(i) for i in ids))
            waiting += [asyncio.create_task(wait(i, r)) for i, r in zip(ids, results, strict=True)]
        await asyncio.gather(*waiting)
        batch_rates.append(n / (time.perf_counter() - tb))
        print(f"  [W8] batch {b + 1}: {batch_rates[-1]:.0f} wf/s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    if wrong:
        raise AssertionError(f"W8: {wrong} of {n * batches} results are wrong")
    marks = [t0, *sorted(done_at)]
    gap = max(b - a for a, b in itertools.pairwise(marks))
    return {
        "wall_s": wall,
        "wf_per_s": n * batches / wall,
        "longest_gap_s": gap,
        "batch_wf_per_s": [round(r) for r in batch_rates],
        "batches": batches,
        "chunk": chunk,
    }


# ----------------------------------------------------------------------------------------------------
# W12: many signals into one workflow
# ----------------------------------------------------------------------------------------------------

#: W12: the signals in flight at once (the next is sent as soon as one is acknowledged).
W12_IN_FLIGHT = 100


async def w12_send(send: Any, n: int, in_flight: int = W12_IN_FLIGHT) -> Result:
    """W12, the same for every engine with an async client: ``await send(i)`` sends signal ``i`` (payload
    ``i``) and returns once the server acknowledged it. ``in_flight`` senders take the next ``i`` as soon as
    theirs is acknowledged. Reported: the rate from the first send to the last acknowledgement, and the
    latency of one signal (send to acknowledgement, with the others in flight)."""
    import asyncio

    next_i = 0
    lat: list[float] = []

    async def sender() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            t = time.perf_counter()
            await send(i)
            lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(min(in_flight, n))))
    wall = time.perf_counter() - t0
    return {
        "send_wall_s": wall,
        "signals_per_s": n / wall,
        "signal_ack_p50_ms": pct(lat, 0.5),
        "signal_ack_p95_ms": pct(lat, 0.95),
        "in_flight": min(in_flight, n),
    }


def w12_check(seen: list[int], recorded: list[int], n: int) -> Result:
    """W12's checks: the order the workflow's handler saw (its result) is the order history recorded the
    signals in, and every one of the n is there once. Raises if not."""
    if sorted(recorded) != list(range(n)):
        missing = sorted(set(range(n)) - set(recorded))
        raise AssertionError(
            f"W12: history holds {len(recorded)} signals, not each of 0..{n - 1} once (missing {missing[:10]})"
        )
    if seen != recorded:
        first = next(
            (i for i, (a, b) in enumerate(zip(seen, recorded, strict=False)) if a != b), min(len(seen), len(recorded))
        )
        raise AssertionError(
            f"W12: the handler saw the signals in another order than history (first difference at {first})"
        )
    # How far the recorded order is from the order they were sent in (concurrent sends may pass each other).
    out_of_send_order = sum(1 for a, b in itertools.pairwise(recorded) if b < a)
    return {"all_delivered_in_order": True, "signals_recorded": len(recorded), "recorded_descents": out_of_send_order}


def half_cut(events: Sequence[Any], started: Any, type_of: Any = lambda e: e["event_type"]) -> int:
    """Where to cut a history for its first half: just after the first WorkflowTaskStarted (``started``) at or
    past the middle, as a worker sees a history when it runs a workflow task."""
    for i in range(len(events) // 2, len(events)):
        if type_of(events[i]) == started:
            return i + 1
    return len(events)


# ----------------------------------------------------------------------------------------------------
# W13: local activities in a row, inside one workflow
# ----------------------------------------------------------------------------------------------------


def w13_figures(stamps: Sequence[float]) -> Result:
    """W13's figures from the ``time.perf_counter()`` each of n sequential local activities returned (all
    in the worker's process): one local activity round trip, measured inside the workflow, is the time from
    one activity's run to the next's (its outcome recorded, the workflow code resumed, the next one run).
    Reported: p50 and p99 of those gaps, and the mean (first to last / (n - 1))."""
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]
    if not gaps:
        raise AssertionError("W13 needs n >= 2")
    return {
        "la_p50_ms": pct(gaps, 0.5),
        "la_p99_ms": pct(gaps, 0.99),
        "la_mean_ms": (stamps[-1] - stamps[0]) * 1000 / len(gaps),
    }


# ----------------------------------------------------------------------------------------------------
# W17: a long history replayed
# ----------------------------------------------------------------------------------------------------

#: W17: how many times each history is replayed; the figures are the medians.
W17_REPEATS = 5


def w17_figures(
    events: int, walls: Sequence[float], cpus: Sequence[float], half_events: int, half_walls: Sequence[float]
) -> Result:
    """W17's figures from the wall and CPU seconds of each replay of the whole history (``events`` long) and
    the wall seconds of each replay of its first half: events per second (medians; min and max of the wall
    rate too), and the linearity (the whole history's seconds per event / the first half's: 1 = linear)."""
    rates = [events / s for s in walls]
    full, half = statistics.median(walls), statistics.median(half_walls)
    return {
        "history_length": events,
        "replays": len(walls),
        "replay_events_per_s": statistics.median(rates),
        "replay_events_per_s_min": min(rates),
        "replay_events_per_s_max": max(rates),
        # On CPU time: on a shared machine, wall time also counts the time other processes had the core.
        "replay_events_per_cpu_s": statistics.median(events / s for s in cpus),
        "replay_ms": full * 1000,
        "replay_linearity": (full / events) / (half / half_events),
    }
