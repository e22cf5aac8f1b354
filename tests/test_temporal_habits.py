"""What a Temporal user's code expects of the SDK, against a real server: bytes round-trip as bytes,
``raise ... from`` keeps its cause, and an activity nobody starts times out as SCHEDULE_TO_START.

The worker runs in the test's event loop (``running_worker``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from inprocess import events_of, running_worker
from mainspring import (
    ActivityError,
    ApplicationError,
    Client,
    InvalidArgumentError,
    RetryPolicy,
    TimeoutError,
    WorkflowFailureError,
    activity,
    workflow,
)
from mainspring.converter import decode, encode, json_schema

DEADBEEF = b"\xde\xad\xbe\xef"


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


# ================================================================================================
# bytes
# ================================================================================================


@activity.defn
async def reverse_bytes(data: bytes) -> bytes:
    assert isinstance(data, bytes), type(data)
    return data[::-1]


@activity.defn
async def untyped_echo(data: Any) -> Any:
    return data


@workflow.defn
async def bytes_echo(ctx: workflow.Context, data: bytes) -> bytes:
    assert isinstance(data, bytes), type(data)
    reversed_ = await ctx.execute_activity(reverse_bytes, data, start_to_close_timeout=timedelta(seconds=10))
    assert isinstance(reversed_, bytes), type(reversed_)
    # Through an activity that declares nothing: the value still comes back as bytes.
    again = await ctx.execute_activity(
        "untyped_echo", reversed_[::-1], result_type=object, start_to_close_timeout=timedelta(seconds=10)
    )
    assert isinstance(again, bytes), type(again)
    return again


@workflow.defn
async def any_echo(ctx: workflow.Context, data: Any) -> Any:
    return data


@pytest.mark.parametrize("data", [DEADBEEF, b"abc", b""], ids=["not-utf8", "ascii", "empty"])
async def test_bytes_round_trip_through_workflow_and_activities(client: Client, task_queue: str, data: bytes) -> None:
    async with running_worker(
        client, task_queue, workflows=[bytes_echo, any_echo], activities=[reverse_bytes, untyped_echo]
    ):
        result = await client.execute_workflow(bytes_echo, data, id=new_id(), task_queue=task_queue)
        assert result == data and isinstance(result, bytes)
        # Untyped on every side (by name, no result type): bytes, not the string 'abc'.
        handle = await client.start_workflow("any_echo", [data, {"k": data}], id=new_id(), task_queue=task_queue)
        assert await handle.result(timeout=30) == [data, {"k": data}]


async def test_bytes_are_marked_in_history(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[bytes_echo], activities=[reverse_bytes, untyped_echo]):
        handle = await client.start_workflow(bytes_echo, DEADBEEF, id=new_id(), task_queue=task_queue)
        await handle.result(timeout=30)
    started = await events_of(handle, "WorkflowExecutionStarted")
    assert started[0]["attributes"]["input"] == {"$bytes": "3q2+7w=="}
    scheduled = await events_of(handle, "ActivityTaskScheduled")
    assert scheduled[0]["attributes"]["input"] == {"$bytes": "3q2+7w=="}
    completed = await events_of(handle, "ActivityTaskCompleted")
    assert completed[0]["attributes"]["result"] == {"$bytes": "776t3g=="}


@dataclass
class Opaque:
    blob: bytes


async def test_a_value_with_no_json_form_is_refused_naming_its_type(client: Client, task_queue: str) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot convert object to JSON"):
        await client.start_workflow(any_echo, object(), id=new_id(), task_queue=task_queue)
    # pydantic writes a dataclass's bytes field as UTF-8 text: bytes that are not UTF-8 are refused,
    # with the type named (it was a raw UnicodeDecodeError).
    with pytest.raises(InvalidArgumentError, match="cannot convert Opaque to JSON: it holds bytes that are not UTF-8"):
        await client.start_workflow(any_echo, Opaque(DEADBEEF), id=new_id(), task_queue=task_queue)
    with pytest.raises(InvalidArgumentError, match="cannot convert set to JSON"):
        await client.start_workflow("any_echo", {object()}, id=new_id(), task_queue=task_queue)


def test_converter_bytes_in_containers_and_typed_targets() -> None:
    assert encode(DEADBEEF) == {"$bytes": "3q2+7w=="}
    assert encode([b"a", (b"b",), {"c": bytearray(b"c")}]) == [
        {"$bytes": "YQ=="},
        [{"$bytes": "Yg=="}],
        {"c": {"$bytes": "Yw=="}},
    ]
    assert decode(encode([DEADBEEF, {"k": b"x"}]), Any) == [DEADBEEF, {"k": b"x"}]
    assert decode(encode([DEADBEEF]), list[bytes]) == [DEADBEEF]
    assert decode(encode(DEADBEEF), bytes | None) == DEADBEEF
    assert decode(None, bytes | None) is None
    assert decode("abc", bytes) == b"abc"  # a plain string still means its UTF-8 bytes
    assert decode(encode(Opaque(b"abc")), Opaque) == Opaque(b"abc")
    # Plain JSON takes a fast path; what it returns is a copy, as pydantic's conversion was.
    items: list[Any] = [1, {"k": [2]}]
    sent = encode(items)
    items[1]["k"].append(3)
    assert sent == [1, {"k": [2]}]
    # The server checks a start's input against this schema: the mark must fit it.
    schema = json_schema(bytes)
    assert schema is not None and {"type": "string"} in schema["anyOf"]
    assert any(s.get("required") == ["$bytes"] for s in schema["anyOf"])


# ================================================================================================
# raise ... from
# ================================================================================================


@activity.defn
async def fails_with_cause(key: str) -> str:
    raise ApplicationError("main error", type="Main", non_retryable=True) from ApplicationError(
        "cause error", type="Cause"
    )


@workflow.defn
async def raises_from(ctx: workflow.Context, key: str) -> str:
    raise ApplicationError("main error") from ApplicationError("cause error")


@workflow.defn
async def activity_raises_from(ctx: workflow.Context, key: str) -> str:
    return await ctx.execute_activity(
        fails_with_cause,
        key,
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=RetryPolicy(maximum_attempts=1),
    )


async def test_raise_from_keeps_the_cause_in_a_workflow(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[raises_from]):
        handle = await client.start_workflow(raises_from, "k", id=new_id(), task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=30)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.message == "main error"
    assert isinstance(cause.cause, ApplicationError) and cause.cause.message == "cause error"
    failed = await events_of(handle, "WorkflowExecutionFailed")
    assert failed[0]["attributes"]["failure"]["cause"]["message"] == "cause error"


async def test_raise_from_keeps_the_cause_in_an_activity(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[activity_raises_from], activities=[fails_with_cause]):
        handle = await client.start_workflow(activity_raises_from, "k", id=new_id(), task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=30)
    act = info.value.cause
    assert isinstance(act, ActivityError)
    main = act.cause
    assert isinstance(main, ApplicationError) and (main.type, main.message) == ("Main", "main error")
    assert isinstance(main.cause, ApplicationError) and (main.cause.type, main.cause.message) == (
        "Cause",
        "cause error",
    )
    failed = await events_of(handle, "ActivityTaskFailed")
    assert failed[0]["attributes"]["failure"]["cause"]["message"] == "cause error"


# ================================================================================================
# schedule-to-start defaults to schedule-to-close
# ================================================================================================


@workflow.defn
async def nobody_starts_it(ctx: workflow.Context, queue: str) -> str:
    try:
        await ctx.execute_activity(
            "never_runs", None, result_type=str, task_queue=queue, schedule_to_close_timeout=timedelta(seconds=0.5)
        )
    except ActivityError as e:
        assert isinstance(e.cause, TimeoutError)
        return e.cause.timeout_type
    return "completed?"


async def test_schedule_to_close_alone_times_out_as_schedule_to_start_when_nobody_starts_it(
    client: Client, task_queue: str
) -> None:
    async with running_worker(client, task_queue, workflows=[nobody_starts_it]):
        handle = await client.start_workflow(
            nobody_starts_it, f"{task_queue}-nobody-polls", id=new_id(), task_queue=task_queue
        )
        assert await handle.result(timeout=30) == "SCHEDULE_TO_START"
    scheduled = await events_of(handle, "ActivityTaskScheduled")
    assert scheduled[0]["attributes"]["schedule_to_start_timeout"] == 0.5
    timed_out = await events_of(handle, "ActivityTaskTimedOut")
    assert len(timed_out) == 1
    assert timed_out[0]["attributes"]["failure"]["timeout_type"] == "SCHEDULE_TO_START"
