"""Failover between server addresses: clients, workers and the CLI given several addresses move to the
next when theirs dies, and no work is lost.

SQLite lets one server use a file at a time, so the "other server" is a standby: server A runs on file F,
everyone is given [A, B], A is killed (SIGKILL) with activities in flight, and B starts on F on another
port. Everything is a real process except the test's own client.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from mainspring import Client, MainspringError
from mainspring.errors import InvalidAddressError, ServerUnavailableError
from support import EXAMPLES, ServerProcess, WorkerProcess, free_port, run_cli, running, wait_until
from test_crash import (
    ORDER_QUEUE,
    check_order_history,
    expected_order,
    order_input,
    read_steps,
    start_orders,
    wait_all_closed,
)

ORDER_WORKER = EXAMPLES / "order" / "worker.py"


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_killed_server_is_replaced_by_the_next_address_and_nothing_is_lost(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    a = ServerProcess(db, log_path=tmp_path / "a.log")
    b = ServerProcess(db, port=free_port(), log_path=tmp_path / "b.log")
    both = f"{a.address},{b.address}"
    steps_log = tmp_path / "steps.log"
    # Steps of 0.3 s: the kill finds activities running, and completions the worker holds until B is up.
    env = {"ORDER_LOG": str(steps_log), "ORDER_STEP_SECONDS": "0.3"}
    worker = WorkerProcess(ORDER_WORKER, both, env=env, log_path=tmp_path / "worker.log")
    with running(a, b, worker):
        a.start()
        worker.start()
        async with await Client.connect([a.address, b.address], timeout=30) as client:
            assert client.addresses == [a.address, b.address]
            order_ids = [f"order-{i:02d}" for i in range(12)]
            runs = await start_orders(client, order_ids)
            wait_until(lambda: len(read_steps(steps_log)) >= 12, timeout=40, what="12 order steps")
            a.kill()
            at_kill = len(read_steps(steps_log))

            # Calls made while no server is up: a start and a signal-free read over the channel, a list
            # over HTTP. They wait (within their deadline) and succeed once B answers.
            late_ids = [f"late-{i}" for i in range(3)]
            during = [
                asyncio.ensure_future(
                    client.start_workflow("order_workflow", order_input(o), id=o, task_queue=ORDER_QUEUE)
                )
                for o in late_ids
            ]
            listing = asyncio.ensure_future(client.list_workflows(limit=1000))
            await asyncio.sleep(1.0)  # the calls are in their retry loops, against two dead addresses
            assert not any(f.done() for f in [*during, listing]), "a call gave up while a server could still come"
            b.start()
            handles = await asyncio.gather(*during)
            page = await listing
            assert {e["workflow_id"] for e in page.executions} >= set(order_ids)
            assert client.address == b.address
            assert worker.proc is not None and worker.proc.poll() is None, "the worker exited during the outage"

            all_ids = [*order_ids, *late_ids]
            results = await wait_all_closed(client, all_ids, timeout=60)
            assert results == {o: expected_order(o) for o in all_ids}
            for o in all_ids:  # every activity scheduled once and completed exactly once
                await check_order_history(client, o)
            for o, run_id in runs.items():
                assert (await client.get_workflow_handle(o).describe()).run_id == run_id
            assert [h.workflow_id for h in handles] == late_ids
        wait_until(lambda: f"reconnected to the server at {b.address}" in worker.log(), timeout=10, what="worker on B")
        # The CLI with the same list: A is dead, B answers.
        r = run_cli("workflow", "list", "-o", "json", "--address", both, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "late-0" in r.stdout
        print(f"\n[failover] A killed after {at_kill} steps; {len(all_ids)} workflows completed on B")


async def test_a_call_that_cannot_reach_any_address_fails_within_its_deadline() -> None:
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    async with await Client.connect(dead, timeout=1.0) as client:
        with pytest.raises(ServerUnavailableError) as info:
            await client.list_workflows()
        assert "cannot reach the Mainspring server at 127.0.0.1:" in info.value.message
        with pytest.raises(ServerUnavailableError):
            await client.start_workflow("x", id="x", task_queue="q")


@pytest.mark.parametrize(
    "addresses",
    [[], ["127.0.0.1:7233", ""], "127.0.0.1:7233,,127.0.0.1:7234", "127.0.0.1:7233,localhost:notaport", ["a:1/x"]],
)
async def test_a_malformed_address_list_is_a_value_error(addresses: str | list[str]) -> None:
    with pytest.raises(InvalidAddressError) as info:
        await Client.connect(addresses)
    assert isinstance(info.value, ValueError) and isinstance(info.value, MainspringError)
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("127.0.0.1:7233,,127.0.0.1:7234", "empty server address"),
        ("127.0.0.1:7233,", "empty server address"),
        ("127.0.0.1:7233,localhost:notaport", "invalid server address 'localhost:notaport'"),
        ("127.0.0.1:99999", "invalid server address '127.0.0.1:99999'"),
    ],
)
def test_the_cli_refuses_a_malformed_address_list_in_one_line(value: str, said: str) -> None:
    for args, env in (
        (["workflow", "list", "--address", value], None),
        (["workflow", "describe", "--workflow-id", "x", "--address", value], None),
        (["workflow", "list"], {"MAINSPRING_ADDRESS": value}),
    ):
        r: subprocess.CompletedProcess[str] = run_cli(*args, env=env, timeout=30)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and said in lines[0], r.stderr
        assert r.stdout == ""


async def test_a_write_cut_off_after_it_was_sent_is_repeated_only_if_that_is_safe() -> None:
    # A stand-in for a server that dies after reading a request: it takes the request and hangs up.
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.close()

    listener = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    dead = f"127.0.0.1:{free_port()}"
    try:
        async with await Client.connect([f"127.0.0.1:{port}", dead], timeout=1.0, channel=False) as client:
            handle = client.get_workflow_handle("wf")
            # A terminate carries no request id: repeating it could terminate twice or report a failure.
            with pytest.raises(ServerUnavailableError) as info:
                await handle.terminate()
            assert info.value.code == "outcome_unknown" and "may or may not" in info.value.message
            # A signal carries one, so it moves on to the next address (dead too: unreachable, not unknown).
            client.transport._current = 0
            with pytest.raises(ServerUnavailableError) as info:
                await handle.signal("s")
            assert info.value.code == "unavailable", info.value
            assert dead in info.value.message
    finally:
        listener.close()
        await listener.wait_closed()
