"""Child workflows, and signals and cancellation requests sent to other workflows (external workflows).

A parent's StartChildWorkflow command becomes StartChildWorkflowExecutionInitiated and a child item
(``_state.ChildItem``, kind "c"). Once that is durable the child's run is created (``Engine._start``, with a
request id made of the parent's run id and the Initiated event id, so that making it again after a crash
finds the same run), with the start options the command gave (timeouts, retry policy, id reuse policy, memo,
search attributes, task timeout: recorded in the Initiated event, so a start made again after a crash has
them), linked to its parent: the ``parent_*`` attributes of its start event, and its parent
item (kind "p"). The parent then records ChildWorkflowExecutionStarted, or StartChildWorkflowExecutionFailed
(the id is taken by a running workflow, the input does not fit), and is woken to see it; but not for Started
when its code only awaits the result (``execute_child_workflow``: the command's ``started_awaited`` is false)
and nothing happened to the parent since the command: that workflow task would only see the child start, and
held the parent's lock just as the child's outcome came (~2 ms of W14's child round trip). When the child
closes, the parent records how (ChildWorkflowExecutionCompleted, -Failed, -Canceled, -Terminated, -TimedOut)
and is woken; when the parent closes, its children still running get its parent close policy (terminated,
asked to cancel, or left alone), through the cancellation feature.

Each of those steps is a transition of its own, made once the one before it is durable: the server can die
between any two. A run taken from the store (``on_rearm``) takes up where it was: a child still INITIATED is
started again (the run made before the crash is found by its request id, even if it has closed since), a
RUNNING one whose run closed meanwhile has its outcome delivered, a signal or cancellation request in flight
is sent again (with the same request id: recorded once), and a child whose parent closed gets the policy.
A child item's status changes in the commit that records the step, so no step is recorded twice.

SignalExternalWorkflow and RequestCancelExternalWorkflow (``ctx.get_external_workflow_handle``, a child
handle's ``signal`` and ``cancel``) go through the signals and cancellation features:
SignalExternalWorkflowExecutionInitiated, then ExternalWorkflowExecutionSignaled (or
SignalExternalWorkflowExecutionFailed: no such running workflow, a payload that does not fit);
RequestCancelExternalWorkflowExecutionInitiated, then ExternalWorkflowExecutionCancelRequested (or
RequestCancelExternalWorkflowExecutionFailed).

Children and the parent link are kept after the run closes (their rows are written again after the close's
delete of the run's items, ``_keep_links``): ``describe`` lists them from the state, without reading history.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ...api import messages as msg
from ...api import models as m
from ...api.enums import CommandType, EventType, ParentClosePolicy, WorkflowStatus
from ...errors import AlreadyStartedError, InvalidArgumentError, NotFoundError, RPCError
from ...storage import StorageError
from .._execution import outcome_of
from .._state import CHILD, EXTERNAL, PARENT, ChildItem, ExecutionState, ExternalItem, ParentLink
from .continue_as_new import next_run_id
from .kinds import CommandCheck, CommandKind
from .search_attributes import check_attributes

if TYPE_CHECKING:
    from ...storage import ExecutionRecord
    from .._engine import Engine
    from .._execution import Execution
    from .._transition import Transition

__all__ = ["KINDS", "ChildWorkflows"]

log = logging.getLogger("mainspring.server")

#: The event that records how a child closed, by the status it closed with.
_CLOSED_EVENTS = {
    WorkflowStatus.COMPLETED: EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED,
    WorkflowStatus.FAILED: EventType.CHILD_WORKFLOW_EXECUTION_FAILED,
    WorkflowStatus.CANCELED: EventType.CHILD_WORKFLOW_EXECUTION_CANCELED,
    WorkflowStatus.TERMINATED: EventType.CHILD_WORKFLOW_EXECUTION_TERMINATED,
    WorkflowStatus.TIMED_OUT: EventType.CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
}

#: ``describe`` lists at most this many children (the oldest); ``children_count`` says how many there are.
MOST_DESCRIBED = 1000

_INITIATED = "INITIATED"
_RUNNING = "RUNNING"
_START_FAILED = "START_FAILED"


def child_request_id(parent_run_id: str, initiated_event_id: int) -> str:
    """The request id a child's run is created with: the same every time its start is made."""
    return f"child:{parent_run_id}:{initiated_event_id}"


def _external_request_id(source_run_id: str, initiated_event_id: int) -> str:
    return f"external:{source_run_id}:{initiated_event_id}"


# --- the commands --------------------------------------------------------------------------------------------


#: The child's start options: the StartChildWorkflowExecutionInitiated attribute that records each (the names
#: its WorkflowExecutionStarted gives them, and Temporal's for the id reuse policy), by its field of the
#: command and of the child's ``StartWorkflowRequest``.
_OPTION_ATTRIBUTES = {
    "execution_timeout": "execution_timeout",
    "run_timeout": "run_timeout",
    "task_timeout": "workflow_task_timeout",
    "retry_policy": "retry_policy",
    "id_reuse_policy": "workflow_id_reuse_policy",
    "memo": "memo",
    "search_attributes": "search_attributes",  # (as given: the child's start checks and types them)
    "header": "header",  # (``api.headers``: the parent's interceptors', carried to the child's start)
}
_OPTIONS = frozenset(_OPTION_ATTRIBUTES)


def _validate_start(check: CommandCheck, cmd: m.StartChildWorkflowCommand) -> str | None:
    # A child id taken by a running workflow is found when its run is made (StartChildWorkflowExecutionFailed),
    # as in Temporal; here only this task's own commands are compared (O(1) each).
    if not check.claim("child", cmd.workflow_id):
        return f"child workflow id {cmd.workflow_id!r} is used by an earlier command of this workflow task"
    if cmd.memo is not None:
        problem = check.core._payload_problem(f"the memo of child workflow {cmd.workflow_type!r}", cmd.memo)
        if problem:
            return problem
    if cmd.search_attributes:
        problem = check_attributes(check, cmd.search_attributes)
        if problem:
            return f"the search attributes of child workflow {cmd.workflow_type!r}: {problem}"
    return check.core._payload_problem(f"the input of child workflow {cmd.workflow_type!r}", cmd.input)


def _option_attributes(cmd: m.StartChildWorkflowCommand) -> dict[str, Any]:
    """What the Initiated event records of the options the command gives (none for a command without them)."""
    if not cmd.model_fields_set & _OPTIONS:
        return {}
    given = cmd.model_dump(mode="json", include=set(_OPTIONS), exclude_defaults=True)
    return {_OPTION_ATTRIBUTES[name]: value for name, value in given.items()}


def _start_options(initiated: dict[str, Any]) -> dict[str, Any]:
    """The child's start options (``StartWorkflowRequest`` fields), from its Initiated event's attributes."""
    return {name: initiated[key] for name, key in _OPTION_ATTRIBUTES.items() if initiated.get(key) is not None}


def _apply_start(t: Transition, cmd: m.StartChildWorkflowCommand, completed_id: int) -> None:
    ex = t.ex
    rec = ex.record
    task_queue = cmd.task_queue or rec.task_queue
    attrs = {
        "workflow_id": cmd.workflow_id,
        "workflow_type": cmd.workflow_type,
        "task_queue": task_queue,
        "input": cmd.input,
        "parent_close_policy": cmd.parent_close_policy.value,
        "workflow_task_completed_event_id": completed_id,
        **_option_attributes(cmd),
    }
    e = t.append(EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED, attrs)
    item = ChildItem(e.event_id, cmd.workflow_id, cmd.workflow_type, task_queue, cmd.parent_close_policy.value)
    ex.state.children[e.event_id] = item
    ex.state.dirty.add((CHILD, str(e.event_id)))
    children = t.core.feature(ChildWorkflows)
    t.then(children.start_later, ex, item, attrs, cmd.started_awaited)


def _validate_signal(check: CommandCheck, cmd: m.SignalExternalWorkflowCommand) -> str | None:
    return check.core._payload_problem(f"the payload of signal {cmd.signal_name!r}", cmd.input)


def _apply_signal(t: Transition, cmd: m.SignalExternalWorkflowCommand, completed_id: int) -> None:
    attrs: dict[str, Any] = {
        "workflow_id": cmd.workflow_id,
        "run_id": cmd.run_id,
        "signal_name": cmd.signal_name,
        "input": cmd.input,
        "workflow_task_completed_event_id": completed_id,
    }
    if cmd.header is not None:  # (kept in the event: a send taken up after a restart reads it from there)
        attrs["header"] = cmd.header
    e = t.append(EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, attrs)
    item = ExternalItem(e.event_id, "signal", cmd.workflow_id, cmd.run_id)
    _external(t, item, cmd.signal_name, cmd.input, cmd.header)


def _validate_cancel(check: CommandCheck, cmd: m.RequestCancelExternalWorkflowCommand) -> str | None:
    return None


def _apply_cancel(t: Transition, cmd: m.RequestCancelExternalWorkflowCommand, completed_id: int) -> None:
    e = t.append(
        EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        {
            "workflow_id": cmd.workflow_id,
            "run_id": cmd.run_id,
            "reason": cmd.reason,
            "workflow_task_completed_event_id": completed_id,
        },
    )
    _external(t, ExternalItem(e.event_id, "cancel", cmd.workflow_id, cmd.run_id), cmd.reason, None)


def _external(t: Transition, item: ExternalItem, name: str, payload: Any, header: dict[str, Any] | None = None) -> None:
    ex = t.ex
    rec = ex.record
    ex.state.externals[item.initiated_event_id] = item
    ex.state.dirty.add((EXTERNAL, str(item.initiated_event_id)))
    children = t.core.feature(ChildWorkflows)
    t.then(children.go, children.send_external, rec.namespace, rec.workflow_id, rec.run_id, item, name, payload, header)


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(CommandType.START_CHILD_WORKFLOW, m.StartChildWorkflowCommand, _validate_start, _apply_start),
    CommandKind(CommandType.SIGNAL_EXTERNAL_WORKFLOW, m.SignalExternalWorkflowCommand, _validate_signal, _apply_signal),
    CommandKind(
        CommandType.REQUEST_CANCEL_EXTERNAL_WORKFLOW,
        m.RequestCancelExternalWorkflowCommand,
        _validate_cancel,
        _apply_cancel,
    ),
)


# --- the feature ----------------------------------------------------------------------------------------------


class ChildWorkflows:
    """The child-workflow and external-workflow steps of one engine (see the module's docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: Children whose close is being written (their parent is told by ``child_closed``, once it is durable).
        self._closing_runs: set[str] = set()
        engine.features[ChildWorkflows] = self
        engine.on_close(self._closing)
        engine.on_finish(self._keep_links)
        engine.on_rearm(self._rearm)
        engine.on_successor(self._inherit)

    # --- describe -------------------------------------------------------------------------------------------

    @staticmethod
    def relationships(st: ExecutionState) -> dict[str, Any]:
        """The run's parent and children (its first ``MOST_DESCRIBED``), for ``describe``: from its state, no
        history is read."""
        p = st.parent
        children = itertools.islice(st.children.values(), MOST_DESCRIBED)
        return {
            "parent": None
            if p is None
            else {
                "namespace": p.namespace,
                "workflow_id": p.workflow_id,
                "run_id": p.run_id,
                "initiated_event_id": p.initiated_event_id,
            },
            "children": [
                {
                    "workflow_id": c.workflow_id,
                    "run_id": c.run_id,
                    "workflow_type": c.workflow_type,
                    "task_queue": c.task_queue,
                    "initiated_event_id": c.initiated_event_id,
                    "status": c.status,
                    "parent_close_policy": c.parent_close_policy,
                }
                for c in children
            ],
            "children_count": len(st.children),
        }

    # --- running the steps ----------------------------------------------------------------------------------

    def go(self, step: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        """Run ``step(*args)`` on its own (the server waits for it before it closes the store)."""
        self.engine._spawn_behind(self._guarded(step(*args)))

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except (StorageError, RPCError) as e:
            # A write failed: the run it was for is reloaded and re-armed from the store, which takes the
            # step up again (see ``_rearm``).
            self.engine.repeats.error("child workflows", "a child or external workflow step failed: %s", e)
        except Exception:
            log.exception("a child or external workflow step failed")

    async def _in_run(self, run_id: str, change: Callable[[Transition], None]) -> None:
        """``change(t)`` in a transition of run ``run_id`` (nothing if it is not this server's)."""
        engine = self.engine
        ex = await engine._load(run_id)
        if ex is None:
            return
        async with engine.transition(ex) as t:
            change(t)

    async def _retry_pause(self, what: str, attempt: int, e: Exception) -> bool:
        """Wait before trying a step again after the store failed; False if the server is stopping (the
        step is taken up again from the store when it starts)."""
        engine = self.engine
        if engine.stopping:
            return False
        engine.repeats.error("child workflows", "%s failed, will try again: %s", what, e)
        await asyncio.sleep(max(engine.health.delay, min(0.1 * 2**attempt, 5.0)))
        return not engine.stopping

    # --- starting a child -----------------------------------------------------------------------------------

    def start_later(self, ex: Execution, item: ChildItem, initiated: dict[str, Any], started_awaited: bool) -> None:
        """The Initiated event is durable: make the child. If the parent's code only awaits the child's result
        (not ``started_awaited``), its Started event wakes the parent only if the parent changed since now (its
        next event id, taken here, under the lock of the transition that issued the command, says): a task that
        ran meanwhile may have asked to cancel the child once it starts."""
        rec = ex.record
        quiet_at = 0 if started_awaited else rec.next_event_id
        self.go(self.start_child, rec.namespace, rec.workflow_id, rec.run_id, item, initiated, False, quiet_at)

    async def start_child(
        self,
        namespace: str,
        parent_workflow_id: str,
        parent_run_id: str,
        item: ChildItem,
        initiated: dict[str, Any],
        look_first: bool,
        quiet_at: int = 0,
    ) -> None:
        """Make the child's run, with the input and options its Initiated event recorded (``initiated``, its
        attributes; ``look_first``: the run may exist already, from before a crash), then record in the parent
        that it started, or why it could not (``quiet_at``: see ``start_later``)."""
        engine = self.engine
        request_id = child_request_id(parent_run_id, item.initiated_event_id)
        link = ParentLink(
            namespace, parent_workflow_id, parent_run_id, item.initiated_event_id, item.parent_close_policy
        )
        parent = engine._cache.get(parent_run_id)
        if parent is not None and not parent.running:
            # The parent closed before its child was made: there is no one to run it for.
            await self._in_run(
                parent_run_id, lambda t: self._start_failed(t, item, "ParentClosed", "the parent closed")
            )
            return
        attempt = 0
        closed_already = False
        while True:
            try:
                if look_first:
                    found = await engine.store.get_execution(namespace, item.workflow_id)
                    if found is not None and found.request_id == request_id:
                        # Made before a crash (and maybe closed since: then its outcome follows its start).
                        run_id = found.run_id
                        closed_already = found.status is not WorkflowStatus.RUNNING
                        break
                req = m.StartWorkflowRequest(
                    workflow_id=item.workflow_id,
                    workflow_type=item.workflow_type,
                    task_queue=item.task_queue,
                    input=initiated.get("input"),
                    request_id=request_id,
                    **_start_options(initiated),
                )
                run_id, _ = await engine._start(
                    namespace,
                    req,
                    lambda t: _link(t, link),
                    start_attrs={
                        "parent_workflow_id": parent_workflow_id,
                        "parent_run_id": parent_run_id,
                        "parent_initiated_event_id": item.initiated_event_id,
                    },
                )
                break
            except AlreadyStartedError as e:
                cause, message = "WorkflowExecutionAlreadyStarted", e.message
            except InvalidArgumentError as e:
                cause, message = "InvalidInput" if e.code == "invalid_input" else "InvalidArgument", e.message
            except (StorageError, NotFoundError) as e:
                look_first = True  # the write may have been made before it failed
                if not await self._retry_pause(f"starting child workflow {item.workflow_id!r}", attempt, e):
                    return
                attempt += 1
                continue
            await self._in_run(
                parent_run_id, functools.partial(self._start_failed, item=item, cause=cause, message=message)
            )
            return
        started = functools.partial(
            self._started, initiated_event_id=item.initiated_event_id, run_id=run_id, quiet_at=quiet_at
        )
        await self._in_run(parent_run_id, started)
        if closed_already:
            await self._check_child(parent_run_id, item.initiated_event_id, run_id)

    def _started(self, t: Transition, initiated_event_id: int, run_id: str, quiet_at: int = 0) -> None:
        ex = t.ex
        item = ex.state.children.get(initiated_event_id)
        if item is None or item.status != _INITIATED:
            return  # recorded already (a start made again after a crash, or the child closed first)
        if ex.running and run_id in self._closing_runs and self._closing_now(run_id):
            # Its close is being written (its first task ran while its start was): the parent records the start
            # with the outcome, in one write (``child_closed``), instead of a write of its own that the close's
            # write would queue behind. Should the server stop before, the start is recorded again from the
            # store (``_rearm``).
            return
        item.run_id = run_id
        item.status = _RUNNING
        ex.state.dirty.add((CHILD, str(initiated_event_id)))
        if not ex.running:
            # The parent closed while its child was being made: the parent close policy applies now.
            self._apply_later(t, item)
            return
        # Nothing happened to the parent since it issued the command, and its code only awaits the result:
        # the Started event waits for the task that shows the child's outcome (a task already out sees it).
        quiet = quiet_at == ex.record.next_event_id
        t.append(EventType.CHILD_WORKFLOW_EXECUTION_STARTED, _child_attrs(item))
        if not quiet:
            t.wake()

    def _closing_now(self, run_id: str) -> bool:
        """Is the close of child run ``run_id`` being written? (A close whose write failed left a marker behind:
        the run, reloaded from the store, runs again.)"""
        child = self.engine._cache.get(run_id)
        if child is not None and not child.running:
            return True
        self._closing_runs.discard(run_id)
        return False

    def _start_failed(self, t: Transition, item: ChildItem, cause: str, message: str) -> None:
        ex = t.ex
        current = ex.state.children.get(item.initiated_event_id)
        if current is None or current.status != _INITIATED:
            return
        current.status = _START_FAILED
        ex.state.dirty.add((CHILD, str(item.initiated_event_id)))
        if not ex.running:
            return
        t.append(
            EventType.START_CHILD_WORKFLOW_EXECUTION_FAILED,
            {
                "initiated_event_id": item.initiated_event_id,
                "workflow_id": item.workflow_id,
                "workflow_type": item.workflow_type,
                "cause": cause,
                "message": message,
            },
        )
        t.wake()

    # --- a child closes -------------------------------------------------------------------------------------

    def _closing(self, t: Transition) -> None:
        """A run closes: if it is a child, its parent hears how; its own children get their close policy."""
        ex = t.ex
        st = ex.state
        rec = ex.record
        # A run followed by another (continue-as-new; a retry, set up by ``workflow_timeouts`` as the run closes,
        # before this) is not the child's end: the last run of the chain reports it.
        if st.parent is not None and rec.status is not WorkflowStatus.CONTINUED_AS_NEW and ex.follow_on is None:
            result, failure = _outcome(t)
            self._closing_runs.add(rec.run_id)
            t.then(self.go, self.child_closed, st.parent, rec.run_id, rec.status, result, failure)
        for item in st.children.values():
            # A child still being made gets the policy once it exists (``_started``).
            if item.status == _RUNNING:
                self._apply_later(t, item)

    def _apply_later(self, t: Transition, item: ChildItem) -> None:
        if item.parent_close_policy != ParentClosePolicy.ABANDON.value and item.run_id is not None:
            rec = t.ex.record
            policy = item.parent_close_policy
            t.then(self.go, self.apply_policy, rec.namespace, rec.workflow_id, item.workflow_id, item.run_id, policy)

    async def child_closed(
        self, link: ParentLink, run_id: str, status: WorkflowStatus, result: Any, failure: dict[str, Any] | None
    ) -> None:
        """Record in the parent how its child closed, and wake the parent."""
        self._closing_runs.discard(run_id)

        def record(t: Transition) -> None:
            ex = t.ex
            item = ex.state.children.get(link.initiated_event_id)
            if item is None or not item.open:
                return  # recorded already
            if item.status == _INITIATED:  # it closed before its start was recorded
                item.run_id = run_id
                if ex.running:
                    t.append(EventType.CHILD_WORKFLOW_EXECUTION_STARTED, _child_attrs(item))
            item.status = status.value
            ex.state.dirty.add((CHILD, str(link.initiated_event_id)))
            etype = _CLOSED_EVENTS.get(status)
            if not ex.running or etype is None:
                return
            attrs = _child_attrs(item)
            if status is WorkflowStatus.COMPLETED:
                attrs["result"] = result
            else:
                attrs["failure"] = failure or _default_failure(status)
            t.append(etype, attrs)
            t.wake()

        await self._in_run(link.run_id, record)

    async def apply_policy(
        self, namespace: str, parent_workflow_id: str, workflow_id: str, run_id: str, policy: str
    ) -> None:
        """The parent closed: terminate the child, or ask it to cancel (ABANDON: nothing)."""
        cancellation = self.engine.cancellation
        last = await self._chain_end(run_id)  # the child may have continued as new (or been retried) since
        if last is None or last.status is not WorkflowStatus.RUNNING:
            return
        run_id = last.run_id
        reason = f"its parent workflow {parent_workflow_id!r} closed (parent close policy {policy})"
        identity = f"parent {parent_workflow_id}"
        try:
            if policy == ParentClosePolicy.TERMINATE.value:
                req = m.TerminateWorkflowRequest(workflow_id=workflow_id, run_id=run_id, reason=reason)
                await cancellation.terminate(namespace, req, identity)
            elif policy == ParentClosePolicy.REQUEST_CANCEL.value:
                creq = m.CancelWorkflowRequest(workflow_id=workflow_id, run_id=run_id, reason=reason)
                await cancellation.request_cancel(namespace, creq, identity)
        except (InvalidArgumentError, NotFoundError):
            pass  # it closed meanwhile
        else:
            log.info("child workflow %s (run %s): parent close policy %s applied", workflow_id, run_id, policy)

    # --- signals and cancellation requests to other workflows ----------------------------------------------------

    async def send_external(
        self,
        namespace: str,
        workflow_id: str,
        run_id: str,
        item: ExternalItem,
        name: str,
        payload: Any,
        header: dict[str, Any] | None = None,
    ) -> None:
        """Deliver a signal (``name``, ``payload``, ``header``: the sender's, a trace's context) or a
        cancellation request (``name``: its reason) the run ``run_id`` sent, then record in that run how it
        went."""
        engine = self.engine
        request_id = _external_request_id(run_id, item.initiated_event_id)
        identity = f"workflow {workflow_id}"
        problem: str | None = None
        attempt = 0
        while True:
            try:
                if item.op == "signal":
                    sreq = msg.SignalWorkflowRequest(
                        workflow_id=item.workflow_id,
                        run_id=item.run_id,
                        signal_name=name,
                        input=payload,
                        request_id=request_id,
                        header=header,
                    )
                    await engine.signals.signal(namespace, sreq, identity)
                else:
                    creq = m.CancelWorkflowRequest(workflow_id=item.workflow_id, run_id=item.run_id, reason=name)
                    await engine.cancellation.request_cancel(namespace, creq, identity)
                break
            except (InvalidArgumentError, NotFoundError) as e:
                problem = e.message
                break
            except StorageError as e:
                if not await self._retry_pause(f"{item.op} to workflow {item.workflow_id!r}", attempt, e):
                    return
                attempt += 1
        await self._in_run(run_id, lambda t: _external_done(t, item.initiated_event_id, problem))

    # --- what the core calls ----------------------------------------------------------------------------------

    @staticmethod
    def _inherit(t: Transition, nt: Transition, started: dict[str, Any]) -> None:
        """A child's next run (continue-as-new, a retry) is the same child: its parent hears how the last
        run of the chain ends."""
        link = t.ex.state.parent
        if link is not None:
            _link(nt, link)
            started.update(
                parent_workflow_id=link.workflow_id,
                parent_run_id=link.run_id,
                parent_initiated_event_id=link.initiated_event_id,
            )

    @staticmethod
    def _keep_links(t: Transition) -> None:
        """The run closed in this transition: its children and parent link outlive the delete of its items."""
        st = t.ex.state
        if st.cleared and (st.children or st.parent is not None):
            for key in st.children:
                st.dirty.add((CHILD, str(key)))
            if st.parent is not None:
                st.dirty.add((PARENT, "parent"))

    def _rearm(self, rec: ExecutionRecord, st: ExecutionState) -> None:
        """Take up the steps a run taken from the store was in the middle of (see the module's docstring)."""
        for item in st.children.values():
            if item.status == _INITIATED:
                self.go(self._start_again, rec, item)
            elif item.status == _RUNNING and item.run_id is not None:
                self.go(self._check_child, rec.run_id, item.initiated_event_id, item.run_id)
        for ext in st.externals.values():
            self.go(self._send_again, rec, ext)
        if st.parent is not None:
            self.go(self._check_parent, rec, st.parent)

    async def _start_again(self, rec: ExecutionRecord, item: ChildItem) -> None:
        events = await self.engine.store.read_history(rec.run_id, item.initiated_event_id, item.initiated_event_id)
        initiated = events[0].attributes if events else {}
        await self.start_child(rec.namespace, rec.workflow_id, rec.run_id, item, initiated, True)

    async def _check_child(self, parent_run_id: str, initiated_event_id: int, run_id: str) -> None:
        """A child the parent saw start: if its run closed while no one was there to tell the parent, tell it."""
        engine = self.engine
        child = await self._chain_end(run_id)  # as committed
        if child is None or child.status is WorkflowStatus.RUNNING:
            return
        result, failure = await engine._outcome(child, engine._state_of(child) or ExecutionState())
        link = ParentLink(child.namespace, "", parent_run_id, initiated_event_id, "")
        await self.child_closed(link, child.run_id, child.status, result, failure)

    async def _chain_end(self, run_id: str) -> ExecutionRecord | None:
        """The last run of the chain ``run_id`` starts (continue-as-new and retries go on in the runs that follow
        it; each closing event names the next), as committed."""
        rec = await self.engine.store.get_run(run_id)
        while rec is not None and rec.status is not WorkflowStatus.RUNNING:
            nxt = await next_run_id(self.engine, rec)
            if nxt is None:
                break
            rec = await self.engine.store.get_run(nxt)
        return rec

    async def _send_again(self, rec: ExecutionRecord, item: ExternalItem) -> None:
        events = await self.engine.store.read_history(rec.run_id, item.initiated_event_id, item.initiated_event_id)
        attrs = events[0].attributes if events else {}
        header = attrs.get("header")
        if item.op == "signal":
            name, payload = str(attrs.get("signal_name") or ""), attrs.get("input")
        else:
            name, payload = str(attrs.get("reason") or ""), None
        header = header if isinstance(header, dict) else None
        await self.send_external(rec.namespace, rec.workflow_id, rec.run_id, item, name, payload, header)

    async def _check_parent(self, rec: ExecutionRecord, link: ParentLink) -> None:
        """A running child: if its parent closed while no one was there to apply the close policy, apply it."""
        parent = await self.engine.store.get_run(link.run_id)
        if parent is None or parent.status is WorkflowStatus.RUNNING:
            return
        await self.apply_policy(rec.namespace, link.workflow_id, rec.workflow_id, rec.run_id, link.parent_close_policy)


def _link(t: Transition, link: ParentLink) -> None:
    """Give a run being created its parent (written with its creation)."""
    t.ex.state.parent = link
    t.ex.state.dirty.add((PARENT, "parent"))


def _child_attrs(item: ChildItem) -> dict[str, Any]:
    return {
        "initiated_event_id": item.initiated_event_id,
        "workflow_id": item.workflow_id,
        "run_id": item.run_id,
        "workflow_type": item.workflow_type,
    }


def _outcome(t: Transition) -> tuple[Any, dict[str, Any] | None]:
    """(result, failure) of the run closing in ``t``: set by the closing step, else read from its closing event."""
    st = t.ex.state
    if st.outcome is not None:
        return st.outcome
    closing = t.ex.events[-1] if t.ex.events else None
    return outcome_of(closing, st.cancel_request)


def _default_failure(status: WorkflowStatus) -> dict[str, Any]:
    if status is WorkflowStatus.TIMED_OUT:
        return {
            "message": "the workflow timed out",
            "type": "TimeoutError",
            "kind": "timeout",
            "timeout_type": "START_TO_CLOSE",
        }
    return {"message": f"the workflow ended {status.value}", "type": "ServerError", "kind": "server"}


def _external_done(t: Transition, initiated_event_id: int, problem: str | None) -> None:
    ex = t.ex
    item = ex.state.externals.pop(initiated_event_id, None)
    if item is None:
        return  # recorded already
    ex.state.dirty.add((EXTERNAL, str(initiated_event_id)))
    if not ex.running:
        return
    attrs: dict[str, Any] = {
        "initiated_event_id": initiated_event_id,
        "workflow_id": item.workflow_id,
        "run_id": item.run_id,
    }
    if item.op == "signal":
        etype = EventType.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED
        if problem is not None:
            etype = EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
    else:
        etype = EventType.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED
        if problem is not None:
            etype = EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
    if problem is not None:
        attrs["cause"] = problem
    t.append(etype, attrs)
    t.wake()
