"""Signals and updates while the server's disk is full: a signal answered 200 is recorded and delivered once, a
signal refused with 503 leaves nothing, an update sent again by its id after the space comes back is applied
once; all of it the same after a SIGKILL and restart.

The server is a real process on a SQLite file on a small tmpfs the test fills (mounting needs root; the test
skips where it is not allowed); the worker runs in the test's own process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from inprocess import events_of, running_worker
from mainspring import Client, workflow
from support import ServerProcess, fill, running, tmpfs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(170)]

NS = "/api/v1/namespaces/default"
PAD = "p" * 2000


@workflow.defn(name="Collector")
class Collector:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, ctx: workflow.Context) -> list[str]:
        await ctx.wait_condition(lambda: self.done)
        return self.seen

    @workflow.signal
    def add(self, item: str) -> None:
        self.seen.append(item)

    @workflow.update
    def add_checked(self, item: str) -> int:
        self.seen.append(item)
        return len(self.seen)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def _signal(http: httpx.AsyncClient, wid: str, item: str) -> int:
    body = {"workflow_id": wid, "signal_name": "add", "input": item, "request_id": item[:40]}
    return (await http.post(NS + "/workflows/signal", json=body)).status_code


async def test_signals_and_updates_under_a_full_disk_lose_nothing_acknowledged(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "16m") as fs:
        server = ServerProcess(fs / "m.db", log_path=tmp_path / "server.log", extra_args=["--headless"])
        with running(server):
            server.start()
            tq = f"tq-{uuid.uuid4().hex[:8]}"
            async with (
                await Client.connect(server.address) as client,
                httpx.AsyncClient(base_url=server.url, timeout=60) as http,
                running_worker(client, tq, workflows=[Collector]),
            ):
                handle = await client.start_workflow(Collector.run, id=f"wf-{uuid.uuid4().hex[:8]}", task_queue=tq)
                wid = handle.workflow_id
                outcomes: dict[str, int] = {}
                for i in range(5):
                    outcomes[f"before-{i}-{PAD}"] = await _signal(http, wid, f"before-{i}-{PAD}")
                filler = fill(fs)
                # Signals while the disk is full (the database has some room left at first: they go on
                # succeeding for a while, then fail with 503), and updates, which the SDK sends again by
                # their id until they complete.
                updates = [
                    asyncio.create_task(handle.execute_update(Collector.add_checked, f"update-{i}", id=f"u-{i}"))
                    for i in range(3)
                ]
                full_since = time.monotonic()
                failing_since = None
                wave = 0
                while failing_since is None or time.monotonic() < failing_since + 3:
                    assert time.monotonic() - full_since < 40, (
                        f"the disk filled but no signal failed in 40 s: {Counter(outcomes.values())}"
                    )
                    items = [f"full-{wave}-{i}-{PAD}" for i in range(20)]
                    codes = await asyncio.gather(*(_signal(http, wid, item) for item in items))
                    outcomes |= dict(zip(items, codes, strict=True))
                    wave += 1
                    if failing_since is None and 503 in codes:
                        failing_since = time.monotonic()
                    await asyncio.sleep(0.2)
                filler.unlink()
                for attempt in range(40):
                    item = f"after-{attempt}"
                    outcomes[item] = await _signal(http, wid, item)
                    if outcomes[item] == 200:
                        break
                    await asyncio.sleep(0.5)
                else:
                    raise AssertionError("the server still refuses signals 20 s after the space came back")
                counted = await asyncio.wait_for(asyncio.gather(*updates), 60)
                await handle.signal(Collector.finish)
                seen = await asyncio.wait_for(handle.result(), 60)

            codes = Counter(outcomes.values())
            assert set(codes) <= {200, 503}, codes
            assert codes[503] > 0, "no signal failed: the disk never filled, nothing was proven"
            acknowledged = {item for item, code in outcomes.items() if code == 200}
            refused = {item for item, code in outcomes.items() if code != 200}
            # Every acknowledged signal reached the workflow once, no refused one did; each update once.
            delivered = Counter(s for s in seen if not s.startswith("update-"))
            assert set(delivered) == acknowledged and max(delivered.values()) == 1
            assert not refused & set(seen)
            assert sorted(s for s in seen if s.startswith("update-")) == ["update-0", "update-1", "update-2"]
            assert sorted(counted) == sorted({seen.index(f"update-{i}") + 1 for i in range(3)})

            async def recorded(client: Client) -> tuple[Counter[str], Counter[str]]:
                handle = client.get_workflow_handle(wid)
                signals = Counter(
                    e["attributes"]["input"] for e in await events_of(handle, "WorkflowExecutionSignaled")
                )
                accepted = Counter(
                    e["attributes"]["update_id"] for e in await events_of(handle, "WorkflowExecutionUpdateAccepted")
                )
                return signals, accepted

            async with await Client.connect(server.address) as before:
                signals, accepted = await recorded(before)
            assert set(signals) - {None} == acknowledged and max(signals.values()) == 1
            assert accepted == Counter({"u-0": 1, "u-1": 1, "u-2": 1})
            server.kill()
            server.start()
            async with await Client.connect(server.address) as again:
                assert await recorded(again) == (signals, accepted)
                assert await again.get_workflow_handle(wid).get_update_handle("u-1").result() == counted[1]
