"""The HTTP/JSON API: one route table, from which both the Starlette app and the OpenAPI document
are built, so the documentation cannot drift from what the server accepts.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from .._json import dumps
from .._version import __version__
from ..api import models as m
from ..api.enums import WorkflowStatus
from ..api.fields import MAX_EVENT_ID, MAX_SECONDS, MAX_UNIX_TIME
from ..api.names import ID_PATTERN, MAX_ID_LENGTH, NAMESPACE_PATTERN, check_id, check_namespace
from ..errors import InvalidArgumentError, PayloadTooLargeError, RPCError
from ..storage import ListQuery, StorageError
from ._channel import client_channel, worker_channel
from ._engine import Engine, iso
from ._wire import body_limit, parse_body

__all__ = ["ENDPOINTS", "build_app", "openapi_document"]

log = logging.getLogger(__name__)


def _json(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status_code=status, media_type="application/json")


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    response = _json(body, status)
    if status in (429, 503):  # come back later: when (RFC 9110 wants whole seconds)
        wait = details.get("retry_after", 1) if isinstance(details, dict) else 1
        response.headers["retry-after"] = str(max(1, math.ceil(wait)))
    return response


@dataclass(frozen=True)
class Query:
    """A query parameter, as the OpenAPI document describes it (``schema`` adds to ``{"type": type}``)."""

    name: str
    type: str
    description: str
    required: bool = False
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    name: str
    summary: str
    handler: Callable[[Engine, Request, Any], Awaitable[Response]]
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    query: tuple[Query, ...] = ()
    tag: str = "workflows"
    #: Other answers it gives besides ``status`` and the errors every operation may give: a status and
    #: what it means (e.g. 409 for a start whose workflow id is running).
    also: tuple[tuple[int, str], ...] = ()


#: Errors any operation may answer with (``_BODY_ERRORS`` too, for those that take a body).
_ERRORS = (
    (400, "Invalid request; the message says what to fix"),
    (403, "Refused: a foreign origin or host, or a task token that belongs to another worker"),
    (404, "Not found (the namespace, the workflow, the task or the session)"),
    (431, "The request line and headers are over 64 KiB"),
    (503, "The store cannot write right now (e.g. its disk is full); retry after the Retry-After header"),
)
_BODY_ERRORS = (
    (413, "The body or a payload in it is over the server's limit"),
    (415, "The body is not sent as application/json"),
)
_NO_TASK = ((204, "No task arrived before the wait ended; poll again"),)


def _q(request: Request, name: str, default: str | None = None) -> str | None:
    value = request.query_params.get(name, default)
    if value is not None and len(value) > MAX_ID_LENGTH:
        raise InvalidArgumentError(
            f"query parameter {name!r} is {len(value):,} characters long; the limit is {MAX_ID_LENGTH}",
            status=400,
            code="invalid_argument",
        )
    return value


def _q_float(request: Request, name: str, default: float, high: float = MAX_SECONDS) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= high:  # also refuses nan
        raise InvalidArgumentError(
            f"query parameter {name!r} must be a number from 0 to {high:g}, got {raw!r}",
            status=400,
            code="invalid_argument",
        )
    return value


def _q_int(request: Request, name: str, default: int, low: int = 1, high: int = MAX_EVENT_ID) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgumentError(
            f"query parameter {name!r} must be an integer, got {raw!r}", status=400, code="invalid_argument"
        ) from None
    if not low <= value <= high:
        raise InvalidArgumentError(
            f"query parameter {name!r} must be from {low} to {high}, got {value}", status=400, code="invalid_argument"
        )
    return value


def _limit(request: Request) -> int:
    return _q_int(request, "limit", 100, high=1000)


def _workflow_id(request: Request) -> str:
    value = request.query_params.get("workflow_id")
    if not value:
        raise InvalidArgumentError("query parameter 'workflow_id' is required", status=400, code="invalid_argument")
    problem = check_id("workflow id", value)
    if problem:
        raise InvalidArgumentError(f"query parameter 'workflow_id': {problem}", status=400, code="invalid_argument")
    return value


def _ns(request: Request) -> str:
    ns: str = request.path_params["namespace"]
    problem = check_namespace(ns)
    if problem:
        raise InvalidArgumentError(problem, status=400, code="invalid_argument")
    return ns


# --- handlers -------------------------------------------------------------------------------------------


async def _health(engine: Engine, request: Request, body: Any) -> Response:
    admission = engine.admission
    return _json(
        {
            "status": "ok",
            "version": __version__,
            "store": engine.store.description,
            "load": {"starts_in_flight": admission.in_flight, "starts_refused": admission.refused},
        }
    )


async def _list_namespaces(engine: Engine, request: Request, body: Any) -> Response:
    return _json(
        {
            "namespaces": [
                {"name": n.name, "description": n.description, "created_at": iso(n.created_at)}
                for n in await engine.store.list_namespaces()
            ]
        }
    )


async def _create_namespace(engine: Engine, request: Request, body: m.CreateNamespaceRequest) -> Response:
    problem = check_namespace(body.name)
    if problem:
        raise InvalidArgumentError(problem, status=400, code="invalid_argument")
    created = await engine.create_namespace(body.name, body.description)
    ns = await engine.store.get_namespace(body.name)
    assert ns is not None
    return _json(
        {"name": ns.name, "description": ns.description, "created_at": iso(ns.created_at)},
        201 if created else 200,
    )


async def _start(engine: Engine, request: Request, body: m.StartWorkflowRequest) -> Response:
    ns = _ns(request)
    run_id, created = await engine.start_workflow(ns, body)
    return _json({"workflow_id": body.workflow_id, "run_id": run_id, "namespace": ns}, 201 if created else 200)


async def _list(engine: Engine, request: Request, body: Any) -> Response:
    ns = _ns(request)
    status = _q(request, "status")
    if status:
        try:
            status_enum: WorkflowStatus | None = WorkflowStatus(status.upper())
        except ValueError:
            raise InvalidArgumentError(
                f"unknown status {status!r}; use one of {', '.join(s.value for s in WorkflowStatus)}",
                status=400,
                code="invalid_argument",
            ) from None
    else:
        status_enum = None
    try:
        query = ListQuery(
            status=status_enum,
            workflow_type=_q(request, "workflow_type"),
            workflow_id_prefix=_q(request, "workflow_id_prefix"),
            started_after=_q_float(request, "started_after", 0.0, MAX_UNIX_TIME) or None,
            started_before=_q_float(request, "started_before", 0.0, MAX_UNIX_TIME) or None,
            limit=_limit(request),
            page_token=_q(request, "page_token"),
        )
        return _json(await engine.list_workflows(ns, query))
    except StorageError as e:
        raise InvalidArgumentError(str(e), status=400, code="invalid_argument") from None


async def _describe(engine: Engine, request: Request, body: Any) -> Response:
    return _json(await engine.describe(_ns(request), _workflow_id(request), _q(request, "run_id")))


async def _history(engine: Engine, request: Request, body: Any) -> Response:
    first = _q_int(request, "first_event_id", 0, low=0) or _q_int(request, "page_token", 1)
    return _json(
        await engine.history(
            _ns(request),
            _workflow_id(request),
            _q(request, "run_id"),
            first,
            _q_int(request, "limit", 1000, high=10_000),
        )
    )


async def _result(engine: Engine, request: Request, body: Any) -> Response:
    return _json(
        await engine.wait_result(
            _ns(request),
            _workflow_id(request),
            _q(request, "run_id"),
            _q_float(request, "wait", 0.0),
        )
    )


def _identity(request: Request, given: str) -> str:
    """Who asks: as the caller says, else its address."""
    if given:
        return given
    return f"api@{request.client.host}" if request.client is not None else "api"


async def _cancel(engine: Engine, request: Request, body: m.CancelWorkflowRequest) -> Response:
    ns = _ns(request)
    return _json(await engine.request_cancel(ns, body, _identity(request, body.identity)))


async def _terminate(engine: Engine, request: Request, body: m.TerminateWorkflowRequest) -> Response:
    ns = _ns(request)
    return _json(await engine.terminate(ns, body, _identity(request, body.identity)))


async def _stack(engine: Engine, request: Request, body: Any) -> Response:
    return _json(await engine.workflow_stack(_ns(request), _workflow_id(request), _q(request, "run_id")))


async def _task_queues(engine: Engine, request: Request, body: Any) -> Response:
    return _json(engine.task_queues(_ns(request), _q(request, "name") or None))


async def _register(engine: Engine, request: Request, body: m.RegisterWorkerRequest) -> Response:
    s = await engine.register_worker(_ns(request), body)
    return _json(
        {
            "session_id": s.id,
            "heartbeat_interval": engine.config.worker_heartbeat_interval.total_seconds(),
            "session_timeout": engine.config.worker_session_timeout.total_seconds(),
            "max_payload_bytes": engine.max_payload,
        },
        201,
    )


async def _heartbeat_session(engine: Engine, request: Request, body: Any) -> Response:
    engine.session(_ns(request), request.path_params["session_id"])
    return _json({"ok": True})


async def _end_session(engine: Engine, request: Request, body: Any) -> Response:
    await engine.end_session(_ns(request), request.path_params["session_id"])
    return _json({"ok": True})


async def _until_disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _poll_while_connected(request: Request, poll: Awaitable[dict[str, Any] | None]) -> Response:
    """Run a long-poll, and abandon it if the worker goes away, so no task is handed to a dead poll."""
    poll_task = asyncio.ensure_future(poll)
    watch = asyncio.ensure_future(_until_disconnected(request))
    try:
        await asyncio.wait({poll_task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if not poll_task.done():
        poll_task.cancel()
        try:
            await poll_task
        except asyncio.CancelledError:
            pass
        return Response(status_code=204)
    task = poll_task.result()
    return _json(task) if task is not None else Response(status_code=204)


async def _poll_wt(engine: Engine, request: Request, body: m.PollRequest) -> Response:
    s = engine.session(_ns(request), body.session_id)
    return await _poll_while_connected(
        request, engine.poll_workflow_task(s, body.timeout if body.timeout is not None else 30.0)
    )


async def _complete_wt(engine: Engine, request: Request, body: m.CompleteWorkflowTaskRequest) -> Response:
    return _json(await engine.complete_workflow_task(_ns(request), body))


async def _fail_wt(engine: Engine, request: Request, body: m.FailWorkflowTaskRequest) -> Response:
    await engine.fail_workflow_task(_ns(request), body)
    return _json({"accepted": True})


async def _poll_act(engine: Engine, request: Request, body: m.PollRequest) -> Response:
    s = engine.session(_ns(request), body.session_id)
    return await _poll_while_connected(
        request, engine.poll_activity_task(s, body.timeout if body.timeout is not None else 30.0)
    )


async def _complete_act(engine: Engine, request: Request, body: m.CompleteActivityTaskRequest) -> Response:
    return _json(await engine.complete_activity_task(_ns(request), body))


async def _fail_act(engine: Engine, request: Request, body: m.FailActivityTaskRequest) -> Response:
    await engine.fail_activity_task(_ns(request), body)
    return _json({"accepted": True})


async def _heartbeat_act(engine: Engine, request: Request, body: m.HeartbeatActivityTaskRequest) -> Response:
    return _json(await engine.heartbeat_activity_task(_ns(request), body))


_NS = "/api/v1/namespaces/{namespace}"
_ID = {"minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN}
_PATH_PARAMETERS = {
    "namespace": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NAMESPACE_PATTERN},
    "session_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
}
_TEXT = {"maxLength": MAX_ID_LENGTH}
_WID = Query("workflow_id", "string", "The workflow id.", required=True, schema=_ID)
_RID = Query("run_id", "string", "A run id; the newest run of the workflow id when omitted.", schema=_TEXT)
_PAGE = Query("page_token", "string", "next_page_token of the previous page.", schema=_TEXT)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/v1/health", "health", "Server health and version", _health, tag="server"),
    Endpoint("GET", "/api/v1/namespaces", "list_namespaces", "List namespaces", _list_namespaces, tag="namespaces"),
    Endpoint(
        "POST",
        "/api/v1/namespaces",
        "create_namespace",
        "Create a namespace",
        _create_namespace,
        body=m.CreateNamespaceRequest,
        response=m.Namespace,
        status=201,
        tag="namespaces",
        also=((200, "The namespace already existed (it is unchanged)"),),
    ),
    Endpoint(
        "POST",
        _NS + "/workflows",
        "start_workflow",
        "Start a workflow",
        _start,
        body=m.StartWorkflowRequest,
        response=m.StartWorkflowResponse,
        status=201,
        also=(
            (200, "A start with this request_id was made before: its run, not a new one"),
            (409, "A workflow with this id is already running"),
            (429, "The server is overloaded: retry after the Retry-After header, with the same request_id"),
        ),
    ),
    Endpoint(
        "GET",
        _NS + "/workflows",
        "list_workflows",
        "List workflow runs, newest first",
        _list,
        response=m.ListWorkflowsResponse,
        query=(
            Query(
                "status",
                "string",
                "Only runs with this status (RUNNING, COMPLETED, FAILED, ...).",
                schema={"enum": [s.value for s in WorkflowStatus]},
            ),
            Query("workflow_type", "string", "Only runs of this workflow type.", schema=_TEXT),
            Query("workflow_id_prefix", "string", "Only runs whose workflow id starts with this.", schema=_TEXT),
            Query(
                "started_after",
                "number",
                "Only runs started at or after this Unix time.",
                schema={"minimum": 0, "maximum": MAX_UNIX_TIME},
            ),
            Query(
                "started_before",
                "number",
                "Only runs started before this Unix time.",
                schema={"minimum": 0, "maximum": MAX_UNIX_TIME},
            ),
            Query("limit", "integer", "Page size (1..1000, default 100).", schema={"minimum": 1, "maximum": 1000}),
            _PAGE,
        ),
    ),
    Endpoint(
        "GET",
        _NS + "/workflows/describe",
        "describe_workflow",
        "Describe a run: status, timing, input, result, pending work",
        _describe,
        response=m.DescribeWorkflowResponse,
        query=(_WID, _RID),
    ),
    Endpoint(
        "GET",
        _NS + "/workflows/history",
        "get_history",
        "A run's event history",
        _history,
        response=m.HistoryResponse,
        query=(
            _WID,
            _RID,
            Query(
                "first_event_id",
                "integer",
                "Start at this event id (default 1).",
                schema={"minimum": 0, "maximum": MAX_EVENT_ID},
            ),
            Query(
                "limit",
                "integer",
                "At most this many events (default and most 1000; a page also stops at about 4 MB of events: "
                "follow next_page_token).",
                schema={"minimum": 1, "maximum": 10_000},
            ),
            _PAGE,
        ),
    ),
    Endpoint(
        "GET",
        _NS + "/workflows/result",
        "get_result",
        "A run's outcome; waits up to `wait` seconds for it to close (long-poll)",
        _result,
        response=m.WorkflowResultResponse,
        query=(
            _WID,
            _RID,
            Query(
                "wait",
                "number",
                "Seconds to wait for the run to close (the server waits at most --max-poll-wait, 30 s by default).",
                schema={"minimum": 0, "maximum": MAX_SECONDS},
            ),
        ),
    ),
    Endpoint(
        "POST",
        _NS + "/workflows/cancel",
        "cancel_workflow",
        "Ask a running workflow to cancel: its code gets asyncio.CancelledError where it waits and may clean "
        "up; its pending activities and timers are cancelled (400 if the run is not running)",
        _cancel,
        body=m.CancelWorkflowRequest,
        response=m.CancelWorkflowResponse,
    ),
    Endpoint(
        "POST",
        _NS + "/workflows/terminate",
        "terminate_workflow",
        "End a running workflow at once, running none of its code; its pending work is dropped "
        "(400 if the run is not running)",
        _terminate,
        body=m.TerminateWorkflowRequest,
        response=m.TerminateWorkflowResponse,
    ),
    Endpoint(
        "GET",
        _NS + "/workflows/stack",
        "get_workflow_stack",
        "Where each coroutine of a running workflow waits, asked live of the worker that holds it in memory "
        "(empty, with a message saying why, when no worker can answer)",
        _stack,
        response=m.WorkflowStackResponse,
        query=(_WID, _RID),
    ),
    Endpoint(
        "GET",
        _NS + "/task-queues",
        "list_task_queues",
        "Task queues with their live workers (when each was last seen) and backlogs",
        _task_queues,
        response=m.TaskQueuesResponse,
        query=(Query("name", "string", "Only the task queue of this name.", schema=_TEXT),),
        tag="workers",
    ),
    Endpoint(
        "POST",
        _NS + "/workers",
        "register_worker",
        "Open a worker session",
        _register,
        body=m.RegisterWorkerRequest,
        response=m.RegisterWorkerResponse,
        status=201,
        tag="workers",
    ),
    Endpoint(
        "POST",
        _NS + "/workers/{session_id}/heartbeat",
        "heartbeat_worker",
        "Keep a worker session alive",
        _heartbeat_session,
        tag="workers",
    ),
    Endpoint(
        "DELETE",
        _NS + "/workers/{session_id}",
        "end_worker_session",
        "End a worker session; its tasks go to other workers at once",
        _end_session,
        tag="workers",
    ),
    Endpoint(
        "POST",
        _NS + "/workflow-tasks/poll",
        "poll_workflow_task",
        "Wait for a workflow task (204 when none arrived in time)",
        _poll_wt,
        body=m.PollRequest,
        response=m.WorkflowTask,
        tag="workers",
        also=_NO_TASK,
    ),
    Endpoint(
        "POST",
        _NS + "/workflow-tasks/complete",
        "complete_workflow_task",
        "Complete a workflow task with commands",
        _complete_wt,
        body=m.CompleteWorkflowTaskRequest,
        response=m.CompleteWorkflowTaskResponse,
        tag="workers",
    ),
    Endpoint(
        "POST",
        _NS + "/workflow-tasks/fail",
        "fail_workflow_task",
        "Fail a workflow task (it is retried)",
        _fail_wt,
        body=m.FailWorkflowTaskRequest,
        tag="workers",
    ),
    Endpoint(
        "POST",
        _NS + "/activity-tasks/poll",
        "poll_activity_task",
        "Wait for an activity task (204 when none arrived in time)",
        _poll_act,
        body=m.PollRequest,
        response=m.ActivityTask,
        tag="workers",
        also=_NO_TASK,
    ),
    Endpoint(
        "POST",
        _NS + "/activity-tasks/complete",
        "complete_activity_task",
        "Complete an activity attempt (optionally with the workflow task the worker ran on its result)",
        _complete_act,
        body=m.CompleteActivityTaskRequest,
        response=m.CompleteActivityTaskResponse,
        tag="workers",
    ),
    Endpoint(
        "POST",
        _NS + "/activity-tasks/fail",
        "fail_activity_task",
        "Fail an activity attempt (retried per its policy)",
        _fail_act,
        body=m.FailActivityTaskRequest,
        tag="workers",
    ),
    Endpoint(
        "POST",
        _NS + "/activity-tasks/heartbeat",
        "heartbeat_activity_task",
        "Record an activity heartbeat with details",
        _heartbeat_act,
        body=m.HeartbeatActivityTaskRequest,
        response=m.HeartbeatActivityTaskResponse,
        tag="workers",
    ),
)


async def _read_body(request: Request, limit: int, max_payload: int) -> bytes:
    """The request's body, refused with 413 as soon as its declared or streamed length passes
    ``limit``: a huge body is never held in memory whole (four 100 MB bodies once took the server to
    half a gigabyte before it said no)."""
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
        status=413,
        code="payload_too_large",
    )


def _make_route(engine: Engine, ep: Endpoint) -> Route:
    body_model = ep.body
    limit = body_limit(engine.max_payload)

    async def endpoint(request: Request) -> Response:
        try:
            body: Any = None
            if body_model is not None:
                body = parse_body(body_model, await _read_body(request, limit, engine.max_payload))
            return await ep.handler(engine, request, body)
        except RPCError as e:
            return error_response(e.status or 400, e.code, e.message, e.details)
        except StorageError as e:
            engine.repeats.error("http", "storage error in %s: %s", ep.name, e)  # once while it repeats
            return error_response(503, "storage_unavailable", str(e))
        except ClientDisconnect:
            # The caller went away while sending its body (nothing was done): no one to answer, and not
            # the server's error (each one logged a traceback; a thousand at once stalled the server).
            return Response(status_code=400)

    return Route(ep.path, endpoint, methods=[ep.method], name=ep.name)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every endpoint, generated from the route table."""
    from pydantic.json_schema import models_json_schema

    models: list[type[BaseModel]] = []
    for ep in ENDPOINTS:
        for model in (ep.body, ep.response):
            if model is not None and model not in models:
                models.append(model)
    models.append(m.ErrorBody)
    refs, schema = models_json_schema(
        [(mod, "validation") for mod in models], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        op: dict[str, Any] = {"operationId": ep.name, "summary": ep.summary, "tags": [ep.tag]}
        params = [
            {"name": p, "in": "path", "required": True, "schema": schema}
            for p, schema in _PATH_PARAMETERS.items()
            if "{" + p + "}" in ep.path
        ]
        params += [
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": {"type": q.type, **q.schema},
            }
            for q in ep.query
        ]
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(ep.body, "validation")]}},
            }
        ok: dict[str, Any] = {"description": "Success"}
        if ep.response is not None:
            ok["content"] = {"application/json": {"schema": refs[(ep.response, "validation")]}}
        error = {"content": {"application/json": {"schema": refs[(m.ErrorBody, "validation")]}}}
        responses: dict[str, Any] = {str(ep.status): ok}
        for status, description in sorted((*_ERRORS, *(_BODY_ERRORS if ep.body else ()), *ep.also)):
            if status == 204:
                responses["204"] = {"description": description}
            elif status < 300:  # the same body as ``status``'s
                responses[str(status)] = {**ok, "description": description}
            else:
                responses[str(status)] = {"description": description, **error}
        op["responses"] = dict(sorted(responses.items()))
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
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
        f"<tr><td><code>{ep.method}</code></td><td><code>{html.escape(ep.path)}</code></td>"
        f"<td>{html.escape(ep.summary)}</td></tr>"
        for ep in ENDPOINTS
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
    routes: list[BaseRoute] = [_make_route(engine, ep) for ep in ENDPOINTS]
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
            404,
            "not_found",
            f"no such endpoint: {request.method} {request.url.path} (see /api/v1/openapi.json)",
        )

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")

    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal", f"internal server error: {type(exc).__name__}: {exc}")

    async def channel(websocket: WebSocket) -> None:
        await worker_channel(engine, websocket)

    async def clients(websocket: WebSocket) -> None:
        await client_channel(engine, websocket)

    routes.append(Route("/api/v1/openapi.json", openapi, methods=["GET"], name="openapi"))
    routes.append(WebSocketRoute("/api/v1/namespaces/{namespace}/workers/connect", channel, name="worker_channel"))
    routes.append(WebSocketRoute("/api/v1/namespaces/{namespace}/clients/connect", clients, name="client_channel"))
    routes.append(Route("/api/v1/docs", docs, methods=["GET"], name="docs"))
    routes.append(Route("/api/v1/docs.css", docs_css, methods=["GET"], name="docs_css"))
    if ui:
        routes += _ui_routes()
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: method_not_allowed, 500: internal})


def _ui_routes() -> list[BaseRoute]:
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

    return [
        Route("/", home, methods=["GET"]),
        Mount("/static", app=Static(directory=static), name="static"),
        Route("/namespaces/{rest:path}", page, methods=["GET"]),
    ]
