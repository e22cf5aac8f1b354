"""The lifecycle features together, against a real server: a child that continues as new (its parent gets
the last run's result), a continued run keeping the memo and task timeout it was started with, local
activities with several arguments and as methods, and a child's exception reaching its parent as its own class.

The worker runs in the test's event loop (``running_worker``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from inprocess import running_worker
from mainspring import Client, RetryPolicy, activity, workflow


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@workflow.defn
async def countdown(ctx: workflow.Context, n: int) -> str:
    if n > 0:
        ctx.continue_as_new(n - 1)
    return f"done after {ctx.info.attempt} attempt(s), continued from {ctx.info.continued_run_id is not None}"


@workflow.defn
async def counting_parent(ctx: workflow.Context, n: int) -> str:
    return await ctx.execute_child_workflow(countdown, n, id=f"{ctx.info.workflow_id}-child")


async def test_a_parent_gets_the_result_of_its_child_s_last_run(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[countdown, counting_parent]):
        wid = new_id()
        result = await client.execute_workflow(counting_parent, 3, id=wid, task_queue=task_queue)
        assert result == "done after 1 attempt(s), continued from True"
        child = await client.get_workflow_handle(f"{wid}-child").describe()
        assert child.previous_run_id is not None


async def test_a_continued_run_keeps_its_memo_and_task_timeout(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[countdown]):
        wid = new_id()
        handle = await client.start_workflow(
            countdown, 2, id=wid, task_queue=task_queue, memo={"owner": "ada"}, task_timeout=timedelta(seconds=7)
        )
        await handle.result()
        last = await client.get_workflow_handle(wid).describe()
        assert last.previous_run_id is not None
        assert last.memo == {"owner": "ada"}
        assert last.raw["task_timeout"] == 7
        first = await client.get_workflow_handle(wid, run_id=last.previous_run_id).describe()
        assert first.memo == {"owner": "ada"} and first.raw["task_timeout"] == 7


# --- local activities as Temporal users write activities; errors that keep their type from a child -----------


class OutOfStock(Exception):
    """A domain error with data of its own, raised in a child workflow."""

    def __init__(self, item: str, missing: int) -> None:
        super().__init__(f"{missing} x {item} missing")
        self.item = item
        self.missing = missing


class Shelf:
    """Activities as methods of an object that keeps state (a connection, a cache)."""

    def __init__(self) -> None:
        self.stock = {"kiwi": 3}

    @activity.defn
    async def take(self, item: str, count: int) -> int:
        left = self.stock.get(item, 0) - count
        if left < 0:
            raise OutOfStock(item, -left)
        self.stock[item] = left
        return left


@activity.defn
async def add(a: int, b: int, *, times: int = 1) -> int:
    return (a + b) * times


@workflow.defn(failure_exception_types=[OutOfStock])  # fails the child (not its task) with its own class
async def picker(ctx: workflow.Context, count: int) -> int:
    return await workflow.raise_cause(
        ctx.execute_local_activity(
            Shelf.take, args=["kiwi", count], start_to_close_timeout=timedelta(seconds=5), retry_policy=ONCE
        )
    )


@workflow.defn
async def shop(ctx: workflow.Context, count: int) -> str:
    total = await ctx.execute_local_activity(add, args=[2, 3], start_to_close_timeout=timedelta(seconds=5))
    try:
        left = await workflow.raise_cause(ctx.execute_child_workflow(picker, count, id=f"{ctx.info.workflow_id}-p"))
    except OutOfStock as e:
        return f"{total}: short of {e.missing} {e.item}"
    return f"{total}: {left} left"


ONCE = RetryPolicy(maximum_attempts=1)


async def test_local_activities_take_several_arguments_and_a_child_s_error_keeps_its_class(
    client: Client, task_queue: str
) -> None:
    shelf = Shelf()
    async with running_worker(client, task_queue, workflows=[shop, picker], activities=[add, shelf.take]):
        assert await client.execute_workflow(shop, 2, id=new_id(), task_queue=task_queue) == "5: 1 left"
        assert await client.execute_workflow(shop, 4, id=new_id(), task_queue=task_queue) == "5: short of 3 kiwi"
    assert shelf.stock == {"kiwi": 1}
