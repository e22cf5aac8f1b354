"""``Replayer`` (Temporal's shape): histories recorded by a real server, exported with ``workflow show -o json``
or fetched with ``handle.fetch_history()``, replayed against code without a server; a change the history does
not fit is reported with the event and the command that differ."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from inprocess import running_worker
from mainspring import Client
from mainspring.errors import NondeterminismError
from mainspring.worker import Replayer, WorkflowHistory
from support import ServerProcess, run_cli
from test_patches import ACTIVITIES, NAME, v1, v2, v4


async def _a_finished_v2_run(client: Client, task_queue: str) -> str:
    wid = f"replay-{uuid.uuid4().hex[:10]}"
    async with running_worker(client, task_queue, workflows=[v2], activities=ACTIVITIES):
        handle = await client.start_workflow(NAME, "r", id=wid, task_queue=task_queue, result_type=str)
        await handle.signal("go")
        assert await handle.result(timeout=30) == "Bonjour, r"
    return wid


async def test_a_history_replays_against_the_code_that_made_it_and_not_against_the_old_code(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    wid = await _a_finished_v2_run(client, task_queue)
    shown = await asyncio.to_thread(run_cli, "workflow", "show", "-w", wid, "-o", "json", address=server.address)
    assert shown.returncode == 0, shown.stderr
    exported = WorkflowHistory.from_json(wid, shown.stdout)
    fetched = WorkflowHistory(wid, await client.get_workflow_handle(wid).fetch_history())
    assert list(exported.events) == list(fetched.events)

    result = await Replayer(workflows=[v2]).replay_workflow(exported)
    assert result.replay_failure is None

    with pytest.raises(NondeterminismError, match=r"MarkerRecorded\(marker_name='core_patch'"):
        await Replayer(workflows=[v1]).replay_workflow(exported)
    with pytest.raises(NondeterminismError, match="new_greeting"):
        await Replayer(workflows=[v4]).replay_workflow(fetched)

    results = await Replayer(workflows=[v1]).replay_workflows([exported, fetched])
    assert set(results.replay_failures) == {wid}  # (both are the same run)
    ok = await Replayer(workflows=[v2]).replay_workflows([exported, fetched], raise_on_replay_failure=True)
    assert ok.replay_failures == {}


def test_bad_histories_are_refused_saying_what_a_history_is() -> None:
    for bad in ("[]", '{"events": 3}', '{"events": [{"event_id": 2, "event_type": "TimerStarted"}]}'):
        with pytest.raises(ValueError, match="history"):
            WorkflowHistory.from_json("w", bad)
    with pytest.raises(ValueError, match="at least one workflow"):
        Replayer(workflows=[])
