"""Several servers on one PostgreSQL store. A standby answers every request with 503 and where the store is
held, and clients with both addresses go there. Draining a server (``mainspring cluster drain NODE``): it
finishes what it was doing, gives the store back and stops (exit 0); its standby takes over at once;
clients and workers with both addresses carry on, and no order is lost or run twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from mainspring import Client
from mainspring.errors import ServerUnavailableError
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


@pytest.mark.timeout(120)
async def test_a_standby_answers_where_the_store_is_held(tmp_path: Path, postgres_url: str) -> None:
    a = ServerProcess(postgres_url, log_path=tmp_path / "a.log")
    b = ServerProcess(postgres_url, extra_args=["--standby"], log_path=tmp_path / "b.log")
    worker = WorkerProcess(ORDER_WORKER, f"{b.address},{a.address}", log_path=tmp_path / "w.log")
    with running(a, b, worker):
        a.start()
        b_up = asyncio.ensure_future(asyncio.to_thread(b.start, 120))

        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(300):  # while B starts and finds the store held
                try:
                    r = await http.get(f"http://{b.address}/api/v1/namespaces/default/workflows")
                    if "mainspring-owner" in r.headers:  # (before it has seen the holder: "opening its store")
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            assert r.status_code == 503 and r.headers["mainspring-owner"] == a.address
            body = r.json()
            assert body["code"] == "standby" and a.address in body["message"]
            assert body["details"]["owner"] == a.address
            assert (await http.get(f"http://{b.address}/api/v1/health")).status_code == 503
        # Given only the standby, a client is told where to go; given both, it goes there.
        async with await Client.connect(b.address, timeout=5) as only_b:
            with pytest.raises(ServerUnavailableError, match=a.address.replace(".", r"\.")):
                await only_b.get_workflow_handle("nope").describe()
        cli = run_cli("workflow", "list", address=b.address)
        assert cli.returncode != 0 and a.address in cli.stderr and "Traceback" not in cli.stderr, cli.stderr
        worker.start()  # its first address is the standby's: it registers with A
        async with await Client.connect([b.address, a.address], timeout=30) as client:
            ids = [f"standby-order-{i}" for i in range(3)]
            await start_orders(client, ids)
            results = await wait_all_closed(client, ids, timeout=60)
            assert results == {o: expected_order(o) for o in ids}
            assert client.transport.address == a.address
        assert not b_up.done()
