"""``mainspring store migrate`` and ``mainspring store version``: a store's schema, changed or read as a
step of its own (a server started with ``--no-migrate`` leaves that to an operator)."""

from __future__ import annotations

import json

import click

from ._common import EXIT_ERROR, fail
from ._store_copy import copy

__all__ = ["db_option", "output_option", "store"]

_DB_HELP = "The store: a SQLite file (or sqlite:///path.db) or postgresql://user:password@host:5432/dbname."


def db_option() -> click.Option:
    """--db (or MAINSPRING_DB, as for ``server start``), for the commands that read a store directly."""
    return click.Option(["--db", "db"], required=True, envvar="MAINSPRING_DB", metavar="URL", help=_DB_HELP)


def output_option() -> click.Option:
    """-o/--output text|json (``main`` reads it too, to word usage errors as JSON)."""
    return click.Option(
        ["-o", "--output"],
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format; json is for scripts.",
    )


@click.group()
def store() -> None:
    """Work on a store (database) directly: its schema version, migrations, a copy to another store."""


store.add_command(copy)


def _versions(versions: tuple[int, ...]) -> str:
    return ", ".join(str(v) for v in versions) if versions else "none"


@store.command("migrate", params=[db_option(), output_option()])
def migrate(db: str, output: str) -> None:
    """Apply the migrations the store lacks (beside running servers on PostgreSQL; a SQLite file must not
    be in use). Prints the schema version before and after."""
    import asyncio

    from ..storage import StorageError
    from ..storage._admin import migrate_schema

    try:
        report = asyncio.run(migrate_schema(db))
    except StorageError as e:
        fail(str(e), EXIT_ERROR)
    if output == "json":
        click.echo(
            json.dumps(
                {"store": report.store, "before": report.before, "after": report.after, "applied": report.applied}
            )
        )
        return
    click.echo(f"Store          {report.store}")
    click.echo(f"Schema before  {report.before}")
    click.echo(f"Applied        {_versions(report.applied)}")
    click.echo(f"Schema now     {report.after}")


@store.command("version", params=[db_option(), output_option()])
def version(db: str, output: str) -> None:
    """Print the store's schema version and the migrations it lacks (changes nothing). Exit status 1 if
    its schema is newer than this Mainspring knows."""
    import asyncio

    from ..storage import StorageError
    from ..storage._admin import schema_status

    try:
        status = asyncio.run(schema_status(db))
    except StorageError as e:
        fail(str(e), EXIT_ERROR)
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "store": status.store,
                    "version": status.version,
                    "latest": status.latest,
                    "pending": status.pending,
                    "newer": status.newer,
                }
            )
        )
    else:
        click.echo(f"Store          {status.store}")
        click.echo(f"Schema         {status.version} (this Mainspring knows {status.latest})")
        if status.pending and not status.newer:
            pending = _versions(status.pending)
            click.echo(f"Pending        {pending}: run `mainspring store migrate --db {status.store}`")
        elif not status.newer:
            click.echo("Pending        none: up to date")
    if status.newer:
        fail(
            f"the store's schema version {status.version} is newer than this Mainspring knows ({status.latest}): "
            "upgrade Mainspring",
            EXIT_ERROR,
        )
