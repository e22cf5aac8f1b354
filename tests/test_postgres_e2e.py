"""Servers on PostgreSQL, as real processes: the order example end to end, a server SIGKILLed and started
again, two servers on one database (one active, one standby) with the active one paused past its lease
(SIGSTOP): the standby takes over and finishes every workflow, and the paused one, resumed, writes
nothing and stops; three servers with the scheduler's holder killed twice, each due time started once. Bad
database URLs at the CLI are one-line errors."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from pathlib import Path

import pytest

from mainspring import Client
from pgserver import PostgresCluster
from support import EXAMPLES, ServerProcess, WorkerProcess, run_cli, running, store_sql, wait_until
from test_crash import check_order_history, expected_order, read_steps, start_orders, wait_all_closed
from test_schedules import _create, _describe, _every_second, _runs, _seconds

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


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_three_servers_run_the_scheduler_each_due_time_once_across_two_kills(tmp_path: Path, postgres_url: str) -> None:
    # Three servers on one database: the one holding the store runs the schedules, the other two wait. The
    # holder is SIGKILLed twice (and started again, as a standby): each time a standby takes the scheduler
    # over, and every second is started exactly once by one server or another, none missing (the catch-up
    # window covers the takeover).
    servers = [
        ServerProcess(postgres_url, extra_args=[] if i == 0 else ["--standby"], log_path=tmp_path / f"s{i}.log")
        for i in range(3)
    ]
    with running(*servers):
        active = servers[0].start()
        for s in servers[1:]:
            s.launch()
        _create(active, _every_second("multi"))
        wait_until(lambda: len(_runs(active, "multi-")) >= 3, 20, what="three runs on the first server")
        for _ in range(2):
            active.kill()
            others = [s for s in servers if s is not active]
            new: ServerProcess = wait_until(
                lambda o=others: next((s for s in o if s.healthy()), None), 40, what="a standby to take the store"
            )
            assert sum(s.healthy() for s in others) == 1  # the other one still waits
            active.extra_args = ["--standby"]
            active.launch()  # back, as a standby
            before = len(_runs(new, "multi-"))
            wait_until(lambda n=new, b=before: len(_runs(n, "multi-")) >= b + 3, 30, what="three runs after the kill")
            active = new
        runs = _runs(active, "multi-")
        per_id = Counter(r["workflow_id"] for r in runs)
        assert max(per_id.values()) == 1, per_id  # no due time started twice, by any server
        seconds = _seconds(runs, "multi-")
        assert seconds == list(range(seconds[0], seconds[-1] + 1)), seconds  # none missing
        assert _describe(active, "multi")["info"]["num_actions_missed_catchup_window"] == 0
