# pyright: strict
# Off here because they would report a mistake line for the wrong reason (an unused variable or
# expression), and so hide a mistake that the API itself let through.
# pyright: reportUnusedVariable=false, reportUnusedExpression=false
"""Deliberate mistakes: pyright and mypy must each report an error on every line marked ``# type-error``.

``tests/test_typecheck.py`` fails if a marked line is not reported by either checker, or if any
unmarked line is. Keep each mistake on one line, so both checkers place the error on it.

Mistakes no signature can catch, and so not listed here (each fails at once when the code runs):
a call with no timeout at all (``ctx.execute_activity`` raises ValueError naming the two options),
an activity called instead of passed that comes with a ``result_type`` (``ctx.execute_activity(shout(g),
result_type=str)``: no one writes that by accident),
``RetryPolicy(non_retryable_error_types="ValueError")`` (a ``str`` is a ``Sequence[str]``), and an
input whose value, not type, is wrong.
"""

from __future__ import annotations

from datetime import timedelta

from definitions import (
    FIVE_SECONDS,
    CartWorkflow,
    Greeting,
    Item,
    Order,
    Pinger,
    Reply,
    Repo,
    add,
    count_items,
    greet,
    greeting_workflow,
    log_line,
    now_plain,
    order_workflow,
    shout,
    tick,
    ticking_workflow,
    two_inputs,
    undecorated_activity,
    undecorated_workflow,
)

from mainspring import (
    ActivityOptions,
    Client,
    RetryPolicy,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
    activity,
    workflow,
)
from mainspring.client import ScheduleActionStartWorkflow, WithStartWorkflowOperation
from mainspring.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from mainspring.options import ExecuteActivityOptions, StartWorkflowOptions

T = FIVE_SECONDS
REUSE = WorkflowIDReusePolicy.REJECT_DUPLICATE
CONFLICT = WorkflowIDConflictPolicy.USE_EXISTING
G = Greeting(name="ada")
ORDER = Order(order_id="o-1", items=2)


async def async_activity_mistakes(ctx: workflow.Context) -> None:
    # The wrong input type.
    await ctx.execute_activity(greet, ORDER, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(greet, "ada", start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(greet, {"name": "ada"}, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(greet, None, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(count_items, G, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(log_line, 42, start_to_close_timeout=T)  # type-error
    # No input for an activity that takes one; an input for one that takes none; two inputs.
    await ctx.execute_activity(greet, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(tick, G, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(greet, G, G, start_to_close_timeout=T)  # type-error
    # The result used as the wrong type.
    a: str = await ctx.execute_activity(greet, G, start_to_close_timeout=T)  # type-error
    b: Reply = await ctx.execute_activity(tick, start_to_close_timeout=T)  # type-error
    c: str = await ctx.execute_activity(count_items, ORDER, start_to_close_timeout=T)  # type-error
    d: str = await ctx.execute_activity(log_line, "hi", start_to_close_timeout=T)  # type-error
    e = await ctx.execute_activity(greet, G, start_to_close_timeout=T)
    e.missing_field  # type-error
    f = await ctx.execute_activity(tick, start_to_close_timeout=T)
    f + 1  # type-error
    # Forgetting to await.
    g: Reply = ctx.execute_activity(greet, G, start_to_close_timeout=T)  # type-error
    h = ctx.execute_activity(greet, G, start_to_close_timeout=T)
    h.text  # type-error


async def plain_activity_mistakes(ctx: workflow.Context) -> None:
    await ctx.execute_activity(shout, ORDER, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(shout, 1, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(shout, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(now_plain, G, start_to_close_timeout=T)  # type-error
    a: int = await ctx.execute_activity(shout, G, start_to_close_timeout=T)  # type-error
    b: str = await ctx.execute_activity(now_plain, start_to_close_timeout=T)  # type-error


async def not_an_activity(ctx: workflow.Context) -> None:
    await ctx.execute_activity(undecorated_activity, G, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(two_inputs, G, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(greeting_workflow, G, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(ticking_workflow, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(lambda: 1, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(print, "x", start_to_close_timeout=T)  # type-error


async def method_and_multi_argument_mistakes(ctx: workflow.Context) -> None:
    repo = Repo()
    # A method's input type, its result type; an unbound method where a bound one is meant, and back.
    await ctx.execute_activity_method(Repo.save, ORDER, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity_method(Repo.save, start_to_close_timeout=T)  # type-error
    a: str = await ctx.execute_activity_method(Repo.save, G, start_to_close_timeout=T)  # type-error
    b: str = await ctx.execute_activity_method(Repo.count, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(Repo.save, G, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(repo.save, ORDER, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity_method(greet, G, start_to_close_timeout=T)  # type-error
    # Several parameters: they go in args=[...], not one by one; the result's type still flows.
    await ctx.execute_activity(add, 1, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(add, 1, 2, start_to_close_timeout=T)  # type-error
    c: str = await ctx.execute_activity(add, args=[1, 2], start_to_close_timeout=T)  # type-error
    d: int = await ctx.execute_activity_method(Repo.rename, args=[G, "x"], start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(add, args=[1, 2], start_to_close_timeout=5)  # type-error


def async_completion_mistakes(client: Client) -> None:
    client.get_async_activity_handle(workflow_id="w")  # type-error
    client.get_async_activity_handle(task_token="t", activity_id="1")  # type-error
    client.get_async_activity_handle()  # type-error


async def activity_option_mistakes(ctx: workflow.Context) -> None:
    await ctx.execute_activity(greet, G, start_to_close_timeout=5)  # type-error
    await ctx.execute_activity(tick, schedule_to_close_timeout=5.0)  # type-error
    await ctx.execute_activity(shout, G, start_to_close_timeout=T, schedule_to_start_timeout=30)  # type-error
    await ctx.execute_activity(shout, G, start_to_close_timeout=T, heartbeat_timeout="2s")  # type-error
    await ctx.execute_activity(greet, G, timeout=T)  # type-error
    await ctx.execute_activity(greet, G, start_to_close_timeout=T, retries=3)  # type-error
    await ctx.execute_activity(tick, start_to_close_timeout=T, retry_policy=3)  # type-error
    await ctx.execute_activity(tick, start_to_close_timeout=T, retry_policy=ActivityOptions())  # type-error
    await ctx.execute_activity(greet, G, start_to_close_timeout=T, activity_id=7)  # type-error
    await ctx.execute_activity(greet, G, start_to_close_timeout=T, task_queue=["q"])  # type-error
    await ctx.execute_activity(greet, G, options=RetryPolicy())  # type-error
    await ctx.execute_activity(greet, start_to_close_timeout=T, arg=ORDER)  # type-error
    ActivityOptions(start_to_close_timeout=10)  # type-error
    ActivityOptions(retry_policy={"maximum_attempts": 3})  # type-error
    ActivityOptions(timeout=T)  # type-error
    RetryPolicy(initial_interval=1)  # type-error
    RetryPolicy(maximum_interval=1.5)  # type-error
    RetryPolicy(maximum_attempts="3")  # type-error
    RetryPolicy(non_retryable_error_types=[ValueError])  # type-error
    # Options bundled as the keywords' TypedDict: the same checks.
    shared: ExecuteActivityOptions = {"start_to_close_timeout": T}
    await ctx.execute_activity(greet, G, **shared, heartbeat_timeout=2)  # type-error
    await ctx.execute_activity(greet, G, **shared, timeout=T)  # type-error
    await ctx.execute_activity(greet, G, options=shared)  # type-error
    await ctx.execute_activity(tick, **shared, start_to_close_timeout=T)  # type-error
    bad_bundle: ExecuteActivityOptions = {"start_to_close_timeout": 5}  # type-error
    unknown_in_bundle: ExecuteActivityOptions = {"timeout": T}  # type-error
    loose = {"start_to_close_timeout": T}
    await ctx.execute_activity(greet, G, **loose)  # type-error
    # By name a result_type is required (see below), types the result, and the options are as typed.
    a: int = await ctx.execute_activity("greet", G, result_type=str, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity("greet", G, result_type=Reply, start_to_close_timeout=5)  # type-error
    await ctx.execute_activity("greet", G, result_type=Reply, start_to_close_timeout=T, retries=3)  # type-error
    await ctx.execute_activity("greet", G, result_type=Reply, options=RetryPolicy())  # type-error
    # The rest of the context.
    await ctx.sleep("5s")  # type-error
    b: float = ctx.now()  # type-error
    c: str = ctx.uuid4()  # type-error


async def calling_an_activity_instead_of_passing_it(ctx: workflow.Context) -> None:
    # The call runs the activity's code inside the workflow, and hands its result to execute_activity.
    # A plain activity that returns a str gives what looks like an activity name: a name needs a
    # result_type, which this mistake never comes with.
    await ctx.execute_activity(shout(G), start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(shout(G), G, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(await tick(), start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(await greet(G), start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(greet(G), start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(tick(), start_to_close_timeout=T)  # type-error
    await ctx.execute_activity(now_plain(), start_to_close_timeout=T)  # type-error
    # So an activity called by name must say what it returns.
    await ctx.execute_activity("greet", G, start_to_close_timeout=T)  # type-error
    await ctx.execute_activity("tick", start_to_close_timeout=T)  # type-error


async def start_workflow_mistakes(client: Client) -> None:
    # The wrong input type; no input for a workflow that takes one; an input for one that takes none.
    await client.start_workflow(greeting_workflow, ORDER, id="w", task_queue="q")  # type-error
    await client.start_workflow(order_workflow, {"order_id": "o", "items": 1}, id="w", task_queue="q")  # type-error
    await client.start_workflow(greeting_workflow, id="w", task_queue="q")  # type-error
    await client.start_workflow(ticking_workflow, G, id="w", task_queue="q")  # type-error
    # The handle's result used as the wrong type.
    handle = await client.start_workflow(greeting_workflow, G, id="w", task_queue="q")
    a: int = await handle.result()  # type-error
    b: str = await handle.result()  # type-error
    (await handle.result()).missing_field  # type-error
    ticking = await client.start_workflow(ticking_workflow, id="w", task_queue="q")
    c: Reply = await ticking.result()  # type-error
    d: Reply = handle.result()  # type-error
    # Missing, mistyped and unknown options.
    await client.start_workflow(greeting_workflow, G, task_queue="q")  # type-error
    await client.start_workflow(greeting_workflow, G, id="w")  # type-error
    await client.start_workflow(greeting_workflow, G, id=1, task_queue="q")  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", request_id=3)  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", timeout=T)  # type-error
    await client.start_workflow(greeting_workflow, G, workflow_id="w", task_queue="q")  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", start_signal=3)  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", start_signal_args=1)  # type-error
    await client.start_workflow("greeting_workflow", G, id="w", task_queue="q", timeout=T)  # type-error
    await client.start_workflow("greeting_workflow", G, id="w")  # type-error
    await client.start_workflow("greeting_workflow", G, result_type=Reply, id=1, task_queue="q")  # type-error
    # The start options, mistyped: a policy as a string or of the other kind, a delay or timeout in seconds.
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", id_reuse_policy="REJECT")  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", id_conflict_policy=REUSE)  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", id_reuse_policy=CONFLICT)  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", start_delay=30)  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", task_timeout=10.0)  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", memo=[("a", 1)])  # type-error
    await client.start_workflow(greeting_workflow, G, id="w", task_queue="q", memo={1: "a"})  # type-error
    # The options bundled as their TypedDict: the same checks.
    no_id: StartWorkflowOptions = {"task_queue": "q"}  # type-error
    wrong_id: StartWorkflowOptions = {"id": 1, "task_queue": "q"}  # type-error
    start: StartWorkflowOptions = {"id": "w", "task_queue": "q"}
    await client.start_workflow(greeting_workflow, G, **start, timeout=T)  # type-error
    await client.start_workflow(greeting_workflow, ORDER, **start)  # type-error
    await handle.result(timeout=timedelta(seconds=1))  # type-error
    # Not a workflow: an activity, an undecorated function, a workflow with two inputs.
    await client.start_workflow(greet, G, id="w", task_queue="q")  # type-error
    await client.start_workflow(undecorated_workflow, G, id="w", task_queue="q")  # type-error
    await client.start_workflow(two_input_workflow, G, id="w", task_queue="q")  # type-error
    # By name the start is untyped, but a result_type types the handle.
    by_name = await client.start_workflow("greeting_workflow", G, id="w", task_queue="q", result_type=Reply)
    e: str = await by_name.result()  # type-error
    f: str = await client.get_workflow_handle("w", result_type=Reply).result()  # type-error


async def execute_workflow_mistakes(client: Client) -> None:
    await client.execute_workflow(greeting_workflow, ORDER, id="w", task_queue="q")  # type-error
    await client.execute_workflow(order_workflow, id="w", task_queue="q")  # type-error
    await client.execute_workflow(ticking_workflow, "x", id="w", task_queue="q")  # type-error
    a: str = await client.execute_workflow(greeting_workflow, G, id="w", task_queue="q")  # type-error
    b: list[int] = await client.execute_workflow(order_workflow, ORDER, id="w", task_queue="q")  # type-error
    c: int = await client.execute_workflow(ticking_workflow, id="w", task_queue="q")  # type-error
    d: int = await client.execute_workflow("ticking_workflow", id="w", task_queue="q", result_type=str)  # type-error
    await client.execute_workflow(greeting_workflow, G, task_queue="q")  # type-error
    await client.execute_workflow(greeting_workflow, G, id="w", task_queue=None)  # type-error
    await client.execute_workflow(greeting_workflow, G, id="w", task_queue="q", run_timeot=T)  # type-error
    await client.execute_workflow(greeting_workflow, G, id="w", task_queue="q", run_timeout=5)  # type-error
    await client.execute_workflow(greeting_workflow, G, id="w", task_queue="q", retry_policy={})  # type-error
    await client.execute_workflow(count_items, ORDER, id="w", task_queue="q")  # type-error
    await client.execute_workflow(tick, id="w", task_queue="q")  # type-error
    # Forgetting to await the connection.
    other = Client.connect()
    await other.start_workflow(ticking_workflow, id="w", task_queue="q")  # type-error


# --- definitions the decorators refuse ------------------------------------------------------------


@workflow.defn  # type-error
def plain_workflow(ctx: workflow.Context) -> str:
    return "workflows are async"


@workflow.defn(name="no-context")  # type-error
async def workflow_without_context(greeting: Greeting) -> str:
    return greeting.name


@workflow.defn(name=3)  # type-error
async def badly_named_workflow(ctx: workflow.Context) -> None:
    pass


@activity.defn(name=3)  # type-error
async def badly_named_activity() -> None:
    pass


@workflow.defn
async def two_input_workflow(ctx: workflow.Context, greeting: Greeting, order: Order) -> None:
    del greeting, order


async def class_workflow_mistakes(client: Client) -> None:
    handle = await client.start_workflow(CartWorkflow.run, Greeting("ann"), id="c", task_queue="q")
    await client.start_workflow(CartWorkflow.run, Item("x"), id="c", task_queue="q")  # type-error
    await client.start_workflow(CartWorkflow.run, id="c", task_queue="q")  # type-error
    await handle.signal(CartWorkflow.add, Greeting("x"))  # type-error
    await handle.signal(CartWorkflow.add)  # type-error
    await handle.signal(CartWorkflow.close_cart, 1)  # type-error
    await handle.signal(Pinger.ping, 3)  # type-error
    await handle.signal(CartWorkflow.count)  # type-error
    await handle.signal(CartWorkflow.add_checked, Item("x"))  # type-error
    client.get_workflow_handle_for(CartWorkflow.add, "c")  # type-error
    await handle.execute_update(CartWorkflow.add_checked, Greeting("x"))  # type-error
    await handle.execute_update(CartWorkflow.add_checked)  # type-error
    await handle.execute_update(CartWorkflow.add, Item("x"))  # type-error
    await handle.execute_update(CartWorkflow.count)  # type-error
    await handle.start_update(CartWorkflow.add_checked, Item("x"))  # type-error
    await handle.query(CartWorkflow.has, 3)  # type-error
    await handle.query(CartWorkflow.has)  # type-error
    await handle.query(CartWorkflow.count, "x")  # type-error
    await handle.query(CartWorkflow.add, Item("x"))  # type-error
    await handle.query(CartWorkflow.close_cart)  # type-error
    await handle.query(CartWorkflow.add_checked, Item("x"))  # type-error
    await handle.query(Pinger.ping, 3)  # type-error
    await handle.query(Pinger.pinged_yet)  # type-error
    count: str = await handle.query(CartWorkflow.count)  # type-error
    await handle.query(CartWorkflow.count, rpc_timeout=2)  # type-error
    op = WithStartWorkflowOperation(CartWorkflow.run, Greeting("x"), id="c", task_queue="q")
    WithStartWorkflowOperation(CartWorkflow.run, Item("x"), id="c", task_queue="q")  # type-error
    with_start = client.execute_update_with_start_workflow
    await with_start(CartWorkflow.add_checked, Greeting("x"), start_workflow_operation=op)  # type-error
    await with_start(Pinger.ping, 1, start_workflow_operation=op)  # type-error


async def continue_as_new_mistakes(ctx: workflow.Context, n: int) -> None:
    # One branch each: a call that type-checks returns NoReturn, and the checkers skip what follows it.
    if n == 1:
        ctx.continue_as_new("ada", workflow=greeting_workflow)  # type-error
    if n == 2:
        ctx.continue_as_new(workflow=greeting_workflow)  # type-error
    if n == 3:
        ctx.continue_as_new(Item("x"), workflow=CartWorkflow.run)  # type-error
    if n == 4:
        ctx.continue_as_new(Greeting("x"), workflow=ticking_workflow)  # type-error
    if n == 5:
        ctx.continue_as_new(Greeting("x"), workflow=greet)  # type-error
    if n == 6:
        ctx.continue_as_new(Greeting("x"), workflow=greeting_workflow, task_queue=3)  # type-error
    if n == 7:
        ctx.continue_as_new(3, workflow=Pinger.run)  # type-error


async def child_workflow_mistakes(ctx: workflow.Context) -> None:
    await ctx.execute_child_workflow(greeting_workflow, ORDER)  # type-error
    await ctx.execute_child_workflow(greeting_workflow)  # type-error
    await ctx.execute_child_workflow(ticking_workflow, G)  # type-error
    await ctx.execute_child_workflow(CartWorkflow.run, Item("x"))  # type-error
    await ctx.execute_child_workflow(CartWorkflow.run)  # type-error
    await ctx.execute_child_workflow(undecorated_workflow, G)  # type-error
    await ctx.execute_child_workflow(greet, G)  # type-error
    await ctx.execute_child_workflow(greeting_workflow, G, id=3)  # type-error
    await ctx.execute_child_workflow(greeting_workflow, G, parent_close_policy="ABANDON")  # type-error
    await ctx.execute_child_workflow(greeting_workflow, G, start_to_close_timeout=T)  # type-error
    await ctx.execute_child_workflow(greeting_workflow, G, run_timeout=5)  # type-error
    await ctx.start_child_workflow(greeting_workflow, G, id_reuse_policy="REJECT_DUPLICATE")  # type-error
    ctx.info.parent.workflow_id  # type-error
    text: str = await ctx.execute_child_workflow(greeting_workflow, G)  # type-error
    await ctx.start_child_workflow(order_workflow, G)  # type-error
    cart = await ctx.start_child_workflow(CartWorkflow.run, G)
    await cart.signal(CartWorkflow.add, G)  # type-error
    await cart.signal(CartWorkflow.close_cart, 1)  # type-error
    await cart.signal(Pinger.ping, 3)  # type-error
    await cart.signal(CartWorkflow.count)  # type-error
    wrong: int = await cart  # type-error
    other = ctx.get_external_workflow_handle_for(Pinger.run, "p-1")
    await other.signal(Pinger.ping, "three")  # type-error
    await other.signal(CartWorkflow.close_cart)  # type-error
    ctx.get_external_workflow_handle_for(CartWorkflow.add, "c")  # type-error


async def local_activity_mistakes(ctx: workflow.Context) -> None:
    # The wrong input, no input, an input for none, the result used as the wrong type.
    await ctx.execute_local_activity(greet, ORDER, start_to_close_timeout=T)  # type-error
    await ctx.execute_local_activity(greet, start_to_close_timeout=T)  # type-error
    await ctx.execute_local_activity(tick, G, start_to_close_timeout=T)  # type-error
    await ctx.execute_local_activity(shout, 1, start_to_close_timeout=T)  # type-error
    a: str = await ctx.execute_local_activity(greet, G, start_to_close_timeout=T)  # type-error
    b: int = await ctx.execute_local_activity(now_plain, start_to_close_timeout=T)  # type-error
    # Not an activity.
    await ctx.execute_local_activity(undecorated_activity, G, start_to_close_timeout=T)  # type-error
    await ctx.execute_local_activity(greeting_workflow, G, start_to_close_timeout=T)  # type-error
    # Options local activities do not have, or of the wrong type.
    await ctx.execute_local_activity(greet, G, start_to_close_timeout=5)  # type-error
    await ctx.execute_local_activity(greet, G, task_queue="q", start_to_close_timeout=T)  # type-error
    await ctx.execute_local_activity(greet, G, heartbeat_timeout=T, start_to_close_timeout=T)  # type-error
    await ctx.execute_local_activity(tick, retry_policy=3, start_to_close_timeout=T)  # type-error
    # By name, without its result type.
    await ctx.execute_local_activity("tick", start_to_close_timeout=T)  # type-error
    # raise_cause keeps the result type.
    c: int = await workflow.raise_cause(ctx.execute_local_activity(greet, G, start_to_close_timeout=T))  # type-error


async def reset_mistakes(client: Client) -> None:
    handle = client.get_workflow_handle("w")
    # A reset type Temporal does not have, an event id as text, a reapply kind misspelt, a positional point.
    await handle.reset(reset_type="LastTask")  # type-error
    await handle.reset(event_id="4")  # type-error
    await handle.reset(event_id=4, reapply_exclude=["Signals"])  # type-error
    await handle.reset(4)  # type-error
    n: int = await handle.reset(event_id=4)  # type-error


def schedule_mistakes() -> None:
    # A schedule's action takes the workflow's input as start_workflow does, and its options by name and type.
    ScheduleActionStartWorkflow(greeting_workflow, ORDER, id="s", task_queue="q")  # type-error
    ScheduleActionStartWorkflow(greeting_workflow, id="s", task_queue="q")  # type-error
    ScheduleActionStartWorkflow(ticking_workflow, G, id="s", task_queue="q")  # type-error
    ScheduleActionStartWorkflow(CartWorkflow.run, Item("x"), id="s", task_queue="q")  # type-error
    ScheduleActionStartWorkflow(greeting_workflow, G, task_queue="q")  # type-error
    ScheduleActionStartWorkflow(greeting_workflow, G, id="s", task_queue="q", run_timeout=5)  # type-error


def search_attribute_mistakes() -> None:
    # A typed key takes values of its type only: at the start, in an upsert, and read back.
    items = SearchAttributeKey.for_int("Items")
    SearchAttributePair(items, "three")  # type-error
    items.value_set("three")  # type-error
    SearchAttributeKey.for_keyword("CustomerId").value_set(3)  # type-error
    SearchAttributeKey.for_datetime("When").value_set("2026-01-01")  # type-error
    name: str = TypedSearchAttributes([SearchAttributePair(items, 3)])[items]  # type-error
    # A schedule's action takes them typed (Temporal's typed_search_attributes) or as a mapping, nothing else.
    ScheduleActionStartWorkflow("wf", id="s", task_queue="q", typed_search_attributes={"Items": 3})  # type-error
    ScheduleActionStartWorkflow("wf", id="s", task_queue="q", search_attributes=["Items"])  # type-error
