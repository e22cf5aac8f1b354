"""Draining a server (``mainspring cluster drain NODE``): the server an operator drains finishes what it was
doing, gives the store back and stops (exit 0); its standby takes over at once; clients and workers with
both addresses carry on, and no order is lost or run twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from mainspring import Client
from support import EXAMPLES, ServerProcess, WorkerProcess, run_cli, running, wait_until
from test_crash import check_order_history, expected_order, read_steps, start_orders, wait_all_closed

ORDER_WORKER = EXAMPLES / "order" / "worker.py"


@pytest.mark.timeout(180)
async def test_a_drained_server_hands_the_store_to_its_standby(tmp_path: Path, postgres_url: str) -> None:
    a = ServerProcess(postgres_url, log_path=tmp_path / "a.log")
    b = ServerProcess(postgres_url, extra_args=["--standby"], log_path=tmp_path / "b.log")
    steps = tmp_path / "steps.log"
    worker = WorkerProcess(
        ORDER_WORKER,
        f"{a.address},{b.address}",
        env={"ORDER_LOG": str(steps), "ORDER_STEP_SECONDS": "0.2"},
        log_path=tmp_path / "w.log",
    )
    with running(a, b, worker):
        a.start()
        worker.start()
        b_up = asyncio.ensure_future(asyncio.to_thread(b.start, 120))
        async with await Client.connect([a.address, b.address], timeout=30) as client:
            ids = [f"drain-order-{i:02d}" for i in range(12)]
            await start_orders(client, ids)
            wait_until(lambda: len(read_steps(steps)) >= 12, timeout=40, what="12 order steps")
            r = run_cli("cluster", "drain", "--db", postgres_url, "no-such-server")
            assert r.returncode == 1 and "no server named 'no-such-server'" in r.stderr, r.stderr
            assert a.address in r.stderr  # the servers it has are listed
            r = run_cli("cluster", "drain", "--db", postgres_url, a.address)
            assert r.returncode == 0 and "Draining" in r.stdout, r.stderr
            t0 = time.monotonic()
            wait_until(lambda: a.proc is not None and a.proc.poll() is not None, timeout=30, what="A to stop")
            assert a.proc is not None and a.proc.returncode == 0, a.log()
            assert "drained" in a.log()
            await asyncio.wait_for(b_up, 30)
            handed_over = time.monotonic() - t0
            # Started after the drain: they go to B, through the same client.
            more = [f"drain-order-late-{i}" for i in range(3)]
            await start_orders(client, more)
            results = await wait_all_closed(client, ids + more, timeout=90)
            assert results == {o: expected_order(o) for o in ids + more}
            for o in ids + more:
                await check_order_history(client, o)
    print(f"B took the store over {handed_over:.1f} s after the drain")
