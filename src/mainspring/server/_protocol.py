"""The HTTP connection protocol: uvicorn's (on httptools), with a bound on each request's head.

uvicorn's httptools protocol keeps a request's line and headers in memory until they end, however long
they are: four connections sending 100 MB of headers each took the server to 420 MB, before any of our
checks could see the request (they need the whole head). Here a head longer than ``MAX_HEAD_BYTES`` is
answered with 431 and the connection closed.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .._json import dumps

__all__ = ["MAX_HEAD_BYTES", "BoundedHttpToolsProtocol"]

#: The longest request line plus headers accepted (browsers send a few KiB; cookies at most ~8 KiB each).
MAX_HEAD_BYTES = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that refuses a request head over ``MAX_HEAD_BYTES``."""

    _in_head = True
    _head_bytes = 0

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
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True  # what comes next is the next request's head
        super().on_message_complete()

    def _refuse_head(self) -> None:
        if self.transport.is_closing():
            return
        body = dumps(
            {
                "code": "headers_too_large",
                "message": f"the request line and headers are over {MAX_HEAD_BYTES:,} bytes; send less",
            }
        )
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()
