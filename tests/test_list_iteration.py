"""``client.list_workflows(...)``: awaited, one page; iterated, every run across pages up to ``limit``;
``.map_histories()`` feeding ``Replayer.replay_workflows``, as Temporal's samples do."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from inprocess import running_worker
from mainspring import Client, WorkflowStatus, activity, workflow
from mainspring.client import WorkflowExecution, WorkflowPage
from mainspring.errors import NondeterminismError
from mainspring.worker import Replayer

NAME = "ListedGreeting"


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}"


@workflow.defn(name=NAME)
async def greeting(ctx: workflow.Context, name: str) -> str:
    return await ctx.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))


@workflow.defn(name=NAME)
async def changed(ctx: workflow.Context, name: str) -> str:
    await ctx.sleep(timedelta(seconds=1))  # a timer where the history has the activity
    return await ctx.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))


async def test_iterating_pages_through_every_run_up_to_limit(client: Client) -> None:
    prefix = f"listed-{uuid.uuid4().hex[:8]}-"
    for i in range(7):  # no worker: they stay RUNNING
        await client.start_workflow("NobodyRunsThis", None, id=f"{prefix}{i}", task_queue=f"q-{prefix}")
    page = await client.list_workflows(workflow_id_prefix=prefix, limit=5)
    assert isinstance(page, WorkflowPage) and len(page.executions) == 5 and page.next_page_token

    runs = [wf async for wf in client.list_workflows(workflow_id_prefix=prefix, page_size=2, limit=100)]
    assert [wf.id for wf in runs] == [f"{prefix}{i}" for i in reversed(range(7))]  # newest first, 4 pages
    assert all(isinstance(wf, WorkflowExecution) and wf.status is WorkflowStatus.RUNNING for wf in runs)
    assert runs[0].workflow_type == "NobodyRunsThis" and runs[0].run_id and runs[0].close_time is None

    capped = [wf.id async for wf in client.list_workflows(workflow_id_prefix=prefix, page_size=2, limit=3)]
    assert capped == [f"{prefix}{i}" for i in (6, 5, 4)]
    with pytest.raises(ValueError, match="page_size"):
        client.list_workflows(page_size=0)


async def test_replay_the_listed_runs_histories(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[greeting], activities=[greet]):
        for i in range(3):
            await client.execute_workflow(NAME, f"n{i}", id=f"rl-{uuid.uuid4().hex[:8]}", task_queue=task_queue)
    ok = await Replayer(workflows=[greeting]).replay_workflows(
        client.list_workflows(workflow_type=NAME, limit=3).map_histories()
    )
    assert ok.replay_failures == {}
    broken = await Replayer(workflows=[changed]).replay_workflows(
        client.list_workflows(workflow_type=NAME, limit=3).map_histories()
    )
    assert len(broken.replay_failures) == 3
    assert all(isinstance(e, NondeterminismError) for e in broken.replay_failures.values())
