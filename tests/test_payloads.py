"""Large payloads on the step path: an eager activity task does not carry its input back to the worker
that sent it in its ScheduleActivity command (``input_from_command``: the worker fills it in from the
command), a polled task still carries it, and the payload checks still refuse what cannot be stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from inprocess import events_of, running_worker
from mainspring import Client, Worker, activity, workflow
from mainspring.converter import PayloadError, decode
from mainspring.server._execution import MAX_PAYLOAD_DEPTH, payload_size
from support import ServerProcess

START_TO_CLOSE = timedelta(seconds=30)


@dataclass
class Blob:
    text: str
    numbers: list[float]


def big_blob(size: int = 300_000) -> Blob:
    # Not one repeated character: multi-byte UTF-8, quotes and escapes, so a lossy hop would show.
    piece = 'aé"\\\n€😀z'
    return Blob(text=(piece * (size // len(piece)))[:size], numbers=[0.1, -2.5e300, 7.0, 2**53])


@activity.defn
async def echo_blob(b: Blob) -> Blob:
    return Blob(text=b.text, numbers=[*b.numbers, float(len(b.text))])


@workflow.defn
async def echo_twice(ctx: workflow.Context, b: Blob) -> Blob:
    # The first activity is handed back in the answer to the first workflow task; the second, in the
    # answer to the continuation the worker runs on the first one's result.
    first = await ctx.execute_activity(echo_blob, b, start_to_close_timeout=START_TO_CLOSE)
    return await ctx.execute_activity(
        echo_blob, Blob(text=first.text[::-1], numbers=first.numbers), start_to_close_timeout=START_TO_CLOSE
    )


@workflow.defn
async def echo_elsewhere(ctx: workflow.Context, args: tuple[Blob, str]) -> Blob:
    b, queue = args
    return await ctx.execute_activity(echo_blob, b, task_queue=queue, start_to_close_timeout=START_TO_CLOSE)


def record_eager(worker: Worker) -> list[dict[str, Any]]:
    """The eager tasks the server hands ``worker``, as they arrive (before it fills their input in)."""
    seen: list[dict[str, Any]] = []
    original = worker._start_eager

    def start_eager(tasks: list[dict[str, Any]], reserved: int, commands: list[dict[str, Any]]) -> None:
        seen.extend({**t} for t in tasks)
        original(tasks, reserved, commands)

    worker._start_eager = start_eager  # type: ignore[method-assign]
    return seen


async def test_an_eager_task_gets_its_input_from_the_command_intact(client: Client, task_queue: str) -> None:
    blob = big_blob()
    async with running_worker(client, task_queue, workflows=[echo_twice], activities=[echo_blob]) as worker:
        eager = record_eager(worker)
        handle = await client.start_workflow(echo_twice, blob, id=f"big-{uuid.uuid4().hex[:8]}", task_queue=task_queue)
        result = await handle.result()
    assert result.text == blob.text[::-1]
    assert result.numbers == [*blob.numbers, float(len(blob.text)), float(len(blob.text))]
    # Both activities went the eager way, without their input on the wire.
    assert len(eager) == 2, eager
    assert all(t.get("input_from_command") is True and "input" not in t for t in eager)
    # The history holds each input as the workflow sent it.
    scheduled = await events_of(handle, "ActivityTaskScheduled")
    assert [e["attributes"]["input"]["text"] for e in scheduled] == [blob.text, blob.text[::-1]]


async def test_a_polled_task_carries_its_input(client: Client, task_queue: str) -> None:
    blob = big_blob()
    other = f"{task_queue}-acts"
    async with (
        running_worker(client, task_queue, workflows=[echo_elsewhere], activities=[echo_blob]) as worker,
        running_worker(client, other, activities=[echo_blob]),
    ):
        eager = record_eager(worker)
        handle = await client.start_workflow(
            echo_elsewhere, (blob, other), id=f"far-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        result = await handle.result()
    assert result.text == blob.text
    assert result.numbers == [*blob.numbers, float(len(blob.text))]
    assert eager == []  # another queue's activity: polled there, input and all


# --- the protocol, driven by hand over HTTP -------------------------------------------------------------

NS = "/api/v1/namespaces/default"


def _schedule(activity_id: str, value: Any) -> dict[str, Any]:
    return {
        "type": "ScheduleActivity",
        "activity_id": activity_id,
        "activity_type": "echo",
        "input": value,
        "start_to_close_timeout": 10,
    }


def test_eager_tasks_leave_out_the_input_and_polled_ones_carry_it(server: ServerProcess) -> None:
    tq = f"pl-{uuid.uuid4().hex[:6]}"
    big = "x" * 100_000
    with httpx.Client(base_url=server.url + NS, timeout=30) as http:
        session = http.post(
            "/workers",
            json={"identity": "hand", "task_queue": tq, "workflow_types": [{"name": "w"}], "activity_types": ["echo"]},
        ).json()["session_id"]
        http.post("/workflows", json={"workflow_id": "p1", "workflow_type": "w", "task_queue": tq})
        task = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        # Two activities, room for one: the one handed back leaves its input out; the other is polled.
        answer = http.post(
            "/workflow-tasks/complete",
            json={
                "task_token": task["task_token"],
                "commands": [_schedule("a1", big), _schedule("a2", [1, {"k": "v"}])],
                "eager_activity_slots": 1,
            },
        )
        done = answer.json()
        (a1,) = done["activity_tasks"]
        assert a1["activity_id"] == "a1" and a1["input_from_command"] is True and a1.get("input") is None
        assert len(answer.content) < 10_000  # neither the events nor the task repeat the input
        a2 = http.post("/activity-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        assert a2["activity_id"] == "a2" and a2["input"] == [1, {"k": "v"}]
        assert not a2.get("input_from_command")
        last_seen = done["events"][-1]["event_id"]

        # a2's result comes first and is recorded the usual way (a1 still runs).
        http.post("/activity-tasks/complete", json={"task_token": a2["task_token"], "result": 2})
        wt = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 10}).json()
        done = http.post(
            "/workflow-tasks/complete", json={"task_token": wt["task_token"], "commands": [], "eager_activity_slots": 0}
        ).json()
        last_seen = done["events"][-1]["event_id"]

        # A continuation on a1's result schedules a3: handed back without its input too.
        accepted = http.post(
            "/activity-tasks/complete",
            json={
                "task_token": a1["task_token"],
                "result": big,
                "continuation": {
                    "base_event_id": last_seen,
                    "started_time": _now(),
                    "commands": [_schedule("a3", big + "!")],
                },
                "eager_activity_slots": 1,
            },
        ).json()
        assert accepted["continuation"]["accepted"] is True, accepted["continuation"]
        (a3,) = accepted["activity_tasks"]
        assert a3["activity_id"] == "a3" and a3["input_from_command"] is True and a3.get("input") is None

        # The history has every input, once each.
        history = http.get("/workflows/history", params={"workflow_id": "p1"}).json()["events"]
        inputs = {
            e["attributes"]["activity_id"]: e["attributes"]["input"]
            for e in history
            if e["event_type"] == "ActivityTaskScheduled"
        }
        assert inputs == {"a1": big, "a2": [1, {"k": "v"}], "a3": big + "!"}


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- payload_size: one encoding for a big string, and still the depth limit for containers -------------


def _nested(depth: int, inner: Any) -> Any:
    for _ in range(depth):
        inner = [inner]
    return inner


def test_payload_size_measures_big_scalars_and_refuses_deep_containers() -> None:
    big = "é" * 1_000_000
    assert payload_size(big) == len(big.encode()) + 2
    assert payload_size(12345) == 5
    filler = "y" * 1000  # big enough that the depth is checked
    assert payload_size(_nested(MAX_PAYLOAD_DEPTH, filler)) == len(filler) + 2 + 2 * MAX_PAYLOAD_DEPTH
    for deep in (_nested(MAX_PAYLOAD_DEPTH + 1, filler), _nested(MAX_PAYLOAD_DEPTH - 1, {"k": [filler]})):
        with pytest.raises(ValueError, match=f"nested more than {MAX_PAYLOAD_DEPTH} levels"):
            payload_size(deep)


def test_a_string_decodes_as_itself_and_a_non_string_is_still_refused() -> None:
    big = 'line "one"\nzwei é 😀\n' * 50_000
    assert decode(big, str) is big  # no hop through JSON for a 1 MB string
    for wrong in (5, None, ["a"], True):
        with pytest.raises(PayloadError):
            decode(wrong, str)
