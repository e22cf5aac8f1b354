"""A child workflow's own start options, on the time-skipping environment (``mainspring_client``, so a
child's timeouts and retry backoff are hours long and take no real time): its run and execution timeouts (the parent's
wait raises ``ChildWorkflowError`` with a ``TimeoutError`` cause), its retry policy (the parent gets the outcome
of the last run, not the first failure), its id reuse policy, its memo and task timeout (its describe and start
event); ``ctx.info.parent``; and options refused at the call, naming the option. (``test_child_recovery`` starts
a child with its options again from its Initiated event after a crash.)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from inprocess import events_of, running_worker
from mainspring import ApplicationError, ChildWorkflowError, Client, RetryPolicy, WorkflowIDReusePolicy, workflow
from mainspring.errors import TimeoutError as WorkflowTimeoutError


def new_id() -> str:
    return f"copt-{uuid.uuid4().hex[:10]}"


def seconds(earlier: str, later: str) -> float:
    """The seconds between two event times."""
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def _parent(ctx: workflow.Context) -> dict[str, str] | None:
    p = ctx.info.parent
    return None if p is None else {"namespace": p.namespace, "workflow_id": p.workflow_id, "run_id": p.run_id}


# --- children ---------------------------------------------------------------------------------------------------


@workflow.defn
async def dozes(ctx: workflow.Context) -> str:
    await ctx.sleep(timedelta(hours=1))
    return "woke"


@workflow.defn
async def flaky_child(ctx: workflow.Context) -> dict[str, Any]:
    if ctx.info.attempt < 2:
        raise ApplicationError(f"attempt {ctx.info.attempt} fails", type="Flaky")
    return {"attempt": ctx.info.attempt, "parent": _parent(ctx)}


@workflow.defn
async def tells_parent(ctx: workflow.Context) -> dict[str, str] | None:
    return _parent(ctx)


# --- parents ------------------------------------------------------------------------------------------------------


async def _why(start: Any) -> dict[str, Any]:
    """How a child's wait ended: its ChildWorkflowError's cause."""
    try:
        await start
    except ChildWorkflowError as e:
        cause = e.cause
        return {
            "cause": type(cause).__name__,
            "type": getattr(cause, "type", None),
            "timeout_type": getattr(cause, "timeout_type", None),
        }
    return {"cause": None}


@workflow.defn
async def times_out_children(ctx: workflow.Context) -> list[dict[str, Any]]:
    wid = ctx.info.workflow_id
    # The child dozes an hour: longer than either timeout.
    by_run = ctx.execute_child_workflow(dozes, id=f"{wid}-run", run_timeout=timedelta(minutes=10))
    by_execution = ctx.execute_child_workflow(dozes, id=f"{wid}-exec", execution_timeout=timedelta(minutes=20))
    return [await _why(by_run), await _why(by_execution)]


@workflow.defn
async def retries_child(ctx: workflow.Context) -> dict[str, Any]:
    policy = RetryPolicy(initial_interval=timedelta(hours=1), maximum_attempts=3)
    return await ctx.execute_child_workflow(flaky_child, id=f"{ctx.info.workflow_id}-flaky", retry_policy=policy)


@workflow.defn
async def reuses_id(ctx: workflow.Context, child_id: str) -> dict[str, Any]:
    return await _why(
        ctx.execute_child_workflow(tells_parent, id=child_id, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    )


@workflow.defn
async def notes_child(ctx: workflow.Context) -> dict[str, Any]:
    child = await ctx.execute_child_workflow(
        tells_parent,
        id=f"{ctx.info.workflow_id}-noted",
        memo={"customer": "ada", "tier": 2},
        task_timeout=timedelta(seconds=7),
    )
    return {"me": _parent(ctx), "child": child}


#: Options the type checker refuses (or the server would), and what the running parent says of each.
BAD_OPTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown": (
        {"run_timout": timedelta(seconds=1)},
        "TypeError: start_child_workflow() got an unexpected keyword argument 'run_timout'; "
        "did you mean 'run_timeout'?",
    ),
    "int timeout": (
        {"run_timeout": 5},
        "TypeError: start_child_workflow: run_timeout must be a timedelta (for example timedelta(seconds=5)) "
        "or None, got int 5",
    ),
    "policy as dict": (
        {"retry_policy": {"maximum_attempts": 2}},
        "TypeError: start_child_workflow: retry_policy must be a RetryPolicy or None",
    ),
    "reuse as str": (
        {"id_reuse_policy": "REJECT_DUPLICATE"},
        "TypeError: start_child_workflow: id_reuse_policy must be a WorkflowIDReusePolicy or None",
    ),
    "memo as list": ({"memo": [1]}, "TypeError: start_child_workflow: memo must be a Mapping or None"),
    "zero timeout": (
        {"execution_timeout": timedelta(0)},
        "ValueError: start_child_workflow: execution_timeout must be more than 0",
    ),
    "long task timeout": (
        {"task_timeout": timedelta(minutes=10)},
        "ValueError: start_child_workflow: task_timeout must be 1 to 120 seconds",
    ),
}


@workflow.defn
async def bad_children(ctx: workflow.Context, cases: list[str]) -> dict[str, str]:
    said: dict[str, str] = {}
    for case in cases:
        try:
            await ctx.execute_child_workflow(tells_parent, **BAD_OPTIONS[case][0])
            said[case] = "ran"
        except (TypeError, ValueError) as e:
            said[case] = f"{type(e).__name__}: {e}"
    return said


WORKFLOWS = [dozes, flaky_child, tells_parent, times_out_children, retries_child, reuses_id, notes_child, bad_children]


# --- tests ------------------------------------------------------------------------------------------------------


async def test_a_child_s_run_and_execution_timeouts_reach_the_parent_as_a_timeout(
    mainspring_client: Client, task_queue: str
) -> None:
    client = mainspring_client
    wid = new_id()
    async with running_worker(client, task_queue, workflows=WORKFLOWS):
        said = await asyncio.wait_for(client.execute_workflow(times_out_children, id=wid, task_queue=task_queue), 60)
    timeout = WorkflowTimeoutError.__name__
    assert said == [
        {"cause": timeout, "type": None, "timeout_type": "RUN"},
        {"cause": timeout, "type": None, "timeout_type": "EXECUTION"},
    ]
    parent = client.get_workflow_handle(wid)
    initiated = [e["attributes"] for e in await events_of(parent, "StartChildWorkflowExecutionInitiated")]
    assert [(a.get("run_timeout"), a.get("execution_timeout")) for a in initiated] == [(600.0, None), (None, 1200.0)]
    timed_out = await events_of(parent, "ChildWorkflowExecutionTimedOut")
    assert sorted(e["attributes"]["workflow_id"] for e in timed_out) == [f"{wid}-exec", f"{wid}-run"]
    run_child = await client.get_workflow_handle(f"{wid}-run").fetch_history()
    assert run_child[0]["attributes"]["run_timeout"] == 600.0
    assert run_child[-1]["event_type"] == "WorkflowExecutionTimedOut"
    # Each timed out when its own limit came, on the skipped clock: not at once, and not after its hour-long doze.
    for child, limit in ((run_child, 600.0), (await client.get_workflow_handle(f"{wid}-exec").fetch_history(), 1200.0)):
        lasted = seconds(child[0]["event_time"], child[-1]["event_time"])
        assert limit <= lasted < 3600, lasted


async def test_a_retried_child_gives_its_parent_the_last_run_s_result(
    mainspring_client: Client, task_queue: str
) -> None:
    client = mainspring_client
    wid = new_id()
    async with running_worker(client, task_queue, workflows=WORKFLOWS):
        handle = await client.start_workflow(retries_child, id=wid, task_queue=task_queue)
        result = await asyncio.wait_for(handle.result(), 60)
    # The second run, a retry of the same id, is still the parent's child: it knows its parent.
    parent = {"namespace": "default", "workflow_id": wid, "run_id": handle.result_run_id}
    assert result == {"attempt": 2, "parent": parent}
    runs = (await client.list_workflows(workflow_id=f"{wid}-flaky", limit=10)).executions[::-1]
    assert [r["status"] for r in runs] == ["FAILED", "COMPLETED"]
    types = [e["event_type"] for e in await handle.fetch_history()]
    assert "ChildWorkflowExecutionCompleted" in types and "ChildWorkflowExecutionFailed" not in types
    first = await client.get_workflow_handle(f"{wid}-flaky", run_id=runs[0]["run_id"]).fetch_history()
    assert first[0]["attributes"]["retry_policy"]["maximum_attempts"] == 3


async def test_reject_duplicate_refuses_a_child_whose_id_has_run(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    taken = new_id()
    async with running_worker(client, task_queue, workflows=WORKFLOWS):
        assert await client.execute_workflow(tells_parent, id=taken, task_queue=task_queue) is None
        said = await asyncio.wait_for(client.execute_workflow(reuses_id, taken, id=new_id(), task_queue=task_queue), 60)
    assert said == {"cause": "ApplicationError", "type": "WorkflowExecutionAlreadyStarted", "timeout_type": None}
    runs = (await client.list_workflows(workflow_id=taken, limit=10)).executions
    assert len(runs) == 1  # no second run was made


async def test_a_child_s_memo_task_timeout_and_parent_info(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    wid = new_id()
    async with running_worker(client, task_queue, workflows=WORKFLOWS):
        handle = await client.start_workflow(notes_child, id=wid, task_queue=task_queue)
        said = await asyncio.wait_for(handle.result(), 60)
    assert said == {"me": None, "child": {"namespace": "default", "workflow_id": wid, "run_id": handle.result_run_id}}
    child = client.get_workflow_handle(f"{wid}-noted")
    d = await child.describe()
    assert d.memo == {"customer": "ada", "tier": 2}
    assert d.raw["task_timeout"] == 7.0
    started = (await child.fetch_history())[0]["attributes"]
    assert started["workflow_task_timeout"] == 7.0 and started["memo"] == {"customer": "ada", "tier": 2}
    initiated = (await events_of(handle, "StartChildWorkflowExecutionInitiated"))[0]["attributes"]
    assert initiated["memo"] == {"customer": "ada", "tier": 2} and initiated["workflow_task_timeout"] == 7.0


async def test_bad_child_options_are_refused_at_the_call_naming_them(
    mainspring_client: Client, task_queue: str
) -> None:
    client = mainspring_client
    wid = new_id()
    async with running_worker(client, task_queue, workflows=WORKFLOWS):
        said = await asyncio.wait_for(
            client.execute_workflow(bad_children, list(BAD_OPTIONS), id=wid, task_queue=task_queue), 60
        )
    for case, (_, message) in BAD_OPTIONS.items():
        assert said[case].startswith(message), (case, said[case])
    assert await events_of(client.get_workflow_handle(wid), "StartChildWorkflowExecutionInitiated") == []
