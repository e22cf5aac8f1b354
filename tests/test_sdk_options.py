"""The SDK's options are declared once, and checked when a call runs.

``ExecuteActivityOptions`` and ``StartWorkflowOptions`` (``mainspring.options``) type the keywords of
``ctx.execute_activity`` and ``Client.start_workflow`` / ``execute_workflow`` (``tests/test_typecheck.py``
holds the static side); here: the declarations agree with each other, and a call that the type checker
would refuse is refused when it runs too, with a message that names the option; a valid one reaches the
server whole.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest

from inprocess import events_of, running_worker
from mainspring import (
    ActivityOptions,
    Client,
    RetryPolicy,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
    activity,
    workflow,
)
from mainspring.common import TypedSearchAttributes
from mainspring.options import ExecuteActivityOptions, StartWorkflowOptions
from mainspring.workflow import Context
from mainspring.workflow._instance import ActivityCall
from support import free_port

FIVE = timedelta(seconds=5)


# --- the declarations agree ---------------------------------------------------------------------------------


def test_every_activity_option_is_a_keyword_of_the_same_type() -> None:
    fields = typing.get_type_hints(ActivityOptions)
    keywords = typing.get_type_hints(ExecuteActivityOptions)
    assert keywords == {**fields, "options": ActivityOptions | None}
    assert ExecuteActivityOptions.__total__ is False  # every keyword may be left out
    # execute_activity hands the merged options to the worker's ActivityCall by name.
    call = {f.name for f in dataclasses.fields(ActivityCall)}
    assert set(fields) <= call, f"ActivityCall lacks {set(fields) - call}"
    assert set(ActivityOptions().to_json()) == set(fields)


def test_start_workflow_options() -> None:
    hints = typing.get_type_hints(StartWorkflowOptions, include_extras=True)
    assert hints == {
        "id": typing.Required[str],
        "task_queue": typing.Required[str],
        "request_id": str | None,
        "start_signal": str | None,
        "start_signal_args": Sequence[Any],
        # the start options: id policies, start delay, memo, task timeout
        "id_reuse_policy": WorkflowIDReusePolicy | None,
        "id_conflict_policy": WorkflowIDConflictPolicy | None,
        "start_delay": timedelta | None,
        "memo": Mapping[str, Any] | None,
        "task_timeout": timedelta | None,
        "cron_schedule": str | None,
        "search_attributes": TypedSearchAttributes | Mapping[str, Any] | None,
        # the workflow's lifetime
        "execution_timeout": timedelta | None,
        "run_timeout": timedelta | None,
        "retry_policy": RetryPolicy | None,
    }


def test_a_child_takes_the_start_options_of_a_client_s_start_with_their_types() -> None:
    child = typing.get_type_hints(workflow.ChildWorkflowOptions)
    start = typing.get_type_hints(StartWorkflowOptions)
    own = {"id", "task_queue", "parent_close_policy"}
    shared = set(child) - own
    assert shared == {
        "execution_timeout",
        "run_timeout",
        "task_timeout",
        "retry_policy",
        "id_reuse_policy",
        "memo",
        "search_attributes",
    }
    assert {name: child[name] for name in shared} == {name: start[name] for name in shared}


@pytest.mark.parametrize(
    ("method", "spec"),
    [
        (Context.execute_activity, "ExecuteActivityOptions"),
        (Context.execute_activity_method, "ExecuteActivityOptions"),
        (Client.start_workflow, "StartWorkflowOptions"),
        (Client.execute_workflow, "StartWorkflowOptions"),
        (Context.start_child_workflow, "ChildWorkflowOptions"),
        (Context.execute_child_workflow, "ChildWorkflowOptions"),
    ],
)
def test_overloads_differ_only_in_what_is_called(method: Any, spec: str) -> None:
    # Each overload takes the options as the one TypedDict, and no option of its own: a new option is
    # one edit to the TypedDict, not one per overload. (``args`` is what is called with, not an option:
    # an activity's several arguments.)
    overloads = typing.get_overloads(method)
    assert len(overloads) >= 3
    for overload in overloads:
        params = inspect.signature(overload).parameters
        assert params["options"].kind is inspect.Parameter.VAR_KEYWORD
        assert params["options"].annotation == f"Unpack[{spec}]"
        own = [p.name for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        assert own in ([], ["result_type"], ["args"], ["args", "result_type"]), own


# --- ActivityOptions checks its fields when it is made ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"start_to_close_timeout": 5}, TypeError, "ActivityOptions.start_to_close_timeout must be a timedelta"),
        ({"heartbeat_timeout": "2s"}, TypeError, "ActivityOptions.heartbeat_timeout must be a timedelta"),
        ({"retry_policy": {"maximum_attempts": 3}}, TypeError, "ActivityOptions.retry_policy must be a RetryPolicy"),
        ({"activity_id": 7}, TypeError, "ActivityOptions.activity_id must be a str or None, got int 7"),
        ({"schedule_to_close_timeout": timedelta(0)}, ValueError, "schedule_to_close_timeout must be more than 0"),
        ({"start_to_close_timeout": timedelta(days=365 * 200)}, ValueError, "at most 100 years"),
        ({"task_queue": " q"}, ValueError, "invalid ActivityOptions.task_queue ' q': it must not start or end"),
        ({"activity_id": ""}, ValueError, "invalid ActivityOptions.activity_id '': it must be a non-empty string"),
    ],
)
def test_activity_options_refuse_what_the_server_would(
    fields: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        ActivityOptions(**fields)


def test_activity_options_wire_form() -> None:
    options = ActivityOptions(
        activity_id="a",
        task_queue="q",
        schedule_to_close_timeout=timedelta(minutes=1),
        start_to_close_timeout=timedelta(milliseconds=1500),
        retry_policy=RetryPolicy(maximum_attempts=2),
    )
    assert options.to_json() == {
        "activity_id": "a",
        "task_queue": "q",
        "schedule_to_close_timeout": 60.0,
        "start_to_close_timeout": 1.5,
        "schedule_to_start_timeout": None,
        "heartbeat_timeout": None,
        "retry_policy": RetryPolicy(maximum_attempts=2).to_json(),
    }


# --- ctx.execute_activity, in a running workflow ---------------------------------------------------------------


@activity.defn
async def echo(text: str) -> str:
    return text


#: Calls the type checker refuses (or that the server would), and what the running workflow says of each.
BAD_CALLS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown": (
        {"start_to_close_timeout": FIVE, "start_to_close": FIVE},
        "TypeError: execute_activity() got an unexpected keyword argument 'start_to_close'; "
        "did you mean 'start_to_close_timeout'?",
    ),
    "int timeout": (
        {"start_to_close_timeout": 5},
        "TypeError: activity 'echo': start_to_close_timeout must be a timedelta (for example "
        "timedelta(seconds=5)) or None, got int 5",
    ),
    "float timeout": (
        {"start_to_close_timeout": FIVE, "heartbeat_timeout": 2.5},
        "TypeError: activity 'echo': heartbeat_timeout must be a timedelta",
    ),
    "policy": ({"start_to_close_timeout": FIVE, "retry_policy": 3}, "TypeError: activity 'echo': retry_policy must be"),
    "options": (
        {"options": RetryPolicy()},
        "TypeError: activity 'echo': options must be an ActivityOptions or None, got RetryPolicy",
    ),
    "id type": ({"start_to_close_timeout": FIVE, "activity_id": 7}, "TypeError: activity 'echo': activity_id must be"),
    "negative": (
        {"start_to_close_timeout": FIVE, "schedule_to_start_timeout": timedelta(seconds=-1)},
        "ValueError: activity 'echo': schedule_to_start_timeout must be more than 0",
    ),
    "zero": (
        {"schedule_to_close_timeout": timedelta(0)},
        "ValueError: activity 'echo': schedule_to_close_timeout must be more than 0",
    ),
    "empty queue": (
        {"start_to_close_timeout": FIVE, "task_queue": ""},
        "ValueError: activity 'echo': invalid task_queue '': it must be a non-empty string",
    ),
    "no timeout": (
        {"activity_id": "a", "options": ActivityOptions(heartbeat_timeout=FIVE)},
        "ValueError: activity 'echo': set schedule_to_close_timeout or start_to_close_timeout",
    ),
}


@workflow.defn
async def bad_calls(ctx: workflow.Context, cases: list[str]) -> dict[str, str]:
    said: dict[str, str] = {}
    for case in cases:
        try:
            await ctx.execute_activity(echo, case, **BAD_CALLS[case][0])
            said[case] = "ran"
        except (TypeError, ValueError) as e:
            said[case] = f"{type(e).__name__}: {e}"
    # Nothing refused was scheduled; a good call after them still runs.
    said["after"] = await ctx.execute_activity(echo, "fine", start_to_close_timeout=FIVE)
    return said


async def test_execute_activity_refuses_bad_options_naming_them(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[bad_calls], activities=[echo]):
        # Each bad call twice: the options of a call are checked once and then remembered, and a refused
        # call must be refused again (only options that passed are remembered).
        cases = list(BAD_CALLS) * 2
        said = await client.execute_workflow(bad_calls, cases, id="bad-calls", task_queue=task_queue)
    for case, (_, message) in BAD_CALLS.items():
        assert said[case].startswith(message), (case, said[case])
    assert said["after"] == "fine"
    scheduled = await events_of(client.get_workflow_handle("bad-calls"), "ActivityTaskScheduled")
    assert len(scheduled) == 1


@workflow.defn
async def every_option(ctx: workflow.Context, task_queue: str) -> list[str]:
    policy = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)
    defaults = ActivityOptions(
        activity_id="from-options",
        task_queue=task_queue,
        schedule_to_close_timeout=timedelta(minutes=2),
        start_to_close_timeout=timedelta(seconds=20),
        heartbeat_timeout=timedelta(seconds=7),
        retry_policy=policy,
    )
    return [
        # every option as a keyword
        await ctx.execute_activity(
            echo,
            "keywords",
            activity_id="all-keywords",
            task_queue=task_queue,
            schedule_to_close_timeout=timedelta(minutes=1),
            start_to_close_timeout=timedelta(seconds=10),
            schedule_to_start_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(maximum_attempts=4, non_retryable_error_types=["Fatal"]),
        ),
        # options, two of them overridden by keywords, one left as it is by a None
        await ctx.execute_activity(
            echo,
            "options",
            options=defaults,
            activity_id="overridden",
            start_to_close_timeout=timedelta(seconds=3),
            heartbeat_timeout=None,
        ),
        # by name, with the options bundled as their TypedDict
        await ctx.execute_activity("echo", "by name", result_type=str, **SHARED),
        # the same options again (remembered from the call before): the same wire form
        await ctx.execute_activity("echo", "again", result_type=str, **SHARED),
    ]


SHARED: ExecuteActivityOptions = {"start_to_close_timeout": timedelta(seconds=4)}


async def test_every_option_reaches_the_server(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[every_option], activities=[echo]):
        said = await client.execute_workflow(every_option, task_queue, id="every-option", task_queue=task_queue)
    assert said == ["keywords", "options", "by name", "again"]
    scheduled = [
        e["attributes"] for e in await events_of(client.get_workflow_handle("every-option"), "ActivityTaskScheduled")
    ]
    keywords, options, by_name, again = scheduled
    assert keywords["activity_id"] == "all-keywords"
    assert keywords["task_queue"] == task_queue
    assert (keywords["schedule_to_close_timeout"], keywords["start_to_close_timeout"]) == (60, 10)
    assert (keywords["schedule_to_start_timeout"], keywords["heartbeat_timeout"]) == (30, 2)
    assert keywords["retry_policy"]["maximum_attempts"] == 4
    assert keywords["retry_policy"]["non_retryable_error_types"] == ["Fatal"]
    assert options["activity_id"] == "overridden"
    assert (options["schedule_to_close_timeout"], options["start_to_close_timeout"]) == (120, 3)
    assert options["heartbeat_timeout"] == 7
    assert options["retry_policy"]["initial_interval"] == 0.2
    assert options["retry_policy"]["maximum_attempts"] == 3
    assert by_name["activity_type"] == "echo"
    assert by_name["start_to_close_timeout"] == 4
    assert by_name["activity_id"] not in ("all-keywords", "overridden")  # a sequence number of its own
    assert {
        k: v for k, v in again.items() if k not in ("activity_id", "input", "workflow_task_completed_event_id")
    } == {k: v for k, v in by_name.items() if k not in ("activity_id", "input", "workflow_task_completed_event_id")}


# --- Client.start_workflow / execute_workflow --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"id": "w", "task_queue": "q", "timeout": FIVE},
            "start_workflow() got an unexpected keyword argument 'timeout'",
        ),
        ({"workflow_id": "w", "task_queue": "q"}, "unexpected keyword argument 'workflow_id'"),
        ({"task_queue": "q"}, "start_workflow() missing required keyword argument 'id'"),
        ({"id": "w"}, "start_workflow() missing required keyword argument 'task_queue'"),
        ({"id": 1, "task_queue": "q"}, "id must be a str, got int 1"),
        ({"id": "w", "task_queue": None}, "task_queue must be a str, got NoneType None"),
        ({"id": "w", "task_queue": "q", "request_id": 3}, "request_id must be a str or None, got int 3"),
        ({"id": "w", "task_queue": "q", "start_signal": 1}, "start_signal must be a str or None, got int 1"),
        (
            {"id": "w", "task_queue": "q", "start_signal": "s", "start_signal_args": {"a": 1}},
            "start_signal_args must be a Sequence, got dict {'a': 1}",
        ),
    ],
)
async def test_start_workflow_refuses_bad_options_before_sending_anything(
    options: dict[str, Any], message: str
) -> None:
    # Nothing listens at this address: the options are refused before any request would fail to connect.
    async with await Client.connect(f"127.0.0.1:{free_port()}") as client:
        for start in (client.start_workflow, client.execute_workflow):
            with pytest.raises(TypeError) as e:
                await start("some_workflow", None, **options)
            assert message in str(e.value)
