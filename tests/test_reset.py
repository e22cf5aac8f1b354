"""Resetting a workflow run, against a real server and workers: the new run is made from a workflow task of the
old run's history, its code after that point runs again, the old run is terminated if it still ran, both are
linked; pending activities and timers at the reset point are pending again in the new run; signals received
after the point are reapplied unless excluded; bad reset points get a 4xx naming the valid ones; the CLI;
and a server SIGKILLed right after a reset comes back consistent.
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

from inprocess import eventually, running_worker, serving
from mainspring import Client, InvalidArgumentError, NotFoundError, activity, workflow
from support import ServerProcess, run_cli

NS = "/api/v1/namespaces/default"

#: How many times each activity ran (the in-process worker runs them in this process).
CALLS: dict[str, int] = {}
#: The gate activity waits until its key is here.
OPEN: set[str] = set()


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@activity.defn(name="ResetStep")
async def step(key: str) -> str:
    CALLS[key] = CALLS.get(key, 0) + 1
    return f"{key}:{CALLS[key]}"


@activity.defn(name="ResetGate")
async def gate(key: str) -> str:
    CALLS[key] = CALLS.get(key, 0) + 1
    while key not in OPEN:
        await asyncio.sleep(0.05)
    return "opened"


@workflow.defn(name="ResetTwoSteps")
async def two_steps(ctx: workflow.Context, key: str) -> list[str]:
    first = await ctx.execute_activity(step, key, start_to_close_timeout=timedelta(minutes=1))
    second = await ctx.execute_activity(step, key, start_to_close_timeout=timedelta(minutes=1))
    return [first, second]


@workflow.defn(name="ResetWaiter")
class Waiter:
    """Waits on a gate activity and a long timer at once; a signal makes it complete a workflow task meanwhile."""

    def __init__(self) -> None:
        self.pokes = 0

    @workflow.signal
    def poke(self, n: int) -> None:
        self.pokes += n

    @workflow.run
    async def run(self, ctx: workflow.Context, key: str) -> dict[str, Any]:
        timer = asyncio.ensure_future(ctx.sleep(timedelta(hours=2)))
        opened = await ctx.execute_activity(gate, key, start_to_close_timeout=timedelta(minutes=5))
        timer.cancel()
        return {"gate": opened, "pokes": self.pokes}


@workflow.defn(name="ResetCollector")
class Collector:
    def __init__(self) -> None:
        self.items: list[str] = []

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.run
    async def run(self, ctx: workflow.Context, _: None) -> list[str]:
        await ctx.wait_condition(lambda: "done" in self.items)
        return self.items


@workflow.defn(name="ResetChild")
async def sleeper(ctx: workflow.Context, _: None) -> str:
    await ctx.sleep(timedelta(hours=1))
    return "woke"


@workflow.defn(name="ResetParent")
async def parent(ctx: workflow.Context, _: None) -> str:
    # Its code waits for the start (start_child_workflow), so a workflow task follows the child's start: a reset
    # point with the child open. (execute_child_workflow's parent sees the start only with the outcome.)
    handle = await ctx.start_child_workflow(sleeper, None, id=f"{ctx.info.workflow_id}-child")
    return await handle


def _post_reset(server: ServerProcess, **body: Any) -> httpx.Response:
    return httpx.post(server.url + NS + "/workflows/reset", json=body, timeout=10)


def _describe(server: ServerProcess, workflow_id: str, run_id: str | None = None) -> dict[str, Any]:
    r = httpx.get(
        server.url + NS + "/workflows/describe", params={"workflow_id": workflow_id, "run_id": run_id}, timeout=10
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _history(server: ServerProcess, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    r = httpx.get(
        server.url + NS + "/workflows/history",
        params={"workflow_id": workflow_id, "run_id": run_id, "limit": 1000},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def _of(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event_type"] == event_type]


async def test_a_completed_run_reset_to_its_first_task_runs_its_code_again(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    key = new_id()
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[two_steps], activities=[step]):
        handle = await client.start_workflow(two_steps, key, id=wid, task_queue=task_queue)
        assert await asyncio.wait_for(handle.result(), 30) == [f"{key}:1", f"{key}:2"]
        old_run = handle.run_id
        assert old_run is not None

        new_run = await handle.reset(reset_type="FirstWorkflowTask", reason="rerun it")
        assert new_run != old_run
        again = client.get_workflow_handle(wid, run_id=new_run)
        # Its code reran from the start: both activities ran again.
        assert await asyncio.wait_for(again.result(), 30) == [f"{key}:3", f"{key}:4"]

    old = _describe(server, wid, old_run)
    assert old["execution"]["status"] == "COMPLETED"  # it was closed already: it stays as it was
    first_completed = _of(_history(server, wid, old_run), "WorkflowTaskCompleted")[0]["event_id"]
    assert old["reset_to"] == {"run_id": new_run, "event_id": first_completed, "reason": "rerun it"}
    new = _describe(server, wid, new_run)
    assert new["execution"]["status"] == "COMPLETED"
    assert new["reset_from"] == {"run_id": old_run, "event_id": first_completed, "reason": "rerun it"}
    # The workflow id's current run is the new one.
    assert _describe(server, wid)["execution"]["run_id"] == new_run
    # Its history: the old one up to the first task's Started, then that task failed by the reset.
    events = _history(server, wid, new_run)
    assert [e["event_type"] for e in events[:4]] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
    ]
    failed = events[3]["attributes"]
    assert failed["cause"] == "RESET_WORKFLOW"
    assert (failed["base_run_id"], failed["new_run_id"], failed["reason"]) == (old_run, new_run, "rerun it")
    assert events[0]["attributes"]["run_id"] == new_run
    assert "Traceback" not in server.log()


async def test_a_running_run_reset_to_its_last_task_is_terminated_and_its_pending_work_goes_on(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    key = new_id()
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[Waiter], activities=[gate]):
        handle = await client.start_workflow(Waiter.run, key, id=wid, task_queue=task_queue)
        await eventually(lambda: _started_gate(key), timeout=30, what="the gate activity started")
        # A signal while it waits: a second workflow task completes, after the activity and timer were made.
        await handle.signal(Waiter.poke, 1)

        async def two_tasks() -> bool:
            return len(_of(_history(server, wid, str(handle.run_id)), "WorkflowTaskCompleted")) >= 2

        await eventually(two_tasks, timeout=30, what="the signal's workflow task completed")
        old = _describe(server, wid, handle.run_id)
        old_timer = old["pending_timers"][0]

        new_run = await handle.reset(reset_type="LastWorkflowTask")
        old_after = _describe(server, wid, handle.run_id)
        assert old_after["execution"]["status"] == "TERMINATED"
        assert old_after["reset_to"]["run_id"] == new_run
        assert _of(_history(server, wid, str(handle.run_id)), "WorkflowExecutionTerminated")

        new = _describe(server, wid, new_run)
        assert new["execution"]["status"] == "RUNNING"
        # The activity and the timer pending at the reset point are pending again: the activity at attempt 1,
        # the timer at its original fire time.
        assert [(a["activity_type"], a["attempt"]) for a in new["pending_activities"]] == [("ResetGate", 1)]
        assert [(t["timer_id"], t["fire_time"]) for t in new["pending_timers"]] == [
            (old_timer["timer_id"], old_timer["fire_time"])
        ]
        # The activity is handed out again, and the new run completes when it does.
        await eventually(lambda: _started_gate(key, times=2), timeout=30, what="the gate re-dispatched")
        OPEN.add(key)
        again = client.get_workflow_handle(wid, run_id=new_run)
        assert await asyncio.wait_for(again.result(), 30) == {"gate": "opened", "pokes": 1}
    assert "Traceback" not in server.log()


async def _started_gate(key: str, times: int = 1) -> bool:
    return CALLS.get(key, 0) >= times


@pytest.mark.parametrize("exclude", [False, True], ids=["reapplied", "excluded"])
async def test_signals_after_the_reset_point_are_reapplied_unless_excluded(
    server: ServerProcess, client: Client, task_queue: str, exclude: bool
) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[Collector]):
        handle = await client.start_workflow(Collector.run, None, id=wid, task_queue=task_queue)

        async def first_task() -> bool:
            return bool(_of(_history(server, wid, str(handle.run_id)), "WorkflowTaskCompleted"))

        await eventually(first_task, timeout=30, what="the first workflow task completed")
        for item in ("a", "b", "done"):
            await handle.signal(Collector.add, item)
        assert await asyncio.wait_for(handle.result(), 30) == ["a", "b", "done"]

        new_run = await handle.reset(reset_type="FirstWorkflowTask", reapply_exclude=["Signal"] if exclude else [])
        again = client.get_workflow_handle(wid, run_id=new_run)
        events = _history(server, wid, new_run)
        signaled = [e["attributes"]["input"] for e in _of(events, "WorkflowExecutionSignaled")]
        if not exclude:
            assert signaled == ["a", "b", "done"]
            assert await asyncio.wait_for(again.result(), 30) == ["a", "b", "done"]
        else:
            assert signaled == []

            async def waits() -> bool:
                d = _describe(server, wid, new_run)
                return d["execution"]["status"] == "RUNNING" and d["pending_workflow_task"] is None

            # It ran its new task and waits for signals it never got.
            await eventually(waits, timeout=30, what="the new run waits")
            await again.signal(Collector.add, "done")
            assert await asyncio.wait_for(again.result(), 30) == ["done"]
    assert "Traceback" not in server.log()


async def test_bad_reset_points_are_4xx_naming_the_valid_ones(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    key = new_id()
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[two_steps], activities=[step]):
        handle = await client.start_workflow(two_steps, key, id=wid, task_queue=task_queue)
        await asyncio.wait_for(handle.result(), 30)
    run = str(handle.run_id)
    events = _history(server, wid, run)
    completed = [e["event_id"] for e in _of(events, "WorkflowTaskCompleted")]
    assert len(completed) == 3

    # Not a workflow task's event (1 is WorkflowExecutionStarted), and beyond the history.
    for event_id, says in ((1, "WorkflowExecutionStarted"), (len(events) + 5, "beyond")):
        r = _post_reset(server, workflow_id=wid, run_id=run, event_id=event_id)
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["code"] == "invalid_reset_point" and says in body["message"]
        assert body["details"]["valid_event_ids"] == completed
        assert body["details"]["reset_types"] == ["FirstWorkflowTask", "LastWorkflowTask"]
    # Neither or both of event_id and reset_type; an unknown type; an unknown run.
    for bad in ({}, {"event_id": completed[0], "reset_type": "LastWorkflowTask"}, {"reset_type": "Nope"}):
        r = _post_reset(server, workflow_id=wid, **bad)
        assert r.status_code == 400, (bad, r.text)
        assert {"code", "message"} <= set(r.json())
    r = _post_reset(server, workflow_id=wid, run_id="no-such-run", reset_type="LastWorkflowTask")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    with pytest.raises(NotFoundError):
        await client.get_workflow_handle(new_id()).reset(reset_type="LastWorkflowTask")
    with pytest.raises(InvalidArgumentError):
        await handle.reset(event_id=2)
    # Nothing was made: the run is still the id's current one.
    assert _describe(server, wid)["execution"]["run_id"] == run
    assert "Traceback" not in server.log()


async def test_a_point_with_a_child_workflow_open_is_refused_naming_the_points_that_work(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[parent, sleeper]):
        handle = await client.start_workflow(parent, None, id=wid, task_queue=task_queue)
        run = str(handle.run_id)

        async def child_started() -> bool:
            events = _history(server, wid, run)
            return bool(_of(events, "ChildWorkflowExecutionStarted")) and len(_of(events, "WorkflowTaskCompleted")) >= 2

        await eventually(child_started, timeout=30, what="the child started and its parent saw it")
        completed = [e["event_id"] for e in _of(_history(server, wid, run), "WorkflowTaskCompleted")]
        r = _post_reset(server, workflow_id=wid, reset_type="LastWorkflowTask")
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["code"] == "invalid_reset_point" and "child workflow" in body["message"], body
        # Only the first task, before the child was started, can be gone back to.
        assert body["details"]["valid_event_ids"] == completed[:1]
        assert _describe(server, wid)["execution"]["status"] == "RUNNING"  # nothing happened to it
        # That one works: the parent is terminated (and its child with it, by its close policy), the new run
        # starts the child again.
        new_run = await handle.reset(reset_type="FirstWorkflowTask")

        async def child_again() -> bool:
            return bool(_of(_history(server, wid, new_run), "ChildWorkflowExecutionStarted"))

        await eventually(child_again, timeout=30, what="the new run started its child")
        await client.get_workflow_handle(wid, run_id=new_run).terminate()
    assert "Traceback" not in server.log()


@pytest.mark.parametrize(
    "body",
    [
        {"workflow_id": "x", "event_id": True},
        {"workflow_id": "x", "event_id": 0},
        {"workflow_id": "x", "event_id": "3"},
        {"workflow_id": "x", "reset_type": "lastworkflowtask"},
        {"workflow_id": "x", "reset_type": "LastWorkflowTask", "reapply_exclude": ["Signals"]},
        {"workflow_id": "x", "reset_type": "LastWorkflowTask", "surprise": 1},
        {"reset_type": "LastWorkflowTask"},
    ],
)
def test_hostile_resets_get_a_400_with_a_json_body(server: ServerProcess, body: dict[str, Any]) -> None:
    r = _post_reset(server, **body)
    assert r.status_code == 400, (body, r.text)
    assert r.json()["code"] and r.json()["message"]
    assert "Traceback" not in server.log()


async def test_the_cli_resets_with_temporals_flags(server: ServerProcess, client: Client, task_queue: str) -> None:
    key = new_id()
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[two_steps], activities=[step]):
        handle = await client.start_workflow(two_steps, key, id=wid, task_queue=task_queue)
        await asyncio.wait_for(handle.result(), 30)
        run = str(handle.run_id)
        second = _of(_history(server, wid, run), "WorkflowTaskCompleted")[1]["event_id"]

        done = await asyncio.to_thread(
            run_cli,
            *("workflow", "reset", "-w", wid, "-r", run, "-e", str(second), "--reason", "from the CLI"),
            *("--reapply-exclude", "Signal", "-o", "json"),
            address=server.address,
        )
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert (answer["base_run_id"], answer["reset_event_id"], answer["terminated"]) == (run, second, False)
        new_run = answer["run_id"]
        # From the second task: the first activity is not run again, the second is.
        again = client.get_workflow_handle(wid, run_id=new_run)
        assert await asyncio.wait_for(again.result(), 30) == [f"{key}:1", f"{key}:3"]

        text = await asyncio.to_thread(
            run_cli, "workflow", "reset", "-w", wid, "--type", "LastWorkflowTask", address=server.address
        )
        assert text.returncode == 0, text.stderr
        assert f"Workflow {wid} run {new_run} reset to event" in text.stdout
        shown = await asyncio.to_thread(run_cli, "workflow", "describe", "-w", wid, "-r", run, address=server.address)
        assert "ResetTo" in shown.stdout and new_run in shown.stdout

    # Usage mistakes and a bad point: an error that says what is wrong, not a traceback.
    for args, says in (
        (("-w", wid), "exactly one of --event-id and --type"),
        (("-w", wid, "-e", "1"), "WorkflowExecutionStarted"),
        (("-w", wid, "-t", "LastWorkflowTask", "--reapply-type", "None", "--reapply-exclude", "All"), "together"),
    ):
        bad = await asyncio.to_thread(run_cli, "workflow", "reset", *args, address=server.address)
        assert bad.returncode != 0 and says in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr


async def test_a_server_killed_right_after_a_reset_comes_back_consistent(tmp_path: Path, task_queue: str) -> None:
    key = new_id()
    wid = new_id()
    async with serving(tmp_path / "mainspring.db") as (server, client):
        async with running_worker(client, task_queue, workflows=[Waiter], activities=[gate]):
            handle = await client.start_workflow(Waiter.run, key, id=wid, task_queue=task_queue)
            await eventually(lambda: _started_gate(key), timeout=30, what="the gate activity started")
            await handle.signal(Waiter.poke, 2)

            async def two_tasks() -> bool:
                return len(_of(_history(server, wid, str(handle.run_id)), "WorkflowTaskCompleted")) >= 2

            await eventually(two_tasks, timeout=30, what="the signal's workflow task completed")
        old_run = str(handle.run_id)
        new_run = await handle.reset(reset_type="LastWorkflowTask", reason="crash test")
        server.kill()  # SIGKILL, right after the reset's answer
        server.start()

        old = _describe(server, wid, old_run)
        assert old["execution"]["status"] == "TERMINATED" and old["reset_to"]["run_id"] == new_run
        new = _describe(server, wid, new_run)
        assert new["execution"]["status"] == "RUNNING" and new["reset_from"]["run_id"] == old_run
        assert [a["activity_type"] for a in new["pending_activities"]] == ["ResetGate"]
        assert len(new["pending_timers"]) == 1
        assert _describe(server, wid)["execution"]["run_id"] == new_run

        # Re-armed at start-up: a worker gets the activity, and the new run completes.
        OPEN.add(key)
        async with (
            await Client.connect(server.address) as client,
            running_worker(client, task_queue, workflows=[Waiter], activities=[gate]),
        ):
            again = client.get_workflow_handle(wid, run_id=new_run)
            assert await asyncio.wait_for(again.result(), 60) == {"gate": "opened", "pokes": 2}
        assert "Traceback" not in server.log()


def _reset_in_the_ui(server: ServerProcess, workflow_id: str, run_id: str) -> str:
    """Reset the run to its first workflow task from its run page; returns the new run's id (the page goes there)."""
    from playwright.sync_api import expect

    from support import chromium

    with chromium() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.ui_url}/namespaces/default/workflows/{workflow_id}/{run_id}")
        expect(page.locator(".run-status")).to_contain_text("COMPLETED", timeout=10_000)
        page.locator(".run-manage [data-action=reset]").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("stays as it is")  # closed: the dialog says it is not terminated
        dialog.get_by_role("button", name="Keep it").click()
        expect(dialog).to_have_count(0)

        # An event that is no workflow task: the server's answer is shown, the dialog stays open.
        page.locator(".run-manage [data-action=reset]").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("spinbutton").fill("1")
        dialog.get_by_role("button", name="Reset run").click()
        expect(dialog.locator(".form-error")).to_contain_text("WorkflowExecutionStarted", timeout=10_000)
        dialog.get_by_label("the first workflow task").check()
        dialog.get_by_role("textbox").fill("from the UI")
        dialog.get_by_role("button", name="Reset run").click()
        expect(page.locator(".toast")).to_contain_text("new run", timeout=10_000)
        page.wait_for_url(lambda url: run_id not in url, timeout=10_000)
        new_run = page.url.rstrip("/").rsplit("/", 1)[-1]
        # The new run's page links the run it was made from, and that one's links back to it.
        expect(page.locator("[data-reset=from]")).to_have_text(run_id, timeout=10_000)
        page.locator("[data-reset=from]").click()
        expect(page.locator("[data-reset=to]")).to_have_text(new_run, timeout=10_000)
        assert not errors, errors
        return new_run


@pytest.mark.slow
async def test_the_run_page_resets_a_run_after_a_confirmation(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    key = new_id()
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[two_steps], activities=[step]):
        handle = await client.start_workflow(two_steps, key, id=wid, task_queue=task_queue)
        await asyncio.wait_for(handle.result(), 30)
        new_run = await asyncio.to_thread(_reset_in_the_ui, server, wid, str(handle.run_id))
        again = client.get_workflow_handle(wid, run_id=new_run)
        assert await asyncio.wait_for(again.result(), 30) == [f"{key}:3", f"{key}:4"]
    assert _describe(server, wid, new_run)["reset_from"]["reason"] == "from the UI"
