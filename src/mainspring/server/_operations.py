"""Every operation the server offers, each declared once: what it takes, what it answers, what it asks of the
engine, and on which surfaces it is offered (an HTTP route, the worker channel, the client channel).

The HTTP routes and the OpenAPI document (``_http``) and both channels' tables (``_channel``) are built from
``OPERATIONS``: adding an operation is adding one ``Operation`` here. Its ``call`` gets the engine, the
``Caller`` (what the edge knows of who asks: the namespace, the worker's session on the channel, the query
string over HTTP) and the request body, validated against ``request``; it returns the answer as plain JSON
data (answers are not validated: ``answer`` is what the OpenAPI document promises, and tests hold the server
to it), or None for "nothing arrived in time" (a 204 over HTTP).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .._version import __version__
from .._visibility._ast import MAX_QUERY_LENGTH, VisibilityQuery
from ..api import activity_completion as ac
from ..api import batch as bt
from ..api import messages as msg
from ..api import models as m
from ..api import schedules as sc
from ..api.enums import WorkflowStatus
from ..api.fields import MAX_EVENT_ID, MAX_SECONDS, MAX_UNIX_TIME
from ..api.names import ID_PATTERN, MAX_ID_LENGTH, check_id, check_namespace
from ..api.roles import ALL_NAMESPACES, Access, Principal, Role
from ..errors import InvalidArgumentError
from ..storage import ListQuery, StorageError
from ._audit import entry_view
from ._auth import check_key_name, key_view
from ._cluster import cluster_answer
from ._engine import Engine, iso
from ._type_hints import pending_task_hint, start_warning

if TYPE_CHECKING:
    from ._matching import Session

__all__ = ["BY_NAME", "OPERATIONS", "Caller", "Http", "Operation", "Query", "session_settings"]

_NO_QUERY: Mapping[str, str] = {}


class Caller:
    """Who asks, as the edge that took the call knows it. Over HTTP each request has its own; on a channel
    one serves every call of the connection (so a channel reads nothing a call sets on it)."""

    __slots__ = ("namespace", "path", "peer", "principal", "query", "session", "status")

    def __init__(
        self,
        namespace: str,
        session: Session | None = None,
        *,
        query: Mapping[str, str] = _NO_QUERY,
        path: Mapping[str, str] = _NO_QUERY,
        peer: str | None = None,
        principal: Principal | None = None,
    ) -> None:
        #: The namespace the call is about ("" for the operations on no namespace).
        self.namespace = namespace
        #: The worker's session, on the worker channel (the connection is the session).
        self.session = session
        #: HTTP only: the query string's parameters and the path's.
        self.query = query
        self.path = path
        #: The caller's address, when the edge knows it.
        self.peer = peer
        #: Who calls, when the server checks (``--auth``); None when it does not.
        self.principal = principal
        #: Set by a call whose answer's status is not its route's (a start that found its run made).
        self.status: int | None = None


Call = Callable[[Engine, Caller, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Query:
    """A query parameter, as the OpenAPI document describes it (``schema`` adds to ``{"type": type}``)."""

    name: str
    type: str
    description: str
    required: bool = False
    schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Http:
    """How an operation is offered over HTTP. A GET or DELETE reads no body: its call gets None and reads
    the query string."""

    method: str
    path: str
    #: The status of a success (a call may answer another: see Caller.status).
    status: int = 200
    query: tuple[Query, ...] = ()
    #: Other answers besides ``status`` and the errors every operation may give: a status and what it
    #: means (e.g. 409 for a start whose workflow id is running).
    also: tuple[tuple[int, str], ...] = ()
    #: The OpenAPI operationId, when it is not the operation's name.
    operation_id: str | None = None

    @property
    def takes_body(self) -> bool:
        return self.method not in ("GET", "DELETE")


@dataclass(frozen=True)
class Operation:
    """One operation of the server, on every surface that offers it."""

    #: Its name: the ``op`` of a channel message, and the OpenAPI operationId (unless Http names another).
    name: str
    #: One line for the API's documentation.
    summary: str
    call: Call
    #: The body it takes (validated before ``call`` runs) and the answer it gives (documentation only).
    request: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    http: Http | None = None
    #: Offered on the worker channel (the connection's session is the caller's) / on the client channel.
    worker: bool = False
    client: bool = False
    #: It only waits (a poll, a result wait): abandoned when its caller goes away, and not counted among the
    #: operations in flight that a stopping server lets finish.
    waits: bool = False
    #: The OpenAPI tag.
    tag: str = "workflows"
    #: What it needs of its caller when the server checks who calls (``--auth``): no default, so that an
    #: operation cannot be added without its rule (see ``api.roles``).
    access: Access = field(kw_only=True)


# --- reading the query string (HTTP) -----------------------------------------------------------------------


def _q(c: Caller, name: str, default: str | None = None) -> str | None:
    value = c.query.get(name, default)
    if value is not None and len(value) > MAX_ID_LENGTH:
        raise InvalidArgumentError(
            f"query parameter {name!r} is {len(value):,} characters long; the limit is {MAX_ID_LENGTH}",
            code="invalid_argument",
        )
    return value


def _q_float(c: Caller, name: str, default: float, high: float = MAX_SECONDS) -> float:
    raw = c.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= high:  # also refuses nan
        raise InvalidArgumentError(
            f"query parameter {name!r} must be a number from 0 to {high:g}, got {raw!r}", code="invalid_argument"
        )
    return value


def _q_int(c: Caller, name: str, default: int, low: int = 1, high: int = MAX_EVENT_ID) -> int:
    raw = c.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgumentError(
            f"query parameter {name!r} must be an integer, got {raw!r}", code="invalid_argument"
        ) from None
    if not low <= value <= high:
        raise InvalidArgumentError(
            f"query parameter {name!r} must be from {low} to {high}, got {value}", code="invalid_argument"
        )
    return value


def _workflow_id(c: Caller) -> str:
    value = c.query.get("workflow_id")
    if not value:
        raise InvalidArgumentError("query parameter 'workflow_id' is required", code="invalid_argument")
    problem = check_id("workflow id", value)
    if problem:
        raise InvalidArgumentError(f"query parameter 'workflow_id': {problem}", code="invalid_argument")
    return value


def _identity(c: Caller, given: str) -> str:
    """Who asks: as the caller says, else its address."""
    if given:
        return given
    return f"api@{c.peer}" if c.peer is not None else "api"


def _session(engine: Engine, c: Caller, session_id: str) -> Session:
    """The session a worker's call is made in: its connection's on the channel, else the one it names."""
    return c.session if c.session is not None else engine.session(c.namespace, session_id)


def _wait(b: m.PollRequest) -> float:
    return b.timeout if b.timeout is not None else 30.0


# --- the calls ---------------------------------------------------------------------------------------------


async def _health(engine: Engine, c: Caller, b: None) -> Any:
    admission = engine.admission
    if engine.auth.enabled and c.principal is None:
        # Anyone may ask whether the server is up (load balancers do); only callers it knows learn more.
        return {"status": "ok", "version": __version__}
    return {
        "status": "ok",
        "version": __version__,
        "store": engine.store.description,
        "load": {
            "starts_in_flight": admission.in_flight,
            "starts_refused": admission.refused,
            "loop_late_ms_10s": round(admission.worst_lateness(10) * 1000, 1),
        },
    }


async def _describe_cluster(engine: Engine, c: Caller, b: None) -> Any:
    return await cluster_answer(engine)


async def _list_namespaces(engine: Engine, c: Caller, b: None) -> Any:
    # A caller sees the namespaces it holds a role in, and nothing of the others (not even their names).
    visible = c.principal.namespaces() if c.principal is not None else None
    return {
        "namespaces": [
            {"name": n.name, "description": n.description, "created_at": iso(n.created_at)}
            for n in await engine.store.list_namespaces()
            if visible is None or n.name in visible
        ]
    }


async def _create_api_key(engine: Engine, c: Caller, b: m.CreateApiKeyRequest) -> Any:
    if b.namespace != ALL_NAMESPACES:
        problem = check_namespace(b.namespace)
        if problem:
            raise InvalidArgumentError(problem, code="invalid_argument")
    check_key_name(b.name)
    key, text = await engine.auth.create_key(c.principal, b.name, b.namespace, Role(b.role))
    return {**key_view(key), "api_key": text}


async def _list_api_keys(engine: Engine, c: Caller, b: None) -> Any:
    return {"keys": [key_view(k) for k in engine.auth.visible_keys(c.principal)]}


async def _list_audit(engine: Engine, c: Caller, b: None) -> Any:
    if engine.audit is None:
        raise InvalidArgumentError(
            "this server keeps no audit log: it is kept when the server checks who calls (--auth api-key or oidc)",
            code="audit_off",
        )
    namespace = _q(c, "namespace") or None
    before = _q_int(c, "before", 2**62, high=2**62)
    entries = await engine.audit.read(c.principal, namespace, before, _q_int(c, "limit", 100, high=1000))
    return {"entries": [entry_view(e) for e in entries]}


async def _revoke_api_key(engine: Engine, c: Caller, b: m.RevokeApiKeyRequest) -> Any:
    return key_view(await engine.auth.revoke_key(c.principal, b.key_id))


async def _create_namespace(engine: Engine, c: Caller, b: m.CreateNamespaceRequest) -> Any:
    problem = check_namespace(b.name)
    if problem:
        raise InvalidArgumentError(problem, code="invalid_argument")
    if not await engine.create_namespace(b.name, b.description):
        c.status = 200  # it was there: unchanged
    ns = await engine.store.get_namespace(b.name)
    assert ns is not None
    return {"name": ns.name, "description": ns.description, "created_at": iso(ns.created_at)}


async def _start_workflow(engine: Engine, c: Caller, b: m.StartWorkflowRequest) -> Any:
    run_id, created = await engine.start_workflow(c.namespace, b)
    if not created:
        c.status = 200  # the start of this request_id, made before
    answer = {"workflow_id": b.workflow_id, "run_id": run_id, "namespace": c.namespace}
    warning = start_warning(engine.matching, c.namespace, b.task_queue, b.workflow_type)
    if warning is not None:
        answer["warning"] = warning
    return answer


def _list_workflow_id(c: Caller) -> str | None:
    """The optional ``workflow_id`` filter of a listing (every run of one id: a continue-as-new chain)."""
    if "workflow_id" not in c.query:
        return None
    if not c.query["workflow_id"]:
        raise InvalidArgumentError(
            "query parameter 'workflow_id' is empty; give a workflow id, or leave it out to list every workflow",
            code="invalid_argument",
        )
    return _workflow_id(c)


async def _list_workflows(engine: Engine, c: Caller, b: None) -> Any:
    status = _q(c, "status")
    if status:
        try:
            status_enum: WorkflowStatus | None = WorkflowStatus(status.upper())
        except ValueError:
            raise InvalidArgumentError(
                f"unknown status {status!r}; use one of {', '.join(s.value for s in WorkflowStatus)}",
                code="invalid_argument",
            ) from None
    else:
        status_enum = None
    try:
        query = ListQuery(
            status=status_enum,
            workflow_type=_q(c, "workflow_type"),
            workflow_id_prefix=_q(c, "workflow_id_prefix"),
            started_after=_q_float(c, "started_after", 0.0, MAX_UNIX_TIME) or None,
            started_before=_q_float(c, "started_before", 0.0, MAX_UNIX_TIME) or None,
            limit=_q_int(c, "limit", 100, high=1000),
            page_token=_q(c, "page_token"),
            workflow_id=_list_workflow_id(c),
            filter=await _list_filter(engine, c),
        )
        return await engine.list_workflows(c.namespace, query)
    except StorageError as e:  # a page token the store cannot read
        raise InvalidArgumentError(str(e), code="invalid_argument") from None


async def _list_filter(engine: Engine, c: Caller) -> VisibilityQuery | None:
    """The optional ``query`` of a listing or a count, parsed (InvalidQueryError, a 400 naming where, if not),
    with the namespace's custom search attributes besides the built-in ones."""
    text = c.query.get("query")
    if text is None or not text.strip():
        return None
    from .._visibility._parser import parse_query  # the parser (lark) loads at the first query, not at start
    from ..errors import InvalidQueryError

    registry = engine.search_attributes
    try:
        return parse_query(text, registry.query_attributes(c.namespace))
    except InvalidQueryError as e:
        if "unknown attribute" not in str(e):
            raise
    await registry.reload(c.namespace)  # registered by another server since?
    return parse_query(text, registry.query_attributes(c.namespace))


async def _count_workflows(engine: Engine, c: Caller, b: None) -> Any:
    group_by = c.query.get("group_by") or None
    if group_by is not None and group_by != "ExecutionStatus":
        raise InvalidArgumentError(
            f"cannot group by {group_by!r}; group_by takes ExecutionStatus (or leave it out for one count)",
            code="invalid_argument",
        )
    return await engine.count_workflows(
        c.namespace, await _list_filter(engine, c), group_by_status=group_by is not None
    )


async def _describe(engine: Engine, c: Caller, b: None) -> Any:
    out = await engine.describe(c.namespace, _workflow_id(c), _q(c, "run_id"))
    wt = out.get("pending_workflow_task")
    if wt is not None:  # in any state: a worker that does not run the type takes the task only to fail it
        e = out["execution"]
        wt["hint"] = wt.get("hint") or pending_task_hint(
            engine.matching, c.namespace, e["task_queue"], e["workflow_type"]
        )
    return out


async def _history(engine: Engine, c: Caller, b: None) -> Any:
    first = _q_int(c, "first_event_id", 0, low=0) or _q_int(c, "page_token", 1)
    return await engine.history(
        c.namespace, _workflow_id(c), _q(c, "run_id"), first, _q_int(c, "limit", 1000, high=10_000)
    )


def _wait_result(engine: Engine, c: Caller, b: m.WaitResultRequest | None) -> Awaitable[Any]:
    if b is None:  # GET /workflows/result: the same request, in the query string
        return engine.wait_result(c.namespace, _workflow_id(c), _q(c, "run_id"), _q_float(c, "wait", 0.0))
    return engine.wait_result(c.namespace, b.workflow_id, b.run_id, b.wait)


async def _cancel(engine: Engine, c: Caller, b: m.CancelWorkflowRequest) -> Any:
    return await engine.cancellation.request_cancel(c.namespace, b, _identity(c, b.identity))


async def _signal(engine: Engine, c: Caller, b: msg.SignalWorkflowRequest) -> Any:
    return await engine.signals.signal(c.namespace, b, _identity(c, b.identity))


async def _signal_with_start(engine: Engine, c: Caller, b: msg.SignalWithStartWorkflowRequest) -> Any:
    answer = await engine.signal_with_start.signal_with_start(c.namespace, b, _identity(c, b.identity))
    if answer["started"] and not answer["duplicate"]:
        warning = start_warning(engine.matching, c.namespace, b.task_queue, b.workflow_type)
        if warning is not None:  # no worker runs its type: that matters more than a handler name
            answer["warning"] = warning
    return answer


async def _query(engine: Engine, c: Caller, b: msg.QueryWorkflowRequest) -> Any:
    return await engine.queries.query(c.namespace, b)


async def _update(engine: Engine, c: Caller, b: msg.UpdateWorkflowRequest) -> Any:
    return await engine.updates.update(c.namespace, b, _identity(c, b.identity))


async def _poll_update(engine: Engine, c: Caller, b: msg.PollWorkflowUpdateRequest) -> Any:
    return await engine.updates.poll(c.namespace, b)


async def _terminate(engine: Engine, c: Caller, b: m.TerminateWorkflowRequest) -> Any:
    return await engine.cancellation.terminate(c.namespace, b, _identity(c, b.identity))


async def _delete(engine: Engine, c: Caller, b: m.DeleteWorkflowRequest) -> Any:
    return await engine.deletion.delete(c.namespace, b, _identity(c, b.identity))


async def _reset(engine: Engine, c: Caller, b: m.ResetWorkflowRequest) -> Any:
    return await engine.reset.reset(c.namespace, b, _identity(c, b.identity))


async def _stack(engine: Engine, c: Caller, b: None) -> Any:
    return await engine.workflow_stack(c.namespace, _workflow_id(c), _q(c, "run_id"))


async def _task_queues(engine: Engine, c: Caller, b: None) -> Any:
    return engine.task_queues(c.namespace, _q(c, "name") or None)


def session_settings(engine: Engine, s: Session) -> dict[str, Any]:
    """What a worker learns when it registers (m.RegisterWorkerResponse)."""
    return {
        "session_id": s.id,
        "heartbeat_interval": engine.config.worker_heartbeat_interval.total_seconds(),
        "session_timeout": engine.config.worker_session_timeout.total_seconds(),
        "max_payload_bytes": engine.max_payload,
    }


async def _register(engine: Engine, c: Caller, b: m.RegisterWorkerRequest) -> Any:
    c.session = await engine.register_worker(c.namespace, b)
    return session_settings(engine, c.session)


async def _heartbeat_session(engine: Engine, c: Caller, b: None) -> Any:
    engine.session(c.namespace, c.path["session_id"])
    return {"ok": True}


async def _end_session(engine: Engine, c: Caller, b: None) -> Any:
    await engine.end_session(c.namespace, c.path["session_id"])
    return {"ok": True}


def _poll_workflow_task(engine: Engine, c: Caller, b: m.PollRequest) -> Awaitable[Any]:
    return engine.workflow_tasks.poll(_session(engine, c, b.session_id), _wait(b))


def _poll_activity_task(engine: Engine, c: Caller, b: m.PollRequest) -> Awaitable[Any]:
    return engine.activity_tasks.poll(_session(engine, c, b.session_id), _wait(b))


async def _poll_workflow_tasks(engine: Engine, c: Caller, b: m.PollRequest) -> Any:
    return {"tasks": await engine.workflow_tasks.poll_many(_session(engine, c, b.session_id), _wait(b), b.max_tasks)}


async def _poll_activity_tasks(engine: Engine, c: Caller, b: m.PollRequest) -> Any:
    return {"tasks": await engine.activity_tasks.poll_many(_session(engine, c, b.session_id), _wait(b), b.max_tasks)}


# Task outcomes carry the caller's session on the channel: a task token is only good there.


def _complete_workflow_task(engine: Engine, c: Caller, b: m.CompleteWorkflowTaskRequest) -> Awaitable[Any]:
    return engine.workflow_tasks.complete(c.namespace, b, c.session)


async def _fail_workflow_task(engine: Engine, c: Caller, b: m.FailWorkflowTaskRequest) -> Any:
    await engine.workflow_tasks.fail(c.namespace, b, c.session)
    return {"accepted": True}


def _complete_activity_task(engine: Engine, c: Caller, b: m.CompleteActivityTaskRequest) -> Awaitable[Any]:
    return engine.activity_tasks.complete(c.namespace, b, c.session)


async def _fail_activity_task(engine: Engine, c: Caller, b: m.FailActivityTaskRequest) -> Any:
    await engine.activity_tasks.fail(c.namespace, b, c.session)
    return {"accepted": True}


def _heartbeat_activity_task(engine: Engine, c: Caller, b: m.HeartbeatActivityTaskRequest) -> Awaitable[Any]:
    return engine.activity_tasks.heartbeat(c.namespace, b, c.session)


def _workflow_task_history(engine: Engine, c: Caller, b: m.WorkflowTaskHistoryRequest) -> Awaitable[Any]:
    return engine.workflow_tasks.history(c.namespace, b)


# --- the table ---------------------------------------------------------------------------------------------

_NS = "/api/v1/namespaces/{namespace}"
_ID = {"minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN}
_TEXT = {"maxLength": MAX_ID_LENGTH}
_WID = Query("workflow_id", "string", "The workflow id.", required=True, schema=_ID)
_RID = Query("run_id", "string", "A run id; the newest run of the workflow id when omitted.", schema=_TEXT)
_PAGE = Query("page_token", "string", "next_page_token of the previous page.", schema=_TEXT)
_QUERY = Query(
    "query",
    "string",
    "A list filter in Temporal's language, e.g. WorkflowType = 'order' AND ExecutionStatus = 'Running' "
    "ORDER BY StartTime DESC (a 400 with code invalid_query and details.position if it is refused).",
    schema={"maxLength": MAX_QUERY_LENGTH},
)
_NO_TASK = ((204, "No task arrived before the wait ended; poll again"),)

# --- async activity completion (``features.async_completion``) -------------------------------------------


async def _release_activity_task(engine: Engine, c: Caller, b: ac.ReleaseActivityTaskRequest) -> Any:
    await engine.activity_tasks.release(c.namespace, b, c.session)
    return {"accepted": True}


def _complete_activity(engine: Engine, c: Caller, b: ac.CompleteActivityRequest) -> Awaitable[Any]:
    return engine.async_completion.complete(c.namespace, b)


def _fail_activity(engine: Engine, c: Caller, b: ac.FailActivityRequest) -> Awaitable[Any]:
    return engine.async_completion.fail(c.namespace, b)


def _heartbeat_activity(engine: Engine, c: Caller, b: ac.HeartbeatActivityRequest) -> Awaitable[Any]:
    return engine.async_completion.heartbeat(c.namespace, b)


def _report_activity_cancellation(engine: Engine, c: Caller, b: ac.ReportActivityCancellationRequest) -> Awaitable[Any]:
    return engine.async_completion.report_cancellation(c.namespace, b)


# --- schedules (``features.schedules``) ---------------------------------------------------------------------


def _schedule_id(c: Caller) -> str:
    value = c.query.get("schedule_id")
    if not value:
        raise InvalidArgumentError("query parameter 'schedule_id' is required", code="invalid_argument")
    problem = check_id("schedule id", value)
    if problem:
        raise InvalidArgumentError(f"query parameter 'schedule_id': {problem}", code="invalid_argument")
    return value


async def _create_schedule(engine: Engine, c: Caller, b: sc.CreateScheduleRequest) -> Any:
    return await engine.schedules.create(c.namespace, b)


async def _describe_schedule(engine: Engine, c: Caller, b: None) -> Any:
    return await engine.schedules.describe(c.namespace, _schedule_id(c))


async def _list_schedules(engine: Engine, c: Caller, b: None) -> Any:
    return await engine.schedules.list_all(
        c.namespace, page_size=_q_int(c, "page_size", 1000, high=1000), page_token=_q(c, "page_token")
    )


async def _update_schedule(engine: Engine, c: Caller, b: sc.UpdateScheduleRequest) -> Any:
    return await engine.schedules.update(c.namespace, b)


async def _patch_schedule(engine: Engine, c: Caller, b: sc.PatchScheduleRequest) -> Any:
    return await engine.schedules.patch(c.namespace, b)


async def _delete_schedule(engine: Engine, c: Caller, b: sc.DeleteScheduleRequest) -> Any:
    return await engine.schedules.delete(c.namespace, b.schedule_id)


# --- search attributes (``features.search_attributes``) -------------------------------------------------------


async def _create_search_attribute(engine: Engine, c: Caller, b: m.CreateSearchAttributeRequest) -> Any:
    return await engine.search_attributes.create(c.namespace, b.name, b.type.value)


async def _list_search_attributes(engine: Engine, c: Caller, b: None) -> Any:
    return await engine.search_attributes.list_all(c.namespace)


async def _remove_search_attribute(engine: Engine, c: Caller, b: m.RemoveSearchAttributeRequest) -> Any:
    return await engine.search_attributes.remove(c.namespace, b.name)


_SEARCH_ATTRIBUTE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "create_search_attribute",
        "Register a custom search attribute in the namespace: a name (letters, digits and _) and a type (Keyword, "
        "Text, Int, Double, Bool, Datetime, KeywordList). 400 invalid_search_attribute for a bad or built-in name; "
        "409 search_attribute_exists if it is registered (a type is never changed)",
        _create_search_attribute,
        request=m.CreateSearchAttributeRequest,
        answer=m.SearchAttributeInfo,
        http=Http("POST", _NS + "/search-attributes", status=201, also=((409, "It is registered already"),)),
        tag="search attributes",
        access=Access.ADMIN,
    ),
    Operation(
        "list_search_attributes",
        "The namespace's search attributes: the built-in ones (read-only), then the custom ones, by name",
        _list_search_attributes,
        answer=m.ListSearchAttributesResponse,
        http=Http("GET", _NS + "/search-attributes"),
        tag="search attributes",
        access=Access.READ,
    ),
    Operation(
        "remove_search_attribute",
        "Unregister a custom search attribute (runs keep the values they hold; filters no longer name it). "
        "404 search_attribute_not_found if it is not registered",
        _remove_search_attribute,
        request=m.RemoveSearchAttributeRequest,
        answer=m.OkResponse,
        http=Http("POST", _NS + "/search-attributes/remove"),
        tag="search attributes",
        access=Access.ADMIN,
    ),
)


_SCHEDULE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "create_schedule",
        "Create a schedule: a workflow started at each due time of its spec (intervals, cron expressions, "
        "calendars, in a time zone), each run's workflow id the action's id and the due time. 400 "
        "invalid_schedule naming what is wrong for a spec that is refused or never fires; 409 "
        "schedule_already_running if the id exists",
        _create_schedule,
        request=sc.CreateScheduleRequest,
        answer=sc.ScheduleDescriptionModel,
        http=Http("POST", _NS + "/schedules", status=201, also=((409, "A schedule of this id exists"),)),
        tag="schedules",
        access=Access.WRITE,
    ),
    Operation(
        "list_schedules",
        "The namespace's schedules, by id, each described, a page at a time (follow next_page_token)",
        _list_schedules,
        answer=sc.ListSchedulesResponse,
        http=Http(
            "GET",
            _NS + "/schedules",
            query=(
                Query(
                    "page_size", "integer", "Page size (1..1000, default 1000).", schema={"minimum": 1, "maximum": 1000}
                ),
                _PAGE,
            ),
        ),
        tag="schedules",
        access=Access.READ,
    ),
    Operation(
        "describe_schedule",
        "A schedule: its spec, action, policy and state, and what it did (counts, running and recent actions, "
        "next action times)",
        _describe_schedule,
        answer=sc.ScheduleDescriptionModel,
        http=Http(
            "GET",
            _NS + "/schedules/describe",
            query=(Query("schedule_id", "string", "The schedule id.", required=True, schema=_ID),),
        ),
        tag="schedules",
        access=Access.READ,
    ),
    Operation(
        "update_schedule",
        "Replace a schedule's spec, action, policy and state (what it did is kept); with conflict_token, only "
        "if it has not changed since it was described (409 schedule_conflict)",
        _update_schedule,
        request=sc.UpdateScheduleRequest,
        answer=sc.ScheduleDescriptionModel,
        http=Http("POST", _NS + "/schedules/update", also=((409, "The schedule changed since conflict_token"),)),
        tag="schedules",
        access=Access.WRITE,
    ),
    Operation(
        "patch_schedule",
        "Pause or unpause a schedule (with a note), trigger its action now, or backfill the due times of a span",
        _patch_schedule,
        request=sc.PatchScheduleRequest,
        answer=sc.ScheduleDescriptionModel,
        http=Http("POST", _NS + "/schedules/patch"),
        tag="schedules",
        access=Access.WRITE,
    ),
    Operation(
        "delete_schedule",
        "Delete a schedule (the runs it started are left as they are)",
        _delete_schedule,
        request=sc.DeleteScheduleRequest,
        answer=m.OkResponse,
        http=Http("POST", _NS + "/schedules/delete"),
        tag="schedules",
        access=Access.WRITE,
    ),
)

# --- batch operations (``features.batch``) ---------------------------------------------------------------------


def _job_id(c: Caller) -> str:
    value = c.query.get("job_id")
    if not value:
        raise InvalidArgumentError("query parameter 'job_id' is required", code="invalid_argument")
    problem = check_id("job id", value)
    if problem:
        raise InvalidArgumentError(f"query parameter 'job_id': {problem}", code="invalid_argument")
    return value


async def _start_batch(engine: Engine, c: Caller, b: bt.StartBatchRequest) -> Any:
    return await engine.batches.start_batch(c.namespace, b, _identity(c, b.identity))


async def _describe_batch(engine: Engine, c: Caller, b: None) -> Any:
    return await engine.batches.describe(c.namespace, _job_id(c))


async def _list_batches(engine: Engine, c: Caller, b: None) -> Any:
    return await engine.batches.list_all(c.namespace)


async def _terminate_batch(engine: Engine, c: Caller, b: bt.TerminateBatchRequest) -> Any:
    return await engine.batches.terminate(c.namespace, b, _identity(c, b.identity))


_BATCH_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "start_batch",
        "Start a batch job: cancel, terminate, signal or reset every run the query selects, as a durable job that "
        "goes at most rps runs a second and resumes after a restart. 400 invalid_query (details.position) for a "
        "query that is empty or refused, invalid_argument for a signal batch without signal_name; 409 "
        "batch_job_exists if the job id is taken",
        _start_batch,
        request=bt.StartBatchRequest,
        answer=bt.BatchJobModel,
        http=Http("POST", _NS + "/batches", status=201, also=((409, "A batch job of this id exists"),)),
        tag="batches",
        access=Access.WRITE,
    ),
    Operation(
        "list_batches",
        "The namespace's batch jobs, newest first, each with its progress",
        _list_batches,
        answer=bt.ListBatchJobsResponse,
        http=Http("GET", _NS + "/batches"),
        tag="batches",
        access=Access.READ,
    ),
    Operation(
        "describe_batch",
        "A batch job: its operation, query, state and progress (matched, done, skipped, failed)",
        _describe_batch,
        answer=bt.BatchJobModel,
        http=Http(
            "GET",
            _NS + "/batches/describe",
            query=(Query("job_id", "string", "The batch job's id.", required=True, schema=_ID),),
        ),
        tag="batches",
        access=Access.READ,
    ),
    Operation(
        "terminate_batch",
        "Stop a running batch job (the runs it dealt with stay so; the rest are left alone). 400 "
        "batch_job_not_running if it has ended",
        _terminate_batch,
        request=bt.TerminateBatchRequest,
        answer=bt.BatchJobModel,
        http=Http("POST", _NS + "/batches/terminate"),
        tag="batches",
        access=Access.WRITE,
    ),
)


_BY_TOKEN_OR_IDS = (
    " (named by task_token, or by workflow_id, run_id and activity_id; 404 task_not_found for a token not of this "
    "server or no longer current, 404 activity_not_found, 400 activity_not_started)"
)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "health",
        "Server health and version",
        _health,
        answer=m.HealthResponse,
        http=Http("GET", "/api/v1/health"),
        tag="server",
        access=Access.PUBLIC,
    ),
    Operation(
        "describe_cluster",
        "The servers sharing this server's store, and the store's shard leases",
        _describe_cluster,
        answer=m.ClusterResponse,
        http=Http("GET", "/api/v1/cluster"),
        tag="server",
        access=Access.AUTHENTICATED,
    ),
    Operation(
        "list_namespaces",
        "List namespaces",
        _list_namespaces,
        answer=m.ListNamespacesResponse,
        http=Http("GET", "/api/v1/namespaces"),
        tag="namespaces",
        access=Access.AUTHENTICATED,
    ),
    Operation(
        "create_namespace",
        "Create a namespace",
        _create_namespace,
        request=m.CreateNamespaceRequest,
        answer=m.Namespace,
        http=Http(
            "POST", "/api/v1/namespaces", status=201, also=((200, "The namespace already existed (it is unchanged)"),)
        ),
        tag="namespaces",
        access=Access.ADMIN,
    ),
    Operation(
        "create_api_key",
        'Make an API key for a namespace (or "*", every namespace) and a role; the answer holds the key, '
        "shown this once (the server keeps only its hash). Needs the admin role in that namespace",
        _create_api_key,
        request=m.CreateApiKeyRequest,
        answer=m.CreatedApiKey,
        http=Http("POST", "/api/v1/api-keys", status=201),
        tag="auth",
        access=Access.SOME_ADMIN,  # (and of the key's namespace: checked by the call, which knows it)
    ),
    Operation(
        "list_api_keys",
        "The API keys the caller administers (never their secrets)",
        _list_api_keys,
        answer=m.ListApiKeysResponse,
        http=Http("GET", "/api/v1/api-keys"),
        tag="auth",
        access=Access.SOME_ADMIN,
    ),
    Operation(
        "list_audit",
        "The audit log, newest first: every call that changed something (who, what, when, from where, how it "
        "ended), of the namespaces the caller is an admin of (every one, for an admin of every namespace)",
        _list_audit,
        answer=m.AuditResponse,
        http=Http(
            "GET",
            "/api/v1/audit",
            query=(
                Query("namespace", "string", "Only this namespace's entries"),
                Query("before", "integer", "Entries older than this seq (the next page)"),
                Query("limit", "integer", "At most this many (default 100, at most 1000)"),
            ),
        ),
        tag="auth",
        access=Access.SOME_ADMIN,
    ),
    Operation(
        "revoke_api_key",
        "Revoke an API key: it is refused from now on (on other servers within seconds), and the UI sessions "
        "it opened end",
        _revoke_api_key,
        request=m.RevokeApiKeyRequest,
        answer=m.ApiKey,
        http=Http("POST", "/api/v1/api-keys/revoke"),
        tag="auth",
        access=Access.SOME_ADMIN,
    ),
    Operation(
        "start_workflow",
        "Start a workflow",
        _start_workflow,
        request=m.StartWorkflowRequest,
        answer=m.StartWorkflowResponse,
        http=Http(
            "POST",
            _NS + "/workflows",
            status=201,
            also=(
                (
                    200,
                    "A start with this request_id was made before (its run, not a new one), or id_conflict_policy "
                    "USE_EXISTING found a run of the id running (that run)",
                ),
                (
                    409,
                    "Its id policies refuse a new run: a run of the id is running (id_conflict_policy FAIL), or "
                    "its last run closed and id_reuse_policy allows no other (details.refused_by names the policy)",
                ),
                (429, "The server is overloaded: retry after the Retry-After header, with the same request_id"),
            ),
        ),
        client=True,
        access=Access.WRITE,
    ),
    Operation(
        "list_workflows",
        "List workflow runs, newest first",
        _list_workflows,
        answer=m.ListWorkflowsResponse,
        http=Http(
            "GET",
            _NS + "/workflows",
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
                Query("workflow_id", "string", "Only the runs of this workflow id (its chain).", schema=_ID),
                _PAGE,
                _QUERY,
            ),
        ),
        access=Access.READ,
    ),
    Operation(
        "count_workflows",
        "Count workflow runs, optionally by status",
        _count_workflows,
        answer=m.CountWorkflowsResponse,
        http=Http(
            "GET",
            _NS + "/workflows/count",
            query=(
                _QUERY,
                Query(
                    "group_by",
                    "string",
                    "ExecutionStatus: also count the runs of each status.",
                    schema={"enum": ["ExecutionStatus"]},
                ),
            ),
        ),
        access=Access.READ,
    ),
    Operation(
        "describe_workflow",
        "Describe a run: status, timing, input, result, pending work",
        _describe,
        answer=m.DescribeWorkflowResponse,
        http=Http("GET", _NS + "/workflows/describe", query=(_WID, _RID)),
        access=Access.READ,
    ),
    Operation(
        "get_history",
        "A run's event history",
        _history,
        answer=m.HistoryResponse,
        http=Http(
            "GET",
            _NS + "/workflows/history",
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
        access=Access.READ,
    ),
    Operation(
        "wait_result",
        "A run's outcome; waits up to `wait` seconds for it to close (long-poll)",
        _wait_result,
        request=m.WaitResultRequest,
        answer=m.WorkflowResultResponse,
        http=Http(
            "GET",
            _NS + "/workflows/result",
            operation_id="get_result",
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
        client=True,
        waits=True,
        access=Access.READ,
    ),
    Operation(
        "cancel_workflow",
        "Ask a running workflow to cancel: its code gets asyncio.CancelledError where it waits and may clean "
        "up; its pending activities and timers are cancelled (400 if the run is not running)",
        _cancel,
        request=m.CancelWorkflowRequest,
        answer=m.CancelWorkflowResponse,
        http=Http("POST", _NS + "/workflows/cancel"),
        access=Access.WRITE,
    ),
    Operation(
        "signal_workflow",
        "Send a signal to a running workflow: recorded in its history before the answer, then delivered to its "
        "handler of that name (400 not_running if the run is not running, invalid_input if the payload does not "
        "fit the handler's announced schema)",
        _signal,
        request=msg.SignalWorkflowRequest,
        answer=msg.SignalWorkflowResponse,
        http=Http("POST", _NS + "/workflows/signal"),
        client=True,
        access=Access.WRITE,
    ),
    Operation(
        "signal_with_start_workflow",
        "Signal a workflow, starting it if no run of its id is running: the run is created with the signal "
        "recorded in the same write, so its handler runs before the workflow's run method (started says which "
        "happened; 400 invalid_input if the input or the payload does not fit the announced schemas, and then "
        "nothing is recorded)",
        _signal_with_start,
        request=msg.SignalWithStartWorkflowRequest,
        answer=msg.SignalWithStartWorkflowResponse,
        http=Http(
            "POST",
            _NS + "/workflows/signal-with-start",
            also=(
                (409, "Runs of this workflow id kept being started and closed while the call looked: retry it"),
                (429, "The server is overloaded: retry after the Retry-After header, with the same request_id"),
            ),
        ),
        client=True,
        access=Access.WRITE,
    ),
    Operation(
        "query_workflow",
        "Run a query handler of a workflow on its current state, asked of a worker (a closed or evicted run is "
        "replayed from its history); nothing is recorded. 400 unknown_query (details.known lists the names), "
        "invalid_input if the payload does not fit the handler's announced schema, query_failed if the handler "
        "raised or tried to issue a command",
        _query,
        request=msg.QueryWorkflowRequest,
        answer=msg.QueryWorkflowResponse,
        http=Http(
            "POST",
            _NS + "/workflows/query",
            also=(
                (502, "A worker gave an answer that could not be read (code bad_worker_answer)"),
                (
                    408,
                    "No worker answered within the timeout (at most --max-poll-wait): none polls the run's task "
                    "queue for its type (code no_worker), or the one asked took too long (query_timeout)",
                ),
            ),
        ),
        client=True,
        access=Access.READ,
    ),
    Operation(
        "update_workflow",
        "Send an update to a running workflow and wait for it to reach wait_for_stage: its validator runs first "
        "(a rejected update leaves no trace in history), then its handler; the same update_id is applied once "
        "(400 not_running if the run is not running, unknown_update if no handler has the name, invalid_input "
        "if the payload does not fit)",
        _update,
        request=msg.UpdateWorkflowRequest,
        answer=msg.UpdateWorkflowResponse,
        http=Http("POST", _NS + "/workflows/update"),
        client=True,
        waits=True,
        access=Access.WRITE,
    ),
    Operation(
        "poll_workflow_update",
        "Wait for an update sent earlier, by its id: its stage, and its result or failure once completed "
        "(404 update_not_found if the run has no such update)",
        _poll_update,
        request=msg.PollWorkflowUpdateRequest,
        answer=msg.UpdateWorkflowResponse,
        http=Http("POST", _NS + "/workflows/update/poll"),
        client=True,
        waits=True,
        access=Access.READ,
    ),
    Operation(
        "terminate_workflow",
        "End a running workflow at once, running none of its code; its pending work is dropped "
        "(400 if the run is not running)",
        _terminate,
        request=m.TerminateWorkflowRequest,
        answer=m.TerminateWorkflowResponse,
        http=Http("POST", _NS + "/workflows/terminate"),
        access=Access.WRITE,
    ),
    Operation(
        "delete_workflow",
        "Delete a run with its history and pending work (the workflow id's newest run when run_id is omitted); a "
        "running run is terminated first, then deleted. Afterwards describe and the history answer 404 and the "
        "list no longer shows it",
        _delete,
        request=m.DeleteWorkflowRequest,
        answer=m.DeleteWorkflowResponse,
        http=Http("POST", _NS + "/workflows/delete"),
        access=Access.ADMIN,
    ),
    Operation(
        "reset_workflow",
        "Make a new run of the workflow id from a workflow task of this run (event_id, or reset_type "
        "FirstWorkflowTask / LastWorkflowTask): its history up to that task is copied, the task failed "
        "(RESET_WORKFLOW), the signals received and updates accepted after it reapplied (unless reapply_exclude), "
        "and the code after "
        "that point runs again; the run is terminated if still running, and both are linked (describe's reset_to "
        "and reset_from). 400 naming the valid event ids for a point that is not a workflow task or cannot be "
        "rebuilt",
        _reset,
        request=m.ResetWorkflowRequest,
        answer=m.ResetWorkflowResponse,
        http=Http("POST", _NS + "/workflows/reset"),
        access=Access.WRITE,
    ),
    Operation(
        "get_workflow_stack",
        "Where each coroutine of a running workflow waits, asked live of the worker that holds it in memory "
        "(empty, with a message saying why, when no worker can answer)",
        _stack,
        answer=m.WorkflowStackResponse,
        http=Http("GET", _NS + "/workflows/stack", query=(_WID, _RID)),
        access=Access.READ,
    ),
    Operation(
        "list_task_queues",
        "Task queues with their live workers (when each was last seen) and backlogs",
        _task_queues,
        answer=m.TaskQueuesResponse,
        http=Http(
            "GET",
            _NS + "/task-queues",
            query=(Query("name", "string", "Only the task queue of this name.", schema=_TEXT),),
        ),
        tag="workers",
        access=Access.READ,
    ),
    # On the worker channel, registering is the connection's first message ("register"), not an operation.
    Operation(
        "register_worker",
        "Open a worker session",
        _register,
        request=m.RegisterWorkerRequest,
        answer=m.RegisterWorkerResponse,
        http=Http("POST", _NS + "/workers", status=201),
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "heartbeat_worker",
        "Keep a worker session alive",
        _heartbeat_session,
        answer=m.OkResponse,
        http=Http("POST", _NS + "/workers/{session_id}/heartbeat"),
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "end_worker_session",
        "End a worker session; its tasks go to other workers at once",
        _end_session,
        answer=m.OkResponse,
        http=Http("DELETE", _NS + "/workers/{session_id}"),
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "poll_workflow_task",
        "Wait for a workflow task (204 when none arrived in time)",
        _poll_workflow_task,
        request=m.PollRequest,
        answer=m.WorkflowTask,
        http=Http("POST", _NS + "/workflow-tasks/poll", also=_NO_TASK),
        worker=True,
        waits=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "poll_workflow_tasks",
        "Wait for a workflow task, and take up to max_tasks - 1 more that are ready at that moment",
        _poll_workflow_tasks,
        request=m.PollRequest,
        answer=m.WorkflowTasks,
        worker=True,
        waits=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "complete_workflow_task",
        "Complete a workflow task with commands",
        _complete_workflow_task,
        request=m.CompleteWorkflowTaskRequest,
        answer=m.CompleteWorkflowTaskResponse,
        http=Http("POST", _NS + "/workflow-tasks/complete"),
        worker=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "fail_workflow_task",
        "Fail a workflow task (it is retried)",
        _fail_workflow_task,
        request=m.FailWorkflowTaskRequest,
        answer=m.AcceptedResponse,
        http=Http("POST", _NS + "/workflow-tasks/fail"),
        worker=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "poll_activity_task",
        "Wait for an activity task (204 when none arrived in time)",
        _poll_activity_task,
        request=m.PollRequest,
        answer=m.ActivityTask,
        http=Http("POST", _NS + "/activity-tasks/poll", also=_NO_TASK),
        worker=True,
        waits=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "poll_activity_tasks",
        "Wait for an activity task, and take up to max_tasks - 1 more that are ready at that moment",
        _poll_activity_tasks,
        request=m.PollRequest,
        answer=m.ActivityTasks,
        worker=True,
        waits=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "complete_activity_task",
        "Complete an activity attempt (optionally with the workflow task the worker ran on its result)",
        _complete_activity_task,
        request=m.CompleteActivityTaskRequest,
        answer=m.CompleteActivityTaskResponse,
        http=Http("POST", _NS + "/activity-tasks/complete"),
        worker=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "fail_activity_task",
        "Fail an activity attempt (retried per its policy)",
        _fail_activity_task,
        request=m.FailActivityTaskRequest,
        answer=m.AcceptedResponse,
        http=Http("POST", _NS + "/activity-tasks/fail"),
        worker=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "heartbeat_activity_task",
        "Record an activity heartbeat with details",
        _heartbeat_activity_task,
        request=m.HeartbeatActivityTaskRequest,
        answer=m.HeartbeatActivityTaskResponse,
        http=Http("POST", _NS + "/activity-tasks/heartbeat"),
        worker=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "get_workflow_task_history",
        "A page of the older events a workflow task left out (a task carries at most a page: see _history_pages)",
        _workflow_task_history,
        request=m.WorkflowTaskHistoryRequest,
        answer=m.WorkflowTaskHistoryResponse,
        worker=True,
        tag="workers",
        access=Access.WORK,
    ),
    # --- async activity completion ---
    Operation(
        "release_activity_task",
        "Let go of an activity attempt this worker was handed: it is completed from elsewhere (the activity "
        "called activity.raise_complete_async()), and stays open under its timeouts, held by no session",
        _release_activity_task,
        request=ac.ReleaseActivityTaskRequest,
        answer=m.AcceptedResponse,
        http=Http("POST", _NS + "/activity-tasks/release"),
        worker=True,
        tag="workers",
        access=Access.WORK,
    ),
    Operation(
        "complete_activity",
        "Complete an activity attempt from outside its worker (async completion)" + _BY_TOKEN_OR_IDS,
        _complete_activity,
        request=ac.CompleteActivityRequest,
        answer=m.AcceptedResponse,
        http=Http("POST", _NS + "/activities/complete"),
        tag="activities",
        access=Access.COMPLETE_ACTIVITY,
    ),
    Operation(
        "fail_activity",
        "Fail an activity attempt from outside its worker; it is retried per its policy" + _BY_TOKEN_OR_IDS,
        _fail_activity,
        request=ac.FailActivityRequest,
        answer=m.AcceptedResponse,
        http=Http("POST", _NS + "/activities/fail"),
        tag="activities",
        access=Access.COMPLETE_ACTIVITY,
    ),
    Operation(
        "heartbeat_activity",
        "Record a heartbeat of an activity attempt from outside its worker; cancel_requested says the workflow "
        "cancelled it" + _BY_TOKEN_OR_IDS,
        _heartbeat_activity,
        request=ac.HeartbeatActivityRequest,
        answer=m.HeartbeatActivityTaskResponse,
        http=Http("POST", _NS + "/activities/heartbeat"),
        tag="activities",
        access=Access.COMPLETE_ACTIVITY,
    ),
    Operation(
        "report_activity_cancellation",
        "Report that an activity attempt stopped because the workflow cancelled it (400 not_cancel_requested if "
        "it did not)" + _BY_TOKEN_OR_IDS,
        _report_activity_cancellation,
        request=ac.ReportActivityCancellationRequest,
        answer=m.AcceptedResponse,
        http=Http("POST", _NS + "/activities/report-cancellation"),
        tag="activities",
        access=Access.COMPLETE_ACTIVITY,
    ),
    *_SCHEDULE_OPERATIONS,
    *_BATCH_OPERATIONS,
    *_SEARCH_ATTRIBUTE_OPERATIONS,
)

#: name -> operation.
BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
