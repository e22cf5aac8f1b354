"""How the worker runs and reports activities, against a real server: ``Worker(activity_executor=...)``
(a thread pool of the caller's, a process pool whose children's heartbeats reach the server), a
cancelled plain ``def`` activity getting ``CancelledError`` from its next ``heartbeat()`` (in a thread
and in a child process), ``activity.logger``, and the two ``ApplicationError`` options Temporal users
set: ``category=BENIGN`` (logged quietly) and ``next_retry_delay`` (the server waits that long: an hour, on the
time-skipping environment, ``mainspring_client``, where it takes no real time).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from inprocess import eventually, running_worker
from mainspring import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
    CancelledError,
    Client,
    RetryPolicy,
    activity,
    workflow,
)
from mainspring.worker import SharedStateManager
from process_activities import Job, beating_in_a_child, cancellable_in_a_child

#: What the in-process activities saw, by the key their test gave them.
SEEN: dict[str, list[Any]] = {}


@pytest.fixture
def processes() -> Iterator[ProcessPoolExecutor]:
    # "spawn": the test process has threads; a forked child could deadlock (and Python 3.12+ warns).
    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class Run:
    activity: str
    key: str = ""
    folder: str = ""
    heartbeat_timeout: float | None = None
    maximum_attempts: int = 1
    initial_interval: float = 0.05


@activity.defn
def plain_step(key: str) -> str:
    SEEN.setdefault(key, []).append(threading.current_thread().name)
    activity.logger.info("plain step for %s", key)
    return threading.current_thread().name


@activity.defn
def cancellable_in_a_thread(key: str) -> str:
    SEEN.setdefault(key, []).append("started")
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            activity.heartbeat("working")
            time.sleep(0.02)
    except CancelledError:
        SEEN[key].append(f"heartbeat raised; is_cancelled={activity.is_cancelled()}")
        raise
    return "never cancelled"


@activity.defn
async def flaky(key: str) -> str:
    attempts = SEEN.setdefault(key, [])
    attempts.append(activity.info().started_time.timestamp())  # on the server's clock
    if len(attempts) == 1:
        raise ApplicationError("not yet", type="NotReady", next_retry_delay=timedelta(hours=1))
    if len(attempts) == 2:
        raise ApplicationError("still polling", type="StillPolling", category=ApplicationErrorCategory.BENIGN)
    if len(attempts) == 3:
        raise ApplicationError("a real problem", type="Broken")
    return f"attempt {len(attempts)}"


@workflow.defn
async def runs_one(ctx: workflow.Context, run: Run) -> Any:
    options: dict[str, Any] = {
        "start_to_close_timeout": timedelta(seconds=60),
        "heartbeat_timeout": timedelta(seconds=run.heartbeat_timeout) if run.heartbeat_timeout else None,
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=run.initial_interval), maximum_attempts=run.maximum_attempts
        ),
    }
    try:
        if run.activity == "plain_step":
            return await ctx.execute_activity(plain_step, run.key, **options)
        if run.activity == "beating_in_a_child":
            return await ctx.execute_activity(beating_in_a_child, Job(run.folder), **options)
        if run.activity == "cancellable_in_a_child":
            return await ctx.execute_activity(cancellable_in_a_child, Job(run.folder), **options)
        if run.activity == "cancellable_in_a_thread":
            return await ctx.execute_activity(cancellable_in_a_thread, run.key, **options)
        if run.activity == "flaky":
            return await ctx.execute_activity(flaky, run.key, **options)
    except ActivityError as e:
        cause = e.cause
        assert isinstance(cause, ApplicationError)
        delay = cause.next_retry_delay
        return {
            "error": cause.type,
            "category": cause.category.value,
            "next_retry_delay": delay.total_seconds() if delay is not None else None,
        }
    except asyncio.CancelledError:
        return "workflow cancelled"
    raise ValueError(run.activity)


def _id() -> str:
    return uuid.uuid4().hex[:10]


async def test_a_process_pool_activity_heartbeats_to_the_server(
    client: Client, task_queue: str, tmp_path: Path, processes: ProcessPoolExecutor
) -> None:
    wid = f"p-{_id()}"
    async with running_worker(
        client, task_queue, workflows=[runs_one], activities=[beating_in_a_child], activity_executor=processes
    ):
        handle = await client.start_workflow(
            runs_one,
            Run("beating_in_a_child", folder=str(tmp_path), heartbeat_timeout=2.0),
            id=wid,
            task_queue=task_queue,
        )

        async def last_beat() -> dict[str, Any] | None:
            desc = await handle.describe()
            details = desc.pending_activities[0].get("heartbeat_details") if desc.pending_activities else None
            return details if isinstance(details, dict) and details.get("step") == 3 else None

        # The child's heartbeats reach the server: what describe shows came from the other process.
        details = await eventually(last_beat, timeout=60, what="the child's last heartbeat in describe")
        assert details["pid"] != os.getpid()
        (tmp_path / "go").write_text("")
        result = await handle.result(timeout=60)
    assert result == {"pid": details["pid"], "attempt": 1}


async def test_a_shared_state_manager_of_ones_own_carries_the_heartbeats(
    client: Client, task_queue: str, tmp_path: Path, processes: ProcessPoolExecutor
) -> None:
    # Temporal's hello_activity_multiprocess passes a manager of its own; the worker uses it and leaves it running.
    manager = multiprocessing.get_context("spawn").Manager()
    try:
        shared = SharedStateManager.create_from_multiprocessing(manager)
        async with running_worker(
            client,
            task_queue,
            workflows=[runs_one],
            activities=[beating_in_a_child],
            activity_executor=processes,
            shared_state_manager=shared,
        ):
            handle = await client.start_workflow(
                runs_one,
                Run("beating_in_a_child", folder=str(tmp_path), heartbeat_timeout=2.0),
                id=f"p-{_id()}",
                task_queue=task_queue,
            )

            async def stepped() -> bool:
                desc = await handle.describe()
                details = desc.pending_activities[0].get("heartbeat_details") if desc.pending_activities else None
                return isinstance(details, dict) and details.get("step") == 3

            await eventually(stepped, timeout=60, what="the child's heartbeats in describe")
            (tmp_path / "go").write_text("")
            assert (await handle.result(timeout=60))["attempt"] == 1
        manager.Event()  # still serving: the worker did not stop what it was given
    finally:
        manager.shutdown()


async def test_a_cancelled_process_pool_activity_gets_cancelled_error_from_heartbeat(
    client: Client, task_queue: str, tmp_path: Path, processes: ProcessPoolExecutor
) -> None:
    async with running_worker(
        client, task_queue, workflows=[runs_one], activities=[cancellable_in_a_child], activity_executor=processes
    ):
        handle = await client.start_workflow(
            runs_one, Run("cancellable_in_a_child", folder=str(tmp_path)), id=f"pc-{_id()}", task_queue=task_queue
        )
        await eventually(_exists(tmp_path / "started"), timeout=60, what="the child activity to start")
        await handle.cancel()
        assert await handle.result(timeout=60) == "workflow cancelled"
        await eventually(_exists(tmp_path / "cancelled"), timeout=30, what="the child to see the cancellation")
    assert (tmp_path / "cancelled").read_text() == "is_cancelled=True"


def _exists(path: Path) -> Any:
    async def probe() -> bool:
        return path.exists()

    return probe


async def test_a_cancelled_thread_activity_gets_cancelled_error_from_heartbeat(client: Client, task_queue: str) -> None:
    key = _id()
    async with running_worker(client, task_queue, workflows=[runs_one], activities=[cancellable_in_a_thread]):
        handle = await client.start_workflow(
            runs_one, Run("cancellable_in_a_thread", key=key), id=f"tc-{key}", task_queue=task_queue
        )

        async def started() -> bool:
            return bool(SEEN.get(key))

        await eventually(started, timeout=30, what="the activity to start")
        await handle.cancel()
        assert await handle.result(timeout=30) == "workflow cancelled"

        async def saw_it() -> bool:
            return len(SEEN[key]) == 2

        await eventually(saw_it, timeout=30, what="the activity to see the cancellation")
    assert SEEN[key] == ["started", "heartbeat raised; is_cancelled=True"]


async def test_a_thread_pool_of_ones_own_and_the_activity_logger(
    client: Client, task_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = _id()
    caplog.set_level(logging.INFO, logger="mainspring.activity")
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="my-pool") as pool:
        async with running_worker(
            client, task_queue, workflows=[runs_one], activities=[plain_step], activity_executor=pool
        ):
            wid = f"tp-{key}"
            result = await client.execute_workflow(runs_one, Run("plain_step", key=key), id=wid, task_queue=task_queue)
    assert result.startswith("my-pool")
    [record] = [r for r in caplog.records if r.name == "mainspring.activity"]
    # Which attempt of which activity of which workflow, in the message and as structured fields.
    assert f"plain_step 1 attempt 1 of runs_one {wid}] plain step for {key}" in record.getMessage()
    fields = record.__dict__["mainspring_activity"]
    assert (
        fields["workflow_id"] == wid and fields["activity_type"] == "plain_step" and fields["task_queue"] == task_queue
    )


async def test_next_retry_delay_and_benign_failures(
    mainspring_client: Client, task_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = mainspring_client
    key = _id()
    caplog.set_level(logging.DEBUG, logger="mainspring.worker")
    async with running_worker(client, task_queue, workflows=[runs_one], activities=[flaky]):
        result = await client.execute_workflow(
            runs_one, Run("flaky", key=key, maximum_attempts=4), id=f"f-{key}", task_queue=task_queue
        )
    assert result == "attempt 4"
    first, second, _, _ = SEEN[key]
    # The policy's backoff is 50 ms; the error asked for an hour, and the server waited that (the skipped clock
    # jumps to the end of the wait: not much more).
    assert 3600 <= second - first < 3600 + 30
    failures = [r for r in caplog.records if r.name == "mainspring.worker" and "failed:" in r.getMessage()]
    levels = {r.getMessage().split("failed: ", 1)[1].split(":")[0]: r.levelno for r in failures}
    assert levels == {"NotReady": logging.WARNING, "StillPolling": logging.DEBUG, "Broken": logging.WARNING}


async def test_the_failure_keeps_its_category_and_retry_delay(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = _id()
    SEEN[key] = [0.0]  # start at the second attempt's behaviour: BENIGN, and no retries left
    async with running_worker(client, task_queue, workflows=[runs_one], activities=[flaky]):
        result = await client.execute_workflow(
            runs_one, Run("flaky", key=key, maximum_attempts=1), id=f"c-{key}", task_queue=task_queue
        )
    assert result == {"error": "StillPolling", "category": "BENIGN", "next_retry_delay": None}
    key = _id()
    async with running_worker(client, task_queue, workflows=[runs_one], activities=[flaky]):
        result = await client.execute_workflow(
            runs_one, Run("flaky", key=key, maximum_attempts=1), id=f"d-{key}", task_queue=task_queue
        )
    assert result == {"error": "NotReady", "category": "UNSPECIFIED", "next_retry_delay": 3600.0}
