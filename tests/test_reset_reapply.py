"""What a reset reapplies to the new run, against a real server: the updates the run accepted after the reset point
are sent to the new run again under their ids (their handlers run again; awaiting one by id gets the new run's
outcome) unless excluded, durably (a server SIGKILLed before the new run took them still has them, and so does
the run of a second reset made meanwhile); bad ``--reapply-exclude`` / ``--reapply-type`` values are refused by
the CLI with a message naming the flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from carts import CALLS, Cart, stamp
from inprocess import events_of, eventually, running_worker, serving
from mainspring import Client, WorkflowHandle
from support import ServerProcess, run_cli


def new_id() -> str:
    return f"reapply-{uuid.uuid4().hex[:10]}"


async def _a_run_that_took_an_update(client: Client, task_queue: str, item: str) -> WorkflowHandle[Cart, list[str]]:
    """A Cart that completed a first workflow task, then took ``item`` by an update (id ``u-<item>``) and finished."""
    handle = await client.start_workflow(Cart.run, None, id=new_id(), task_queue=task_queue)
    await eventually(lambda: events_of(handle, "WorkflowTaskCompleted"), timeout=30, what="the first task completed")
    assert await handle.execute_update(Cart.add, item, id=f"u-{item}") == f"{item}#1"
    await handle.signal(Cart.finish)
    assert await asyncio.wait_for(handle.result(), 30) == [f"{item}#1"]
    return handle


@pytest.mark.parametrize("how", ["default", "excluded", "signals only"])
async def test_updates_after_the_reset_point_run_again_in_the_new_run_unless_excluded(
    server: ServerProcess, client: Client, task_queue: str, how: str
) -> None:
    item = new_id()
    async with running_worker(client, task_queue, workflows=[Cart], activities=[stamp]):
        handle = await _a_run_that_took_an_update(client, task_queue, item)
        wid = handle.workflow_id
        if how == "default":  # Temporal's default: signals and updates are reapplied
            new_run = await handle.reset(reset_type="FirstWorkflowTask")
        else:  # from the CLI, with Temporal's flag, or naming what to reapply
            flag = ("--reapply-exclude", "Update") if how == "excluded" else ("--reapply", "signals")
            done = await asyncio.to_thread(
                run_cli,
                *("workflow", "reset", "-w", wid, "-t", "FirstWorkflowTask", *flag),
                *("-o", "json"),
                address=server.address,
            )
            assert done.returncode == 0, done.stderr
            new_run = json.loads(done.stdout)["run_id"]
        again = client.get_workflow_handle_for(Cart.run, wid, run_id=new_run)
        result = await asyncio.wait_for(again.result(), 30)
        accepted = await events_of(again, "WorkflowExecutionUpdateAccepted")
        if how == "default":
            # The handler ran again in the new run (its activity too), under the update's id.
            assert result == [f"{item}#2"]
            assert [e["attributes"]["update_id"] for e in accepted] == [f"u-{item}"]
            assert len(await events_of(again, "WorkflowExecutionUpdateCompleted")) == 1
            # Awaited again by id, on the workflow id (or the start's handle, which follows it): the new run's
            # outcome; on the old run: the old one's.
            assert await client.get_workflow_handle(wid).get_update_handle(f"u-{item}").result() == f"{item}#2"
            assert await handle.get_update_handle(f"u-{item}").result() == f"{item}#2"
            old = client.get_workflow_handle(wid, run_id=handle.run_id)
            assert await old.get_update_handle(f"u-{item}").result() == f"{item}#1"
        else:
            assert result == []  # the finish signal was reapplied, the update was not
            assert accepted == []
            assert CALLS[item] == 1
    assert "Traceback" not in server.log()


async def test_a_reapplied_update_survives_a_server_kill_and_another_reset_before_the_new_run_took_it(
    tmp_path: Path, task_queue: str
) -> None:
    item = new_id()
    async with serving(tmp_path / "m.db") as (server, client):
        async with running_worker(client, task_queue, workflows=[Cart], activities=[stamp]):
            handle = await _a_run_that_took_an_update(client, task_queue, item)
        # No worker: the new run waits with the update it was sent again, which is only in the store.
        new_run = await handle.reset(reset_type="FirstWorkflowTask", reason="crash test")
        assert _reapplied_items(server, new_run) == [(f"u-{item}", "add")]
        server.kill()
        server.start()
        async with await Client.connect(server.address) as client:
            # Reset again before the new run took it: the update is in no event of its history, and goes on.
            assert _reapplied_items(server, new_run) == [(f"u-{item}", "add")]
            latest = client.get_workflow_handle(handle.workflow_id, run_id=new_run)
            point = (await events_of(latest, "WorkflowTaskFailed"))[0]["event_id"]  # (the first reset's)
            newer = await latest.reset(event_id=point)
            assert _reapplied_items(server, newer) == [(f"u-{item}", "add")]
            assert _reapplied_items(server, new_run) == []  # (it was terminated)
            async with running_worker(client, task_queue, workflows=[Cart], activities=[stamp]):
                again = client.get_workflow_handle_for(Cart.run, handle.workflow_id, run_id=newer)
                assert await asyncio.wait_for(again.result(), 60) == [f"{item}#2"]
                assert len(await events_of(again, "WorkflowExecutionUpdateAccepted")) == 1
        # Once accepted it is an update like any other: its item is gone.
        assert _reapplied_items(server, newer) == []
        assert "Traceback" not in server.log()


def _reapplied_items(server: ServerProcess, run_id: str) -> list[tuple[str, str]]:
    """(update id, name) of each reapplied update stored for the run, read from the database file."""
    with contextlib.closing(sqlite3.connect(server.db)) as conn:
        rows = conn.execute("SELECT key, value FROM pending WHERE run_id=? AND kind='ru'", (run_id,)).fetchall()
    return [(key, json.loads(value)["name"]) for key, value in rows]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--reapply-exclude", "Signals"), "--reapply-exclude"),
        (("--reapply-exclude", "none"), "--reapply-exclude"),
        (("--reapply-type", "Updates"), "--reapply-type"),
        (("--reapply-type", "Signal", "--reapply-exclude", "Update"), "cannot be used together"),
        (("--reapply", "signals,bogus"), "--reapply"),
        (("--reapply", ""), "--reapply"),
        (("--reapply", "none", "--reapply-exclude", "Update"), "cannot be used together"),
    ],
)
def test_bad_reapply_values_exit_non_zero_naming_the_flag(
    server: ServerProcess, args: tuple[str, ...], says: str
) -> None:
    bad = run_cli("workflow", "reset", "-w", "any", "-t", "LastWorkflowTask", *args, address=server.address)
    assert bad.returncode == 2, (args, bad.returncode, bad.stderr)
    assert says in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
