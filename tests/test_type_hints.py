"""A start of a workflow type no worker on its queue runs (a typo) is warned about, and ``describe`` says
why its workflow task waits: against a real server, with a worker in the test's event loop and the CLI
as a subprocess.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from inprocess import running_worker
from mainspring import Client, workflow
from support import ServerProcess, run_cli


@workflow.defn(name="greet_someone")
async def greet(ctx: workflow.Context, name: str) -> str:
    return f"hello {name}"


@workflow.defn(name="order_pizza")
async def order(ctx: workflow.Context, name: str) -> str:
    return f"pizza for {name}"


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


async def test_sdk_start_of_an_unknown_type_warns_with_the_closest_match(
    client: Client, task_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_worker(client, task_queue, workflows=[greet, order]):
        with caplog.at_level(logging.WARNING, logger="mainspring.client.start"):
            handle = await client.start_workflow("greet_somone", "ann", id=new_id(), task_queue=task_queue)
        warning = handle.start_warning
        assert warning is not None
        assert f"no worker polling task queue {task_queue!r} runs workflow type 'greet_somone'" in warning
        assert "they run 'greet_someone', 'order_pizza'" in warning
        assert "Did you mean 'greet_someone'?" in warning
        assert [r.levelno for r in caplog.records] == [logging.WARNING]
        assert "greet_someone" in caplog.records[0].getMessage()
        # A type a worker runs: no warning.
        caplog.clear()
        ok = await client.start_workflow(greet, "bob", id=new_id(), task_queue=task_queue)
        assert ok.start_warning is None and await ok.result(timeout=30) == "hello bob"
        assert not caplog.records
        # The typo's run waits, and describe says why beside its workflow task.
        d = await handle.describe()
        assert d.pending_workflow_task is not None
        assert d.pending_workflow_task["hint"] == (
            "no worker here runs this type (the workers polling this task queue run 'greet_someone', 'order_pizza')"
        )


async def test_no_warning_before_any_worker_announced_its_types(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow("greet_someone", "ann", id=new_id(), task_queue=task_queue)
    assert handle.start_warning is None  # a worker may come later: nothing to warn about yet
    d = await handle.describe()
    assert d.pending_workflow_task is not None
    assert d.pending_workflow_task["hint"] == "no worker polling this task queue"
    async with running_worker(client, task_queue, workflows=[greet]):
        assert await handle.result(timeout=30) == "hello ann"


async def test_cli_start_prints_the_warning_once_on_stderr_and_exits_0(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[greet]):
        args = ["workflow", "start", "--task-queue", task_queue, "--type", "greet_somone", "--workflow-id", wid]
        r = await asyncio.to_thread(run_cli, *args, "--input", '"ann"', address=server.address, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stderr.count("no worker polling task queue") == 1, r.stderr
        assert "Warning: " in r.stderr and "Did you mean 'greet_someone'?" in r.stderr
        assert "Warning" not in r.stdout
        described = await asyncio.to_thread(
            run_cli, "workflow", "describe", "--workflow-id", wid, address=server.address, timeout=60
        )
        assert described.returncode == 0, described.stderr
        assert "Pending workflow task: " in described.stdout
        assert "(no worker here runs this type (the workers polling this task queue run 'greet_someone'))" in (
            described.stdout
        )
