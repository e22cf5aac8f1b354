"""Fault tests: the server's disk fills up under load, a stored row is damaged, a second server is started
on the same database by another name. What was acknowledged is never lost, and the server carries on.

Everything is real: ``mainspring server start-dev`` on a SQLite file on a small tmpfs the test fills
(mounting needs root; the tests skip where it is not allowed), the worker ``tests/workers/fault_worker.py``
and ``crash_worker.py``. Each test prints what it saw; run with ``-s`` to read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from mainspring import Client, WorkflowStatus
from mainspring._time import rfc3339
from mainspring.server._state import ExecutionState, UnreadableStateError
from mainspring.storage import PendingItem
from support import PYTHON, ServerProcess, WorkerProcess, fill, free_port, run_cli, running, tmpfs, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only, pytest.mark.timeout(170)]

WORKERS = Path(__file__).resolve().parent / "workers"
NS = "/api/v1/namespaces/default"
STEPS = 4
#: Each step writes about twice this (see fault_worker.py): the disk fills in a few seconds of load.
PAD = "p" * 3000
#: How long the workflows started just before the disk fills sleep.
NAP = 6.0


# ====================================================================================================
# 1. A full disk during load loses nothing that was acknowledged
# ====================================================================================================


async def _starts(http: httpx.AsyncClient, tag: str, n: int, nap: float = 0.0) -> dict[str, int]:
    """Start ``n`` padded chains at once; workflow id -> the HTTP status of its start."""

    async def one(i: int) -> tuple[str, int]:
        wid = f"{tag}-{i}"
        body = {
            "workflow_id": wid,
            "workflow_type": "padded_chain",
            "task_queue": "faults",
            "input": {"id": wid, "steps": STEPS, "pad": PAD, "nap": nap},
        }
        r = await http.post(NS + "/workflows", json=body)
        return wid, r.status_code

    return dict(await asyncio.gather(*(one(i) for i in range(n))))


async def _each(items: list[str], probe: Any, limit: int = 16) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(item: str) -> Any:
        async with gate:
            return await probe(item)

    return await asyncio.gather(*(one(i) for i in items))


async def _all_runs(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    token = None
    while True:
        params = {"limit": "1000", **({"page_token": token} if token else {})}
        page = (await http.get(NS + "/workflows", params=params)).json()
        runs += page["executions"]
        token = page.get("next_page_token")
        if not token:
            return runs


async def _check_acknowledged(http: httpx.AsyncClient, acknowledged: list[str], refused: list[str], when: str) -> None:
    """Every acknowledged start is one run that completed with its exact result, each step recorded
    once and in order; no refused start left a run; nothing else exists."""
    deadline = time.monotonic() + 60
    while True:
        runs = await _all_runs(http)
        running = [r["workflow_id"] for r in runs if r["status"] == "RUNNING"]
        if not running:
            break
        assert time.monotonic() < deadline, f"{when}: {len(running)} runs still RUNNING after 60 s: {running[:5]}"
        await asyncio.sleep(0.5)
    ids = Counter(r["workflow_id"] for r in runs)
    lost, unexpected = sorted(set(acknowledged) - set(ids)), sorted(set(ids) - set(acknowledged))
    assert not lost and not unexpected, f"{when}: {len(lost)} lost {lost[:5]}, {len(unexpected)} unexpected"
    assert max(ids.values()) == 1, f"{when}: a workflow id has two runs"

    async def describe(wid: str) -> dict[str, Any]:
        r = await http.get(NS + "/workflows/describe", params={"workflow_id": wid})
        assert r.status_code == 200, (wid, r.status_code, r.text)
        return dict(r.json())

    for wid, d in zip(acknowledged, await _each(acknowledged, describe), strict=True):
        assert d["execution"]["status"] == "COMPLETED", (when, wid, d["execution"]["status"], d.get("failure"))
        assert d["result"] == f"{wid}:{STEPS}", (when, wid, d["result"])

    async def history(wid: str) -> list[dict[str, Any]]:
        r = await http.get(NS + "/workflows/history", params={"workflow_id": wid})
        assert r.status_code == 200, (wid, r.status_code, r.text)
        return list(r.json()["events"])

    for wid, events in zip(acknowledged, await _each(acknowledged, history), strict=True):
        scheduled = [e["attributes"]["input"]["value"] for e in events if e["event_type"] == "ActivityTaskScheduled"]
        completed = [e["attributes"]["result"] for e in events if e["event_type"] == "ActivityTaskCompleted"]
        assert scheduled == list(range(STEPS)), f"{when}: {wid}: steps scheduled {scheduled}"
        assert completed == list(range(1, STEPS + 1)), f"{when}: {wid}: steps recorded {completed}"
        fired = sum(1 for e in events if e["event_type"] == "TimerFired")
        assert fired == (1 if wid.startswith("napping") else 0), f"{when}: {wid}: {fired} timers fired"

    async def gone(wid: str) -> int:
        return (await http.get(NS + "/workflows/describe", params={"workflow_id": wid})).status_code

    statuses = Counter(await _each(refused, gone))
    assert set(statuses) <= {404}, f"{when}: refused starts left runs behind: {statuses}"


def _failed_transactions(log: str) -> tuple[int, int]:
    """Failed transactions and the changes lost with them, as the server logged them when writes went
    through again (the failures themselves are logged once, then every few seconds with a count)."""
    found = re.findall(r"after (\d+) failed transactions \((\d+) changes\)", log)
    return sum(int(t) for t, _ in found), sum(int(c) for _, c in found)


async def test_a_disk_that_fills_under_load_loses_no_acknowledged_start_step_or_result(tmp_path: Path) -> None:
    # The server's database is on a 16 MiB tmpfs. Under concurrent starts, with a worker running
    # four-step workflows, the test fills the file system: the server's writes fail (inside group
    # commits: many starts and steps share each transaction), then the space is freed. Every start
    # answered 201 must be there with every step and its exact result, with the server still up and
    # after a SIGKILL and restart; every start answered 503 must have left nothing.
    with tmpfs(tmp_path / "fs", "16m") as fs:
        server = ServerProcess(fs / "m.db", log_path=tmp_path / "server.log", extra_args=["--headless"])
        worker = WorkerProcess(WORKERS / "fault_worker.py", server.address, log_path=tmp_path / "worker.log")
        outcomes: dict[str, int] = {}
        with running(server, worker):
            server.start()
            worker.start()
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                outcomes |= await _starts(http, "before", 40)
                # Workflows that sleep first: their durable timers come due while the disk is full.
                outcomes |= await _starts(http, "napping", 20, nap=NAP)
                naps_due = time.monotonic() + NAP
                assert set(outcomes.values()) == {201}
                filler = fill(fs)
                # The database has some room left in its file and its log: starts go on succeeding for
                # a while. Then, once they fail, the load goes on for 8 s more (retries back off), and
                # until the timers have been due for a while.
                full_since = time.monotonic()
                failing_since = None
                wave = 0
                while failing_since is None or time.monotonic() < max(failing_since + 8, naps_due + 3):
                    assert time.monotonic() - full_since < 40, "the disk filled but no start failed in 40 s"
                    outcomes |= await _starts(http, f"full{wave}", 40)
                    wave += 1
                    if failing_since is None and 503 in outcomes.values():
                        failing_since = time.monotonic()
                    await asyncio.sleep(0.2)
                full_for = time.monotonic() - full_since
                filler.unlink()
                # The server takes work again, without a restart.
                for attempt in range(40):
                    after = await _starts(http, f"after{attempt}", 20)
                    outcomes |= after
                    if set(after.values()) == {201}:
                        break
                    await asyncio.sleep(0.5)
                else:
                    raise AssertionError("the server still refuses starts 20 s after the space came back")
                codes = Counter(outcomes.values())
                assert set(codes) <= {201, 429, 503}, codes
                acknowledged = sorted(w for w, c in outcomes.items() if c == 201)
                refused = sorted(w for w, c in outcomes.items() if c != 201)
                assert codes[503] > 0, "no start failed: the disk never filled, nothing was proven"
                await _check_acknowledged(http, acknowledged, refused, "with the server up")

                server.kill()
                server.start()
                await _check_acknowledged(http, acknowledged, refused, "after a SIGKILL and restart")
        log = server.log_path.read_text(errors="replace")
    tracebacks = log.count("Traceback")
    transactions, changes = _failed_transactions(log)
    timers = "a timer's write failed" if "timer handler fire failed" in log else "no timer's write failed"
    print(
        f"\n[full disk under load] {len(outcomes)} starts: {codes[201]} acknowledged, {codes[503]} refused with 503 "
        f"during {full_for:.1f} s of a full disk; {transactions} failed transactions lost {changes} changes "
        f"(starts, steps, timers: {timers}); server log: {len(log.splitlines())} lines, {tracebacks} tracebacks"
    )
    assert changes > transactions > 0, "no group commit failed"
    assert tracebacks < 10, f"the log holds {tracebacks} tracebacks:\n{log[-3000:]}"
    assert len(log.splitlines()) < 500, f"the log holds {len(log.splitlines())} lines:\n{log[-3000:]}"


def test_starting_on_a_file_system_too_small_for_the_database_says_so(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "2m") as fs:
        r = run_cli(
            "server",
            "start-dev",
            "--headless",
            "--port",
            str(free_port()),
            "--db-filename",
            str(fs / "m.db"),
            timeout=30,
        )
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert re.fullmatch(
        rf"Error: the database needs ~\d+ MiB free at {re.escape(str(fs))} \([\d,]+ KiB free\): "
        r"free some space or choose another --db-filename",
        lines[0],
    ), lines[0]
    assert "Ready" not in r.stdout


# ====================================================================================================
# 2. A damaged row is set aside at start-up, never a reason to exit
# ====================================================================================================


async def test_a_damaged_row_is_set_aside_and_the_server_runs_everything_else(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    server = ServerProcess(db, extra_args=["--headless"])
    args = ["--task-queue", "naps"]
    worker = WorkerProcess(WORKERS / "crash_worker.py", server.address, args=args, log_path=tmp_path / "w.log")
    with running(server, worker):
        server.start()
        worker.start()
        async with await Client.connect(server.address) as client:
            for wid in ("nap-null-timer", "nap-bad-json", "nap-far-future", "nap-healthy"):
                await client.start_workflow("nap_workflow", {"seconds": 600}, id=wid, task_queue="naps")
            for wid in ("nap-null-timer", "nap-bad-json", "nap-far-future", "nap-healthy"):
                await _eventually_timer(client, wid)
        server.stop()
        with contextlib.closing(sqlite3.connect(db)) as conn:

            def edit(wid: str, change: Any) -> str:
                run_id, state = conn.execute(
                    "SELECT run_id, state FROM executions WHERE workflow_id = ?", (wid,)
                ).fetchone()
                conn.execute("UPDATE executions SET state = ? WHERE run_id = ?", (change(state), run_id))
                return str(run_id)

            def timer_at(wid: str, fire: Any) -> str:
                # A pending timer is a row of its own: [started event id, fire time].
                (run_id,) = conn.execute("SELECT run_id FROM executions WHERE workflow_id = ?", (wid,)).fetchone()
                for key, value in conn.execute(
                    "SELECT key, value FROM pending WHERE run_id = ? AND kind = 't'", (run_id,)
                ).fetchall():
                    started, _ = json.loads(value)
                    conn.execute(
                        "UPDATE pending SET value = ? WHERE run_id = ? AND kind = 't' AND key = ?",
                        (json.dumps([started, fire]), run_id, key),
                    )
                return str(run_id)

            null_run = timer_at("nap-null-timer", None)  # what 1e309 was stored as
            bad_run = edit("nap-bad-json", lambda state: state[: len(state) // 2])
            timer_at("nap-far-future", 1e300)  # readable: must not make describe fail
            timer_at("nap-healthy", time.time() + 1)  # due in a second: it completes
            conn.commit()

        server.start()
        log = server.log()
        for wid, run_id, what in (
            ("nap-null-timer", null_run, "the fire time of timer '1' is null, not a finite number"),
            ("nap-bad-json", bad_run, "not valid JSON"),
        ):
            lines = [line for line in log.splitlines() if run_id in line and "set aside" in line]
            assert len(lines) == 1 and wid in lines[0] and what in lines[0], log
        async with await Client.connect(server.address) as client:
            healthy = await client.get_workflow_handle("nap-healthy").result()
            assert healthy["slept"] > 0
            fresh = await client.execute_workflow("nap_workflow", {"seconds": 0.2}, id="nap-new", task_queue="naps")
            assert fresh["slept"] >= 0.2
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                for wid, what in (("nap-null-timer", "timer '1' is null"), ("nap-bad-json", "not valid JSON")):
                    d = await http.get(NS + "/workflows/describe", params={"workflow_id": wid})
                    assert d.status_code == 200, d.text
                    body = d.json()
                    assert body["execution"]["status"] == "RUNNING" and what in body["problem"], body
                    for path in ("/workflows/history", "/workflows/result"):
                        r = await http.get(NS + path, params={"workflow_id": wid})
                        assert r.status_code == 200, (path, r.text)
                    cancel = await http.post(NS + "/workflows/cancel", json={"workflow_id": wid})
                    assert cancel.status_code == 400 and "set aside" in cancel.json()["message"], cancel.text
                far = (await http.get(NS + "/workflows/describe", params={"workflow_id": "nap-far-future"})).json()
                assert far["problem"] is None and far["pending_timers"][0]["fire_time"].startswith("9999-12-31T")
                listed = await http.get(NS + "/workflows", params={"limit": "100"})
                assert listed.status_code == 200 and len(listed.json()["executions"]) == 5
                # An operator closes a set-aside run by terminating it; its workflow id is free again.
                r = await http.post(NS + "/workflows/terminate", json={"workflow_id": "nap-bad-json", "reason": "bad"})
                assert r.status_code == 200, r.text
                d = (await http.get(NS + "/workflows/describe", params={"workflow_id": "nap-bad-json"})).json()
                assert d["execution"]["status"] == "TERMINATED" and d["problem"] is None, d
            again = await client.execute_workflow(
                "nap_workflow", {"seconds": 0.1}, id="nap-bad-json", task_queue="naps"
            )
            assert again["slept"] >= 0.1
        r = run_cli("workflow", "describe", "--workflow-id", "nap-null-timer", address=server.address)
        assert r.returncode == 0 and "set aside" in r.stdout, r.stdout + r.stderr
        server.stop()
        server.start()  # and again: the damaged row is still no reason to exit
        assert server.log().count(f"(run {null_run}) is set aside") == 2


def test_stored_values_out_of_range_are_read_without_failing() -> None:
    # Times RFC 3339 cannot write are written as the nearest it can (a read must not fail on them).
    assert rfc3339(1e300) == rfc3339(float("inf")) == "9999-12-31T23:59:59.000000Z"
    assert rfc3339(-1e300) == rfc3339(float("nan")) == "0001-01-01T00:00:00.000000Z"
    assert rfc3339(1700000000.25) == "2023-11-14T22:13:20.250000Z"
    # A state a server could not have written names what is wrong instead of failing later.
    good = {"wt": {"a": 1, "st": 1.0, "se": 2}}
    timer = PendingItem("t", "t", [3, 5.0])
    read = ExecutionState.from_stored(good, [timer])
    assert read.to_dict() == good and read.timers["t"].to_item() == [3, 5.0]
    for bad, items, what in (
        ({}, [PendingItem("t", "t", [3, None])], "the fire time of timer 't' is null, not a finite number"),
        ({"wt": {"a": 1, "st": "soon", "se": 2}}, [], 'the workflow task\'s scheduled time is "soon"'),
        ({"wt": {"a": 1}}, [], "the workflow task has no field 'st'"),
        ({}, [PendingItem("a", "5", {"id": "x"})], "activity 5 has no field"),
        ({}, [PendingItem("a", "five", {})], "activity 'five' is not keyed by an event id"),
        ({"act": {}}, [], "it holds 'act'"),
        ([], [], "the state is [], not an object"),
    ):
        with pytest.raises(UnreadableStateError) as info:
            ExecutionState.from_stored(bad, items)  # type: ignore[arg-type]
        assert what in str(info.value), str(info.value)


async def _eventually_timer(client: Client, wid: str) -> None:
    async def has_timer() -> bool:
        d = await client.get_workflow_handle(wid).describe()
        return d.status is WorkflowStatus.RUNNING and len(d.pending_timers) == 1

    deadline = time.monotonic() + 20
    while not await has_timer():
        assert time.monotonic() < deadline, f"{wid} never started its timer"
        await asyncio.sleep(0.05)


# ====================================================================================================
# 3. One server per store, however the path is spelled
# ====================================================================================================


def test_a_second_server_on_the_same_database_by_any_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    db = tmp_path / "a" / "m.db"
    first = ServerProcess(db, extra_args=["--headless"])
    with running(first):
        first.start()
        r = httpx.post(
            first.url + NS + "/workflows",
            json={"workflow_id": "w1", "workflow_type": "t", "task_queue": "q"},
        )
        assert r.status_code == 201, r.text
        os.link(db, tmp_path / "b" / "hard.db")
        os.symlink(db, tmp_path / "b" / "soft.db")
        spellings = [
            (str(tmp_path / "b" / "hard.db"), tmp_path),
            (str(tmp_path / "b" / "soft.db"), tmp_path),
            ("../a/m.db", tmp_path / "b"),  # relative to where it is started
        ]
        for name, cwd in spellings:
            command = [PYTHON, "-m", "mainspring", "server", "start-dev", "--headless", "--db-filename", name]
            second = subprocess.Popen(
                [*command, "--port", str(free_port())],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                out, err = second.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                second.kill()
                out, err = second.communicate()
                raise AssertionError(f"a second server started on {name}:\n{out}{err}") from None
            lines = err.strip().splitlines()
            assert second.returncode == 1 and len(lines) == 1, (name, second.returncode, out, err)
            assert lines[0].startswith("Error: ") and "is in use by another Mainspring server" in lines[0], lines
            assert f"(pid {first.proc.pid if first.proc else '?'})" in lines[0] and "--db-filename" in lines[0]
        # The first server is unharmed: it writes, and the file is sound.
        r = httpx.post(
            first.url + NS + "/workflows",
            json={"workflow_id": "w2", "workflow_type": "t", "task_queue": "q"},
        )
        assert r.status_code == 201, r.text
        wait_until(lambda: httpx.get(first.url + "/api/v1/health").status_code == 200, what="the first server")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM executions").fetchone()[0] == 2
