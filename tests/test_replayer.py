"""``Replayer`` (Temporal's shape): histories recorded by a real server, exported with ``workflow show -o json``
or fetched with ``handle.fetch_history()``, replayed against code without a server; a change the history does
not fit is reported with the event and the command that differ."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path

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


async def test_the_replay_command_is_a_deploy_gate(
    server: ServerProcess, client: Client, task_queue: str, tmp_path: Path
) -> None:
    wid = await _a_finished_v2_run(client, task_queue)
    (tmp_path / "flows_new.py").write_text("from test_patches import old_greeting, v2\n")
    (tmp_path / "flows_old.py").write_text("from test_patches import v1\n")
    (tmp_path / "nothing.py").write_text("X = 1\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}

    def replay(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("workflow", "replay", *args, address=server.address, env=env)

    ok = await asyncio.to_thread(replay, "--module", "flows_new", "--type", NAME, "-o", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"replayed": 1, "failed": 0, "failures": []}
    bad = await asyncio.to_thread(replay, "--module", "flows_old", "--type", NAME)
    assert bad.returncode == 1, bad.stderr
    assert f"FAIL {wid} run " in bad.stdout and "core_patch" in bad.stdout
    assert "1 replayed, 1 failed" in bad.stderr

    # From an exported file, no server needed; and what is wrong with a bad file or module, named.
    exported = tmp_path / "h.json"
    shown = await asyncio.to_thread(run_cli, "workflow", "show", "-w", wid, "-o", "json", address=server.address)
    exported.write_text(shown.stdout)
    from_file = await asyncio.to_thread(replay, "--module", "flows_old", "--file", str(exported))
    assert from_file.returncode == 1 and "FAIL h:" in from_file.stdout, from_file.stdout
    (tmp_path / "junk.json").write_text('{"not": "a history"}')
    for args, says in (
        (("--module", "flows_new", "--file", str(tmp_path / "junk.json")), "is not a workflow history"),
        (("--module", "flows_new", "--file", str(tmp_path / "missing.json")), "cannot read --file"),
        (("--module", "no_such_module", "--type", NAME), "cannot import --module 'no_such_module'"),
        (("--module", "nothing", "--type", NAME), "no @workflow.defn workflows"),
        (
            (
                "--module",
                "flows_new",
            ),
            "give --type, --workflow-id, --query or --file",
        ),
    ):
        refused = await asyncio.to_thread(replay, *args)
        assert refused.returncode == 2 and says in refused.stderr, (args, refused.stderr)
        assert "Traceback" not in refused.stderr
