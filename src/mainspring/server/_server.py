"""Running a server: the store, the engine and the HTTP API in one process."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import uvicorn

from .._gc import tune_gc
from ..errors import MainspringError
from ..storage import StorageError, Store, store_from_url
from ._auth import AuthGate
from ._config import ServerConfig
from ._engine import Engine
from ._guard import Guard, RequestCheck, SitePolicy
from ._http import build_app
from ._protocol import BoundedHttpToolsProtocol, LingeringWebSocketProtocol
from ._standby import StandbyResponder
from ._timers import Clock
from ._tls import ServerTLS, TLSFileError, TLSFiles
from ._wire import body_limit

if TYPE_CHECKING:
    from ._metrics import Metrics

__all__ = ["Server", "ServerStartError"]

log = logging.getLogger(__name__)


class ServerStartError(MainspringError):
    """The server could not start (port in use, database locked or unreadable, ...)."""


def _bind(host: str, port: int, *, what: str = "--port") -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ServerStartError(
                f"port {port} on {host} is already in use (is another server running?); choose another with {what}"
            ) from None
        raise ServerStartError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    # Not listening yet: until the store is open, a connection is refused at once (a SQLite file another
    # server holds), or answered 503 by the standby responder (a PostgreSQL store: see _standby), so that a
    # client with several addresses moves on rather than waiting in a backlog.
    sock.setblocking(False)
    return sock


class _Uvicorn(uvicorn.Server):
    """Uvicorn, plus: on SIGINT/SIGTERM, answer every long-poll at once so shutdown doesn't wait for them."""

    def __init__(self, config: uvicorn.Config, engine: Engine) -> None:
        super().__init__(config)
        self._engine = engine

    def handle_exit(self, sig: int, frame: object) -> None:
        self._engine.release_waiters()
        super().handle_exit(sig, frame)  # type: ignore[arg-type]
        # uvicorn re-raises captured signals when serve() returns, which would kill the process before
        # the engine and the store are closed; we stop cleanly instead.
        self._captured_signals.clear()


class Server:
    """A Mainspring server. ``await start()``, then ``await serve()`` until stopped or signalled."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        request_checks: Sequence[RequestCheck] = (),
    ) -> None:
        self.config = config
        #: Checks run on every request and handshake after the site's own (Host, Origin, body type):
        #: where authentication plugs in (see _guard).
        self.request_checks = tuple(request_checks)
        self.store = store or store_from_url(config.db, migrate=config.migrate, standby=config.standby)
        #: Why this server stopped, if it lost its store to another server (see storage.postgres).
        self.lost: str | None = None
        if hasattr(self.store, "on_lost"):
            self.store.on_lost = self._store_lost
        if hasattr(self.store, "on_drain"):
            self.store.on_drain = self._drain
        #: True once an operator drained this server (``mainspring cluster drain``) and it stopped for that.
        self.drained = False
        self.engine = Engine(self.store, config, clock)
        self._uvicorn: _Uvicorn | None = None
        self._socket: socket.socket | None = None
        self._ui_socket: socket.socket | None = None
        self._metrics_socket: socket.socket | None = None
        #: The TLS context of every port and its reloading, once started with ``tls_cert``; else None.
        self.tls: ServerTLS | None = None
        self.started_in: float = 0.0
        #: The API's ASGI application, once started: in-process clients may open channels to it directly.
        self.api_app: Any = None

    @property
    def address(self) -> str:
        assert self._socket is not None
        host, port = self._socket.getsockname()[:2]
        return f"{host}:{port}"

    @property
    def metrics_address(self) -> str | None:
        """host:port of the Prometheus metrics, or None when they are off."""
        if self._metrics_socket is None:
            return None
        host, port = self._metrics_socket.getsockname()[:2]
        return f"{host}:{port}"

    @property
    def ui_address(self) -> str | None:
        """host:port of the web UI, or None when running without it."""
        if self._ui_socket is None:
            return None
        host, port = self._ui_socket.getsockname()[:2]
        return f"{host}:{port}"

    def _site_policy(self) -> SitePolicy:
        """Who may call the server: its names, its bound ports, the allowed origins (see _guard)."""
        sockets = [s for s in (self._socket, self._ui_socket) if s is not None]
        try:
            return SitePolicy.for_server(
                bound=self.config.host,
                ports=[s.getsockname()[1] for s in sockets],
                allowed_hosts=self.config.allowed_hosts,
                allowed_origins=self.config.allowed_origins,
                tls=self.tls is not None,
            )
        except ValueError as e:
            raise ServerStartError(str(e)) from None

    @property
    def scheme(self) -> str:
        """``https`` when the server serves TLS, else ``http``."""
        return "https" if self.tls is not None else "http"

    async def start(self) -> None:
        t0 = time.perf_counter()
        # The TLS files first: a wrong path or a key that does not match is the operator's to fix, said
        # in one line, before any port is bound or the store opened.
        try:
            files = TLSFiles.from_settings(self.config.tls_cert, self.config.tls_key, self.config.tls_client_ca)
            self.tls = ServerTLS(files) if files is not None else None
        except TLSFileError as e:
            raise ServerStartError(str(e)) from None
        self._socket = _bind(self.config.host, self.config.port)
        if self.config.ui_port is not None:
            try:
                self._ui_socket = _bind(self.config.host, self.config.ui_port, what="--ui-port")
            except ServerStartError:
                self._socket.close()
                raise
        if self.config.metrics_port is not None:
            try:
                self._metrics_socket = _bind(self.config.host, self.config.metrics_port, what="--metrics-port")
            except ServerStartError:
                self._close_sockets()
                raise
        try:
            checks = (*self._site_policy().checks(), *self.request_checks)
            if hasattr(self.store, "address"):  # where other servers and clients are told to find this one
                self.store.address = self.address
            if hasattr(self.store, "holder"):
                # A store shared by several servers (PostgreSQL): opening it may mean waiting, as a standby,
                # for another server to stop. Meanwhile the ports answer 503, saying where it is held.
                responder = StandbyResponder(
                    [s for s in (self._socket, self._ui_socket) if s is not None],
                    lambda: getattr(self.store, "holder", None),
                    self.address,
                    metrics_socket=self._metrics_socket,
                    tls=self.tls.context if self.tls is not None else None,
                )
                await responder.start()
                try:
                    await self.store.open()
                finally:
                    await responder.close()
            else:
                await self.store.open()
        except MainspringError as e:
            self._close_sockets()
            raise ServerStartError(str(e)) from None
        for s in (self._socket, self._ui_socket, self._metrics_socket):
            if s is not None:
                s.listen(2048)
        self.engine.address = self.address
        metrics = self._start_metrics()
        if self.config.otlp_endpoint is not None:
            from ._tracing import ServerTracing  # (OpenTelemetry is loaded only for a server that traces)

            try:
                self.engine.tracing = ServerTracing(self.config.otlp_endpoint)
            except MainspringError as e:
                await self.store.close()
                self._close_sockets()
                raise ServerStartError(str(e)) from None
        self.engine.started_at = self.engine.clock.now()
        try:
            await self.engine.start()
        except (MainspringError, ValueError) as e:  # e.g. a full disk; an OIDC JWKS that cannot be read
            await self.engine.stop()
            await self.store.close()
            self._close_sockets()
            raise ServerStartError(str(e)) from None
        # Both ports behind the same checks (Host, Origin, body type) and security headers; with --auth, behind
        # them who calls (see _auth).
        auth = self.engine.auth

        def gated(inner: Any, connect_src: list[str] | None = None) -> Any:
            inner = AuthGate(inner, auth, self.engine.audit) if auth.enabled else inner
            return Guard(inner, checks, connect_src=connect_src or [])

        api = gated(build_app(self.engine))
        self.api_app = api
        app: Any = api
        by_port: dict[int, Any] = {}
        if self._ui_socket is not None:
            codec = self.config.ui_codec_endpoint
            by_port[self._ui_socket.getsockname()[1]] = gated(
                build_app(self.engine, ui=True), connect_src=[_origin_of(codec)] if codec else []
            )
        if metrics is not None and self._metrics_socket is not None:
            from ._metrics import metrics_app

            by_port[self._metrics_socket.getsockname()[1]] = metrics_app(metrics)
        if by_port:

            async def app(scope: Any, receive: Any, send: Any) -> None:
                # One server, up to three ports: the API's, the UI's (pages plus the same API, so the
                # browser calls it from the same origin), and the metrics'.
                server = scope.get("server")
                target = by_port.get(server[1], api) if server is not None else api
                await target(scope, receive, send)

        uv_config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            # uvicorn's own lines go through the process's handlers (text or JSON: see _logs).
            log_config=None,
            access_log=False,
            loop="none",
            # httptools, with a bound on a request's head (see _protocol).
            http=type(
                "HttpProtocol",
                (BoundedHttpToolsProtocol,),
                {
                    "head_seconds": self.config.request_head_timeout.total_seconds(),
                    "body_seconds": self.config.request_body_timeout.total_seconds(),
                },
            ),
            # The worker channel, on websockets' sans-I/O protocol (a refused frame's close frame reaches
            # the peer: see _protocol): no compression (small JSON messages, latency matters); pings find
            # a worker that is hung or cut off without its socket closing.
            ws=LingeringWebSocketProtocol,
            ws_per_message_deflate=False,
            # A frame carries at most what one HTTP request may (a bigger one is refused with 1009).
            ws_max_size=body_limit(self.config.max_payload_bytes),
            ws_ping_interval=5.0,
            ws_ping_timeout=10.0,
            timeout_keep_alive=75,
            server_header=False,
        )
        if self.tls is not None:
            # uvicorn makes its context in ``load()``, from certificate paths (none given: no TLS), and
            # serve() loads only a config not loaded yet: ours (one for every port, kept current by its
            # SNI callback: see _tls) goes in once loading is done.
            uv_config.load()
            uv_config.ssl = self.tls.context
        self._uvicorn = _Uvicorn(uv_config, self.engine)
        self.started_in = time.perf_counter() - t0
        if self.engine.first_api_key is not None:
            # The way in, for whoever started the server: shown once (only its hash is stored).
            log.warning(
                "auth is on and the store held no API key: made a first admin key (of every namespace); it is "
                "shown this once, keep it safe:\n\n    %s\n\nuse it with --api-key or MAINSPRING_API_KEY, and make "
                "narrower keys with `mainspring operator api-key create`",
                self.engine.first_api_key,
            )

    async def serve(self) -> None:
        """Serve until SIGINT/SIGTERM (or ``stop()``), then shut down cleanly."""
        assert self._uvicorn is not None and self._socket is not None
        sockets = [s for s in (self._socket, self._ui_socket, self._metrics_socket) if s is not None]
        watch = None
        if self.tls is not None:
            watch = asyncio.get_running_loop().create_task(self.tls.watch(), name="mainspring-tls-reload")
        try:
            await self._uvicorn.serve(sockets=sockets)
        finally:
            if watch is not None:
                watch.cancel()
            await self.engine.stop()
            await self.store.close()
            if self.engine.tracing is not None:
                await asyncio.to_thread(self.engine.tracing.shutdown)  # (exports the last spans: a POST)

    def _start_metrics(self) -> Metrics | None:
        """Count for Prometheus, if a metrics port is set: the engine, its store and its closes report."""
        if self._metrics_socket is None:
            return None
        from ._metrics import Metrics  # (the Prometheus client is loaded only for a server that counts)

        metrics = self.engine.metrics = Metrics(self.engine)
        self.store.observe_commit = metrics.commit

        def closed(t: Any) -> None:
            rec = t.ex.record
            metrics.workflow_closed(rec.namespace, rec.workflow_type, rec.status.value)

        self.engine.on_close(closed)
        return metrics

    def _close_sockets(self) -> None:
        for s in (self._socket, self._ui_socket, self._metrics_socket):
            if s is not None:
                s.close()

    def _store_lost(self, why: str) -> None:
        # Another server took the store after this one's lease lapsed (it was paused, or cut off from the
        # database): this one's state in memory is stale, and its writes are refused. Stop serving.
        self.lost = f"this server lost the store to another server: {why}"
        log.error("%s; stopping", self.lost)
        self.stop()

    def _drain(self) -> None:
        # An operator moves the store to another server: stop as on SIGTERM (requests in flight are answered,
        # writes are finished), then closing the store gives the lease back and a standby takes it at once.
        # Clients and workers with several addresses move to it.
        self.drained = True
        log.warning("drained: stopping, and handing the store to a standby")
        self.stop()

    def stop(self) -> None:
        self.engine.release_waiters()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True


def run_server(config: ServerConfig, on_ready: object = None) -> None:
    """Start a server and block until it stops (used by ``mainspring server start-dev``)."""

    async def main() -> None:
        server = Server(config)
        await server.start()
        tune_gc()  # the server process is ours (see mainspring._gc)
        if callable(on_ready):
            on_ready(server)
        await server.serve()
        if server.lost is not None:
            raise StorageError(server.lost)
        if server.drained:
            log.warning("drained: the store was handed over (a standby takes it); this server stopped")

    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but the server works without it
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


def _origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what a Content-Security-Policy source names."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
