"""``mainspring.testing.WorkflowEnvironment.start_local()``: a real server in the test's own process, with a
temporary or a kept SQLite file, used as a Temporal user uses theirs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

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
