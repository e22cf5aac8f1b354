"""Shard leases on PostgreSQL: which server owns which shard of executions, until when, and the fencing
that keeps a server that lost its lease from writing.

Executions are split into ``shards`` by a stable hash of namespace and workflow id (``shard_of``). Each
shard has one row in ``shard_leases``: its owner (a server's node id), an ``epoch`` that grows by one each
time the shard changes hands, and ``expires_at``. A server takes free or lapsed shards up to its fair share
(``fair_share``), renews the ones it holds every ``renew_every``, and gives shards back when it drains.

Time is the database's (``now()``), never a server's own clock: servers' clocks may disagree, the
database's is the one every server reads.

Fencing: every write of a shard's executions runs ``fence()`` in its own transaction first. It reads the
shard's row ``FOR UPDATE`` and refuses unless this server still holds it at the epoch it took it with and it
has not lapsed. The row lock orders the write against any takeover (an ``UPDATE`` of the same row waits for
the writer's commit or rollback), so a write either commits before the new owner's epoch exists or is
refused: a server paused past its lease (SIGSTOP, a long GC pause, a VM migration) cannot overwrite what a
newer owner wrote. A server paused *inside* a transaction would keep the row locked and stall the takeover:
``session_settings()`` gives the store's connections an ``idle_in_transaction_session_timeout`` of one lease,
so PostgreSQL ends that session, rolls its transaction back and frees the row. That timeout does not
apply to a session paused *inside a pipeline* (statements sent, the Sync not yet: PostgreSQL waits for the
rest of the batch, "active", and no timeout ends the wait), so a server that finds a shard lapsed for more
than a lease and still locked ends its owner's sessions itself (``_unstick``: ``pg_terminate_backend``, by
the ``application_name`` each server gives its connections, ``backend_name``).

Portable SQL only (plain rows, ``UPDATE ... RETURNING``, ``SELECT ... FOR UPDATE``, ``now()``): no advisory
locks and no LISTEN/NOTIFY, which CockroachDB and YugabyteDB lack or implement differently, and which would
tie correctness to one server process's session staying up.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._base import StorageError, StoreOwnershipError

if TYPE_CHECKING:
    from psycopg import AsyncConnection, AsyncCursor

__all__ = [
    "LEASES_SCHEMA",
    "Lease",
    "LeaseLostError",
    "LeaseOptions",
    "ShardLeases",
    "StoreLease",
    "fair_share",
    "shard_of",
]

log = logging.getLogger("mainspring.storage")

#: The tables, created by the store's migrations (kept here so that they are read beside their queries).
LEASES_SCHEMA = """
CREATE TABLE IF NOT EXISTS shard_leases (
    shard      INTEGER PRIMARY KEY,
    owner      TEXT,
    epoch      BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ,
    address    TEXT
);
CREATE TABLE IF NOT EXISTS cluster_nodes (
    node       TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL,
    draining   BOOLEAN NOT NULL DEFAULT FALSE
);
"""


class LeaseLostError(StorageError):
    """This server no longer owns the shard it was about to write to: the write was not made. The run's
    new owner carries on; a client retries there."""

    def __init__(self, message: str, *, shard: int, lapsed: bool = False) -> None:
        super().__init__(message)
        self.shard = shard
        #: The lease is still this server's but ran out (no renewal in time) and no one took it: the
        #: next renewal gives it back, and writes go through again.
        self.lapsed = lapsed


@dataclass(frozen=True)
class LeaseOptions:
    """How executions are split and how long a server holds its part."""

    #: How many shards the executions are split into. Fixed for a database's life: a run's shard is a
    #: hash of its id modulo this number.
    shards: int = 16
    #: How long a lease lasts unless renewed: also how soon another server takes a dead one's shards.
    duration: timedelta = timedelta(seconds=5)
    #: How often a server renews its leases (well under ``duration``, so one late renewal loses nothing).
    renew_every: timedelta = timedelta(seconds=1.5)

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= 4096:
            raise ValueError(f"shards must be between 1 and 4096, not {self.shards}")
        if not timedelta(0) < self.renew_every < self.duration:
            raise ValueError(
                f"renew_every ({self.renew_every}) must be positive and shorter than duration ({self.duration})"
            )


@dataclass(frozen=True)
class Lease:
    shard: int
    owner: str | None
    epoch: int
    expires_at: datetime | None
    address: str | None = None


def shard_of(namespace: str, workflow_id: str, shards: int) -> int:
    """The shard of a workflow id: stable across processes and Python versions (not ``hash()``, which is
    salted per process)."""
    digest = hashlib.blake2b(f"{namespace}\x00{workflow_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def fair_share(shards: int, nodes: int) -> int:
    """How many shards one of ``nodes`` live servers should hold at most."""
    return math.ceil(shards / max(1, nodes))


class ShardLeases:
    """One server's leases. Its methods each run in their own short transaction on ``conn`` (autocommit
    off), except ``fence``, which runs inside the caller's write transaction."""

    def __init__(self, conn: AsyncConnection[Any], node: str, address: str, options: LeaseOptions) -> None:
        self.conn = conn
        self.node = node
        self.address = address
        self.options = options
        #: The shards held, with the epoch each was taken at: what ``fence`` checks against.
        self.held: dict[int, int] = {}

    @staticmethod
    def backend_name(node: str) -> str:
        """The ``application_name`` of a server's connections: how another server finds the sessions of
        one whose lease lapsed while they held its shard's row (``_unstick``). PostgreSQL keeps 63 bytes
        of it; a node id too long for that is named by its hash instead."""
        name = f"mainspring {node}"
        if len(name.encode()) > 63:
            name = f"mainspring {hashlib.sha256(node.encode()).hexdigest()[:32]}"
        return name

    @staticmethod
    def session_settings(options: LeaseOptions) -> str:
        """SQL to run on each connection of a store that fences its writes (see the module's docstring)."""
        ms = int(options.duration.total_seconds() * 1000)
        return f"SET idle_in_transaction_session_timeout = {ms}"

    async def setup(self) -> None:
        """Make sure every shard has its row (several servers may do this at once) and register this node."""
        async with self.conn.transaction():
            await self.conn.execute(
                "INSERT INTO shard_leases (shard) SELECT s FROM generate_series(0, %s) AS s "
                "ON CONFLICT (shard) DO NOTHING",
                (self.options.shards - 1,),
            )
            await self.conn.execute(
                "INSERT INTO cluster_nodes (node, address, started_at, seen_at) VALUES (%s, %s, now(), now()) "
                "ON CONFLICT (node) DO UPDATE SET address = EXCLUDED.address, seen_at = now(), draining = FALSE",
                (self.node, self.address),
            )

    async def seen(self) -> None:
        """Say this server is alive without holding anything (a standby's wait): ``cluster describe`` tells
        a waiting server from one that is gone by this."""
        async with self.conn.transaction():
            await self.conn.execute("UPDATE cluster_nodes SET seen_at = now() WHERE node = %s", (self.node,))

    async def live_nodes(self) -> int:
        """Servers seen within one lease (this one included), not draining."""
        cur = await self.conn.execute(
            "SELECT count(*) FROM cluster_nodes WHERE NOT draining AND seen_at > now() - %s",
            (self.options.duration,),
        )
        row = await cur.fetchone()
        await self.conn.commit()
        return max(1, int(row[0]) if row else 1)

    async def renew(self) -> set[int]:
        """Extend every lease held; the shards lost since (taken by another server after ours lapsed).

        A lease that lapsed but that no one took (same owner, same epoch: the database was down for a
        while, say) is extended too: no other server can have written to the shard in between."""
        d = self.options.duration
        async with self.conn.transaction():
            await self.conn.execute("UPDATE cluster_nodes SET seen_at = now() WHERE node = %s", (self.node,))
            if not self.held:
                return set()
            cur = await self.conn.execute(
                "UPDATE shard_leases SET expires_at = now() + %s "
                "WHERE owner = %s AND shard = ANY(%s) RETURNING shard, epoch",
                (d, self.node, list(self.held)),
            )
            kept = {int(shard): int(epoch) for shard, epoch in await cur.fetchall()}
        lost = {s for s, epoch in self.held.items() if kept.get(s) != epoch}
        for s in lost:
            del self.held[s]
        return lost

    async def acquire(self, limit: int | None = None) -> set[int]:
        """Take free or lapsed shards until this server holds its fair share (or ``limit``); those taken."""
        want = fair_share(self.options.shards, await self.live_nodes()) if limit is None else limit
        room = want - len(self.held)
        if room <= 0:
            return set()
        async with self.conn.transaction():
            # SKIP LOCKED: a shard being written by its (lapsed) owner right now is left for the next round,
            # rather than this server waiting on it.
            cur = await self.conn.execute(
                "SELECT shard FROM shard_leases WHERE owner IS NULL OR expires_at IS NULL OR expires_at <= now() "
                "ORDER BY shard LIMIT %s FOR UPDATE SKIP LOCKED",
                (room,),
            )
            free = [int(r[0]) for r in await cur.fetchall()]
            # Fewer than wanted: some may be lapsed yet locked by a session of a paused owner (see _unstick).
            stuck = await self._stuck_owners(free) if len(free) < room else set()
            taken: dict[int, int] = {}
            if free:
                cur = await self.conn.execute(
                    "UPDATE shard_leases SET owner = %s, epoch = epoch + 1, expires_at = now() + %s, address = %s "
                    "WHERE shard = ANY(%s) RETURNING shard, epoch",
                    (self.node, self.options.duration, self.address, free),
                )
                taken = {int(shard): int(epoch) for shard, epoch in await cur.fetchall()}
        if stuck:
            await self._unstick(stuck)
        self.held.update(taken)
        return set(taken)

    async def _stuck_owners(self, free: list[int]) -> set[str]:
        """Owners of shards lapsed for over a lease yet skipped as locked (not among ``free``, the ones just
        locked): a session of theirs holds the row, as an idle transaction would have been ended by now."""
        cur = await self.conn.execute(
            "SELECT DISTINCT owner FROM shard_leases WHERE owner IS NOT NULL AND owner <> %s "
            "AND expires_at <= now() - %s AND NOT shard = ANY(%s)",
            (self.node, self.options.duration, free),
        )
        return {str(r[0]) for r in await cur.fetchall()}

    async def _unstick(self, owners: set[str]) -> None:
        """End the sessions of ``owners``, whose leases lapsed while one of their sessions kept the row
        locked: their transactions roll back (nothing they had not committed is written), and the shards are
        free at the next round. Needs the same database role or ``pg_signal_backend``; without it, says so."""
        for owner in sorted(owners):
            try:
                cur = await self.conn.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = %s AND pid <> pg_backend_pid()",
                    (self.backend_name(owner),),
                )
                row = await cur.fetchone()
                await self.conn.commit()
            except Exception as e:  # psycopg.Error; its import is lazy
                await self.conn.rollback()
                log.warning(
                    "server %s's lease lapsed but a session of its holds the row, and this server cannot end it "
                    "(%s): grant this server's database role pg_signal_backend, or stop that server",
                    owner,
                    str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__,
                )
                continue
            if row and row[0]:
                log.warning(
                    "server %s's lease lapsed while %d session(s) of its held the store's rows (paused?): "
                    "ended them, so that its shards can be taken",
                    owner,
                    row[0],
                )

    async def release(self, shards: set[int] | None = None) -> None:
        """Give shards back at once (all by default), so another server need not wait for them to lapse."""
        which = list(self.held if shards is None else shards & set(self.held))
        if not which:
            return
        async with self.conn.transaction():
            await self.conn.execute(
                "UPDATE shard_leases SET owner = NULL, expires_at = NULL, address = NULL "
                "WHERE owner = %s AND shard = ANY(%s)",
                (self.node, which),
            )
        for s in which:
            self.held.pop(s, None)

    async def leave(self) -> None:
        """Take this server off the list of servers, as it stops cleanly: a server that crashed stays
        listed, its ``seen_at`` growing old (``gone``), and a stopped one must not look like a standby."""
        async with self.conn.transaction():
            await self.conn.execute("DELETE FROM cluster_nodes WHERE node = %s", (self.node,))

    async def drain(self, node: str) -> list[str]:
        """Mark ``node`` (a server's node name, or its address) draining: it stops taking shards and gives
        its own back at its next round. The node names marked (none if there is no such server)."""
        async with self.conn.transaction():
            cur = await self.conn.execute(
                "UPDATE cluster_nodes SET draining = TRUE WHERE node = %s OR address = %s RETURNING node",
                (node, node),
            )
            return [str(r[0]) for r in await cur.fetchall()]

    async def draining(self) -> bool:
        cur = await self.conn.execute("SELECT draining FROM cluster_nodes WHERE node = %s", (self.node,))
        row = await cur.fetchone()
        await self.conn.commit()
        return bool(row and row[0])

    async def describe(self) -> list[Lease]:
        """Every shard's row, as the database has it now."""
        cur = await self.conn.execute(
            "SELECT shard, CASE WHEN expires_at > now() THEN owner END, epoch, expires_at, address "
            "FROM shard_leases ORDER BY shard"
        )
        rows = await cur.fetchall()
        await self.conn.commit()
        return [Lease(int(s), o, int(e), x, a) for s, o, e, x, a in rows]

    async def fence(self, cur: AsyncCursor[Any], shard: int) -> None:
        """Inside a write transaction: refuse (``LeaseLostError``) unless this server still holds ``shard``
        at the epoch it took it with. Holds the shard's row until the transaction ends."""
        await self.fence_send(cur, shard)
        await self.fence_check(cur, shard)

    async def fence_send(self, cur: AsyncCursor[Any], shard: int) -> None:
        """``fence`` in two steps, so that in pipeline mode its answer comes with the writes after it:
        send the lock of the shard's row here, ``fence_check`` its answer before the commit."""
        epoch = self.held.get(shard)
        await cur.execute(
            "SELECT expires_at > now() FROM shard_leases WHERE shard = %s AND owner = %s AND epoch = %s FOR UPDATE",
            (shard, self.node, epoch if epoch is not None else -1),
        )

    async def fence_check(self, cur: AsyncCursor[Any], shard: int) -> None:
        epoch = self.held.get(shard)
        row = await cur.fetchone()
        if epoch is not None:
            if row is not None and row[0]:
                return
            if row is not None:
                raise LeaseLostError(
                    f"this server's ({self.node}) lease of shard {shard} ran out before it was renewed: the write "
                    "was not made",
                    shard=shard,
                    lapsed=True,
                )
            self.held.pop(shard, None)
        raise LeaseLostError(
            f"this server ({self.node}) does not own shard {shard}: its lease lapsed or was never taken, "
            "so the write was not made",
            shard=shard,
        )


class StoreLease:
    """The whole store held by one server at a time: the leases above with a single shard, renewed by a
    task of its own. What ``Store.open`` promises (this server owns every run in the store), made safe
    for a database that several servers can reach: a second server waits (``wait=True``, a standby) or is
    refused with ``StoreOwnershipError``; one that lost the lease (paused, cut off) is fenced and told
    through ``on_lost``.

    ``connect`` makes the lease's own connection (renewals must not queue behind the store's writes)."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[AsyncConnection[Any]]],
        node: str,
        address: str,
        options: LeaseOptions | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self._connect = connect
        self.node = node
        self.address = address
        self.options = LeaseOptions(shards=1) if options is None else options
        self.on_lost = on_lost
        #: Called once when an operator drained this server (``mainspring cluster drain``): it should stop
        #: taking work and close the store, which gives the lease back for a standby to take at once.
        self.on_drain: Callable[[], None] | None = None
        self.leases: ShardLeases | None = None
        #: Why this server may no longer write (set once the lease is lost; it is not taken back).
        self.lost: str | None = None
        #: While waiting for the store: the server holding it, as (node, address), once seen.
        self.holder: tuple[str, str] | None = None
        self._renewer: asyncio.Task[None] | None = None

    async def _open(self) -> ShardLeases:
        if self.leases is None or self.leases.conn.closed:
            conn = await self._connect()
            held = self.leases.held if self.leases is not None else {}
            self.leases = ShardLeases(conn, self.node, self.address, self.options)
            self.leases.held = held
        return self.leases

    async def take(self, *, wait: bool, timeout: float | None = None) -> None:
        """Take the store, waiting for another holder's lease to lapse if ``wait``. Without ``wait``, still
        wait one lease: a holder that was killed (a server restarted after a crash) stops renewing, and its
        lease lapses within that time; one that renews meanwhile is alive, and this server is refused."""
        leases = await self._open()
        await leases.setup()
        loop = asyncio.get_running_loop()
        if not wait and timeout is None:
            timeout = (self.options.duration + self.options.renew_every).total_seconds()
        deadline = None if timeout is None else loop.time() + timeout
        told = False
        while not await leases.acquire(limit=1):
            holder = next((x for x in await leases.describe() if x.owner is not None), None)
            if holder is None:  # lapsed between the two reads: try again at once
                continue
            self.holder = (holder.owner or "", holder.address or "")
            where = f"server {holder.owner} ({holder.address})"
            if deadline is not None and loop.time() >= deadline:
                raise StoreOwnershipError(
                    f"the store is in use by {where}: stop it, or start this server with --standby to take over "
                    "when its lease lapses",
                    holder=holder.owner or "",
                )
            if not told:
                if wait:
                    log.warning("standby: the store is held by %s; taking over when its lease lapses", where)
                else:
                    log.warning("the store is held by %s; waiting one lease in case that server is gone", where)
                told = True
            await asyncio.sleep(self.options.renew_every.total_seconds())
            await leases.seen()
        self.holder = None
        log.info("this server (%s) holds the store", self.node)
        self._renewer = loop.create_task(self._renew(), name="mainspring-store-lease")

    async def _renew(self) -> None:
        every = self.options.renew_every.total_seconds()
        while self.lost is None:
            await asyncio.sleep(every)
            try:
                leases = await self._open()
                lost = await leases.renew()
            except Exception as e:  # the database is away: writes wait for it too; try again
                log.warning("cannot renew the store lease: %s", e)
                if self.leases is not None and not self.leases.conn.closed:
                    await self.leases.conn.close()
                continue
            if lost:
                self._lose("another server took the store after this one's lease lapsed")
            elif self.on_drain is not None:
                try:
                    draining = await leases.draining()
                except Exception as e:  # asked again at the next round
                    log.info("cannot read whether this server is draining: %s", e)
                    continue
                if draining:
                    # Told once; the lease is still renewed until the server has stopped and gives it back.
                    log.warning("this server (%s) is draining: it stops and hands the store over", self.node)
                    on_drain, self.on_drain = self.on_drain, None
                    on_drain()

    def _lose(self, why: str) -> None:
        if self.lost is None:
            self.lost = why
            log.error("this server (%s) no longer holds the store: %s; it writes nothing more", self.node, why)
            if self.on_lost is not None:
                self.on_lost(why)

    async def fence(self, cur: AsyncCursor[Any]) -> None:
        """Inside a write transaction: refuse it unless this server still holds the store."""
        await self.fence_send(cur)
        await self.fence_check(cur)

    async def fence_send(self, cur: AsyncCursor[Any]) -> None:
        """``fence`` in two steps (see ``ShardLeases.fence_send``): the lock sent here..."""
        if self.lost is not None or self.leases is None:
            raise LeaseLostError(f"this server no longer holds the store ({self.lost})", shard=0)
        await self.leases.fence_send(cur, 0)

    async def fence_check(self, cur: AsyncCursor[Any]) -> None:
        """...and its answer checked here, before the commit."""
        assert self.leases is not None
        try:
            await self.leases.fence_check(cur, 0)
        except LeaseLostError as e:
            if not e.lapsed:
                self._lose("its lease lapsed and another server took the store")
            raise

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        if self.leases is not None:
            try:
                if self.lost is None:
                    await self.leases.release()
                    await self.leases.leave()
            except Exception as e:  # it lapses by itself
                log.info("could not give the store lease back: %s", e)
            await self.leases.conn.close()
