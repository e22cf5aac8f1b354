"""Helpers for tests that run a real ``mainspring.Worker`` inside the test's own event loop.

The server is still a real process (the ``server`` fixture); only the worker shares the test's
loop, so tests can define workflows and activities in their own module and watch what they record.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from mainspring import Client, Worker, WorkflowHandle, activity, workflow
from support import ServerProcess

T = TypeVar("T")


@contextlib.asynccontextmanager
async def serving(db: Path, *, extra_args: Sequence[str] = ()) -> AsyncIterator[tuple[ServerProcess, Client]]:
    """A server of the test's own on ``db`` (where the ``server`` fixture will not do: other options, or a test
    that kills and restarts it) and a client of it; both stopped at the end. After a restart, connect anew."""
    server = ServerProcess(db, extra_args=extra_args).start()
    try:
        async with await Client.connect(server.address) as client:
            yield server, client
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def running_worker(
    client: Client,
    task_queue: str,
    *,
    workflows: Sequence[Callable[..., Any]] = (),
    activities: Sequence[Callable[..., Any]] = (),
    **options: Any,
) -> AsyncIterator[Worker]:
    """Run a worker on this loop until the block ends; then shut it down and wait for it."""
    worker = Worker(client, task_queue=task_queue, workflows=workflows, activities=activities, **options)
    task = asyncio.create_task(worker.run(), name=f"worker {task_queue}")
    ready = asyncio.create_task(worker.ready.wait())
    try:
        done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            if task.done():
                task.result()  # the worker ended before it was ready: raise why
            raise AssertionError("the worker did not become ready within 10 s")
        yield worker
    finally:
        ready.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ready
        worker.shutdown()
        await asyncio.wait_for(task, timeout=15)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """Await ``probe()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
            if last:
                return last
        except Exception as e:
            last_exc = e
        await asyncio.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or probe}; last value {last!r}"
        + (f", last error {last_exc!r}" if last_exc else "")
    )


#: The gates of the running ``clock_held`` blocks.
_HOLDS: dict[str, asyncio.Event] = {}


@activity.defn
async def _hold(key: str) -> None:
    await _HOLDS[key].wait()


@workflow.defn
async def _holding(ctx: workflow.Context, key: str) -> None:
    await ctx.execute_activity(_hold, key, start_to_close_timeout=timedelta(days=1))


@contextlib.asynccontextmanager
async def clock_held(client: Client) -> AsyncIterator[None]:
    """Keep a time-skipping environment's clock from skipping during the block, so that a test can look at
    timers, backoffs and deadlines while they are pending: an activity of its own runs all along (the clock
    does not skip while an activity runs). Its workflow and worker are on a task queue of their own; the
    activity is running before the block starts, and finished (with its worker) after it."""
    key = uuid.uuid4().hex[:12]
    _HOLDS[key] = asyncio.Event()
    task_queue = f"clock-held-{key}"
    try:
        async with running_worker(client, task_queue, workflows=[_holding], activities=[_hold]):
            handle = await client.start_workflow(_holding, key, id=task_queue, task_queue=task_queue)

            async def holding() -> bool:
                acts = (await handle.describe()).pending_activities
                return bool(acts) and acts[0]["state"] == "STARTED"

            await eventually(holding, what="the activity that holds the clock to start")
            try:
                yield
            finally:
                _HOLDS[key].set()
                await handle.result(timeout=10)
    finally:
        _HOLDS.pop(key).set()


async def history_types(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The event types of a run's history, in order."""
    return [e["event_type"] for e in await handle.fetch_history()]


async def events_of(handle: WorkflowHandle[Any, Any], event_type: str) -> list[dict[str, Any]]:
    """The events of one type in a run's history."""
    return [e for e in await handle.fetch_history() if e["event_type"] == event_type]
