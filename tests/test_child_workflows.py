"""Child workflows and external workflow handles, against a real server: typed results from function and
class children, a child's failure as ``ChildWorkflowError`` with its cause, parent close policies,
cancelling the code that waits for a child, signals and cancellation requests to other workflows, a child
that survives a server SIGKILL, replay of a parent's history on a fresh worker, and both links in
``describe`` and the CLI.

Tests that matter for replay run twice: with the sticky cache, and with ``max_cached_workflows=0``,
which rebuilds the workflow from its whole history on every workflow task.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from inprocess import eventually, history_types, running_worker
from mainspring import (
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    Client,
    ServerUnavailableError,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowStatus,
    workflow,
)
from mainspring.errors import TerminatedError
from support import ServerProcess, run_cli

CACHE_SIZES = pytest.mark.parametrize("cache", [1000, 0], ids=["cached", "replaying"])


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


def new_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:8]}"


@dataclass
class Order:
    item: str
    quantity: int


@dataclass
class Receipt:
    item: str
    total: int


# --- children ------------------------------------------------------------------------------------------------


@workflow.defn
async def price(ctx: workflow.Context, order: Order) -> Receipt:
    return Receipt(order.item, order.quantity * 3)


@workflow.defn
class Packer:
    def __init__(self) -> None:
        self.extra: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, ctx: workflow.Context, items: list[str]) -> list[str]:
        await ctx.wait_condition(lambda: self.done)
        return [*items, *self.extra]

    @workflow.signal
    def add(self, item: str) -> None:
        self.extra.append(item)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
async def refuses(ctx: workflow.Context, why: str) -> str:
    raise ApplicationError(f"refused: {why}", {"code": 7}, type="Refused", non_retryable=True)


@workflow.defn
async def sleeper(ctx: workflow.Context) -> str:
    try:
        await ctx.sleep(timedelta(hours=1))
    except asyncio.CancelledError:
        return "cancelled"  # a child that ends by returning: it completes
    return "slept"


@workflow.defn
async def stubborn(ctx: workflow.Context) -> str:
    # Ends CANCELED when asked (the cancellation ends the run).
    await ctx.sleep(timedelta(hours=1))
    return "slept"


# --- parents -------------------------------------------------------------------------------------------------


@workflow.defn
async def checkout(ctx: workflow.Context, order: Order) -> str:
    receipt = await ctx.execute_child_workflow(price, order, id=f"{ctx.info.workflow_id}-price")
    handle = await ctx.start_child_workflow(Packer.run, [receipt.item], id=f"{ctx.info.workflow_id}-pack")
    await handle.signal(Packer.add, "box")
    await handle.signal(Packer.finish)
    packed = await handle
    return f"{receipt.total}:{','.join(packed)}"


@workflow.defn
async def tolerant(ctx: workflow.Context, why: str) -> dict[str, Any]:
    try:
        await ctx.execute_child_workflow(refuses, why)
    except ChildWorkflowError as e:
        cause = e.cause
        assert isinstance(cause, ApplicationError)
        return {
            "message": str(e),
            "cause_type": cause.type,
            "cause_message": cause.message,
            "details": list(cause.details),
            "workflow_id": e.workflow_id,
        }
    return {}


@dataclass
class Spawn:
    child_id: str
    policy: str


@workflow.defn
async def spawner(ctx: workflow.Context, spawn: Spawn) -> str:
    await ctx.execute_child_workflow(
        stubborn, id=spawn.child_id, parent_close_policy=workflow.ParentClosePolicy(spawn.policy)
    )
    return "child done"


@workflow.defn
async def impatient_parent(ctx: workflow.Context, child_id: str) -> str:
    try:
        # ABANDON: the parent's close does not terminate the child, so only the cancellation ends it.
        child = ctx.execute_child_workflow(
            stubborn, id=child_id, parent_close_policy=workflow.ParentClosePolicy.ABANDON
        )
        await asyncio.wait_for(child, timeout=2)
    except TimeoutError:
        return "gave up"
    return "never"


@workflow.defn
async def canceller(ctx: workflow.Context, child_id: str) -> str:
    handle = await ctx.start_child_workflow(stubborn, id=child_id)
    await handle.cancel()
    try:
        await handle
    except ChildWorkflowError as e:
        return f"{type(e.cause).__name__}"
    return "completed"


@dataclass
class Target:
    workflow_id: str
    item: str


@workflow.defn
async def messenger(ctx: workflow.Context, target: Target) -> str:
    other = ctx.get_external_workflow_handle_for(Packer.run, target.workflow_id)
    await other.signal(Packer.add, target.item)
    await other.signal(Packer.finish)
    missing = ctx.get_external_workflow_handle(target.workflow_id + "-nobody")
    try:
        await missing.signal("add", "x")
    except ApplicationError as e:
        return f"sent; missing: {e.type}"
    return "sent; missing reached?"


@workflow.defn
async def external_canceller(ctx: workflow.Context, workflow_id: str) -> str:
    await ctx.get_external_workflow_handle(workflow_id).cancel()
    return "asked"


@workflow.defn
async def slow_parent(ctx: workflow.Context, child_id: str) -> str:
    return await ctx.execute_child_workflow(slow_child, id=child_id)


@workflow.defn
async def slow_child(ctx: workflow.Context) -> str:
    await ctx.sleep(timedelta(seconds=3))
    return "slow child's result"


@workflow.defn
async def watcher(ctx: workflow.Context, child_id: str) -> str:
    try:
        await ctx.execute_child_workflow(stubborn, id=child_id)
    except ChildWorkflowError as e:
        return f"{type(e.cause).__name__}: {e.cause}"
    return "completed"


@workflow.defn
async def duplicate_parent(ctx: workflow.Context, child_id: str) -> str:
    try:
        await ctx.execute_child_workflow(stubborn, id=child_id)
    except ChildWorkflowError as e:
        assert isinstance(e.cause, ApplicationError)
        return e.cause.type
    return "started twice?"


WORKFLOWS = [
    price,
    Packer,
    refuses,
    sleeper,
    stubborn,
    checkout,
    tolerant,
    spawner,
    impatient_parent,
    canceller,
    messenger,
    external_canceller,
    slow_parent,
    slow_child,
    duplicate_parent,
    watcher,
]


async def status_of(client: Client, workflow_id: str) -> WorkflowStatus:
    return (await client.get_workflow_handle(workflow_id).describe()).status


# --- tests ---------------------------------------------------------------------------------------------------


@CACHE_SIZES
async def test_a_parent_runs_a_function_child_and_a_class_child_with_typed_results(client: Client, cache: int) -> None:
    tq = new_queue()
    wf_id = new_id()
    async with running_worker(client, tq, workflows=WORKFLOWS, max_cached_workflows=cache):
        result = await asyncio.wait_for(client.execute_workflow(checkout, Order("pen", 4), id=wf_id, task_queue=tq), 60)
    assert result == "12:pen,box"
    types = await history_types(client.get_workflow_handle(wf_id))
    assert types.count("StartChildWorkflowExecutionInitiated") == 2
    assert types.count("ChildWorkflowExecutionStarted") == 2
    assert types.count("ChildWorkflowExecutionCompleted") == 2
    assert types.count("SignalExternalWorkflowExecutionInitiated") == 2
    assert types.count("ExternalWorkflowExecutionSignaled") == 2
    # The child knows its parent, from its first event on.
    child = client.get_workflow_handle(f"{wf_id}-price")
    started = (await child.fetch_history())[0]["attributes"]
    parent_run = (await client.get_workflow_handle(wf_id).describe()).run_id
    assert started["parent_workflow_id"] == wf_id
    assert started["parent_run_id"] == parent_run
    assert isinstance(started["parent_initiated_event_id"], int)


@CACHE_SIZES
async def test_a_failing_child_reaches_the_parent_as_child_workflow_error_with_its_cause(
    client: Client, cache: int
) -> None:
    tq = new_queue()
    async with running_worker(client, tq, workflows=WORKFLOWS, max_cached_workflows=cache):
        out = await asyncio.wait_for(client.execute_workflow(tolerant, "no stock", id=new_id(), task_queue=tq), 60)
    assert out["cause_type"] == "Refused"
    assert out["cause_message"] == "refused: no stock"
    assert out["details"] == [{"code": 7}]
    assert "failed" in out["message"] and "refused: no stock" in out["message"]
    assert "/child-" in out["workflow_id"]  # the default id, made from the parent's


@pytest.mark.parametrize(
    ("policy", "child_status"),
    [
        ("TERMINATE", WorkflowStatus.TERMINATED),
        ("REQUEST_CANCEL", WorkflowStatus.CANCELED),
        ("ABANDON", WorkflowStatus.RUNNING),
    ],
)
async def test_parent_close_policies_apply_when_the_parent_is_terminated(
    client: Client, policy: str, child_status: WorkflowStatus
) -> None:
    tq = new_queue()
    parent_id, child_id = new_id(), new_id()
    async with running_worker(client, tq, workflows=WORKFLOWS):
        parent = await client.start_workflow(spawner, Spawn(child_id, policy), id=parent_id, task_queue=tq)
        await eventually(
            lambda: _has_event(client, parent_id, "ChildWorkflowExecutionStarted"), timeout=30, what="child started"
        )
        await parent.terminate(reason="test")
        if child_status is WorkflowStatus.RUNNING:
            await asyncio.sleep(1.0)  # give a wrongly applied policy the time to show
            assert await status_of(client, child_id) is WorkflowStatus.RUNNING
        else:

            async def closed() -> bool:
                return await status_of(client, child_id) is child_status

            await eventually(closed, timeout=30, what=f"child {child_status}")
    child_history = await client.get_workflow_handle(child_id).fetch_history()
    if policy == "TERMINATE":
        assert child_history[-1]["event_type"] == "WorkflowExecutionTerminated"
        assert parent_id in child_history[-1]["attributes"]["reason"]
    elif policy == "REQUEST_CANCEL":
        assert "WorkflowExecutionCancelRequested" in [e["event_type"] for e in child_history]
    else:
        await client.get_workflow_handle(child_id).terminate(reason="cleanup")


async def _has_event(client: Client, workflow_id: str, event_type: str) -> bool:
    return event_type in await history_types(client.get_workflow_handle(workflow_id))


@CACHE_SIZES
async def test_cancelling_the_code_that_waits_cancels_the_child(client: Client, cache: int) -> None:
    tq = new_queue()
    child_id = new_id()
    async with running_worker(client, tq, workflows=WORKFLOWS, max_cached_workflows=cache):
        result = await asyncio.wait_for(
            client.execute_workflow(impatient_parent, child_id, id=new_id(), task_queue=tq), 60
        )
        assert result == "gave up"

        async def cancelled() -> bool:
            return await status_of(client, child_id) is WorkflowStatus.CANCELED

        await eventually(cancelled, timeout=30, what="the child cancelled")


@CACHE_SIZES
async def test_a_child_handle_cancels_its_child_and_the_result_says_so(client: Client, cache: int) -> None:
    tq = new_queue()
    child_id = new_id()
    async with running_worker(client, tq, workflows=WORKFLOWS, max_cached_workflows=cache):
        result = await asyncio.wait_for(client.execute_workflow(canceller, child_id, id=new_id(), task_queue=tq), 60)
    assert result == CancelledError.__name__
    assert await status_of(client, child_id) is WorkflowStatus.CANCELED


@CACHE_SIZES
async def test_external_handles_signal_and_cancel_other_workflows(client: Client, cache: int) -> None:
    tq = new_queue()
    async with running_worker(client, tq, workflows=WORKFLOWS, max_cached_workflows=cache):
        packer = await client.start_workflow(Packer.run, ["a"], id=new_id(), task_queue=tq)
        sent = await asyncio.wait_for(
            client.execute_workflow(messenger, Target(packer.workflow_id, "b"), id=new_id(), task_queue=tq), 60
        )
        assert sent == "sent; missing: SignalExternalWorkflowFailed"
        assert await asyncio.wait_for(packer.result(), 30) == ["a", "b"]

        victim = await client.start_workflow(stubborn, id=new_id(), task_queue=tq)
        asked = await asyncio.wait_for(
            client.execute_workflow(external_canceller, victim.workflow_id, id=new_id(), task_queue=tq), 60
        )
        assert asked == "asked"
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(victim.result(), 30)
        assert info.value.status == WorkflowStatus.CANCELED.value


async def test_a_child_terminated_from_outside_fails_its_parent_s_wait_with_terminated_error(client: Client) -> None:
    tq = new_queue()
    child_id = new_id()
    async with running_worker(client, tq, workflows=WORKFLOWS):
        parent = await client.start_workflow(watcher, child_id, id=new_id(), task_queue=tq)
        await eventually(lambda: _has_event(client, child_id, "TimerStarted"), timeout=30, what="the child's timer")
        await client.get_workflow_handle(child_id).terminate(reason="operator says no")
        assert await asyncio.wait_for(parent.result(), 30) == f"{TerminatedError.__name__}: operator says no"
    assert "ChildWorkflowExecutionTerminated" in await history_types(parent)


async def test_a_child_id_already_running_fails_the_start(client: Client) -> None:
    tq = new_queue()
    async with running_worker(client, tq, workflows=WORKFLOWS):
        taken = await client.start_workflow(stubborn, id=new_id(), task_queue=tq)
        result = await asyncio.wait_for(
            client.execute_workflow(duplicate_parent, taken.workflow_id, id=new_id(), task_queue=tq), 60
        )
        assert result == "WorkflowExecutionAlreadyStarted"
        await taken.terminate()


async def test_describe_and_the_cli_show_both_links(client: Client, server: ServerProcess) -> None:
    tq = new_queue()
    parent_id = new_id()
    async with running_worker(client, tq, workflows=WORKFLOWS):
        out = await asyncio.wait_for(
            client.execute_workflow(checkout, Order("ink", 1), id=parent_id, task_queue=tq), 60
        )
        assert out == "3:ink,box"
    parent = await client.get_workflow_handle(parent_id).describe()
    children = parent.raw["children"]
    assert [(c["workflow_id"], c["workflow_type"], c["status"]) for c in children] == [
        (f"{parent_id}-price", "price", "COMPLETED"),
        (f"{parent_id}-pack", "Packer", "COMPLETED"),
    ]
    assert parent.raw["children_count"] == 2
    child = await client.get_workflow_handle(f"{parent_id}-pack").describe()
    assert children[1]["run_id"] == child.run_id
    assert child.raw["parent"]["workflow_id"] == parent_id
    assert child.raw["parent"]["run_id"] == parent.run_id
    assert parent.raw["parent"] is None

    shown = run_cli("workflow", "describe", "-w", parent_id, address=server.address)
    assert shown.returncode == 0, shown.stderr
    assert f"{parent_id}-pack" in shown.stdout and child.run_id in shown.stdout
    shown = run_cli("workflow", "describe", "-w", f"{parent_id}-pack", address=server.address)
    assert shown.returncode == 0, shown.stderr
    assert parent_id in shown.stdout and parent.run_id in shown.stdout
    as_json = run_cli("workflow", "describe", "-w", f"{parent_id}-pack", "-o", "json", address=server.address)
    assert json.loads(as_json.stdout)["parent"]["workflow_id"] == parent_id


def test_wrong_child_and_external_commands_get_400_naming_the_field(server: ServerProcess) -> None:
    ns = f"{server.url}/api/v1/namespaces/default"
    with httpx.Client(timeout=30) as http:
        r = http.post(f"{ns}/workers", json={"identity": "t", "task_queue": "hq", "workflow_types": [{"name": "p"}]})
        session = r.json()["session_id"]
        r = http.post(f"{ns}/workflows", json={"workflow_id": new_id(), "workflow_type": "p", "task_queue": "hq"})
        assert r.status_code == 201, r.text
        task = http.post(f"{ns}/workflow-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        start = {"type": "StartChildWorkflow", "workflow_id": "c", "workflow_type": "child"}
        cases = [
            ({**start, "parent_close_policy": "NUKE"}, "parent_close_policy"),
            ({**start, "workflow_id": "bad\nid"}, "workflow_id"),
            ({**start, "task_queue": ""}, "task_queue"),
            ({**start, "run_timeout": 0}, "run_timeout"),
            ({**start, "execution_timeout": True}, "execution_timeout"),
            ({**start, "task_timeout": 500}, "task_timeout"),
            ({**start, "retry_policy": {"maximum_attempts": -1}}, "retry_policy"),
            ({**start, "id_reuse_policy": "SOMETIMES"}, "id_reuse_policy"),
            ({**start, "memo": ["not", "an", "object"]}, "memo"),
            ({"type": "StartChildWorkflow", "workflow_type": "child"}, "workflow_id"),
            ({"type": "SignalExternalWorkflow", "workflow_id": "x"}, "signal_name"),
            ({"type": "RequestCancelExternalWorkflow", "workflow_id": "x", "reason": 3}, "reason"),
        ]
        for command, named in cases:
            r = http.post(
                f"{ns}/workflow-tasks/complete", json={"task_token": task["task_token"], "commands": [command]}
            )
            assert r.status_code == 400, (command, r.text)
            body = r.json()
            assert body["code"] == "invalid_argument" and named in body["message"], (command, body)
        # Two children of one id in one task: refused by the server's check, naming the id.
        r = http.post(
            f"{ns}/workflow-tasks/complete", json={"task_token": task["task_token"], "commands": [start, start]}
        )
        assert r.status_code == 400 and "child workflow id 'c'" in r.json()["message"], r.text
    assert "Traceback" not in server.log()


async def test_a_parent_history_replays_on_a_fresh_worker(client: Client) -> None:
    tq = new_queue()
    wf_id = new_id()
    async with running_worker(client, tq, workflows=WORKFLOWS):
        packer_child = f"{wf_id}-pack"
        handle = await client.start_workflow(checkout, Order("cup", 2), id=wf_id, task_queue=tq)
        # The parent waits for its class child (which waits for its signals); the worker then goes away.
        await eventually(lambda: _has_event(client, packer_child, "WorkflowTaskCompleted"), timeout=30)
    # A fresh worker, with no cache, rebuilds the parent from its history to go on.
    async with running_worker(client, tq, workflows=WORKFLOWS, max_cached_workflows=0):
        assert await asyncio.wait_for(handle.result(), 60) == "6:cup,box"
    types = await history_types(handle)
    assert "WorkflowTaskFailed" not in types


async def test_a_child_survives_a_server_sigkill(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "kill.db").start()
    try:
        client = await Client.connect(srv.address)
        tq = new_queue()
        parent_id, child_id = new_id(), new_id()
        try:
            async with running_worker(client, tq, workflows=WORKFLOWS):
                handle = await client.start_workflow(slow_parent, child_id, id=parent_id, task_queue=tq)
                await eventually(lambda: _has_event(client, child_id, "TimerStarted"), timeout=30)
                srv.kill()  # while the child runs: its timer is pending
                srv.start()
                # The worker and the client reconnect to the server on the same address and database.
                assert await asyncio.wait_for(_result_across_restarts(handle), 90) == "slow child's result"
        finally:
            await client.close()
        client = await Client.connect(srv.address)
        try:
            types = await history_types(client.get_workflow_handle(parent_id))
            assert types.count("ChildWorkflowExecutionStarted") == 1
            assert types.count("ChildWorkflowExecutionCompleted") == 1
            runs = (await client.list_workflows(workflow_id_prefix=child_id)).executions
            assert len(runs) == 1  # made once
        finally:
            await client.close()
    finally:
        srv.stop()


async def _result_across_restarts(handle: WorkflowHandle[Any, str]) -> str:
    while True:
        try:
            return await handle.result()
        except ServerUnavailableError:
            await asyncio.sleep(0.2)
