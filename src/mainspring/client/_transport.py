"""HTTP transport to a Mainspring server, with errors turned into ``RPCError``s that say what to do."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

    from ._loopback import ASGIApp

from .._answers import (
    DEFAULT_ADDRESS,
    bytes_in_parser_message,
    decode_answer,
    not_mainspring,
    resolve_address,
    rpc_error,
    unavailable,
)
from .._json import dumps, loads
from ..errors import InvalidArgumentError, ServerUnavailableError

__all__ = ["DEFAULT_ADDRESS", "Transport", "resolve_address", "rpc_error"]


def _base_url(address: str) -> str:
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = "http://" + address
    return address


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


class Transport:
    """A keep-alive HTTP connection pool to one server (aiohttp; made lazily on the running loop)."""

    def __init__(self, address: str, *, timeout: float = 10.0) -> None:
        self.address = address
        self.base_url = _base_url(address)
        # aiohttp (and yarl) are imported on first use: the server imports this package but never
        # makes requests, and importing aiohttp costs a noticeable part of a start-up.
        import yarl

        try:
            url = yarl.URL(self.base_url)
            valid = (
                url.scheme in ("http", "https") and bool(url.host) and url.path in ("", "/") and url.port is not None
            )
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidArgumentError(
                f"invalid server address {address!r}: use HOST:PORT (e.g. localhost:7233) or an http:// URL",
                code="invalid_argument",
            )
        self._timeout = timeout
        #: Seconds a request may take (long-polls ask for more).
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        #: A server application in this process to open channels to without a socket (see ``_loopback``):
        #: set by the test environment. Plain HTTP calls still go over TCP.
        self.loopback: ASGIApp | None = None
        self._closer: asyncio.Task[None] | None = None

    def _http(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            session = self._session = aiohttp.ClientSession(
                base_url=self.base_url,
                connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=60),
                headers={"content-type": "application/json"},
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
    ) -> Any:
        """Send one request; return the decoded JSON body (None for 204)."""
        import aiohttp

        data = dumps(body) if body is not None else None
        query = {k: str(v) for k, v in params.items() if v is not None} if params else None
        request_timeout = _timeout(timeout) if timeout is not None else None
        for attempt in (1, 2):
            try:
                async with self._http().request(
                    method, path, data=data, params=query, timeout=request_timeout or self._timeout_default()
                ) as resp:
                    status = resp.status
                    raw = await resp.read()
                    reason = resp.reason or ""
                    content_type = resp.headers.get("content-type", "")
                break
            except aiohttp.ClientConnectorError as e:  # nothing listens there
                raise self._unavailable(f"{type(e).__name__}: {e or 'connection failed'}") from None
            except aiohttp.ClientResponseError as e:
                # The answer is not HTTP/1.1 (the parser's complaint quotes its first bytes): Temporal's
                # gRPC server on the same port, say.
                raise self.not_mainspring(e) from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
                # A pooled connection the server had closed (e.g. it restarted): try once on a new one.
                # Every request is safe to repeat: starts carry a request id, and a repeated task
                # outcome is refused as no longer current.
                if attempt == 2:
                    raise self._unavailable(f"the server closed the connection: {type(e).__name__}") from None
            except aiohttp.ClientConnectionError as e:
                raise self._unavailable(f"{type(e).__name__}: {e or 'connection failed'}") from None
            except TimeoutError:
                raise ServerUnavailableError(
                    f"the Mainspring server at {self.address} did not answer in time", code="timeout"
                ) from None
        return decode_answer(self.address, status, content_type, raw, loads, reason)

    def not_mainspring(self, e: aiohttp.ClientResponseError) -> ServerUnavailableError:
        """The error for an answer the HTTP parser could not read (``e``)."""
        return not_mainspring(self.address, bytes_in_parser_message(e.message))

    def _timeout_default(self) -> aiohttp.ClientTimeout:
        return _timeout(self._timeout)

    def _unavailable(self, why: str) -> ServerUnavailableError:
        return unavailable(self.address, why)
