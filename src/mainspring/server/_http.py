"""The HTTP/JSON API: its routes and its OpenAPI document, both built from the operation table
(``_operations``), so the documentation cannot drift from what the server accepts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from .._json import dumps
from .._version import __version__
from ..api import models as m
from ..api.names import MAX_ID_LENGTH, NAMESPACE_PATTERN, check_namespace
from ..api.roles import Access
from ..errors import (
    InvalidArgumentError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RPCError,
    UnauthenticatedError,
)
from ..storage import StorageError
from ._audit import audited
from ._auth import NO_CREDENTIALS, authorize, me
from ._channel import client_channel, worker_channel
from ._engine import Engine
from ._errors import ErrorAnswer, answer_for
from ._operations import OPERATIONS, Caller, Http, Operation
from ._tracing import UNTRACED
from ._wire import body_limit, parse_body

__all__ = ["ROUTES", "build_app", "openapi_document"]

log = logging.getLogger(__name__)

#: The operations offered over HTTP, in the order the documentation lists them.
ROUTES: tuple[tuple[Operation, Http], ...] = tuple((op, op.http) for op in OPERATIONS if op.http is not None)


def _json(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status_code=status, media_type="application/json")


def error_response(error: ErrorAnswer) -> Response:
    response = _json(error.body(), error.status)
    if error.status in (429, 503):  # come back later: when (RFC 9110 wants whole seconds)
        details = error.details
        wait = details.get("retry_after", 1) if isinstance(details, dict) else 1
        response.headers["retry-after"] = str(max(1, math.ceil(wait)))
    return response


#: Errors any operation may answer with (``_BODY_ERRORS`` too, for those that take a body).
_ERRORS = (
    (400, "Invalid request; the message says what to fix"),
    (401, "Who calls is not known (auth on): no API key, or one that is not valid"),
    (
        403,
        "Refused: the caller's role does not allow it (the message names the role needed), a foreign origin or "
        "host, or a task token that belongs to another worker",
    ),
    (404, "Not found (the namespace, the workflow, the task or the session)"),
    (431, "The request line and headers are over 64 KiB"),
    (503, "The store cannot write right now (e.g. its disk is full); retry after the Retry-After header"),
)
_BODY_ERRORS = (
    (413, "The body or a payload in it is over the server's limit"),
    (415, "The body is not sent as application/json"),
)
_PATH_PARAMETERS = {
    "namespace": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NAMESPACE_PATTERN},
    "session_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
}


def _caller(request: Request, http: Http) -> Caller:
    namespace = ""
    if "{namespace}" in http.path:
        namespace = request.path_params["namespace"]
        problem = check_namespace(namespace)
        if problem:
            raise InvalidArgumentError(problem, code="invalid_argument")
    return Caller(
        namespace,
        query=request.query_params,
        path=request.path_params,
        peer=request.client.host if request.client is not None else None,
    )


async def _until_disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _while_connected(request: Request, wait: Awaitable[Any]) -> tuple[bool, Any]:
    """Run a long wait, and abandon it if the caller goes away (so no task is handed to a dead poll):
    (True, its answer), or (False, None) when it was abandoned."""
    waiting = asyncio.ensure_future(wait)
    watch = asyncio.ensure_future(_until_disconnected(request))
    try:
        await asyncio.wait({waiting, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if not waiting.done():
        waiting.cancel()
        try:
            await waiting
        except asyncio.CancelledError:
            pass
        return False, None
    return True, waiting.result()


async def _read_ahead(request: Request, limit: int, max_payload: int) -> Any:
    """The request's body as JSON (None if it is not), read before the endpoint runs: the bytes, or the error
    reading them raised, are kept in the scope for the endpoint's ``_read_body``, which answers as it would."""
    scope = request.scope
    try:
        raw = scope["mainspring.raw_body"] = await _read_body(request, limit, max_payload)
    except (RPCError, ClientDisconnect) as e:
        scope["mainspring.body_error"] = e
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def _read_body(request: Request, limit: int, max_payload: int) -> bytes:
    """The request's body, refused with 413 as soon as its declared or streamed length passes
    ``limit``: a huge body is never held in memory whole (four 100 MB bodies once took the server to
    half a gigabyte before it said no)."""
    scope = request.scope
    if "mainspring.raw_body" in scope:  # read ahead already (``_read_ahead``)
        raw: bytes = scope["mainspring.raw_body"]
        return raw
    error = scope.get("mainspring.body_error")
    if error is not None:
        raise error
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(f"{int(declared):,} bytes", limit, max_payload)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(f"over {limit:,} bytes", limit, max_payload)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: str, limit: int, max_payload: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is {size}, more than the server accepts ({limit:,}); payloads are limited to "
        f"{max_payload:,} bytes (--max-payload-size): store large data elsewhere and pass a reference",
        code="payload_too_large",
    )


async def _stash_body(request: Request, model: type[BaseModel], limit: int, max_payload: int) -> None:
    try:
        request.scope["mainspring.body"] = parse_body(model, await _read_body(request, limit, max_payload))
    except (RPCError, ClientDisconnect):
        pass


def _make_route(engine: Engine, op: Operation, http: Http) -> Route:
    endpoint = _endpoint(engine, op, http)
    metrics, name = engine.metrics, op.name
    if metrics is not None:  # decided once, when the app is built: no cost per request when off
        plain = endpoint

        async def endpoint(request: Request) -> Response:
            t0 = time.perf_counter()
            response = await plain(request)
            metrics.operation(name, time.perf_counter() - t0)
            if response.status_code >= 400:
                metrics.operation_failed(name, _code_of(response))
            return response

    tracing = engine.tracing
    if tracing is not None and name not in UNTRACED:  # (``_tracing``: decided once, as metrics are)
        untraced = endpoint
        # A request whose body has a ``header`` field may carry the caller's context there, as on the channel.
        header_in_body = http.takes_body and op.request is not None and "header" in op.request.model_fields
        limit = body_limit(engine.max_payload)

        async def endpoint(request: Request) -> Response:
            # The span's parent is the HTTP traceparent header's, else the body's header field's: the body is
            # read first for that (kept for the endpoint, which reads it from the scope, see ``_read_body``).
            body: Any = None
            if header_in_body and "traceparent" not in request.headers:
                body = await _read_ahead(request, limit, engine.max_payload)
            with tracing.span(name, "http", request.headers, body) as span:
                response = await untraced(request)
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 400:
                    span.set_attribute("mainspring.error_code", _code_of(response))
                return response

    audit = engine.audit
    if audit is not None and audited(op):  # (auth on: who changed what, see _audit)
        answering = endpoint

        async def endpoint(request: Request) -> Response:
            response = await answering(request)
            scope = request.scope
            namespace = request.path_params.get("namespace", "")
            body = scope.get("mainspring.body")
            peer = request.client.host if request.client is not None else None
            audit.record(scope.get("mainspring.principal"), name, namespace, body, response.status_code, peer)
            return response

    return Route(http.path, endpoint, methods=[http.method], name=http.operation_id or op.name)


def _code_of(response: Response) -> str:
    """The error code of an error answer (its JSON body's ``code``)."""
    try:
        code = orjson.loads(response.body).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        code = None
    return code if isinstance(code, str) else f"http_{response.status_code}"


def _endpoint(engine: Engine, op: Operation, http: Http) -> Callable[[Request], Awaitable[Response]]:
    body_model = op.request if http.takes_body else None
    limit = body_limit(engine.max_payload)
    call, waits = op.call, op.waits

    checked = engine.auth.enabled  # decided once, when the app is built
    audit_denied = engine.audit is not None and audited(op)
    access, what = op.access, f"{op.name.replace('_', ' ')}"

    async def endpoint(request: Request) -> Response:
        try:
            caller = _caller(request, http)
            if checked:  # who calls was found by the AuthGate in front (see _auth); what it may do is known here
                principal = caller.principal = request.scope.get("mainspring.principal")
                if access is not Access.PUBLIC:
                    if principal is None:
                        raise UnauthenticatedError(NO_CREDENTIALS, code="unauthenticated")
                    try:
                        authorize(principal, access, caller.namespace, what)
                    except PermissionDeniedError:
                        if audit_denied and body_model is not None:  # what it named, for the audit log
                            await _stash_body(request, body_model, limit, engine.max_payload)
                        raise
            body: Any = None
            if body_model is not None:
                body = parse_body(body_model, await _read_body(request, limit, engine.max_payload))
                if checked:
                    request.scope["mainspring.body"] = body  # for the audit log (what the call named)
            if waits:
                answered, answer = await _while_connected(request, call(engine, caller, body))
                if not answered:
                    return Response(status_code=204)
            else:
                answer = await call(engine, caller, body)
            if answer is None:  # nothing arrived in time
                return Response(status_code=204)
            return _json(answer, caller.status or http.status)
        except (RPCError, StorageError) as e:
            if isinstance(e, StorageError):
                engine.repeats.error("http", "storage error in %s: %s", op.name, e)  # once while it repeats
            return error_response(answer_for(e))
        except ClientDisconnect:
            # The caller went away while sending its body (nothing was done): no one to answer, and not
            # the server's error (each one logged a traceback; a thousand at once stalled the server).
            return Response(status_code=400)

    return endpoint


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every operation offered over HTTP, generated from the operation table."""
    from pydantic.json_schema import models_json_schema

    models: list[type[BaseModel]] = []
    for op, http in ROUTES:
        for model in (op.request if http.takes_body else None, op.answer):
            if model is not None and model not in models:
                models.append(model)
    models.append(m.ErrorBody)
    refs, schema = models_json_schema(
        [(mod, "validation") for mod in models], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, Any] = {}
    for op, http in ROUTES:
        doc: dict[str, Any] = {"operationId": http.operation_id or op.name, "summary": op.summary, "tags": [op.tag]}
        params = [
            {"name": p, "in": "path", "required": True, "schema": schema}
            for p, schema in _PATH_PARAMETERS.items()
            if "{" + p + "}" in http.path
        ]
        params += [
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": {"type": q.type, **q.schema},
            }
            for q in http.query
        ]
        if params:
            doc["parameters"] = params
        if http.takes_body and op.request is not None:
            doc["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.request, "validation")]}},
            }
        ok: dict[str, Any] = {"description": "Success"}
        if op.answer is not None:
            ok["content"] = {"application/json": {"schema": refs[(op.answer, "validation")]}}
        error = {"content": {"application/json": {"schema": refs[(m.ErrorBody, "validation")]}}}
        responses: dict[str, Any] = {str(http.status): ok}
        body_errors = _BODY_ERRORS if http.takes_body and op.request is not None else ()
        for status, description in sorted((*_ERRORS, *body_errors, *http.also)):
            if status == 204:
                responses["204"] = {"description": description}
            elif status < 300:  # the same body as ``status``'s
                responses[str(status)] = {**ok, "description": description}
            else:
                responses[str(status)] = {"description": description, **error}
        doc["responses"] = dict(sorted(responses.items()))
        paths.setdefault(http.path, {})[http.method.lower()] = doc
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mainspring API",
            "version": __version__,
            "description": "HTTP/JSON API of the Mainspring durable workflow server. Durations are seconds, "
            "times are RFC 3339 UTC strings, payloads are JSON values. Every error has a JSON "
            "body with `code` and `message`.",
        },
        "paths": paths,
        "components": {"schemas": schema.get("$defs", {})},
    }


def _docs_page() -> str:
    import html

    rows = "".join(
        f"<tr><td><code>{http.method}</code></td><td><code>{html.escape(http.path)}</code></td>"
        f"<td>{html.escape(op.summary)}</td></tr>"
        for op, http in ROUTES
    )
    return (
        "<!doctype html><meta charset=utf-8><title>Mainspring API</title>"
        "<link rel=stylesheet href='/api/v1/docs.css'>"
        f"<h1>Mainspring API {__version__}</h1><p>The machine-readable description is "
        "<a href='/api/v1/openapi.json'>/api/v1/openapi.json</a> (OpenAPI 3.1).</p>"
        f"<table>{rows}</table>"
    )


# A stylesheet of its own rather than an inline <style>: the Content-Security-Policy allows no inline style.
_DOCS_CSS = (
    "body{font:15px system-ui,sans-serif;margin:2em;max-width:70em}td{padding:.3em .8em;"
    "border-bottom:1px solid #ddd}code{font-size:13px}"
)


def build_app(engine: Engine, *, ui: bool = False) -> Starlette:
    """The Starlette application serving the API of ``engine`` (and the web UI's pages, with ``ui``)."""
    routes: list[BaseRoute] = [_make_route(engine, op, http) for op, http in ROUTES]
    cache: dict[str, bytes] = {}

    async def openapi(request: Request) -> Response:
        if "doc" not in cache:
            cache["doc"] = dumps(openapi_document())
        return Response(cache["doc"], media_type="application/json")

    async def docs(request: Request) -> Response:
        return HTMLResponse(_docs_page())

    async def docs_css(request: Request) -> Response:
        return Response(_DOCS_CSS, media_type="text/css")

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(
            ErrorAnswer(
                404, "not_found", f"no such endpoint: {request.method} {request.url.path} (see /api/v1/openapi.json)"
            )
        )

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(
            ErrorAnswer(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
        )

    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(ErrorAnswer(500, "internal", f"internal server error: {type(exc).__name__}: {exc}"))

    async def channel(websocket: WebSocket) -> None:
        await worker_channel(engine, websocket)

    async def clients(websocket: WebSocket) -> None:
        await client_channel(engine, websocket)

    async def whoami(request: Request) -> Response:
        # With auth on, the AuthGate in front answers this itself (see _auth); here, nobody is checked.
        return _json(me("none", None, None))

    routes.append(Route("/api/v1/openapi.json", openapi, methods=["GET"], name="openapi"))
    routes.append(Route("/api/v1/auth/me", whoami, methods=["GET"], name="whoami"))
    routes.append(WebSocketRoute("/api/v1/namespaces/{namespace}/workers/connect", channel, name="worker_channel"))
    routes.append(WebSocketRoute("/api/v1/namespaces/{namespace}/clients/connect", clients, name="client_channel"))
    routes.append(Route("/api/v1/docs", docs, methods=["GET"], name="docs"))
    routes.append(Route("/api/v1/docs.css", docs_css, methods=["GET"], name="docs_css"))
    if ui:
        routes += _ui_routes(engine.config.ui_codec_endpoint)
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: method_not_allowed, 500: internal})


def _ui_routes(codec_endpoint: str | None = None) -> list[BaseRoute]:
    from starlette.responses import FileResponse, RedirectResponse
    from starlette.staticfiles import StaticFiles

    from ..ui import static_dir

    static = static_dir()

    class Static(StaticFiles):
        # Revalidated on every load (a 304 when unchanged, thanks to the ETag): after an upgrade the
        # browser must not keep running the old scripts against the new API.
        def file_response(self, *args: Any, **kwargs: Any) -> Response:
            response = super().file_response(*args, **kwargs)
            response.headers["cache-control"] = "no-cache"
            return response

    async def page(request: Request) -> Response:
        # The UI is one page: the browser-side code reads the path and draws what it names.
        return FileResponse(static / "index.html", headers={"cache-control": "no-cache"})

    async def home(request: Request) -> Response:
        return RedirectResponse("/namespaces/default/workflows")

    async def settings(request: Request) -> Response:
        # What the browser-side code needs to know of the server's settings: where to decode payloads.
        return Response(dumps({"codec_endpoint": codec_endpoint}), media_type="application/json")

    return [
        Route("/", home, methods=["GET"]),
        Route("/ui-settings.json", settings, methods=["GET"]),
        Mount("/static", app=Static(directory=static), name="static"),
        Route("/namespaces/{rest:path}", page, methods=["GET"]),
        Route("/cluster", page, methods=["GET"]),
    ]
