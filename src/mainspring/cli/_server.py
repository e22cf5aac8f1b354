"""``mainspring server start-dev``."""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta

import click

from .._version import __version__
from ..api.names import check_namespace

__all__ = ["server"]


def _process_age() -> float | None:
    """Seconds since this process started (Linux), to report start-up time honestly; None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _parse_size(text: str, hint: str | None = None) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?\s*", text, re.IGNORECASE)
    if not m:
        raise click.BadParameter(f"{text!r} is not a size; use bytes or a suffix, e.g. 2MiB or 512KiB", param_hint=hint)
    number = float(m.group(1))
    unit = (m.group(2) or "B").upper().rstrip("B").rstrip("I")
    return int(number * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit])


def _origins(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from ..server._guard import parse_allowed_origin

    try:
        return tuple(parse_allowed_origin(v) for v in values)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _hosts(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from ..server._guard import parse_allowed_host

    try:
        return tuple(parse_allowed_host(v) for v in values)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.group()
def server() -> None:
    """Run a Mainspring server."""


@server.command("start-dev")
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=7233,
    show_default=True,
    help="Port of the HTTP/JSON API (0 picks a free one).",
)
@click.option(
    "--ui-port",
    type=click.IntRange(0, 65535),
    default=8233,
    show_default=True,
    help="Port of the web UI (0 picks a free one).",
)
@click.option("--headless", is_flag=True, help="Run without the web UI.")
@click.option(
    "--standby",
    is_flag=True,
    help="With a PostgreSQL store another server holds: wait, and take over when its lease lapses.",
)
@click.option("--ip", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--db-filename",
    "--db",
    "-f",
    default="mainspring.db",
    show_default=True,
    help="SQLite file that keeps all state (':memory:' keeps nothing after the server stops), or a database "
    "URL: sqlite:///path.db, postgresql://user:password@host:5432/dbname.",
)
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    metavar="NAME",
    help="Namespace to create at start, besides 'default' (repeatable).",
)
@click.option(
    "--max-payload-size",
    default="2MiB",
    show_default=True,
    help="Largest workflow or activity input or result accepted.",
)
@click.option(
    "--worker-session-timeout",
    type=click.FloatRange(0.5, 600),
    default=5.0,
    show_default=True,
    help="Seconds without a heartbeat after which a worker is considered dead and its tasks move on.",
)
@click.option(
    "--workflow-task-timeout",
    type=click.FloatRange(0.5, 3600),
    default=10.0,
    show_default=True,
    help="Seconds a worker has to complete a workflow task before it is handed out again (a worker running "
    "longer local activities completes it before then and goes on in the next).",
)
@click.option(
    "--max-poll-wait",
    type=click.FloatRange(0.1, 3600),
    default=30.0,
    show_default=True,
    help="Seconds a long-poll (a worker's poll for tasks, a wait for a result) is held open before the server "
    "answers 'nothing yet' (lower it behind a proxy that drops idle requests sooner).",
)
@click.option(
    "--max-pending-starts",
    type=click.IntRange(1, 1_000_000),
    default=10_000,
    show_default=True,
    help="Most workflow starts in flight at once; more are refused with 429 (retry after a moment). Starts are "
    "also refused while a queue of them stands (128 or more in flight, each taking over 50 ms).",
)
@click.option(
    "--execution-cache-size",
    type=click.IntRange(1, 10_000_000),
    default=10_000,
    show_default=True,
    help="Workflow runs whose state the server keeps in memory (runs in use stay beyond it).",
)
@click.option(
    "--limit-pending-activities",
    type=click.IntRange(1, 10_000_000),
    default=10_000,
    show_default=True,
    help="Most activities one workflow run may have pending; a workflow task that would schedule more fails "
    "(and is retried) until the workflow waits for some of them.",
)
@click.option(
    "--limit-history-events",
    type=click.IntRange(10, 100_000_000),
    default=200_000,
    show_default=True,
    help="Most events in one run's history; a workflow task that would go past it fails (and is retried) "
    "unless it closes the workflow. Continue as new before reaching it.",
)
@click.option(
    "--warn-history-events",
    type=click.IntRange(1, 100_000_000),
    default=50_000,
    show_default=True,
    help="Past this many events, workflows are told that continuing as new is suggested.",
)
@click.option(
    "--limit-history-bytes",
    default="100MiB",
    show_default=True,
    help="Largest history of one run (the JSON of its events); a workflow task that would go past it fails "
    "(and is retried) unless it closes the workflow.",
)
@click.option(
    "--warn-history-bytes",
    default="25MiB",
    show_default=True,
    help="Past this history size, workflows are told that continuing as new is suggested.",
)
@click.option(
    "--allowed-origin",
    "allowed_origins",
    multiple=True,
    metavar="URL",
    callback=_origins,
    help="Origin (scheme://host[:port]) whose web pages may call the server, besides the server's own "
    "(repeatable; '*' allows any page, which gives up the protection).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    callback=_hosts,
    help="Host name (or NAME:PORT) the server answers to, besides localhost, its addresses and, with "
    "--ip 0.0.0.0, the machine's name (repeatable; '*' allows any, which gives up the protection "
    "against DNS rebinding).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
)
def start_dev(
    port: int,
    ui_port: int,
    headless: bool,
    standby: bool,
    ip: str,
    db_filename: str,
    namespaces: tuple[str, ...],
    max_payload_size: str,
    worker_session_timeout: float,
    workflow_task_timeout: float,
    max_poll_wait: float,
    max_pending_starts: int,
    execution_cache_size: int,
    limit_pending_activities: int,
    limit_history_events: int,
    warn_history_events: int,
    limit_history_bytes: str,
    warn_history_bytes: str,
    allowed_origins: tuple[str, ...],
    allowed_hosts: tuple[str, ...],
    log_level: str,
) -> None:
    """Start a server for development: API on localhost:7233, state in a SQLite file."""
    import logging

    from ..server import Server, ServerConfig, ServerStartError, run_server
    from ..storage import StorageError

    for ns in namespaces:
        problem = check_namespace(ns)
        if problem:
            raise click.BadParameter(problem, param_hint="--namespace")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        db=db_filename,
        standby=standby,
        host=ip,
        port=port,
        ui_port=None if headless else ui_port,
        namespaces=("default", *[n for n in namespaces if n != "default"]),
        max_payload_bytes=_parse_size(max_payload_size),
        worker_session_timeout=timedelta(seconds=worker_session_timeout),
        workflow_task_timeout=timedelta(seconds=workflow_task_timeout),
        max_pending_starts=max_pending_starts,
        max_poll_wait=timedelta(seconds=max_poll_wait),
        execution_cache_size=execution_cache_size,
        limit_pending_activities=limit_pending_activities,
        limit_history_events=limit_history_events,
        warn_history_events=warn_history_events,
        limit_history_bytes=_parse_size(limit_history_bytes, "--limit-history-bytes"),
        warn_history_bytes=_parse_size(warn_history_bytes, "--warn-history-bytes"),
        allowed_origins=allowed_origins,
        allowed_hosts=allowed_hosts,
    )

    def ready(srv: Server) -> None:
        host, actual_port = srv.address.rsplit(":", 1)
        api = f"http://{host}:{actual_port}"
        where = srv.store.description
        kind = (
            ""
            if db_filename == ":memory:" or db_filename.startswith(("postgresql://", "postgres://"))
            else " (SQLite, WAL, synchronous=FULL)"
        )
        click.echo(f"Mainspring {__version__} dev server (pid {os.getpid()})")
        click.echo(f"  API         {api}   reference: {api}/api/v1/docs")
        ui = srv.ui_address
        if ui is not None:
            ui_host, ui_port_bound = ui.rsplit(":", 1)
            click.echo(f"  Web UI      http://{'localhost' if ui_host == '127.0.0.1' else ui_host}:{ui_port_bound}")
        click.echo(f"  Database    {where}{kind}")
        click.echo(f"  Namespaces  {', '.join(config.namespaces)}")
        age = _process_age()
        click.echo(f"Ready in {age if age is not None else srv.started_in:.2f}s. Press Ctrl+C to stop.")
        sys.stdout.flush()

    try:
        run_server(config, on_ready=ready)
    except (ServerStartError, StorageError) as e:  # could not start; or lost its store to another server
        click.echo(f"Error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    click.echo("Server stopped.")
