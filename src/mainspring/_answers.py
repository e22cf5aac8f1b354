"""What a server's answer means, for every client: the SDK's HTTP transport and its channel, the worker,
and the CLI's one-shot requests.

An error body becomes the ``RPCError`` it stands for; an answer no Mainspring server gives (HTTP/2 or gRPC
framing, which is what Temporal's dev server on the same port sends back, or an HTTP answer that is not
the API's JSON) becomes a ``ServerUnavailableError`` with code ``not_mainspring`` that says so, rather
than a parser's traceback or a wait on a server that will never answer.

Free of heavy imports (no asyncio, aiohttp, pydantic): the CLI loads it before anything else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from .errors import (
    AlreadyStartedError,
    InvalidArgumentError,
    InvalidQueryError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    RPCError,
    ServerUnavailableError,
    UnauthenticatedError,
)

__all__ = [
    "DEFAULT_ADDRESS",
    "NOT_MAINSPRING",
    "TOKEN_EXPIRED",
    "decode_answer",
    "looks_like_http2",
    "not_mainspring",
    "resolve_address",
    "rpc_error",
    "unavailable",
]

DEFAULT_ADDRESS = "localhost:7233"

#: The ``code`` of the error raised when what answers at the address is not a Mainspring server.
NOT_MAINSPRING = "not_mainspring"
#: The ``code`` of the 401 that refuses an OIDC token whose ``exp`` passed (a request's, a channel's handshake or
#: message): a fresh token (``client.api_key = ...``) is the remedy, so a worker connecting again waits for one.
TOKEN_EXPIRED = "token_expired"

_BY_STATUS: dict[int, type[RPCError]] = {
    400: InvalidArgumentError,
    401: UnauthenticatedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: AlreadyStartedError,
    413: PayloadTooLargeError,
    422: InvalidArgumentError,
    429: ResourceExhaustedError,
    503: ServerUnavailableError,
}

#: Error statuses whose plain body proves nothing: a proxy in front of a server answers 502-504 while the
#: server behind it is down or busy, and a 500 may be a crash before the API could word it. Reported as
#: the status says, not as something foreign.
_PROXY_STATUSES = frozenset({500, 502, 503, 504})

_HTTP2_PREFACE = b"PRI * HTTP/2.0"
#: HTTP/2 frame types a server sends first: SETTINGS (its connection preface), GOAWAY (it refuses an
#: HTTP/1.1 request), WINDOW_UPDATE and PING.
_HTTP2_FIRST_FRAMES = frozenset({0x4, 0x7, 0x8, 0x6})


def resolve_address(address: str | None) -> str:
    """The address to use: the argument, else ``$MAINSPRING_ADDRESS``, else localhost:7233."""
    return address or os.environ.get("MAINSPRING_ADDRESS") or DEFAULT_ADDRESS


def rpc_error(status: int, message: str, code: str = "error", details: Any = None) -> RPCError:
    """The exception for an error answer (HTTP status and body, or a channel's error message)."""
    if status == 400 and code == "invalid_query":  # a list filter refused: the class that has its position
        return InvalidQueryError(message, status=status, code=code, details=details)
    return _BY_STATUS.get(status, RPCError)(message, status=status, code=code, details=details)


def unavailable(address: str, why: str) -> ServerUnavailableError:
    """Nothing (or nothing that answers) at ``address``."""
    return ServerUnavailableError(
        f"cannot reach the Mainspring server at {address} ({why}); is it running? Start one with "
        "`mainspring server start-dev`, or point --address / MAINSPRING_ADDRESS at it",
        code="unavailable",
    )


def looks_like_http2(data: bytes) -> bool:
    """Whether ``data``, the first bytes a server sent back, are HTTP/2 (and so most likely gRPC)."""
    if data.startswith(_HTTP2_PREFACE):
        return True
    if len(data) < 9:
        return False
    length = int.from_bytes(data[:3], "big")
    stream = int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
    # A connection-level frame (stream 0) of a plausible size: text protocols never start so.
    return data[3] in _HTTP2_FIRST_FRAMES and stream == 0 and length <= 16384


def not_mainspring(address: str, first_bytes: bytes | None = None, *, http2: bool = False) -> ServerUnavailableError:
    """The error for an answer no Mainspring server gives, from ``address``."""
    message = f"something that is not a Mainspring server answers at {address}"
    if http2 or (first_bytes is not None and looks_like_http2(first_bytes)):
        message += " (it looks like HTTP/2 or gRPC: is Temporal's dev server running there?)"
    message += "; point --address / MAINSPRING_ADDRESS at a Mainspring server, or start one on another port"
    return ServerUnavailableError(message, code=NOT_MAINSPRING)


_BYTES_LITERAL = re.compile(r"""b(['"]).*?(?<!\\)\1""", re.DOTALL)


def bytes_in_parser_message(message: str) -> bytes | None:
    """The raw bytes an HTTP parser quotes in its complaint (aiohttp's "Bad status line ... b'...'")."""
    import ast

    m = _BYTES_LITERAL.search(message)
    if m is None:
        return None
    try:
        value = ast.literal_eval(m.group(0))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, bytes) else None


def decode_answer(
    address: str, status: int, content_type: str, raw: bytes, loads: Callable[[bytes], Any], reason: str = ""
) -> Any:
    """The decoded JSON of an HTTP answer (None for an empty one); raise the error it stands for.

    A Mainspring server answers JSON, and every error as ``{"code", "message"}``: anything else came
    from something else (a web server, a proxy's own error page), which the caller should hear about
    instead of a decoding error.
    """
    json_type = content_type.split(";", 1)[0].strip().lower() in ("application/json", "")
    if status < 400:
        if status == 204 or not raw:
            return None
        if not json_type:
            raise not_mainspring(address)
        try:
            return loads(raw)
        except ValueError:
            raise not_mainspring(address) from None
    try:
        parsed = loads(raw) if json_type else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("message"), str):
        text = raw.decode(errors="replace").strip()
        if status in _PROXY_STATUSES:
            raise rpc_error(status, text[:500] or reason or f"HTTP {status}")
        raise not_mainspring(address)
    raise rpc_error(status, parsed["message"], str(parsed.get("code") or "error"), parsed.get("details"))
