"""A handle to one workflow: its result, its messages (signals, queries, updates), its state and history."""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from ..api.enums import VersioningBehavior, WorkflowStatus
from ..common import TypedSearchAttributes, _from_wire
from ..converter import PayloadError, decode, encode
from ..errors import (
    InvalidArgumentError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    failure_from_dict,
)
from ..errors import TimeoutError as FailureTimeoutError
from ..interceptors import Call, CallKind
from ._intercepting import intercepted
from ._retry import retrying as _retrying
from ._updates import WorkflowUpdateHandle, WorkflowUpdateStage, outcome, wait_for

if TYPE_CHECKING:
    from ..workflow._handlers import QueryMethod, SignalMethod, UpdateMethod
    from ._client import Client

__all__ = ["WorkflowDescription", "WorkflowHandle", "WorkflowPage", "message_name"]

log = logging.getLogger("mainspring.client")

A = TypeVar("A")
R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")
#: An update's result (R is the workflow's, on a handle).
U = TypeVar("U")
#: A query's answer.
Q = TypeVar("Q")


def message_name(message: Any, kind: str) -> tuple[str, bool]:
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
    #: The run this one continued (continue-as-new) or retried, if any.
    previous_run_id: str | None = None
    #: The run that continued or retried this one once it closed, if any.
    next_run_id: str | None = None
    # --- what the run was started with (start options) ---
    #: Its memo (plain JSON): the one it was started with, as its workflow code upserted it (``ctx.upsert_memo``).
    memo: dict[str, Any] | None = None
    #: Its custom search attributes, typed (``typed_search_attributes[SearchAttributeKey.for_keyword("X")]``).
    typed_search_attributes: TypedSearchAttributes = field(default_factory=TypedSearchAttributes)
    #: The same as name -> plain JSON value (a Datetime as RFC 3339 text).
    search_attributes: dict[str, Any] = field(default_factory=dict)
    #: How long its first workflow task waited (or waits) after the start, if it was started with a delay.
    start_delay: timedelta | None = None
    #: When its first workflow task is (or was) dispatched, if it was started with a delay.
    execution_time: datetime | None = None
    # --- builds (``Worker(build_id=...)``) ---
    #: The build of the worker that ran its first workflow task (None: no worker with a build ran it).
    build_id: str | None = None
    #: The build that ran its latest workflow task (the same as ``build_id`` for a pinned run).
    current_build_id: str | None = None
    #: PINNED or AUTO_UPGRADE, for a run a worker with a build ran.
    versioning_behavior: VersioningBehavior | None = None

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
            previous_run_id=data.get("previous_run_id"),
            next_run_id=data.get("next_run_id"),
            memo=data.get("memo"),
            typed_search_attributes=_from_wire(data.get("search_attributes")),
            search_attributes={k: v.get("value") for k, v in (data.get("search_attributes") or {}).items()},
            start_delay=timedelta(seconds=data["start_delay"]) if data.get("start_delay") else None,
            execution_time=_time(data.get("execution_time")),
            build_id=data.get("build_id"),
            current_build_id=data.get("current_build_id"),
            versioning_behavior=VersioningBehavior(data["versioning_behavior"])
            if data.get("versioning_behavior")
            else None,
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

    def __init__(
        self,
        client: Client,
        workflow_id: str,
        run_id: str | None,
        result_type: Any = None,
        *,
        first_execution_run_id: str | None = None,
    ) -> None:
        self.client = client
        self.workflow_id = workflow_id
        #: The run this handle follows; None means the newest run of the workflow id.
        self.run_id = run_id
        #: The run this handle's start made (a handle from ``start_workflow``), else None. Such a handle
        #: follows the chain that run begins, as Temporal's does: signals, queries and updates go to the
        #: workflow id's current run (the run it continued as, say), cancel and terminate to the chain's last
        #: run, ``result()`` to the chain's end. ``describe`` and ``fetch_history`` read ``run_id``.
        self.first_execution_run_id = first_execution_run_id
        self._result_type = result_type
        #: What the server warned about when this handle's start was made (e.g. no worker polling the
        #: task queue runs the workflow's type: a typo?), or None. Also logged, at WARNING.
        self.start_warning: str | None = None
        #: The run whose outcome ``result()`` returned or raised: the last of the chain the run it follows
        #: started (continue-as-new, retries); None until then.
        self.result_run_id: str | None = None

    def __repr__(self) -> str:
        return f"WorkflowHandle(workflow_id={self.workflow_id!r}, run_id={self.run_id!r})"

    @property
    def id(self) -> str:
        """The workflow id (Temporal's name for ``workflow_id``)."""
        return self.workflow_id

    @property
    def _message_run_id(self) -> str | None:
        """The run signals, queries and updates address: the current one for a handle that follows a chain."""
        return None if self.first_execution_run_id is not None else self.run_id

    async def _on_chain(self, call: Callable[[str | None], Awaitable[T]]) -> T:
        """``call(run_id)`` on the handle's run; for a handle that follows a chain, on the run that run continued
        as (or was retried as) if it has closed so: each hop is the closed run's ``next_run_id``."""
        run_id = self.run_id
        while True:
            try:
                return await call(run_id)
            except InvalidArgumentError as e:
                if self.first_execution_run_id is None or e.code != "not_running" or run_id is None:
                    raise
                closed = await self.client.get_workflow_handle(self.workflow_id, run_id=run_id).describe()
                if closed.next_run_id is None:
                    raise
                run_id = closed.next_run_id

    async def _ask_result(self, query: dict[str, Any], wait: float) -> Any:
        data = await self.client._channel_call("wait_result", query, wait + 10)
        if data is NotImplemented:
            data = await self.client._call("GET", "/workflows/result", params=query, timeout=wait + 10)
        return data

    async def result(self, *, timeout: float | None = None) -> R:
        """Wait for the run to close and return its result.

        Raises ``WorkflowFailureError`` (with the recorded failure as ``cause``) if it did not complete,
        ``mainspring.TimeoutError`` (``timeout_type`` ``RESULT``; also a builtin ``TimeoutError``) if
        ``timeout`` seconds pass first, and ``mainspring.converter.PayloadError`` (naming the field) if
        the result does not fit the handle's result type. While it waits on a run whose
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
        run_id = self.run_id
        while True:
            wait = 30.0 if deadline is None else max(0.0, min(30.0, deadline - time.monotonic()))
            query = {"workflow_id": self.workflow_id, "run_id": run_id, "wait": wait}
            data = await _retrying(functools.partial(self._ask_result, query, wait))
            # The server follows the run's chain (continue-as-new, retries): ask on from the run it got to.
            run_id = data.get("run_id") or run_id
            status = WorkflowStatus(data["status"])
            if status is not WorkflowStatus.RUNNING:
                self.result_run_id = run_id
            if status is WorkflowStatus.COMPLETED:
                try:
                    value: R = decode(data.get("result"), self._result_type)
                except PayloadError as e:
                    # Not an RPCError: the server answered; the result and the caller's type disagree.
                    raise PayloadError(
                        f"the result of workflow {self.workflow_id!r} does not fit the expected type: {e}"
                    ) from None
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
                raise FailureTimeoutError(
                    f"workflow {self.workflow_id!r} did not close within {timeout}s", timeout_type="RESULT"
                )

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
        name, takes_input = message_name(signal, "signal")
        try:
            payload = encode(arg) if takes_input else None
        except PayloadError as e:
            raise InvalidArgumentError(f"the payload of signal {name!r} cannot be sent: {e}") from None
        body = {
            "workflow_id": self.workflow_id,
            "run_id": self._message_run_id,
            "signal_name": name,
            "input": payload,
            "request_id": request_id or str(uuid.uuid4()),
        }

        async def send() -> Any:
            data = await self.client._channel_call("signal_workflow", body, self.client.transport.timeout)
            if data is NotImplemented:
                data = await self.client._call("POST", "/workflows/signal", body=body)
            return data

        interceptors = self.client.interceptors
        if interceptors:
            call = Call(CallKind.SIGNAL_WORKFLOW, name, self.workflow_id, self._message_run_id)
            data = await intercepted(interceptors, call, body, lambda: _retrying(send))
        else:
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
        name, takes_input = message_name(update, "update")
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
            "run_id": self._message_run_id,
            "update_id": update_id,
            "name": name,
            "input": payload,
        }
        handle: WorkflowUpdateHandle[Any] = WorkflowUpdateHandle(
            self.client, self.workflow_id, self._message_run_id, update_id, result_type, request=request
        )
        timeout = None if rpc_timeout is None else rpc_timeout.total_seconds()
        stage = WorkflowUpdateStage(wait_for_stage)
        interceptors = self.client.interceptors
        if interceptors:  # their header goes in ``request``, which the handle sends
            call = Call(
                CallKind.START_WORKFLOW_UPDATE,
                name,
                self.workflow_id,
                self._message_run_id,
                extra={"update_id": update_id},
            )
            answer = await intercepted(interceptors, call, request, lambda: wait_for(handle, stage, timeout))
        else:
            answer = await wait_for(handle, stage, timeout)
        if answer.get("rejected"):
            outcome(answer, result_type)  # raises: a rejected update has no result
        return handle

    def get_update_handle(self, update_id: str, *, result_type: Any = None) -> WorkflowUpdateHandle[Any]:
        """A handle to an update sent earlier (by any client), by its id: ``await h.result()`` waits for its
        outcome, also after a server restart."""
        return WorkflowUpdateHandle(self.client, self.workflow_id, self._message_run_id, update_id, result_type)

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
        name, takes_input = message_name(query, "query")
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
            "run_id": self._message_run_id,
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
            interceptors = self.client.interceptors
            if interceptors:
                call = Call(CallKind.QUERY_WORKFLOW, name, self.workflow_id, self._message_run_id)
                data = await intercepted(interceptors, call, body, lambda: _retrying(send))
            else:
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

        async def call(run_id: str | None) -> Any:
            body = {"workflow_id": self.workflow_id, "run_id": run_id, "reason": reason}
            return await self.client._call("POST", "/workflows/cancel", body=body)

        data = await self._on_chain(call)
        return not data.get("already_requested", False)

    async def terminate(self, *, reason: str = "") -> None:
        """End the run at once, as TERMINATED: none of its code runs any more; pending work is dropped.

        Raises ``InvalidArgumentError`` if the run is not running, ``NotFoundError`` if there is no such run.
        """

        async def call(run_id: str | None) -> Any:
            body = {"workflow_id": self.workflow_id, "run_id": run_id, "reason": reason}
            return await self.client._call("POST", "/workflows/terminate", body=body)

        await self._on_chain(call)

    async def delete(self, *, reason: str = "") -> bool:
        """Delete the run with its history and pending work (a running one is terminated first, with ``reason``);
        returns True if it was running. Afterwards ``describe`` raises ``NotFoundError``.

        Raises ``NotFoundError`` if there is no such run.
        """
        body = {"workflow_id": self.workflow_id, "run_id": self.run_id, "reason": reason}
        data = await self.client._call("POST", "/workflows/delete", body=body)
        return bool(data.get("terminated"))

    async def reset(
        self,
        *,
        event_id: int | None = None,
        reset_type: Literal["FirstWorkflowTask", "LastWorkflowTask"] | None = None,
        reason: str = "",
        reapply_exclude: Sequence[Literal["All", "Signal", "Update"]] = (),
    ) -> str:
        """Make a new run of this workflow id from a workflow task of this run (``event_id``: its
        WorkflowTaskCompleted event, or ``reset_type``), so that the code after it runs again; this run is
        terminated if still running. Returns the new run's id. Signals received after that point are
        reapplied unless ``reapply_exclude`` says ``"Signal"`` (or ``"All"``), and updates accepted after it are
        sent to the new run again under their ids unless it says ``"Update"`` (or ``"All"``): their handlers run
        again, and ``get_update_handle(id).result()`` on a handle that follows the workflow id (one without a
        run id, or the start's) gets the new run's outcome.

        Raises ``InvalidArgumentError`` (its details list the valid event ids) if the point is not a workflow
        task of the run, or one a reset cannot go back to; ``NotFoundError`` if there is no such run.
        """
        body: dict[str, Any] = {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "reason": reason,
            "reapply_exclude": list(reapply_exclude),
            "event_id": event_id,
            "reset_type": reset_type,
        }
        data = await self.client._call("POST", "/workflows/reset", body=body)
        return str(data["run_id"])

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
