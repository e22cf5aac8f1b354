# pyright: strict
"""Activities and workflows of every shape, shared by ``correct.py`` and ``mistakes.py``.

Not a test module: ``tests/test_typecheck.py`` runs pyright and mypy over the files in this folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel

from mainspring import activity, workflow

FIVE_SECONDS = timedelta(seconds=5)


@dataclass
class Greeting:
    name: str
    language: str = "en"


@dataclass
class Reply:
    text: str
    length: int


class Order(BaseModel):
    order_id: str
    items: int


# --- activities: async and plain, with and without an input ------------------------------------------


@activity.defn
async def greet(greeting: Greeting) -> Reply:
    text = f"hello {greeting.name}"
    return Reply(text=text, length=len(text))


@activity.defn(name="count-items")
async def count_items(order: Order) -> int:
    return order.items


@activity.defn
async def tick() -> str:
    return "tick"


@activity.defn
async def log_line(line: str) -> None:
    del line


@activity.defn
def shout(greeting: Greeting) -> str:
    return greeting.name.upper()


@activity.defn(name="now-plain")
def now_plain() -> float:
    return 0.0


# An optional input is still an input: a workflow passes it, None or not.
@activity.defn
async def maybe_greet(greeting: Greeting | None = None) -> str:
    return greeting.name if greeting else "nobody"


# Not decorated: not an activity.
async def undecorated_activity(greeting: Greeting) -> Reply:
    return Reply(text=greeting.name, length=len(greeting.name))


# Two inputs, not decorated: not an activity (decorated, it would take args=[...]).
async def two_inputs(greeting: Greeting, order: Order) -> str:
    return f"{greeting.name} {order.order_id}"


# --- activities of several parameters, and methods of a class --------------------------------------------


@activity.defn
async def add(a: int, b: int) -> int:
    return a + b


@activity.defn
def join(greeting: Greeting, order: Order, *, sep: str = " ") -> str:
    return f"{greeting.name}{sep}{order.order_id}"


class Repo:
    """Activities as methods: the worker is given ``repo.save``, the workflow names ``Repo.save``."""

    def __init__(self) -> None:
        self.saved: list[Greeting] = []

    @activity.defn
    async def save(self, greeting: Greeting) -> int:
        self.saved.append(greeting)
        return len(self.saved)

    @activity.defn
    def count(self) -> int:
        return len(self.saved)

    @activity.defn
    async def rename(self, greeting: Greeting, name: str) -> Reply:
        return Reply(text=name, length=len(name))


# --- workflows: with and without an input ------------------------------------------------------------


@workflow.defn
async def greeting_workflow(ctx: workflow.Context, greeting: Greeting) -> Reply:
    return await ctx.execute_activity(greet, greeting, start_to_close_timeout=FIVE_SECONDS)


@workflow.defn(name="order-workflow")
async def order_workflow(ctx: workflow.Context, order: Order) -> list[str]:
    await ctx.execute_activity(count_items, order, schedule_to_close_timeout=FIVE_SECONDS)
    return [order.order_id]


@workflow.defn
async def ticking_workflow(ctx: workflow.Context) -> str:
    return await ctx.execute_activity(tick, start_to_close_timeout=FIVE_SECONDS)


# Not decorated: not a workflow.
async def undecorated_workflow(ctx: workflow.Context, greeting: Greeting) -> Reply:
    return Reply(text=greeting.name, length=0)


# --- a class workflow with message handlers -------------------------------------------------------------


@dataclass
class Item:
    sku: str
    quantity: int = 1


@workflow.defn(name="CartWorkflow")
class CartWorkflow:
    @workflow.init
    def __init__(self, greeting: Greeting) -> None:
        self.owner = greeting.name
        self.items: list[Item] = []
        self.closed = False

    @workflow.run
    async def run(self, ctx: workflow.Context, greeting: Greeting) -> list[Item]:
        await ctx.wait_condition(lambda: self.closed, timeout=timedelta(hours=1))
        await ctx.wait_condition(ctx.all_handlers_finished)
        return self.items

    @workflow.signal
    async def add(self, ctx: workflow.Context, item: Item) -> None:
        await ctx.sleep(1)
        self.items.append(item)

    @workflow.signal(name="close")
    def close_cart(self) -> None:
        self.closed = True

    @workflow.query
    def count(self) -> int:
        return len(self.items)

    @workflow.query
    def has(self, sku: str) -> bool:
        return any(i.sku == sku for i in self.items)

    @workflow.update
    async def add_checked(self, ctx: workflow.Context, item: Item) -> int:
        self.items.append(item)
        return len(self.items)

    @add_checked.validator
    def _check(self, item: Item) -> None:
        if item.quantity < 1:
            raise ValueError("quantity must be positive")


@workflow.defn
class Pinger:
    @workflow.run
    async def run(self, ctx: workflow.Context) -> None:
        await ctx.wait_condition(lambda: self.pinged)

    def __init__(self) -> None:
        self.pinged = False

    @workflow.signal
    def ping(self, times: int) -> None:
        self.pinged = times > 0

    @workflow.query
    def pinged_yet(self) -> bool:
        return self.pinged
