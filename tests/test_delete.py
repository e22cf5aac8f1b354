"""Deleting a workflow run, against a real server and workers: a closed run and its history are gone (describe
and history 404, the list no longer shows it), a running one is terminated first, the id's other runs stay,
over the API, the client, the CLI and the web UI's run page; hostile requests get a 4xx with a JSON body.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from inprocess import running_worker
from mainspring import Client, NotFoundError, WorkflowIDReusePolicy, WorkflowStatus, activity, workflow
from support import ServerProcess, chromium, run_cli

NS = "/api/v1/namespaces/default"


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@activity.defn(name="DeleteSlow")
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@workflow.defn(name="DeleteBusy")
async def busy(ctx: workflow.Context, seconds: float) -> str:
    # Pending work of each kind while it runs: an activity and a timer.
    timer = asyncio.ensure_future(ctx.sleep(timedelta(hours=1)))
    result = await ctx.execute_activity(slow, seconds, start_to_close_timeout=timedelta(minutes=5))
    timer.cancel()
    return result


def _start(server: ServerProcess, workflow_id: str, **fields: Any) -> str:
    body = {"workflow_id": workflow_id, "workflow_type": "T", "task_queue": "q", **fields}
    r = httpx.post(server.url + NS + "/workflows", json=body, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["run_id"])


def _delete(server: ServerProcess, **body: Any) -> httpx.Response:
    return httpx.post(server.url + NS + "/workflows/delete", json=body, timeout=10)


def _gone(server: ServerProcess, workflow_id: str, run_id: str) -> None:
    """The run is nowhere: describe and history answer 404, the list does not show it."""
    params = {"workflow_id": workflow_id, "run_id": run_id}
    for what in ("describe", "history"):
        r = httpx.get(server.url + NS + f"/workflows/{what}", params=params, timeout=10)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (what, r.text)
    listed = httpx.get(server.url + NS + "/workflows", params={"workflow_id_prefix": workflow_id}, timeout=10)
    assert run_id not in [e["run_id"] for e in listed.json()["executions"]]


def test_a_closed_run_is_deleted_and_the_ids_other_runs_stay(server: ServerProcess) -> None:
    wid = new_id()
    first = _start(server, wid)
    httpx.post(server.url + NS + "/workflows/terminate", json={"workflow_id": wid}, timeout=10)
    second = _start(server, wid)
    httpx.post(server.url + NS + "/workflows/terminate", json={"workflow_id": wid}, timeout=10)

    r = _delete(server, workflow_id=wid, run_id=first)
    assert r.status_code == 200, r.text
    assert r.json() == {"workflow_id": wid, "run_id": first, "terminated": False}
    _gone(server, wid, first)
    left = httpx.get(server.url + NS + "/workflows/describe", params={"workflow_id": wid}).json()
    assert left["execution"]["run_id"] == second
    # Deleted twice: the run is not found.
    again = _delete(server, workflow_id=wid, run_id=first)
    assert again.status_code == 404 and again.json()["code"] == "not_found"

    # Without a run id, the newest run; then the id has no run left, and its id policies see none.
    assert _delete(server, workflow_id=wid).json()["run_id"] == second
    _gone(server, wid, second)
    assert httpx.get(server.url + NS + "/workflows/describe", params={"workflow_id": wid}).status_code == 404
    _start(server, wid, id_reuse_policy="REJECT_DUPLICATE")
    assert "Traceback" not in server.log()


async def test_a_running_run_is_terminated_then_deleted(server: ServerProcess, client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[busy], activities=[slow]):
        handle = await client.start_workflow(busy, 600.0, id=wid, task_queue=task_queue)

        async def has_pending() -> bool:
            d = await handle.describe()
            return bool(d.pending_activities and d.pending_timers)

        await asyncio.wait_for(_until(has_pending), 30)
        # Its history is read before: a deleted run's is gone, not just hidden.
        assert len(await handle.fetch_history()) > 3
        assert await handle.delete(reason="wrong customer") is True
        with pytest.raises(NotFoundError):
            await handle.describe()
        with pytest.raises(NotFoundError):
            await handle.fetch_history()
        assert handle.run_id is not None
        _gone(server, wid, handle.run_id)
        # The worker's activity, still running, reports on a run that is gone: refused, nothing breaks.
        other = await client.start_workflow(busy, 0.1, id=new_id(), task_queue=task_queue)
        assert await asyncio.wait_for(other.result(), 30) == "slept"
    page = await client.list_workflows(workflow_id_prefix=wid)
    assert page.executions == []
    assert "Traceback" not in server.log()


async def _until(probe: Any, interval: float = 0.1) -> None:
    while not await probe():
        await asyncio.sleep(interval)


async def test_the_client_deletes_a_closed_run_and_the_policies_see_the_older_run(client: Client) -> None:
    wid = new_id()
    older = await client.start_workflow("T", None, id=wid, task_queue="q")
    await older.terminate()
    newer = await client.start_workflow("T", None, id=wid, task_queue="q")
    await newer.terminate()
    assert await newer.delete() is False
    # The id's last run is the older one again: REJECT_DUPLICATE still refuses, naming it.
    from mainspring import AlreadyStartedError

    with pytest.raises(AlreadyStartedError) as refused:
        await client.start_workflow(
            "T", None, id=wid, task_queue="q", id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE
        )
    assert refused.value.details["run_id"] == older.run_id
    assert (await client.get_workflow_handle(wid).describe()).status is WorkflowStatus.TERMINATED
    with pytest.raises(NotFoundError):
        await client.get_workflow_handle(new_id()).delete()


def test_the_cli_deletes_a_run(server: ServerProcess) -> None:
    wid = new_id()
    running = _start(server, wid)
    out = run_cli("workflow", "delete", "-w", wid, "-r", running, "--reason", "cleanup", address=server.address)
    assert out.returncode == 0, out.stderr
    assert "terminated, then deleted" in out.stdout and running in out.stdout
    _gone(server, wid, running)

    closed = _start(server, wid)
    httpx.post(server.url + NS + "/workflows/terminate", json={"workflow_id": wid}, timeout=10)
    out = run_cli("workflow", "delete", "-w", wid, "-o", "json", address=server.address)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"workflow_id": wid, "run_id": closed, "terminated": False, "deleted": True}
    _gone(server, wid, closed)

    missing = run_cli("workflow", "delete", "-w", wid, address=server.address)
    assert missing.returncode == 3 and "not found" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({}, 400, ["workflow_id"]),
        ({"workflow_id": ""}, 400, ["workflow"]),
        ({"workflow_id": "x\u0000y"}, 400, ["workflow"]),
        ({"workflow_id": "w", "run_id": 5}, 400, ["run_id"]),
        ({"workflow_id": "w", "run_id": "r" * 2000}, 400, ["run_id"]),
        ({"workflow_id": "w", "surprise": 1}, 400, ["surprise"]),
        ({"workflow_id": "no-such-workflow"}, 404, ["not found"]),
        ({"workflow_id": "no-such-workflow", "run_id": "no-such-run"}, 404, ["not found"]),
    ],
)
def test_hostile_deletes_get_a_4xx_with_a_json_body(
    server: ServerProcess, body: dict[str, Any], status: int, words: list[str]
) -> None:
    r = _delete(server, **body)
    assert r.status_code == status, r.text
    data = r.json()
    assert data["code"] and all(w in data["message"] for w in words), data
    bad_json = httpx.post(
        server.url + NS + "/workflows/delete", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["code"]
    assert "Traceback" not in server.log()


@pytest.mark.slow
def test_the_run_page_deletes_a_run_after_a_confirmation(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = ServerProcess(tmp_path / "ui.db").start()
    try:
        wid = new_id()
        run_id = _start(server, wid, memo={"ticket": "OPS-7"})
        with chromium() as browser:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.ui_url}/namespaces/default/workflows/{wid}/{run_id}")
            expect(page.locator(".summary-card .memo")).to_contain_text("OPS-7", timeout=10_000)  # its memo is shown
            page.locator(".run-manage [data-action=delete]").click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_contain_text("terminated first")  # it runs: the dialog says what happens
            dialog.get_by_role("button", name="Keep it").click()
            expect(dialog).to_have_count(0)
            assert httpx.get(server.url + NS + "/workflows/describe", params={"workflow_id": wid}).status_code == 200

            page.locator(".run-manage [data-action=delete]").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_role("textbox").fill("opened by mistake")
            dialog.get_by_role("button", name="Delete run").click()
            expect(page.locator(".toast")).to_contain_text("deleted", timeout=10_000)
            page.wait_for_url("**/namespaces/default/workflows", timeout=10_000)
            assert not errors, errors
        _gone(server, wid, run_id)
    finally:
        server.stop()
