"""Child workflows across a server crash at each step: nothing is lost, nothing is done twice.

A child's life is several transitions, each made once the one before it is durable (the parent's
Initiated event, the child's run, the parent's Started event, the child's close, the parent's record of
it; a signal sent, its outcome; the parent close policy). The server can die between any two. Each test
here runs a real engine on a real SQLite file, stops one step from happening (the engine's own method for
it is replaced by one that does nothing: what the store holds is then exactly what a SIGKILL at that
moment leaves), stops the engine, and starts a new one on the same file, which must take the step up
from the store alone, once, however often it restarts. (``test_child_workflows`` kills a real server
process in the middle of a child's run.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mainspring.api import models as m
from mainspring.api.enums import EventType, WorkflowIDReusePolicy, WorkflowStatus
from mainspring.server import Engine, ServerConfig
from mainspring.server._matching import Session
from mainspring.storage import Store, store_from_url

NS = "default"


@contextlib.asynccontextmanager
async def engine_on(path: Path) -> AsyncIterator[Engine]:
    store = store_from_url(str(path))
    await store.open()
    engine = Engine(store, ServerConfig(db=str(path), ui_port=None))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
        await store.close()


async def sessions(engine: Engine) -> tuple[Session, Session]:
    """A worker session for parents (queue "q") and one for children (queue "cq")."""

    async def register(queue: str, types: list[str]) -> Session:
        return await engine.register_worker(
            NS,
            m.RegisterWorkerRequest(
                identity=f"test-{queue}",
                task_queue=queue,
                workflow_types=[m.WorkflowTypeInfo(name=t) for t in types],
            ),
        )

    return await register("q", ["parent", "target"]), await register("cq", ["child"])


async def complete(engine: Engine, session: Session, *commands: Any) -> str:
    """Complete the next workflow task of ``session``'s queue with ``commands``; its workflow id."""
    task = await engine.workflow_tasks.poll(session, 30)
    assert task is not None, "no workflow task came"
    req = m.CompleteWorkflowTaskRequest.model_construct(
        task_token=task["task_token"],
        commands=list(commands),
        rejected_updates=[],
        sticky=False,
        eager_activity_slots=0,
    )
    await engine.workflow_tasks.complete(NS, req)
    return str(task["workflow_id"])


async def start(engine: Engine, workflow_id: str, workflow_type: str = "parent") -> str:
    run_id, _ = await engine.start_workflow(
        NS, m.StartWorkflowRequest(workflow_id=workflow_id, workflow_type=workflow_type, task_queue="q")
    )
    return run_id


async def types_of(store: Store, run_id: str) -> list[str]:
    return [e.event_type.value for e in await store.read_history(run_id)]


async def until(probe: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def never(engine: Engine, step: str) -> None:
    """The engine never takes ``step`` (a method of its child-workflow feature): as if it died just before."""

    async def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    def change_nothing(*args: Any, **kwargs: Any) -> None:
        return None

    is_async = asyncio.iscoroutinefunction(getattr(engine.child_workflows, step))
    setattr(engine.child_workflows, step, nothing if is_async else change_nothing)


START_CHILD = m.StartChildWorkflowCommand(workflow_id="c", workflow_type="child", task_queue="cq")


async def child_run(store: Store) -> str:
    rec = await store.get_execution(NS, "c")
    assert rec is not None
    return rec.run_id


async def count_runs(store: Store, workflow_id: str) -> int:
    from mainspring.storage import ListQuery

    records, _ = await store.list_executions(NS, ListQuery(workflow_id=workflow_id))
    return len(records)


async def test_a_child_never_made_before_the_crash_is_made_once_after_it(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with engine_on(db) as engine:
        never(engine, "start_child")
        sp, _ = await sessions(engine)
        parent = await start(engine, "p")
        await complete(engine, sp, START_CHILD)
        assert await engine.store.get_execution(NS, "c") is None
    for _ in range(2):  # a second restart does not make it again
        async with engine_on(db) as engine:
            await until(lambda: _has(engine.store, parent, "ChildWorkflowExecutionStarted"), "the child's start")
            child = await engine.store.read_history(await child_run(engine.store), 1, 1)
            assert child[0].attributes["parent_run_id"] == parent
            assert (await types_of(engine.store, parent)).count("ChildWorkflowExecutionStarted") == 1
            assert await count_runs(engine.store, "c") == 1


async def test_a_child_made_after_the_crash_has_the_options_its_initiated_event_recorded(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    command = m.StartChildWorkflowCommand(
        workflow_id="c",
        workflow_type="child",
        task_queue="cq",
        execution_timeout=900,
        run_timeout=600,
        task_timeout=7,
        retry_policy=m.RetryPolicyModel(maximum_attempts=2),
        memo={"k": "v"},
    )
    async with engine_on(db) as engine:
        never(engine, "start_child")
        sp, _ = await sessions(engine)
        parent = await start(engine, "p")
        await complete(engine, sp, command)
        assert await engine.store.get_execution(NS, "c") is None
    async with engine_on(db) as engine:
        await until(lambda: _has(engine.store, parent, "ChildWorkflowExecutionStarted"), "the child's start")
        started = (await engine.store.read_history(await child_run(engine.store), 1, 1))[0].attributes
        assert (started["execution_timeout"], started["run_timeout"], started["workflow_task_timeout"]) == (900, 600, 7)
        assert started["retry_policy"]["maximum_attempts"] == 2 and started["memo"] == {"k": "v"}
        assert (await engine.describe(NS, "c", None))["task_timeout"] == 7


async def test_a_child_s_id_reuse_policy_applies_when_it_is_made_after_the_crash(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with engine_on(db) as engine:
        never(engine, "start_child")
        sp, _ = await sessions(engine)
        await start(engine, "c", "target")  # a workflow of the child's id, closed
        assert await complete(engine, sp, m.CompleteWorkflowCommand(result=1)) == "c"
        parent = await start(engine, "p")
        reject = m.StartChildWorkflowCommand(
            workflow_id="c",
            workflow_type="child",
            task_queue="cq",
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        await complete(engine, sp, reject)
    async with engine_on(db) as engine:
        failed = await until(lambda: _events(engine.store, parent, "StartChildWorkflowExecutionFailed"), "the refusal")
        assert failed[0].attributes["cause"] == "WorkflowExecutionAlreadyStarted"
        assert await count_runs(engine.store, "c") == 1


async def test_a_child_that_closed_before_the_crash_reaches_its_parent_once(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with engine_on(db) as engine:
        sp, sc = await sessions(engine)
        parent = await start(engine, "p")
        await complete(engine, sp, START_CHILD)
        await until(lambda: _has(engine.store, parent, "ChildWorkflowExecutionStarted"), "the child's start")
        never(engine, "child_closed")
        assert await complete(engine, sc, m.CompleteWorkflowCommand(result="r")) == "c"
        await until(lambda: _closed(engine.store, "c"), "the child's close")
    for _ in range(2):
        async with engine_on(db) as engine:
            events = await until(lambda: _events(engine.store, parent, "ChildWorkflowExecutionCompleted"), "delivery")
            assert len(events) == 1 and events[0].attributes["result"] == "r"
            await asyncio.sleep(0.2)  # a second delivery, if any, would be written by now
            assert len(await _events(engine.store, parent, "ChildWorkflowExecutionCompleted")) == 1


async def test_a_child_made_and_closed_before_its_parent_heard_of_it_is_reported_once(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with engine_on(db) as engine:
        never(engine, "_started")
        never(engine, "child_closed")
        sp, sc = await sessions(engine)
        parent = await start(engine, "p")
        await complete(engine, sp, START_CHILD)
        assert await complete(engine, sc, m.CompleteWorkflowCommand(result=41)) == "c"
        await until(lambda: _closed(engine.store, "c"), "the child's close")
        assert "ChildWorkflowExecutionStarted" not in await types_of(engine.store, parent)
    for _ in range(2):
        async with engine_on(db) as engine:
            await until(lambda: _events(engine.store, parent, "ChildWorkflowExecutionCompleted"), "delivery")
            await asyncio.sleep(0.2)
            types = await types_of(engine.store, parent)
            assert types.count("ChildWorkflowExecutionStarted") == 1
            assert types.count("ChildWorkflowExecutionCompleted") == 1
            assert types.index("ChildWorkflowExecutionStarted") < types.index("ChildWorkflowExecutionCompleted")
            assert await count_runs(engine.store, "c") == 1  # found by its request id, not made again


async def test_a_signal_in_flight_at_the_crash_is_delivered_once(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with engine_on(db) as engine:
        never(engine, "send_external")
        sp, _ = await sessions(engine)
        target = await start(engine, "t", "target")
        assert await complete(engine, sp) == "t"  # the target waits
        parent = await start(engine, "p")
        signal = m.SignalExternalWorkflowCommand(workflow_id="t", signal_name="poke", input={"n": 1})
        assert await complete(engine, sp, signal) == "p"
    for _ in range(2):
        async with engine_on(db) as engine:
            await until(lambda: _has(engine.store, parent, "ExternalWorkflowExecutionSignaled"), "the outcome")
            signals = await _events(engine.store, target, "WorkflowExecutionSignaled")
            assert [(e.attributes["signal_name"], e.attributes["input"]) for e in signals] == [("poke", {"n": 1})]


async def test_a_parent_close_policy_not_applied_before_the_crash_is_applied_after_it(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with engine_on(db) as engine:
        sp, _ = await sessions(engine)
        parent = await start(engine, "p")
        await complete(engine, sp, START_CHILD)
        await until(lambda: _has(engine.store, parent, "ChildWorkflowExecutionStarted"), "the child's start")
        never(engine, "apply_policy")
        await engine.cancellation.terminate(NS, m.TerminateWorkflowRequest(workflow_id="p"), "test")
        assert not await _closed(engine.store, "c")
    async with engine_on(db) as engine:
        rec = await until(lambda: _closed(engine.store, "c"), "the child's termination")
        assert rec.status is WorkflowStatus.TERMINATED

        # The closed parent still lists its child, and hears how it ended (no event: the parent is closed).
        async def child_listed_as_terminated() -> bool:
            described = await engine.describe(NS, "p", None)
            return [(c["workflow_id"], c["status"]) for c in described["children"]] == [("c", "TERMINATED")]

        await until(child_listed_as_terminated, "the parent's description")
        assert (await types_of(engine.store, parent))[-1] == "WorkflowExecutionTerminated"
        assert (await engine.describe(NS, "c", None))["parent"]["run_id"] == parent


async def _has(store: Store, run_id: str, event_type: str) -> bool:
    return event_type in await types_of(store, run_id)


async def _events(store: Store, run_id: str, event_type: str) -> list[Any]:
    return [e for e in await store.read_history(run_id) if e.event_type is EventType(event_type)]


async def _closed(store: Store, workflow_id: str) -> Any:
    rec = await store.get_execution(NS, workflow_id)
    return rec if rec is not None and rec.status is not WorkflowStatus.RUNNING else None
