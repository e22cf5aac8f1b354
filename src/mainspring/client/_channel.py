"""The client end of a channel (see ``mainspring.server._channel``): one WebSocket that carries many
calls at a time, each answered when it is done. Workers use one for their session and all their task
traffic; clients use one for starting workflows and waiting for results."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._answers import rpc_error, unavailable
from .._json import dumps, loads
from ..errors import (
    PermissionDeniedError,
    RPCError,
    ServerUnavailableError,
)
from ._loopback import LoopbackRefused, LoopbackWebSocket, connect_loopback

if TYPE_CHECKING:
    import aiohttp

    from ._transport import Transport

__all__ = ["Channel"]

log = logging.getLogger("mainspring.client")


#: Seconds between pings on a channel when the client has several addresses (see ``Channel.open``).
_HEARTBEAT = 4.0


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class Channel:
    """One connection; ``open`` connects, ``call`` sends an operation and awaits its answer.

    When the connection drops, every call in flight fails with ``ServerUnavailableError`` and
    ``closed`` is set; the owner then opens a new channel (for a worker, a new session).
    """

    def __init__(self, transport: Transport, path: str) -> None:
        self._transport = transport
        self._path = path
        self._ws: aiohttp.ClientWebSocketResponse | LoopbackWebSocket | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._outbox: list[dict[str, Any]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.session: dict[str, Any] = {}
        self.address = transport.address
        #: Called with each message the server sends on its own initiative (one with an ``op``): to a
        #: worker, "cancel_activity" and "stack". Answer one that has a ``q`` with ``send``.
        self.on_message: Callable[[dict[str, Any]], None] | None = None

    async def open(self, registration: dict[str, Any] | None = None) -> dict[str, Any]:
        """Connect (and register, for a worker); the session's settings (id, payload limit...)."""
        import aiohttp

        refused: int | None = None
        said: tuple[str, str] | None = None
        # The address this channel is to: when it breaks or cannot open, its owner tells the transport
        # (``Transport.failed``), which moves to the next address if this was the one in use.
        self.address = address = self._transport.address
        # A program that gave a source of keys: a fresh one for each new channel (a token that may have
        # expired since the last one, which is what closed that one).
        await self._transport.renew_key()
        try:
            loopback = self._transport.loopback
            if loopback is not None:
                self._ws = await connect_loopback(loopback, address, self._path)
            else:
                # With other addresses to go to, ping the server: one that stopped answering without closing
                # its connections (paused, cut off, a host gone) is left after _HEARTBEAT * 1.5 s, for the next.
                heartbeat = _HEARTBEAT if len(self._transport.addresses) > 1 else None
                self._ws = await self._transport._http().ws_connect(
                    self._transport.url(self._path),
                    autoping=True,
                    heartbeat=heartbeat,
                    compress=0,
                    max_msg_size=0,
                    server_hostname=self._transport.server_hostname,
                )
        except LoopbackRefused as e:
            refused = e.status
        except aiohttp.WSServerHandshakeError as e:
            headers: Mapping[str, str] = e.headers or {}
            if e.status == 503 and headers.get("mainspring-standby"):
                # A standby (server._standby): to the server holding the store, if that is one of ours.
                owner = headers.get("mainspring-owner")
                if owner in self._transport.addresses and owner != address:
                    # Then the caller's ``failed(address)`` changes nothing: the owner stays in use.
                    self._transport.moved(address, owner)
                why = f"it is a standby; the store is held by the server at {owner}" if owner else "it is a standby"
                raise unavailable(address, why) from None
            refused = e.status
            if headers.get("mainspring-error-code"):
                said = (headers["mainspring-error-code"], headers.get("mainspring-error", ""))
        except aiohttp.ClientResponseError as e:  # not HTTP/1.1 at all: gRPC, say
            raise self._transport.not_mainspring(e) from None
        except (aiohttp.ClientError, OSError) as e:
            tls = self._transport.tls_error(address, e)
            if tls is not None:
                raise tls from None
            # Dropped without an answer (not refused: that is nothing listening): TLS may say why.
            if isinstance(e, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError) and not isinstance(
                e, aiohttp.ClientConnectorError
            ):
                dropped = await self._transport.why_dropped(address)
                if dropped is not None:
                    raise dropped from None
            raise unavailable(address, f"{type(e).__name__}: {e}") from None
        if refused is not None:  # (out of the except block: what is raised here is news of its own)
            if said is not None:  # the server said why (auth: see server._auth)
                raise rpc_error(refused, said[1], said[0])
            if refused == 403:
                await self._refused()
            # A Mainspring server answers its health check; something else is named as such there.
            await self._transport.call("GET", "/api/v1/health")
            raise RPCError(f"the server does not offer this channel ({refused})", status=refused, code="no_channel")
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="mainspring-channel-reader")
        if registration is not None:
            self.session = await self.call("register", registration, timeout=30)
        return self.session

    async def _refused(self) -> None:
        """The handshake was refused (a Host the server does not answer to, say): raise why.

        A refused handshake carries no message the WebSocket client passes on, so ask over HTTP, where
        the same check answers with one.
        """
        await self._transport.call("GET", "/api/v1/health")  # raises PermissionDeniedError with the reason
        raise PermissionDeniedError(
            f"the server refused the channel at {self._path} (403 Forbidden)", status=403, code="forbidden"
        )

    async def call(self, op: str, body: Any, *, timeout: float, _coded: bool = False) -> Any:
        """Send one operation and wait for its answer (None for "no task"); through the transport's payload
        codec, if it has one."""
        codec = self._transport.codec
        if codec is not None and not _coded:
            # (A second call of this method rather than a helper for the rest: without a codec, the
            # worker's hot path has no extra coroutine per call.)
            coded = await codec.encode_body(body) if body is not None else None
            return await codec.decode_body(await self.call(op, coded, timeout=timeout, _coded=True))
        ws = self._ws
        if ws is None or self.closed.is_set():
            raise ServerUnavailableError("the channel is closed", code="unavailable")
        i = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[i] = future
        # Calls made in the same turn of the event loop go out as one frame (see the server's side).
        self._enqueue({"i": i, "op": op, "b": body})
        # A timer on the future itself rather than asyncio.wait_for, which wraps every call in a
        # second future and callbacks (measurable: a worker makes several calls per workflow step).
        expiry = loop.call_later(timeout, _expire, future)
        try:
            return await future
        except TimeoutError:
            raise ServerUnavailableError(f"the server did not answer {op} in time", code="timeout") from None
        except ConnectionError as e:
            raise ServerUnavailableError(f"the worker channel broke: {e}", code="unavailable") from None
        finally:
            expiry.cancel()
            self._pending.pop(i, None)

    def send(self, message: dict[str, Any]) -> None:
        """Send a message that expects no answer (a worker's answer to a request of the server's)."""
        if self._ws is not None and not self.closed.is_set():
            self._enqueue(message)

    def _enqueue(self, message: dict[str, Any]) -> None:
        self._outbox.append(message)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        import aiohttp

        ws = self._ws
        assert ws is not None
        text = aiohttp.WSMsgType.TEXT
        try:
            # This runs a turn of the event loop after the first call was queued: the calls made in
            # the meantime join the same frame.
            while self._outbox:
                batch, self._outbox = self._outbox, []
                # A text frame from the encoded bytes as they are: send_str would take a str, which
                # costs decoding the JSON and encoding it again (two copies of a 2 MB frame).
                await ws.send_frame(dumps(batch[0] if len(batch) == 1 else batch), text)
        except (ConnectionError, RuntimeError) as e:
            failure = ServerUnavailableError(f"the channel broke: {e}", code="unavailable")
            for message in self._outbox:
                future = self._pending.get(message.get("i", -1))
                if future is not None and not future.done():
                    future.set_exception(failure)
            self._outbox.clear()
        finally:
            self._flusher = None

    async def _read(self) -> None:
        import aiohttp

        ws = self._ws
        assert ws is not None
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = loads(message.data)
                for answer in data if isinstance(data, list) else (data,):
                    if "op" in answer:
                        self._on_server_message(answer)
                        continue
                    future = self._pending.get(answer.get("i"))
                    if future is None or future.done():
                        continue
                    err = answer.get("err")
                    if err is None:
                        future.set_result(answer.get("ok"))
                    else:
                        future.set_exception(
                            rpc_error(
                                int(err.get("status", 400)),
                                err.get("message", ""),
                                err.get("code", "error"),
                                err.get("details"),
                            )
                        )
        except Exception as e:  # a broken connection: fail what waits, below
            log.debug("worker channel reader stopped: %r", e)
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        ServerUnavailableError(
                            f"lost the connection to the server at {self.address}", code="unavailable"
                        )
                    )

    def _on_server_message(self, message: dict[str, Any]) -> None:
        handler = self.on_message
        if handler is not None:
            try:
                handler(message)
                return
            except Exception:  # the reader must go on: one bad message must not break the session
                log.exception("error handling the server's %r message", message.get("op"))
        if "q" in message:
            status, text = (500, "the worker failed to answer") if handler else (501, "this client answers nothing")
            self.send({"q": message["q"], "err": {"status": status, "code": "error", "message": text}})

    def _tls_closed(self, ws: Any) -> asyncio.Future[None] | None:
        """Over TLS, the future that is done once the connection under ``ws`` is closed, if aiohttp has one.

        Closing a TLS connection starts TLS's own shutdown (a close_notify each way), which asyncio finishes
        on later turns of the loop. A program that ends right after ``close()`` would leave the socket to
        be collected unclosed (a ResourceWarning; aiohttp's documentation suggests sleeping a moment). The
        connection's protocol has a future for it: not a public name, hence the care; without it, no wait.
        """
        if self._transport.tls is None:
            return None
        protocol = getattr(getattr(ws, "_conn", None), "protocol", None)
        closed = getattr(protocol, "closed", None)
        return closed if isinstance(closed, asyncio.Future) else None

    async def close(self, *, graceful: bool) -> None:
        """Close; ``graceful`` tells the server first, so it hands anything left to other workers at once."""
        ws = self._ws
        if ws is None:
            return
        if graceful and not self.closed.is_set():
            try:
                await ws.send_str('{"i":0,"op":"bye"}')
            except (ConnectionError, RuntimeError):
                pass
        closed = self._tls_closed(ws)
        await ws.close()
        if closed is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(closed), 2.0)
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.closed.set()
