"""The WebSocket protocol the server runs its channels on: uvicorn's (websockets' sans-I/O), with one change.

When a peer breaks the protocol at the frame level (a frame over the size limit, a malformed frame),
uvicorn writes the close frame and closes the socket at once. The peer is usually still sending the
rest of its (huge) frame, so the kernel answers the unread data with a reset, and the close frame,
code and reason with it, is lost: the peer sees a dropped connection, not "message too big". Here the
socket is closed as RFC 6455 section 7.1.1 asks instead: the close frame is sent, the write side is
shut, and what the peer still sends is read and dropped until it closes too (or ``LINGER`` seconds
pass), so the close frame arrives.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["LINGER", "ChannelProtocol"]

#: The longest a failed connection is read (and what it sends dropped) before its socket is closed.
LINGER = 2.0


class ChannelProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, closing failed connections without losing their close frame."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._draining = False

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # the rest of what the peer sends after the connection failed
        super().data_received(data)

    def handle_parser_exception(self) -> None:
        assert self.conn.close_sent is not None
        close = self.conn.close_sent
        self.queue.put_nowait({"type": "websocket.disconnect", "code": close.code, "reason": close.reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self._draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        # As close_timer, uvicorn's own: the application ending (it is told the connection is gone)
        # then leaves the socket to this timer instead of closing it at once.
        self.close_timer = self.loop.call_later(LINGER, self.transport.close)
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def eof_received(self) -> None:
        if self._draining:
            self.transport.close()
