"""``mainspring store copy``: a whole store (a SQLite file, a PostgreSQL database) copied to another, with
no server running on either."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from ._common import EXIT_ERROR, EXIT_INTERRUPTED, fail

if TYPE_CHECKING:
    from ..storage import CopyProgress, CopyReport

__all__ = ["copy"]


@click.command("copy")
@click.option(
    "--from",
    "from_url",
    required=True,
    metavar="URL",
    help="The store to copy: a SQLite file (a path, or sqlite:////abs/path.db) or postgresql://user:pw@host/db.",
)
@click.option(
    "--to",
    "to_url",
    required=True,
    metavar="URL",
    help="Where to copy it: an empty database (its schema is created or brought up to date first).",
)
def copy(from_url: str, to_url: str) -> None:
    """Copy every namespace and workflow run, open or closed, with its history, timers and pending
    activities, and the server's keys, from one store to another: SQLite to PostgreSQL, or back.

    Stop the server on the source first: the copy refuses a store a server holds, and holds both stores
    until it is done. A server started on the destination then carries on the open workflows.
    """
    import asyncio
    import logging

    from ..storage import StorageError, copy_urls

    # The store's notes meant for a server's log ("waiting one lease in case that server is gone") would come
    # before the copy's own one-line answer; what is refused is said by that answer.
    logging.getLogger("mainspring.storage").setLevel(logging.ERROR)

    last = 0.0

    def progress(p: CopyProgress) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 1.0 or p.runs == p.total_runs:
            last = now
            click.echo(f"  {p.runs:,} of {p.total_runs:,} runs, {p.events:,} of {p.total_events:,} events")

    click.echo(f"Copying {_redact(from_url)} to {_redact(to_url)}")
    sys.stdout.flush()
    try:
        report, src, dst = asyncio.run(copy_urls(from_url, to_url, progress=progress))
    except StorageError as e:
        fail(str(e), EXIT_ERROR)
    except KeyboardInterrupt:
        fail("interrupted: the destination holds part of the copy; empty it before copying again", EXIT_INTERRUPTED)
    _echo_report(report, src, dst)


def _redact(url: str) -> str:
    from ..storage.postgres import redact

    return redact(url) if "://" in url else url


def _echo_report(report: CopyReport, src: str, dst: str) -> None:
    rows = (
        ("namespaces", report.source.namespaces, report.destination.namespaces),
        ("workflow runs", report.source.executions, report.destination.executions),
        ("  open", report.source.open_executions, report.destination.open_executions),
        ("history events", report.source.events, report.destination.events),
        ("pending items", report.source.pending, report.destination.pending),
        ("server keys", report.source.server_keys, report.destination.server_keys),
        ("workflow schemas", report.source.workflow_schemas, report.destination.workflow_schemas),
        ("worker builds", report.source.worker_builds, report.destination.worker_builds),
    )
    click.echo(f"Copied in {report.seconds:.1f}s, checked:")
    click.echo(f"  {'':18}{'source':>14}{'destination':>14}")
    for name, a, b in rows:
        click.echo(f"  {name:18}{a:>14,}{b:>14,}")
    click.echo(f"  schedules copied: {report.schedules:,}")
    click.echo(f"  source:      {src}")
    click.echo(f"  destination: {dst}")
    before = report.destination_before
    if before.namespaces or before.server_keys:
        click.echo(
            "  (the destination had namespaces or keys of its own before: the source's replaced those of the same name)"
        )
