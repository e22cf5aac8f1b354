"""Batch operations (``server.features.batch``, ``client._batch``, ``cli._batch``) against real server processes:
a terminate by query closes exactly the runs it selects, with the reason in their histories; a signal batch records
one signal in each run; progress in describe; a server SIGKILLed mid-job resumes it from its cursor and finishes
with no run terminated twice; terminate_batch stops a job; the API's 400s and 403; the CLI's refusals.

The runs need no worker: a run waiting for its first workflow task is running, and cancel, terminate and signal
record their events all the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mainspring import Client, InvalidArgumentError
from mainspring.client import BatchJobState, BatchOperation
from mainspring.errors import InvalidQueryError
from support import ServerProcess, can_worker, first_api_key, make_api_key, run_cli, running, wait_until


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "b.db").start()
    try:
        yield srv
    finally:
        srv.stop()


def _ns(server: ServerProcess) -> str:
    return f"{server.url}/api/v1/namespaces/default"


def _start(server: ServerProcess, workflow_type: str, n: int, prefix: str | None = None) -> list[str]:
    ids = [f"{prefix or workflow_type}-{i}" for i in range(n)]
    with httpx.Client(timeout=30) as http:
        for wid in ids:
            r = http.post(
                _ns(server) + "/workflows",
                json={"workflow_id": wid, "workflow_type": workflow_type, "task_queue": "tq"},
            )
            assert r.status_code in (200, 201), r.text
    return ids


def _describe(server: ServerProcess, wid: str) -> dict[str, Any]:
    r = httpx.get(_ns(server) + "/workflows/describe", params={"workflow_id": wid})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _status(server: ServerProcess, wid: str) -> str:
    return str(_describe(server, wid)["execution"]["status"])


def _events(server: ServerProcess, wid: str) -> list[dict[str, Any]]:
    r = httpx.get(_ns(server) + "/workflows/history", params={"workflow_id": wid, "limit": 1000})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def _of(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event_type"] == event_type]


def _job(server: ServerProcess, job_id: str) -> dict[str, Any]:
    r = httpx.get(_ns(server) + "/batches/describe", params={"job_id": job_id})
    assert r.status_code == 200, r.text
    job: dict[str, Any] = r.json()
    return job


def _post(server: ServerProcess, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(_ns(server) + path, json=body)


def _begin(server: ServerProcess, **body: Any) -> dict[str, Any]:
    r = _post(server, "/batches", body)
    assert r.status_code == 201, r.text
    job: dict[str, Any] = r.json()
    return job


# --- the client ----------------------------------------------------------------------------------------------


async def test_terminate_by_query_closes_exactly_the_matching_runs_with_the_reason(server: ServerProcess) -> None:
    victims = _start(server, "victim", 25)
    bystanders = _start(server, "bystander", 5)
    client = await Client.connect(server.address)
    try:
        handle = await client.terminate_workflows("WorkflowType = 'victim'", reason="clean-up", rps=1000)
        done = await handle.wait()
        assert done.state is BatchJobState.COMPLETED and done.operation is BatchOperation.TERMINATE
        assert (done.matched, done.done, done.skipped, done.failed) == (25, 25, 0, 0)
        assert done.closed_at is not None and done.reason == "clean-up"
        assert [j.job_id for j in await client.list_batch_jobs()] == [handle.job_id]
    finally:
        await client.close()
    for wid in victims:
        assert _status(server, wid) == "TERMINATED", wid
        (terminated,) = _of(_events(server, wid), "WorkflowExecutionTerminated")
        assert terminated["attributes"]["reason"] == "clean-up"
        assert terminated["attributes"]["identity"].startswith(f"batch {handle.job_id}")
    for wid in bystanders:
        assert _status(server, wid) == "RUNNING", wid

    # Again: every run is closed now, so each is skipped (nothing is terminated twice).
    again = _begin(server, operation="terminate", query="WorkflowType = 'victim'", rps=1000)
    wait_until(lambda: _job(server, again["job_id"])["state"] == "COMPLETED", 20, what="the second job's end")
    second = _job(server, again["job_id"])
    assert (second["done"], second["skipped"], second["failed"]) == (0, 25, 0)


async def test_signal_batch_records_one_signal_in_each_matching_run(server: ServerProcess) -> None:
    inboxes = _start(server, "inbox", 12)
    others = _start(server, "other", 3)
    client = await Client.connect(server.address)
    try:
        handle = await client.signal_workflows("WorkflowType = 'inbox'", "note", {"text": "hi"}, rps=1000)
        done = await handle.wait()
        assert (done.state, done.done, done.failed) == (BatchJobState.COMPLETED, 12, 0)
        with pytest.raises(InvalidArgumentError, match="signal_name"):
            await client._call("POST", "/batches", body={"operation": "signal", "query": "WorkflowType = 'inbox'"})
    finally:
        await client.close()
    for wid in inboxes:
        (signaled,) = _of(_events(server, wid), "WorkflowExecutionSignaled")
        assert signaled["attributes"]["signal_name"] == "note"
        assert signaled["attributes"]["input"] == {"text": "hi"}
        assert _status(server, wid) == "RUNNING"
    for wid in others:
        assert _of(_events(server, wid), "WorkflowExecutionSignaled") == []


async def test_cancel_batch_asks_once_and_skips_the_runs_asked_already(server: ServerProcess) -> None:
    ids = _start(server, "polite", 6)
    r = _post(server, "/workflows/cancel", {"workflow_id": ids[0]})
    assert r.status_code == 200, r.text
    client = await Client.connect(server.address)
    try:
        done = await (await client.cancel_workflows("WorkflowType = 'polite'", reason="bye", rps=1000)).wait()
    finally:
        await client.close()
    assert (done.done, done.skipped, done.failed) == (5, 1, 0)
    for wid in ids:
        assert len(_of(_events(server, wid), "WorkflowExecutionCancelRequested")) == 1


async def test_progress_is_visible_and_terminate_batch_stops_the_job(server: ServerProcess) -> None:
    ids = _start(server, "slow", 40)
    job = _begin(server, operation="terminate", query="WorkflowType = 'slow'", rps=4, job_id="slow-job")
    assert job["state"] == "RUNNING" and job["matched"] == 40 and job["job_id"] == "slow-job"
    wait_until(lambda: _job(server, "slow-job")["done"] >= 4, 20, what="progress in describe")
    client = await Client.connect(server.address)
    try:
        stopped = await client.get_batch_job_handle("slow-job").terminate(reason="enough")
        assert stopped.state is BatchJobState.TERMINATED and "enough" in stopped.note
        with pytest.raises(InvalidArgumentError, match="not running"):
            await client.get_batch_job_handle("slow-job").terminate()
    finally:
        await client.close()
    # The step in flight when it was stopped finishes and is counted; then nothing more is terminated.
    wait_until(
        lambda: sum(_status(server, w) == "TERMINATED" for w in ids) == _job(server, "slow-job")["done"],
        20,
        what="the job's count to match the runs it terminated",
    )
    final = _job(server, "slow-job")
    assert final["state"] == "TERMINATED" and 4 <= final["done"] < 40
    assert sum(_status(server, w) == "RUNNING" for w in ids) == 40 - final["done"]
    dup = _post(server, "/batches", {"operation": "cancel", "query": "x = 'y'", "job_id": "slow-job"})
    assert dup.status_code == 400 and dup.json()["code"] == "invalid_query", dup.text  # the query is checked first
    dup = _post(server, "/batches", {"operation": "cancel", "query": "WorkflowId = 'y'", "job_id": "slow-job"})
    assert dup.status_code == 409 and dup.json()["code"] == "batch_job_exists", dup.text


def test_a_server_killed_mid_job_resumes_it_and_terminates_each_run_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "k.db").start()
    try:
        ids = _start(server, "doomed", 60)
        keep = _start(server, "spared", 3)
        job = _begin(server, operation="terminate", query="WorkflowType = 'doomed'", rps=10, reason="crash test")
        # A page is 20 runs at this rate: killed after the first page was written, within the second.
        wait_until(lambda: _job(server, job["job_id"])["done"] >= 25, 30, what="a page and a half")
        before = _job(server, job["job_id"])
        server.kill()
        assert before["state"] == "RUNNING" and before["done"] < 60, before
        server.start()
        wait_until(lambda: _job(server, job["job_id"])["state"] == "COMPLETED", 60, what="the resumed job's end")
        final = _job(server, job["job_id"])
        # Every run dealt with once in the counts (the page in flight at the kill is dealt with again: the runs it
        # had terminated are skipped), none failed.
        assert final["done"] + final["skipped"] == 60 and final["failed"] == 0, final
        assert final["skipped"] <= 20, final
        for wid in ids:
            assert _status(server, wid) == "TERMINATED", wid
            assert len(_of(_events(server, wid), "WorkflowExecutionTerminated")) == 1, wid
        for wid in keep:
            assert _status(server, wid) == "RUNNING", wid
    finally:
        server.stop()


async def test_reset_batch_resets_each_run_once_not_the_runs_it_makes(server: ServerProcess, tmp_path: Path) -> None:
    # The new runs a reset makes match the query too, and are newer than the job's cursor: not reset again.
    worker = can_worker(server, "tq-reset", tmp_path).start()
    with running(worker):
        ids = [f"sleepy-{i}" for i in range(3)]
        for wid in ids:
            body = {
                "workflow_id": wid,
                "workflow_type": "sleeper",
                "task_queue": "tq-reset",
                "input": {"seconds": 3600},
            }
            assert _post(server, "/workflows", body).status_code in (200, 201)
        for wid in ids:
            wait_until(lambda w=wid: _of(_events(server, w), "TimerStarted"), 20, what=f"{wid} waiting on its timer")
        client = await Client.connect(server.address)
        try:
            handle = await client.reset_workflows("WorkflowType = 'sleeper'", reason="redo", rps=1000)
            done = await handle.wait()
        finally:
            await client.close()
        assert done.state is BatchJobState.COMPLETED, done
        assert (done.matched, done.done, done.skipped, done.failed) == (3, 3, 0, 0), done
        for wid in ids:
            d = _describe(server, wid)
            assert d["execution"]["status"] == "RUNNING" and d["reset_from"] is not None, d


# --- the API's refusals ------------------------------------------------------------------------------------


def test_api_refusals_are_400s_with_json_bodies(server: ServerProcess) -> None:
    url = _ns(server) + "/batches"
    cases: list[tuple[dict[str, Any], str, int | None]] = [
        ({"operation": "terminate", "query": ""}, "invalid_query", 0),
        ({"operation": "terminate", "query": "   "}, "invalid_query", 0),
        ({"operation": "terminate", "query": "WorkflowType = "}, "invalid_query", 15),
        ({"operation": "terminate", "query": "Nope = 'x'"}, "invalid_query", 0),
        ({"operation": "signal", "query": "WorkflowType = 'x'"}, "invalid_argument", None),
        ({"operation": "terminate", "query": "WorkflowType = 'x'", "signal_name": "s"}, "invalid_argument", None),
        ({"operation": "explode", "query": "WorkflowType = 'x'"}, "invalid_argument", None),
        ({"operation": "terminate", "query": "WorkflowType = 'x'", "rps": 0}, "invalid_argument", None),
        ({"operation": "terminate", "query": "WorkflowType = 'x'", "rps": 1e9}, "invalid_argument", None),
    ]
    for body, code, position in cases:
        r = httpx.post(url, json=body)
        assert r.status_code == 400, (body, r.status_code, r.text)
        answer = r.json()
        assert answer["code"] == code and answer["message"], (body, answer)
        if position is not None:
            assert answer["details"]["position"] == position, (body, answer)
    r = httpx.get(url + "/describe", params={"job_id": "missing"})
    assert r.status_code == 404 and r.json()["code"] == "batch_job_not_found", r.text
    r = httpx.get(url + "/describe")
    assert r.status_code == 400 and "job_id" in r.json()["message"], r.text
    r = httpx.post(url + "/terminate", json={"job_id": "missing"})
    assert r.status_code == 404, r.text


async def test_client_raises_invalid_query_error_with_the_position(server: ServerProcess) -> None:
    client = await Client.connect(server.address)
    try:
        with pytest.raises(InvalidQueryError) as e:
            await client.terminate_workflows("WorkflowType = ")
        assert e.value.position == 15
    finally:
        await client.close()


def test_a_reader_cannot_start_or_terminate_a_batch(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "auth.db", extra_args=["--auth", "api-key"]).start()
    try:
        admin = first_api_key(server)
        reader = make_api_key(server, admin, "default", "reader")
        writer = make_api_key(server, admin, "default", "writer")
        body = {"operation": "terminate", "query": "WorkflowType = 'x'"}
        r = httpx.post(_ns(server) + "/batches", json=body, headers={"authorization": f"Bearer {reader}"})
        assert r.status_code == 403 and r.json()["message"], r.text
        r = httpx.post(_ns(server) + "/batches", json=body, headers={"authorization": f"Bearer {writer}"})
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        r = httpx.get(_ns(server) + "/batches", headers={"authorization": f"Bearer {reader}"})
        assert r.status_code == 200 and [j["job_id"] for j in r.json()["jobs"]] == [job_id], r.text
        r = httpx.post(
            _ns(server) + "/batches/terminate", json={"job_id": job_id}, headers={"authorization": f"Bearer {reader}"}
        )
        assert r.status_code == 403, r.text
    finally:
        server.stop()


# --- the CLI -----------------------------------------------------------------------------------------------


def _one_line(r: Any) -> str:
    assert r.returncode != 0, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return str(lines[0])


def test_cli_batch_commands_and_their_refusals(server: ServerProcess) -> None:
    a = server.address
    ids = _start(server, "cli", 4)
    query = "WorkflowType = 'cli'"

    # Without --yes, not on a terminal: refused, nothing started.
    line = _one_line(run_cli("workflow", "terminate", "--query", query, address=a))
    assert "4 runs match" in line and "--yes" in line
    assert httpx.get(_ns(server) + "/batches").json()["jobs"] == []
    # A bad query: one line, its column named.
    line = _one_line(run_cli("workflow", "cancel", "--query", "WorkflowType = ", "--yes", address=a))
    assert "column 16" in line
    # Neither or both of --workflow-id and --query.
    assert "exactly one" in _one_line(run_cli("workflow", "terminate", address=a))
    assert "exactly one" in _one_line(run_cli("workflow", "terminate", "-w", ids[0], "-q", query, address=a))

    r = run_cli("workflow", "signal", "--query", query, "--name", "poke", "-i", "7", "--yes", "-o", "json", address=a)
    assert r.returncode == 0, r.stderr
    signal_job = json.loads(r.stdout)["job_id"]
    wait_until(lambda: _job(server, signal_job)["state"] == "COMPLETED", 20, what="the signal job's end")
    r = run_cli(
        "workflow", "terminate", "--query", query, "--reason", "from the cli", "--rps", "100", "--yes", address=a
    )
    assert r.returncode == 0 and "Batch job" in r.stdout, r.stderr
    terminate_job = r.stdout.split()[2]
    wait_until(lambda: _job(server, terminate_job)["state"] == "COMPLETED", 20, what="the terminate job's end")
    for wid in ids:
        assert _status(server, wid) == "TERMINATED"
        assert _of(_events(server, wid), "WorkflowExecutionTerminated")[0]["attributes"]["reason"] == "from the cli"

    listed = json.loads(run_cli("batch", "list", "-o", "json", address=a).stdout)
    assert [j["job_id"] for j in listed] == [terminate_job, signal_job]
    text = run_cli("batch", "describe", "--job-id", terminate_job, address=a)
    assert text.returncode == 0 and "COMPLETED" in text.stdout and "4/4" in text.stdout, text.stdout
    assert "not running" in _one_line(run_cli("batch", "terminate", "--job-id", terminate_job, address=a))
    assert "not found" in _one_line(run_cli("batch", "describe", "--job-id", "nope", address=a))

    # The single-run forms are as they were.
    one = _start(server, "single", 1)[0]
    r = run_cli("workflow", "terminate", "-w", one, "--reason", "just one", address=a)
    assert r.returncode == 0 and f"Workflow {one} terminated." in r.stdout, r.stderr
