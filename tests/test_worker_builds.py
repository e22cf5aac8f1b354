"""Worker builds against a real server: ``Worker(build_id=..., versioning=...)``.

Two builds of a workflow whose code is not replay-compatible (no patch): runs started on build 1.0 stay
there when pinned while new runs go to 2.0; an AUTO_UPGRADE run moves to the newer build; a pinned run
whose build has no worker left says so in describe; the task queue lists the builds polling it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from inprocess import events_of, eventually, running_worker, serving
from mainspring import Client, VersioningBehavior, Worker, activity, workflow
from support import ServerProcess, run_cli

NAME = "BuiltGreeting"
STC = timedelta(seconds=10)


@activity.defn
async def old_greeting(name: str) -> str:
    return f"Hello, {name}"


@activity.defn
async def new_greeting(name: str) -> str:
    return f"Bonjour, {name}"


# One activity name, a different function in each build: which ran says which build's worker took it.
@activity.defn(name="tail")
async def tail_v1() -> str:
    return "tail of 1.0"


@activity.defn(name="tail")
async def tail_v2() -> str:
    return "tail of 2.0"


async def _tail(ctx: workflow.Context) -> str:
    return await ctx.execute_activity("tail", result_type=str, start_to_close_timeout=STC)


async def _wait_go(ctx: workflow.Context) -> None:
    go: list[bool] = []
    ctx.set_signal_handler("go", lambda: go.append(True))
    await ctx.wait_condition(lambda: bool(go))


@workflow.defn(name=NAME)
async def v1(ctx: workflow.Context, name: str) -> str:
    greeting = await ctx.execute_activity(old_greeting, name, start_to_close_timeout=STC)
    await _wait_go(ctx)
    return f"{greeting} (v1, {await _tail(ctx)})"


@workflow.defn(name=NAME)
async def v2(ctx: workflow.Context, name: str) -> str:
    # Not replay-compatible with v1: a v1 run replayed here would fail with non-determinism.
    await ctx.sleep(timedelta(milliseconds=1))
    greeting = await ctx.execute_activity(new_greeting, name, start_to_close_timeout=STC)
    await _wait_go(ctx)
    return f"{greeting} (v2, {await _tail(ctx)})"


@workflow.defn(name=NAME, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
async def upgradable(ctx: workflow.Context, name: str) -> str:
    await _wait_go(ctx)
    return f"{name} finished on {ctx.info.workflow_type}"


ACTIVITIES_1 = [old_greeting, new_greeting, tail_v1]
ACTIVITIES_2 = [old_greeting, new_greeting, tail_v2]


PINNED = VersioningBehavior.PINNED


def new_id() -> str:
    return f"build-{uuid.uuid4().hex[:10]}"


async def _waiting(client: Client, wid: str) -> None:
    handle = client.get_workflow_handle(wid)

    async def waiting() -> bool:
        types = [e["event_type"] for e in await handle.fetch_history()]
        return "ActivityTaskCompleted" in types and types[-1] == "WorkflowTaskCompleted"

    await eventually(waiting, timeout=30, what=f"{wid} waiting for its signal")


async def _builds_of(client: Client, wid: str) -> list[str]:
    done = await events_of(client.get_workflow_handle(wid), "WorkflowTaskCompleted")
    return [e["attributes"].get("worker_version", {}).get("build_id") for e in done]


def _queue(server: ServerProcess, task_queue: str) -> dict[str, Any]:
    r = httpx.get(server.url + "/api/v1/namespaces/default/task-queues", params={"name": task_queue})
    assert r.status_code == 200, r.text
    queues: list[dict[str, Any]] = r.json()["task_queues"]
    assert len(queues) == 1, queues
    return queues[0]


async def test_pinned_runs_stay_on_their_build_and_new_runs_go_to_the_new_one(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    pinned = PINNED
    old = [new_id() for _ in range(2)]
    new = [new_id() for _ in range(2)]
    async with running_worker(
        client, task_queue, workflows=[v1], activities=ACTIVITIES_1, build_id="1.0", versioning=pinned
    ):
        for wid in old:
            await client.start_workflow(NAME, "old", id=wid, task_queue=task_queue)
            await _waiting(client, wid)
        # 2.0 is deployed beside 1.0: both poll the queue; new runs go to 2.0 only.
        async with running_worker(
            client, task_queue, workflows=[v2], activities=ACTIVITIES_2, build_id="2.0", versioning=pinned
        ):
            q = _queue(server, task_queue)
            assert [(b["build_id"], b["workers"], b["current"]) for b in q["builds"]] == [
                ("1.0", 1, False),
                ("2.0", 1, True),
            ]
            assert sorted(w["build_id"] for w in q["workers"]) == ["1.0", "2.0"]
            r = await asyncio.to_thread(run_cli, "task-queue", "describe", "-t", task_queue, address=server.address)
            assert r.returncode == 0, r.stderr
            lines = r.stdout.splitlines()
            assert any("2.0" in line and "new runs go here" in line for line in lines), r.stdout
            assert any("1.0" in line and "pinned to it only" in line for line in lines), r.stdout
            for wid in new:
                await client.start_workflow(NAME, "new", id=wid, task_queue=task_queue)
                await _waiting(client, wid)
            for wid in old + new:
                await client.get_workflow_handle(wid).signal("go")
            results = [await client.get_workflow_handle(wid, result_type=str).result(timeout=30) for wid in old + new]
    assert results == ["Hello, old (v1, tail of 1.0)"] * 2 + ["Bonjour, new (v2, tail of 2.0)"] * 2
    for wid, build in [(w, "1.0") for w in old] + [(w, "2.0") for w in new]:
        d = await client.get_workflow_handle(wid).describe()
        assert (d.build_id, d.current_build_id, d.versioning_behavior) == (build, build, pinned)
        assert set(await _builds_of(client, wid)) == {build}
    r = await asyncio.to_thread(run_cli, "workflow", "describe", "-w", old[0], address=server.address)
    assert "Build       1.0 (PINNED)" in r.stdout, r.stdout
    r = await asyncio.to_thread(run_cli, "task-queue", "describe", "-t", "nobody-polls-this", address=server.address)
    assert r.returncode == 3 and "no worker polls task queue 'nobody-polls-this'" in r.stderr, r.stderr


async def test_a_pinned_run_whose_build_is_gone_says_so_and_goes_on_when_it_returns(
    client: Client, task_queue: str
) -> None:
    wid = new_id()
    async with running_worker(
        client, task_queue, workflows=[v1], activities=ACTIVITIES_1, build_id="1.0", versioning=PINNED
    ):
        await client.start_workflow(NAME, "old", id=wid, task_queue=task_queue)
        await _waiting(client, wid)
    handle = client.get_workflow_handle(wid, result_type=str)
    async with running_worker(client, task_queue, workflows=[v2], activities=ACTIVITIES_2, build_id="2.0"):
        await handle.signal("go")

        async def hint() -> str | None:
            wt = (await handle.describe()).pending_workflow_task
            return wt.get("hint") if wt else None

        text = await eventually(hint, timeout=10, what="the pinned run's hint")
        assert "pinned to build '1.0'" in text and "build_id='1.0'" in text and "2.0" in text, text
        # Build 1.0 comes back: the run finishes there, on its own code; 2.0 stays the current build.
        # (Pinned again: each workflow task records the behavior its worker declares for the type.)
        async with running_worker(
            client, task_queue, workflows=[v1], activities=ACTIVITIES_1, build_id="1.0", versioning=PINNED
        ):
            assert await handle.result(timeout=30) == "Hello, old (v1, tail of 1.0)"
            fresh = new_id()
            await client.start_workflow(NAME, "fresh", id=fresh, task_queue=task_queue)
            await _waiting(client, fresh)
            assert (await client.get_workflow_handle(fresh).describe()).build_id == "2.0"
            await client.get_workflow_handle(fresh).signal("go")
            fresh_result = await client.get_workflow_handle(fresh, result_type=str).result(timeout=30)
            assert fresh_result == "Bonjour, fresh (v2, tail of 2.0)"


async def test_an_auto_upgrade_run_moves_to_the_newer_build(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[upgradable], build_id="1.0"):
        await client.start_workflow(NAME, "run", id=wid, task_queue=task_queue)

        async def started() -> bool:
            return bool(await _builds_of(client, wid))

        await eventually(started, what="the first workflow task")
        async with running_worker(client, task_queue, workflows=[upgradable], build_id="2.0"):
            handle = client.get_workflow_handle(wid, result_type=str)
            await handle.signal("go")
            assert await handle.result(timeout=30) == f"run finished on {NAME}"
    d = await client.get_workflow_handle(wid).describe()
    assert (d.build_id, d.current_build_id, d.versioning_behavior) == ("1.0", "2.0", VersioningBehavior.AUTO_UPGRADE)
    assert (await _builds_of(client, wid))[0] == "1.0" and (await _builds_of(client, wid))[-1] == "2.0"


async def test_unversioned_workers_and_runs_are_as_before(client: Client, task_queue: str) -> None:
    wid = new_id()
    async with running_worker(client, task_queue, workflows=[upgradable]):
        handle = await client.start_workflow(NAME, "plain", id=wid, task_queue=task_queue)
        await handle.signal("go")
        assert await handle.result(timeout=30) == f"plain finished on {NAME}"
    d = await handle.describe()
    assert (d.build_id, d.current_build_id, d.versioning_behavior) == (None, None, None)
    assert set(await _builds_of(client, wid)) == {None}


async def test_bad_build_options_are_refused(client: Client) -> None:
    with pytest.raises(ValueError, match="build id"):
        Worker(client, task_queue="q", workflows=[v1], build_id="")
    with pytest.raises(ValueError, match="needs a build_id"):
        Worker(client, task_queue="q", workflows=[v1], versioning=VersioningBehavior.PINNED)


async def test_a_pinned_run_stays_pinned_across_a_server_crash(tmp_path: Path, task_queue: str) -> None:
    wid = new_id()
    async with serving(tmp_path / "builds.db") as (server, client):
        async with running_worker(
            client, task_queue, workflows=[v1], activities=ACTIVITIES_1, build_id="1.0", versioning=PINNED
        ):
            await client.start_workflow(NAME, "old", id=wid, task_queue=task_queue)
            await _waiting(client, wid)
        server.restart()  # SIGKILL, then start again on the same file and port
        # Only 2.0 polls at first: the run, pinned to 1.0 in its stored state, waits and says why.
        async with (
            await Client.connect(server.address) as client2,
            running_worker(client2, task_queue, workflows=[v2], activities=ACTIVITIES_2, build_id="2.0"),
        ):
            handle = client2.get_workflow_handle(wid, result_type=str)
            await handle.signal("go")

            async def hint() -> str | None:
                wt = (await handle.describe()).pending_workflow_task
                return wt.get("hint") if wt else None

            assert "pinned to build '1.0'" in await eventually(hint, what="the pinned run's hint")
            async with running_worker(
                client2, task_queue, workflows=[v1], activities=ACTIVITIES_1, build_id="1.0", versioning=PINNED
            ):
                assert await handle.result(timeout=30) == "Hello, old (v1, tail of 1.0)"


def test_a_bad_build_id_at_registration_is_a_400_naming_the_field(server: ServerProcess) -> None:
    url = server.url + "/api/v1/namespaces/default/workers"
    for bad in ("", "a\nb", "x" * 5000):
        r = httpx.post(url, json={"identity": "w", "task_queue": "q", "build_id": bad})
        assert r.status_code == 400, r.text
        assert "build_id" in r.text and r.json()["code"], r.text
    r = httpx.post(url, json={"identity": "w", "task_queue": "q", "build_id": "1.0", "started_at": True})
    assert r.status_code == 400 and "started_at" in r.text, r.text
    r = httpx.post(
        url,
        json={
            "identity": "w",
            "task_queue": "q",
            "workflow_types": [{"name": "W", "versioning_behavior": "SOMETIMES"}],
        },
    )
    assert r.status_code == 400 and "versioning_behavior" in r.text, r.text


def test_which_build_is_newest_survives_a_server_restart(tmp_path: Path) -> None:
    """Build 2.0's worker started after 1.0's, so 2.0 takes the new runs. The server is killed and started
    again; 1.0's worker, restarted meanwhile, reconnects with a start time later than 2.0's: 2.0 must stay
    the newest, as the store remembers when each build was first seen."""
    server = ServerProcess(tmp_path / "order.db").start()
    url = server.url + "/api/v1/namespaces/default/workers"
    t0 = time.time() - 600

    def register(build: str, started_at: float) -> None:
        body = {"identity": f"worker-{build}", "task_queue": "ordered", "build_id": build, "started_at": started_at}
        r = httpx.post(url, json=body, timeout=10)
        assert r.status_code in (200, 201), r.text

    def current() -> list[str]:
        return [b["build_id"] for b in _queue(server, "ordered")["builds"] if b["current"]]

    try:
        register("1.0", t0)
        register("2.0", t0 + 10)
        assert current() == ["2.0"]
        server.restart()  # SIGKILL, then start again on the same store
        register("1.0", t0 + 300)  # its worker restarted, after 2.0's started
        register("2.0", t0 + 10)  # 2.0's worker, running all along, reconnects
        assert current() == ["2.0"]
        register("3.0", t0 + 400)  # a build first seen now is the newest
        assert current() == ["3.0"]
    finally:
        server.stop()
