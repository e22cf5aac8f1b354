"""What ``GET /api/v1/cluster`` answers: the servers sharing this server's store and its shard leases, as the
store records them (``Store.describe_cluster``), this server marked. A SQLite store is held by one server,
so the answer is this server alone, active, with no leases."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._execution import iso

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["cluster_answer"]


def _at(t: datetime | None) -> str | None:
    return None if t is None else iso(t.timestamp())


async def cluster_answer(engine: Engine) -> dict[str, Any]:
    view = await engine.store.describe_cluster()
    if view is None:
        now = iso(engine.clock.now())
        return {
            "store": engine.store.description,
            "kind": "sqlite",
            "shared": False,
            "now": now,
            "lease_seconds": None,
            "servers": [
                {
                    "node": engine.address,
                    "address": engine.address,
                    "status": "active",
                    "started_at": iso(engine.started_at),
                    "seen_at": now,
                    "this": True,
                }
            ],
            "shards": [],
        }
    return {
        "store": engine.store.description,
        "kind": "postgresql",
        "shared": True,
        "now": _at(view.now),
        "lease_seconds": view.lease_duration.total_seconds(),
        "servers": [
            {
                "node": n.node,
                "address": n.address,
                "status": view.status(n),
                "started_at": _at(n.started_at),
                "seen_at": _at(n.seen_at),
                "this": n.node == view.me,
            }
            for n in view.nodes
        ],
        "shards": [
            {
                "shard": s.shard,
                "owner": s.owner,
                "owner_address": s.address,
                "epoch": s.epoch,
                "expires_at": _at(s.expires_at),
                "live": view.live(s),
            }
            for s in view.shards
        ],
    }
