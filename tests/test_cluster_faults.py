"""Faults of a cluster on PostgreSQL, as real processes: several servers on one database, and the database
itself restarted.

1. Three servers on one database (one active, two ``--standby``), two workers given all three addresses, a
   batch of small order workflows (tests/workers/cluster_worker.py: reserve, charge, ship; an exact result
   per order). The active server is SIGKILLed mid-run, then the one that took over; each killed server is
   started again as a standby. Every workflow finishes with its exact result, and its history holds each
   step once: three activities scheduled, each completed exactly once.
2. PostgreSQL restarted (``pg_ctl restart``) while a server and a worker run workflows and a client keeps
   starting more: the server waits for the database and carries on; every start it acknowledged finishes.

MAINSPRING_CLUSTER_ORDERS sets the batch of test 1 (2,000 by default); each test prints its drain times
(``pytest -s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mainspring import Client, MainspringError, WorkflowStatus
from pgserver import PostgresCluster, cluster
from support import WORKERS, ServerProcess, WorkerProcess, running, wait_until

pytestmark = [pytest.mark.slow]

WORKER = WORKERS / "cluster_worker.py"
QUEUE = "cluster-orders"
STEPS = ["reserve", "charge", "ship"]
#: The batch of the three-server test (about 45 s for 2,000 on a 2-core machine; MAINSPRING_CLUSTER_ORDERS
#: sets another, e.g. fewer on a slower one).
ORDERS = int(os.environ.get("MAINSPRING_CLUSTER_ORDERS", "2000"))


def expected(n: int) -> dict[str, Any]:
    """What ``cluster_order`` returns for order ``n`` (tests/workers/cluster_worker.py)."""
    return {"n": n, "reserved": n % 7 + 1, "charged": n * 3 + 11, "shipped": f"parcel-{n:05d}"}


def order_id(prefix: str, n: int) -> str:
    return f"{prefix}-{n:05d}"


async def start_orders(client: Client, prefix: str, numbers: Iterable[int], *, at_once: int = 100) -> None:
    nums = list(numbers)
    for i in range(0, len(nums), at_once):
        await asyncio.gather(
            *(
                client.start_workflow("cluster_order", {"n": n}, id=order_id(prefix, n), task_queue=QUEUE)
                for n in nums[i : i + at_once]
            )
        )


async def running_count(client: Client, prefix: str) -> int:
    """How many of the batch still run (one page: the batch is under 1,000 runs at a time here, or we only
    need to know whether any is left)."""
    page = await client.list_workflows(status=WorkflowStatus.RUNNING, workflow_id_prefix=prefix, limit=1000)
    return len(page.executions)


async def drain(client: Client, prefix: str, timeout: float) -> None:
    """Wait until none of the batch runs, riding out servers that die and take over meanwhile."""
    deadline = time.monotonic() + timeout
    left: int | str = "?"
    while time.monotonic() < deadline:
        with contextlib.suppress(MainspringError):
            left = await running_count(client, prefix)
            if left == 0:
                return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{left} workflows of {prefix} still running after {timeout}s")


async def check_orders(client: Client, prefix: str, numbers: Iterable[int]) -> None:
    """Each order completed with its exact result; its history holds each step once: three activities
    scheduled (reserve, charge, ship, in order), each closed once and by ActivityTaskCompleted."""
    nums = list(numbers)
    ids = {order_id(prefix, n) for n in nums}
    listed = {e.id: e.status async for e in client.list_workflows(workflow_id_prefix=prefix, limit=len(nums) + 100)}
    assert set(listed) == ids, f"lost: {sorted(ids - set(listed))[:10]}; unexpected: {sorted(set(listed) - ids)[:10]}"
    not_done = {i: s for i, s in listed.items() if s is not WorkflowStatus.COMPLETED}
    assert not not_done, f"{len(not_done)} did not complete: {dict(list(not_done.items())[:10])}"

    async def check(n: int) -> None:
        handle = client.get_workflow_handle(order_id(prefix, n))
        d = await handle.describe()
        assert d.result == expected(n), f"order {n}: {d.result}"
        events = await handle.fetch_history()
        types = Counter(e["event_type"] for e in events)
        assert types["WorkflowExecutionStarted"] == 1 and types["WorkflowExecutionCompleted"] == 1, (n, types)
        scheduled = [e for e in events if e["event_type"] == "ActivityTaskScheduled"]
        assert [e["attributes"]["activity_type"] for e in scheduled] == STEPS, (n, types)
        closed = Counter(
            (e["event_type"], e["attributes"]["scheduled_event_id"])
            for e in events
            if e["event_type"].startswith("ActivityTask") and "scheduled_event_id" in e["attributes"]
            if e["event_type"] != "ActivityTaskStarted"
        )
        assert closed == Counter(("ActivityTaskCompleted", e["event_id"]) for e in scheduled), (n, closed)

    for i in range(0, len(nums), 50):
        await asyncio.gather(*(check(n) for n in nums[i : i + 50]))


def active_of(servers: Iterable[ServerProcess], timeout: float) -> ServerProcess:
    """The one server that answers (a standby listens only once it holds the store)."""
    found: ServerProcess = wait_until(
        lambda: next((s for s in servers if s.proc is not None and s.proc.poll() is None and s.healthy()), None),
        timeout=timeout,
        interval=0.1,
        what="a standby to take over",
    )
    return found


def steps_done(log: Path) -> int:
    try:
        return log.read_text().count("\n")
    except FileNotFoundError:
        return 0


@pytest.mark.timeout(300)
async def test_three_servers_two_killed_in_turn_every_order_finishes_once(tmp_path: Path, postgres_url: str) -> None:
    a, b, c = (
        ServerProcess(postgres_url, extra_args=extra, log_path=tmp_path / f"{name}.log")
        for name, extra in (("a", []), ("b", ["--standby"]), ("c", ["--standby"]))
    )
    servers = [a, b, c]
    addresses = ",".join(s.address for s in servers)
    steps = tmp_path / "steps.log"
    workers = [
        WorkerProcess(WORKER, addresses, env={"CLUSTER_LOG": str(steps)}, log_path=tmp_path / f"w{i}.log")
        for i in (1, 2)
    ]
    numbers = range(ORDERS)
    with running(*servers, *workers):
        a.start()
        b.launch()
        c.launch()
        wait_until(lambda: "standby" in b.log() and "standby" in c.log(), timeout=30, what="b and c to stand by")
        for w in workers:
            w.start()
        async with await Client.connect([s.address for s in servers], timeout=60) as client:
            t0 = time.monotonic()
            await start_orders(client, "co", numbers)
            started = time.monotonic() - t0
            total_steps = len(STEPS) * ORDERS

            wait_until(lambda: steps_done(steps) >= total_steps // 4, timeout=120, what="a quarter of the steps")
            a.kill()
            t_kill = time.monotonic()
            first = active_of([b, c], timeout=30)
            took_over = [time.monotonic() - t_kill]
            a.extra_args = ["--standby"]
            a.launch()

            at = steps_done(steps)
            wait_until(
                lambda: steps_done(steps) >= min(at + total_steps // 4, total_steps * 3 // 4),
                timeout=120,
                what="another quarter of the steps on the new active server",
            )
            first.kill()
            t_kill = time.monotonic()
            second = active_of([s for s in servers if s is not first], timeout=30)
            took_over.append(time.monotonic() - t_kill)
            first.extra_args = ["--standby"]
            first.launch()

            await drain(client, "co", timeout=300)
            drained = time.monotonic() - t0
            print(
                f"\n{ORDERS} orders on 3 servers (2 killed): started in {started:.1f}s, drained in {drained:.1f}s "
                f"from the first start ({ORDERS / drained:.0f}/s); take-overs in "
                f"{', '.join(f'{t:.1f}s' for t in took_over)}; {steps_done(steps) - total_steps} steps ran again"
            )
            await check_orders(client, "co", numbers)
            for w in workers:
                assert w.proc is not None and w.proc.poll() is None, f"a worker exited:\n{w.log()}"
            assert second.proc is not None and second.proc.poll() is None
            assert sum(1 for s in servers if s.healthy()) == 1, "more than one server answers"


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this test's own: it is restarted, and the session's cluster must not be."""
    with cluster() as pg:
        yield pg


@pytest.mark.timeout(240)
async def test_postgres_restarted_mid_run_the_server_waits_and_nothing_acknowledged_is_lost(
    tmp_path: Path, own_cluster: PostgresCluster
) -> None:
    srv = ServerProcess(own_cluster.new_database(), log_path=tmp_path / "server.log")
    steps = tmp_path / "steps.log"
    worker = WorkerProcess(WORKER, srv.address, env={"CLUSTER_LOG": str(steps)}, log_path=tmp_path / "w.log")
    acknowledged: list[int] = []
    refused: list[str] = []
    with running(srv, worker):
        srv.start()
        worker.start()
        async with await Client.connect(srv.address, timeout=60) as client:
            stop = asyncio.Event()

            async def keep_starting() -> None:
                n = 0
                while not stop.is_set():
                    batch = list(range(n, n + 10))
                    n += 10
                    outcomes = await asyncio.gather(
                        *(
                            client.start_workflow("cluster_order", {"n": i}, id=order_id("pr", i), task_queue=QUEUE)
                            for i in batch
                        ),
                        return_exceptions=True,
                    )
                    for i, outcome in zip(batch, outcomes, strict=True):
                        if isinstance(outcome, BaseException):
                            refused.append(f"{i}: {outcome}")
                        else:
                            acknowledged.append(i)
                    await asyncio.sleep(0.05)

            starter = asyncio.create_task(keep_starting())
            await asyncio.sleep(0.1)
            await asyncio.to_thread(wait_until, lambda: len(acknowledged) >= 100, 60, 0.1, "100 starts")
            t0 = time.monotonic()
            await asyncio.to_thread(own_cluster.restart)
            restarted = time.monotonic() - t0
            at_restart = len(acknowledged)
            # Starts keep being acknowledged after the restart: the server came back to the database.
            await asyncio.to_thread(
                wait_until, lambda: len(acknowledged) >= at_restart + 100, 60, 0.1, "100 starts after the restart"
            )
            stop.set()
            await starter
            t1 = time.monotonic()
            await drain(client, "pr", timeout=120)
            print(
                f"\nPostgreSQL restarted in {restarted:.1f}s; {len(acknowledged)} starts acknowledged, "
                f"{len(refused)} refused; drained {time.monotonic() - t1:.1f}s after the last start"
            )
            assert srv.proc is not None and srv.proc.poll() is None, f"the server exited:\n{srv.log()}"
            # An unacknowledged start may have been written all the same (the answer was lost): it must
            # finish too, so check every run that exists, and that each acknowledged one is among them.
            listed = {e.id async for e in client.list_workflows(workflow_id_prefix="pr-", limit=100_000)}
            assert {order_id("pr", i) for i in acknowledged} <= listed
            await check_orders(client, "pr", sorted(int(i.split("-")[1]) for i in listed))
        assert srv.stop() == 0, srv.log()
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()
    assert "lost the store" not in srv.log(), srv.log()[-3000:]
