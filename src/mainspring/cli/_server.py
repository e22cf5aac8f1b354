"""``mainspring server start`` and ``mainspring server start-dev``."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import Any

import click

from .._version import __version__
from ..api.names import check_namespace
from ._common import EXIT_INVALID, fail
from ._server_options import parse_size, server_options

__all__ = ["server"]


def _oidc(settings: dict[str, Any]) -> Any:
    """The OIDC settings of ``--auth oidc`` (all three of issuer, audience and JWKS), else None."""
    from ..server._oidc import OidcConfig

    given = {k: settings.get(f"oidc_{k}") for k in ("issuer", "audience", "jwks")}
    if settings["auth"] != "oidc":
        if any(given.values()):
            fail("--oidc-issuer, --oidc-audience and --oidc-jwks go with --auth oidc", EXIT_INVALID)
        return None
    missing = [f"--oidc-{k}" for k, v in given.items() if not v]
    if missing:
        fail(f"--auth oidc needs {', '.join(missing)}", EXIT_INVALID)
    return OidcConfig(
        issuer=str(given["issuer"]),
        audience=str(given["audience"]),
        jwks=str(given["jwks"]),
        permissions_claim=settings.get("oidc_permissions_claim") or "permissions",
        client_id=settings.get("oidc_client_id") or None,
        client_secret=settings.get("oidc_client_secret") or None,
        redirect_url=settings.get("oidc_redirect_url") or None,
    )


def _loopback(host: str) -> bool:
    """Whether ``host`` (an interface to listen on) is reachable from this machine only."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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


@click.group()
def server() -> None:
    """Run a Mainspring server."""


@server.command("start-dev")
@server_options(production=False)
def start_dev(**settings: Any) -> None:
    """Start a server for development: API on localhost:7233, state in a SQLite file."""
    _run(settings, production=False)


@server.command("start")
@server_options(production=True)
def start(**settings: Any) -> None:
    """Start a server for production: settings from flags, MAINSPRING_* variables or a --config file.

    \b
    Unlike start-dev: on a PostgreSQL store another server holds it waits as a standby (--no-standby
    refuses instead), and with --no-migrate it refuses a schema that is behind (mainspring store migrate).
    It listens on 127.0.0.1 unless --ip (or MAINSPRING_IP, or ip in the file) says otherwise."""
    _run(settings, production=True)


def _run(settings: dict[str, Any], *, production: bool) -> None:
    """Both commands, from their options (the same ones: see ``_server_options``)."""

    from ..server import Server, ServerConfig, ServerStartError, run_server
    from ..server._logs import configure_logging
    from ..storage import StorageError

    db_filename: str = settings["db_filename"]
    namespaces: tuple[str, ...] = tuple(settings["namespaces"])
    postgres = db_filename.startswith(("postgresql://", "postgres://"))
    for ns in namespaces:
        problem = check_namespace(ns)
        if problem:
            raise click.BadParameter(problem, param_hint="--namespace")
    configure_logging(settings["log_level"], settings.get("log_format") or "text")
    config = ServerConfig(
        db=db_filename,
        standby=settings["standby"],
        migrate=settings.get("migrate", True),
        host=settings["ip"],
        port=settings["port"],
        ui_port=None if settings["headless"] else settings["ui_port"],
        metrics_port=settings.get("metrics_port"),
        otlp_endpoint=settings.get("otlp_endpoint"),
        namespaces=("default", *[n for n in namespaces if n != "default"]),
        dev_search_attributes=not production,
        max_payload_bytes=parse_size(settings["max_payload_size"]),
        worker_session_timeout=timedelta(seconds=settings["worker_session_timeout"]),
        workflow_task_timeout=timedelta(seconds=settings["workflow_task_timeout"]),
        max_pending_starts=settings["max_pending_starts"],
        max_poll_wait=timedelta(seconds=settings["max_poll_wait"]),
        execution_cache_size=settings["execution_cache_size"],
        limit_pending_activities=settings["limit_pending_activities"],
        limit_history_events=settings["limit_history_events"],
        warn_history_events=settings["warn_history_events"],
        limit_history_bytes=parse_size(settings["limit_history_bytes"], "--limit-history-bytes"),
        warn_history_bytes=parse_size(settings["warn_history_bytes"], "--warn-history-bytes"),
        allowed_origins=settings["allowed_origins"],
        allowed_hosts=settings["allowed_hosts"],
        auth=settings["auth"],
        oidc=_oidc(settings),
        tls_cert=settings["tls_cert"],
        tls_key=settings["tls_key"],
        tls_client_ca=settings["tls_client_ca"],
        ui_codec_endpoint=settings.get("ui_codec_endpoint"),
    )
    unchecked = config.auth == "none" and not config.tls_client_ca  # (client certificates are a check too)
    if production and unchecked and not _loopback(config.host) and not settings.get("insecure_no_auth"):
        fail(
            f"refusing to listen on {config.host} with no authentication: anyone who reaches it could start, "
            "read and terminate workflows. Turn it on with --auth api-key (the first admin key is printed at "
            "start) or mutual TLS (--tls-client-ca), listen on 127.0.0.1, or pass --insecure-no-auth if a "
            "network boundary of yours guards the port",
            EXIT_INVALID,
        )

    def ready(srv: Server) -> None:
        host, actual_port = srv.address.rsplit(":", 1)
        scheme = srv.scheme
        api = f"{scheme}://{host}:{actual_port}"
        where = srv.store.description
        kind = "" if db_filename == ":memory:" or postgres else " (SQLite, WAL, synchronous=FULL)"
        click.echo(f"Mainspring {__version__} {'server' if production else 'dev server'} (pid {os.getpid()})")
        click.echo(f"  API         {api}   reference: {api}/api/v1/docs")
        ui = srv.ui_address
        if ui is not None:
            ui_host, ui_port_bound = ui.rsplit(":", 1)
            ui_name = "localhost" if ui_host == "127.0.0.1" else ui_host
            click.echo(f"  Web UI      {scheme}://{ui_name}:{ui_port_bound}")
        metrics = srv.metrics_address
        if metrics is not None:
            click.echo(f"  Metrics     {scheme}://{metrics}/metrics")
        click.echo(f"  Database    {where}{kind}")
        click.echo(f"  Namespaces  {', '.join(config.namespaces)}")
        if config.auth != "none":
            click.echo(f"  Auth        {config.auth} (requests carry an API key)")
        if srv.tls is not None:
            mutual = f", client certificates signed by {config.tls_client_ca}" if config.tls_client_ca else ""
            click.echo(f"  TLS         {config.tls_cert} (reloaded when it changes){mutual}")
        age = _process_age()
        click.echo(f"Ready in {age if age is not None else srv.started_in:.2f}s. Press Ctrl+C to stop.")
        sys.stdout.flush()

    if production and postgres and config.standby:
        # Several servers on one database is the production shape: all but one wait, ports closed, until
        # the holder's lease lapses. Say so before the wait, which may be long (the store lease logs
        # the holder once it is seen).
        from ..storage.postgres import redact

        click.echo(
            f"Mainspring {__version__} server (pid {os.getpid()}): opening the store at {redact(db_filename)}; "
            "if another server holds it, this one waits as a standby and takes over when its lease lapses"
        )
        sys.stdout.flush()
    try:
        run_server(config, on_ready=ready)
    except (ServerStartError, StorageError) as e:  # could not start; or lost its store to another server
        click.echo(f"Error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    click.echo("Server stopped.")
