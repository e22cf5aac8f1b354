"""When a child's start wakes its parent, and when the start is recorded with the child's outcome.

A parent whose code waits for the start (``start_child_workflow``: the command's ``started_awaited``) is
woken by ChildWorkflowExecutionStarted. One that only awaits the result (``execute_child_workflow``) is not,
unless it did something after the command (a task that ran meanwhile may have asked to cancel the child
once it starts): the start is then seen with the outcome, in the task the outcome wakes. A child whose close
is being written when its start becomes durable has both recorded in the parent in one write.

The engine's rules are driven by hand on a real engine and SQLite file (the harness of ``test_child_recovery``),
holding a step back where the order of two steps is what a test is about; the first test runs a real worker.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from inprocess import running_worker
from mainspring import Client, workflow
from mainspring.api import messages as msg
from mainspring.api import models as m
from mainspring.server import Engine
from test_child_recovery import (
    NS,
    START_CHILD,
    _events,
    _has,
    complete,
    engine_on,
    never,
    sessions,
    start,
    types_of,
    until,
)

#: What ``execute_child_workflow`` sends: its code only awaits the child's result.
RESULT_ONLY = START_CHILD.model_copy(update={"started_awaited": False})


@workflow.defn
async def one(ctx: workflow.Context, i: int) -> int:
    return i + 1


@workflow.defn
async def in_a_row(ctx: workflow.Context, n: int) -> int:
    total = 0
    for i in range(n):
        total += await ctx.execute_child_workflow(one, i)
    return total


async def test_execute_child_workflow_runs_no_parent_task_between_a_child_s_start_and_its_outcome(
    client: Client,
) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[one, in_a_row]):
        handle = await client.start_workflow(in_a_row, 3, id=f"wf-{uuid.uuid4().hex[:10]}", task_queue=tq)
        assert await handle.result() == 6
    types = [e["event_type"] for e in await handle.fetch_history()]
    # Each child: its start and its outcome, then the one task that sees both.
    child = ["StartChildWorkflowExecutionInitiated", "ChildWorkflowExecutionStarted", "ChildWorkflowExecutionCompleted"]
    task = ["WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"]
    assert types == ["WorkflowExecutionStarted", *task, *(child + task) * 3, "WorkflowExecutionCompleted"]


async def _wt_pending(engine: Engine, workflow_id: str) -> bool:
    return (await engine.describe(NS, workflow_id, None))["pending_workflow_task"] is not None


def _hold_start(engine: Engine) -> asyncio.Event:
    """Runs are made only once the event is set (as if the engine were slow to get to the child's)."""
    gate = asyncio.Event()
    make = engine._start

    async def held(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await make(*args, **kwargs)

    engine._start = held  # type: ignore[method-assign]
    return gate


async def test_a_parent_that_only_awaits_the_result_sees_the_start_with_the_outcome(tmp_path: Path) -> None:
    async with engine_on(tmp_path / "s.db") as engine:
        sp, sc = await sessions(engine)
        parent = await start(engine, "p")
        await complete(engine, sp, RESULT_ONLY)
        await until(lambda: _has(engine.store, parent, "ChildWorkflowExecutionStarted"), "the child's start")
        assert not await _wt_pending(engine, "p")
        assert await complete(engine, sc, m.CompleteWorkflowCommand(result=1)) == "c"
        await until(lambda: _has(engine.store, parent, "ChildWorkflowExecutionCompleted"), "the outcome")
        types = await types_of(engine.store, parent)
        assert types[types.index("StartChildWorkflowExecutionInitiated") :] == [
            "StartChildWorkflowExecutionInitiated",
            "ChildWorkflowExecutionStarted",
            "ChildWorkflowExecutionCompleted",
            "WorkflowTaskScheduled",
        ]
        assert await complete(engine, sp, m.CompleteWorkflowCommand(result=2)) == "p"


async def test_a_parent_that_waits_for_the_start_is_woken_by_it(tmp_path: Path) -> None:
    async with engine_on(tmp_path / "s.db") as engine:
        sp, _ = await sessions(engine)
        parent = await start(engine, "p")
        await complete(engine, sp, START_CHILD)
        await until(lambda: _has(engine.store, parent, "ChildWorkflowExecutionStarted"), "the child's start")
        assert await _wt_pending(engine, "p")
        assert (await types_of(engine.store, parent))[-2:] == ["ChildWorkflowExecutionStarted", "WorkflowTaskScheduled"]


async def test_a_parent_that_ran_a_task_since_the_command_is_woken_by_the_start(tmp_path: Path) -> None:
    async with engine_on(tmp_path / "s.db") as engine:
        sp, _ = await sessions(engine)
        parent = await start(engine, "p")
        gate = _hold_start(engine)
        await complete(engine, sp, RESULT_ONLY)
        # A signal runs the parent's code again before the child starts (it could cancel the wait, and with it
        # the child once it starts: that takes a task that sees the start).
        await engine.signals.signal(NS, msg.SignalWorkflowRequest(workflow_id="p", signal_name="poke"), "test")
        assert await complete(engine, sp) == "p"
        gate.set()
        await until(lambda: _has(engine.store, parent, "ChildWorkflowExecutionStarted"), "the child's start")
        assert await _wt_pending(engine, "p")


async def _close_during_its_start(engine: Engine) -> str:
    """Start the child with its create held in the store; its first task (handed out meanwhile) closes it, and
    that close waits for the create; then let the create go. The parent's run id."""
    sp, sc = await sessions(engine)
    parent = await start(engine, "p")
    gate = asyncio.Event()
    write = engine.store.write

    async def held_write(op: Any, **kwargs: Any) -> None:
        if op.expected_version is None and op.record.workflow_id == "c":
            await gate.wait()
        await write(op, **kwargs)

    engine.store.write = held_write  # type: ignore[method-assign]
    await complete(engine, sp, RESULT_ONLY)
    closing = asyncio.create_task(complete(engine, sc, m.CompleteWorkflowCommand(result=41)))

    async def child_closed_in_memory() -> bool:
        return any(ex.record.workflow_id == "c" and not ex.running for ex in engine._cache.values())

    await until(child_closed_in_memory, "the child's close, in memory")
    gate.set()
    assert await closing == "c"
    return parent


async def test_a_child_closing_as_its_start_is_written_is_reported_with_it_in_one_write(tmp_path: Path) -> None:
    async with engine_on(tmp_path / "s.db") as engine:
        parent = await _close_during_its_start(engine)
        await until(lambda: _has(engine.store, parent, "ChildWorkflowExecutionCompleted"), "the outcome")
        events = [e for e in await engine.store.read_history(parent) if e.event_type.value.startswith("Child")]
        assert [e.event_type.value for e in events] == [
            "ChildWorkflowExecutionStarted",
            "ChildWorkflowExecutionCompleted",
        ]
        started, completed = events
        assert (started.event_id + 1, started.event_time) == (completed.event_id, completed.event_time)
        assert completed.attributes["result"] == 41 and started.attributes["run_id"] == completed.attributes["run_id"]
        assert not engine.child_workflows._closing_runs


async def test_a_crash_before_the_parent_heard_of_such_a_child_reports_it_once(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with engine_on(db) as engine:
        never(engine, "child_closed")  # the server dies once the child's close is durable
        parent = await _close_during_its_start(engine)
        assert not await _has(engine.store, parent, "ChildWorkflowExecutionStarted")  # it waited for the outcome
    for _ in range(2):
        async with engine_on(db) as engine:
            await until(lambda: _events(engine.store, parent, "ChildWorkflowExecutionCompleted"), "delivery")
            await asyncio.sleep(0.2)  # a second delivery, if any, would be written by now
            types = await types_of(engine.store, parent)
            assert types.count("ChildWorkflowExecutionStarted") == types.count("ChildWorkflowExecutionCompleted") == 1
