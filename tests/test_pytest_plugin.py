"""The pytest plugin's fixtures (entry point ``pytest11``): ``mainspring_env`` (time-skipping) and
``mainspring_client``, as a project that installs Mainspring gets them without configuring anything."""

from __future__ import annotations

from datetime import timedelta

from mainspring import Client, Worker, workflow
from mainspring.testing import WorkflowEnvironment


@workflow.defn
async def sleeps_a_year(ctx: workflow.Context) -> float:
    start = ctx.now()
    await ctx.sleep(timedelta(days=365))
    return (ctx.now() - start).total_seconds()


async def test_the_fixtures_give_a_time_skipping_environment_and_its_client(
    mainspring_env: WorkflowEnvironment, mainspring_client: Client
) -> None:
    assert mainspring_env.supports_time_skipping and mainspring_client is mainspring_env.client
    async with Worker(mainspring_client, task_queue="plugin", workflows=[sleeps_a_year]):
        slept = await mainspring_client.execute_workflow(sleeps_a_year, id="year", task_queue="plugin")
    assert slept >= 365 * 86400
