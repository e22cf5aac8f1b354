"""The server's limits on one run (``--limit-*``), each at a small value, on real server processes.

Reaching a limit fails the workflow task with a cause and a message that names the limit and its flag;
the task is retried, nothing stored is lost, and the run goes on once the server has a higher limit.
Past the warn thresholds the workflow reads ``ctx.info.is_continue_as_new_suggested()`` as True.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inprocess import eventually, running_worker
from mainspring import Client, WorkflowHandle, activity, workflow
from mainspring.workflow import WorkflowInfo, get_definition
from mainspring.workflow._instance import WorkflowInstance
from support import ServerProcess

TIMEOUT = timedelta(seconds=30)


@activity.defn
async def echo(value: str) -> str:
    return value


@workflow.defn
async def fan_out(ctx: workflow.Context, k: int) -> int:
    results = await asyncio.gather(
        *(ctx.execute_activity(echo, str(i), start_to_close_timeout=TIMEOUT) for i in range(k))
    )
    return len(results)


@workflow.defn
async def sequence(ctx: workflow.Context, steps: list[int]) -> int:
    """``steps[0]`` activities in turn, each echoing ``steps[1]`` characters."""
    n, size = steps
    for _ in range(n):
        await ctx.execute_activity(echo, "x" * size, start_to_close_timeout=TIMEOUT)
    return n


@workflow.defn
async def until_suggested(ctx: workflow.Context, most: int) -> list[list[Any]]:
    """Activities until continuing as new is suggested: (history length, size, suggested) before each."""
    seen: list[list[Any]] = []
    for _ in range(most):
        info = ctx.info
        seen.append([info.history_length, info.get_current_history_size(), info.is_continue_as_new_suggested()])
        if info.is_continue_as_new_suggested():
            break
        await ctx.execute_activity(echo, "x" * 100, start_to_close_timeout=TIMEOUT)
    return seen


def _server(tmp_path: Path, *flags: str) -> ServerProcess:
    return ServerProcess(tmp_path / "limits.db", extra_args=list(flags)).start()


async def _refused(handle: WorkflowHandle[Any, Any], cause: str) -> dict[str, Any]:
    """The run's WorkflowTaskFailed event for ``cause``, once it is in history."""

    async def failed() -> dict[str, Any] | None:
        for e in await handle.fetch_history():
            if e["event_type"] == "WorkflowTaskFailed" and e["attributes"]["cause"] == cause:
                return e
        return None

    return await eventually(failed, timeout=60, what=f"a WorkflowTaskFailed with cause {cause}")


async def _limit_then_raise(
    tmp_path: Path,
    task_queue: str,
    caplog: pytest.LogCaptureFixture,
    flags: Sequence[str],
    start: Any,
    cause: str,
    words: Sequence[str],
    expected: Any,
) -> None:
    """Run ``start`` on a server with ``flags``: its task is refused with ``cause`` and a message with
    ``words``; nothing is lost; restarted without the flags, the same run completes with ``expected``."""
    srv = _server(tmp_path, *flags)
    try:
        async with (
            await Client.connect(srv.address) as client,
            running_worker(client, task_queue, workflows=[fan_out, sequence], activities=[echo]),
        ):
            with caplog.at_level(logging.ERROR, logger="mainspring.worker"):
                handle = await start(client)
                event = await _refused(handle, cause)
                message = event["attributes"]["failure"]["message"]
                for word in words:
                    assert word in message, message
                length = (await handle.describe()).history_length

                async def retried() -> bool:
                    d = await handle.describe()
                    return d.pending_workflow_task is not None and d.pending_workflow_task["attempt"] >= 3

                await eventually(retried, timeout=60, what="the refused task retried")
                desc = await handle.describe()
                assert desc.status.value == "RUNNING"
                assert desc.history_length == length  # retries of a failing task are not written
                assert message in desc.pending_workflow_task["last_failure"]["message"]  # type: ignore[index]
            logged = [r for r in caplog.records if "server limit" in r.getMessage()]
            assert len(logged) == 1, [r.getMessage() for r in logged]  # once, not at every retry
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()
    # The same database, default limits: the run goes on from where it was.
    srv = ServerProcess(srv.db).start()
    try:
        async with (
            await Client.connect(srv.address) as client,
            running_worker(client, task_queue, workflows=[fan_out, sequence], activities=[echo]),
        ):
            assert await asyncio.wait_for(client.get_workflow_handle(handle.workflow_id).result(), 60) == expected
    finally:
        srv.stop()


async def test_pending_activities_limit(tmp_path: Path, task_queue: str, caplog: pytest.LogCaptureFixture) -> None:
    async def start(client: Client) -> WorkflowHandle[Any, Any]:
        return await client.start_workflow(fan_out, 5, id="fan", task_queue=task_queue)

    await _limit_then_raise(
        tmp_path,
        task_queue,
        caplog,
        ["--limit-pending-activities", "3"],
        start,
        "PENDING_ACTIVITIES_LIMIT_EXCEEDED",
        ["would have 5 pending activities", "limit of 3", "--limit-pending-activities"],
        5,
    )


async def test_history_events_limit(tmp_path: Path, task_queue: str, caplog: pytest.LogCaptureFixture) -> None:
    async def start(client: Client) -> WorkflowHandle[Any, Any]:
        return await client.start_workflow(sequence, [20, 10], id="long", task_queue=task_queue)

    await _limit_then_raise(
        tmp_path,
        task_queue,
        caplog,
        ["--limit-history-events", "40"],
        start,
        "HISTORY_LIMIT_EXCEEDED",
        ["history past the server's limit of 40 events", "--limit-history-events", "continue as new"],
        20,
    )


async def test_history_bytes_limit(tmp_path: Path, task_queue: str, caplog: pytest.LogCaptureFixture) -> None:
    async def start(client: Client) -> WorkflowHandle[Any, Any]:
        # Each step stores the 1,000-character input and result: 2 KB; 8 KiB are past after 4 steps.
        return await client.start_workflow(sequence, [10, 1000], id="big", task_queue=task_queue)

    await _limit_then_raise(
        tmp_path,
        task_queue,
        caplog,
        ["--limit-history-bytes", "8KiB"],
        start,
        "HISTORY_LIMIT_EXCEEDED",
        ["history is past the server's limit of 8,192 bytes", "--limit-history-bytes"],
        10,
    )


async def test_continue_as_new_is_suggested_past_the_warn_threshold(tmp_path: Path, task_queue: str) -> None:
    srv = _server(tmp_path, "--warn-history-events", "30")
    try:
        async with (
            await Client.connect(srv.address) as client,
            running_worker(client, task_queue, workflows=[until_suggested], activities=[echo]),
        ):
            seen = await asyncio.wait_for(
                client.execute_workflow(until_suggested, 50, id="suggest", task_queue=task_queue), 60
            )
            history = await client.get_workflow_handle("suggest").fetch_history()
    finally:
        srv.stop()
    # Replayed from its history (as a fresh worker would), the code sees the same values at each step:
    # they come from the WorkflowTaskStarted events, so it makes the same decisions and the same result.
    info = WorkflowInfo(
        "default",
        "suggest",
        history[0]["attributes"]["run_id"],
        "until_suggested",
        task_queue,
        datetime.fromisoformat(history[0]["event_time"]),
    )
    replay = WorkflowInstance(get_definition(until_suggested), info)  # type: ignore[abstract]
    assert replay.activate(history) == []  # every command matched its event: no nondeterminism
    assert replay.finished
    lengths = [s[0] for s in seen]
    assert lengths == sorted(lengths) and lengths[0] == 3, seen  # the first task starts at event 3
    assert [s[2] for s in seen] == [False] * (len(seen) - 1) + [True], seen
    assert lengths[-1] > 30 >= lengths[-2] - 6, seen
    sizes = [s[1] for s in seen]
    assert sizes == sorted(sizes) and sizes[-1] > 100 * len(seen), seen
    started = [e for e in history if e["event_type"] == "WorkflowTaskStarted"]
    assert any(e["attributes"].get("suggest_continue_as_new") for e in started)
    assert "Traceback" not in srv.log()
