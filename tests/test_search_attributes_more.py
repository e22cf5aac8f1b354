"""Search attributes and memo where runs are made by the server rather than a client's start, against real
server processes and workers: every run a schedule starts (on time, triggered, backfilled; client and CLI)
carries the action's attributes and memo and Temporal's ``TemporalScheduledById`` /
``TemporalScheduledStartTime``; a child started with ``search_attributes=`` and ``memo=`` has them (describe,
filters); ``BuildId`` / ``BuildIds`` filter by the builds that ran a run's workflow tasks; a reset's new run
keeps what was in effect at the reset point (upserts before it, not after). The refusals name the attribute.
Runs on PostgreSQL too (scripts/test.sh's PG_E2E)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inprocess import running_worker
from mainspring import Client, InvalidArgumentError, workflow
from mainspring.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from mainspring.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from support import ServerProcess, run_cli

STAGE = SearchAttributeKey.for_keyword("CustomKeywordField")
ITEMS = SearchAttributeKey.for_int("CustomIntField")
SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")
SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def _new_id(prefix: str = "sam") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _ids(client: Client, query: str) -> list[str]:
    return sorted([w.id async for w in client.list_workflows(query=query)])


async def _run_ids(client: Client, query: str) -> list[str]:
    return sorted([w.run_id async for w in client.list_workflows(query=query)])


async def _until(read: Any, expected: Any, *, timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await read()
        if got == expected:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"waited for {expected!r}, last got {got!r}")
        await asyncio.sleep(0.1)


# --- schedules ---------------------------------------------------------------------------------------------------


def _action(sid: str, **options: Any) -> ScheduleActionStartWorkflow[Any]:
    return ScheduleActionStartWorkflow("wf", None, id=sid, task_queue="nobody", **options)


async def test_every_run_a_schedule_starts_carries_its_attributes_memo_and_schedule_id(server: ServerProcess) -> None:
    async with await Client.connect(server.address) as client:
        sid = _new_id("sched")
        handle = await client.create_schedule(
            sid,
            Schedule(
                action=_action(
                    sid,
                    typed_search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(STAGE, "from-schedule"), SearchAttributePair(ITEMS, 3)]
                    ),
                    memo={"owner": "ops"},
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            ),
        )
        await handle.trigger()
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        await handle.backfill(ScheduleBackfill(start_at=hour - timedelta(hours=3), end_at=hour - timedelta(hours=2)))

        async def started() -> int:
            return len((await handle.describe()).info.recent_actions)

        while await started() < 3:  # the trigger's run, and the backfill's (two hours, both ends included)
            await asyncio.sleep(0.1)
        actions = (await handle.describe()).info.recent_actions
        runs = sorted(a.action.first_execution_run_id for a in actions)
        assert await _run_ids(client, f"TemporalScheduledById = '{sid}'") == runs
        assert (
            await _run_ids(client, f"CustomKeywordField = 'from-schedule' AND TemporalScheduledById = '{sid}'") == runs
        )
        assert await _run_ids(client, f"TemporalScheduledById = '{sid}-other'") == []
        before = (hour - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        backfilled = sorted(a.action.first_execution_run_id for a in actions if a.scheduled_at < hour)
        assert len(backfilled) >= 2
        assert await _run_ids(
            client, f"TemporalScheduledById = '{sid}' AND TemporalScheduledStartTime < '{before}'"
        ) == (backfilled)
        for a in actions:
            d = await client.get_workflow_handle(a.action.workflow_id).describe()
            assert d.memo == {"owner": "ops"}
            t = d.typed_search_attributes
            assert (t[STAGE], t[ITEMS], t[SCHEDULED_BY]) == ("from-schedule", 3, sid)
            assert t[SCHEDULED_AT] == a.scheduled_at
        # The action keeps them, as described.
        described = (await handle.describe()).schedule.action
        assert described.search_attributes == {"CustomKeywordField": "from-schedule", "CustomIntField": 3}

        # A schedule firing on its own time (every second, one action) does the same.
        sid2 = _new_id("sched")
        await client.create_schedule(
            sid2,
            Schedule(
                action=_action(sid2, search_attributes={"CustomKeywordField": "on-time"}),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
                state=ScheduleState(limited_actions=True, remaining_actions=1),
            ),
        )

        async def on_time() -> int:
            return len(await _ids(client, f"TemporalScheduledById = '{sid2}' AND CustomKeywordField = 'on-time'"))

        await _until(on_time, 1)


async def test_a_schedule_refuses_attributes_no_run_could_have_naming_them(server: ServerProcess) -> None:
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])
    async with await Client.connect(server.address) as client:
        for attrs, words in (
            ({"Nope": "x"}, "unknown search attribute 'Nope'"),
            ({"CustomIntField": "3"}, "'CustomIntField' is of type Int"),
            ({"TemporalScheduledById": "mine"}, "'TemporalScheduledById' is built in"),
        ):
            with pytest.raises(InvalidArgumentError, match=words):
                await client.create_schedule(
                    _new_id("bad"), Schedule(action=_action("bad", search_attributes=attrs), spec=spec)
                )
        with pytest.raises(TypeError, match="not both"):
            _action("x", search_attributes={"CustomIntField": 1}, typed_search_attributes=TypedSearchAttributes([]))
        assert [s async for s in client.list_schedules()] == []


def test_schedule_create_on_the_cli_takes_search_attributes(server: ServerProcess) -> None:
    sid = _new_id("cli")

    def cli(*args: str) -> Any:
        return run_cli(*args, address=server.address)

    r = cli(
        "schedule", "create", "-s", sid, "--interval", "1h", "--type", "wf", "-t", "nobody",
        "--search-attribute", 'CustomKeywordField="by-cli"', "--search-attribute", "CustomIntField=4",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = cli("schedule", "trigger", "-s", sid)
    assert r.returncode == 0, r.stderr
    for _ in range(100):
        r = cli("workflow", "list", "--query", f"TemporalScheduledById = '{sid}' AND CustomIntField = 4", "-o", "json")
        assert r.returncode == 0, r.stderr
        executions = json.loads(r.stdout)["executions"]
        if executions:
            break
    assert len(executions) == 1 and executions[0]["workflow_id"].startswith(f"{sid}-"), executions
    r = cli("workflow", "describe", "-w", executions[0]["workflow_id"])
    assert 'CustomKeywordField = "by-cli" (Keyword)' in r.stdout, r.stdout
    assert f'TemporalScheduledById = "{sid}" (Keyword)' in r.stdout, r.stdout
    r = cli("schedule", "create", "-s", _new_id("cli"), "--interval", "1h", "--type", "wf", "-t", "q",
            "--search-attribute", "Nope=1")  # fmt: skip
    assert r.returncode != 0 and "unknown search attribute 'Nope'" in r.stderr, r.stderr


# --- child workflows ---------------------------------------------------------------------------------------------


@workflow.defn
async def tagged_child(ctx: workflow.Context) -> str:
    return f"{ctx.typed_search_attributes.get(STAGE)}:{ctx.memo.get('from')}"


@workflow.defn
async def tagging_parent(ctx: workflow.Context, child_id: str) -> str:
    return await ctx.execute_child_workflow(
        tagged_child,
        id=child_id,
        search_attributes=TypedSearchAttributes([SearchAttributePair(STAGE, "child"), SearchAttributePair(ITEMS, 8)]),
        memo={"from": "parent"},
    )


@workflow.defn
async def started_child_parent(ctx: workflow.Context, child_id: str) -> str:
    child = await ctx.start_child_workflow(
        tagged_child, id=child_id, search_attributes={"CustomKeywordField": "started"}
    )
    return await child.result()


@workflow.defn
async def bad_child_parent(ctx: workflow.Context) -> None:
    await ctx.execute_child_workflow(tagged_child, search_attributes={"CustomIntField": "eight"})


async def test_a_child_has_the_attributes_and_memo_it_was_started_with(server: ServerProcess, task_queue: str) -> None:
    async with (
        await Client.connect(server.address) as client,
        running_worker(
            client, task_queue, workflows=[tagged_child, tagging_parent, started_child_parent, bad_child_parent]
        ),
    ):
        parent, child = _new_id("parent"), _new_id("child")
        assert await client.execute_workflow(tagging_parent, child, id=parent, task_queue=task_queue) == "child:parent"
        d = await client.get_workflow_handle(child).describe()
        assert d.typed_search_attributes[STAGE] == "child" and d.typed_search_attributes[ITEMS] == 8
        assert d.memo == {"from": "parent"}
        assert await _ids(client, "CustomKeywordField = 'child' AND CustomIntField = 8") == [child]
        assert (await client.get_workflow_handle(parent).describe()).search_attributes == {}
        other = _new_id("child")
        await client.execute_workflow(started_child_parent, other, id=_new_id("parent"), task_queue=task_queue)
        assert await _ids(client, "CustomKeywordField = 'started'") == [other]
        # An attribute of the wrong type fails the parent's task, naming it; no child is started.
        handle = await client.start_workflow(bad_child_parent, id=_new_id("parent"), task_queue=task_queue)

        async def failure() -> Any:
            return ((await handle.describe()).pending_workflow_task or {}).get("last_failure") is not None

        await _until(failure, True)
        said = json.dumps((await handle.describe()).pending_workflow_task)
        assert "'CustomIntField' is of type Int" in said, said
        assert await _ids(client, f"WorkflowId STARTS_WITH '{handle.id}/'") == []
        await handle.terminate()


# --- builds -------------------------------------------------------------------------------------------------------


@workflow.defn
async def waits_for_go(ctx: workflow.Context) -> str:
    got: list[None] = []
    ctx.set_signal_handler("go", lambda: got.append(None))
    await ctx.wait_condition(lambda: bool(got))
    return "done"


async def test_build_id_filters_list_the_runs_each_build_ran(server: ServerProcess, task_queue: str) -> None:
    async with await Client.connect(server.address) as client:
        moved, old, plain = _new_id("moved"), _new_id("old"), _new_id("plain")
        async with running_worker(client, task_queue, workflows=[waits_for_go], build_id="b-1"):
            for wid in (moved, old):
                await client.start_workflow(waits_for_go, id=wid, task_queue=task_queue)
            await _until(lambda: _ids(client, "BuildId = 'b-1'"), sorted([moved, old]))
            await client.get_workflow_handle(old).signal("go")
            assert await client.get_workflow_handle(old).result() == "done"
        # b-2 takes over (auto-upgrade): the run it moves to has both builds.
        async with running_worker(client, task_queue, workflows=[waits_for_go], build_id="b-2"):
            await client.get_workflow_handle(moved).signal("go")
            assert await client.get_workflow_handle(moved).result() == "done"
        async with running_worker(client, task_queue, workflows=[waits_for_go]):
            await client.execute_workflow(waits_for_go, id=plain, task_queue=task_queue, start_signal="go")
        assert await _ids(client, "BuildId = 'b-1'") == sorted([moved, old])
        assert await _ids(client, "BuildIds = 'b-2'") == [moved]
        assert await _ids(client, "BuildIds IN ('b-2', 'b-9')") == [moved]
        assert await _ids(client, "BuildIds = 'b-1' AND BuildIds = 'b-2'") == [moved]
        assert await _ids(client, "BuildId IS NULL") == [plain]
        assert await _ids(client, "BuildId != 'b-2'") == [old]
        assert (await client.count_workflows(query="BuildId = 'b-1'")).count == 2
        d = await client.get_workflow_handle(moved).describe()
        assert d.search_attributes["BuildIds"] == ["b-1", "b-2"]
        assert (d.build_id, d.current_build_id) == ("b-1", "b-2")


# --- reset --------------------------------------------------------------------------------------------------------


@workflow.defn
async def two_stages(ctx: workflow.Context) -> str:
    """Upserts "one" in its first task, "two" after the first signal, then waits for a second."""
    got: list[None] = []
    ctx.set_signal_handler("go", lambda: got.append(None))
    ctx.upsert_search_attributes([STAGE.value_set("one")])
    ctx.upsert_memo({"stage": 1})
    await ctx.wait_condition(lambda: len(got) >= 1)
    ctx.upsert_search_attributes([STAGE.value_set("two"), ITEMS.value_unset()])
    ctx.upsert_memo({"stage": 2, "kept": None})
    await ctx.wait_condition(lambda: len(got) >= 2)
    return str(ctx.typed_search_attributes.get(STAGE))


async def test_a_reset_run_keeps_what_was_in_effect_at_the_reset_point(server: ServerProcess, task_queue: str) -> None:
    async with await Client.connect(server.address) as client:
        wid = _new_id("reset")
        async with running_worker(client, task_queue, workflows=[two_stages]):
            handle = await client.start_workflow(
                two_stages,
                id=wid,
                task_queue=task_queue,
                search_attributes={"CustomIntField": 7},
                memo={"kept": "yes"},
            )
            await _until(lambda: _ids(client, "CustomKeywordField = 'one'"), [wid])
            await handle.signal("go")
            await _until(lambda: _ids(client, "CustomKeywordField = 'two'"), [wid])
            base = await handle.describe()
            assert base.search_attributes == {"CustomKeywordField": "two"} and base.memo == {"stage": 2}
        # No worker now: the new run is seen as the reset made it, before any code runs again. Its reset point
        # is the task the signal woke: the first task's upserts are before it, the second's after.
        new_run = await handle.reset(reset_type="LastWorkflowTask", reason="again")
        d = await client.get_workflow_handle(wid, run_id=new_run).describe()
        assert d.search_attributes == {"CustomIntField": 7, "CustomKeywordField": "one"}
        assert d.memo == {"kept": "yes", "stage": 1}
        assert await _run_ids(client, "CustomKeywordField = 'one'") == [new_run]
        assert await _run_ids(client, "CustomIntField = 7 AND ExecutionStatus = 'Running'") == [new_run]
        # The CLI's reset does the same, from the first task (before any upsert): only the start's remain.
        r = run_cli("workflow", "reset", "-w", wid, "--type", "FirstWorkflowTask", address=server.address)
        assert r.returncode == 0, r.stderr
        d = await client.get_workflow_handle(wid).describe()
        assert d.run_id != new_run
        assert d.search_attributes == {"CustomIntField": 7} and d.memo == {"kept": "yes"}
        # A worker runs the code again from there: the signal reapplied after the reset point takes it on to
        # its second upsert, as before.
        async with running_worker(client, task_queue, workflows=[two_stages]):
            latest = client.get_workflow_handle(wid)
            query = f"CustomKeywordField = 'two' AND CustomIntField IS NULL AND RunId = '{d.run_id}'"
            await _until(lambda: _run_ids(client, query), [d.run_id])
            await latest.signal("go")
            assert await latest.result() == "two"
