"""What a server's ports answer while it waits for its store (a standby on PostgreSQL, or a server still
opening it): every request gets ``503`` with a JSON body that says where the store is held, and the
headers ``Mainspring-Standby: 1`` and ``Mainspring-Owner: HOST:PORT`` (when the holder is known).

Why answer rather than refuse connections: a load balancer's health check, ``curl`` or a client given
only this address learns what is going on and where to go; a client with several addresses moves on at
once, to the owner if it knows that address (``client._transport``), as it does from a refused connection.

Deliberately tiny (asyncio streams, no framework): it reads a request's head, answers, and closes. The
real server takes over the same listening sockets once the store is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable

from .._json import dumps

__all__ = ["StandbyResponder"]

#: The most of a request's head read before answering (the answer does not depend on it).
_HEAD_LIMIT = 16 * 1024
_HEAD_TIMEOUT = 5.0


class StandbyResponder:
    def __init__(
        self,
        sockets: list[socket.socket],
        holder: Callable[[], tuple[str, str] | None],
        me: str,
        *,
        metrics_socket: socket.socket | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._sockets = sockets
        #: The server's TLS context: a standby answers on its ports in the protocol the server will speak.
        self._tls = tls
        self._holder = holder  # (node, address) of the server holding the store, if known
        self._me = me
        self._metrics_socket = metrics_socket
        self._servers: list[asyncio.Server] = []

    async def start(self) -> None:
        listening = [(s, self._answer) for s in self._sockets]
        if self._metrics_socket is not None:
            listening.append((self._metrics_socket, self._answer_metrics))
        for s, answer in listening:
            s.listen(2048)
            # A duplicate of the listening socket: closing this server later leaves the socket listening,
            # for the real server (connections that arrive in between wait in its backlog).
            self._servers.append(await asyncio.start_server(answer, sock=s.dup(), limit=_HEAD_LIMIT, ssl=self._tls))

    async def close(self) -> None:
        for srv in self._servers:
            srv.close()
        for srv in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.wait_closed(), 2.0)
        self._servers = []

    def _body(self) -> tuple[bytes, str | None]:
        holder = self._holder()
        if holder is None:
            message = f"the Mainspring server at {self._me} is opening its store; try again in a moment"
            details: dict[str, str] = {}
        else:
            node, address = holder
            message = (
                f"the Mainspring server at {self._me} is a standby: the store is held by server {node} at "
                f"{address or 'an unknown address'}; send requests there (or give clients both addresses): this "
                "one takes over if that one stops"
            )
            details = {"owner": address, "owner_node": node}
        return dumps({"code": "standby", "message": message, "details": details}), holder[1] if holder else None

    async def _answer_metrics(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A standby's metrics port says it is up and holds no lease, so that Prometheus sees every server.
        body = (
            b"# HELP mainspring_shard_leases_held Shard leases this server holds (PostgreSQL store).\n"
            b"# TYPE mainspring_shard_leases_held gauge\nmainspring_shard_leases_held 0.0\n"
            b"# HELP mainspring_standby 1 while this server waits for the store as a standby.\n"
            b"# TYPE mainspring_standby gauge\nmainspring_standby 1.0\n"
        )
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
            head = [
                "HTTP/1.1 200 OK",
                "Content-Type: text/plain; version=0.0.4; charset=utf-8",
                f"Content-Length: {len(body)}",
                "Connection: close",
            ]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), _HEAD_TIMEOUT)
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
            body, owner = self._body()
            head = [
                "HTTP/1.1 503 Service Unavailable",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                "Retry-After: 1",
                "Mainspring-Standby: 1",
                "Cache-Control: no-store",
                "Connection: close",
            ]
            if owner:
                head.append(f"Mainspring-Owner: {owner}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), _HEAD_TIMEOUT)
        finally:
            writer.close()
