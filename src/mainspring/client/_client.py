"""The client: start workflows, wait for their results, inspect and list them."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Unpack, overload

from ..api.enums import WorkflowStatus
from ..api.names import check_namespace
from ..converter import PayloadError, decode, encode
from ..errors import (
    InvalidArgumentError,
    ResourceExhaustedError,
    RPCError,
    ServerUnavailableError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    failure_from_dict,
)
from ..options import _START_WORKFLOW_KEYWORDS, StartWorkflowOptions
from ..workflow import get_definition
from ._channel import Channel
from ._stuck import StuckWatch
from ._transport import Transport, resolve_address
from ._updates import WorkflowUpdateHandle, WorkflowUpdateStage, outcome, wait_for

if TYPE_CHECKING:
    from ..workflow import Context
    from ..workflow._definition import WorkflowFunction
    from ..workflow._handlers import QueryMethod, RunMethod, SignalMethod, UpdateMethod

__all__ = ["Client", "WorkflowDescription", "WorkflowHandle", "WorkflowPage"]


def _message_name(message: Any, kind: str) -> tuple[str, bool]:
    """The name a message is sent under, and whether it carries a payload: a handler method of a
    ``@workflow.defn`` class, or a name (which may carry any payload)."""
    if isinstance(message, str):
        return message, True
    from ..workflow._handlers import handler_of

    h = handler_of(message, kind)
    if h is None or h.name is None:
        what = getattr(message, "__qualname__", repr(message))
        raise TypeError(
            f"{what} is not a {kind} handler of a @workflow.defn class: pass a method decorated with "
            f"@workflow.{kind}, or the {kind}'s name"
        )
    return h.name, h.takes_input


A = TypeVar("A")
R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")
#: An update's result (R is the workflow's, on a handle).
U = TypeVar("U")
#: A query's answer.
Q = TypeVar("Q")

#: The server's warnings about a start (no worker on the queue runs its type) go to a logger of their
#: own, so a program that shows them itself (the CLI) can silence just these.
start_log = logging.getLogger("mainspring.client.start")
log = logging.getLogger("mainspring.client")

#: How long a call that is safe to repeat is retried while the server sheds load or cannot write.
RETRY_FOR = 30.0


def _worth_retrying(e: ServerUnavailableError) -> bool:
    # Overloaded (429), storage unavailable (503) or no answer in time: the server is there and the
    # call may be repeated. Nothing listening at the address is not retried: that is a wrong address
    # or a stopped server, and the caller should hear it at once.
    return e.status in (429, 503) or e.code == "timeout"


async def _retrying(call: Callable[[], Awaitable[T]], retry_for: float = RETRY_FOR) -> T:
    """``call()``, again after a pause while the server asks for one (with jitter, so refused callers
    do not all come back at once), for up to ``retry_for`` seconds."""
    deadline = time.monotonic() + retry_for
    delay = 0.05
    while True:
        try:
            return await call()
        except ServerUnavailableError as e:
            if not _worth_retrying(e):
                raise
            wait = (e.retry_after if isinstance(e, ResourceExhaustedError) else delay) * random.uniform(1.0, 1.5)
            if time.monotonic() + wait > deadline:
                raise
            await asyncio.sleep(wait)
            delay = min(delay * 2, 2.0)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class WorkflowDescription:
    """A workflow run as the server describes it."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowStatus
    start_time: datetime
    close_time: datetime | None
    history_length: int
    input: Any
    result: Any
    failure: dict[str, Any] | None
    pending_activities: list[dict[str, Any]]
    pending_timers: list[dict[str, Any]]
    pending_workflow_task: dict[str, Any] | None
    #: The server's answer as JSON.
    raw: dict[str, Any] = field(repr=False)
    #: The signal, query and update handlers its workflow type announced (``{"kind", "name",
    #: "input_schema"}`` each, name None for the dynamic one); None if none was announced.
    handlers: list[dict[str, Any]] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowDescription:
        """Build one from the server's ``describe`` answer."""
        e = data["execution"]
        start = _time(e["start_time"])
        assert start is not None
        return cls(
            workflow_id=e["workflow_id"],
            run_id=e["run_id"],
            workflow_type=e["workflow_type"],
            task_queue=e["task_queue"],
            status=WorkflowStatus(e["status"]),
            start_time=start,
            close_time=_time(e.get("close_time")),
            history_length=e["history_length"],
            input=data.get("input"),
            result=data.get("result"),
            failure=data.get("failure"),
            pending_activities=data.get("pending_activities", []),
            pending_timers=data.get("pending_timers", []),
            pending_workflow_task=data.get("pending_workflow_task"),
            raw=data,
            handlers=data.get("handlers"),
        )


@dataclass(frozen=True)
class WorkflowPage:
    """One page of ``Client.list_workflows``."""

    executions: list[dict[str, Any]]
    next_page_token: str | None


class WorkflowHandle(Generic[S, R]):
    """A started workflow: wait for its result, send it signals, describe it, read its history.

    Typed by the workflow's class (``Any`` for a function workflow or one known by name) and its result:
    ``WorkflowHandle[GreetingWorkflow, list[str]]``. The class is what lets the type checker check the
    signals sent through it.
    """

    def __init__(self, client: Client, workflow_id: str, run_id: str | None, result_type: Any = None) -> None:
        self.client = client
        self.workflow_id = workflow_id
        #: The run this handle follows; None means the newest run of the workflow id.
        self.run_id = run_id
        self._result_type = result_type
        #: What the server warned about when this handle's start was made (e.g. no worker polling the
        #: task queue runs the workflow's type: a typo?), or None. Also logged, at WARNING.
        self.start_warning: str | None = None

    def __repr__(self) -> str:
        return f"WorkflowHandle(workflow_id={self.workflow_id!r}, run_id={self.run_id!r})"

    async def _ask_result(self, query: dict[str, Any], wait: float) -> Any:
        data = await self.client._channel_call("wait_result", query, wait + 10)
        if data is NotImplemented:
            data = await self.client._call("GET", "/workflows/result", params=query, timeout=wait + 10)
        return data

    async def result(self, *, timeout: float | None = None) -> R:
        """Wait for the run to close and return its result.

        Raises ``WorkflowFailureError`` (with the recorded failure as ``cause``) if it did not complete,
        and ``asyncio.TimeoutError`` if ``timeout`` seconds pass first. While it waits on a run whose
        workflow task keeps failing (a bug in workflow code), it logs a warning saying so, once, on the
        ``mainspring.client`` logger (it looks with ``describe`` after a few seconds, then rarely; see
        ``mainspring.client._stuck``).
        """
        key = self.client._stuck.add(self.workflow_id, self.run_id)
        try:
            return await self._wait_result(timeout)
        finally:
            self.client._stuck.remove(key)

    async def _wait_result(self, timeout: float | None) -> R:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 30.0 if deadline is None else max(0.0, min(30.0, deadline - time.monotonic()))
            query = {"workflow_id": self.workflow_id, "run_id": self.run_id, "wait": wait}
            data = await _retrying(functools.partial(self._ask_result, query, wait))
            status = WorkflowStatus(data["status"])
            if status is WorkflowStatus.COMPLETED:
                try:
                    value: R = decode(data.get("result"), self._result_type)
                except PayloadError as e:
                    raise InvalidArgumentError(f"the workflow result does not fit the expected type: {e}") from None
                return value
            if status is not WorkflowStatus.RUNNING:
                failure = data.get("failure")
                cause = failure_from_dict(failure) if failure else None
                what = f": {cause.message}" if cause else ""
                raise WorkflowFailureError(
                    f"workflow {self.workflow_id!r} {status.value.lower().replace('_', ' ')}{what}",
                    status=status.value,
                    cause=cause,
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {self.workflow_id!r} did not close within {timeout}s")

    # --- messages ---------------------------------------------------------------------------------------
    # A handler method of the handle's workflow class (``GreetingWorkflow.submit``: typed, its payload checked
    # against the method's) or a message name (any payload, sent as JSON as it is).

    @overload
    async def signal(self, signal: SignalMethod[S, []], /, *, request_id: str | None = ...) -> None: ...

    @overload
    async def signal(self, signal: SignalMethod[S, [A]], arg: A, /, *, request_id: str | None = ...) -> None: ...

    @overload
    async def signal(self, signal: str, arg: Any = ..., /, *, request_id: str | None = ...) -> None: ...

    async def signal(self, signal: Any, arg: Any = None, /, *, request_id: str | None = None) -> None:
        """Send a signal to the run: it is recorded in the run's history before this returns, and its handler
        runs in the workflow (in the order signals were recorded; a signal waits for its handler to exist).

        Raises ``InvalidArgumentError`` if the payload does not fit the handler (the field is named) or the
        run is not running (code ``not_running``), ``NotFoundError`` if there is no such run. A retried call
        with the same ``request_id`` (one is made if not given) is recorded once.
        """
        name, takes_input = _message_name(signal, "signal")
        try:
            payload = encode(arg) if takes_input else None
        except PayloadError as e:
            raise InvalidArgumentError(f"the payload of signal {name!r} cannot be sent: {e}") from None
        body = {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "signal_name": name,
            "input": payload,
            "request_id": request_id or str(uuid.uuid4()),
        }

        async def send() -> Any:
            data = await self.client._channel_call("signal_workflow", body, self.client.transport.timeout)
            if data is NotImplemented:
                data = await self.client._call("POST", "/workflows/signal", body=body)
            return data

        data = await _retrying(send)
        warning = data.get("warning") if isinstance(data, dict) else None
        if isinstance(warning, str) and warning:
            log.warning("workflow %r: %s", self.workflow_id, warning)

    @overload
    async def execute_update(
        self, update: UpdateMethod[S, [], U], /, *, id: str | None = ..., rpc_timeout: timedelta | None = ...
    ) -> U: ...

    @overload
    async def execute_update(
        self, update: UpdateMethod[S, [A], U], arg: A, /, *, id: str | None = ..., rpc_timeout: timedelta | None = ...
    ) -> U: ...

    @overload
    async def execute_update(
        self,
        update: str,
        arg: Any = ...,
        /,
        *,
        id: str | None = ...,
        result_type: type[U],
        rpc_timeout: timedelta | None = ...,
    ) -> U: ...

    @overload
    async def execute_update(
        self, update: str, arg: Any = ..., /, *, id: str | None = ..., rpc_timeout: timedelta | None = ...
    ) -> Any: ...

    async def execute_update(
        self,
        update: Any,
        arg: Any = None,
        /,
        *,
        id: str | None = None,
        result_type: Any = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Send an update and wait for its result (``start_update`` to COMPLETED, then ``result``).

        The workflow's validator runs first: a rejected update raises ``WorkflowUpdateFailedError`` (with
        ``rejected`` set and the validator's error as ``cause``) and leaves no trace in history; a handler that
        raises a ``FailureError`` fails the update (not the workflow) the same way. ``id`` sets the update id
        (one is made if not given): the same id is applied once, so a call can be repeated safely.
        ``rpc_timeout`` bounds the whole wait (``TimeoutError``).
        """
        handle: WorkflowUpdateHandle[Any] = await self.start_update(
            update,
            arg,
            id=id,
            result_type=result_type,
            wait_for_stage=WorkflowUpdateStage.COMPLETED,
            rpc_timeout=rpc_timeout,
        )
        return await handle.result(timeout=None if rpc_timeout is None else rpc_timeout.total_seconds())

    @overload
    async def start_update(
        self,
        update: UpdateMethod[S, [], U],
        /,
        *,
        wait_for_stage: WorkflowUpdateStage,
        id: str | None = ...,
        rpc_timeout: timedelta | None = ...,
    ) -> WorkflowUpdateHandle[U]: ...

    @overload
    async def start_update(
        self,
        update: UpdateMethod[S, [A], U],
        arg: A,
        /,
        *,
        wait_for_stage: WorkflowUpdateStage,
        id: str | None = ...,
        rpc_timeout: timedelta | None = ...,
    ) -> WorkflowUpdateHandle[U]: ...

    @overload
    async def start_update(
        self,
        update: str,
        arg: Any = ...,
        /,
        *,
        wait_for_stage: WorkflowUpdateStage,
        id: str | None = ...,
        result_type: type[U],
        rpc_timeout: timedelta | None = ...,
    ) -> WorkflowUpdateHandle[U]: ...

    @overload
    async def start_update(
        self,
        update: str,
        arg: Any = ...,
        /,
        *,
        wait_for_stage: WorkflowUpdateStage,
        id: str | None = ...,
        rpc_timeout: timedelta | None = ...,
    ) -> WorkflowUpdateHandle[Any]: ...

    async def start_update(
        self,
        update: Any,
        arg: Any = None,
        /,
        *,
        wait_for_stage: WorkflowUpdateStage,
        id: str | None = None,
        result_type: Any = None,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowUpdateHandle[Any]:
        """Send an update and return once it reaches ``wait_for_stage`` (ACCEPTED: its validator passed and it
        is recorded; COMPLETED: its handler finished); ``.result()`` of the handle waits for its outcome.
        A rejection raises ``WorkflowUpdateFailedError`` here. The payload is checked against the handler's
        type (and, at the server, against the schema its worker announced; the field is named)."""
        name, takes_input = _message_name(update, "update")
        if result_type is None and not isinstance(update, str):
            from ..workflow._handlers import handler_of

            h = handler_of(update, "update")
            result_type = h.result_type if h is not None else None
        try:
            payload = encode(arg) if takes_input else None
        except PayloadError as e:
            raise InvalidArgumentError(f"the payload of update {name!r} cannot be sent: {e}") from None
        update_id = id or str(uuid.uuid4())
        request = {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "update_id": update_id,
            "name": name,
            "input": payload,
        }
        handle: WorkflowUpdateHandle[Any] = WorkflowUpdateHandle(
            self.client, self.workflow_id, self.run_id, update_id, result_type, request=request
        )
        timeout = None if rpc_timeout is None else rpc_timeout.total_seconds()
        answer = await wait_for(handle, WorkflowUpdateStage(wait_for_stage), timeout)
        if answer.get("rejected"):
            outcome(answer, result_type)  # raises: a rejected update has no result
        return handle

    def get_update_handle(self, update_id: str, *, result_type: Any = None) -> WorkflowUpdateHandle[Any]:
        """A handle to an update sent earlier (by any client), by its id: ``await h.result()`` waits for its
        outcome, also after a server restart."""
        return WorkflowUpdateHandle(self.client, self.workflow_id, self.run_id, update_id, result_type)

    @overload
    async def query(self, query: QueryMethod[S, [], Q], /, *, rpc_timeout: timedelta | None = ...) -> Q: ...

    @overload
    async def query(self, query: QueryMethod[S, [A], Q], arg: A, /, *, rpc_timeout: timedelta | None = ...) -> Q: ...

    @overload
    async def query(
        self, query: str, arg: Any = ..., /, *, result_type: type[T], rpc_timeout: timedelta | None = ...
    ) -> T: ...

    @overload
    async def query(
        self, query: str, arg: Any = ..., /, *, result_type: None = ..., rpc_timeout: timedelta | None = ...
    ) -> Any: ...

    async def query(
        self, query: Any, arg: Any = None, /, *, result_type: Any = None, rpc_timeout: timedelta | None = None
    ) -> Any:
        """Run a query handler of the workflow on its current state and return its answer (decoded to the
        handler's result type, or ``result_type`` for a query named by a string). Nothing is recorded; a
        closed run is answered from its final state (a worker replays its history).

        ``rpc_timeout`` bounds the wait for a worker's answer (default 10 s, at most 60 s). Raises
        ``WorkflowQueryFailedError`` if the workflow has no query of that name (``.known`` lists the ones it
        has), the payload does not fit, or the handler raised or tried to issue a command; ``RPCError`` with
        code ``no_worker`` (status 408) if no worker polling the run's task queue answered in time;
        ``NotFoundError`` if there is no such run.
        """
        name, takes_input = _message_name(query, "query")
        if not isinstance(query, str):
            from ..workflow._handlers import handler_of

            h = handler_of(query, "query")
            result_type = h.result_type if h is not None else None
        try:
            payload = encode(arg) if takes_input else None
        except PayloadError as e:
            raise WorkflowQueryFailedError(f"the payload of query {name!r} cannot be sent: {e}") from None
        body: dict[str, Any] = {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "query_name": name,
            "input": payload,
        }
        wait = 10.0
        if rpc_timeout is not None:
            wait = rpc_timeout.total_seconds()
            if not 0 < wait <= 60:
                raise ValueError(f"rpc_timeout must be more than 0 and at most 60 seconds, got {rpc_timeout}")
            body["timeout"] = wait

        async def send() -> Any:
            data = await self.client._channel_call("query_workflow", body, wait + 10)
            if data is NotImplemented:
                data = await self.client._call("POST", "/workflows/query", body=body, timeout=wait + 10)
            return data

        try:
            data = await _retrying(send)
        except InvalidArgumentError as e:
            if e.code == "unknown_query":
                known = e.details.get("known") if isinstance(e.details, dict) else None
                raise WorkflowQueryFailedError(e.message, known=list(known or [])) from None
            if e.code in ("query_failed", "invalid_input"):
                raise WorkflowQueryFailedError(e.message) from None
            raise
        try:
            return decode(data.get("answer"), result_type)
        except PayloadError as e:
            raise WorkflowQueryFailedError(
                f"the answer of query {name!r} does not fit the expected type: {e}"
            ) from None

    async def describe(self) -> WorkflowDescription:
        """Status, timing, input, result or failure, and pending work of the run."""
        data = await self.client._call(
            "GET", "/workflows/describe", params={"workflow_id": self.workflow_id, "run_id": self.run_id}
        )
        return WorkflowDescription.from_json(data)

    async def cancel(self, *, reason: str = "") -> bool:
        """Ask the run to cancel: its code gets ``asyncio.CancelledError`` where it waits, may clean up,
        and the run ends CANCELED (unless the code goes on to complete). Its pending activities and timers
        are cancelled. Returns False if a cancellation had already been requested.

        Raises ``InvalidArgumentError`` if the run is not running, ``NotFoundError`` if there is no such run.
        """
        body = {"workflow_id": self.workflow_id, "run_id": self.run_id, "reason": reason}
        data = await self.client._call("POST", "/workflows/cancel", body=body)
        return not data.get("already_requested", False)

    async def terminate(self, *, reason: str = "") -> None:
        """End the run at once, as TERMINATED: none of its code runs any more; pending work is dropped.

        Raises ``InvalidArgumentError`` if the run is not running, ``NotFoundError`` if there is no such run.
        """
        body = {"workflow_id": self.workflow_id, "run_id": self.run_id, "reason": reason}
        await self.client._call("POST", "/workflows/terminate", body=body)

    async def stack(self) -> dict[str, Any]:
        """Where each coroutine of the running workflow waits, asked live of the worker that holds it:
        ``{"worker", "coroutines": [{"name", "frames": [{"file", "line", "function", "code"}]}], "message"}``.
        """
        data: dict[str, Any] = await self.client._call(
            "GET", "/workflows/stack", params={"workflow_id": self.workflow_id, "run_id": self.run_id}
        )
        return data

    async def fetch_history(self) -> list[dict[str, Any]]:
        """Every event of the run's history, in order (as JSON objects)."""
        events: list[dict[str, Any]] = []
        first = 1
        while True:
            data = await self.client._call(
                "GET",
                "/workflows/history",
                params={
                    "workflow_id": self.workflow_id,
                    "run_id": self.run_id,
                    "first_event_id": first,
                    "limit": 1000,
                },
            )
            events.extend(data["events"])
            if not data.get("next_page_token"):
                return events
            first = int(data["next_page_token"])


def _start_signal(options: dict[str, Any]) -> tuple[str, Any] | None:
    """The signal of a signal-with-start (its name and encoded payload), or None for a plain start."""
    name = options.get("start_signal")
    args = options.get("start_signal_args")
    if name is None:
        if args is not None:
            raise TypeError("start_workflow() got start_signal_args without start_signal: name the signal to send")
        return None
    if args is None:
        args = ()
    if isinstance(args, (str, bytes)):
        raise TypeError(
            f"start_signal_args must be a list of the signal's arguments, got {type(args).__name__} {args!r} "
            f"(for one string payload: start_signal_args=[{args!r}])"
        )
    if len(args) > 1:
        raise ValueError(
            f"start_signal_args holds at most one value (a signal handler takes at most one payload), got "
            f"{len(args)}: bundle them in one dataclass"
        )
    try:
        payload = encode(args[0]) if args else None
    except PayloadError as e:
        raise InvalidArgumentError(f"the payload of signal {name!r} cannot be sent: {e}") from None
    return name, payload


class Client:
    """A connection to a Mainspring server, for one namespace.

    ``await Client.connect()`` uses ``$MAINSPRING_ADDRESS`` or localhost:7233. The connection is
    made on first use, so a client can be created before the server is up.
    """

    def __init__(self, transport: Transport, namespace: str = "default", *, channel: bool = True) -> None:
        problem = check_namespace(namespace)
        if problem:
            raise InvalidArgumentError(problem, code="invalid_argument")
        self.transport = transport
        self.namespace = namespace
        #: Start workflows and wait for results over one WebSocket (many at a time, much cheaper per
        #: call than HTTP requests); False, or a server without it, means plain HTTP requests.
        self._use_channel = channel
        self._channel: Channel | None = None
        self._channel_lock = asyncio.Lock()
        self._stuck = StuckWatch(self._describe_raw)

    @classmethod
    async def connect(
        cls, address: str | None = None, *, namespace: str = "default", timeout: float = 10.0, channel: bool = True
    ) -> Client:
        """A client for the server at ``address`` (host:port or URL).

        ``timeout`` bounds each request (waits for results are long-polls and renew themselves).
        ``channel=False`` makes every call a plain HTTP request, which suits one-shot tools.
        """
        return cls(Transport(resolve_address(address), timeout=timeout), namespace, channel=channel)

    async def close(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        self._stuck.close()
        if self._channel is not None:
            await self._channel.close(graceful=False)
            self._channel = None
        await self.transport.close()

    async def _channel_call(self, op: str, body: dict[str, Any], timeout: float) -> Any:
        """Call ``op`` on the client channel, opening it if needed; NotImplemented if there is none."""
        channel = self._channel
        if channel is None or channel.closed.is_set():
            async with self._channel_lock:
                channel = self._channel
                if channel is None or channel.closed.is_set():
                    if not self._use_channel:
                        return NotImplemented
                    channel = Channel(self.transport, self._path("/clients/connect"))
                    try:
                        await channel.open()
                    except RPCError as e:
                        if e.code != "no_channel":
                            raise
                        self._use_channel = False  # an older server, or a proxy without WebSockets
                        return NotImplemented
                    self._channel = channel
        return await channel.call(op, body, timeout=timeout)

    async def _describe_raw(self, workflow_id: str, run_id: str | None) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "GET", "/workflows/describe", params={"workflow_id": workflow_id, "run_id": run_id}
        )
        return data

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> str:
        """The server address this client talks to, as given (host:port or URL)."""
        return self.transport.address

    def _path(self, suffix: str) -> str:
        return f"/api/v1/namespaces/{self.namespace}{suffix}"

    async def _call(self, method: str, suffix: str, **kwargs: Any) -> Any:
        return await self.transport.call(method, self._path(suffix), **kwargs)

    async def health(self) -> dict[str, Any]:
        """The server's status and version; raises ``ServerUnavailableError`` if it is down."""
        result: dict[str, Any] = await self.transport.call("GET", "/api/v1/health")
        return result

    # --- starting workflows ----------------------------------------------------------------------------
    # One overload per shape of workflow (with or without an input, or by name), each taking the options
    # as one TypedDict (``StartWorkflowOptions``), so a new option is one edit there. Class workflows'
    # ``run`` methods will be two more shapes of the same kind.

    @overload
    async def start_workflow(
        self, workflow: RunMethod[S, [], R], **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[S, R]: ...

    @overload
    async def start_workflow(
        self, workflow: RunMethod[S, [A], R], arg: A, **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[S, R]: ...

    @overload
    async def start_workflow(
        self, workflow: WorkflowFunction[[Context], Awaitable[R]], **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[Any, R]: ...

    @overload
    async def start_workflow(
        self, workflow: WorkflowFunction[[Context, A], Awaitable[R]], arg: A, **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[Any, R]: ...

    @overload
    async def start_workflow(
        self, workflow: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[Any, R]: ...

    @overload
    async def start_workflow(
        self, workflow: str, arg: Any = ..., **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[Any, Any]: ...

    async def start_workflow(
        self, workflow: Any, arg: Any = None, *, result_type: Any = None, **options: Any
    ) -> WorkflowHandle[Any, Any]:
        """Start a workflow and return a handle to it (without waiting for it to finish).

        ``workflow`` is a function decorated with ``@workflow.defn``, a class workflow's ``run`` method
        (``GreetingWorkflow.run``; typed either way: the argument must fit its input type and the handle's
        result has its result type, and a class's handle its signals) or a workflow type name, in
        which case ``arg`` is sent as JSON as it is and ``result_type``, if given, types the result.
        The options (``StartWorkflowOptions``): ``id`` and ``task_queue`` (required), ``request_id``, and
        ``start_signal`` / ``start_signal_args`` for signal-with-start (then a running run of the id is
        signalled instead of refused, and the handle is to it).
        Raises ``TypeError`` for an unknown or missing option or one of the wrong type,
        ``AlreadyStartedError`` if a workflow with this id is running (without ``start_signal``),
        ``InvalidArgumentError`` if the input, the signal's payload or an option's value does not fit.
        """
        _START_WORKFLOW_KEYWORDS.check(options)
        start_signal = _start_signal(options)
        if isinstance(workflow, str):
            name, rtype, takes_input = workflow, result_type, True
        else:
            d = get_definition(workflow)
            name, rtype, takes_input = d.name, d.result_type, d.takes_input
        try:
            payload = encode(arg) if takes_input else None
        except PayloadError as e:
            raise InvalidArgumentError(f"the input of workflow {name!r} cannot be sent: {e}") from None
        workflow_id: str = options["id"]
        body = {
            "workflow_id": workflow_id,
            "workflow_type": name,
            "task_queue": options["task_queue"],
            "input": payload,
            # Retries carry the same request id: the server starts the run once, and answers a repeat
            # with the run the first one started.
            "request_id": options.get("request_id") or str(uuid.uuid4()),
        }

        op, path = "start_workflow", "/workflows"
        if start_signal is not None:
            op, path = "signal_with_start_workflow", "/workflows/signal-with-start"
            body["signal_name"], body["signal_input"] = start_signal

        async def start() -> Any:
            data = await self._channel_call(op, body, self.transport.timeout)
            if data is NotImplemented:
                data = await self._call("POST", path, body=body)
            return data

        data = await _retrying(start)
        handle: WorkflowHandle[Any, Any] = WorkflowHandle(self, workflow_id, data["run_id"], rtype)
        warning = data.get("warning")
        if isinstance(warning, str) and warning:
            handle.start_warning = warning
            start_log.warning("workflow %r: %s", workflow_id, warning)
        return handle

    @overload
    async def execute_workflow(self, workflow: RunMethod[S, [], R], **options: Unpack[StartWorkflowOptions]) -> R: ...

    @overload
    async def execute_workflow(
        self, workflow: RunMethod[S, [A], R], arg: A, **options: Unpack[StartWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_workflow(
        self, workflow: WorkflowFunction[[Context], Awaitable[R]], **options: Unpack[StartWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_workflow(
        self, workflow: WorkflowFunction[[Context, A], Awaitable[R]], arg: A, **options: Unpack[StartWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_workflow(
        self, workflow: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[StartWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_workflow(self, workflow: str, arg: Any = ..., **options: Unpack[StartWorkflowOptions]) -> Any: ...

    async def execute_workflow(self, workflow: Any, arg: Any = None, *, result_type: Any = None, **options: Any) -> Any:
        """Start a workflow and wait for its result (``start_workflow`` then ``result``); the same options."""
        handle: WorkflowHandle[Any, Any] = await self.start_workflow(workflow, arg, result_type=result_type, **options)
        return await handle.result()

    @overload
    def get_workflow_handle(
        self, workflow_id: str, *, run_id: str | None = ..., result_type: type[R]
    ) -> WorkflowHandle[Any, R]: ...

    @overload
    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = ...) -> WorkflowHandle[Any, Any]: ...

    def get_workflow_handle(
        self, workflow_id: str, *, run_id: str | None = None, result_type: Any = None
    ) -> WorkflowHandle[Any, Any]:
        """A handle to an existing workflow (its newest run unless ``run_id`` is given).

        ``result_type`` is the type its result is decoded to (and typed as); without it the
        result is plain JSON.
        """
        return WorkflowHandle(self, workflow_id, run_id, result_type)

    def get_workflow_handle_for(
        self, workflow: RunMethod[S, Any, R], workflow_id: str, *, run_id: str | None = None
    ) -> WorkflowHandle[S, R]:
        """A typed handle to an existing run of a class workflow: ``get_workflow_handle_for(GreetingWorkflow.run,
        "greeting-1")`` has the class's signals and the run method's result type."""
        d = get_definition(workflow)
        return WorkflowHandle(self, workflow_id, run_id, d.result_type)

    # --- listing --------------------------------------------------------------------------------------

    async def list_workflows(
        self,
        *,
        status: WorkflowStatus | str | None = None,
        workflow_type: str | None = None,
        workflow_id_prefix: str | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> WorkflowPage:
        """One page of runs, newest first."""
        data = await self._call(
            "GET",
            "/workflows",
            params={
                "status": str(status) if status else None,
                "workflow_type": workflow_type,
                "workflow_id_prefix": workflow_id_prefix,
                "limit": limit,
                "page_token": page_token,
            },
        )
        return WorkflowPage(data["executions"], data.get("next_page_token"))

    # --- namespaces -----------------------------------------------------------------------------------

    async def create_namespace(self, name: str, description: str = "") -> dict[str, Any]:
        """Create a namespace; returns it as the server describes it."""
        result: dict[str, Any] = await self.transport.call(
            "POST", "/api/v1/namespaces", body={"name": name, "description": description}
        )
        return result

    async def list_namespaces(self) -> list[dict[str, Any]]:
        """Every namespace on the server."""
        data = await self.transport.call("GET", "/api/v1/namespaces")
        result: list[dict[str, Any]] = data["namespaces"]
        return result
