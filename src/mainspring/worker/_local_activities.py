"""Running local activities inside a workflow task: attempts with retries, then their outcomes handed back.

The workflow's code asked for local activities (``ctx.execute_local_activity``) and is blocked: each one
runs here, on the worker's loop, through the same ``ActivityRunner`` as an activity task (input decoded,
``activity.info()`` set, a plain ``def`` in a thread), retried with backoff per its ``RetryPolicy``,
bounded by its timeouts. Once all of the outstanding ones have finished, their outcomes go back to the
workflow (``WorkflowInstance.resolve_local``: a marker each), whose code runs on, maybe asking for more.

A workflow task has a timeout (``task_timeout`` of the task, the server's ``--workflow-task-timeout``).
If the local activities are still running at 80% of it, the task is completed with the commands so far
and ``force_new_task`` (Temporal's "workflow task heartbeat"): the server schedules the next task at once,
sticky to this worker, whose cached workflow is still waiting for the same local activities, still
running here. Their markers go with a later task. The simplest way that never loses the task: no new
server operation, and replay sees the same thing (markers in the task that recorded them).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .._time import rfc3339_now
from ..options import RetryPolicy
from ..workflow._local_activities import LocalActivity

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..workflow._instance import WorkflowInstance
    from ._activities import ActivityRunner

    #: Runs one attempt: ``(task, heartbeat) -> (kind, value)``, as ``ActivityRunner.run``.
    _Run = Callable[[dict[str, Any], Callable[[Any], Awaitable[None]]], Awaitable[tuple[str, Any]]]

__all__ = ["HEARTBEAT_AT", "retry_interval", "run_local_activity", "wait_local_activities"]

#: The share of the workflow task timeout after which a task waiting for local activities is completed
#: with what it has (and a new one asked for), as Temporal's SDKs do.
HEARTBEAT_AT = 0.8
_DEFAULT_RETRY = RetryPolicy().to_json()
_MAX_SECONDS = 100 * 365 * 86400.0


def retry_interval(retry: dict[str, Any], failed_attempt: int) -> float:
    """The wait after attempt ``failed_attempt`` failed: as the server computes it for activities."""
    initial = float(retry.get("initial_interval") or 1.0)
    coefficient = float(retry.get("backoff_coefficient") or 2.0)
    maximum = retry.get("maximum_interval")
    cap = min(float(maximum) if maximum else initial * 100, _MAX_SECONDS)
    try:
        wait = initial * coefficient ** (failed_attempt - 1)
    except OverflowError:
        return cap
    return float(max(min(wait, cap), 0.0))


async def _no_heartbeat(details: Any) -> None:
    """A local activity has no heartbeat timeout: ``activity.heartbeat()`` is accepted and goes nowhere."""


def _timeout_failure(name: str, timeout_type: str, seconds: float) -> dict[str, Any]:
    return {
        "message": f"local activity {name!r} timed out ({timeout_type}, {seconds:g} s)",
        "type": "TimeoutError",
        "kind": "timeout",
        "timeout_type": timeout_type,
        "stack": None,
        "non_retryable": False,
    }


async def run_local_activity(
    runner: ActivityRunner,
    inst: WorkflowInstance,
    la: LocalActivity,
    slots: asyncio.Semaphore,
    run: _Run | None = None,
) -> dict[str, Any]:
    """Run ``la``'s attempts until one succeeds or the retry policy gives up: the marker's details,
    ``{"activity_type", "attempt", "result"}`` or ``{"activity_type", "attempt", "failure", "retry_state"}``.
    Each attempt holds one of the worker's ``slots`` (``max_concurrent_local_activities``) while it runs.
    ``run``: what runs an attempt (the worker's, within its interceptors), ``runner.run`` if not given."""
    run_attempt = run or runner.run
    call = la.call
    name = call.activity_type
    info = inst.info
    loop = asyncio.get_running_loop()
    begun = loop.time()
    scheduled = rfc3339_now()
    retry = call.retry_policy or _DEFAULT_RETRY
    s2c = call.schedule_to_close_timeout
    stc = call.start_to_close_timeout
    attempt = 1
    while True:
        if name not in runner.definitions:
            known = ", ".join(sorted(runner.definitions)) or "none"
            failure: dict[str, Any] = {
                "message": f"local activity {name!r} is not registered on this worker (Worker(activities=[...])); "
                f"it runs: {known}",
                "type": "UnknownActivityType",
                "kind": "application",
                "stack": None,
                "non_retryable": True,
            }
            return {
                "activity_type": name,
                "attempt": attempt,
                "failure": failure,
                "retry_state": "NON_RETRYABLE_FAILURE",
            }
        task = {
            "task_token": f"local:{info.run_id}:{la.activity_id}:{attempt}",
            "activity_id": la.activity_id,
            "activity_type": name,
            "input": call.input,
            "attempt": attempt,
            "workflow_id": info.workflow_id,
            "run_id": info.run_id,
            "workflow_type": info.workflow_type,
            "namespace": info.namespace,
            "task_queue": info.task_queue,
            "scheduled_time": scheduled,
            "started_time": rfc3339_now(),
            "start_to_close_timeout": stc,
            "schedule_to_close_timeout": s2c,
        }
        if la.outgoing is not None:  # (interceptors': for their activity_call, as a ScheduleActivity's header)
            task["header"] = la.outgoing.get("header")
        # An attempt is bounded by its own timeout and by what is left of the whole.
        left = None if s2c is None else begun + s2c - loop.time()
        limit = stc if left is None or (stc is not None and stc <= left) else left
        timeout_type = "START_TO_CLOSE" if limit == stc else "SCHEDULE_TO_CLOSE"
        try:
            async with slots:  # the timeout counts from the start of the attempt, not from the wait for a slot
                if limit is None:
                    kind, value = await run_attempt(task, _no_heartbeat)
                else:
                    kind, value = await asyncio.wait_for(run_attempt(task, _no_heartbeat), max(limit, 0.0))
        except TimeoutError:
            kind, value = "fail", _timeout_failure(name, timeout_type, limit or 0.0)
        if kind == "complete":
            return {"activity_type": name, "attempt": attempt, "result": value}
        failure = value
        retry_state = None
        if kind == "fail" and failure.get("kind") == "timeout" and failure.get("timeout_type") == "SCHEDULE_TO_CLOSE":
            retry_state = "TIMEOUT"
        elif failure.get("non_retryable") or failure.get("type") in (retry.get("non_retryable_error_types") or []):
            retry_state = "NON_RETRYABLE_FAILURE"
        elif retry.get("maximum_attempts") and attempt >= int(retry["maximum_attempts"]):
            retry_state = "MAXIMUM_ATTEMPTS_REACHED"
        delay = retry_interval(retry, attempt)
        if retry_state is None and s2c is not None and loop.time() + delay >= begun + s2c:
            retry_state = "TIMEOUT"
        if retry_state is not None:
            return {"activity_type": name, "attempt": attempt, "failure": failure, "retry_state": retry_state}
        await asyncio.sleep(delay)
        attempt += 1


async def wait_local_activities(
    runner: ActivityRunner,
    inst: WorkflowInstance,
    deadline: float,
    slots: asyncio.Semaphore,
    run: _Run | None = None,
) -> dict[str, dict[str, Any]] | None:
    """Start the workflow's outstanding local activities that are not running yet, and wait until all of
    them have finished: their outcomes by id. None if ``deadline`` (loop time) came first (they keep
    running, for the next task) or they were cancelled (the workflow was evicted)."""
    loop = asyncio.get_running_loop()
    las = inst.local_activities
    for la in las:
        if la.task is None:
            la.task = loop.create_task(
                run_local_activity(runner, inst, la, slots, run), name=f"local activity {la.call.activity_type}"
            )
    tasks = [la.task for la in las if la.task is not None]
    try:
        _, not_done = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
    except asyncio.CancelledError:
        for t in tasks:  # the worker is stopping: nobody will record them
            t.cancel()
        raise
    if not_done or any(t.cancelled() for t in tasks):
        return None
    return {la.activity_id: la.task.result() for la in las if la.task is not None}
