"""Activities as Temporal users write them: methods of an object (the worker keeps the instance), several
parameters (``args=[...]``), keyword-only parameters, against a real server.

Before these, a method's ``self`` was taken as its input (the instance was lost), a second parameter was
refused at decoration, and a keyword-only one silently got nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from inprocess import running_worker
from mainspring import ActivityError, ApplicationError, Client, Worker, activity, workflow

T = timedelta(seconds=10)


@dataclass
class Item:
    sku: str
    quantity: int


class Repo:
    """An activity host with state: a database handle, a connection pool, in real code."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.saved: list[Item] = []

    @activity.defn
    async def save(self, item: Item) -> str:
        self.saved.append(item)
        return f"{self.prefix}:{item.sku}#{len(self.saved)}"

    @activity.defn
    def total(self) -> int:
        return sum(i.quantity for i in self.saved)

    @activity.defn(name="Repo.relabel")
    async def relabel(self, item: Item, label: str, times: int = 1) -> str:
        return f"{self.prefix}:{label * times}:{item.sku}"


@activity.defn
async def add(a: int, b: int) -> int:
    return a + b


@activity.defn
def describe(item: Item, unit: str, *, sep: str = "=") -> str:
    return f"{item.sku}{sep}{item.quantity}{unit}"


@activity.defn
async def only_defaults(*, greeting: str = "hi") -> str:
    return greeting


@workflow.defn
async def methods_workflow(ctx: workflow.Context, items: list[Item]) -> dict[str, Any]:
    saved = [await ctx.execute_activity_method(Repo.save, item, start_to_close_timeout=T) for item in items]
    total = await ctx.execute_activity_method(Repo.total, start_to_close_timeout=T)
    relabeled = await ctx.execute_activity_method(Repo.relabel, args=[items[0], "ab", 2], start_to_close_timeout=T)
    short = await ctx.execute_activity_method(Repo.relabel, args=[items[0], "x"], start_to_close_timeout=T)
    return {"saved": saved, "total": total, "relabeled": relabeled, "short": short}


@workflow.defn
async def arguments_workflow(ctx: workflow.Context) -> dict[str, Any]:
    item = Item("pear", 3)
    return {
        "add": await ctx.execute_activity(add, args=[2, 40], start_to_close_timeout=T),
        "by_name": await ctx.execute_activity("add", args=[1, 1], result_type=int, start_to_close_timeout=T),
        "describe": await ctx.execute_activity(describe, args=[item, "kg"], start_to_close_timeout=T),
        "defaults": await ctx.execute_activity(only_defaults, start_to_close_timeout=T),
    }


@workflow.defn
async def wrong_shape_workflow(ctx: workflow.Context) -> str:
    """A call by name cannot be checked here: the worker refuses the input, for good, saying why."""
    try:
        await ctx.execute_activity("add", 5, result_type=int, start_to_close_timeout=T)
    except ActivityError as e:
        assert isinstance(e.cause, ApplicationError)
        return f"{e.cause.type}: {e.cause.message}"
    return "accepted"


async def test_method_activities_run_on_the_instance_the_worker_was_given(client: Client, task_queue: str) -> None:
    repo = Repo("db1")
    items = [Item("apple", 2), Item("plum", 5)]
    async with running_worker(
        client, task_queue, workflows=[methods_workflow], activities=[repo.save, repo.total, repo.relabel]
    ):
        result = await client.execute_workflow(
            methods_workflow, items, id=f"m-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert result == {
        "saved": ["db1:apple#1", "db1:plum#2"],
        "total": 7,
        "relabeled": "db1:abab:apple",
        "short": "db1:x:apple",
    }
    # The state is the instance's own: the worker ran the methods on it, not on a copy.
    assert repo.saved == items


async def test_several_and_keyword_only_parameters(client: Client, task_queue: str) -> None:
    async with running_worker(
        client, task_queue, workflows=[arguments_workflow], activities=[add, describe, only_defaults]
    ):
        result = await client.execute_workflow(
            arguments_workflow, id=f"a-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert result == {"add": 42, "by_name": 2, "describe": "pear=3kg", "defaults": "hi"}


async def test_an_input_of_the_wrong_shape_fails_the_activity_saying_why(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[wrong_shape_workflow], activities=[add]):
        result = await client.execute_workflow(
            wrong_shape_workflow, id=f"w-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert result.startswith("InvalidInput: ")
    assert "JSON array" in result and "args=[...]" in result


def test_a_keyword_only_parameter_without_default_is_refused_at_decoration() -> None:
    with pytest.raises(TypeError, match="keyword-only parameter 'unit' with no default"):

        @activity.defn
        def needs_unit(item: Item, *, unit: str) -> str:
            return unit

    with pytest.raises(TypeError, match=r"takes \*values"):

        @activity.defn
        def variadic(*values: int) -> int:
            return sum(values)


async def test_an_unbound_method_is_refused_by_the_worker(client: Client) -> None:
    with pytest.raises(ValueError, match=r"method of an instance \(Worker\(activities=\[instance.save\]\)\)"):
        Worker(client, task_queue="q", activities=[Repo.save])
