"""Child workflows and external workflows in workflow code: starting a child, its outcome arriving in
history, and signals and cancellation requests sent to a child or to any other workflow.

Registered with the replay (``_features``): StartChildWorkflowExecutionInitiated,
SignalExternalWorkflowExecutionInitiated and RequestCancelExternalWorkflowExecutionInitiated confirm the
StartChildWorkflow, SignalExternalWorkflow and RequestCancelExternalWorkflow commands;
ChildWorkflowExecutionStarted resolves ``start_child_workflow``; StartChildWorkflowExecutionFailed and the
child's closing events (Completed, Failed, Canceled, Terminated, TimedOut) resolve its result; the
external outcomes (ExternalWorkflowExecutionSignaled, -CancelRequested, and their -Failed) resolve
``signal`` and ``cancel``.

Cancelling the code that waits for a child (its task is cancelled, a ``wait_for`` times out, the workflow
itself is cancelled) asks the child to cancel, as an activity is (``_activities``): a child not yet sent
to the server is never started; one whose start is in flight is asked once history says it started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar, overload

from .._start_options import lifetime_body, start_options_body
from ..api.enums import CommandType, EventType, ParentClosePolicy, WorkflowIDReusePolicy
from ..api.names import MAX_ID_LENGTH
from ..common import TypedSearchAttributes, _to_wire
from ..converter import PayloadError, decode, encode
from ..errors import (
    ApplicationError,
    ChildWorkflowError,
    InvalidArgumentError,
    NondeterminismError,
    WorkflowCodeError,
    exception_from_failure,
)
from ..interceptors import CallKind
from ..options import RetryPolicy, _Keywords
from ._activities import CancellingFuture
from ._definition import get_definition
from ._handlers import SIGNAL, SignalMethod
from ._kinds import CommandEvent, EventHandler, describe_event

if TYPE_CHECKING:
    from ._instance import WorkflowInstance, _Command

__all__ = [
    "COMMAND_EVENTS",
    "EVENTS",
    "ChildWorkflowHandle",
    "ChildWorkflowOptions",
    "ExternalWorkflowHandle",
    "ParentInfo",
    "parent_info",
    "start_child",
]

S = TypeVar("S")
R = TypeVar("R")
A = TypeVar("A")

_CMD_START = CommandType.START_CHILD_WORKFLOW.value
_CMD_SIGNAL = CommandType.SIGNAL_EXTERNAL_WORKFLOW.value
_CMD_CANCEL = CommandType.REQUEST_CANCEL_EXTERNAL_WORKFLOW.value
_EV_COMPLETED = EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED.value

#: How each closing event of a child is told, in a ``ChildWorkflowError``'s message.
_ENDED = {
    EventType.CHILD_WORKFLOW_EXECUTION_FAILED.value: "failed",
    EventType.CHILD_WORKFLOW_EXECUTION_CANCELED.value: "was cancelled",
    EventType.CHILD_WORKFLOW_EXECUTION_TERMINATED.value: "was terminated",
    EventType.CHILD_WORKFLOW_EXECUTION_TIMED_OUT.value: "timed out",
}


class ChildWorkflowOptions(TypedDict, total=False):
    """The keyword options of ``ctx.start_child_workflow`` and ``ctx.execute_child_workflow``."""

    #: The child's workflow id (unique among the namespace's running workflows). Default: made from the
    #: parent's id and run id and the call's place in the code, the same on every replay.
    id: str
    #: The task queue the child's workers poll. Default: the parent's.
    task_queue: str
    #: What happens to the child if it is still running when the parent closes. Default: TERMINATE.
    parent_close_policy: ParentClosePolicy
    # --- the child's own start options, as a client's start takes them (``StartWorkflowOptions``) ---
    #: How long the whole child may take, across its retries and continue-as-new runs: then its open run closes
    #: as TIMED_OUT (the parent's wait raises ``ChildWorkflowError``, cause ``TimeoutError``). None: no limit.
    execution_timeout: timedelta | None
    #: How long one run of the child may take: then it closes as TIMED_OUT (and is retried if ``retry_policy``
    #: says so).
    run_timeout: timedelta | None
    #: How long a worker has to complete each workflow task of the child (1 to 120 s; default the server's, 10 s).
    task_timeout: timedelta | None
    #: Retry the child: a run that fails (or times out by ``run_timeout``) is followed, after the policy's
    #: backoff, by a new run of the same id and input; the parent hears only how the last one ends. None: no
    #: retries.
    retry_policy: RetryPolicy | None
    #: May the child start when a closed workflow has its id (default ALLOW_DUPLICATE)? Refused, the start
    #: raises ``ChildWorkflowError`` (cause type ``WorkflowExecutionAlreadyStarted``).
    id_reuse_policy: WorkflowIDReusePolicy | None
    #: Information about the child (JSON values, or what the converter encodes), shown by its ``describe``.
    memo: Mapping[str, Any] | None
    #: The child's search attributes (``mainspring.common.TypedSearchAttributes``, or a mapping of name to
    #: value), each registered in the namespace: list filters select it by them. One unknown or of another type
    #: fails the workflow task, naming it.
    search_attributes: TypedSearchAttributes | Mapping[str, Any] | None


_KEYWORDS = _Keywords("start_child_workflow", ChildWorkflowOptions)


@dataclass(frozen=True)
class ParentInfo:
    """The workflow that started this one as its child (``ctx.info.parent``; Temporal's ``ParentInfo``)."""

    #: Its namespace (a child runs in its parent's).
    namespace: str
    #: Its workflow id.
    workflow_id: str
    #: The run that started this child.
    run_id: str


def parent_info(started: dict[str, Any], namespace: str) -> ParentInfo | None:
    """The run's parent, from its WorkflowExecutionStarted event (its ``parent_*`` attributes); None for a run
    started by a client."""
    attrs = started.get("attributes") or {}
    workflow_id, run_id = attrs.get("parent_workflow_id"), attrs.get("parent_run_id")
    if not workflow_id or not run_id:
        return None
    return ParentInfo(namespace=namespace, workflow_id=workflow_id, run_id=run_id)


def _settle(fut: asyncio.Future[Any], err: BaseException) -> None:
    """Fail ``fut`` without asyncio reporting it if no one awaits it (the loop would take the report, made
    whenever the future is collected, for an error of the workflow's code)."""
    if not fut.done():
        fut.set_exception(err)
        fut._log_traceback = False


class _Child:
    """A child workflow the code started, until history closes it."""

    __slots__ = (
        "cancel_sent",
        "cancel_wanted",
        "closed",
        "command",
        "handle",
        "initiated_event_id",
        "result",
        "result_type",
        "run_id",
        "started",
        "workflow_id",
        "workflow_type",
    )

    def __init__(self, workflow_id: str, workflow_type: str, result_type: Any) -> None:
        self.workflow_id = workflow_id
        self.workflow_type = workflow_type
        self.result_type = result_type
        self.command: _Command | None = None
        self.initiated_event_id = 0
        self.run_id: str | None = None
        self.closed = False
        #: The code stopped waiting before history said the child started: ask it to cancel once it has.
        self.cancel_wanted = False
        self.cancel_sent = False
        self.started: asyncio.Future[Any]
        self.result: asyncio.Future[Any]
        self.handle: ChildWorkflowHandle[Any, Any]


class _External:
    """A signal or cancellation request sent to another workflow, until history says how it went."""

    __slots__ = ("future", "what")

    def __init__(self, what: str, future: asyncio.Future[None] | None) -> None:
        self.what = what
        #: None for a request no code waits for (a child's cancellation when its waiter was cancelled).
        self.future = future


# --- the handles ---------------------------------------------------------------------------------------------


def _signal_command(
    inst: WorkflowInstance, workflow_id: str, run_id: str | None, signal: Any, arg: Any, *, child: bool = False
) -> asyncio.Future[None]:
    if isinstance(signal, str):
        name, takes_input = signal, True
    else:
        from ._handlers import handler_of

        h = handler_of(signal, SIGNAL)
        if h is None or h.name is None:
            what = getattr(signal, "__qualname__", repr(signal))
            raise TypeError(f"{what} is not a signal handler of a @workflow.defn class: pass one, or the signal's name")
        name, takes_input = h.name, h.takes_input
    try:
        payload = encode(arg) if takes_input else None
    except PayloadError as e:
        raise InvalidArgumentError(f"the payload of signal {name!r} cannot be sent: {e}") from None
    fut: asyncio.Future[None] = inst.create_future()
    body = {"type": _CMD_SIGNAL, "workflow_id": workflow_id, "run_id": run_id, "signal_name": name, "input": payload}
    _add_external(inst, body, (_CMD_SIGNAL, workflow_id, name), _External(f"signal {name!r} to {workflow_id!r}", fut))
    if inst.interceptors:
        kind = CallKind.SIGNAL_CHILD_WORKFLOW if child else CallKind.SIGNAL_EXTERNAL_WORKFLOW
        inst.note_call(kind, name, None, body, {"target_workflow_id": workflow_id})
    return fut


def _cancel_command(
    inst: WorkflowInstance, workflow_id: str, run_id: str | None, *, wait: bool
) -> asyncio.Future[None] | None:
    fut: asyncio.Future[None] | None = inst.create_future() if wait else None
    body = {"type": _CMD_CANCEL, "workflow_id": workflow_id, "run_id": run_id, "reason": ""}
    _add_external(inst, body, (_CMD_CANCEL, workflow_id), _External(f"cancellation of {workflow_id!r}", fut))
    return fut


def _add_external(inst: WorkflowInstance, body: dict[str, Any], key: tuple[str, ...], op: _External) -> None:
    def bind(event_id: int) -> None:
        inst._externals[event_id] = op

    inst._add_command(body, key, bind)


class ExternalWorkflowHandle(Generic[S]):
    """Another workflow, by id (``ctx.get_external_workflow_handle``): signal it, ask it to cancel.

    Typed by its class when made with ``ctx.get_external_workflow_handle_for(Cls.run, id)``: ``signal``
    then takes that class's signal methods, with their payload types.
    """

    def __init__(self, instance: WorkflowInstance, workflow_id: str, run_id: str | None) -> None:
        self._instance = instance
        #: The workflow's id.
        self.id = workflow_id
        #: The run addressed; None means the newest run of the id.
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"ExternalWorkflowHandle(id={self.id!r}, run_id={self.run_id!r})"

    @overload
    async def signal(self, signal: SignalMethod[S, []], /) -> None: ...

    @overload
    async def signal(self, signal: SignalMethod[S, [A]], arg: A, /) -> None: ...

    @overload
    async def signal(self, signal: str, arg: Any = ..., /) -> None: ...

    async def signal(self, signal: Any, arg: Any = None, /) -> None:
        """Signal the workflow: returns once the signal is recorded in its history. Raises
        ``ApplicationError`` (type ``SignalExternalWorkflowFailed``) if it could not be: no such running
        workflow, or a payload that does not fit its handler."""
        self._instance.context._check_loop()
        await _signal_command(self._instance, self.id, self.run_id, signal, arg)

    async def cancel(self) -> None:
        """Ask the workflow to cancel: returns once the request is recorded in its history (its code decides
        how to end). Raises ``ApplicationError`` (type ``RequestCancelExternalWorkflowFailed``) if there is no
        such running workflow."""
        self._instance.context._check_loop()
        fut = _cancel_command(self._instance, self.id, self.run_id, wait=True)
        assert fut is not None
        await fut


class ChildWorkflowHandle(Generic[S, R]):
    """A child workflow that started (``ctx.start_child_workflow``): await it (or ``result()``) for its
    result, ``signal`` it, ``cancel`` it. Typed by the child's class (``Any`` for a function workflow) and
    its result."""

    def __init__(self, instance: WorkflowInstance, child: _Child) -> None:
        self._instance = instance
        self._child = child

    def __repr__(self) -> str:
        return f"ChildWorkflowHandle(id={self.id!r}, run_id={self.run_id!r})"

    @property
    def id(self) -> str:
        """The child's workflow id."""
        return self._child.workflow_id

    @property
    def run_id(self) -> str | None:
        """The child's run id (set once it started)."""
        return self._child.run_id

    @property
    def first_execution_run_id(self) -> str | None:
        """The run id the child started with (Temporal's name; the same as ``run_id``)."""
        return self._child.run_id

    async def result(self) -> R:
        """Wait for the child to close; its result. Raises ``ChildWorkflowError`` (``cause``: why) if it did
        not complete. Cancelling the code that waits asks the child to cancel."""
        value: R = await self._child.result
        return value

    def __await__(self) -> Generator[Any, None, R]:
        return self.result().__await__()

    @overload
    async def signal(self, signal: SignalMethod[S, []], /) -> None: ...

    @overload
    async def signal(self, signal: SignalMethod[S, [A]], arg: A, /) -> None: ...

    @overload
    async def signal(self, signal: str, arg: Any = ..., /) -> None: ...

    async def signal(self, signal: Any, arg: Any = None, /) -> None:
        """Signal the child: returns once the signal is recorded in its history (see
        ``ExternalWorkflowHandle.signal``)."""
        self._instance.context._check_loop()
        await _signal_command(self._instance, self.id, self.run_id, signal, arg, child=True)

    def cancel(self) -> asyncio.Future[None]:
        """Ask the child to cancel. The request goes out with this workflow task whether or not the answer
        is awaited (``child_handle.cancel()``, as with Temporal's handle); awaiting it returns once the
        request is recorded in the child's history (an ``ApplicationError`` if the child had closed). Its
        result then raises ``ChildWorkflowError`` with a ``CancelledError`` cause if it ends cancelled."""
        self._instance.context._check_loop()
        fut = _cancel_command(self._instance, self.id, self.run_id, wait=True)
        assert fut is not None
        return fut


# --- starting a child ----------------------------------------------------------------------------------------


def start_child(
    inst: WorkflowInstance,
    workflow: Any,
    arg: Any,
    result_type: Any,
    options: dict[str, Any],
    *,
    started_awaited: bool = True,
) -> asyncio.Future[Any]:
    """Issue a StartChildWorkflow command; the future resolves with the child's handle once history says
    it started (and fails with ``ChildWorkflowError`` if it could not). ``started_awaited`` False: the code
    goes straight on to await the result (``execute_child_workflow``), so the server need not run a workflow
    task just to show the start (the command's ``started_awaited``)."""
    _KEYWORDS.check(options, message_prefix="start_child_workflow: ")
    if isinstance(workflow, str):
        name, takes_input, rtype = workflow, arg is not None, result_type
    else:
        d = get_definition(workflow)
        name, takes_input, rtype = d.name, d.takes_input, d.result_type if result_type is None else result_type
    info = inst.info
    seq = inst._next_seq()
    workflow_id = options.get("id")
    if workflow_id is None:
        suffix = f"/child-{seq}-{info.run_id[-8:]}"
        workflow_id = info.workflow_id[: MAX_ID_LENGTH - len(suffix)] + suffix
    policy = options.get("parent_close_policy", ParentClosePolicy.TERMINATE)
    try:
        # The child's own start options, checked as a client's start checks them (ValueError naming the option).
        start_options = {**lifetime_body(options), **start_options_body(options)}
    except ValueError as e:
        raise ValueError(f"start_child_workflow: {e}") from None
    try:
        payload = encode(arg) if takes_input else None
    except PayloadError as e:
        raise InvalidArgumentError(f"the input of child workflow {name!r} cannot be sent: {e}") from None
    child = _Child(workflow_id, name, rtype)
    child.started = CancellingFuture(inst, lambda: _stop_waiting(inst, child))
    child.result = CancellingFuture(inst, lambda: _stop_waiting(inst, child))
    child.handle = ChildWorkflowHandle(inst, child)
    body: dict[str, Any] = {
        "type": _CMD_START,
        "workflow_id": workflow_id,
        "workflow_type": name,
        "task_queue": options.get("task_queue"),
        "input": payload,
        "parent_close_policy": policy.value,
        **start_options,
    }
    if options.get("search_attributes") is not None:
        body["search_attributes"] = _to_wire(options["search_attributes"], "start_child_workflow: search_attributes")
    if not started_awaited:
        body["started_awaited"] = False

    def bind(event_id: int) -> None:
        child.initiated_event_id = event_id
        inst._children[event_id] = child

    child.command = inst._add_command(body, (_CMD_START, name, workflow_id), bind)
    if inst.interceptors:
        inst.note_call(CallKind.START_CHILD_WORKFLOW, name, None, body)
    return child.started


def _stop_waiting(inst: WorkflowInstance, child: _Child) -> None:
    """The code stopped waiting for the child (to start, or for its result): ask it to cancel."""
    if child.closed or child.cancel_sent:
        return
    if child.command is not None and child.command in inst._pending and not child.initiated_event_id:
        # Started and cancelled within the same workflow task: it is never sent.
        inst._pending.remove(child.command)
        child.closed = True
        for fut in (child.started, child.result):
            if not fut.done():
                fut.cancel()
        return
    if not child.initiated_event_id:
        return  # dropped because the workflow had already closed
    if child.run_id is None:
        child.cancel_wanted = True  # asked once history says it started (``_started``)
        return
    child.cancel_sent = True
    _cancel_command(inst, child.workflow_id, child.run_id, wait=False)


# --- history -------------------------------------------------------------------------------------------------


def _child_of(inst: WorkflowInstance, ev: dict[str, Any]) -> _Child:
    child = inst._children.get(ev["attributes"]["initiated_event_id"])
    if child is None:
        raise NondeterminismError(
            f"{inst._where()}: history {describe_event(ev)} is about child workflow event "
            f"{ev['attributes']['initiated_event_id']}, which the workflow code did not start. {inst._hint()}"
        )
    return child


def _started(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    child = _child_of(inst, ev)
    child.run_id = ev["attributes"].get("run_id")
    if not child.started.done():
        child.started.set_result(child.handle)
    if child.cancel_wanted and not child.cancel_sent and not child.closed:
        child.cancel_sent = True
        _cancel_command(inst, child.workflow_id, child.run_id, wait=False)


def _start_failed(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    child = _child_of(inst, ev)
    inst._children.pop(child.initiated_event_id, None)
    child.closed = True
    attrs = ev["attributes"]
    cause_type = str(attrs.get("cause") or "StartChildWorkflowFailed")
    cause = ApplicationError(str(attrs.get("message") or cause_type), type=cause_type, non_retryable=True)
    err = ChildWorkflowError(
        f"child workflow {child.workflow_type!r} (id {child.workflow_id!r}) could not be started: {cause.message}",
        workflow_id=child.workflow_id,
        run_id=None,
        workflow_type=child.workflow_type,
        cause=cause,
    )
    _settle(child.started, err)
    _settle(child.result, err)


def _closed(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    child = _child_of(inst, ev)
    inst._children.pop(child.initiated_event_id, None)
    child.closed = True
    attrs = ev["attributes"]
    if child.run_id is None:
        child.run_id = attrs.get("run_id")
    if not child.started.done():
        child.started.set_result(child.handle)
    fut = child.result
    if fut.done():
        return  # the code stopped waiting for it
    if ev["event_type"] == _EV_COMPLETED:
        try:
            fut.set_result(decode(attrs.get("result"), child.result_type))
        except PayloadError as e:
            _settle(
                fut,
                WorkflowCodeError(
                    f"the result of child workflow {child.workflow_type!r} does not fit its declared return type: {e}"
                ),
            )
        return
    # The child's own exception class when this worker has it (``exception_from_failure``), as for activities.
    cause = exception_from_failure(attrs.get("failure") or {"message": "the child workflow did not complete"})
    _settle(
        fut,
        ChildWorkflowError(
            f"child workflow {child.workflow_type!r} (id {child.workflow_id!r}) {_ENDED[ev['event_type']]}: "
            f"{getattr(cause, 'message', None) or cause}",
            workflow_id=child.workflow_id,
            run_id=child.run_id,
            workflow_type=child.workflow_type,
            cause=cause,
        ),
    )


def _external_done(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    attrs = ev["attributes"]
    op = inst._externals.pop(attrs["initiated_event_id"], None)
    if op is None or op.future is None or op.future.done():
        return
    problem = attrs.get("cause")
    if ev["event_type"] in _EXTERNAL_FAILED:
        _settle(
            op.future,
            ApplicationError(
                f"the {op.what} could not be delivered: {problem}", type=_EXTERNAL_FAILED[ev["event_type"]]
            ),
        )
    else:
        op.future.set_result(None)


_EXTERNAL_FAILED = {
    EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED.value: "SignalExternalWorkflowFailed",
    EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED.value: "RequestCancelExternalWorkflowFailed",
}


EVENTS: dict[str, EventHandler] = {
    EventType.CHILD_WORKFLOW_EXECUTION_STARTED.value: _started,
    EventType.START_CHILD_WORKFLOW_EXECUTION_FAILED.value: _start_failed,
    EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED.value: _closed,
    EventType.CHILD_WORKFLOW_EXECUTION_FAILED.value: _closed,
    EventType.CHILD_WORKFLOW_EXECUTION_CANCELED.value: _closed,
    EventType.CHILD_WORKFLOW_EXECUTION_TERMINATED.value: _closed,
    EventType.CHILD_WORKFLOW_EXECUTION_TIMED_OUT.value: _closed,
    EventType.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED.value: _external_done,
    EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED.value: _external_done,
    EventType.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED.value: _external_done,
    EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED.value: _external_done,
}

COMMAND_EVENTS = (
    CommandEvent(
        EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED.value,
        _CMD_START,
        lambda attrs: (_CMD_START, attrs["workflow_type"], attrs["workflow_id"]),
    ),
    CommandEvent(
        EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED.value,
        _CMD_SIGNAL,
        lambda attrs: (_CMD_SIGNAL, attrs["workflow_id"], attrs["signal_name"]),
    ),
    CommandEvent(
        EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED.value,
        _CMD_CANCEL,
        lambda attrs: (_CMD_CANCEL, attrs["workflow_id"]),
    ),
)
