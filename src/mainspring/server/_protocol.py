"""The connection protocols: uvicorn's, with two things made safe against a hostile peer.

HTTP (on httptools): uvicorn keeps a request's line and headers in memory until they end, however long
they are: four connections sending 100 MB of headers each took the server to 420 MB, before any of our
checks could see the request (they need the whole head). Here a head longer than ``MAX_HEAD_BYTES`` is
answered with 431 and the connection closed. Nor does uvicorn limit how long a request may take to
arrive: connections that send a byte now and then (slowloris) were held until the server ran out of file
descriptors. Here a head must arrive within ``head_seconds`` (408 otherwise), and a body within
``body_seconds`` of its head (``ServerConfig.request_head_timeout`` and ``request_body_timeout``).

WebSocket (on websockets' sans-I/O protocol): a frame over the size limit is answered with a close frame
(1009), and uvicorn then closes the socket at once, with the rest of the frame unread. The kernel answers
unread data with a reset, which can destroy the close frame on its way: the peer saw the connection drop
without a reason, about half the time. Here the server stops sending (a FIN after the close frame) and
reads and drops what the peer still sends until it closes, or for ``close_timeout`` seconds at most.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .._json import dumps

__all__ = ["MAX_HEAD_BYTES", "BoundedHttpToolsProtocol", "LingeringWebSocketProtocol"]

#: The longest request line plus headers accepted (browsers send a few KiB; cookies at most ~8 KiB each).
MAX_HEAD_BYTES = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that refuses a request head over ``MAX_HEAD_BYTES``."""

    #: How long a request's line and headers may take to arrive, from the connection or the request's
    #: first byte (an idle keep-alive connection is closed by uvicorn's own keep-alive timeout).
    head_seconds = 15.0
    #: How long a request's body may take to arrive once its head has.
    body_seconds = 60.0
    _in_head = True
    _head_bytes = 0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._arm(self.head_seconds)
        super().on_message_begin()

    def handle_websocket_upgrade(self) -> None:
        self._arm(None)  # the connection is the WebSocket protocol's from now on
        super().handle_websocket_upgrade()

    def _arm(self, seconds: float | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None if seconds is None else self.loop.call_later(seconds, self._too_slow)

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._answer_and_close(
                408,
                "Request Timeout",
                "request_timeout",
                f"the request line and headers did not arrive within {self.head_seconds:g} s",
            )
        else:  # the body is late: the application reading it sees the connection end
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            # The bytes received while a head is being read; a chunk may also hold the start of the body,
            # so the bound is checked once the parser has seen it (and the head has not ended).
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._arm(self.body_seconds)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True  # what comes next is the next request's head
        self._arm(None)  # the request is in; answering it may take as long as it takes (a long-poll)
        super().on_message_complete()

    def _refuse_head(self) -> None:
        if not self.transport.is_closing():
            self._answer_and_close(
                431,
                "Request Header Fields Too Large",
                "headers_too_large",
                f"the request line and headers are over {MAX_HEAD_BYTES:,} bytes; send less",
            )

    def _answer_and_close(self, status: int, reason: str, code: str, message: str) -> None:
        """Answer before any request could be read (its head is too long or too slow), and close."""
        self._arm(None)
        body = dumps({"code": code, "message": message})
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n".encode()
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()


class LingeringWebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` that, refusing a frame, lets its close frame reach the peer."""

    _draining = False

    def data_received(self, data: bytes) -> None:
        if not self._draining:
            super().data_received(data)

    def handle_parser_exception(self) -> None:
        if self._draining:
            return
        self._draining = True
        assert self.conn.close_sent is not None
        close = self.conn.close_sent
        self.queue.put_nowait({"type": "websocket.disconnect", "code": close.code, "reason": close.reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        # The peer closes once it has read the close frame (connection_lost cancels this).
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)
        if self.read_paused:  # what it still sends must be read (and dropped) for it to see the close
            self.read_paused = False
            self.transport.resume_reading()
