"""What every request and WebSocket handshake must be before the API or the UI sees it.

A web page the operator opens can make the browser send requests to the server: it can POST with a
``text/plain`` body without asking (a "simple" request), open WebSockets to it, and, by pointing its own
name at 127.0.0.1 (DNS rebinding), read every answer. ``Guard`` is the ASGI middleware in front of both
ports (API and UI) that refuses all of that, before routing:

- the ``Host`` must be a name or address the server answers as (``SitePolicy.check_host``);
- an ``Origin``, when present, must be one of the server's own origins or an allowed one
  (``SitePolicy.check_origin``); a request without one (the CLI, the SDK, workers, curl) is not a page's;
- a body must be declared JSON (``require_json_body``), which no simple request can declare;
- every HTTP answer carries a strict Content-Security-Policy (no framing), ``nosniff`` and no referrer.

Where authentication plugs in: each check is a ``RequestCheck``, a callable that sees the ``Incoming``
request (HTTP or WebSocket handshake, either port) and returns a ``Refusal`` or None. An API-key or role
check is one more ``RequestCheck``, given as ``Server(config, request_checks=[...])``, which runs after the
site checks; it may record who called in ``incoming.scope`` (say ``scope["mainspring.principal"]``) for the
handlers. Checks are synchronous on purpose: they run on every request, so what they need should already
be in memory.

Costs: one pass over the request's headers and a few string comparisons per HTTP request or handshake
(about 6 us in all, measured); the worker and client channels are one WebSocket each, so their messages
pay nothing.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.routing import Match, Mount, Route

from .._json import dumps
from ._logs import REQUEST_ID, request_id

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "Guard",
    "Incoming",
    "Refusal",
    "RequestCheck",
    "SitePolicy",
    "content_security_policy",
    "parse_allowed_host",
    "parse_allowed_origin",
    "refuse_handshake",
    "require_json_body",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The UI is scripts and a stylesheet of its own (inline styles are set through the CSSOM, which this
#: allows); nothing may frame it, and nothing it loads may come from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def content_security_policy(connect: Sequence[str] = ()) -> str:
    """The UI's policy, its scripts also allowed to call the origins ``connect`` (a codec server's)."""
    if not connect:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace("connect-src 'self'", "connect-src 'self' " + " ".join(connect))


def _security_headers(connect: Sequence[str] = ()) -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"content-security-policy", content_security_policy(connect).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    )


_SECURITY_HEADERS = _security_headers()

#: The order methods are listed in an Allow header.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: the HTTP status and the JSON error body's code and message."""

    status: int
    code: str
    message: str


class Incoming:
    """The parts of a request (or WebSocket handshake) the checks look at, read in one pass."""

    __slots__ = ("content_type", "has_body", "host", "kind", "local", "method", "origin", "path", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        #: "http" or "websocket".
        self.kind: str = scope["type"]
        self.method: str = scope.get("method", "GET")
        self.path: str = scope.get("path", "")
        self.host: str | None = None
        self.origin: str | None = None
        self.content_type: str | None = None
        self.has_body = False
        for name, value in scope.get("headers", ()):
            if name == b"host":
                self.host = value.decode("latin-1").lower()
            elif name == b"origin":
                self.origin = value.decode("latin-1").lower()
            elif name == b"content-type":
                self.content_type = value.decode("latin-1")
            elif name == b"content-length":
                self.has_body = self.has_body or value.strip() not in (b"", b"0")
            elif name == b"transfer-encoding":
                self.has_body = True
        #: The address the connection arrived at (for a server bound to 0.0.0.0, the interface the
        #: client chose), so a browser on the LAN that uses the machine's address is recognised.
        server = scope.get("server")
        self.local: str | None = _unmapped(str(server[0]).lower()) if server else None

    def header(self, name: str) -> str | None:
        """Any other request header (for checks that need one, e.g. ``authorization``)."""
        wanted = name.lower().encode("latin-1")
        for key, value in self.scope.get("headers", ()):
            if key == wanted:
                return str(value.decode("latin-1"))
        return None


class RequestCheck(Protocol):
    """One check every HTTP request and WebSocket handshake passes, on both ports, before routing."""

    def __call__(self, request: Incoming, /) -> Refusal | None: ...


def require_json_body(request: Incoming) -> Refusal | None:
    """A request that carries a body (or declares one) must declare it JSON.

    A page on another site can send a POST without the browser asking the server first only if its
    Content-Type is text/plain, a form or multipart; so a refused type is also a refused page. A POST
    with no body and no Content-Type has nothing to mistype and goes on (to its 404, or its 400).
    """
    if request.method not in _BODY_METHODS or request.kind != "http":
        return None
    declared = request.content_type
    if declared is None and not request.has_body:
        return None
    if declared is not None and declared.split(";", 1)[0].strip().lower() == "application/json":
        return None
    got = f"got {declared!r}" if declared is not None else "no Content-Type was sent"
    return Refusal(
        415, "unsupported_media_type", f"the request body must be JSON ({got}): send Content-Type: application/json"
    )


# --- names and origins ----------------------------------------------------------------------------------

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _unmapped(address: str) -> str:
    """192.0.2.1 for ::ffff:192.0.2.1 (how a dual-stack socket sees an IPv4 client)."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address


def _is_name(text: str) -> bool:
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    return len(text) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _split_host(value: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[v6][:port]`` -> (name, port); None if it is not one. IPv6 comes back bare."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        name, _, port_text = value.partition(":")
        if ":" in port_text:
            return None
    if not name:
        return None
    if not port_text:
        return name, None
    if not port_text.isdigit() or len(port_text) > 5:
        return None
    port = int(port_text)
    return (name, port) if 0 < port < 65536 else None


def _split_origin(origin: str) -> tuple[str, str, int] | None:
    """``scheme://host[:port]`` -> (scheme, host, port with the scheme's default); None otherwise."""
    scheme, sep, rest = origin.partition("://")
    if not sep or "/" in rest or "@" in rest:
        return None
    parsed = _split_host(rest)
    if parsed is None:
        return None
    name, port = parsed
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
        if port is None:
            return None
    return scheme, name, port


def _url_host(name: str) -> str:
    return f"[{name}]" if ":" in name else name


def parse_allowed_origin(text: str) -> str:
    """Check an ``--allowed-origin`` value; return it as a browser spells it (default port dropped).

    ``*`` allows every origin. Otherwise ``scheme://host[:port]``: http or https, no path, no query.
    Raises ValueError with a message that says how to write one.
    """
    value = text.strip()
    if value == "*":
        return value
    how = "write scheme://host[:port], e.g. http://localhost:3000 (no path, not even a trailing /), or *"
    if value.lower() == "null":
        raise ValueError(f"{text!r} cannot be allowed: it is the origin of sandboxed frames and local files; {how}")
    try:
        url = urllib.parse.urlsplit(value)
        port = url.port
    except ValueError:
        raise ValueError(f"{text!r} is not an origin: {how}") from None
    host = url.hostname
    scheme = url.scheme.lower()
    if (
        scheme not in ("http", "https")
        or "://" not in value
        or not host
        or url.path
        or url.query
        or url.fragment
        or url.username is not None
        or not (_is_name(host) or _is_address(host))
    ):
        raise ValueError(f"{text!r} is not an origin: {how}")
    default = 80 if scheme == "http" else 443
    return f"{scheme}://{_url_host(host.lower())}" + (f":{port}" if port is not None and port != default else "")


def parse_allowed_host(text: str) -> str:
    """Check an ``--allowed-host`` value; return it normalised (lower case, IPv6 in brackets if a port follows).

    ``*`` allows every Host (and gives up the protection against DNS rebinding). Otherwise a host name or
    an IP address, optionally with ``:PORT`` for a name the server is reached at on a port not its own
    (behind a proxy or a port mapping). Raises ValueError with a message that says how to write one.
    """
    value = text.strip().lower()
    if value == "*":
        return value
    how = "give a host name or an IP address, optionally with :PORT (e.g. myhost.lan or myhost.lan:8080), or *"
    if "/" in value or "@" in value:
        raise ValueError(f"{text!r} is not a host name: {how}; not a URL")
    if _is_address(value.strip("[]")):  # a bare IPv6 address, or one in brackets
        return value.strip("[]")
    parsed = _split_host(value)
    if parsed is None or not (_is_name(parsed[0]) or _is_address(parsed[0])):
        raise ValueError(f"{text!r} is not a host name: {how}")
    name, port = parsed
    return name if port is None else f"{_url_host(name)}:{port}"


def _wildcard(address: str) -> bool:
    return address in ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class SitePolicy:
    """The names, ports and origins the server answers as; from its settings and the ports it bound."""

    #: Host names and addresses (lower case, IPv6 bare) the server answers to on any of its ports.
    names: frozenset[str]
    #: The server's ports (API and UI).
    ports: frozenset[int]
    #: (name, port) pairs allowed as given (a name reached through a proxy or a port mapping).
    pairs: frozenset[tuple[str, int]] = frozenset()
    #: ``--allowed-host '*'``: any Host header.
    any_host: bool = False
    #: Origins allowed besides the server's own, as a browser spells them.
    origins: frozenset[str] = frozenset()
    #: ``--allowed-origin '*'``: any origin.
    any_origin: bool = False
    #: The scheme of the server's own origins: "https" when it serves TLS (on every port), else "http".
    scheme: str = "http"

    @classmethod
    def for_server(
        cls,
        *,
        bound: str,
        ports: Iterable[int],
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        tls: bool = False,
    ) -> SitePolicy:
        """The policy of a server bound to ``bound`` on ``ports``.

        It answers as localhost, 127.0.0.1 and ::1, its bound address, and, bound to every interface
        (0.0.0.0 or ::), the machine's host name and whichever of its addresses a connection arrives at
        (checked per connection, so an interface that comes up later counts too). Its own origins are
        ``https://`` ones when it serves ``tls``, else ``http://``. Raises ValueError for a malformed
        allowed host or origin.
        """
        names = {"localhost", "127.0.0.1", "::1", bound.strip("[]").lower()}
        if _wildcard(bound):
            hostname = socket.gethostname().lower()
            if hostname:
                short = hostname.split(".", 1)[0]
                names |= {hostname, short, short + ".local"}
        pairs: set[tuple[str, int]] = set()
        any_host = False
        for entry in allowed_hosts:
            normal = parse_allowed_host(entry)
            if normal == "*":
                any_host = True
                continue
            parsed = _split_host(normal) if not _is_address(normal) else (normal, None)
            assert parsed is not None
            name, port = parsed
            if port is None:
                names.add(name)
            else:
                pairs.add((name, port))
        origins = {parse_allowed_origin(o) for o in allowed_origins}
        return cls(
            names=frozenset(names),
            ports=frozenset(ports),
            pairs=frozenset(pairs),
            any_host=any_host,
            origins=frozenset(origins - {"*"}),
            any_origin="*" in origins,
            scheme="https" if tls else "http",
        )

    def _answers_as(self, name: str, port: int | None, local: str | None) -> bool:
        if (port is None or port in self.ports) and (name in self.names or name == local):
            return True
        return port is not None and (name, port) in self.pairs

    def check_host(self, request: Incoming) -> Refusal | None:
        """The Host must name this server: a page on a name of its own that resolves to this machine
        (DNS rebinding) is otherwise same-origin with the server and reads every answer."""
        host = request.host
        if host is None or self.any_host:
            return None  # HTTP/1.0 without Host is no browser's
        parsed = _split_host(host)
        if parsed is not None and self._answers_as(_unmapped(parsed[0]), parsed[1], request.local):
            return None
        name = parsed[0] if parsed is not None else host
        return Refusal(
            403,
            "forbidden_host",
            f"this server does not answer to the Host {host!r}: a request naming another host is refused, so "
            f"that a web page cannot reach the server through a DNS name of its own (DNS rebinding). If "
            f"{name!r} is a name of this server, start it with --allowed-host {_url_host(name)}",
        )

    def check_origin(self, request: Incoming) -> Refusal | None:
        """A page may call the server only from the server's own origins or an allowed one."""
        origin = request.origin
        if origin is None or self.any_origin or origin in self.origins:
            return None
        host = request.host
        if host is not None and origin == f"{self.scheme}://{host}":
            return None  # the page's origin is the one this request is addressed to (Host checked first)
        parsed = _split_origin(origin)
        if parsed is not None and parsed[0] == self.scheme and self._answers_as(parsed[1], parsed[2], request.local):
            return None
        if origin == "null":
            why = "a page with an opaque origin ('null': a sandboxed frame, a local file) may not call the server"
        else:
            why = (
                f"a page on {origin} may not call this server (only the server's own pages may); to allow it, "
                f"start the server with --allowed-origin {origin}"
            )
        return Refusal(403, "forbidden_origin", why)

    def checks(self) -> tuple[RequestCheck, ...]:
        """The site checks, in the order they run: Host, Origin, body type."""
        return (self.check_host, self.check_origin, require_json_body)


# --- the middleware -------------------------------------------------------------------------------------


def _json_body(refusal: Refusal) -> bytes:
    return dumps({"code": refusal.code, "message": refusal.message})


class Guard:
    """ASGI middleware in front of one Starlette app: runs ``checks`` on every HTTP request and WebSocket
    handshake, answers OPTIONS itself, and adds the security headers to every HTTP answer."""

    def __init__(self, app: Any, checks: Sequence[RequestCheck], *, connect_src: Sequence[str] = ()) -> None:
        #: A Starlette app (its routes answer OPTIONS).
        self.app = app
        self.checks = tuple(checks)
        #: ``connect_src``: origins the UI's scripts may call besides this one (its codec server).
        self._security = _security_headers(connect_src)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        request = Incoming(scope)
        for check in self.checks:
            refusal = check(request)
            if refusal is not None:
                if kind == "http":
                    await _refuse_http(refusal, send)
                else:
                    await refuse_handshake(refusal, scope, receive, send)
                return
        # The request's id: in its log lines (see _logs) and in the answer's X-Request-Id.
        rid = request_id(request.header("x-request-id"))
        token = REQUEST_ID.set(rid)
        try:
            if kind == "websocket":
                await self.app(scope, receive, send)
                return
            if request.method == "OPTIONS":
                await self._options(request, send)
                return
            extra = [*self._security, *_cors_headers(request.origin), (b"x-request-id", rid.encode())]

            async def send_with_headers(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), *extra]}
                await send(message)

            await self.app(scope, receive, send_with_headers)
        finally:
            REQUEST_ID.reset(token)

    def allowed_methods(self, scope: Scope) -> list[str]:
        """The methods the app answers on this path (empty: no such path)."""
        methods: set[str] = set()
        for route in self.app.routes:
            match, _ = route.matches(scope)
            if match is Match.NONE:
                continue
            if isinstance(route, Route):
                methods |= route.methods or set(_METHOD_ORDER)
            elif isinstance(route, Mount):
                methods |= {"GET", "HEAD"}  # static files
        if methods:
            methods.add("OPTIONS")
        return [m for m in _METHOD_ORDER if m in methods]

    async def _options(self, request: Incoming, send: Send) -> None:
        # No CORS is granted to a foreign origin: it was refused above. An allowed one may preflight.
        methods = self.allowed_methods(request.scope)
        if not methods:
            await _refuse_http(
                Refusal(404, "not_found", f"no such endpoint: OPTIONS {request.path} (see /api/v1/openapi.json)"),
                send,
            )
            return
        allow = ", ".join(methods).encode()
        headers = [(b"allow", allow), *self._security, *_cors_headers(request.origin)]
        if request.origin is not None:
            headers += [
                (b"access-control-allow-methods", allow),
                (b"access-control-allow-headers", b"content-type, accept"),
                (b"access-control-max-age", b"600"),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _cors_headers(origin: str | None) -> tuple[tuple[bytes, bytes], ...]:
    """An origin that passed the checks may read the answers (it is the server's own, or allowed)."""
    if origin is None:
        return ()
    return ((b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin"))


async def _refuse_http(refusal: Refusal, send: Send) -> None:
    body = _json_body(refusal)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *_SECURITY_HEADERS,
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def refuse_handshake(refusal: Refusal, scope: Scope, receive: Receive, send: Send) -> None:
    """Refuse a WebSocket before it is accepted: the client sees the handshake fail with the status."""
    if (await receive())["type"] != "websocket.connect":
        return  # the client left first
    if "websocket.http.response" in scope.get("extensions", {}):
        body = _json_body(refusal)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # A WebSocket client seldom reads a refused handshake's body (aiohttp does not): the code and
            # message are in headers too, for the SDK to raise what the server said.
            (b"mainspring-error-code", refusal.code.encode("latin-1", "replace")),
            (b"mainspring-error", refusal.message.encode("latin-1", "replace")),
        ]
        await send({"type": "websocket.http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # a server without the extension answers 403 to a close before accept
        await send({"type": "websocket.close", "code": 1008})
