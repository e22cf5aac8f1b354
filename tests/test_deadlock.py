"""The deadlock detector: workflow code that does not yield is interrupted, its workflow task fails with a
message that says where it was stuck, and the time-skipping environment ends such a run instead of hanging."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from mainspring import Client, Worker, WorkflowFailureError, workflow
from mainspring.testing import WorkflowEnvironment
from support import WORKERS, ServerProcess, WorkerProcess, wait_until


@workflow.defn
async def spins(ctx: workflow.Context) -> int:
    n = 0
    while True:  # SPIN-LINE: never awaits
        n += 1  # SPIN-LINE


@workflow.defn
async def naps(ctx: workflow.Context) -> str:
    await ctx.sleep(timedelta(days=1))
    return "rested"


@workflow.defn
async def computes(ctx: workflow.Context, seconds: float) -> str:
    # A long activation that does end (run with the determinism guard off, which forbids the clock).
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass
    await ctx.sleep(timedelta(hours=1))
    return "computed"


def _spin_lines() -> list[str]:
    """Where the busy loop of ``spins`` is (the interrupt comes at its ``while`` or at its body)."""
    lines = Path(__file__).read_text().splitlines()
    return [f"test_deadlock.py:{i}" for i, line in enumerate(lines, 1) if "# SPIN-LINE" in line]


async def test_a_busy_loop_ends_the_run_with_where_it_was_stuck_and_other_workflows_go_on() -> None:
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="dl", workflows=[spins, naps]),
    ):
        napping = await env.client.start_workflow(naps, id="naps", task_queue="dl")
        stuck = await env.client.start_workflow(spins, id="spins", task_queue="dl")
        began = time.monotonic()
        with pytest.raises(WorkflowFailureError) as caught:
            await stuck.result(timeout=30)
        assert time.monotonic() - began < 15  # the 2 s detector, not the 30 s timeout
        text = f"{caught.value} {caught.value.cause}"
        assert "did not yield within 2 s" in text
        assert "'spins'" in text and stuck.run_id is not None and stuck.run_id in text
        assert any(place in text for place in _spin_lines()), text
        assert "must await" in text
        assert await napping.result(timeout=30) == "rested"


async def test_a_long_activation_under_the_timeout_is_left_alone() -> None:
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="dl", workflows=[computes], deterministic_guard=False),
    ):
        result = await env.client.execute_workflow(computes, 0.5, id="half-second", task_queue="dl")
    assert result == "computed"


async def test_no_timeout_turns_the_detector_off() -> None:
    async with WorkflowEnvironment.start_time_skipping() as env:
        async with Worker(
            env.client,
            task_queue="on",
            workflows=[computes],
            deterministic_guard=False,
            deadlock_detection_timeout=timedelta(seconds=0.2),
        ):
            caught = await env.client.start_workflow(computes, 0.6, id="caught", task_queue="on")
            with pytest.raises(WorkflowFailureError, match=r"did not yield within 0\.2 s"):
                await caught.result(timeout=30)
        async with Worker(
            env.client,
            task_queue="off",
            workflows=[computes],
            deterministic_guard=False,
            deadlock_detection_timeout=None,
        ):
            result = await env.client.execute_workflow(computes, 0.6, id="allowed", task_queue="off")
        assert result == "computed"


def test_a_worker_process_fails_the_task_of_a_busy_loop(tmp_path: Path) -> None:
    # A real server process and a real worker process: the task fails (and is retried) with the message.
    server = ServerProcess(tmp_path / "mainspring.db").start()
    task_queue = f"dl-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(
        WORKERS / "busy_worker.py", server.address, args=["--task-queue", task_queue], log_path=tmp_path / "w.log"
    )
    try:
        worker.start()

        async def go() -> str:
            client = await Client.connect(server.address)
            try:
                handle = await client.start_workflow("busy_loop", id="busy", task_queue=task_queue)

                async def failed_task() -> str | None:
                    for e in await handle.fetch_history():
                        if e["event_type"] == "WorkflowTaskFailed":
                            return str(e["attributes"]["failure"]["message"])
                    return None

                deadline = time.monotonic() + 20
                while (message := await failed_task()) is None:
                    assert time.monotonic() < deadline, worker.log()
                    await asyncio.sleep(0.2)
                await handle.terminate(reason="done")
                return message
            finally:
                await client.close()

        message = asyncio.run(go())
        assert "did not yield within 2 s" in message
        assert "busy_worker.py:" in message and "'busy_loop'" in message
        wait_until(lambda: "did not yield" in worker.log(), what="the worker to log the deadlock")
    finally:
        worker.stop()
        server.stop()
