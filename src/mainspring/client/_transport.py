"""HTTP transport to a Mainspring server, with errors turned into ``RPCError``s that say what to do."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    import aiohttp

    from .._codec import WireCodec
    from ._loopback import ASGIApp

from .._addresses import parse_addresses
from .._answers import (
    DEFAULT_ADDRESS,
    TOKEN_EXPIRED,
    bytes_in_parser_message,
    decode_answer,
    not_mainspring,
    resolve_address,
    rpc_error,
    unavailable,
)
from .._json import dumps, loads
from .._tls import diagnose, speaks_tls, tls_failure, tls_required
from ..errors import (
    InvalidAddressError,
    InvalidArgumentError,
    ServerUnavailableError,
    TLSError,
    UnauthenticatedError,
)
from ._tls import TLSConfig, client_context

__all__ = ["DEFAULT_ADDRESS", "Transport", "outcome_unknown", "parse_addresses", "resolve_address", "rpc_error"]


def _base_url(address: str, tls: bool = False) -> str:
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = ("https://" if tls else "http://") + address
    return address


def _tls_for(addresses: Sequence[str], tls: TLSConfig | None) -> TLSConfig | None:
    """The TLS to use with ``addresses``: ``tls``, or the defaults if an address is an https:// URL."""
    schemes = {a.split("://", 1)[0].strip().lower() for a in addresses if "://" in a}
    if tls is not None and "http" in schemes:
        raise InvalidAddressError(
            "TLS is asked for, but an address is an http:// URL: use https:// or HOST:PORT", code="invalid_argument"
        )
    if tls is None and "https" in schemes:
        return TLSConfig()
    return tls


async def _close_at_exit(session: aiohttp.ClientSession) -> None:
    """Close ``session`` when this task is cancelled: ``asyncio.run`` cancels what is left when the program's
    coroutine returns, so a client never closed (Temporal's clients have no ``close``; their samples never
    call one) still closes its connections instead of aiohttp warning of an unclosed session at exit."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        if not session.closed:
            await session.close()
        raise


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    # Bound connecting and each wait for the server, not the whole call: a request queued behind
    # others for a pooled connection has not timed out, it has not started.
    import aiohttp

    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


#: How long a full round of unreachable servers waits before the next, at first and at most.
_ROUND_PAUSE = (0.1, 2.0)


def _connect_failed(e: BaseException) -> bool:
    """Whether ``e`` says the request never reached a server (so it can go to another at no risk)."""
    import aiohttp

    return isinstance(e, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))


def _safe_to_repeat(method: str, body: Any) -> bool:
    # Reads, and writes the server recognises when they come again: a start or signal by its request
    # id, an update by its id. Not a cancel (a repeat answers "already requested"), a terminate, a
    # delete, a reset or an async activity completion (a repeat is refused): their callers would hear
    # a different answer from the one the first attempt got.
    if method == "GET":
        return True
    return isinstance(body, dict) and any(body.get(k) for k in ("request_id", "update_id"))


def outcome_unknown(address: str, what: str) -> ServerUnavailableError:
    """The error for a write sent to a server that went away before answering."""
    return ServerUnavailableError(
        f"the connection to the Mainspring server at {address} broke before it answered {what}: it may or may "
        "not have been done; check before repeating it",
        code="outcome_unknown",
    )


#: A program's source of fresh keys (OIDC tokens, say): a function, or a coroutine function, of no arguments.
ApiKeyProvider = Callable[[], str | Awaitable[str | None] | None]


class Transport:
    """Keep-alive HTTP connections to a server (aiohttp; made lazily on the running loop).

    Given several addresses (the same cluster, or the same store behind a standby), it talks to one at a
    time and moves to the next when that one cannot be reached: round robin, pausing briefly after a full
    round, within the call's own deadline.
    """

    def __init__(
        self,
        address: str | Sequence[str] | None,
        *,
        timeout: float = 10.0,
        tls: TLSConfig | None = None,
        api_key: str | None = None,
    ) -> None:
        #: The server addresses, in the order they are tried.
        self.addresses = parse_addresses(address)
        #: TLS for every connection (given, or implied by an https:// address); None: plain HTTP.
        self.tls = _tls_for(self.addresses, tls)
        # Built now, so that certificates that cannot be loaded are heard of at connect, not at first use.
        self._ssl: ssl.SSLContext | None = client_context(self.tls) if self.tls is not None else None
        self._current = 0
        self._timeout = timeout
        #: Seconds a request may take (long-polls ask for more).
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        #: A server application in this process to open channels to without a socket (see ``_loopback``):
        #: set by the test environment. Plain HTTP calls still go over TCP.
        self.loopback: ASGIApp | None = None
        self._closer: asyncio.Task[None] | None = None
        #: Sent with every request and channel handshake (a server with ``--auth api-key`` wants one); a key
        #: changed later (``api_key``) goes with the next request.
        self._headers = {"content-type": "application/json"}
        self.api_key = api_key
        #: Called for a fresh key (an OIDC token) before each channel is opened, and when the server refuses the
        #: key in use as expired (``Client.connect(api_key_provider=...)``); None: the key is only what is set.
        self.api_key_provider: ApiKeyProvider | None = None

    async def renew_key(self) -> bool:
        """Ask ``api_key_provider`` for a key and use it from now on; False if there is no provider."""
        provider = self.api_key_provider
        if provider is None:
            return False
        key = provider()
        if inspect.isawaitable(key):
            key = await key
        self.api_key = key
        return True

    @property
    def api_key(self) -> str | None:
        """The API key (or OIDC token) sent as ``Authorization: Bearer``, or None."""
        value = self._headers.get("authorization")
        return value.removeprefix("Bearer ") if value else None

    @api_key.setter
    def api_key(self, key: str | None) -> None:
        if key and any(c in key for c in "\r\n\0"):
            raise InvalidArgumentError("an API key is one line", code="invalid_argument")
        for headers in (self._headers, self._session.headers if self._session is not None else None):
            if headers is None:
                continue
            if key:
                headers["authorization"] = f"Bearer {key.strip()}"
            else:
                headers.pop("authorization", None)
        #: The payload codec every request and answer goes through, on HTTP and on channels alike (set
        #: by ``Client`` from its ``DataConverter``); None: payloads travel as they are, and nothing is walked.
        self.codec: WireCodec | None = None

    @property
    def address(self) -> str:
        """The address in use (the first that answered last)."""
        return self.addresses[self._current]

    @property
    def base_url(self) -> str:
        """The URL of the server in use."""
        return _base_url(self.address, self.tls is not None)

    @property
    def server_hostname(self) -> str | None:
        """The name the server's certificate must be for, when it is not the address's host."""
        return self.tls.domain if self.tls is not None else None

    def url(self, path: str) -> str:
        """The URL of ``path`` on the server in use."""
        return self.base_url + path

    def failed(self, address: str) -> None:
        """``address`` could not be reached: move to the next one (unless another caller already moved on).

        Each caller counts its own tries and pauses after every ``len(addresses)`` of them (a full
        round), whatever other callers did to the address in use meanwhile."""
        if address == self.address:
            self._current = (self._current + 1) % len(self.addresses)

    def moved(self, address: str, owner: str | None) -> None:
        """``address`` answered that it is a standby, and that ``owner`` holds the store: go there if it is
        one of ours, else on to the next address as after a failure."""
        if owner in self.addresses and address == self.address:
            self._current = self.addresses.index(owner)
        else:
            self.failed(address)

    def round_done(self, tries: int) -> bool:
        """Whether ``tries`` failed tries make a full round of the addresses (time for a pause)."""
        return tries % len(self.addresses) == 0

    def _http(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            session = self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=200, keepalive_timeout=60, ssl=self._ssl if self._ssl is not None else True
                ),
                headers=self._headers,
                timeout=_timeout(self._timeout),
            )
            self._closer = asyncio.get_running_loop().create_task(_close_at_exit(session), name="mainspring-client")
        return self._session

    async def close(self) -> None:
        """Close the connection pool."""
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        repeatable: bool = False,
    ) -> Any:
        """Send one request; return the decoded JSON body (None for 204).

        With several addresses, a server that cannot be reached is left for the next; a request that
        may have reached a server that then went away is sent again only if repeating it is safe
        (``_safe_to_repeat``, or ``repeatable`` says so), else it raises ``ServerUnavailableError`` with
        code ``outcome_unknown``.
        """
        codec = self.codec
        if codec is not None:
            coded = await codec.encode_body(body) if body is not None else None
            return await codec.decode_body(
                await self._call(method, path, body=coded, params=params, timeout=timeout, repeatable=repeatable)
            )
        return await self._call(method, path, body=body, params=params, timeout=timeout, repeatable=repeatable)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any,
        params: dict[str, Any] | None,
        timeout: float | None,
        repeatable: bool,
    ) -> Any:
        deadline = time.monotonic() + (timeout if timeout is not None else self._timeout)
        pause = _ROUND_PAUSE[0]
        safe = repeatable or _safe_to_repeat(method, body)
        tries = 0
        renewed = False
        while True:
            address = self.address
            try:
                return await self._call_one(address, method, path, body=body, params=params, timeout=timeout)
            except UnauthenticatedError as e:
                # Refused before anything was done, as the key (a token) expired: once more with a fresh one.
                if e.code != TOKEN_EXPIRED or renewed or not await self.renew_key():
                    raise
                renewed = True
                continue
            except _Unreached as e:
                if len(self.addresses) == 1:
                    raise e.error from None
                if e.maybe_sent and not safe:
                    raise outcome_unknown(address, f"{method} {path}") from None
                error = e.error
                if e.standby:
                    self.moved(address, e.owner)
                    tries += 1
                    if self.round_done(tries) and time.monotonic() + pause <= deadline:
                        await asyncio.sleep(pause)
                        pause = min(pause * 2, _ROUND_PAUSE[1])
                    elif time.monotonic() > deadline:
                        raise error from None
                    continue
            self.failed(address)
            tries += 1
            if self.round_done(tries):
                if time.monotonic() + pause > deadline:
                    raise error from None
                await asyncio.sleep(pause)
                pause = min(pause * 2, _ROUND_PAUSE[1])
            elif time.monotonic() > deadline:
                raise error from None

    async def _call_one(
        self,
        address: str,
        method: str,
        path: str,
        *,
        body: Any,
        params: dict[str, Any] | None,
        timeout: float | None,
    ) -> Any:
        import aiohttp

        data = dumps(body) if body is not None else None
        query = {k: str(v) for k, v in params.items() if v is not None} if params else None
        request_timeout = _timeout(timeout) if timeout is not None else None
        url = _base_url(address, self.tls is not None) + path
        for attempt in (1, 2):
            try:
                async with self._http().request(
                    method,
                    url,
                    data=data,
                    params=query,
                    timeout=request_timeout or self._timeout_default(),
                    server_hostname=self.server_hostname,
                ) as resp:
                    status = resp.status
                    raw = await resp.read()
                    reason = resp.reason or ""
                    content_type = resp.headers.get("content-type", "")
                    if status == 503 and resp.headers.get("mainspring-standby"):
                        # Waiting for the store another server holds (server._standby): nothing was done.
                        error = decode_error_or(address, raw)
                        raise _Unreached(error, standby=True, owner=resp.headers.get("mainspring-owner"))
                break
            except aiohttp.ClientSSLError as e:  # the handshake failed (a ClientConnectorError too)
                raise self.tls_error(address, e) or _tls_other(address, e) from None
            except aiohttp.ClientConnectorError as e:  # nothing listens there
                raise _Unreached(unavailable(address, f"{type(e).__name__}: {e or 'connection failed'}")) from None
            except aiohttp.ClientResponseError as e:
                # The answer is not HTTP/1.1 (the parser's complaint quotes its first bytes): Temporal's
                # gRPC server on the same port, say.
                raise not_mainspring(address, bytes_in_parser_message(e.message)) from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
                # A TLS server that wants a client certificate says so after the handshake (TLS 1.3).
                tls = self.tls_error(address, e)
                if tls is not None:
                    raise tls from None
                # A pooled connection the server had closed (e.g. it restarted): try once on a new one.
                # Every request is safe to repeat on the same server: starts carry a request id, and a
                # repeated task outcome is refused as no longer current.
                if attempt == 2:
                    dropped = await self.why_dropped(address)
                    if dropped is not None:
                        raise dropped from None
                    why = f"the server closed the connection: {type(e).__name__}"
                    raise _Unreached(unavailable(address, why), maybe_sent=True) from None
            except aiohttp.ClientConnectionError as e:
                raise _Unreached(
                    unavailable(address, f"{type(e).__name__}: {e or 'connection failed'}"), maybe_sent=True
                ) from None
            except TimeoutError as e:
                error = ServerUnavailableError(
                    f"the Mainspring server at {address} did not answer in time", code="timeout"
                )
                if _connect_failed(e):
                    raise _Unreached(error) from None
                raise error from None
        return decode_answer(address, status, content_type, raw, loads, reason)

    def tls_error(self, address: str, e: BaseException) -> TLSError | None:
        """The ``TLSError`` that ``e``, raised connecting to ``address``, stands for; None if not about TLS."""
        if self.tls is None:
            return None
        return tls_failure(address, e, client_cert=self.tls.client_cert is not None)

    async def why_dropped(self, address: str) -> TLSError | None:
        """The ``TLSError`` that explains why ``address`` closed connections without answering, if TLS is
        why: a plain client at a server that speaks only TLS, or a TLS server that refused the client's
        certificate (or its lack of one). Found by connecting once more, only after such a failure."""
        from urllib.parse import urlsplit

        parts = urlsplit(_base_url(address, self.tls is not None))
        if parts.hostname is None:
            return None
        if self.tls is None or self._ssl is None:
            plain_port = parts.port or 80
            if await asyncio.to_thread(speaks_tls, parts.hostname, plain_port):
                return tls_required(address)
            return None
        client_cert = self.tls.client_cert is not None
        port = parts.port or 443
        return await asyncio.to_thread(
            diagnose, address, parts.hostname, port, self._ssl, self.server_hostname, client_cert=client_cert
        )

    def not_mainspring(self, e: aiohttp.ClientResponseError) -> ServerUnavailableError:
        """The error for an answer the HTTP parser could not read (``e``)."""
        return not_mainspring(self.address, bytes_in_parser_message(e.message))

    def _timeout_default(self) -> aiohttp.ClientTimeout:
        return _timeout(self._timeout)

    def _unavailable(self, why: str) -> ServerUnavailableError:
        return unavailable(self.address, why)


def _tls_other(address: str, e: BaseException) -> TLSError:
    return TLSError(f"no secure connection to the Mainspring server at {address}: {e}", code="tls_error")


class _Unreached(Exception):
    """A server could not be reached (``maybe_sent``: or went away after the request was sent)."""

    def __init__(
        self,
        error: ServerUnavailableError,
        *,
        maybe_sent: bool = False,
        standby: bool = False,
        owner: str | None = None,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.maybe_sent = maybe_sent
        #: It answered that it is a standby (``owner``: the address of the server holding the store).
        self.standby = standby
        self.owner = owner


def decode_error_or(address: str, raw: bytes) -> ServerUnavailableError:
    """A standby's 503 answer as the error to raise (its message says where the store is held)."""
    try:
        message = loads(raw).get("message")
    except (ValueError, AttributeError):
        message = None
    if not isinstance(message, str):
        return unavailable(address, "it is a standby (another server holds the store)")
    return ServerUnavailableError(message, code="unavailable")
