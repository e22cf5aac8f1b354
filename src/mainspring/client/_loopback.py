"""A channel to a server in the same process without a socket: the client's WebSocket end talks to the
server's ASGI application directly, through the ASGI WebSocket messages a web server would make.

Used by the test environment (``mainspring.testing``), where the server, its workers and the test's
client share one event loop: W16's thousand workflows spent about a fifth of that loop on loopback TCP
(system calls, WebSocket framing, selector wake-ups) for bytes that never leave the process. Everything
above the socket runs as it does over TCP: the server's checks (Host, Origin), its routing, its channel
code and its JSON messages, so a test sees what a worker process would.

Only what ``Channel`` uses of aiohttp's ``ClientWebSocketResponse`` is here: ``send_frame``,
``send_str``, ``close`` and iteration over the messages received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ASGIApp", "LoopbackRefused", "LoopbackWebSocket", "connect_loopback"]

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[MutableMapping[str, Any]]], Callable[..., Awaitable[None]]],
    Awaitable[None],
]


class LoopbackRefused(ConnectionError):
    """The application closed the connection before accepting it (as a refused handshake, 403)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server refused the channel ({status})")
        self.status = status


@dataclass(frozen=True, slots=True)
class _Message:
    type: Any  # aiohttp.WSMsgType
    data: Any


_CLOSED = object()


class LoopbackWebSocket:
    """The client end of one in-process WebSocket connection."""

    def __init__(self) -> None:
        self._to_server: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self._to_client: asyncio.Queue[Any] = asyncio.Queue()
        self._accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._app_task: asyncio.Task[None] | None = None
        self.closed = False

    # --- the server's side (ASGI) ---------------------------------------------------------------------

    async def _receive(self) -> MutableMapping[str, Any]:
        return await self._to_server.get()

    async def _send(self, message: MutableMapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            if not self._accepted.done():
                self._accepted.set_result(None)
        elif kind == "websocket.send":
            text = message.get("text")
            self._to_client.put_nowait(text if text is not None else message.get("bytes"))
        elif kind == "websocket.close":
            if not self._accepted.done():
                self._accepted.set_exception(LoopbackRefused(403))
            self._to_client.put_nowait(_CLOSED)
        elif kind == "websocket.http.response.start" and not self._accepted.done():
            # A refusal with a body (ASGI's denial response).
            self._accepted.set_exception(LoopbackRefused(int(message.get("status", 403))))

    def _app_done(self, task: asyncio.Task[None]) -> None:
        if not self._accepted.done():
            error = task.exception() if not task.cancelled() else None
            self._accepted.set_exception(error or LoopbackRefused(403))
        self._to_client.put_nowait(_CLOSED)

    # --- the client's side (what Channel uses of aiohttp's ClientWebSocketResponse) --------------------

    async def send_frame(self, data: bytes, opcode: Any) -> None:
        self._check_open()
        self._to_server.put_nowait({"type": "websocket.receive", "text": data.decode()})

    async def send_str(self, text: str) -> None:
        self._check_open()
        self._to_server.put_nowait({"type": "websocket.receive", "text": text})

    def _check_open(self) -> None:
        if self.closed:
            raise ConnectionResetError("the in-process channel is closed")

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._to_server.put_nowait({"type": "websocket.disconnect", "code": 1000})
        self._to_client.put_nowait(_CLOSED)
        if self._app_task is not None:
            await asyncio.gather(self._app_task, return_exceptions=True)

    def __aiter__(self) -> AsyncIterator[_Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[_Message]:
        import aiohttp

        while True:
            item = await self._to_client.get()
            if item is _CLOSED:
                self.closed = True
                return
            if isinstance(item, str):
                yield _Message(aiohttp.WSMsgType.TEXT, item)
            else:
                yield _Message(aiohttp.WSMsgType.BINARY, item)


async def connect_loopback(app: ASGIApp, address: str, path: str) -> LoopbackWebSocket:
    """Open a WebSocket to ``app`` (served at ``address``, HOST:PORT) at ``path``; raises
    ``LoopbackRefused`` if the application turns it down."""
    host, _, port = address.rpartition(":")
    ws = LoopbackWebSocket()
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", address.encode())],
        "server": (host, int(port)),
        "client": ("127.0.0.1", 0),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    ws._to_server.put_nowait({"type": "websocket.connect"})
    task: asyncio.Task[None] = asyncio.ensure_future(app(scope, ws._receive, ws._send))
    ws._app_task = task
    task.add_done_callback(ws._app_done)
    await ws._accepted
    return ws
