"""Habits of Temporal's own samples (samples-python/hello), ported to Mainspring: ``async with Worker(...)``
around the code that uses it, a child handle cancelled with a plain ``child_handle.cancel()``, and a program
that never closes its client (Temporal's clients have no ``close``) exiting without aiohttp's warnings.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from conftest import ServerProcess
from mainspring import (
    CancelledError,
    ChildWorkflowError,
    Client,
    InvalidArgumentError,
    Worker,
    WorkflowFailureError,
    workflow,
)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@workflow.defn
class ForeverChild:
    @workflow.run
    async def run(self, ctx: workflow.Context) -> None:
        await asyncio.Future()


@workflow.defn
class CancelsItsChild:
    @workflow.run
    async def run(self, ctx: workflow.Context, child_id: str) -> None:
        child_handle = await ctx.start_child_workflow(ForeverChild.run, id=child_id)
        child_handle.cancel()  # not awaited: the request goes out all the same
        await child_handle


async def test_async_with_worker_runs_it_for_the_block_and_a_plain_child_cancel_is_sent(
    client: Client, task_queue: str
) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[CancelsItsChild, ForeverChild]) as worker:
        assert worker.ready.is_set()
        handle = await client.start_workflow(
            CancelsItsChild.run, new_id("child"), id=new_id("parent"), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=30)
    # Parent gets ChildWorkflowError -> CancelledError; the client one more level up, as in Temporal.
    assert isinstance(info.value.cause, ChildWorkflowError)
    assert isinstance(info.value.cause.cause, CancelledError)  # mainspring's, as Temporal's is its own


async def test_a_worker_entered_twice_is_refused(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "m.db").start()
    try:
        client = await Client.connect(srv.address)
        worker = Worker(client, task_queue="tq", workflows=[ForeverChild])
        async with worker:
            with pytest.raises(RuntimeError, match="running already"):
                await worker.__aenter__()
        await client.close()
    finally:
        srv.stop()


def test_a_program_that_never_closes_its_client_exits_quietly(server: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / "sample.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio
            from mainspring import Client, Worker, workflow

            @workflow.defn
            async def hello(ctx: workflow.Context, name: str) -> str:
                return f"Hello, {{name}}!"

            async def main():
                client = await Client.connect({server.address!r})
                async with Worker(client, task_queue="hello-tq", workflows=[hello]):
                    print(await client.execute_workflow(hello, "World", id="hello-wf", task_queue="hello-tq"))

            asyncio.run(main())
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello, World!"
    assert "Unclosed" not in done.stderr and "Event loop is closed" not in done.stderr, done.stderr


@workflow.defn
class Entity:
    """An entity workflow that continues as new every ``every`` updates, keeping its count (Temporal's
    safe_message_handlers sample, in small)."""

    def __init__(self) -> None:
        self.count = 0
        self.stopped = False

    @workflow.run
    async def run(self, ctx: workflow.Context, start: int) -> int:
        self.count = start
        await ctx.wait_condition(lambda: self.stopped or self.count >= start + 2)
        await ctx.wait_condition(ctx.all_handlers_finished)
        if self.stopped:
            return self.count
        ctx.continue_as_new(self.count)

    @workflow.update
    def bump(self) -> int:
        self.count += 1
        return self.count

    @workflow.query
    def value(self) -> int:
        return self.count

    @workflow.signal
    def stop(self) -> None:
        self.stopped = True


async def test_a_start_handle_follows_its_workflow_through_continue_as_new(client: Client, task_queue: str) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[Entity]):
        handle = await client.start_workflow(Entity.run, 0, id=new_id("entity"), task_queue=task_queue)
        assert handle.id == handle.workflow_id and handle.first_execution_run_id == handle.run_id
        # Each second update makes the run continue as new: the next ones reach the run it continued as.
        assert [await handle.execute_update(Entity.bump) for _ in range(5)] == [1, 2, 3, 4, 5]
        assert await handle.query(Entity.value) == 5
        await handle.signal(Entity.stop)
        assert await handle.result(timeout=30) == 5
        assert handle.result_run_id != handle.run_id
        first = await client.get_workflow_handle(handle.id, run_id=handle.run_id).describe()
        assert first.status.value == "CONTINUED_AS_NEW"
        # A handle pinned to a run does not follow: the first run is closed.
        pinned = client.get_workflow_handle(handle.id, run_id=handle.run_id)
        with pytest.raises(InvalidArgumentError):
            await pinned.signal(Entity.stop)


async def test_cancel_from_a_start_handle_reaches_the_chain_s_current_run(client: Client, task_queue: str) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[Entity]):
        handle = await client.start_workflow(Entity.run, 0, id=new_id("entity"), task_queue=task_queue)
        for _ in range(2):
            await handle.execute_update(Entity.bump)  # continued as new
        assert await handle.cancel()
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=30)
        assert isinstance(info.value.cause, CancelledError)
