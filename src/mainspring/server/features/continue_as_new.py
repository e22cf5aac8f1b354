"""Continue-as-new: a run closes as CONTINUED_AS_NEW and the next run of its workflow id starts, in one commit.

The ContinueAsNewWorkflow command appends the closing WorkflowExecutionContinuedAsNew event (the next run's
id and input), closes the run, and builds the next run in memory: its record, its WorkflowExecutionStarted
(with ``continued_execution_run_id``) and its first workflow task. The next run's create rides on the
closing write (``ExecutionWrite.follow_on``): the store applies both or neither, so a server killed at any
moment leaves either the old run open (its workflow task is handed out again and continues again) or the
old run closed and the new one created, never neither nor both. The new run goes on as soon as that write
is submitted, as a new run does while its start is written: its first workflow task runs meanwhile, and
its completion's write is queued behind that one (``Execution.chained``), so that a loop of runs shares
group commits instead of waiting for one commit a run (``_submitted``).

``start_next_run`` is the part a run's retry (``workflow_timeouts``) shares: any closing that names a
successor in its event (``new_execution_run_id``) is followed by ``wait_result``, ``describe`` and the
clients (``next_run_id``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import CommandType, EventType, WorkflowStatus
from ...storage import ExecutionRecord, ExecutionWrite
from .._execution import Effects, Execution, FollowOn, new_run_id
from .._state import ExecutionState
from .kinds import CommandCheck, CommandKind
from .workflow_timeouts import carried, give_next

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._transition import Transition

__all__ = ["KINDS", "next_run_id", "start_next_run"]


def _validate(check: CommandCheck, cmd: m.ContinueAsNewWorkflowCommand) -> str | None:
    if cmd.header is not None:
        problem = check.core._payload_problem("the next run's header", cmd.header)
        if problem:
            return problem
    return check.core._payload_problem("the next run's input", cmd.input)


def _apply(t: Transition, cmd: m.ContinueAsNewWorkflowCommand, completed_id: int) -> None:
    rec = t.ex.record
    workflow_type = cmd.workflow_type or rec.workflow_type
    task_queue = cmd.task_queue or rec.task_queue
    run_id = new_run_id()
    t.append(
        EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        {
            "new_execution_run_id": run_id,
            "workflow_type": workflow_type,
            "task_queue": task_queue,
            "input": cmd.input,
            "workflow_task_completed_event_id": completed_id,
        },
    )
    t.ex.state.outcome = (None, None)
    lifetime = t.ex.state.lifetime  # (dropped with the run's other pending items as it closes)
    t.close(WorkflowStatus.CONTINUED_AS_NEW)
    nxt, attrs = carried(lifetime, t.now, attempt=1)
    if cmd.header is not None:
        attrs["header"] = cmd.header  # (``api.headers``: the next run's start header, for its worker)
    if nxt is not None and nxt.get("retry") is not None:
        nxt["input"] = cmd.input  # a retry of the next run starts it again with its own input
    start_next_run(t, run_id, workflow_type, task_queue, cmd.input, attrs, lifetime=nxt)


def start_next_run(
    t: Transition,
    run_id: str,
    workflow_type: str,
    task_queue: str,
    workflow_input: Any,
    extra: dict[str, Any],
    *,
    lifetime: dict[str, Any] | None = None,
    first_task_delay: float = 0.0,
) -> Execution:
    """Build the run ``run_id`` that follows the one ``t`` has just closed, and write its create with ``t``'s
    commit (``Execution.follow_on``). ``extra``: more attributes of its WorkflowExecutionStarted (the attempt,
    the options a chain carries); ``lifetime``: its timeouts and retry policy (``workflow_timeouts``);
    ``first_task_delay``: seconds before its first workflow task (a retry's backoff). It becomes the workflow
    id's current run once that commit is durable."""
    from .._transition import Transition

    core = t.core
    prev = t.ex.record
    rec = ExecutionRecord(
        namespace=prev.namespace,
        workflow_id=prev.workflow_id,
        run_id=run_id,
        workflow_type=workflow_type,
        task_queue=task_queue,
        status=WorkflowStatus.RUNNING,
        start_time=t.now,
        close_time=None,
        next_event_id=1,
        version=1,
        # A start retried with its request id finds the chain's current run, not a new one.
        request_id=prev.request_id,
    )
    ex = Execution(rec, ExecutionState(), new=True)
    nt = Transition(core, ex)
    nt.now = t.now
    extra = dict(extra)
    for inherit in core.successors:
        inherit(t, nt, extra)
    nt.append_raw(
        EventType.WORKFLOW_EXECUTION_STARTED,
        {
            "workflow_type": workflow_type,
            "task_queue": task_queue,
            "input": workflow_input,
            "workflow_id": prev.workflow_id,
            "run_id": run_id,
            "attempt": 1,
            "continued_execution_run_id": prev.run_id,
            **extra,
        },
    )
    give_next(nt, lifetime)
    nt.wake()
    if first_task_delay > 0 and ex.state.wt is not None:
        ex.state.wt.ready_time = t.now + first_task_delay
    rec.state = ex.state.to_dict()
    puts, _, _ = ex.state.take_changes()
    events, ex.events = ex.events, []
    ex.remember(events)
    t.ex.successor = ex
    # A copy of the record: the next run goes on while the write is queued (``_submitted``), and its first
    # workflow task's completion changes its record before that completion waits for the write.
    t.ex.follow_on = FollowOn(
        ExecutionWrite(dataclasses.replace(rec), None, events, put_items=puts),
        functools.partial(_submitted, core, ex, nt.fx),
    )
    return ex


def _submitted(core: EngineCore, ex: Execution, fx: Effects, writing: asyncio.Future[None]) -> None:
    """The commit that closes the run before ``ex`` and creates ``ex`` is submitted: ``ex`` goes on at once, as
    a new run does while its start is written (``Engine._start``). Its first workflow task is handed out now (it
    runs while the commit is written: workflow code has no effects). Its completion is written behind the
    commit (``ex.creating``, ``ex.chained``) and acted on once durable; if the commit fails, ``ex`` is
    forgotten, and the writes behind it fail their version check: nothing it did is kept."""
    ex.creating = writing
    ex.chained = True
    run_id = ex.record.run_id

    def settled(f: asyncio.Future[None]) -> None:
        if f.cancelled() or f.exception() is not None:
            if core._cache.get(run_id) is ex:
                del core._cache[run_id]
        else:
            ex.creating = None

    writing.add_done_callback(settled)
    if writing.done():
        settled(writing)
        if ex.creating is not None:
            return
    core._cache[run_id] = ex
    core._trim_cache()
    core._act(ex, fx)


async def next_run_id(core: EngineCore, rec: ExecutionRecord) -> str | None:
    """The run that followed ``rec`` (a committed view of a closed run), named by its closing event; None if
    none did. One read of one event, unless the run's copy in memory knows it."""
    if rec.status is WorkflowStatus.RUNNING or rec.next_event_id <= 1:
        return None
    cached = core._cache.get(rec.run_id)
    if cached is not None and cached.successor is not None:  # known in memory: no read (a result waiter's hop)
        return cached.successor.record.run_id
    last = rec.next_event_id - 1
    # Its closing event is most often still in the copy's tail (it closed in this process): no read then.
    events = (
        cached.history_from_tail(last)
        if cached is not None and cached.record.next_event_id == rec.next_event_id
        else None
    ) or await core.store.read_history(rec.run_id, last, last)
    if not events:
        return None
    nxt = events[0].attributes.get("new_execution_run_id")
    return nxt if isinstance(nxt, str) else None


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(CommandType.CONTINUE_AS_NEW_WORKFLOW, m.ContinueAsNewWorkflowCommand, _validate, _apply, closes=True),
)
