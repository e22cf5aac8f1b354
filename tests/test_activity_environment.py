"""``mainspring.testing.ActivityEnvironment``: an activity run directly, with a made-up info, heartbeats
captured, and cancellation, for ``async def`` and plain ``def`` activities alike."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest

from mainspring import CancelledError, activity
from mainspring.testing import ActivityEnvironment


@activity.defn
async def count_up(n: int) -> str:
    for i in range(n):
        activity.heartbeat(i)
    info = activity.info()
    return f"{info.activity_type} attempt {info.attempt} of {info.workflow_id}"


@activity.defn
def count_up_in_a_thread(n: int) -> str:
    for i in range(n):
        activity.heartbeat({"done": i})
    return f"{activity.info().activity_type} in {threading.current_thread().name != 'MainThread'}"


@activity.defn
async def waits_forever() -> None:
    activity.heartbeat("started")
    await asyncio.Event().wait()


@activity.defn
def polls_until_cancelled() -> str:
    activity.heartbeat("started")
    while True:
        time.sleep(0.01)
        activity.heartbeat()  # raises mainspring.CancelledError once cancelled


async def test_an_async_and_a_plain_activity_run_with_their_heartbeats_captured() -> None:
    env = ActivityEnvironment()
    beats: list[object] = []
    env.on_heartbeat = beats.append
    assert await env.run(count_up, 3) == "count_up attempt 1 of test"
    assert beats == [0, 1, 2]
    beats.clear()
    env.info = dataclasses.replace(env.info, attempt=4, workflow_id="order-7")
    assert await env.run(count_up, 1) == "count_up attempt 4 of order-7"
    assert beats == [0]
    beats.clear()
    # A plain def runs in a thread, as a worker runs it; its heartbeats are captured all the same.
    assert await env.run(count_up_in_a_thread, 2) == "count_up_in_a_thread in True"
    assert beats == [{"done": 0}, {"done": 1}]


async def test_cancel_reaches_an_async_activity_and_a_plain_one() -> None:
    env = ActivityEnvironment()
    started = asyncio.Event()
    env.on_heartbeat = lambda details: started.set()
    task = asyncio.create_task(env.run(waits_forever))
    await asyncio.wait_for(started.wait(), 5)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    env = ActivityEnvironment()
    seen: list[object] = []
    env.on_heartbeat = seen.append
    task = asyncio.create_task(env.run(polls_until_cancelled))
    while not seen:
        await asyncio.sleep(0.01)
    env.cancel()
    with pytest.raises(CancelledError):
        await asyncio.wait_for(task, 5)
