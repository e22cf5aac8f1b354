# pyright: strict
"""Correct use of the typed APIs: pyright and mypy (both strict) must report nothing here.

``assert_type`` pins the inferred types, so a signature that decays to ``Any`` fails this file
instead of silently letting every mistake in ``mistakes.py`` through.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn, Unpack, assert_type

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
    join,
    log_line,
    maybe_greet,
    now_plain,
    order_workflow,
    shout,
    tick,
    ticking_workflow,
)

from mainspring import (
    ActivityError,
    ActivityOptions,
    AlreadyStartedError,
    ApplicationError,
    ApplicationErrorCategory,
    Client,
    FailureError,
    RetryPolicy,
    Worker,
    WorkflowDescription,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowIDReusePolicy,
    activity,
    workflow,
)
from mainspring.client import (
    AsyncActivityHandle,
    ScheduleActionStartWorkflow,
    WithStartWorkflowOperation,
    WorkflowIDConflictPolicy,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)
from mainspring.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes
from mainspring.options import ExecuteActivityOptions, ExecuteLocalActivityOptions, StartWorkflowOptions

G = Greeting(name="ada")
ORDER = Order(order_id="o-1", items=2)


@workflow.defn
async def every_activity_shape(ctx: workflow.Context, greeting: Greeting) -> list[str]:
    # async, with an input / without
    assert_type(await ctx.execute_activity(greet, greeting, start_to_close_timeout=FIVE_SECONDS), Reply)
    assert_type(await ctx.execute_activity(count_items, ORDER, schedule_to_close_timeout=FIVE_SECONDS), int)
    assert_type(await ctx.execute_activity(tick, start_to_close_timeout=FIVE_SECONDS), str)
    assert_type(await ctx.execute_activity(log_line, "hi", start_to_close_timeout=FIVE_SECONDS), None)
    # plain def, with an input / without
    assert_type(await ctx.execute_activity(shout, greeting, start_to_close_timeout=FIVE_SECONDS), str)
    assert_type(await ctx.execute_activity(now_plain, start_to_close_timeout=FIVE_SECONDS), float)
    # an optional input
    assert_type(await ctx.execute_activity(maybe_greet, greeting, start_to_close_timeout=FIVE_SECONDS), str)
    assert_type(await ctx.execute_activity(maybe_greet, None, start_to_close_timeout=FIVE_SECONDS), str)
    # the input passed by keyword
    assert_type(await ctx.execute_activity(greet, arg=greeting, start_to_close_timeout=FIVE_SECONDS), Reply)
    # every option
    reply = await ctx.execute_activity(
        greet,
        greeting,
        activity_id="greet-1",
        task_queue="other-queue",
        schedule_to_close_timeout=timedelta(minutes=1),
        start_to_close_timeout=timedelta(seconds=10),
        schedule_to_start_timeout=timedelta(seconds=30),
        heartbeat_timeout=timedelta(seconds=2),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(milliseconds=200),
            backoff_coefficient=1.5,
            maximum_interval=timedelta(seconds=5),
            maximum_attempts=3,
            non_retryable_error_types=["ValueError"],
        ),
    )
    # every option left unset explicitly (None), as a wrapper that forwards them does
    nothing_set = await ctx.execute_activity(
        tick,
        activity_id=None,
        task_queue=None,
        schedule_to_close_timeout=None,
        start_to_close_timeout=FIVE_SECONDS,
        schedule_to_start_timeout=None,
        heartbeat_timeout=None,
        retry_policy=None,
        options=None,
    )
    assert_type(nothing_set, str)
    # options bundled: as ActivityOptions (every field), or as the keywords' TypedDict, splatted
    options = ActivityOptions(
        activity_id="shout-1",
        task_queue="other-queue",
        schedule_to_close_timeout=timedelta(minutes=1),
        start_to_close_timeout=FIVE_SECONDS,
        schedule_to_start_timeout=timedelta(seconds=30),
        heartbeat_timeout=timedelta(seconds=2),
        retry_policy=RetryPolicy(maximum_attempts=2),
    )
    assert_type(await ctx.execute_activity(shout, greeting, options=options), str)
    assert_type(await ctx.execute_activity(shout, greeting, options=options, activity_id="shout-2"), str)
    shared: ExecuteActivityOptions = {"start_to_close_timeout": FIVE_SECONDS, "retry_policy": RetryPolicy()}
    assert_type(await ctx.execute_activity(greet, greeting, **shared), Reply)
    assert_type(await ctx.execute_activity(tick, **shared), str)
    assert_type(await ctx.execute_activity(now_plain, **ExecuteActivityOptions(options=options)), float)
    assert_type(await with_defaults(ctx, greeting, heartbeat_timeout=timedelta(seconds=1)), Reply)
    # by name: result_type says what comes back (object: plain JSON)
    assert_type(
        await ctx.execute_activity("greet", greeting, result_type=Reply, start_to_close_timeout=FIVE_SECONDS), Reply
    )
    assert_type(await ctx.execute_activity("tick", result_type=str, start_to_close_timeout=FIVE_SECONDS), str)
    assert_type(await ctx.execute_activity("tick", result_type=object, **shared), object)
    assert_type(
        await ctx.execute_activity("greet", {"name": "ada"}, result_type=dict[str, Any], **shared), dict[str, Any]
    )
    assert_type(await ctx.execute_activity("log_line", "hi", result_type=type(None), options=options), None)
    by_name = await ctx.execute_activity(
        "count-items",
        ORDER,
        result_type=int,
        activity_id="count-1",
        task_queue="other-queue",
        schedule_to_close_timeout=timedelta(minutes=1),
        start_to_close_timeout=timedelta(seconds=10),
        schedule_to_start_timeout=timedelta(seconds=30),
        heartbeat_timeout=timedelta(seconds=2),
        retry_policy=RetryPolicy(maximum_attempts=3),
        options=options,
    )
    assert_type(by_name, int)
    # the rest of the context
    assert_type(ctx.now(), datetime)
    assert_type(ctx.random().random(), float)
    assert_type(ctx.uuid4().hex, str)
    assert_type(ctx.info.workflow_id, str)
    assert_type(ctx.is_replaying, bool)
    ctx.logger.info("replied %s", reply.text)
    await ctx.sleep(timedelta(seconds=1))
    await ctx.sleep(0.5)
    try:
        await ctx.execute_activity(tick, start_to_close_timeout=FIVE_SECONDS)
    except ActivityError as e:
        ctx.logger.warning("tick failed: %s (cause: %s)", e, e.cause)
    return [reply.text]


async def with_defaults(ctx: workflow.Context, greeting: Greeting, **options: Unpack[ExecuteActivityOptions]) -> Reply:
    # A helper that forwards the options: the TypedDict types its keywords.
    options.setdefault("start_to_close_timeout", FIVE_SECONDS)
    return await ctx.execute_activity(greet, greeting, **options)


async def start_with_defaults(
    client: Client, greeting: Greeting, **options: Unpack[StartWorkflowOptions]
) -> WorkflowHandle[Any, Reply]:
    return await client.start_workflow(greeting_workflow, greeting, **options)


@workflow.defn
async def method_and_multi_argument_activities(ctx: workflow.Context, greeting: Greeting) -> int:
    repo = Repo()
    assert_type(await ctx.execute_activity_method(Repo.save, greeting, start_to_close_timeout=FIVE_SECONDS), int)
    assert_type(await ctx.execute_activity_method(Repo.count, start_to_close_timeout=FIVE_SECONDS), int)
    renamed = await ctx.execute_activity_method(Repo.rename, args=[greeting, "bo"], start_to_close_timeout=FIVE_SECONDS)
    assert_type(renamed, Reply)
    # a method bound to an instance is an ordinary activity of the rest of its parameters
    assert_type(await ctx.execute_activity(repo.save, greeting, start_to_close_timeout=FIVE_SECONDS), int)
    assert_type(await ctx.execute_activity(repo.count, start_to_close_timeout=FIVE_SECONDS), int)
    assert_type(await ctx.execute_activity(add, args=[1, 2], start_to_close_timeout=FIVE_SECONDS), int)
    assert_type(await ctx.execute_activity(join, args=[greeting, ORDER], start_to_close_timeout=FIVE_SECONDS), str)
    assert_type(await ctx.execute_activity(greet, args=[greeting], start_to_close_timeout=FIVE_SECONDS), Reply)
    by_name = await ctx.execute_activity("add", args=[1, 2], result_type=int, start_to_close_timeout=FIVE_SECONDS)
    assert_type(by_name, int)
    assert_type(await repo.save(greeting), int)
    assert_type(repo.count(), int)
    return renamed.length


async def activities_are_still_plain_functions() -> None:
    assert_type(await greet(G), Reply)
    assert_type(await greet(greeting=G), Reply)
    assert_type(shout(G), str)
    assert_type(await maybe_greet(), str)
    assert_type(greet.__name__, str)
    assert_type(activity.get_definition(greet).name, str)
    assert_type(workflow.get_definition(greeting_workflow).name, str)


async def client_usage(client: Client) -> None:
    handle = await client.start_workflow(greeting_workflow, G, id="w-1", task_queue="q")
    assert_type(handle, WorkflowHandle[Any, Reply])
    assert_type(await handle.result(), Reply)
    assert_type(await handle.result(timeout=2.5), Reply)
    assert_type(await handle.describe(), WorkflowDescription)
    assert_type(await handle.fetch_history(), list[dict[str, Any]])
    assert_type(await client.start_workflow(ticking_workflow, id="w-2", task_queue="q"), WorkflowHandle[Any, str])
    assert_type(await client.execute_workflow(order_workflow, ORDER, id="w-3", task_queue="q"), list[str])
    assert_type(await client.execute_workflow(ticking_workflow, id="w-4", task_queue="q", request_id="r"), str)
    assert_type(await client.execute_workflow(ticking_workflow, id="w-4", task_queue="q", request_id=None), str)
    # the options bundled as their TypedDict, splatted; or forwarded by a helper
    start: StartWorkflowOptions = {"id": "w-8", "task_queue": "q", "request_id": "r-8"}
    assert_type(await client.start_workflow(greeting_workflow, G, **start), WorkflowHandle[Any, Reply])
    assert_type(await client.execute_workflow(order_workflow, ORDER, **start), list[str])
    assert_type(await client.start_workflow("ticking_workflow", result_type=str, **start), WorkflowHandle[Any, str])
    assert_type(await client.execute_workflow("ticking_workflow", **start), Any)
    assert_type(await start_with_defaults(client, G, id="w-9", task_queue="q"), WorkflowHandle[Any, Reply])
    # by name: untyped unless result_type is given
    raw = await client.start_workflow("order-workflow", {"order_id": "o", "items": 1}, id="w", task_queue="q")
    assert_type(raw, WorkflowHandle[Any, Any])
    by_name = await client.start_workflow("greeting_workflow", G, id="w-5", task_queue="q", result_type=Reply)
    assert_type(by_name, WorkflowHandle[Any, Reply])
    assert_type(await client.execute_workflow("ticking_workflow", id="w-6", task_queue="q"), Any)
    assert_type(await client.execute_workflow("ticking_workflow", id="w-7", task_queue="q", result_type=str), str)
    # the start options: id policies, a start delay, a memo, the task timeout
    delayed = await client.start_workflow(
        greeting_workflow,
        G,
        id="w-10",
        task_queue="q",
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_delay=timedelta(minutes=5),
        memo={"owner": "ann", "tags": [1, 2], "greeting": G},
        task_timeout=timedelta(seconds=30),
    )
    assert_type(delayed, WorkflowHandle[Any, Reply])
    assert_type(await delayed.delete(), bool)
    # reset: to a workflow task by kind or by event id, what is not reapplied
    assert_type(await delayed.reset(reset_type="LastWorkflowTask", reason="bug fixed"), str)
    assert_type(await delayed.reset(event_id=4, reapply_exclude=["Signal"]), str)
    described = await delayed.describe()
    assert_type(described.memo, dict[str, Any] | None)
    assert_type(described.start_delay, timedelta | None)
    options: StartWorkflowOptions = {"id": "w-11", "task_queue": "q", "id_reuse_policy": None, "memo": None}
    assert_type(await client.execute_workflow(ticking_workflow, **options), str)
    # existing workflows
    assert_type(client.get_workflow_handle("w-1"), WorkflowHandle[Any, Any])
    assert_type(client.get_workflow_handle("w-1", run_id="r", result_type=Reply), WorkflowHandle[Any, Reply])
    assert_type(client.get_workflow_handle("w-1", result_type=list[str]), WorkflowHandle[Any, list[str]])
    page = await client.list_workflows(status="RUNNING", limit=10)
    assert_type(page.next_page_token, str | None)
    try:
        await client.execute_workflow(greeting_workflow, G, id="w-1", task_queue="q")
    except AlreadyStartedError:
        pass
    except WorkflowFailureError as e:
        assert_type(e.cause, FailureError | None)


async def async_completion_usage(client: Client) -> None:
    by_token = client.get_async_activity_handle(task_token="token")
    assert_type(by_token, AsyncActivityHandle)
    by_ids = client.get_async_activity_handle(workflow_id="w-1", activity_id="1", run_id=None)
    await by_ids.heartbeat({"done": 1})
    await by_ids.complete(Reply(text="x", length=1))
    await by_token.fail(ApplicationError("no", type="Declined", category=ApplicationErrorCategory.BENIGN))
    await by_token.report_cancellation()


def inside_an_activity() -> None:
    assert_type(activity.info().task_token, str)
    activity.logger.info("working on %s", "x")
    assert_never_returns: Callable[[], NoReturn] = activity.raise_complete_async
    del assert_never_returns


async def worker_usage() -> None:
    async with await Client.connect("localhost:7233", namespace="default") as client:
        worker = Worker(
            client,
            task_queue="q",
            workflows=[greeting_workflow, order_workflow, ticking_workflow, every_activity_shape, CartWorkflow, Pinger],
            activities=[greet, count_items, tick, log_line, shout, now_plain, maybe_greet, add, join],
        )
        repo = Repo()
        Worker(client, task_queue="q", activities=[repo.save, repo.count, repo.rename])
        worker = Worker(
            client,
            task_queue="q",
            workflows=[method_and_multi_argument_activities],
            activities=[greet],
        )
        await worker.run()


async def class_workflow_usage(client: Client) -> None:
    start: StartWorkflowOptions = {"id": "cart-1", "task_queue": "q"}
    handle = await client.start_workflow(CartWorkflow.run, Greeting("ann"), **start)
    assert_type(handle, WorkflowHandle[CartWorkflow, list[Item]])
    assert_type(await handle.result(), list[Item])
    await handle.signal(CartWorkflow.add, Item("apple"))
    await handle.signal(CartWorkflow.close_cart)
    await handle.signal("add", {"sku": "pear"})
    typed = client.get_workflow_handle_for(CartWorkflow.run, "cart-1")
    assert_type(typed, WorkflowHandle[CartWorkflow, list[Item]])
    await typed.signal(CartWorkflow.add, Item("fig", 2), request_id="r-1")
    assert_type(await typed.query(CartWorkflow.count), int)
    assert_type(await typed.query(CartWorkflow.has, "apple"), bool)
    assert_type(await handle.query(CartWorkflow.count, rpc_timeout=timedelta(seconds=2)), int)
    assert_type(await handle.query("count"), Any)
    assert_type(await handle.query("has", "apple", result_type=bool), bool)
    assert_type(await handle.query("count", rpc_timeout=timedelta(seconds=1), result_type=int), int)
    assert_type(
        await client.execute_workflow(CartWorkflow.run, Greeting("bo"), id="cart-2", task_queue="q"), list[Item]
    )
    # Signal-with-start: the same handle; the signal is named, its payload (at most one) in a list.
    with_signal = await client.start_workflow(
        CartWorkflow.run,
        Greeting("cy"),
        id="cart-3",
        task_queue="q",
        start_signal="add",
        start_signal_args=[Item("kiwi")],
    )
    assert_type(with_signal, WorkflowHandle[CartWorkflow, list[Item]])
    signalled: StartWorkflowOptions = {"id": "cart-4", "task_queue": "q", "start_signal": "close"}
    assert_type(await client.execute_workflow(CartWorkflow.run, Greeting("di"), **signalled), list[Item])
    await client.start_workflow(
        "CartWorkflow",
        {"greeting": "x"},
        id="cart-5",
        task_queue="q",
        start_signal="add",
        start_signal_args=({"sku": "f"},),
    )
    pinger = await client.start_workflow(Pinger.run, id="p-1", task_queue="q")
    assert_type(pinger, WorkflowHandle[Pinger, None])
    await pinger.signal(Pinger.ping, 3)
    added = await handle.execute_update(CartWorkflow.add_checked, Item("kiwi"))
    assert_type(added, int)
    upd = await handle.start_update(
        CartWorkflow.add_checked, Item("kiwi"), id="u-1", wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    assert_type(upd, WorkflowUpdateHandle[int])
    assert_type(await upd.result(), int)
    assert_type(await handle.execute_update("add_checked", {"sku": "x"}, result_type=int), int)
    op = WithStartWorkflowOperation(
        CartWorkflow.run,
        Greeting("cy"),
        id="cart-3",
        task_queue="q",
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert_type(op, WithStartWorkflowOperation[CartWorkflow, list[Item]])
    assert_type(
        await client.execute_update_with_start_workflow(
            CartWorkflow.add_checked, Item("x"), start_workflow_operation=op
        ),
        int,
    )
    assert_type(await op.workflow_handle(), WorkflowHandle[CartWorkflow, list[Item]])


async def continuing(ctx: workflow.Context, greeting: Greeting) -> Reply:
    if greeting.name == "a":
        ctx.continue_as_new(Greeting("b"), workflow=greeting_workflow)
    if greeting.name == "b":
        ctx.continue_as_new(workflow=ticking_workflow, task_queue="other")
    if greeting.name == "c":
        ctx.continue_as_new(Greeting("d"), workflow=CartWorkflow.run)
    if greeting.name == "d":
        ctx.continue_as_new(workflow=Pinger.run)
    if greeting.name == "e":
        ctx.continue_as_new(Greeting("f"))  # this workflow's own input: checked when it runs
    return Reply("x", 1)


def continues_for_good(ctx: workflow.Context, greeting: Greeting) -> NoReturn:
    ctx.continue_as_new(greeting, workflow=greeting_workflow)  # NoReturn: nothing follows it


async def lifetime_options(client: Client) -> None:
    policy = RetryPolicy(maximum_attempts=3)
    handle = await client.start_workflow(
        greeting_workflow,
        Greeting("x"),
        id="w",
        task_queue="q",
        execution_timeout=timedelta(hours=1),
        run_timeout=timedelta(minutes=5),
        retry_policy=policy,
    )
    assert_type(await handle.result(), Reply)
    assert_type(handle.result_run_id, str | None)


@workflow.defn
async def every_child_shape(ctx: workflow.Context, greeting: Greeting) -> None:
    reply = await ctx.execute_child_workflow(greeting_workflow, greeting, id="child-1")
    assert_type(reply, Reply)
    assert_type(await ctx.execute_child_workflow(ticking_workflow), str)
    items = await ctx.execute_child_workflow(
        CartWorkflow.run, greeting, task_queue="q", parent_close_policy=workflow.ParentClosePolicy.ABANDON
    )
    assert_type(items, list[Item])
    assert_type(await ctx.execute_child_workflow("CartWorkflow", {"name": "x"}, result_type=int), int)
    cart = await ctx.start_child_workflow(CartWorkflow.run, greeting)
    assert_type(cart, workflow.ChildWorkflowHandle[CartWorkflow, list[Item]])
    await cart.signal(CartWorkflow.add, Item("kiwi"))
    await cart.signal(CartWorkflow.close_cart)
    await cart.signal("close")
    assert_type(await cart, list[Item])
    assert_type(await cart.result(), list[Item])
    await cart.cancel()
    pinger = await ctx.start_child_workflow(Pinger.run)
    assert_type(pinger, workflow.ChildWorkflowHandle[Pinger, None])
    fn_child = await ctx.start_child_workflow(order_workflow, ORDER)
    assert_type(fn_child, workflow.ChildWorkflowHandle[Any, list[str]])
    other = ctx.get_external_workflow_handle_for(Pinger.run, "p-1")
    assert_type(other, workflow.ExternalWorkflowHandle[Pinger])
    await other.signal(Pinger.ping, 2)
    await other.cancel()
    anyone = ctx.get_external_workflow_handle("p-2", run_id="r")
    await anyone.signal("ping", 1)
    options: workflow.ChildWorkflowOptions = {"id": "c-9", "task_queue": "q"}
    assert_type(await ctx.execute_child_workflow(greeting_workflow, greeting, **options), Reply)
    # The child's own start options, as a client's start takes them.
    lasting = await ctx.start_child_workflow(
        greeting_workflow,
        greeting,
        execution_timeout=timedelta(hours=1),
        run_timeout=timedelta(minutes=5),
        task_timeout=timedelta(seconds=20),
        retry_policy=RetryPolicy(maximum_attempts=3),
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        memo={"customer": "ada"},
    )
    assert_type(lasting, workflow.ChildWorkflowHandle[Any, Reply])
    parent = ctx.info.parent
    assert_type(parent, workflow.ParentInfo | None)
    if parent is not None:
        assert_type(parent.run_id, str)


async def local_activities(ctx: workflow.Context, greeting: Greeting) -> None:
    # Typed as execute_activity: the activity's input and result types flow through.
    assert_type(await ctx.execute_local_activity(greet, greeting, start_to_close_timeout=FIVE_SECONDS), Reply)
    assert_type(await ctx.execute_local_activity(tick, schedule_to_close_timeout=FIVE_SECONDS), str)
    assert_type(await ctx.execute_local_activity(add, args=[1, 2], start_to_close_timeout=FIVE_SECONDS), int)
    assert_type(
        await ctx.execute_local_activity("add", args=[1, 2], result_type=int, start_to_close_timeout=FIVE_SECONDS), int
    )
    assert_type(await ctx.execute_local_activity(shout, greeting, start_to_close_timeout=FIVE_SECONDS), str)
    assert_type(await ctx.execute_local_activity(now_plain, start_to_close_timeout=FIVE_SECONDS), float)
    assert_type(
        await ctx.execute_local_activity(
            count_items, ORDER, start_to_close_timeout=FIVE_SECONDS, retry_policy=RetryPolicy()
        ),
        int,
    )
    assert_type(await ctx.execute_local_activity("tick", result_type=str, start_to_close_timeout=FIVE_SECONDS), str)
    local_options = ExecuteLocalActivityOptions(start_to_close_timeout=FIVE_SECONDS)
    assert_type(await ctx.execute_local_activity(greet, greeting, **local_options), Reply)
    # raise_cause keeps the awaited call's result type.
    assert_type(
        await workflow.raise_cause(ctx.execute_local_activity(greet, greeting, start_to_close_timeout=FIVE_SECONDS)),
        Reply,
    )
    assert_type(await workflow.raise_cause(ctx.execute_activity(tick, start_to_close_timeout=FIVE_SECONDS)), str)


def schedule_actions() -> None:
    by_function = ScheduleActionStartWorkflow(
        greeting_workflow, G, id="s", task_queue="q", run_timeout=timedelta(seconds=5)
    )
    assert_type(by_function, ScheduleActionStartWorkflow[Reply])
    assert_type(ScheduleActionStartWorkflow(ticking_workflow, id="s", task_queue="q"), ScheduleActionStartWorkflow[str])
    assert_type(
        ScheduleActionStartWorkflow("any-type", {"x": 1}, id="s", task_queue="q"), ScheduleActionStartWorkflow[Any]
    )


def search_attributes() -> None:
    items = SearchAttributeKey.for_int("Items")
    assert_type(items, SearchAttributeKey[int])
    attrs = TypedSearchAttributes([SearchAttributePair(items, 3)])
    assert_type(attrs[items], int)
    assert_type(attrs.get(items), int | None)
    assert_type(SearchAttributeKey.for_float("Score").value_set(2.5), SearchAttributeUpdate[float])
