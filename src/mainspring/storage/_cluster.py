"""The servers and shard leases a PostgreSQL store records (tables ``cluster_nodes`` and ``shard_leases``),
read as one view: what ``mainspring cluster describe`` prints and a server's ``GET /api/v1/cluster`` answers.

The view is the database's, at the database's clock (the one leases are measured by), so every server and
the CLI see the same statuses whatever their own clocks say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._base import StorageError
from ._pg_leases import Lease

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["ClusterNode", "ClusterView", "read_cluster"]


@dataclass(frozen=True)
class ClusterNode:
    """A server that registered in the database (a row of ``cluster_nodes``; rows of servers that are
    gone stay, their ``seen_at`` growing old)."""

    node: str
    address: str
    started_at: datetime
    seen_at: datetime
    draining: bool


@dataclass(frozen=True)
class ClusterView:
    """The servers and shard leases of a PostgreSQL store, as the database had them at ``now``."""

    store: str
    now: datetime
    nodes: tuple[ClusterNode, ...]
    shards: tuple[Lease, ...]
    #: How long a lease lasts unless renewed (the store's setting): a server not seen for longer is gone.
    lease_duration: timedelta
    #: The node name of the server that read the view (None when read from outside, by the CLI).
    me: str | None = None

    def live(self, lease: Lease) -> bool:
        return lease.owner is not None and lease.expires_at is not None and lease.expires_at > self.now

    def status(self, node: ClusterNode) -> str:
        """``active`` (it holds a live lease), ``draining``, ``standby`` (alive, holding nothing), or
        ``gone`` (not seen within a lease)."""
        if any(self.live(s) and s.owner == node.node for s in self.shards):
            return "active"
        if self.now - node.seen_at > self.lease_duration:
            return "gone"
        return "draining" if node.draining else "standby"


async def read_cluster(
    conn: AsyncConnection[Any], where: str, lease_duration: timedelta, *, me: str | None = None
) -> ClusterView:
    """Read the view on ``conn`` (psycopg errors are the caller's to word). StorageError, saying what to
    run, if the database has no cluster tables (a schema older than them, or not Mainspring's)."""
    cur = await conn.execute("SELECT now(), to_regclass('shard_leases') IS NOT NULL")
    row = await cur.fetchone()
    assert row is not None
    now, has_tables = row
    if not has_tables:
        from ._pg_schema import applied_versions

        version = max(await applied_versions(conn), default=0)
        raise StorageError(
            f"the database {where} has no Mainspring cluster tables (schema version {version}): "
            f"run `mainspring store migrate --db {where}`"
        )
    cur = await conn.execute(
        "SELECT node, address, started_at, seen_at, draining FROM cluster_nodes ORDER BY started_at, node"
    )
    nodes = tuple(ClusterNode(str(n), str(a), s, seen, bool(d)) for n, a, s, seen, d in await cur.fetchall())
    cur = await conn.execute("SELECT shard, owner, epoch, expires_at, address FROM shard_leases ORDER BY shard")
    shards = tuple(Lease(int(s), o, int(e), x, a) for s, o, e, x, a in await cur.fetchall())
    return ClusterView(where, now, nodes, shards, lease_duration, me)
