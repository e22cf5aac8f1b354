"""``mainspring.testing.WorkflowEnvironment.start_local()``: a real server in the test's own process, with a
temporary or a kept SQLite file, used as a Temporal user uses theirs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from mainspring import Worker, activity, workflow
from mainspring.testing import WorkflowEnvironment


@activity.defn
async def shout(text: str) -> str:
    return text.upper() + "!"


@workflow.defn
async def shouting(ctx: workflow.Context, text: str) -> str:
    await ctx.sleep(timedelta(milliseconds=10))
    return await ctx.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=10))


async def test_a_local_environment_runs_workflows_and_cleans_up() -> None:
    async with WorkflowEnvironment.start_local() as env:
        db = Path(env._server.config.db)
        assert db.exists()
        async with Worker(env.client, task_queue="env-tq", workflows=[shouting], activities=[shout]):
            assert await env.client.execute_workflow(shouting, "hi", id="env-1", task_queue="env-tq") == "HI!"
        before = env.now()
        await env.sleep(timedelta(milliseconds=20))
        assert env.now() > before
    assert not db.exists()  # its temporary database went with it


async def test_a_kept_database_outlives_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    wid = f"kept-{uuid.uuid4().hex[:8]}"
    env = await WorkflowEnvironment.start_local(db_filename=db, namespace="tests")
    try:
        async with Worker(env.client, task_queue="env-tq", workflows=[shouting], activities=[shout]):
            assert await env.client.execute_workflow(shouting, "a", id=wid, task_queue="env-tq") == "A!"
    finally:
        await env.shutdown()
    async with WorkflowEnvironment.start_local(db_filename=db, namespace="tests") as again:
        assert await again.client.get_workflow_handle(wid, result_type=str).result(timeout=10) == "A!"


async def test_channels_reach_the_server_in_process_with_its_checks() -> None:
    """The environment's client and workers open their channels without a socket (client._loopback), through
    the server's own application: its routing refuses what it would refuse over TCP."""
    from mainspring.client._channel import Channel
    from mainspring.errors import PermissionDeniedError

    async with await WorkflowEnvironment.start_time_skipping() as env:
        assert env.client.transport.loopback is not None
        async with Worker(env.client, task_queue="loop", workflows=[shouting], activities=[shout]):
            result = await env.client.execute_workflow(shouting, "loop", id=f"loop-{uuid.uuid4()}", task_queue="loop")
        assert result == "LOOP!"
        channel = Channel(env.client.transport, "/api/v1/no/such/channel")
        with pytest.raises(PermissionDeniedError, match="refused the channel"):
            await channel.open()


async def test_the_collector_thresholds_are_raised_while_an_environment_runs_and_put_back_after() -> None:
    import gc

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # CPython's defaults
        async with await WorkflowEnvironment.start_time_skipping():
            assert gc.get_threshold() == (50_000, 5, 2)
        assert gc.get_threshold() == (700, 10, 10)
        # Changed by the test meanwhile: left as the test set it.
        async with await WorkflowEnvironment.start_local():
            gc.set_threshold(1000, 10, 10)
        assert gc.get_threshold() == (1000, 10, 10)
    finally:
        gc.set_threshold(*before)
