"""Updates, against a real server: validators that reject (no trace in history), handlers that return, fail
or run activities, stages, an update id applied once, an update sent before any worker runs, one awaited
again after a server SIGKILL, and replay of a history with updates on a fresh worker.

Tests that matter for replay run twice: with the sticky cache, and with ``max_cached_workflows=0``,
which rebuilds the workflow from its whole history on every workflow task.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from inprocess import events_of, history_types, running_worker
from mainspring import ApplicationError, Client, InvalidArgumentError, activity, workflow
from mainspring.client import WorkflowUpdateStage
from mainspring.errors import WorkflowUpdateFailedError
from support import ServerProcess, run_cli

CACHE_SIZES = pytest.mark.parametrize("cache", [1000, 0], ids=["cached", "replaying"])


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@dataclass
class Item:
    sku: str
    quantity: int = 1


@dataclass
class Cart:
    items: list[Item]
    total: int


@activity.defn
async def price(item: Item) -> int:
    return 3 * item.quantity


@workflow.defn(name="CartWorkflow")
class CartWorkflow:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.total = 0
        self.checked_out = False
        self.added = 0

    @workflow.run
    async def run(self, ctx: workflow.Context) -> Cart:
        await ctx.wait_condition(lambda: self.checked_out)
        await ctx.wait_condition(ctx.all_handlers_finished)
        return Cart(self.items, self.total)

    @workflow.update
    async def add_item(self, ctx: workflow.Context, item: Item) -> Cart:
        info = ctx.current_update_info()
        assert info is not None and info.name == "add_item"
        self.added += 1
        self.items.append(item)
        self.total += await ctx.execute_activity(price, item, start_to_close_timeout=timedelta(seconds=10))
        return Cart(self.items, self.total)

    @add_item.validator
    def _check_item(self, item: Item) -> None:
        if item.quantity < 1:
            raise ValueError(f"quantity must be at least 1, got {item.quantity}")
        if self.checked_out:
            raise ApplicationError("the cart is checked out")

    @workflow.update
    def count(self) -> int:
        return self.added

    @workflow.update(name="remove")
    def remove_item(self, sku: str) -> int:
        before = len(self.items)
        self.items = [i for i in self.items if i.sku != sku]
        if len(self.items) == before:
            raise ApplicationError(f"no item {sku!r} in the cart")
        return len(self.items)

    @workflow.update
    async def wait_then_answer(self, ctx: workflow.Context) -> str:
        await ctx.wait_condition(lambda: self.checked_out)
        return "answered after checkout"

    @workflow.signal
    def checkout(self) -> None:
        self.checked_out = True


async def _start(client: Client, tq: str) -> object:
    return await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)


@CACHE_SIZES
async def test_an_update_runs_its_handler_and_returns_its_result(client: Client, cache: int) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price], max_cached_workflows=cache):
        handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
        cart = await asyncio.wait_for(handle.execute_update(CartWorkflow.add_item, Item("apple", 2)), 30)
        assert cart == Cart([Item("apple", 2)], 6)
        assert await handle.execute_update(CartWorkflow.remove_item, "apple") == 0
        assert await handle.execute_update(CartWorkflow.count) == 1
        await handle.signal(CartWorkflow.checkout)
        assert await asyncio.wait_for(handle.result(), 30) == Cart([], 6)
    accepted = await events_of(handle, "WorkflowExecutionUpdateAccepted")
    completed = await events_of(handle, "WorkflowExecutionUpdateCompleted")
    assert [e["attributes"]["name"] for e in accepted] == ["add_item", "remove", "count"]
    assert [e["attributes"]["result"] for e in completed] == [
        {"items": [{"sku": "apple", "quantity": 2}], "total": 6},
        0,
        1,
    ]


@CACHE_SIZES
async def test_a_rejected_update_leaves_no_trace_in_history(client: Client, cache: int) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price], max_cached_workflows=cache):
        handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
        await handle.execute_update(CartWorkflow.count)
        before = await history_types(handle)
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await asyncio.wait_for(handle.execute_update(CartWorkflow.add_item, Item("pear", 0)), 30)
        assert info.value.rejected and info.value.cause is not None
        assert "quantity must be at least 1, got 0" in info.value.cause.message
        assert await history_types(handle) == before
        # The workflow goes on as if nothing happened.
        assert (await handle.execute_update(CartWorkflow.add_item, Item("pear", 1))).total == 3
        await handle.signal(CartWorkflow.checkout)
        assert (await asyncio.wait_for(handle.result(), 30)).total == 3
    assert len(await events_of(handle, "WorkflowExecutionUpdateAccepted")) == 2


async def test_a_failing_handler_fails_the_update_not_the_workflow(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update(CartWorkflow.remove_item, "nothing")
        assert not info.value.rejected and "no item 'nothing'" in str(info.value)
        await handle.signal(CartWorkflow.checkout)
        assert (await asyncio.wait_for(handle.result(), 30)).items == []
    completed = await events_of(handle, "WorkflowExecutionUpdateCompleted")
    assert "no item" in completed[0]["attributes"]["failure"]["message"]


async def test_the_same_update_id_is_applied_once(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
        first = await handle.execute_update(CartWorkflow.add_item, Item("fig"), id="add-fig")
        again = await handle.execute_update(CartWorkflow.add_item, Item("fig"), id="add-fig")
        assert first == again == Cart([Item("fig")], 3)
        assert await handle.execute_update(CartWorkflow.count) == 1
        # Awaited again by id, from a handle that did not send it.
        assert await handle.get_update_handle("add-fig", result_type=Cart).result() == first
        await handle.signal(CartWorkflow.checkout)
        await asyncio.wait_for(handle.result(), 30)


async def test_start_update_returns_at_accepted_and_the_result_comes_later(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
        upd = await handle.start_update(CartWorkflow.wait_then_answer, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        assert len(await events_of(handle, "WorkflowExecutionUpdateAccepted")) == 1
        assert await events_of(handle, "WorkflowExecutionUpdateCompleted") == []
        await handle.signal(CartWorkflow.checkout)
        assert await asyncio.wait_for(upd.result(), 30) == "answered after checkout"
        await asyncio.wait_for(handle.result(), 30)


async def test_an_update_handle_gets_its_result_after_the_run_has_closed(client: Client) -> None:
    # The handle that sent the update asks for its result by sending it again (safe: an update id is
    # applied once); once the run has closed, its history answers (it was "not running" before).
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
        upd = await handle.start_update(CartWorkflow.wait_then_answer, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        await handle.signal(CartWorkflow.checkout)
        await asyncio.wait_for(handle.result(), 30)
        assert await asyncio.wait_for(upd.result(), 30) == "answered after checkout"


async def test_an_update_sent_before_any_worker_runs_is_handled(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
    pending = asyncio.create_task(handle.execute_update(CartWorkflow.add_item, Item("kiwi", 3)))
    await asyncio.sleep(0.5)
    assert not pending.done()
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        assert (await asyncio.wait_for(pending, 30)).total == 9
        await handle.signal(CartWorkflow.checkout)
        await asyncio.wait_for(handle.result(), 30)


async def test_an_update_is_awaited_again_after_a_server_sigkill(server: ServerProcess) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with await Client.connect(server.address) as client:
        async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
            handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
            await handle.start_update(
                CartWorkflow.wait_then_answer, id="survivor", wait_for_stage=WorkflowUpdateStage.ACCEPTED
            )
            await asyncio.to_thread(server.kill)
            server.start()
            await asyncio.sleep(0.2)
            await handle.signal(CartWorkflow.checkout)
            again = handle.get_update_handle("survivor", result_type=str)
            assert await asyncio.wait_for(again.result(), 60) == "answered after checkout"
            await asyncio.wait_for(handle.result(), 60)
        # And once the run has closed, from its history.
        assert await handle.get_update_handle("survivor").result() == "answered after checkout"


async def test_a_fresh_worker_replays_a_history_with_updates(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
        await handle.execute_update(CartWorkflow.add_item, Item("a"))
        await handle.execute_update(CartWorkflow.add_item, Item("b", 2))
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        assert await handle.execute_update(CartWorkflow.count) == 2
        await handle.signal(CartWorkflow.checkout)
        assert (await asyncio.wait_for(handle.result(), 30)).total == 9


async def test_bad_updates_are_refused_with_what_is_wrong(client: Client, server: ServerProcess) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
        with pytest.raises(InvalidArgumentError) as info:
            await handle.execute_update("add_iten", {"sku": "x"})
        assert info.value.code == "unknown_update" and "Did you mean 'add_item'?" in info.value.message
        with pytest.raises(InvalidArgumentError) as bad:
            await handle.execute_update("add_item", {"sku": 5})
        assert bad.value.code == "invalid_input" and "sku" in bad.value.message
        async with httpx.AsyncClient(base_url=server.url) as http:
            r = await http.post(
                "/api/v1/namespaces/default/workflows/update",
                json={"workflow_id": handle.workflow_id, "update_id": "x", "name": "count", "wait": "soon"},
            )
            assert r.status_code == 400 and "wait" in r.json()["message"]
            r = await http.post(
                "/api/v1/namespaces/default/workflows/update/poll",
                json={"workflow_id": handle.workflow_id, "update_id": "never-sent", "wait": 0},
            )
            assert r.status_code == 404 and r.json()["code"] == "update_not_found"
        await handle.signal(CartWorkflow.checkout)
        await asyncio.wait_for(handle.result(), 30)
        with pytest.raises(InvalidArgumentError) as closed:
            await handle.execute_update(CartWorkflow.count)
        assert closed.value.code == "not_running"


async def test_the_cli_executes_starts_and_awaits_updates(client: Client, server: ServerProcess) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    addr = server.address
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
        wid = handle.workflow_id

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return run_cli("workflow", "update", *args, "-w", wid, address=addr)

        r = await asyncio.to_thread(cli, "execute", "--name", "add_item", "--input", '{"sku": "plum", "quantity": 2}')
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"items": [{"sku": "plum", "quantity": 2}], "total": 6}
        rejected = await asyncio.to_thread(
            cli, "execute", "--name", "add_item", "--input", '{"sku": "x", "quantity": 0}'
        )
        assert rejected.returncode == 5 and "rejected" in rejected.stderr
        started = await asyncio.to_thread(
            cli, "start", "--name", "wait_then_answer", "--update-id", "later", "-o", "json"
        )
        assert started.returncode == 0 and json.loads(started.stdout)["stage"] == "ACCEPTED"
        await handle.signal(CartWorkflow.checkout)
        result = await asyncio.to_thread(cli, "result", "--update-id", "later")
        assert result.returncode == 0 and json.loads(result.stdout) == "answered after checkout"
        await asyncio.wait_for(handle.result(), 30)


@workflow.defn(name="Diverging")
class DivergingV1:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, ctx: workflow.Context) -> str:
        await ctx.wait_condition(lambda: self.done)
        return "v1"

    @workflow.update
    async def work(self, ctx: workflow.Context, item: Item) -> int:
        return await ctx.execute_activity(price, item, start_to_close_timeout=timedelta(seconds=10))

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn(name="Diverging")
class DivergingV2:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, ctx: workflow.Context) -> str:
        await ctx.wait_condition(lambda: self.done)
        return "v2"

    @workflow.update
    async def work(self, ctx: workflow.Context, item: Item) -> int:
        await ctx.sleep(1)  # changed: a timer where history has the activity
        return 0

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def test_replay_that_diverges_inside_an_update_handler_names_the_event(client: Client) -> None:
    from test_determinism import wait_for_task_failure

    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[DivergingV1], activities=[price]):
        handle = await client.start_workflow(DivergingV1.run, id=new_id(), task_queue=tq)
        assert await handle.execute_update(DivergingV1.work, Item("x", 2)) == 6
    async with running_worker(client, tq, workflows=[DivergingV2], activities=[price]):
        await handle.signal(DivergingV2.finish)
        failure = await wait_for_task_failure(handle, min_attempt=2)
    assert "non-determinism" in failure["message"] and "ActivityTaskScheduled" in failure["message"]
    assert "StartTimer" in failure["message"]
    await handle.terminate(reason="test over")


async def test_update_with_start_starts_the_run_or_uses_the_running_one(client: Client) -> None:
    from mainspring import AlreadyStartedError
    from mainspring.client import WithStartWorkflowOperation, WorkflowIDConflictPolicy

    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        first = WithStartWorkflowOperation(CartWorkflow.run, id=wid, task_queue=tq)
        cart = await client.execute_update_with_start_workflow(
            CartWorkflow.add_item, Item("fig", 2), start_workflow_operation=first
        )
        assert cart == Cart([Item("fig", 2)], 6)
        handle = await first.workflow_handle()
        assert handle.workflow_id == wid and handle.run_id is not None
        # A second call finds the run running and sends its update there (USE_EXISTING, the default).
        second = WithStartWorkflowOperation(
            CartWorkflow.run, id=wid, task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
        )
        assert await client.execute_update_with_start_workflow(CartWorkflow.count, start_workflow_operation=second) == 1
        assert (await second.workflow_handle()).run_id == handle.run_id
        strict = WithStartWorkflowOperation(
            CartWorkflow.run, id=wid, task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.FAIL
        )
        with pytest.raises(AlreadyStartedError):
            await client.execute_update_with_start_workflow(CartWorkflow.count, start_workflow_operation=strict)
        await handle.signal(CartWorkflow.checkout)
        assert (await asyncio.wait_for(handle.result(), 30)).total == 6
    assert len(await history_types(handle)) > 0
    assert [e["event_id"] for e in await events_of(handle, "WorkflowExecutionStarted")] == [1]


async def test_several_updates_in_one_workflow_task_replay_on_a_fresh_worker(client: Client) -> None:
    # Sent before any worker runs, both ride the first workflow task: their commands are interleaved
    # (Accept 1, Complete 1, Accept 2, Complete 2), and a replay must deliver both again.
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(CartWorkflow.run, id=new_id(), task_queue=tq)
    first = asyncio.create_task(handle.execute_update(CartWorkflow.remove_item, "none", id="r-1"))
    second = asyncio.create_task(handle.execute_update(CartWorkflow.count, id="c-1"))
    await asyncio.sleep(0.5)
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        assert await asyncio.wait_for(second, 30) == 0
        with pytest.raises(WorkflowUpdateFailedError):
            await asyncio.wait_for(first, 30)
    types = await history_types(handle)
    i = types.index("WorkflowTaskCompleted")
    assert types[i + 1 : i + 5] == [
        "WorkflowExecutionUpdateAccepted",
        "WorkflowExecutionUpdateCompleted",
        "WorkflowExecutionUpdateAccepted",
        "WorkflowExecutionUpdateCompleted",
    ]
    async with running_worker(client, tq, workflows=[CartWorkflow], activities=[price]):
        assert await asyncio.wait_for(handle.execute_update(CartWorkflow.count), 30) == 0
        await handle.signal(CartWorkflow.checkout)
        assert (await asyncio.wait_for(handle.result(), 30)).items == []
