"""Handlers set while the workflow runs (``ctx.set_signal_handler`` and the rest, Temporal's
``workflow.set_*_handler``), against a real server: a class that sets its query and signal handlers in ``run``
(as Temporal's batch_sliding_window sample does), a function workflow with handlers, signals buffered until a
handler of their name exists, an update with a validator, dynamic handlers, and removal.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from inprocess import running_worker
from mainspring import Client, workflow
from mainspring.errors import WorkflowQueryFailedError, WorkflowUpdateFailedError


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@workflow.defn
class Window:
    def __init__(self) -> None:
        self.current: set[int] = set()
        self.progress = 0

    @workflow.run
    async def run(self, ctx: workflow.Context, records: list[int]) -> int:
        self.current = set(records)
        ctx.set_query_handler("state", self._state)
        ctx.set_signal_handler("report_completion", self._done)
        ctx.set_update_handler("add", self._add, validator=self._check)
        await ctx.wait_condition(lambda: not self.current)
        return self.progress

    def _state(self) -> dict[str, Any]:
        return {"current": sorted(self.current), "progress": self.progress}

    def _done(self, record_id: int) -> None:
        if record_id in self.current:
            self.current.remove(record_id)
            self.progress += 1

    def _check(self, record_id: int) -> None:
        if record_id < 0:
            raise ValueError("record ids are positive")

    async def _add(self, record_id: int) -> int:
        self.current.add(record_id)
        return len(self.current)


async def test_a_class_sets_its_handlers_in_run(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[Window]):
        handle = await client.start_workflow(Window.run, [1, 2, 3], id=new_id(), task_queue=task_queue)
        await handle.signal("report_completion", 2)  # sent at once: buffered until the handler is set
        assert await handle.query("state", result_type=dict) == {"current": [1, 3], "progress": 1}
        assert await handle.execute_update("add", 7, result_type=int) == 3
        with pytest.raises(WorkflowUpdateFailedError, match="record ids are positive"):
            await handle.execute_update("add", -1, result_type=int)
        with pytest.raises(WorkflowQueryFailedError, match="Did you mean 'state'"):
            await handle.query("stat", result_type=dict)
        for r in (1, 3, 7):
            await handle.signal("report_completion", r)
        assert await handle.result(timeout=30) == 4


@workflow.defn
async def counter(ctx: workflow.Context, until: int) -> list[str]:
    seen: list[str] = []

    def named(name: str, raw: Any) -> None:
        seen.append(f"{name}={raw}")

    ctx.set_dynamic_signal_handler(named)
    ctx.set_dynamic_query_handler(lambda name, raw: {"asked": name, "seen": len(seen)})
    ctx.set_signal_handler("stop", lambda: ctx.set_dynamic_signal_handler(None))
    await ctx.wait_condition(lambda: len(seen) >= until)
    return seen


async def test_a_function_workflow_with_dynamic_handlers(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[counter]):
        handle = await client.start_workflow(counter, 2, id=new_id(), task_queue=task_queue)
        await handle.signal("a", 1)
        assert await handle.query("anything", result_type=dict) == {"asked": "anything", "seen": 1}
        await handle.signal("stop")
        await handle.signal("b", 2)  # no handler now: it waits in the buffer
        assert await handle.query("again", result_type=dict) == {"asked": "again", "seen": 1}
        # (a dynamic signal handler set again would get it; here the workflow ends on the next one)
        await handle.cancel()
