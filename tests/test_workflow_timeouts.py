"""A workflow's lifetime: ``run_timeout`` (one run), ``execution_timeout`` (the whole chain, continue-as-new
included) and a workflow ``retry_policy`` (a failed or run-timed-out run is followed by a new run of the same id,
``ctx.info.attempt`` counting them), on the time-skipping environment (``mainspring_client``: timeouts and
backoffs of hours take no real time); against a real server process: durable across a server restart, the CLI's
flags, bad values refused with a 400 that names them."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from inprocess import running_worker
from mainspring import ApplicationError, Client, RetryPolicy, WorkflowFailureError, workflow
from support import ServerProcess, can_worker, run_cli


def new_id() -> str:
    return f"life-{uuid.uuid4().hex[:10]}"


@dataclass
class Sleep:
    seconds: float


@workflow.defn(name="sleeper")
async def sleeper(ctx: workflow.Context, s: Sleep) -> int:
    await ctx.sleep(timedelta(seconds=s.seconds))
    return ctx.info.attempt


@dataclass
class Flaky:
    fail_until: int
    kind: str = "Flaky"


@workflow.defn(name="flaky")
async def flaky(ctx: workflow.Context, f: Flaky) -> dict[str, Any]:
    if ctx.info.attempt < f.fail_until:
        raise ApplicationError(f"attempt {ctx.info.attempt} fails", type=f.kind)
    return {"attempt": ctx.info.attempt, "retried_from": ctx.info.continued_run_id}


@workflow.defn(name="napping_loop")
async def napping_loop(ctx: workflow.Context, n: int) -> int:
    await ctx.sleep(timedelta(hours=1))
    ctx.continue_as_new(n + 1, workflow=napping_loop)


async def _runs(client: Client, workflow_id: str) -> list[dict[str, Any]]:
    """Every run of ``workflow_id``, oldest first."""
    page = await client.list_workflows(workflow_id=workflow_id, limit=1000)
    return page.executions[::-1]


async def _history(client: Client, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()


HOUR = timedelta(hours=1)
DAY = 86400.0


async def test_run_timeout_times_out_a_run_that_sleeps(mainspring_client: Client, task_queue: str) -> None:
    client, wid = mainspring_client, new_id()
    async with running_worker(client, task_queue, workflows=[sleeper]):
        handle = await client.start_workflow(sleeper, Sleep(30 * DAY), id=wid, task_queue=task_queue, run_timeout=HOUR)
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), 60)
    assert err.value.status == "TIMED_OUT"
    assert err.value.cause is not None and "timed out" in err.value.cause.message
    history = await handle.fetch_history()
    assert history[0]["attributes"]["run_timeout"] == 3600.0
    closing = history[-1]
    assert closing["event_type"] == "WorkflowExecutionTimedOut"
    assert closing["attributes"]["timeout_type"] == "RUN"
    d = await handle.describe()
    assert d.status.value == "TIMED_OUT" and d.failure is not None and d.failure["kind"] == "timeout"
    assert d.pending_timers == []


async def test_execution_timeout_ends_a_continue_as_new_chain(mainspring_client: Client, task_queue: str) -> None:
    client, wid = mainspring_client, new_id()
    async with running_worker(client, task_queue, workflows=[napping_loop]):
        # Runs of an hour each, in a chain that may last 5 hours and 30 minutes.
        handle = await client.start_workflow(
            napping_loop, 0, id=wid, task_queue=task_queue, execution_timeout=timedelta(hours=5, minutes=30)
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), 60)
    assert err.value.status == "TIMED_OUT"
    runs = await _runs(client, wid)
    # The deadline is the chain's: it was carried from run to run, and ended the one open when it came.
    assert len(runs) == 6
    assert [r["status"] for r in runs] == ["CONTINUED_AS_NEW"] * (len(runs) - 1) + ["TIMED_OUT"]
    last = await _history(client, wid, runs[-1]["run_id"])
    assert last[0]["attributes"]["execution_timeout"] == 5.5 * 3600
    assert last[-1]["attributes"]["timeout_type"] == "EXECUTION"


async def test_retry_policy_retries_a_failing_workflow_until_an_attempt_succeeds(
    mainspring_client: Client, task_queue: str
) -> None:
    client, wid = mainspring_client, new_id()
    policy = RetryPolicy(initial_interval=HOUR, maximum_attempts=5)
    async with running_worker(client, task_queue, workflows=[flaky]):
        handle = await client.start_workflow(flaky, Flaky(3), id=wid, task_queue=task_queue, retry_policy=policy)
        result = await asyncio.wait_for(handle.result(), 60)
    runs = await _runs(client, wid)
    assert [r["status"] for r in runs] == ["FAILED", "FAILED", "COMPLETED"]
    assert result == {"attempt": 3, "retried_from": runs[1]["run_id"]}
    assert handle.result_run_id == runs[2]["run_id"]
    first_tasks = []
    for i, run in enumerate(runs):
        history = await _history(client, wid, run["run_id"])
        first_tasks.append(next(e["event_time"] for e in history if e["event_type"] == "WorkflowTaskStarted"))
        assert history[0]["attributes"]["attempt"] == i + 1
        assert history[0]["attributes"]["input"] == {"fail_until": 3, "kind": "Flaky"}
        if i < 2:
            assert history[-1]["event_type"] == "WorkflowExecutionFailed"
            assert history[-1]["attributes"]["new_execution_run_id"] == runs[i + 1]["run_id"]
    d = await client.get_workflow_handle(wid, run_id=runs[1]["run_id"]).describe()
    assert d.previous_run_id == runs[0]["run_id"] and d.next_run_id == runs[2]["run_id"]
    # Each retry's first task waited its backoff (an hour, then two: the coefficient is 2), on the skipped clock.
    at = [datetime.fromisoformat(t) for t in first_tasks]
    assert at[1] - at[0] >= HOUR and at[2] - at[1] >= 2 * HOUR, at


async def test_retries_stop_at_maximum_attempts_and_at_non_retryable_errors(
    mainspring_client: Client, task_queue: str
) -> None:
    client = mainspring_client
    policy = RetryPolicy(initial_interval=HOUR, maximum_attempts=2, non_retryable_error_types=["Fatal"])
    async with running_worker(client, task_queue, workflows=[flaky]):
        wid = new_id()
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(
                client.execute_workflow(flaky, Flaky(10), id=wid, task_queue=task_queue, retry_policy=policy), 60
            )
        assert err.value.status == "FAILED" and "attempt 2 fails" in str(err.value)
        assert [r["status"] for r in await _runs(client, wid)] == ["FAILED", "FAILED"]

        fatal = new_id()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(
                client.execute_workflow(
                    flaky, Flaky(10, kind="Fatal"), id=fatal, task_queue=task_queue, retry_policy=policy
                ),
                60,
            )
        assert [r["status"] for r in await _runs(client, fatal)] == ["FAILED"]


async def test_a_run_timeout_is_retried_by_the_policy(mainspring_client: Client, task_queue: str) -> None:
    client, wid = mainspring_client, new_id()
    policy = RetryPolicy(initial_interval=HOUR, maximum_attempts=2)
    async with running_worker(client, task_queue, workflows=[sleeper]):
        handle = await client.start_workflow(
            sleeper, Sleep(30 * DAY), id=wid, task_queue=task_queue, run_timeout=HOUR, retry_policy=policy
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), 60)
    assert err.value.status == "TIMED_OUT"
    assert [r["status"] for r in await _runs(client, wid)] == ["TIMED_OUT", "TIMED_OUT"]


def test_a_run_timeout_fires_after_a_server_restart(server: ServerProcess, tmp_path: Path, task_queue: str) -> None:
    wid = new_id()
    worker = can_worker(server, task_queue, tmp_path).start()
    try:
        out = run_cli(
            "workflow",
            "start",
            "--type",
            "sleeper",
            "-w",
            wid,
            "-t",
            task_queue,
            "-i",
            json.dumps({"seconds": 3600}),
            "--run-timeout",
            "3",
            address=server.address,
        )
        assert out.returncode == 0, out.stderr
        server.kill()  # the deadline is only in the store now
        server.start()
        out = run_cli("workflow", "result", "-w", wid, "-o", "json", "--timeout", "60", address=server.address)
    finally:
        worker.stop()
    assert out.returncode == 5, out.stdout + out.stderr
    assert json.loads(out.stdout)["status"] == "TIMED_OUT"


def test_cli_flags_reach_the_start_event(server: ServerProcess, tmp_path: Path, task_queue: str) -> None:
    wid = new_id()
    worker = can_worker(server, task_queue, tmp_path).start()
    try:
        out = run_cli(
            "workflow",
            "execute",
            "--type",
            "flaky",
            "-w",
            wid,
            "-t",
            task_queue,
            "-i",
            json.dumps({"fail_until": 2}),
            "--execution-timeout",
            "120",
            "--run-timeout",
            "60",
            "--retry-policy",
            json.dumps({"maximum_attempts": 3, "initial_interval": 0.1}),
            "-o",
            "json",
            address=server.address,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert json.loads(out.stdout)["result"] == 2
        shown = run_cli("workflow", "show", "-w", wid, "-o", "json", address=server.address)
        bad = run_cli(
            "workflow",
            "start",
            "--type",
            "flaky",
            "-w",
            new_id(),
            "-t",
            task_queue,
            "--retry-policy",
            '{"maximum_attempts": -1}',
            address=server.address,
        )
        worse = run_cli(
            "workflow",
            "start",
            "--type",
            "flaky",
            "-w",
            new_id(),
            "-t",
            task_queue,
            "--run-timeout",
            "-3",
            address=server.address,
        )
    finally:
        worker.stop()
    assert shown.returncode == 0, shown.stderr
    assert bad.returncode != 0 and "maximum_attempts" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
    assert worse.returncode != 0 and "run-timeout" in worse.stderr, worse.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [("run_timeout", -1), ("execution_timeout", 0), ("retry_policy", {"maximum_attempts": -2}), ("run_timeout", "x")],
)
async def test_bad_lifetime_options_are_refused_with_a_400(server: ServerProcess, field: str, value: Any) -> None:
    body = {"workflow_id": new_id(), "workflow_type": "sleeper", "task_queue": "q", field: value}
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.post("/api/v1/namespaces/default/workflows", json=body)
    assert r.status_code == 400, r.text
    assert field in r.json()["message"]
