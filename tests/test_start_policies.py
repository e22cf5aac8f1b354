"""Workflow start options, against a real server (and a worker where a run must complete): the id reuse and
conflict policies over the API, the client and the CLI; a start delay (durable across a restart, ended by a
signal-with-start, not by a plain signal); the memo in describe; a run's own workflow task timeout; and hostile
values refused with a 4xx and a JSON body. What a start delay does in the engine is looked at on the
time-skipping environment (``mainspring_client``), where an hour's delay takes no real time.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from inprocess import clock_held, events_of, running_worker
from mainspring import (
    AlreadyStartedError,
    Client,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
    WorkflowStatus,
    workflow,
)
from support import ServerProcess, run_cli

NS = "/api/v1/namespaces/default"


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@workflow.defn(name="PolicyEcho")
async def echo(ctx: workflow.Context, text: str) -> str:
    return text


@workflow.defn(name="PolicyWaiter")
class Waiter:
    @workflow.init
    def __init__(self, input: str) -> None:
        self.seen: list[str] = []

    @workflow.run
    async def run(self, ctx: workflow.Context, input: str) -> list[str]:
        await ctx.wait_condition(lambda: "done" in self.seen)
        return self.seen

    @workflow.signal
    def note(self, text: str) -> None:
        self.seen.append(text)


def _start(server: ServerProcess, workflow_id: str, **fields: Any) -> httpx.Response:
    body = {"workflow_id": workflow_id, "workflow_type": "T", "task_queue": "q", **fields}
    return httpx.post(server.url + NS + "/workflows", json=body, timeout=10)


def _describe(server: ServerProcess, workflow_id: str, run_id: str | None = None) -> dict[str, Any]:
    r = httpx.get(
        server.url + NS + "/workflows/describe", params={"workflow_id": workflow_id, "run_id": run_id}, timeout=10
    )
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def _terminate(server: ServerProcess, workflow_id: str) -> None:
    r = httpx.post(server.url + NS + "/workflows/terminate", json={"workflow_id": workflow_id}, timeout=10)
    assert r.status_code == 200, r.text


def _refused(r: httpx.Response, policy: str) -> dict[str, Any]:
    assert r.status_code == 409, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == "already_started"
    assert body["details"]["refused_by"] == policy
    assert policy in body["message"]
    return body


async def _completed(client: Client, workflow_id: str, task_queue: str) -> str:
    """A run of ``workflow_id`` that completed (on a worker of this loop); its run id."""
    async with running_worker(client, task_queue, workflows=[echo]):
        handle = await client.start_workflow(echo, "hi", id=workflow_id, task_queue=task_queue)
        assert await asyncio.wait_for(handle.result(), 30) == "hi"
    assert handle.run_id is not None
    return handle.run_id


# --- the conflict policy (a run of the id is running) -----------------------------------------------------


def test_conflict_policies_over_the_api(server: ServerProcess) -> None:
    wid = new_id()
    first = _start(server, wid)
    assert first.status_code == 201
    run1 = first.json()["run_id"]

    # FAIL, the default and given: refused, naming the policy and the way out.
    for fields in ({}, {"id_conflict_policy": "FAIL"}):
        body = _refused(_start(server, wid, **fields), "id_conflict_policy")
        assert body["details"]["run_id"] == run1
        assert "USE_EXISTING" in body["message"] and "TERMINATE_EXISTING" in body["message"]

    # USE_EXISTING: the running run, nothing started.
    used = _start(server, wid, id_conflict_policy="USE_EXISTING")
    assert used.status_code == 200 and used.json()["run_id"] == run1

    # TERMINATE_EXISTING: the running run is terminated (its reason names the new start), a new one starts.
    replaced = _start(server, wid, id_conflict_policy="TERMINATE_EXISTING", request_id="replace-1")
    assert replaced.status_code == 201
    run2 = replaced.json()["run_id"]
    assert run2 != run1
    old = _describe(server, wid, run1)
    assert old["execution"]["status"] == "TERMINATED"
    assert "TERMINATE_EXISTING" in old["failure"]["message"] and "replace-1" in old["failure"]["message"]
    assert _describe(server, wid)["execution"]["run_id"] == run2

    # The same start again (its request id): the run it made, and nothing terminated.
    again = _start(server, wid, id_conflict_policy="TERMINATE_EXISTING", request_id="replace-1")
    assert again.status_code == 200 and again.json()["run_id"] == run2
    assert _describe(server, wid, run2)["execution"]["status"] == "RUNNING"

    # TERMINATE_IF_RUNNING (the reuse policy's older spelling of the same).
    third = _start(server, wid, id_reuse_policy="TERMINATE_IF_RUNNING")
    assert third.status_code == 201
    assert _describe(server, wid, run2)["execution"]["status"] == "TERMINATED"
    assert "TERMINATE_IF_RUNNING" in _describe(server, wid, run2)["failure"]["message"]
    runs = httpx.get(server.url + NS + "/workflows", params={"workflow_id_prefix": wid}).json()["executions"]
    assert sorted(e["status"] for e in runs) == ["RUNNING", "TERMINATED", "TERMINATED"]


# --- the reuse policy (the id's last run has closed) ------------------------------------------------------


async def test_reuse_policies_over_the_api(server: ServerProcess, client: Client, task_queue: str) -> None:
    # After a run that completed.
    done = new_id()
    await _completed(client, done, task_queue)
    body = _refused(_start(server, done, id_reuse_policy="REJECT_DUPLICATE"), "id_reuse_policy")
    assert "ALLOW_DUPLICATE" in body["message"] and body["details"]["status"] == "COMPLETED"
    body = _refused(_start(server, done, id_reuse_policy="ALLOW_DUPLICATE_FAILED_ONLY"), "id_reuse_policy")
    assert "COMPLETED" in body["message"]
    allowed = _start(server, done, id_reuse_policy="ALLOW_DUPLICATE")
    assert allowed.status_code == 201
    _terminate(server, done)

    # After a run that was terminated (not a success): FAILED_ONLY lets a new one start, REJECT does not.
    ended = new_id()
    assert _start(server, ended).status_code == 201
    _terminate(server, ended)
    _refused(_start(server, ended, id_reuse_policy="REJECT_DUPLICATE"), "id_reuse_policy")
    again = _start(server, ended, id_reuse_policy="ALLOW_DUPLICATE_FAILED_ONLY")
    assert again.status_code == 201

    # While one runs, the conflict policy decides, whatever the reuse policy.
    _refused(_start(server, ended, id_reuse_policy="ALLOW_DUPLICATE_FAILED_ONLY"), "id_conflict_policy")
    used = _start(server, ended, id_reuse_policy="REJECT_DUPLICATE", id_conflict_policy="USE_EXISTING")
    assert used.status_code == 200 and used.json()["run_id"] == again.json()["run_id"]

    # A new id: no run to reuse, so REJECT_DUPLICATE starts it.
    assert _start(server, new_id(), id_reuse_policy="REJECT_DUPLICATE").status_code == 201


# --- the client -------------------------------------------------------------------------------------------


async def test_the_client_takes_both_policies(client: Client, task_queue: str) -> None:
    wid = new_id()
    first = await client.start_workflow("T", None, id=wid, task_queue=task_queue)
    with pytest.raises(AlreadyStartedError, match="id_conflict_policy FAIL"):
        await client.start_workflow("T", None, id=wid, task_queue=task_queue)
    used = await client.start_workflow(
        "T", None, id=wid, task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
    )
    assert used.run_id == first.run_id
    replaced = await client.start_workflow(
        "T", None, id=wid, task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING
    )
    assert replaced.run_id != first.run_id
    assert (await first.describe()).status is WorkflowStatus.TERMINATED
    await replaced.terminate(reason="test over")
    with pytest.raises(AlreadyStartedError, match="REJECT_DUPLICATE") as refused:
        await client.start_workflow(
            "T", None, id=wid, task_queue=task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE
        )
    assert refused.value.details["refused_by"] == "id_reuse_policy"
    with pytest.raises(TypeError, match="id_reuse_policy must be"):
        await client.start_workflow("T", None, id=wid, task_queue=task_queue, id_reuse_policy="REJECT_DUPLICATE")  # type: ignore[typeddict-item]


def test_signal_with_start_applies_the_policies(server: ServerProcess) -> None:
    sws = server.url + NS + "/workflows/signal-with-start"
    wid = new_id()
    base = {"workflow_id": wid, "workflow_type": "T", "task_queue": "q", "signal_name": "s"}
    first = httpx.post(sws, json=base).json()
    assert first["started"]
    # FAIL makes no sense for a call that exists to reach the running run: refused, saying so.
    r = httpx.post(sws, json={**base, "id_conflict_policy": "FAIL"})
    assert r.status_code == 400 and "USE_EXISTING" in r.json()["message"]
    # TERMINATE_EXISTING: a new run, started with the signal; the old one terminated.
    replaced = httpx.post(sws, json={**base, "id_conflict_policy": "TERMINATE_EXISTING"}).json()
    assert replaced["started"] and replaced["run_id"] != first["run_id"]
    assert _describe(server, wid, first["run_id"])["execution"]["status"] == "TERMINATED"
    _terminate(server, wid)
    # The id's last run closed: its reuse policy decides.
    r = httpx.post(sws, json={**base, "id_reuse_policy": "REJECT_DUPLICATE"})
    _refused(r, "id_reuse_policy")


# --- the CLI ----------------------------------------------------------------------------------------------


def test_the_cli_takes_the_policy_flags(server: ServerProcess) -> None:
    wid = new_id()

    def start(*flags: str) -> Any:
        return run_cli(
            "workflow", "start", "-w", wid, "--type", "T", "-t", "q", "-o", "json", *flags, address=server.address
        )

    first = start()
    assert first.returncode == 0, first.stderr
    run1 = json.loads(first.stdout)["run_id"]
    refused = start()
    assert refused.returncode == 1 and "id_conflict_policy FAIL" in refused.stderr
    used = start("--id-conflict-policy", "UseExisting")
    assert used.returncode == 0, used.stderr
    assert json.loads(used.stdout)["run_id"] == run1
    replaced = start("--id-conflict-policy", "TerminateExisting")
    assert replaced.returncode == 0, replaced.stderr
    run2 = json.loads(replaced.stdout)["run_id"]
    assert run2 != run1 and _describe(server, wid, run1)["execution"]["status"] == "TERMINATED"
    # The API's spelling is taken too, in any case.
    third = start("--id-reuse-policy", "terminate_if_running")
    assert third.returncode == 0, third.stderr
    assert _describe(server, wid, run2)["execution"]["status"] == "TERMINATED"
    _terminate(server, wid)
    rejected = start("--id-reuse-policy", "RejectDuplicate")
    assert rejected.returncode == 1 and "REJECT_DUPLICATE" in rejected.stderr
    assert json.loads(rejected.stderr)["details"]["refused_by"] == "id_reuse_policy"
    again = start("--id-reuse-policy", "AllowDuplicateFailedOnly")
    assert again.returncode == 0, again.stderr

    # Values the flags do not take: exit 2, naming the flag and what it takes; nothing is sent.
    for flags, words in (
        (("--id-reuse-policy", "Sometimes"), ["--id-reuse-policy", "RejectDuplicate"]),
        (("--id-conflict-policy", "Bogus"), ["--id-conflict-policy", "UseExisting"]),
        (("--start-delay", "-5s"), ["--start-delay"]),
        (("--start-delay", "soon"), ["--start-delay", "1m30s"]),
        (("--task-timeout", "0.5s"), ["--task-timeout", "120s"]),
        (("--task-timeout", "10m"), ["--task-timeout"]),
        (("--memo", "owner=ann"), ["--memo owner", "JSON"]),
        (("--memo", "novalue"), ["KEY=JSON"]),
        (("--memo-file", "/nonexistent/memo.json"), ["--memo-file"]),
    ):
        bad = run_cli("workflow", "start", "-w", new_id(), "--type", "T", "-t", "q", *flags, address=server.address)
        assert bad.returncode == 2, (flags, bad.stdout, bad.stderr)
        assert all(w in bad.stderr for w in words), (flags, bad.stderr)
        assert "Traceback" not in bad.stderr


def test_the_cli_start_options_reach_describe(server: ServerProcess, tmp_path: Path) -> None:
    wid = new_id()
    memo_file = tmp_path / "memo.json"
    memo_file.write_text(json.dumps({"team": "billing", "owner": "bob"}))
    started = run_cli(
        "workflow",
        "start",
        "-w",
        wid,
        "--type",
        "T",
        "-t",
        "q",
        "--start-delay",
        "1h30m",
        "--memo-file",
        str(memo_file),
        "--memo",
        'owner="ann"',
        "--memo",
        "tags=[1, 2]",
        "--task-timeout",
        "7s",
        address=server.address,
    )
    assert started.returncode == 0, started.stderr
    d = _describe(server, wid)
    assert d["memo"] == {"team": "billing", "owner": "ann", "tags": [1, 2]}
    assert d["start_delay"] == 5400 and d["task_timeout"] == 7
    text = run_cli("workflow", "describe", "-w", wid, address=server.address)
    assert text.returncode == 0, text.stderr
    assert "5400s" in text.stdout and '"team":"billing"' in text.stdout and "7s" in text.stdout
    executed = run_cli(
        "workflow", "execute", "-w", wid, "--type", "T", "-t", "q", "--id-conflict-policy", "Fail",
        "--timeout", "1", address=server.address,
    )  # fmt: skip
    assert executed.returncode == 1 and "id_conflict_policy FAIL" in executed.stderr


# --- start delay --------------------------------------------------------------------------------------------


async def test_a_start_delay_holds_the_first_workflow_task_and_survives_a_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "delay.db").start()
    try:
        tq = f"tq-{uuid.uuid4().hex[:8]}"
        wid = new_id()
        async with await Client.connect(server.address, channel=False) as client:
            handle = await client.start_workflow(
                echo, "late", id=wid, task_queue=tq, start_delay=timedelta(seconds=4), memo={"why": "delayed"}
            )
            d = await handle.describe()
            assert d.status is WorkflowStatus.RUNNING and d.pending_workflow_task is not None
            assert d.pending_workflow_task["state"] == "BACKOFF"
            assert d.start_delay == timedelta(seconds=4) and d.execution_time == d.start_time + timedelta(seconds=4)
            assert d.memo == {"why": "delayed"}
            # Nothing of a workflow task is written while it waits: the run is its start alone.
            assert [e["event_type"] for e in await handle.fetch_history()] == ["WorkflowExecutionStarted"]
        server.restart()  # SIGKILL and start again, on the same database
        async with await Client.connect(server.address) as client:
            handle = client.get_workflow_handle(wid)
            async with running_worker(client, tq, workflows=[echo]):
                assert await asyncio.wait_for(handle.result(), 60) == "late"
            d = await handle.describe()
            started = (await events_of(handle, "WorkflowTaskStarted"))[0]
            scheduled = (await events_of(handle, "WorkflowTaskScheduled"))[0]
    finally:
        server.stop()
    # The first task went out no sooner than the delay after the start, though the server restarted meanwhile.
    assert datetime.fromisoformat(started["event_time"]) >= d.start_time + timedelta(seconds=4)
    assert scheduled["event_id"] == 2 and scheduled["attributes"]["attempt"] == 1


async def test_a_signal_waits_out_the_start_delay_and_a_signal_with_start_ends_it(mainspring_client: Client) -> None:
    client = mainspring_client
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    # The clock is held, so that the hour's delay is still on when the signals come.
    async with clock_held(client), running_worker(client, tq, workflows=[Waiter]):
        handle = await client.start_workflow(
            Waiter.run, "x", id=wid, task_queue=tq, start_delay=timedelta(hours=1), task_timeout=timedelta(seconds=5)
        )
        await handle.signal(Waiter.note, "plain")
        # A plain signal is recorded and waits: the first task still waits out the delay.
        d = await handle.describe()
        assert d.pending_workflow_task is not None and d.pending_workflow_task["state"] == "BACKOFF"
        assert d.raw["task_timeout"] == 5
        # A signal-with-start reaches the running run (USE_EXISTING) and ends its delay, as in Temporal.
        again = await client.start_workflow(
            Waiter.run, "x", id=wid, task_queue=tq, start_signal="note", start_signal_args=["done"]
        )
        assert again.run_id == handle.run_id
        assert await asyncio.wait_for(handle.result(), 30) == ["plain", "done"]


# --- task timeout -------------------------------------------------------------------------------------------


def test_a_runs_task_timeout_retries_a_task_its_worker_does_not_answer(server: ServerProcess) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    assert _start(server, wid, task_queue=tq, task_timeout=1).status_code == 201
    # A worker that takes the task and never answers (plain HTTP, so nothing else of a worker runs).
    session = httpx.post(
        server.url + NS + "/workers", json={"identity": "silent", "task_queue": tq, "workflow_types": [{"name": "T"}]}
    ).json()["session_id"]
    poll = {"session_id": session, "timeout": 20}
    first = httpx.post(server.url + NS + "/workflow-tasks/poll", json=poll, timeout=30)
    assert first.status_code == 200 and first.json()["attempt"] == 1
    # Its task times out after the run's 1 s (not the server's 10 s) and is handed out again.
    second = httpx.post(server.url + NS + "/workflow-tasks/poll", json=poll, timeout=30)
    assert second.status_code == 200, second.text
    assert second.json()["attempt"] == 2
    d = _describe(server, wid)
    assert d["pending_workflow_task"]["last_failure"]["message"] == "workflow task timed out after 1s"
    history = httpx.get(server.url + NS + "/workflows/history", params={"workflow_id": wid}).json()["events"]
    assert "WorkflowTaskTimedOut" in [e["event_type"] for e in history]
    assert history[0]["attributes"]["workflow_task_timeout"] == 1


# --- hostile values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"start_delay": -1}, 400, ["start_delay"]),
        ({"start_delay": "soon"}, 400, ["start_delay"]),
        ({"start_delay": False}, 400, ["start_delay"]),
        ({"task_timeout": "5"}, 400, ["task_timeout"]),
        ({"id_reuse_policy": "SOMETIMES"}, 400, ["id_reuse_policy", "REJECT_DUPLICATE"]),
        ({"id_conflict_policy": "fail"}, 400, ["id_conflict_policy", "USE_EXISTING"]),
        ({"id_reuse_policy": "TERMINATE_IF_RUNNING", "id_conflict_policy": "USE_EXISTING"}, 400, ["give one"]),
        ({"task_timeout": 0}, 400, ["task_timeout"]),
        ({"task_timeout": 3600}, 400, ["task_timeout"]),
        ({"memo": [1, 2]}, 400, ["memo"]),
        ({"memo": {"": 1}}, 400, ["memo"]),
        ({"memo": {str(i): i for i in range(1001)}}, 400, ["memo"]),
        ({"memo": {"big": "x" * 2_200_000}}, 413, ["memo", "limit"]),
    ],
)
def test_hostile_start_options_are_refused_with_a_json_body(
    server: ServerProcess, fields: dict[str, Any], status: int, words: list[str]
) -> None:
    wid = new_id()
    r = _start(server, wid, **fields)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] and all(w in body["message"] for w in words), body
    sws = httpx.post(
        server.url + NS + "/workflows/signal-with-start",
        json={"workflow_id": wid, "workflow_type": "T", "task_queue": "q", "signal_name": "s", **fields},
    )
    assert sws.status_code == status, sws.text
    # Nothing was started by either.
    assert httpx.get(server.url + NS + "/workflows", params={"workflow_id_prefix": wid}).json()["executions"] == []
    assert "Traceback" not in server.log()


def test_the_clis_duration_limit_is_the_apis() -> None:
    # The CLI keeps its own copy (the API's module loads pydantic, which plain CLI commands do without).
    from mainspring.api.fields import MAX_SECONDS
    from mainspring.cli import _start_flags

    assert _start_flags.MAX_SECONDS == MAX_SECONDS


def test_the_cli_signal_with_start_takes_the_start_flags(server: ServerProcess) -> None:
    wid = new_id()
    base = ["workflow", "signal-with-start", "-w", wid, "--type", "T", "-t", "q", "--signal", "s"]
    started = run_cli(*base, "--start-delay", "1h", "--memo", "n=1", "--task-timeout", "3s", address=server.address)
    assert started.returncode == 0, started.stderr
    d = _describe(server, wid)
    # Started with its delay: the signal it carries does not end it (Temporal's behaviour too).
    assert d["start_delay"] == 3600 and d["memo"] == {"n": 1} and d["task_timeout"] == 3
    assert d["pending_workflow_task"]["state"] == "BACKOFF"
    refused = run_cli(*base, "--id-conflict-policy", "Fail", address=server.address)
    assert refused.returncode == 2 and "USE_EXISTING" in refused.stderr
    # A second signal-with-start reaches the running run and ends its delay.
    again = run_cli(*base, address=server.address)
    assert again.returncode == 0 and "sent to running workflow" in again.stdout
    assert _describe(server, wid)["pending_workflow_task"]["state"] == "SCHEDULED"
    replaced = run_cli(*base, "--id-conflict-policy", "TerminateExisting", "-o", "json", address=server.address)
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout)["run_id"] != d["execution"]["run_id"]
    assert _describe(server, wid, d["execution"]["run_id"])["execution"]["status"] == "TERMINATED"


@workflow.defn(name="PolicyBroken")
async def broken(ctx: workflow.Context) -> None:
    raise RuntimeError("a bug in the first workflow task")


async def test_a_delayed_first_task_that_fails_leaves_its_trace_in_the_history(mainspring_client: Client) -> None:
    client = mainspring_client
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(broken, id=new_id(), task_queue=tq, start_delay=timedelta(hours=1))
    async with running_worker(client, tq, workflows=[broken]):

        async def retried() -> bool:
            wt = (await handle.describe()).pending_workflow_task
            return wt is not None and wt["attempt"] >= 2

        await asyncio.wait_for(_poll(retried), 30)
    types = [e["event_type"] for e in await handle.fetch_history()]
    # As any first failure: Scheduled, Started, Failed are written (later attempts stay out of the history).
    assert types[:4] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
    ]
    failed = (await events_of(handle, "WorkflowTaskFailed"))[0]
    assert "a bug in the first workflow task" in failed["attributes"]["failure"]["message"]
    # The first attempt went out after the hour's delay (on the skipped clock).
    history = await handle.fetch_history()
    began, first = (datetime.fromisoformat(history[i]["event_time"]) for i in (0, 2))
    assert first - began >= timedelta(hours=1)
    await handle.terminate(reason="test over")


async def _poll(probe: Any) -> None:
    while not await probe():
        await asyncio.sleep(0.1)
