"""The options of ``server start`` and ``server start-dev``, declared once so the two cannot drift, and
``server start``'s config file.

Where a setting of ``server start`` comes from, first found wins: its flag, its ``MAINSPRING_*``
environment variable, the ``--config`` file, the default. Click gives that order by itself (command
line, environment, ``default_map``, default): the config file is read by an eager option into the
context's ``default_map``, after being checked here key by key so that a mistake names the file and key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from ._common import EXIT_INVALID, fail

__all__ = ["SERVER_OPTIONS", "parse_size", "server_options"]

F = TypeVar("F", bound=Callable[..., Any])


def parse_size(text: str, hint: str | None = None) -> int:
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


def _endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from urllib.parse import urlsplit

    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise click.BadParameter(f"expected an http(s) URL such as http://localhost:8081, got {value!r}")
    return value.rstrip("/")


def _hosts(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from ..server._guard import parse_allowed_host

    try:
        return tuple(parse_allowed_host(v) for v in values)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@dataclass(frozen=True)
class _Option:
    """One server setting: its flags, its environment variable's name after ``MAINSPRING_`` (``server
    start`` only), and click's settings; ``production`` overrides some of those for ``server start``."""

    decls: tuple[str, ...]
    env: str
    settings: dict[str, Any]
    production: dict[str, Any] = field(default_factory=dict)
    #: Offered by ``server start`` only.
    production_only: bool = False


SERVER_OPTIONS: tuple[_Option, ...] = (
    _Option(
        ("--port", "-p"),
        "PORT",
        dict(
            type=click.IntRange(0, 65535),
            default=7233,
            show_default=True,
            help="Port of the HTTP/JSON API (0 picks a free one).",
        ),
    ),
    _Option(
        ("--ui-port",),
        "UI_PORT",
        dict(
            type=click.IntRange(0, 65535),
            default=8233,
            show_default=True,
            help="Port of the web UI (0 picks a free one).",
        ),
    ),
    _Option(
        ("--metrics-port",),
        "METRICS_PORT",
        dict(
            type=click.IntRange(0, 65535),
            default=None,
            help="Serve Prometheus metrics at http://IP:PORT/metrics (https with --tls-cert; off unless given; 0 picks "
            "a free port).",
        ),
    ),
    _Option(
        ("--otlp-endpoint",),
        "OTLP_ENDPOINT",
        dict(
            default=None,
            metavar="URL",
            help="Send a span of each API operation to this OTLP/HTTP collector (e.g. http://127.0.0.1:4318; "
            "/v1/traces is added), continuing callers' traces. Off unless given; needs the opentelemetry extra.",
        ),
    ),
    _Option(("--headless",), "HEADLESS", dict(is_flag=True, help="Run without the web UI.")),
    _Option(
        ("--standby",),
        "STANDBY",
        dict(
            is_flag=True,
            help="With a PostgreSQL store another server holds: wait, and take over when its lease lapses.",
        ),
        production=dict(
            decls=("--standby/--no-standby",),
            default=True,
            show_default=True,
            help="With a PostgreSQL store another server holds: wait, and take over when its lease lapses "
            "(several servers on one database); --no-standby: refuse to start after one lease instead.",
        ),
    ),
    _Option(
        ("--ip",),
        "IP",
        dict(default="127.0.0.1", show_default=True, help="Interface to listen on."),
        production=dict(
            help="Interface to listen on: this machine only unless configured (0.0.0.0 for every interface)."
        ),
    ),
    _Option(
        ("--auth",),
        "AUTH",
        dict(
            type=click.Choice(["none", "api-key", "oidc"]),
            default="none",
            show_default=True,
            help="Who may call: none (anyone who reaches the ports), api-key (every request carries a key; "
            "make them with `mainspring operator api-key create`; on a store with none, the first admin key "
            "is printed at start) or oidc (an API key or a JWT of --oidc-issuer).",
        ),
    ),
    _Option(
        ("--oidc-issuer",),
        "OIDC_ISSUER",
        dict(default=None, metavar="URL", help="With --auth oidc: the issuer (iss) whose tokens are accepted."),
    ),
    _Option(
        ("--oidc-audience",),
        "OIDC_AUDIENCE",
        dict(default=None, metavar="AUD", help="With --auth oidc: the audience (aud) tokens must be for."),
    ),
    _Option(
        ("--oidc-jwks",),
        "OIDC_JWKS",
        dict(
            default=None,
            metavar="FILE|URL",
            help="With --auth oidc: the issuer's signing keys, a JWKS file or its jwks_uri.",
        ),
    ),
    _Option(
        ("--oidc-client-id",),
        "OIDC_CLIENT_ID",
        dict(
            default=None,
            metavar="ID",
            help="With --auth oidc: the web UI's client id at the issuer, for its login (authorization code "
            "flow with PKCE; endpoints from the issuer's discovery document).",
        ),
    ),
    _Option(
        ("--oidc-client-secret",),
        "OIDC_CLIENT_SECRET",
        dict(default=None, metavar="SECRET", help="With --oidc-client-id: its secret, for a confidential client."),
    ),
    _Option(
        ("--oidc-redirect-url",),
        "OIDC_REDIRECT_URL",
        dict(
            default=None,
            metavar="URL",
            help="With --oidc-client-id: the callback registered at the issuer (default: the UI's "
            "/api/v1/auth/oidc/callback on the name the browser used).",
        ),
    ),
    _Option(
        ("--oidc-permissions-claim",),
        "OIDC_PERMISSIONS_CLAIM",
        dict(
            default="permissions",
            show_default=True,
            help='With --auth oidc: the claim listing "<namespace>:<role>" grants ("default:writer", "*:admin").',
        ),
    ),
    _Option(
        ("--insecure-no-auth",),
        "INSECURE_NO_AUTH",
        dict(
            is_flag=True,
            help="Listen on an interface other machines reach (--ip) with --auth none: anyone who reaches the "
            "port may do anything. Without it, server start refuses to.",
        ),
        production_only=True,
    ),
    _Option(
        ("--db-filename", "--db", "-f"),
        "DB",
        dict(
            default="mainspring.db",
            show_default=True,
            help="SQLite file that keeps all state (':memory:' keeps nothing after the server stops), or a "
            "database URL: sqlite:///path.db, postgresql://user:password@host:5432/dbname.",
        ),
    ),
    _Option(
        ("--namespace", "namespaces"),
        "NAMESPACES",
        dict(
            multiple=True,
            metavar="NAME",
            help="Namespace to create at start, besides 'default' (repeatable).",
        ),
    ),
    _Option(
        ("--max-payload-size",),
        "MAX_PAYLOAD_SIZE",
        dict(default="2MiB", show_default=True, help="Largest workflow or activity input or result accepted."),
    ),
    _Option(
        ("--worker-session-timeout",),
        "WORKER_SESSION_TIMEOUT",
        dict(
            type=click.FloatRange(0.5, 600),
            default=5.0,
            show_default=True,
            help="Seconds without a heartbeat after which a worker is considered dead and its tasks move on.",
        ),
    ),
    _Option(
        ("--workflow-task-timeout",),
        "WORKFLOW_TASK_TIMEOUT",
        dict(
            type=click.FloatRange(0.5, 3600),
            default=10.0,
            show_default=True,
            help="Seconds a worker has to complete a workflow task before it is handed out again (a worker "
            "running longer local activities completes it before then and goes on in the next).",
        ),
    ),
    _Option(
        ("--max-poll-wait",),
        "MAX_POLL_WAIT",
        dict(
            type=click.FloatRange(0.1, 3600),
            default=30.0,
            show_default=True,
            help="Seconds a long-poll (a worker's poll for tasks, a wait for a result) is held open before the "
            "server answers 'nothing yet' (lower it behind a proxy that drops idle requests sooner).",
        ),
    ),
    _Option(
        ("--max-pending-starts",),
        "MAX_PENDING_STARTS",
        dict(
            type=click.IntRange(1, 1_000_000),
            default=10_000,
            show_default=True,
            help="Most workflow starts in flight at once; more are refused with 429 (retry after a moment). "
            "Starts are also refused while a queue of them stands (128 or more in flight, each taking over "
            "50 ms).",
        ),
    ),
    _Option(
        ("--execution-cache-size",),
        "EXECUTION_CACHE_SIZE",
        dict(
            type=click.IntRange(1, 10_000_000),
            default=10_000,
            show_default=True,
            help="Workflow runs whose state the server keeps in memory (runs in use stay beyond it).",
        ),
    ),
    _Option(
        ("--limit-pending-activities",),
        "LIMIT_PENDING_ACTIVITIES",
        dict(
            type=click.IntRange(1, 10_000_000),
            default=10_000,
            show_default=True,
            help="Most activities one workflow run may have pending; a workflow task that would schedule more "
            "fails (and is retried) until the workflow waits for some of them.",
        ),
    ),
    _Option(
        ("--limit-history-events",),
        "LIMIT_HISTORY_EVENTS",
        dict(
            type=click.IntRange(10, 100_000_000),
            default=200_000,
            show_default=True,
            help="Most events in one run's history; a workflow task that would go past it fails (and is "
            "retried) unless it closes the workflow. Continue as new before reaching it.",
        ),
    ),
    _Option(
        ("--warn-history-events",),
        "WARN_HISTORY_EVENTS",
        dict(
            type=click.IntRange(1, 100_000_000),
            default=50_000,
            show_default=True,
            help="Past this many events, workflows are told that continuing as new is suggested.",
        ),
    ),
    _Option(
        ("--limit-history-bytes",),
        "LIMIT_HISTORY_BYTES",
        dict(
            default="100MiB",
            show_default=True,
            help="Largest history of one run (the JSON of its events); a workflow task that would go past it "
            "fails (and is retried) unless it closes the workflow.",
        ),
    ),
    _Option(
        ("--warn-history-bytes",),
        "WARN_HISTORY_BYTES",
        dict(
            default="25MiB",
            show_default=True,
            help="Past this history size, workflows are told that continuing as new is suggested.",
        ),
    ),
    _Option(
        ("--allowed-origin", "allowed_origins"),
        "ALLOWED_ORIGINS",
        dict(
            multiple=True,
            metavar="URL",
            callback=_origins,
            help="Origin (scheme://host[:port]) whose web pages may call the server, besides the server's own "
            "(repeatable; '*' allows any page, which gives up the protection).",
        ),
    ),
    _Option(
        ("--ui-codec-endpoint",),
        "UI_CODEC_ENDPOINT",
        dict(
            default=None,
            metavar="URL",
            callback=_endpoint,
            help="A codec server (mainspring codec-server) the web UI decodes encoded payloads through, from "
            "the browser (this server never calls it); its origin is allowed by the UI's Content-Security-Policy.",
        ),
    ),
    _Option(
        ("--allowed-host", "allowed_hosts"),
        "ALLOWED_HOSTS",
        dict(
            multiple=True,
            metavar="NAME",
            callback=_hosts,
            help="Host name (or NAME:PORT) the server answers to, besides localhost, its addresses and, with "
            "--ip 0.0.0.0, the machine's name (repeatable; '*' allows any, which gives up the protection "
            "against DNS rebinding).",
        ),
    ),
    _Option(
        ("--tls-cert",),
        "TLS_CERT",
        dict(
            default=None,
            metavar="PATH",
            help="Serve TLS (HTTPS) on every port with this PEM certificate chain (with --tls-key). The files "
            "are reloaded when they change, without a restart.",
        ),
    ),
    _Option(
        ("--tls-key",),
        "TLS_KEY",
        dict(default=None, metavar="PATH", help="The unencrypted PEM private key of --tls-cert."),
    ),
    _Option(
        ("--tls-client-ca",),
        "TLS_CLIENT_CA",
        dict(
            default=None,
            metavar="PATH",
            help="Mutual TLS: PEM CA certificates; every client, worker and browser must present a certificate "
            "they signed (on the web UI's port too, which serves the same API).",
        ),
    ),
    _Option(
        ("--log-level",),
        "LOG_LEVEL",
        dict(type=click.Choice(["debug", "info", "warning", "error"]), default="warning", show_default=True),
    ),
    _Option(
        ("--log-format",),
        "LOG_FORMAT",
        dict(
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="json: one JSON object per line, with the run's and the request's ids as fields of their own.",
        ),
    ),
    _Option(
        ("--migrate/--no-migrate",),
        "MIGRATE",
        dict(
            default=True,
            show_default=True,
            help="Bring the store's schema up to date at start; --no-migrate refuses a schema that is behind "
            "(run `mainspring store migrate` as a step of its own).",
        ),
        production_only=True,
    ),
)


def _names(param: click.Parameter) -> set[str]:
    """The keys a config file may name ``param`` by: its long flags (``--no-`` halves left out), with
    dashes or underscores, and its parameter name."""
    longs = [o.removeprefix("--") for o in param.opts if o.startswith("--")]
    names = {n for long in longs for n in (long, long.replace("-", "_"))}
    return names | {param.name} if param.name else names


def _expected(param: click.Parameter) -> tuple[str, Callable[[Any], bool]]:
    """What a config file's value for ``param`` must be (TOML's own types: a port is an integer, not a
    string), worded for the error."""

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if param.multiple:
        return "a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)
    if isinstance(param, click.Option) and param.is_flag:
        return "true or false", lambda v: isinstance(v, bool)
    if isinstance(param.type, click.IntRange):
        return "an integer", is_int
    if isinstance(param.type, click.FloatRange):
        return "a number", lambda v: is_int(v) or isinstance(v, float)
    return "a string", lambda v: isinstance(v, str)


def _load_config(ctx: click.Context, param: click.Parameter, path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        fail(f"cannot read the config file {path!r}: {e.strerror}", EXIT_INVALID)
    except tomllib.TOMLDecodeError as e:
        fail(f"the config file {path!r} is not valid TOML: {e}", EXIT_INVALID)
    by_key = {
        name: p for p in ctx.command.params if p.name not in (None, "config") and p.expose_value for name in _names(p)
    }
    defaults: dict[str, Any] = {}
    for key, value in data.items():
        target = by_key.get(key)
        if target is None or target.name is None:
            fail(
                f"unknown key {key!r} in the config file {path!r}: the keys are the long flags of "
                "`mainspring server start` (port, ui-port, db, namespace, ...; see --help)",
                EXIT_INVALID,
            )
        what, ok = _expected(target)
        if not ok(value):
            fail(f"key {key!r} in the config file {path!r} must be {what}, not {value!r}", EXIT_INVALID)
        try:  # the flag's own checks (ranges, choices, origins), worded for the file
            target.process_value(ctx, tuple(value) if target.multiple else value)
        except click.BadParameter as e:
            fail(f"key {key!r} in the config file {path!r}: {e.message}", EXIT_INVALID)
        if target.name in defaults:
            fail(f"the config file {path!r} sets {target.name!r} twice (as {key!r})", EXIT_INVALID)
        defaults[target.name] = value
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return path


def server_options(*, production: bool) -> Callable[[F], F]:
    """The options of ``server start`` (``production``: with ``--config``, ``MAINSPRING_*`` variables and
    its own defaults) or of ``server start-dev``."""

    def decorate(fn: F) -> F:
        for option in reversed(SERVER_OPTIONS):
            if option.production_only and not production:
                continue
            settings = dict(option.settings)
            decls = option.decls
            if production:
                overrides = dict(option.production)
                flags = overrides.pop("decls", None)
                if flags is not None:  # e.g. --standby/--no-standby: same parameter name, another spelling
                    decls = (*flags, *(d for d in decls if not d.startswith("-")))
                settings.update(overrides)
                settings["envvar"] = f"MAINSPRING_{option.env}"
                settings["show_envvar"] = True
            fn = click.option(*decls, **settings)(fn)
        if production:
            fn = click.option(
                "--config",
                type=click.Path(dir_okay=False),
                envvar="MAINSPRING_CONFIG",
                show_envvar=True,
                is_eager=True,
                expose_value=False,
                callback=_load_config,
                help='TOML file of settings named like the long flags (port = 7233, db = "postgresql://...", '
                'namespace = ["a", "b"]). A flag beats its MAINSPRING_* variable, which beats the file.',
            )(fn)
        return fn

    return decorate
