"""The server's execution cache under bursts: eviction stays O(1) however many cached runs are pinned.

In a burst of thousands of workflows whose clients await their results, most cached runs are pinned
(a result waiter, a task out, a transition under way). The cache used to rescan those on every load
(``excess * 4`` entries, growing as pinned runs pushed it over its size), so the server's loop spent
its time trimming. These tests count the entries looked at, not time (the machine is noisy); the
last one runs such a burst through a real server with a tiny cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from inprocess import running_worker
from mainspring import Client, activity, workflow
from mainspring.api.enums import WorkflowStatus
from mainspring.server import ServerConfig
from mainspring.server._core import EngineCore
from mainspring.server._execution import Execution
from mainspring.server._state import ExecutionState
from mainspring.storage import ExecutionRecord, SQLiteStore
from support import ServerProcess


def _execution(run_id: str) -> Execution:
    rec = ExecutionRecord("default", f"wf-{run_id}", run_id, "T", "tq", WorkflowStatus.RUNNING, 0.0, None, 2, 1)
    return Execution(rec, ExecutionState())


@pytest.fixture
def core(tmp_path: Path) -> Iterator[EngineCore]:
    yield EngineCore(SQLiteStore(str(tmp_path / "unused.db")), ServerConfig(execution_cache_size=100))


def _count_looks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    looks = [0]
    pinned = Execution.pinned

    def counting(self: Execution) -> bool:
        looks[0] += 1
        return pinned(self)

    monkeypatch.setattr(Execution, "pinned", counting)
    return looks


async def test_each_load_looks_at_a_bounded_number_of_pinned_runs(
    core: EngineCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 5,000 runs awaited by clients fill the front of the cache, far past its size of 100.
    for i in range(5000):
        run_id = f"pinned-{i}"
        core._cache[run_id] = _execution(run_id)
        core._result_waiters[run_id] = [asyncio.get_running_loop().create_future()]
    looks = _count_looks(monkeypatch)
    for i in range(2000):
        run_id = f"new-{i}"
        core._cache[run_id] = _execution(run_id)
        core._trim_cache()
    # Each load looks at a few entries (the old scan looked at 4 x the excess: millions in all).
    assert looks[0] <= 2000 * 8, looks[0]
    assert all(f"pinned-{i}" in core._cache for i in range(5000)), "a pinned run was evicted"
    # Unpinned runs are evicted as they are met among the pinned ones: a few are still cached (about
    # one per _TRIM_LOOK - 1 pinned runs), not the 2,000 an eviction that gave up would leave.
    assert len(core._cache) <= 5000 + 5000 // 4, len(core._cache)


async def test_runs_that_come_free_are_evicted_back_to_the_cache_size(core: EngineCore) -> None:
    for i in range(1000):
        run_id = f"pinned-{i}"
        core._cache[run_id] = _execution(run_id)
        core._result_waiters[run_id] = [asyncio.get_running_loop().create_future()]
    core._result_waiters.clear()  # their clients got their results
    for i in range(1000):
        run_id = f"new-{i}"
        core._cache[run_id] = _execution(run_id)
        core._trim_cache()
    assert len(core._cache) <= core.config.execution_cache_size


def test_pinned_does_not_scan_pending_activities() -> None:
    """``pinned`` counts started activities instead of looking at each (a fan-out has thousands)."""
    ex = _execution("r")
    assert not ex.pinned()
    ex.state.started_activities = 1
    assert ex.pinned()


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
async def greet_wf(ctx: workflow.Context, name: str) -> str:
    from datetime import timedelta

    return await ctx.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=30))


async def test_a_burst_awaited_by_its_clients_completes_with_a_tiny_cache(tmp_path: Path, task_queue: str) -> None:
    """Hundreds of runs awaited at once on a server that caches 10: each completes, none is lost."""
    srv = ServerProcess(tmp_path / "m.db", extra_args=["--execution-cache-size", "10"]).start()
    tq = task_queue
    try:
        async with (
            await Client.connect(srv.address) as client,
            running_worker(client, tq, workflows=[greet_wf], activities=[greet]),
        ):
            for batch in range(2):
                handles = []
                for lo in range(0, 300, 50):
                    handles += await asyncio.gather(
                        *(
                            client.start_workflow(greet_wf, f"{batch}-{i}", id=f"b{batch}-{i}", task_queue=tq)
                            for i in range(lo, lo + 50)
                        )
                    )
                results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=120)
                assert results == [f"Hello, {batch}-{i}!" for i in range(300)]
    finally:
        srv.stop()
    assert "Traceback" not in srv.log()
