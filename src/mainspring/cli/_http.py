"""The server's HTTP/JSON API, one blocking request at a time: what the CLI's one-call commands use.

The SDK's client is asynchronous, and asyncio with aiohttp take about 0.3 s to import, ten times what
``mainspring workflow list`` needs for its one request. This speaks HTTP/1.1 over a plain socket (the
stdlib's http.client alone would add a fifth of the budget), and reads answers the way the SDK does
(``mainspring._answers``): the same errors, the same word for what is not a Mainspring server.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from .._answers import decode_answer, not_mainspring, unavailable
from .._tls import client_context, diagnose, read_file, speaks_tls, tls_failure, tls_required
from ..errors import InvalidAddressError, ServerUnavailableError

if TYPE_CHECKING:
    import ssl

    from ._common import TLSFlags

__all__ = ["Api"]

#: The most an answer may be (a page of history is well below it).
_MAX_ANSWER = 256 * 1024 * 1024


class _Unreached(Exception):
    """Nothing could be connected to at an address: the request was not sent."""


class Api:
    """Requests to the server at ``address`` (HOST:PORT or an http(s) URL, or a list of them to fail
    over between: one that cannot be connected to is left for the next), in ``namespace``; with TLS if
    ``tls`` (the command's TLS options) is given or the address is an https:// URL."""

    def __init__(
        self,
        address: str | list[str],
        namespace: str,
        *,
        timeout: float = 10.0,
        tls: TLSFlags | None = None,
        api_key: str | None = None,
    ) -> None:
        self.addresses = [address] if isinstance(address, str) else list(address)
        self.namespace = namespace
        #: Sent as ``Authorization: Bearer <key>`` when given (a server with ``--auth api-key`` wants one).
        self.api_key = api_key
        self.timeout = timeout
        self.tls_flags = tls
        self._context: ssl.SSLContext | None = None
        self._use(0)

    def _use(self, index: int) -> None:
        self._index = index
        self.address = self.addresses[index]
        text = self.address.strip().rstrip("/")
        parts = urlsplit(text if "://" in text else "http://" + text)
        if self.tls_flags is not None and "://" in text and parts.scheme == "http":
            raise InvalidAddressError(
                f"the --tls options ask for TLS, but the address {self.address} is an http:// URL: use https:// "
                "or HOST:PORT",
                code="invalid_argument",
            )
        self._tls = parts.scheme == "https" or self.tls_flags is not None
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._tls else 80)
        self._host_header = parts.netloc

    def _ssl(self) -> ssl.SSLContext:
        """The TLS context, made on first use (and so inside the command's error handling)."""
        if self._context is None:
            flags = self.tls_flags
            ca, cert, key = (flags.ca, flags.cert, flags.key) if flags is not None else (None, None, None)
            self._context = client_context(
                read_file(ca, "--tls-ca") if ca else None,
                read_file(cert, "--tls-cert") if cert else None,
                read_file(key, "--tls-key") if key else None,
            )
        return self._context

    @property
    def _server_name(self) -> str:
        return (self.tls_flags.server_name if self.tls_flags else None) or self._host

    @property
    def _client_cert(self) -> bool:
        return self.tls_flags is not None and self.tls_flags.cert is not None

    def _dropped(self) -> ServerUnavailableError:
        """The error for a server that closed the connection without answering: TLS may say why."""
        if not self._tls:
            if speaks_tls(self._host, self._port):
                return tls_required(self.address)
        else:
            found = diagnose(
                self.address, self._host, self._port, self._ssl(), self._server_name, client_cert=self._client_cert
            )
            if found is not None:
                return found
        return unavailable(self.address, "the server closed the connection without answering")

    def path(self, suffix: str) -> str:
        """The path of a namespace's endpoint."""
        return f"/api/v1/namespaces/{quote(self.namespace, safe='')}{suffix}"

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` with the query ``params`` (None values left out); the decoded answer."""
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        return self.call("GET", path + ("?" + urlencode(query) if query else ""))

    def post(self, path: str, body: Any) -> Any:
        """POST ``body`` as JSON to ``path``; the decoded answer."""
        return self.call("POST", path, json.dumps(body, ensure_ascii=False).encode())

    def call(self, method: str, target: str, body: bytes | None = None) -> Any:
        """One request; the decoded JSON answer, or the error it stands for.

        A server that cannot be connected to is left for the next address (one round; the request was
        not sent, so this is safe for any request).
        """
        for _ in range(len(self.addresses) - 1):
            try:
                return self._call_here(method, target, body, failover=True)
            except _Unreached:
                self._use((self._index + 1) % len(self.addresses))
        return self._call_here(method, target, body, failover=False)

    def _call_here(self, method: str, target: str, body: bytes | None, *, failover: bool) -> Any:
        head = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}", "Connection: close", "Accept: */*"]
        if self.api_key:
            head.append(f"Authorization: Bearer {self.api_key}")
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")
        try:
            raw = self._exchange(request, failover=failover)
        except TimeoutError:
            raise ServerUnavailableError(
                f"the Mainspring server at {self.address} did not answer in time", code="timeout"
            ) from None
        except ConnectionResetError:
            raise self._dropped() from None
        except OSError as e:  # (ssl.SSLError included)
            found = tls_failure(self.address, e, client_cert=self._client_cert) if self._tls else None
            if found is not None:
                raise found from None
            raise unavailable(self.address, f"{type(e).__name__}: {e.strerror or e}") from None
        if not raw:
            raise self._dropped()
        header_end = raw.find(b"\r\n\r\n")
        if not raw.startswith(b"HTTP/1.") or header_end < 0:
            raise not_mainspring(self.address, raw[:64])
        lines = raw[:header_end].decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise not_mainspring(self.address, raw[:64]) from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        content = raw[header_end + 4 :]
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = _dechunk(content)
        elif "content-length" in headers and headers["content-length"].isdigit():
            content = content[: int(headers["content-length"])]
        reason = lines[0].split(" ", 2)[2] if lines[0].count(" ") >= 2 else ""
        return decode_answer(self.address, status, headers.get("content-type", ""), content, json.loads, reason)

    def _exchange(self, request: bytes, *, failover: bool) -> bytes:
        try:
            sock = socket.create_connection((self._host, self._port), timeout=self.timeout)
        except OSError:  # (TimeoutError included: connecting timed out)
            if failover:
                raise _Unreached from None
            raise
        with sock:
            conn: socket.socket = sock
            if self._tls:
                conn = self._ssl().wrap_socket(sock, server_hostname=self._server_name)
            conn.sendall(request)
            chunks: list[bytes] = []
            size = 0
            while size <= _MAX_ANSWER:
                try:
                    chunk = conn.recv(65536)
                except ConnectionResetError:
                    if chunks:  # a server that answers and hangs up hard (gRPC refusing HTTP/1.1 does)
                        break
                    raise
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        size = int(data[pos:end].split(b";", 1)[0] or b"0", 16)
        if size == 0:
            break
        out.append(data[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2
    return b"".join(out)
