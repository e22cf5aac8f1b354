"""Shard leases and fencing on a real PostgreSQL: takeover after a lapse, a fenced write refused, a writer
paused inside its transaction cut off by the database, and two servers racing for the same shards."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg")

from mainspring.storage._pg_leases import (  # noqa: E402
    LEASES_SCHEMA,
    LeaseLostError,
    LeaseOptions,
    ShardLeases,
    fair_share,
    shard_of,
)

FAST = LeaseOptions(shards=8, duration=timedelta(seconds=1), renew_every=timedelta(seconds=0.3))


@pytest.fixture
def lease_db(request: pytest.FixtureRequest) -> str:
    url = os.environ.get("MAINSPRING_TEST_LEASES_URL")
    if url:
        return url
    return str(request.getfixturevalue("postgres_url"))


async def _connect(url: str, options: LeaseOptions = FAST) -> Any:
    conn = await psycopg.AsyncConnection.connect(url)
    await conn.execute(ShardLeases.session_settings(options))
    await conn.commit()
    return conn


async def _leases(url: str, node: str, options: LeaseOptions = FAST) -> ShardLeases:
    conn = await _connect(url, options)
    await conn.execute(LEASES_SCHEMA)
    await conn.commit()
    leases = ShardLeases(conn, node, f"{node}:7233", options)
    await leases.setup()
    return leases


async def _write(leases: ShardLeases, writer: Any, shard: int, value: str) -> None:
    """A fenced write on ``writer`` (a connection of the same server): the fence, then the change."""
    async with writer.transaction():
        cur = writer.cursor()
        await leases.fence(cur, shard)
        await cur.execute("INSERT INTO lease_probe (shard, value) VALUES (%s, %s)", (shard, value))


def test_shard_of_is_stable_and_spread() -> None:
    assert shard_of("default", "order-1", 16) == shard_of("default", "order-1", 16)
    assert len({shard_of(ns, "a", 16) for ns in ("n1", "n2", "n3", "n4", "n5", "n6")}) > 1  # the namespace counts
    counts = [0] * 16
    for i in range(1600):
        counts[shard_of("default", f"wf-{i}", 16)] += 1
    assert min(counts) > 50, counts  # roughly even: 100 each
    assert fair_share(16, 3) == 6 and fair_share(16, 0) == 16


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="shards"):
        LeaseOptions(shards=0)
    with pytest.raises(ValueError, match="renew_every"):
        LeaseOptions(duration=timedelta(seconds=1), renew_every=timedelta(seconds=2))


@pytest.mark.timeout(60)
def test_takeover_fencing_and_a_paused_writer(lease_db: str) -> None:
    async def main() -> None:
        a = await _leases(lease_db, "node-a")
        b = await _leases(lease_db, "node-b")
        await a.conn.execute("CREATE TABLE IF NOT EXISTS lease_probe (shard INT, value TEXT)")
        await a.conn.commit()
        # Both are registered, so each takes its fair share: half.
        taken_a = await a.acquire()
        taken_b = await b.acquire()
        assert taken_a and taken_b and not (taken_a & taken_b)
        assert taken_a | taken_b == set(range(FAST.shards))
        assert len(taken_a) == len(taken_b) == fair_share(FAST.shards, 2)

        shard = min(taken_a)
        writer_a = await _connect(lease_db)
        await _write(a, writer_a, shard, "a-1")
        # b cannot write a's shard.
        writer_b = await _connect(lease_db)
        with pytest.raises(LeaseLostError, match="does not own shard"):
            await _write(b, writer_b, shard, "b-1")

        # a stops renewing (paused); after its lease lapses, b takes its shards at a higher epoch.
        epoch_before = a.held[shard]
        await asyncio.sleep(FAST.duration.total_seconds() + 0.3)
        await b.renew()
        taken = await b.acquire(limit=FAST.shards)
        assert shard in taken and b.held[shard] == epoch_before + 1
        await _write(b, writer_b, shard, "b-2")
        # a wakes up and tries to write with its old epoch: refused, and it learns it lost the shard.
        with pytest.raises(LeaseLostError):
            await _write(a, writer_a, shard, "a-2")
        assert shard not in a.held
        lost = await a.renew()
        assert not a.held and lost == taken_a - {shard}

        # A writer paused inside its transaction (holding the shard's row) does not block a takeover for
        # long: the database ends its session after one lease of idleness, and its write is lost, not made.
        writer_b2 = await _connect(lease_db)
        await writer_b2.execute("BEGIN")
        cur = writer_b2.cursor()
        await b.fence(cur, shard)
        await cur.execute("INSERT INTO lease_probe (shard, value) VALUES (%s, %s)", (shard, "b-paused"))
        # ... b is paused here; its leases lapse; a comes back and takes over.
        await asyncio.sleep(FAST.duration.total_seconds() + 0.3)
        a.held.clear()
        retaken = await a.acquire(limit=FAST.shards)
        deadline = asyncio.get_running_loop().time() + 10
        while shard not in retaken and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            retaken |= await a.acquire(limit=FAST.shards)
        assert shard in retaken
        with pytest.raises(psycopg.Error):
            await writer_b2.commit()

        check = await _connect(lease_db)
        cur = await check.execute("SELECT value FROM lease_probe WHERE shard = %s ORDER BY value", (shard,))
        assert [r[0] for r in await cur.fetchall()] == ["a-1", "b-2"]
        leases = await a.describe()
        assert {x.owner for x in leases if x.shard == shard} == {"node-a"}
        for c in (a.conn, b.conn, writer_a, writer_b, check):
            await c.close()

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_racing_servers_never_share_a_shard(lease_db: str) -> None:
    async def main() -> None:
        nodes = [await _leases(lease_db, f"racer-{i}") for i in range(4)]
        for _ in range(5):
            await asyncio.gather(*(n.acquire(limit=FAST.shards) for n in nodes))
            owned = [s for n in nodes for s in n.held]
            assert len(owned) == len(set(owned)), "a shard held by two servers"
            assert set(owned) == set(range(FAST.shards))
            await asyncio.gather(*(n.release() for n in nodes[:2]))
        await nodes[0].drain("racer-3")
        assert await nodes[3].draining()
        for n in nodes:
            await n.conn.close()

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_the_store_lease_a_standby_and_a_paused_holder(lease_db: str) -> None:
    from mainspring.storage import StoreOwnershipError
    from mainspring.storage._pg_leases import StoreLease

    opts = LeaseOptions(shards=1, duration=timedelta(seconds=1), renew_every=timedelta(seconds=0.3))

    async def connect() -> Any:
        conn = await _connect(lease_db, opts)
        await conn.execute(LEASES_SCHEMA)
        await conn.commit()
        return conn

    async def fenced_write(lease: StoreLease, value: str) -> None:
        writer = await _connect(lease_db, opts)
        try:
            async with writer.transaction():
                cur = writer.cursor()
                await lease.fence(cur)
                await cur.execute("INSERT INTO lease_probe (shard, value) VALUES (0, %s)", (value,))
        finally:
            await writer.close()

    async def main() -> None:
        setup = await connect()
        await setup.execute("CREATE TABLE IF NOT EXISTS lease_probe (shard INT, value TEXT)")
        await setup.commit()
        lost: list[str] = []
        a = StoreLease(connect, "node-a", "a:7233", opts, on_lost=lost.append)
        b = StoreLease(connect, "node-b", "b:7233", opts)
        await a.take(wait=False)
        with pytest.raises(StoreOwnershipError, match=r"in use by server node-a \(a:7233\)"):
            await b.take(wait=False)
        await fenced_write(a, "a-1")
        await asyncio.sleep(1.5)  # renewals keep it
        await fenced_write(a, "a-2")

        # a pauses (its renewals stop) with no one waiting: its writes are refused until it renews again.
        assert a._renewer is not None
        a._renewer.cancel()
        await asyncio.sleep(1.3)
        with pytest.raises(LeaseLostError, match="ran out"):
            await fenced_write(a, "a-lapsed")
        assert a.leases is not None and not await a.leases.renew()
        await fenced_write(a, "a-3")

        # Paused again, now with a standby waiting: b takes over; a, resumed, writes nothing and is told.
        standby = asyncio.ensure_future(b.take(wait=True, timeout=20))
        await asyncio.sleep(1.5)
        await standby
        await fenced_write(b, "b-1")
        with pytest.raises(LeaseLostError):
            await fenced_write(a, "a-after")
        assert lost and a.lost is not None
        cur = await setup.execute("SELECT value FROM lease_probe ORDER BY value")
        assert [r[0] for r in await cur.fetchall()] == ["a-1", "a-2", "a-3", "b-1"]
        await a.release()
        await b.release()
        await setup.close()

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_a_holder_paused_inside_a_pipeline_is_cut_off_by_the_standby(lease_db: str) -> None:
    """A session paused mid-pipeline (statements sent, no Sync) is "active" to PostgreSQL, so no idle
    timeout ends it and its row lock would stall the takeover forever: the standby ends it itself."""
    from mainspring.storage._pg_leases import StoreLease

    opts = LeaseOptions(shards=1, duration=timedelta(seconds=1), renew_every=timedelta(seconds=0.3))

    async def connect(node: str) -> Any:
        conn = await psycopg.AsyncConnection.connect(lease_db, application_name=ShardLeases.backend_name(node))
        await conn.execute(ShardLeases.session_settings(opts))
        await conn.execute(LEASES_SCHEMA)
        await conn.commit()
        return conn

    async def main() -> None:
        a = StoreLease(lambda: connect("node-stuck"), "node-stuck", "a:7233", opts)
        b = StoreLease(lambda: connect("node-standby"), "node-standby", "b:7233", opts)
        await a.take(wait=False)
        writer = await connect("node-stuck")
        raw = writer.pgconn
        raw.enter_pipeline_mode()
        raw.send_query_params(b"BEGIN", None)
        raw.send_query_params(b"SELECT 1 FROM shard_leases WHERE shard = 0 FOR UPDATE", None)
        raw.flush()
        assert a._renewer is not None
        a._renewer.cancel()  # ... and the whole server is paused here, its pipeline half sent
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await b.take(wait=True, timeout=20)
        # Lapsed (1 s), then lapsed for a whole lease while locked (1 s more), then the next round.
        assert loop.time() - t0 < 6
        assert b.leases is not None and b.leases.held
        check = await connect("node-check")
        cur = await check.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (ShardLeases.backend_name("node-stuck"),),
        )
        row = await cur.fetchone()
        assert row is not None and row[0] == 0  # every session of the paused server was ended
        await b.release()
        for c in (check, writer):
            await c.close()
        if a.leases is not None:
            await a.leases.conn.close()

    asyncio.run(main())


def test_a_long_node_id_still_names_its_sessions_within_postgres_limit() -> None:
    assert ShardLeases.backend_name("host-1-abc") == "mainspring host-1-abc"
    long_a = ShardLeases.backend_name("h" * 80 + "-1")
    long_b = ShardLeases.backend_name("h" * 80 + "-2")
    assert len(long_a.encode()) <= 63 and long_a != long_b
