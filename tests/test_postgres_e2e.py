"""Servers on PostgreSQL, as real processes: the order example end to end, a server SIGKILLed and started
again, two servers on one database (one active, one standby) with the active one paused past its lease
(SIGSTOP): the standby takes over and finishes every workflow, and the paused one, resumed, writes
nothing and stops. Bad database URLs at the CLI are one-line errors."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import pytest

from mainspring import Client
from pgserver import PostgresCluster
from support import EXAMPLES, ServerProcess, WorkerProcess, run_cli, running, store_sql, wait_until
from test_crash import check_order_history, expected_order, read_steps, start_orders, wait_all_closed

ORDER_WORKER = EXAMPLES / "order" / "worker.py"


@pytest.mark.timeout(120)
async def test_orders_on_postgres_survive_a_killed_server(tmp_path: Path, postgres_url: str) -> None:
    srv = ServerProcess(postgres_url, log_path=tmp_path / "server.log")
    steps = tmp_path / "steps.log"
    worker = WorkerProcess(
        ORDER_WORKER,
        srv.address,
        env={"ORDER_LOG": str(steps), "ORDER_STEP_SECONDS": "0.2"},
        log_path=tmp_path / "w.log",
    )
    with running(srv, worker):
        srv.start()
        assert "PostgreSQL at postgresql://" in srv.log()
        worker.start()
        async with await Client.connect(srv.address, timeout=30) as client:
            ids = [f"pg-order-{i}" for i in range(10)]
            await start_orders(client, ids)
            wait_until(lambda: len(read_steps(steps)) >= 10, timeout=40, what="10 order steps")
            srv.kill()
            srv.start(timeout=30)  # the same database: the lease of the killed process lapses first
            results = await wait_all_closed(client, ids, timeout=90)
            assert results == {o: expected_order(o) for o in ids}
            for o in ids:
                await check_order_history(client, o)


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_paused_server_is_fenced_and_its_standby_finishes_the_work(tmp_path: Path, postgres_url: str) -> None:
    a = ServerProcess(postgres_url, log_path=tmp_path / "a.log")
    b = ServerProcess(postgres_url, extra_args=["--standby"], log_path=tmp_path / "b.log")
    both = f"{a.address},{b.address}"
    steps = tmp_path / "steps.log"
    worker = WorkerProcess(
        ORDER_WORKER, both, env={"ORDER_LOG": str(steps), "ORDER_STEP_SECONDS": "0.3"}, log_path=tmp_path / "w.log"
    )
    with running(a, b, worker):
        a.start()
        worker.start()
        # B waits for the store: its ports refuse connections meanwhile, so everyone stays on A.
        b_up = asyncio.ensure_future(asyncio.to_thread(b.start, 120))
        async with await Client.connect([a.address, b.address], timeout=30) as client:
            ids = [f"ha-order-{i:02d}" for i in range(12)]
            await start_orders(client, ids)
            wait_until(lambda: len(read_steps(steps)) >= 12, timeout=40, what="12 order steps")
            assert not b_up.done()
            assert a.proc is not None
            a.proc.send_signal(signal.SIGSTOP)  # paused: no renewals, no writes, its sockets still open
            try:
                await asyncio.wait_for(b_up, 60)
                assert "standby" in b.log()
                # The worker leaves A by itself (its channel's pings go unanswered) and finishes on B; this
                # test's client asks B (a paused server's HTTP answers only time out).
                async with await Client.connect(b.address, timeout=30) as on_b:
                    results = await wait_all_closed(on_b, ids, timeout=90)
            finally:
                a.proc.send_signal(signal.SIGCONT)
            assert results == {o: expected_order(o) for o in ids}
        async with await Client.connect(b.address, timeout=30) as client:
            histories = {o: await client.get_workflow_handle(o).fetch_history() for o in ids}
            # A, resumed, finds its lease taken: it writes nothing and stops with an error.
            wait_until(lambda: a.proc is not None and a.proc.poll() is not None, timeout=30, what="A to stop")
            assert a.proc.returncode != 0
            assert "lost the store to another server" in a.log()
            for o in ids:
                await check_order_history(client, o)
                assert await client.get_workflow_handle(o).fetch_history() == histories[o]


def test_bad_database_urls_at_the_cli_are_one_line_errors(postgres_server: PostgresCluster, tmp_path: Path) -> None:
    role = f"pw_{uuid.uuid4().hex[:8]}"
    postgres_server.add_password_role(role, "right-one")
    host = f"127.0.0.1:{postgres_server.port}"
    for db, said in (
        (postgres_server.url("no_such_database"), "cannot connect to the database"),
        ("postgresql://postgres:hunter2@127.0.0.1:1/x", "cannot connect to the database"),
        (f"postgresql://{role}:hunter2@{host}/postgres", "password authentication failed"),
        (f"postgresql://nobody_{role}@{host}/postgres", "cannot connect to the database"),
        ("mysql://root@localhost/db", "unknown database URL scheme 'mysql'"),
    ):
        r = run_cli("server", "start-dev", "--headless", "--port", "0", "--db", db, timeout=60)
        assert r.returncode != 0, r.stdout
        lines = [line for line in r.stderr.strip().splitlines() if line.startswith("Error")]
        assert len(lines) == 1 and said in lines[0], r.stderr
        assert "Traceback" not in r.stderr and "hunter2" not in r.stderr


def test_a_database_of_a_newer_schema_is_refused_in_one_line(postgres_url: str, tmp_path: Path) -> None:
    srv = ServerProcess(postgres_url, log_path=tmp_path / "server.log").start()
    assert srv.stop() == 0, srv.log()
    # As if a newer Mainspring had migrated it since.
    store_sql(postgres_url, "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)")
    r = run_cli("server", "start-dev", "--headless", "--port", "0", "--db", postgres_url, timeout=60)
    assert r.returncode != 0, r.stdout
    lines = [line for line in r.stderr.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "schema version 999, newer than this Mainspring" in lines[0], r.stderr
    assert "upgrade Mainspring" in lines[0] and "Traceback" not in r.stderr
