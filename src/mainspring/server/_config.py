"""Server settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from ._oidc import OidcConfig

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """How a Mainspring server runs. Every field has a default suited to ``start-dev``."""

    #: Where state lives: a SQLite file path, ``:memory:``, or a store URL.
    db: str = "mainspring.db"
    #: A store another server holds (PostgreSQL): wait for it, and take over when its lease lapses, rather
    #: than refusing to start. The ports refuse connections meanwhile.
    standby: bool = False
    #: Bring the store's schema up to date at start (numbered migrations). False: refuse a schema that is
    #: behind, naming ``mainspring store migrate``, for deployments that migrate as a step of their own.
    migrate: bool = True
    #: Interface and port of the HTTP/JSON API.
    host: str = "127.0.0.1"
    port: int = 7233
    #: Port of the web UI (which also serves the API, for the browser); None runs without it.
    ui_port: int | None = 8233
    #: Port of the Prometheus metrics (``GET /metrics``); None (the default) counts nothing.
    metrics_port: int | None = None
    #: An OTLP/HTTP collector (``http://collector:4318``) to send a span of each operation to (``_tracing``);
    #: None (the default) makes no spans and loads no OpenTelemetry code.
    otlp_endpoint: str | None = None
    #: Host names (or addresses, optionally ``NAME:PORT``) the server answers to besides its own:
    #: localhost, 127.0.0.1, ::1, ``host``, and bound to 0.0.0.0 or ::, the machine's name and addresses.
    #: Any other Host header is refused (that is what stops DNS rebinding); ``*`` allows every one.
    allowed_hosts: tuple[str, ...] = ()
    #: Origins (``scheme://host[:port]``) whose pages may call the server, besides its own (the API's and
    #: the UI's origins under every name it answers to); ``*`` allows every origin. Requests without an
    #: Origin header (the CLI, the SDK, workers) are not pages' and are always allowed.
    allowed_origins: tuple[str, ...] = ()
    #: Who may call: "none" (anyone who can reach the ports: ``start-dev`` on 127.0.0.1) or "api-key" (every
    #: request but the health check carries a key; see ``server._auth`` and ``api.roles``).
    auth: str = "none"
    #: With ``auth="oidc"``: the issuer whose JWTs are accepted (besides API keys), and how to read them.
    oidc: OidcConfig | None = None
    #: TLS on every port (API, UI, metrics): the PEM certificate chain and its unencrypted private key. Both
    #: or neither; the files are reloaded when they change (see ``server._tls``).
    tls_cert: str | None = None
    tls_key: str | None = None
    #: Mutual TLS: PEM CA certificates; every connection must then present a client certificate they signed.
    tls_client_ca: str | None = None
    #: A codec server (``mainspring codec-server``) the web UI decodes encoded payloads through, in the
    #: browser: the server itself never calls it. None: the UI shows encoded payloads as "encrypted".
    ui_codec_endpoint: str | None = None
    #: Namespaces that exist from the start.
    namespaces: tuple[str, ...] = ("default",)
    #: Register Temporal's dev-server search attributes (CustomKeywordField ...) in those (``start-dev``).
    dev_search_attributes: bool = False
    #: Largest accepted payload (a workflow input or result, an activity input or result, details).
    max_payload_bytes: int = 2 * 1024 * 1024
    #: How often workers heartbeat their session.
    worker_heartbeat_interval: timedelta = timedelta(seconds=1)
    #: A session with no heartbeat for this long has ended: its tasks go to other workers.
    worker_session_timeout: timedelta = timedelta(seconds=5)
    #: How long a worker may take to complete a workflow task.
    workflow_task_timeout: timedelta = timedelta(seconds=10)
    #: How long a task waits for the sticky worker before any worker may take it.
    sticky_schedule_to_start_timeout: timedelta = timedelta(seconds=3)
    #: The longest a poll waits for a task before answering "nothing yet".
    max_poll_wait: timedelta = timedelta(seconds=30)
    #: How many executions' state is kept in memory. Runs in use (a task out, a client awaiting the
    #: result) stay cached beyond it; the cache shrinks back as they come free.
    execution_cache_size: int = 10_000
    #: A workflow task whose commands would leave a run with more pending activities than this fails
    #: (cause PENDING_ACTIVITIES_LIMIT_EXCEEDED) and is retried; nothing stored is lost.
    limit_pending_activities: int = 10_000
    #: A workflow task that would take a run's history past this many events, or bytes, fails (cause
    #: HISTORY_LIMIT_EXCEEDED) unless it closes the workflow. Past the warn thresholds the workflow
    #: is told that continuing as new is suggested (``ctx.info.is_continue_as_new_suggested()``).
    limit_history_events: int = 200_000
    warn_history_events: int = 50_000
    limit_history_bytes: int = 100 * 1024 * 1024
    warn_history_bytes: int = 25 * 1024 * 1024
    #: Starts are refused (429, retry after a moment) while each one takes longer than this, for a while:
    #: a queue that stands rather than a burst that drains (see ``server._admission``).
    start_delay_target: timedelta = timedelta(milliseconds=50)
    #: How long a request's line and headers may take to arrive (408 after), and its body after them:
    #: a peer that sends a byte now and then cannot hold a connection for ever.
    request_head_timeout: timedelta = timedelta(seconds=15)
    request_body_timeout: timedelta = timedelta(seconds=60)
    #: At most this many starts are in flight at once; more are refused (429).
    max_pending_starts: int = 10_000
    #: SQLite ``synchronous`` setting: FULL is durable across power loss.
    sqlite_synchronous: str = "FULL"
    extra: dict[str, str] = field(default_factory=dict)
