"""Fan-out and payloads: a step's cost and its write do not grow with what else is pending.

Real server and worker processes on a real SQLite file; the file is read (read-only, beside the
running server: WAL allows it) to see what a transition wrote. The figures (W7, W9) are in bench/.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from mainspring import Client, WorkflowStatus
from support import ServerProcess, WorkerProcess, running

WORKERS = Path(__file__).resolve().parent / "workers"
NS = "/api/v1/namespaces/default"


@contextlib.contextmanager
def _db(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def _run_of(db: Path, workflow_id: str) -> str:
    with _db(db) as conn:
        return str(conn.execute("SELECT run_id FROM executions WHERE workflow_id=?", (workflow_id,)).fetchone()[0])


def _stored(db: Path, run_id: str) -> dict[str, Any]:
    """What is stored for the run: the size of its row's state, its pending items, its history's bytes."""
    with _db(db) as conn:
        (state,) = conn.execute("SELECT state FROM executions WHERE run_id=?", (run_id,)).fetchone()
        items = conn.execute("SELECT kind, key, value FROM pending WHERE run_id=?", (run_id,)).fetchall()
        history = conn.execute(
            "SELECT event_type, length(attributes) FROM history WHERE run_id=? ORDER BY event_id", (run_id,)
        ).fetchall()
    return {"state": state, "items": items, "history": history}


def _worker(server: ServerProcess, tmp_path: Path, *args: str, name: str = "w") -> WorkerProcess:
    return WorkerProcess(
        WORKERS / "fan_out_worker.py", server.address, args=list(args), log_path=tmp_path / f"{name}.log"
    )


async def _pending_count(client: Client, workflow_id: str) -> int:
    return len((await client.get_workflow_handle(workflow_id).describe()).pending_activities)


async def _until_pending(client: Client, workflow_id: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while await _pending_count(client, workflow_id) != n:
        assert time.monotonic() < deadline, f"{workflow_id} never had {n} pending activities"
        await asyncio.sleep(0.1)


async def test_fan_out_results_arrive_in_few_workflow_tasks(tmp_path: Path) -> None:
    """300 activities at once: each result reaches the workflow once, and results that arrive together
    share a workflow task (before, each completion was a workflow task of its own: ~300)."""
    k = 300
    server = ServerProcess(tmp_path / "m.db", extra_args=["--headless"])
    worker = _worker(server, tmp_path)
    with running(server, worker):
        server.start()
        worker.start()
        async with await Client.connect(server.address) as client:
            result = await client.execute_workflow(
                "fan_out_workflow", {"k": k, "pad": 3}, id="fan", task_queue="fan-out"
            )
            assert result == [i + 3 for i in range(k)]
            history = await client.get_workflow_handle("fan").fetch_history()
        types = [e["event_type"] for e in history]
        assert types.count("ActivityTaskCompleted") == k
        tasks = types.count("WorkflowTaskCompleted")
        assert tasks <= k // 5, f"{tasks} workflow tasks for {k} completions"


async def test_a_step_writes_what_changed_and_inputs_are_stored_once(tmp_path: Path) -> None:
    """While 300 activities with 2 KB inputs wait, the run's row stays small (the pending activities are
    rows of their own, without their inputs: the history holds those). After a restart the activities
    are handed out with their inputs, read back from the history."""
    k, pad = 300, 2000
    db = tmp_path / "m.db"
    server = ServerProcess(db, extra_args=["--headless"])
    worker = _worker(server, tmp_path)
    later = _worker(server, tmp_path, "--task-queue", "later", "--activities-only", name="later")
    with running(server, worker, later):
        server.start()
        worker.start()
        async with await Client.connect(server.address) as client:
            await client.start_workflow(
                "fan_out_workflow", {"k": k, "pad": pad, "task_queue": "later"}, id="wide", task_queue="fan-out"
            )
            await _until_pending(client, "wide", k)
        run_id = _run_of(db, "wide")
        stored = _stored(db, run_id)  # describe answers from what is committed
        assert len(stored["items"]) == k
        assert len(stored["state"]) < 1000, stored["state"]
        assert max(len(v) for _, _, v in stored["items"]) < 1000  # no input in an item
        assert {kind for kind, _, _ in stored["items"]} == {"a"}
        scheduled = [n for t, n in stored["history"] if t == "ActivityTaskScheduled"]
        assert len(scheduled) == k and min(scheduled) > pad  # the one stored copy of each input

        server.stop()
        server.start()  # the run is loaded from the store: its activities' inputs are in the history
        later.start()
        async with await Client.connect(server.address) as client:
            result = await client.get_workflow_handle("wide").result()
            assert result == [i + pad for i in range(k)]
        stored = _stored(db, run_id)
        assert stored["items"] == [] and len(stored["state"]) < 1000


async def test_a_large_payload_is_stored_only_in_the_history(tmp_path: Path) -> None:
    """A 1 MB echo: the payload is in the events that carry it (the workflow's input, the activity's
    input and result, the workflow's result), not also in the run's state. Its result is read from the
    closing event, also after a restart."""
    payload = "p" * 1_000_000
    db = tmp_path / "m.db"
    server = ServerProcess(db, extra_args=["--headless"])
    worker = _worker(server, tmp_path)
    with running(server, worker):
        server.start()
        worker.start()
        async with await Client.connect(server.address) as client:
            assert await client.execute_workflow("echo_workflow", payload, id="echo", task_queue="fan-out") == payload
        run_id = _run_of(db, "echo")
        stored = _stored(db, run_id)
        assert len(stored["state"]) < 1000 and stored["items"] == []
        big = [t for t, n in stored["history"] if n >= len(payload)]
        assert sorted(big) == sorted(
            [
                "WorkflowExecutionStarted",
                "ActivityTaskScheduled",
                "ActivityTaskCompleted",
                "WorkflowExecutionCompleted",
            ]
        )
        with _db(db) as conn:
            total = sum(
                n
                for (n,) in conn.execute(
                    "SELECT length(state) FROM executions UNION ALL SELECT length(value) FROM pending "
                    "UNION ALL SELECT length(attributes) FROM history"
                )
            )
        assert total < 4 * len(payload) + 50_000, total  # four copies, nothing more
        server.stop()
        server.start()
        async with await Client.connect(server.address) as client:
            handle = client.get_workflow_handle("echo")
            assert await handle.result() == payload
            described = await handle.describe()
            assert described.status is WorkflowStatus.COMPLETED


def _to_old_format(db: Path) -> None:
    """Rewrite a database as schema version 3 wrote it: pending activities and timers inside the state
    JSON (activities with their input), no pending table."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for run_id, state in conn.execute("SELECT run_id, state FROM executions").fetchall():
            d = json.loads(state)
            acts: dict[str, Any] = {}
            timers: dict[str, Any] = {}
            for kind, key, value in conn.execute("SELECT kind, key, value FROM pending WHERE run_id=?", (run_id,)):
                v = json.loads(value)
                if kind == "a":
                    (attrs,) = conn.execute(
                        "SELECT attributes FROM history WHERE run_id=? AND event_id=?", (run_id, int(key))
                    ).fetchone()
                    acts[key] = {**v, "in": json.loads(attrs)["input"]}
                else:
                    timers[key] = v
            if acts:
                d["act"] = acts
            if timers:
                d["tmr"] = timers
            conn.execute("UPDATE executions SET state=? WHERE run_id=?", (json.dumps(d), run_id))
        conn.execute("DROP TABLE pending")
        conn.execute("ALTER TABLE workflow_schemas DROP COLUMN handlers")  # added by migration 5
        conn.execute("DROP TABLE worker_builds")  # added by migration 6
        conn.execute("DROP TABLE api_keys")  # added by migration 7
        conn.execute("DROP TABLE audit_log")
        conn.execute("DROP TABLE schedules")  # added by migration 8
        conn.execute("DROP TRIGGER search_attribute_values_gone")  # added by migration 9, with its tables
        conn.execute("DROP TABLE search_attribute_values")
        conn.execute("DROP TABLE search_attributes")
        conn.execute("DROP TABLE batch_jobs")  # added by migration 10
        for trigger in ("run_counts_created", "run_counts_changed", "run_counts_deleted"):  # migration 11's
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE run_counts")
        conn.execute("DROP TABLE ui_sessions")  # added by migration 12
        conn.execute("DELETE FROM schema_migrations WHERE version >= 4")
        conn.commit()


async def test_a_database_of_the_old_format_is_migrated_and_its_run_completes(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    server = ServerProcess(db, extra_args=["--headless"])
    worker = _worker(server, tmp_path)
    later = _worker(server, tmp_path, "--task-queue", "later", "--activities-only", name="later")
    with running(server, worker, later):
        server.start()
        worker.start()
        async with await Client.connect(server.address) as client:
            await client.start_workflow(
                "fan_out_workflow", {"k": 5, "pad": 10, "task_queue": "later"}, id="old", task_queue="fan-out"
            )
            await _until_pending(client, "old", 5)
        server.stop()
        _to_old_format(db)
        run_id = _run_of(db, "old")
        with _db(db) as conn:
            old = json.loads(conn.execute("SELECT state FROM executions WHERE run_id=?", (run_id,)).fetchone()[0])
        assert len(old["act"]) == 5 and all(a["in"]["pad"] == "x" * 10 for a in old["act"].values())

        server.start()  # migration 4 moves the activities into rows of their own, without their inputs
        stored = _stored(db, run_id)
        assert "act" not in json.loads(stored["state"]) and len(stored["items"]) == 5
        assert all("in" not in json.loads(v) for _, _, v in stored["items"])
        later.start()
        async with await Client.connect(server.address) as client:
            assert await client.get_workflow_handle("old").result() == [i + 10 for i in range(5)]


async def test_a_damaged_pending_item_sets_its_run_aside(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    server = ServerProcess(db, extra_args=["--headless"])
    worker = _worker(server, tmp_path)
    later = _worker(server, tmp_path, "--task-queue", "later", "--activities-only", name="later")
    with running(server, worker, later):
        server.start()
        worker.start()
        async with await Client.connect(server.address) as client:
            for wid in ("bad-json", "bad-field", "healthy"):
                await client.start_workflow(
                    "fan_out_workflow", {"k": 3, "task_queue": "later"}, id=wid, task_queue="fan-out"
                )
            for wid in ("bad-json", "bad-field", "healthy"):
                await _until_pending(client, wid, 3)
        server.stop()
        runs = {wid: _run_of(db, wid) for wid in ("bad-json", "bad-field", "healthy")}
        with contextlib.closing(sqlite3.connect(db)) as conn:
            (key,) = conn.execute("SELECT min(key) FROM pending WHERE run_id=?", (runs["bad-json"],)).fetchone()
            conn.execute("UPDATE pending SET value='{\"id\": ' WHERE run_id=? AND key=?", (runs["bad-json"], key))
            (value,) = conn.execute("SELECT value FROM pending WHERE run_id=? LIMIT 1", (runs["bad-field"],)).fetchone()
            broken = {k: v for k, v in json.loads(value).items() if k != "tq"}
            conn.execute("UPDATE pending SET value=? WHERE run_id=?", (json.dumps(broken), runs["bad-field"]))
            conn.commit()

        server.start()
        log = server.log()
        for wid, what in (
            ("bad-json", f"its pending activity '{key}' is not valid JSON"),
            ("bad-field", "no field 'tq'"),
        ):
            lines = [line for line in log.splitlines() if runs[wid] in line and "set aside" in line]
            assert len(lines) == 1 and what in lines[0], log
        later.start()
        async with await Client.connect(server.address) as client:
            assert await client.get_workflow_handle("healthy").result() == [0, 1, 2]
            for wid in ("bad-json", "bad-field"):
                d = await client.get_workflow_handle(wid).describe()
                assert d.status is WorkflowStatus.RUNNING
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                for wid, what in (("bad-json", "not valid JSON"), ("bad-field", "no field 'tq'")):
                    body = (await http.get(NS + "/workflows/describe", params={"workflow_id": wid})).json()
                    assert what in body["problem"], body
                r = await http.post(NS + "/workflows/terminate", json={"workflow_id": "bad-json", "reason": "bad"})
                assert r.status_code == 200, r.text
        with _db(db) as conn:
            assert conn.execute("SELECT count(*) FROM pending WHERE run_id=?", (runs["bad-json"],)).fetchone()[0] == 0
