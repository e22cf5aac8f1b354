"""``mainspring codec-server --codec myapp.codec:Codec``: a team's payload codec over HTTP, next to its keys.

Temporal's codec-server protocol, so the same endpoint serves Temporal's tools as well: ``POST /encode``
and ``POST /decode`` take and answer ``{"payloads": [{"metadata": {key: base64}, "data": base64}]}``;
the ``X-Namespace`` header names the namespace, for a codec that is made per namespace (a factory that
takes ``namespace=``). The web UI (``server start --ui-codec-endpoint``) and the CLI (``--codec-endpoint``)
decode through it for the users who can reach it; the Mainspring server never does, and never sees keys.

It holds the keys' power: whoever reaches it reads clear text. It listens on 127.0.0.1 unless told
otherwise, and answers pages of the origins given with ``--cors-origin`` only. With ``--auth-server URL``
(a Mainspring server started with ``--auth``) it decodes only for callers that server knows, holding a role
in the ``X-Namespace`` namespace (a writer's to encode, a reader's to decode): it asks that server's
``/api/v1/auth/me`` with the caller's credentials (the CLI's API key, or the web UI's session cookie, which
the browser sends to a codec server on the same host) and remembers the answer for ``_AUTH_TTL`` seconds.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

import click

from .._payload import PayloadCodec

__all__ = ["build_app", "codec_server", "load_codec"]

log = logging.getLogger("mainspring.codec_server")

#: How large a request may be: a page of the UI's payloads, each within the server's payload limit.
_MAX_BODY = 64 * 1024 * 1024
#: Seconds the auth server's word on a caller is remembered.
_AUTH_TTL = 10.0
_READERS = frozenset({"reader", "writer", "admin"})
_WRITERS = frozenset({"writer", "admin"})


class _Gatekeeper:
    """Who may use the codec: the callers a Mainspring server (``--auth-server``) knows, by their role."""

    def __init__(self, server: str) -> None:
        self.url = (server if "://" in server else "http://" + server).rstrip("/") + "/api/v1/auth/me"
        self._known: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def refusal(self, headers: Any, namespace: str, encode: bool) -> tuple[int, str] | None:
        """Why the caller may not (a status and a message), or None."""
        import hashlib
        import time

        import aiohttp

        forward: dict[str, str] = {}
        if headers.get("authorization"):
            forward["authorization"] = headers["authorization"]
        cookie = headers.get("cookie", "")
        session = [c.strip() for c in cookie.split(";") if c.strip().startswith("mainspring_session=")]
        if session:
            forward["cookie"] = session[0]
        if not forward:
            return 401, "this codec server decodes for callers its Mainspring server knows: send your API key"
        key = hashlib.sha256(repr(sorted(forward.items())).encode()).hexdigest()
        now = time.monotonic()
        cached = self._known.get(key)
        if cached is not None and cached[0] > now:
            me = cached[1]
        else:
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
                    http.get(self.url, headers=forward) as answer,
                ):
                    me = await answer.json() if answer.status == 200 else None
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                return 503, f"cannot ask the Mainspring server at {self.url} who calls: {type(e).__name__}"
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[key] = (now + _AUTH_TTL, me)
        if not me or not me.get("authenticated"):
            return 401, "the Mainspring server does not know these credentials"
        grants = {g.get("namespace"): g.get("role") for g in me.get("grants", []) if isinstance(g, dict)}
        role = grants.get(namespace, grants.get("*"))
        if role not in (_WRITERS if encode else _READERS):
            what, needed = ("encoding", "writer") if encode else ("decoding", "reader")
            return 403, f"{what} payloads of namespace {namespace!r} needs the {needed} role there"
        return None


def load_codec(spec: str) -> Any:
    """What ``module:name`` names: a ``PayloadCodec`` instance, or a class or factory that makes one
    (called with ``namespace=`` if it takes it, else with nothing). Raises ``click.BadParameter``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise click.BadParameter(f"expected MODULE:NAME (e.g. myapp.codec:EncryptionCodec), got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise click.BadParameter(f"cannot import {module_name!r}: {e}") from None
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise click.BadParameter(f"module {module_name!r} has no {attr!r}") from None
    if not isinstance(target, PayloadCodec) and not callable(target):
        raise click.BadParameter(f"{spec} is neither a PayloadCodec nor a class or factory that makes one")
    return target


def _takes_namespace(factory: Any) -> bool:
    try:
        return "namespace" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def build_app(target: Any, cors_origins: tuple[str, ...] = (), auth_server: str | None = None) -> Any:
    """The codec server's ASGI application for ``target`` (see ``load_codec``); with ``auth_server``, for the
    callers that Mainspring server knows only."""
    from starlette.applications import Starlette  # (here: `mainspring --help` imports none of this)
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from .._json import dumps, loads
    from .._payload_mark import CodecError, payload_from_json, payload_json

    gatekeeper = _Gatekeeper(auth_server) if auth_server else None
    per_namespace = not isinstance(target, PayloadCodec) and _takes_namespace(target)
    codecs: dict[str, PayloadCodec] = {}

    def codec_for(namespace: str) -> PayloadCodec:
        if isinstance(target, PayloadCodec):
            return target
        key = namespace if per_namespace else ""
        codec = codecs.get(key)
        if codec is None:
            made = target(namespace=namespace) if per_namespace else target()
            if not isinstance(made, PayloadCodec):
                raise CodecError(f"the codec factory made a {type(made).__name__}, not a PayloadCodec")
            codec = codecs[key] = made
        return codec

    def error(status: int, message: str) -> Response:
        return JSONResponse(
            {"code": "codec_error" if status == 500 else "invalid_argument", "message": message}, status
        )

    async def run(request: Request, encode: bool) -> Response:
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return error(413, f"the request is over {_MAX_BODY:,} bytes")
        try:
            items = loads(raw)["payloads"]
            if not isinstance(items, list):
                raise TypeError
            payloads = [payload_from_json(p) for p in items]
        except (ValueError, TypeError, KeyError, CodecError) as e:
            detail = f": {e}" if isinstance(e, CodecError) else ""
            return error(400, 'the body must be {"payloads": [{"metadata": {...}, "data": "<base64>"}, ...]}' + detail)
        namespace = request.headers.get("x-namespace", "default")
        if gatekeeper is not None:
            refused = await gatekeeper.refusal(request.headers, namespace, encode)
            if refused is not None:
                status, message = refused
                return JSONResponse(
                    {"code": "unauthenticated" if status == 401 else "permission_denied", "message": message}, status
                )
        try:
            codec = codec_for(namespace)
            out = await (codec.encode(payloads) if encode else codec.decode(payloads))
        except Exception as e:
            # Said to the caller without the payloads (they may be what the key protects) and logged here.
            log.warning(
                "%s failed for namespace %r: %s: %s", "encode" if encode else "decode", namespace, type(e).__name__, e
            )
            return error(
                500, f"the codec could not {'encode' if encode else 'decode'} the payloads ({type(e).__name__})"
            )
        return Response(dumps({"payloads": [payload_json(p) for p in out]}), media_type="application/json")

    async def encode(request: Request) -> Response:
        return await run(request, True)

    async def decode(request: Request) -> Response:
        return await run(request, False)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["POST"],
                allow_headers=["Content-Type", "X-Namespace", "Authorization"],
                allow_credentials=True,
                max_age=600,
            )
        )
    routes = [
        Route("/encode", encode, methods=["POST"]),
        Route("/decode", decode, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, middleware=middleware)


@click.command("codec-server")
@click.option("--codec", "spec", required=True, metavar="MODULE:NAME", help="The PayloadCodec (or a class or factory).")
@click.option("--ip", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True, help="Port to listen on.")
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="An origin whose pages may call it, e.g. the web UI's http://localhost:8233 (repeatable).",
)
@click.option(
    "--auth-server",
    default=None,
    metavar="HOST:PORT",
    help="A Mainspring server with --auth: decode only for the callers it knows, with a role in the namespace.",
)
def codec_server(spec: str, ip: str, port: int, cors_origins: tuple[str, ...], auth_server: str | None) -> None:
    """Serve a payload codec over HTTP (POST /encode, /decode), for the web UI and the CLI to decode
    payloads through: the keys stay here, never on the Mainspring server."""
    import sys

    import uvicorn

    sys.path.insert(0, "")  # MODULE is found from the current directory, as `python -m` finds it
    target = load_codec(spec)
    app = build_app(target, cors_origins, auth_server)
    click.echo(f"codec server for {spec} on http://{ip}:{port} (CORS: {', '.join(cors_origins) or 'none'})", err=True)
    uvicorn.run(app, host=ip, port=port, log_level="warning")
