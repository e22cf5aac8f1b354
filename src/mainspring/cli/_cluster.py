"""``mainspring cluster describe|drain``: the servers and shard leases a PostgreSQL store records, read from
the database itself (so it answers whichever servers are up, or none)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from ._common import EXIT_ERROR, fail
from ._store import db_option, output_option

__all__ = ["cluster"]


@click.group()
def cluster() -> None:
    """The servers sharing a PostgreSQL store."""


def _ago(now: datetime, then: datetime) -> float:
    return round((now - then).total_seconds(), 1)


@cluster.command("describe", params=[db_option(), output_option()])
def describe(db: str, output: str) -> None:
    """List the servers registered in the store (active: holds a lease; standby: waiting; gone: not seen
    within a lease) and its shard leases (owner, epoch, expiry)."""
    import asyncio

    from ..storage import StorageError
    from ..storage._admin import describe_cluster

    try:
        view = asyncio.run(describe_cluster(db))
    except StorageError as e:
        fail(str(e), EXIT_ERROR)
    if view is None:
        message = "a SQLite store has a single server: the one holding the file's lock (no cluster to describe)"
        if output == "json":
            click.echo(json.dumps({"store": "sqlite", "single_server": True, "servers": [], "shards": []}))
        else:
            click.echo(message[0].upper() + message[1:])
        return
    servers: list[dict[str, Any]] = [
        {
            "node": n.node,
            "address": n.address,
            "status": view.status(n),
            "started_at": n.started_at.isoformat(),
            "seen_at": n.seen_at.isoformat(),
            "seen_seconds_ago": _ago(view.now, n.seen_at),
            "draining": n.draining,
        }
        for n in view.nodes
    ]
    shards: list[dict[str, Any]] = [
        {
            "shard": s.shard,
            "owner": s.owner,
            "address": s.address,
            "epoch": s.epoch,
            "expires_at": s.expires_at.isoformat() if s.expires_at is not None else None,
            "expires_in_seconds": -_ago(view.now, s.expires_at) if s.expires_at is not None else None,
            "live": view.live(s),
        }
        for s in view.shards
    ]
    if output == "json":
        click.echo(json.dumps({"store": view.store, "single_server": False, "servers": servers, "shards": shards}))
        return
    click.echo(f"Store  {view.store}")
    click.echo("")
    _table(
        ["SERVER", "ADDRESS", "STATUS", "SEEN"],
        [[s["node"], s["address"] or "-", s["status"], f"{s['seen_seconds_ago']}s ago"] for s in servers],
        empty="no server has registered in this store",
    )
    click.echo("")
    _table(
        ["SHARD", "OWNER", "EPOCH", "EXPIRES"],
        [
            [
                str(s["shard"]),
                s["owner"] or "-",
                str(s["epoch"]),
                "-"
                if s["expires_in_seconds"] is None
                else f"in {s['expires_in_seconds']}s"
                if s["live"]
                else f"lapsed {-s['expires_in_seconds']}s ago",
            ]
            for s in shards
        ],
        empty="no shard leases yet (no server has started on this store)",
    )


@cluster.command("drain", params=[db_option(), output_option()])
@click.argument("node")
def drain(db: str, output: str, node: str) -> None:
    """Move the store off server NODE (a node name or an address, as `cluster describe` lists them): within
    about a second it stops as on SIGTERM (requests in flight are answered, writes finished) and gives the
    store lease back; a standby takes it over at once, and clients and workers with several addresses
    follow. Start NODE again to have it back as a standby."""
    import asyncio

    from ..storage import StorageError
    from ..storage._admin import drain_server

    try:
        marked = asyncio.run(drain_server(db, node))
    except StorageError as e:
        fail(str(e), EXIT_ERROR)
    if output == "json":
        click.echo(json.dumps({"draining": marked}))
        return
    for n in marked:
        click.echo(f"Draining {n}: it hands the store to a standby and stops.")


def _table(headers: list[str], rows: list[list[str]], *, empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for line in [headers, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
