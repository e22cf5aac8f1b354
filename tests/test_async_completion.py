"""Async activity completion against a real server: an activity calls ``activity.raise_complete_async()``
and something else finishes it (a client by task token or by ids, the CLI), heartbeating it on the way;
the attempt outlives its worker's session and a server restart, its timeouts still apply, a cancelled
one is reported cancelled, and a forged or garbled token is refused with a 4xx JSON answer.

Before this, an activity had no way to end without its worker reporting on it, and the server took a
report only from the worker session that held the attempt (or, over HTTP, for an attempt that worker
still held: its end failed the attempt and retried it).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from inprocess import eventually, history_types, running_worker
from mainspring import (
    ActivityError,
    ApplicationError,
    CancelledError,
    Client,
    InvalidArgumentError,
    NotFoundError,
    RetryPolicy,
    TimeoutError,
    activity,
    workflow,
)
from support import ServerProcess, run_cli

#: What each test's activity saw of its attempts, by the key the test gave it.
SEEN: dict[str, list[activity.ActivityInfo]] = {}


@dataclass
class Ask:
    key: str
    heartbeat_timeout: float | None = None
    maximum_attempts: int = 0
    activity_id: str | None = None


@activity.defn
async def external_job(key: str) -> dict[str, Any]:
    """Hands itself to "another system" (the test) and returns without a result."""
    SEEN.setdefault(key, []).append(activity.info())
    activity.raise_complete_async()


@workflow.defn
async def waits_for_job(ctx: workflow.Context, ask: Ask) -> dict[str, Any]:
    try:
        result = await ctx.execute_activity(
            external_job,
            ask.key,
            activity_id=ask.activity_id,
            start_to_close_timeout=timedelta(seconds=120),
            heartbeat_timeout=timedelta(seconds=ask.heartbeat_timeout) if ask.heartbeat_timeout else None,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=50), maximum_attempts=ask.maximum_attempts
            ),
        )
    except ActivityError as e:
        cause = e.cause
        return {
            "error": type(cause).__name__,
            "message": cause.message if cause else None,
            "type": getattr(cause, "type", None),
            "details": list(getattr(cause, "details", ())),
            "timeout_type": getattr(cause, "timeout_type", None),
        }
    except asyncio.CancelledError:
        # Cancelled (the activity with it): clean up with another job, which keeps the run open meanwhile.
        await ctx.execute_activity(external_job, ask.key + "-cleanup", start_to_close_timeout=timedelta(seconds=120))
        return {"cancelled": True}
    return {"result": result}


def _key() -> str:
    return uuid.uuid4().hex[:10]


async def _first_attempt(key: str) -> activity.ActivityInfo:
    async def probe() -> activity.ActivityInfo | None:
        return SEEN[key][0] if SEEN.get(key) else None

    return await eventually(probe, timeout=20, what="the activity's first attempt")


async def _pending(client: Client, workflow_id: str) -> dict[str, Any]:
    desc = await client.get_workflow_handle(workflow_id).describe()
    assert len(desc.pending_activities) == 1, desc.pending_activities
    return desc.pending_activities[0]


async def test_completed_by_task_token_after_its_worker_stopped(client: Client, task_queue: str) -> None:
    key = _key()
    wid = f"async-{key}"
    async with running_worker(client, task_queue, workflows=[waits_for_job], activities=[external_job]):
        handle = await client.start_workflow(waits_for_job, Ask(key), id=wid, task_queue=task_queue)
        info = await _first_attempt(key)
    # The worker and its session are gone; the attempt is not failed and retried for that.
    assert info.task_token
    job = client.get_async_activity_handle(task_token=info.task_token)
    await job.heartbeat({"done": 50})
    pending = await _pending(client, wid)
    assert pending["state"] == "STARTED" and pending["attempt"] == 1 and pending["completing_async"] is True
    assert pending["heartbeat_details"] == {"done": 50}
    await job.complete({"rows": 3})
    async with running_worker(client, task_queue, workflows=[waits_for_job], activities=[external_job]):
        assert await handle.result(timeout=30) == {"result": {"rows": 3}}
    assert len(SEEN[key]) == 1  # run once: nobody was handed it again
    # The attempt is closed: the token is no good any more.
    with pytest.raises(NotFoundError) as e:
        await job.complete("again")
    assert e.value.code == "task_not_found"


async def test_the_attempt_waits_through_a_server_restart(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    key = _key()
    async with running_worker(client, task_queue, workflows=[waits_for_job], activities=[external_job]):
        handle = await client.start_workflow(waits_for_job, Ask(key), id=f"async-{key}", task_queue=task_queue)
        info = await _first_attempt(key)
        await eventually(lambda: _let_go(client, f"async-{key}"), timeout=20, what="the worker to let go of it")
    server.restart()
    async with running_worker(client, task_queue, workflows=[waits_for_job], activities=[external_job]):
        # Stored as started and let go of: not handed to the new worker.
        await asyncio.sleep(0.5)
        assert len(SEEN[key]) == 1
        await client.get_async_activity_handle(task_token=info.task_token).complete({"after": "restart"})
        assert await handle.result(timeout=30) == {"result": {"after": "restart"}}


async def _let_go(client: Client, workflow_id: str) -> bool:
    """The activity's worker released its attempt (it is completed from elsewhere)."""
    return bool((await _pending(client, workflow_id))["completing_async"])


async def _started(client: Client, workflow_id: str) -> bool:
    """The activity's current attempt has been handed to a worker."""
    pending = await _pending(client, workflow_id)
    return pending["state"] == "STARTED"


async def test_completed_and_failed_by_ids_from_the_client(client: Client, task_queue: str) -> None:
    k1, k2 = _key(), _key()
    async with running_worker(client, task_queue, workflows=[waits_for_job], activities=[external_job]):
        done = await client.start_workflow(
            waits_for_job, Ask(k1, activity_id="job-1"), id=f"a-{k1}", task_queue=task_queue
        )
        failed = await client.start_workflow(
            waits_for_job, Ask(k2, activity_id="job-2", maximum_attempts=2), id=f"a-{k2}", task_queue=task_queue
        )
        await _first_attempt(k1)
        await _first_attempt(k2)
        by_ids = client.get_async_activity_handle(workflow_id=f"a-{k1}", activity_id="job-1")
        await by_ids.heartbeat("half")
        assert (await _pending(client, f"a-{k1}"))["heartbeat_details"] == "half"
        await by_ids.complete({"ok": True})
        assert await done.result(timeout=30) == {"result": {"ok": True}}

        # A failure is retried per the policy: the second attempt runs (and goes async again), then fails for good.
        second = client.get_async_activity_handle(workflow_id=f"a-{k2}", activity_id="job-2")
        await second.fail(ApplicationError("the bank said no", {"code": 51}, type="Declined"))
        await eventually(lambda: _attempts(k2, 2), timeout=20, what="the retry")
        await eventually(lambda: _started(client, f"a-{k2}"), timeout=20, what="the retry started")
        await second.fail(ApplicationError("still no", type="Declined"))
        assert await failed.result(timeout=30) == {
            "error": "ApplicationError",
            "message": "still no",
            "type": "Declined",
            "details": [],
            "timeout_type": None,
        }
        # An id the run has no pending activity of.
        with pytest.raises(NotFoundError) as e:
            await client.get_async_activity_handle(workflow_id=f"a-{k2}", activity_id="job-2").complete(1)
        assert e.value.code == "activity_not_found"


async def _attempts(key: str, n: int) -> bool:
    return len(SEEN.get(key, [])) >= n


async def test_completed_and_failed_from_the_cli(server: ServerProcess, client: Client, task_queue: str) -> None:
    k1, k2 = _key(), _key()
    async with running_worker(client, task_queue, workflows=[waits_for_job], activities=[external_job]):
        done = await client.start_workflow(
            waits_for_job, Ask(k1, activity_id="cli-1"), id=f"c-{k1}", task_queue=task_queue
        )
        failed = await client.start_workflow(
            waits_for_job, Ask(k2, activity_id="cli-2", maximum_attempts=1), id=f"c-{k2}", task_queue=task_queue
        )
        await _first_attempt(k1)
        await _first_attempt(k2)
        # The CLI blocks: run it off this loop, where the worker runs.
        r = await asyncio.to_thread(
            run_cli,
            "activity",
            "complete",
            "--workflow-id",
            f"c-{k1}",
            "--activity-id",
            "cli-1",
            "--result",
            '{"by": "cli"}',
            address=server.address,
        )
        assert r.returncode == 0, r.stderr
        assert "completed" in r.stdout
        assert await done.result(timeout=30) == {"result": {"by": "cli"}}
        r = await asyncio.to_thread(
            run_cli,
            "activity",
            "fail",
            "-w",
            f"c-{k2}",
            "--activity-id",
            "cli-2",
            "--reason",
            "operator gave up",
            "--detail",
            '{"ticket": 7}',
            "-o",
            "json",
            address=server.address,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"workflow_id": f"c-{k2}", "activity_id": "cli-2", "failed": True}
        outcome = await failed.result(timeout=30)
        assert outcome["message"] == "operator gave up" and outcome["details"] == [{"ticket": 7}]
        # Not JSON: refused before anything is sent, saying how to quote it.
        r = await asyncio.to_thread(
            run_cli,
            "activity",
            "complete",
            "-w",
            "x",
            "--activity-id",
            "y",
            "--result",
            "{nope",
            address=server.address,
        )
        assert r.returncode == 2 and "--result is not valid JSON" in r.stderr
        # An activity that does not exist: the server's 404, as the CLI says it.
        r = await asyncio.to_thread(
            run_cli,
            "activity",
            "complete",
            "-w",
            f"c-{k1}",
            "--activity-id",
            "cli-1",
            "--result",
            "1",
            address=server.address,
        )
        assert r.returncode != 0 and "no pending activity 'cli-1'" in r.stderr


async def test_its_heartbeat_timeout_still_applies(client: Client, task_queue: str) -> None:
    key = _key()
    async with running_worker(client, task_queue, workflows=[waits_for_job], activities=[external_job]):
        result = await client.execute_workflow(
            waits_for_job, Ask(key, heartbeat_timeout=1.0, maximum_attempts=1), id=f"t-{key}", task_queue=task_queue
        )
    assert result["error"] == TimeoutError.__name__ and result["timeout_type"] == "HEARTBEAT"


async def test_a_cancelled_activity_is_reported_cancelled(client: Client, task_queue: str) -> None:
    key = _key()
    async with running_worker(client, task_queue, workflows=[waits_for_job], activities=[external_job]):
        handle = await client.start_workflow(waits_for_job, Ask(key), id=f"x-{key}", task_queue=task_queue)
        info = await _first_attempt(key)
        job = client.get_async_activity_handle(task_token=info.task_token)
        with pytest.raises(InvalidArgumentError) as refused:
            await job.report_cancellation()
        assert refused.value.code == "not_cancel_requested"
        await handle.cancel()
        await eventually(lambda: _cancel_requested(client, f"x-{key}"), timeout=20, what="the cancel request")
        with pytest.raises(CancelledError):
            await job.heartbeat("still going?")
        await job.report_cancellation({"stopped_at": 3})
        cleanup = await _first_attempt(key + "-cleanup")
        await client.get_async_activity_handle(task_token=cleanup.task_token).complete({})
        assert await handle.result(timeout=30) == {"cancelled": True}
        assert "ActivityTaskCanceled" in await history_types(handle)


async def _cancel_requested(client: Client, workflow_id: str) -> bool:
    desc = await client.get_workflow_handle(workflow_id).describe()
    return bool(desc.pending_activities) and bool(desc.pending_activities[0].get("cancel_requested"))


async def test_forged_and_garbled_tokens_are_refused_with_json(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    key = _key()
    async with running_worker(client, task_queue, workflows=[waits_for_job], activities=[external_job]):
        handle = await client.start_workflow(waits_for_job, Ask(key), id=f"f-{key}", task_queue=task_queue)
        token = (await _first_attempt(key)).task_token
        url = f"{server.url}/api/v1/namespaces/default/activities"
        flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
        async with httpx.AsyncClient(timeout=10) as http:
            cases: list[tuple[str, dict[str, Any], int, str]] = [
                ("complete", {"task_token": flipped, "result": 1}, 404, "task_not_found"),
                ("complete", {"task_token": "not-a-token", "result": 1}, 404, "task_not_found"),
                ("heartbeat", {"task_token": token + "x"}, 404, "task_not_found"),
                ("fail", {"task_token": "!!", "failure": {"message": "x"}}, 404, "task_not_found"),
                (
                    "fail",
                    {"task_token": token, "failure": {"message": "x", "next_retry_delay": -1}},
                    400,
                    "invalid_argument",
                ),
                (
                    "complete",
                    {"task_token": token, "workflow_id": f"f-{key}", "activity_id": "1"},
                    400,
                    "invalid_argument",
                ),
                ("complete", {"workflow_id": f"f-{key}"}, 400, "invalid_argument"),
                ("complete", {"task_token": token, "result": 1, "extra": True}, 400, "invalid_argument"),
            ]
            for action, body, status, code in cases:
                r = await http.post(f"{url}/{action}", json=body)
                assert r.status_code == status, (action, body, r.text)
                answer = r.json()
                assert answer["code"] == code and answer["message"], (action, body, answer)
            # A token of this server for another namespace is not good here either.
            r = await http.post(f"{server.url}/api/v1/namespaces/other/activities/complete", json={"task_token": token})
            assert 400 <= r.status_code < 500 and r.json()["code"]
        # None of that touched the attempt: the genuine token still completes it.
        await client.get_async_activity_handle(task_token=token).complete({"fine": True})
        assert await handle.result(timeout=30) == {"result": {"fine": True}}
    assert "Traceback" not in server.log()
