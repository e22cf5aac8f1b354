"""What a start's options make of its new run: a start delay, a memo, the run's workflow task timeout.

- **Start delay.** The run exists at once (describe, list, signals all see it) but its first workflow task is
  dispatched only after the delay. It is that task, made at the start with a ready time
  (``WorkflowTaskInfo.ready_time``, stored with the run's state), so the delay is as durable as a retry's
  backoff: a restarted server re-arms it (``WorkflowTasks.arm``). The task is transient until handed out (its
  WorkflowTaskScheduled event is written then, as Temporal writes it after the delay). A signal during the
  delay is recorded and waits for that task (``Transition.wake`` finds it scheduled); a signal-with-start
  ends the delay (``end_delay``), as in Temporal. A first task with a ready time is a start delay and
  nothing else: only retries (attempt 2 on) back off.
- **Memo.** A JSON object kept in the WorkflowExecutionStarted event and shown by describe.
- **Task timeout.** How long a worker has for each workflow task of the run (``ExecutionState.task_timeout``;
  the server's default when unset).

The start event records each option that was given (Temporal's attribute names: ``memo``,
``first_workflow_task_backoff``, ``workflow_task_timeout``); a start without them writes what it always did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...api import models as m
from .._execution import iso
from .._state import WorkflowTaskInfo

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._transition import Transition

__all__ = ["begin_run", "describe_options", "end_delay", "in_start_delay", "inherit", "started_attributes"]


def started_attributes(req: m.StartWorkflowRequest) -> dict[str, Any]:
    """The start event's attributes for the options ``req`` gives (none for those it leaves out)."""
    attrs: dict[str, Any] = {}
    if req.memo is not None:
        attrs["memo"] = req.memo
    if req.start_delay:
        attrs["first_workflow_task_backoff"] = req.start_delay
    if req.task_timeout is not None:
        attrs["workflow_task_timeout"] = req.task_timeout
    if req.header is not None:
        attrs["header"] = req.header  # (``api.headers``: for the worker, never read here)
    return attrs


def begin_run(t: Transition, req: m.StartWorkflowRequest) -> None:
    """Give the new run its task timeout and its first workflow task: now, or after the start delay."""
    st = t.ex.state
    st.task_timeout = req.task_timeout
    if not req.start_delay:
        t.wake()
        return
    at = t.now + req.start_delay
    st.wt = WorkflowTaskInfo(attempt=1, scheduled_time=at, ready_time=at)
    t.fx.offer_wt = True  # armed for its ready time (WorkflowTasks.arm)


def inherit(t: Transition, nt: Transition, started: dict[str, Any]) -> None:
    """The run ``t`` closes is followed by the one ``nt`` builds (continue-as-new, a retry): it keeps the task
    timeout (the memo is carried with the run's lifetime, ``workflow_timeouts``)."""
    timeout = t.ex.state.task_timeout
    if timeout is not None:
        nt.ex.state.task_timeout = timeout
        started["workflow_task_timeout"] = timeout


def in_start_delay(wt: WorkflowTaskInfo | None, now: float) -> bool:
    """True if ``wt`` is a first workflow task still waiting out its run's start delay."""
    return wt is not None and wt.attempt == 1 and not wt.started and wt.ready_time > now


async def end_delay(core: EngineCore, run_id: str) -> None:
    """A signal-with-start reached a run in its start delay: dispatch its first workflow task now."""
    ex = await core._load(run_id)
    if ex is None:
        return
    async with core.transition(ex) as t:
        wt = ex.state.wt
        if not ex.running or wt is None or not in_start_delay(wt, t.now):
            return
        wt.ready_time = t.now  # ready now; still marks it a delayed first task (WorkflowTasks._failed)
        wt.scheduled_time = t.now
        t.write()
        t.fx.offer_wt = True


def describe_options(started: dict[str, Any] | None, start_time: float, default_task_timeout: float) -> dict[str, Any]:
    """What describe shows of the options the run was started with (from its start event's attributes)."""
    attrs = started or {}
    delay = attrs.get("first_workflow_task_backoff")
    return {
        "memo": attrs.get("memo"),
        "start_delay": delay,
        "execution_time": iso(start_time + delay) if delay else None,
        "task_timeout": attrs.get("workflow_task_timeout") or default_task_timeout,
    }
