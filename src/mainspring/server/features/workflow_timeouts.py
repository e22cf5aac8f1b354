"""A workflow's lifetime: its execution timeout (the whole chain), its run timeout (one run), its retry policy.

Given at the start (``StartWorkflowRequest``), recorded in the first run's WorkflowExecutionStarted, and kept
as one pending item of the run (``ExecutionState.lifetime``, written once when the run starts: a run's
transitions do not rewrite it): the deadlines, the policy, the attempt, and, with a retry policy, the input a
retry starts with. Each deadline is a durable timer (the timer wheel, re-armed from the item after a restart);
when one fires on a run still open, the run closes as TIMED_OUT (WorkflowExecutionTimedOut).

A run that fails, or times out by its run timeout, is retried if its policy allows (attempts left, a failure
that may be retried, the backoff ending before the execution deadline): the next run of the id is created in
the same commit as the close (``continue_as_new.start_next_run``), attempt + 1, its first workflow task after
the backoff; the closing event names it (``new_execution_run_id``), so results follow it. Continue-as-new
carries the lifetime on: the execution deadline stays, the run deadline starts again, the attempt is 1.

The memo rides along in the same item (a chain's runs keep it, as Temporal's do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._json import dumps
from ...api import models as m
from ...api.enums import EventType, WorkflowStatus
from ...errors import NotFoundError
from ...storage import ExecutionRecord
from .._execution import new_run_id, retry_interval
from .._state import LIFETIME, ExecutionState

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._transition import Transition

__all__ = ["WorkflowTimeouts", "carried", "give_next", "start_attributes", "started"]

RUN = "RUN"
EXECUTION = "EXECUTION"


def start_attributes(req: m.StartWorkflowRequest) -> dict[str, Any]:
    """What the WorkflowExecutionStarted of a new workflow records of its lifetime (nothing if it has none)."""
    out: dict[str, Any] = {}
    if req.execution_timeout is not None:
        out["execution_timeout"] = req.execution_timeout
    if req.run_timeout is not None:
        out["run_timeout"] = req.run_timeout
    if req.retry_policy is not None:
        out["retry_policy"] = req.retry_policy.model_dump()
    return out


def started(t: Transition, req: m.StartWorkflowRequest) -> None:
    """A new workflow's first run is being created by ``t``: give it its lifetime, and arm its deadlines once
    the start is durable."""
    if (
        req.execution_timeout is None
        and req.run_timeout is None
        and req.retry_policy is None
        and req.memo is None
        and req.cron_schedule is None
    ):
        return
    lifetime: dict[str, Any] = {
        "attempt": 1,
        "execution_timeout": req.execution_timeout,
        "run_timeout": req.run_timeout,
        "exec_deadline": t.now + req.execution_timeout if req.execution_timeout is not None else None,
        "run_deadline": t.now + req.run_timeout if req.run_timeout is not None else None,
        "retry": req.retry_policy.model_dump() if req.retry_policy is not None else None,
    }
    if req.retry_policy is not None or req.cron_schedule is not None:
        lifetime["input"] = req.input  # what each retry (and each cron run) starts with
    if req.cron_schedule is not None:
        lifetime["cron"] = req.cron_schedule  # features.cron_workflows
    if req.memo is not None:
        lifetime["memo"] = req.memo  # the runs that follow keep it (as Temporal's do)
    _give(t, lifetime)


def carried(
    lifetime: dict[str, Any] | None, now: float, *, attempt: int
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The lifetime of the run that follows one with ``lifetime`` (continue-as-new: attempt 1; a retry: the next
    attempt), and what its WorkflowExecutionStarted records of it."""
    if lifetime is None:
        return None, {"attempt": attempt} if attempt > 1 else {}
    nxt = dict(lifetime)
    nxt["attempt"] = attempt
    run_timeout = lifetime.get("run_timeout")
    nxt["run_deadline"] = now + run_timeout if run_timeout is not None else None
    attrs: dict[str, Any] = {"attempt": attempt}
    for key in ("execution_timeout", "run_timeout"):
        if lifetime.get(key) is not None:
            attrs[key] = lifetime[key]
    if lifetime.get("retry") is not None:
        attrs["retry_policy"] = lifetime["retry"]
    if lifetime.get("memo") is not None:
        attrs["memo"] = lifetime["memo"]
    return nxt, attrs


def _give(t: Transition, lifetime: dict[str, Any]) -> None:
    st = t.ex.state
    st.lifetime = lifetime
    st.dirty.add((LIFETIME, ""))
    t.then(_arm, t.core, t.ex.record, lifetime)


def give_next(t: Transition, lifetime: dict[str, Any] | None) -> None:
    """``t`` builds a run that follows another (``continue_as_new.start_next_run``): give it ``lifetime``."""
    if lifetime is not None:
        _give(t, lifetime)


def _arm(core: EngineCore, rec: ExecutionRecord, lifetime: dict[str, Any]) -> None:
    for kind, key in ((RUN, "run_deadline"), (EXECUTION, "exec_deadline")):
        deadline = lifetime.get(key)
        if deadline is not None:
            core.timers.schedule(deadline, _fire, core, rec.run_id, kind, deadline)


async def _fire(core: EngineCore, run_id: str, kind: str, deadline: float) -> None:
    """A deadline of the run is due: it times out, if it is still open and still has that deadline."""
    ex = await core._load(run_id)
    if ex is None:
        return
    if ex.creating is not None:  # armed as the start was being written (a short timeout): wait for it
        try:
            await core._created(ex)
        except NotFoundError:  # the start was refused (its id was running): no such run
            return
    async with core.transition(ex) as t:
        lifetime = ex.state.lifetime
        key = "run_deadline" if kind == RUN else "exec_deadline"
        if not ex.running or lifetime is None or lifetime.get(key) != deadline:
            return
        if t.now < deadline:  # woken early: again at the right time
            core.timers.schedule(deadline, _fire, core, run_id, kind, deadline)
            return
        timeout = lifetime.get("run_timeout" if kind == RUN else "execution_timeout")
        what = "run" if kind == RUN else "workflow execution (all its runs)"
        failure = {
            "message": f"the {what} timed out after {timeout:g} s",
            "type": "TimeoutError",
            "kind": "timeout",
            "timeout_type": kind,
            # Only a run timeout may be retried: the execution timeout is the end of the whole workflow.
            "non_retryable": kind == EXECUTION,
        }
        t.append(EventType.WORKFLOW_EXECUTION_TIMED_OUT, {"timeout_type": kind, "failure": failure})
        ex.state.outcome = (None, failure)
        t.close(WorkflowStatus.TIMED_OUT)


class WorkflowTimeouts:
    """The lifetime feature of one engine: re-arming deadlines, and retrying a run that failed as it closes."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        core.on_rearm(self._rearm)
        core.on_close(self._closing)

    def _rearm(self, rec: ExecutionRecord, st: ExecutionState) -> None:
        if st.lifetime is not None:
            _arm(self.core, rec, st.lifetime)

    def _closing(self, t: Transition) -> None:
        lifetime = t.ex.state.lifetime
        if lifetime is None or lifetime.get("retry") is None:
            return
        status = t.ex.record.status
        if status is not WorkflowStatus.FAILED and status is not WorkflowStatus.TIMED_OUT:
            return
        outcome = t.ex.state.outcome
        failure = outcome[1] if outcome is not None else None
        delay = _retry_delay(lifetime, failure, t.now)
        if delay is None:
            return
        from .continue_as_new import start_next_run

        rec = t.ex.record
        run_id = new_run_id()
        _name_successor(t, run_id)
        nxt, attrs = carried(lifetime, t.now, attempt=int(lifetime.get("attempt") or 1) + 1)
        if nxt is not None and nxt.get("run_deadline") is not None:
            nxt["run_deadline"] += delay  # a run's time starts when its first task may
        start_next_run(
            t,
            run_id,
            rec.workflow_type,
            rec.task_queue,
            lifetime.get("input"),
            attrs,
            lifetime=nxt,
            first_task_delay=delay,
        )


def _retry_delay(lifetime: dict[str, Any], failure: dict[str, Any] | None, now: float) -> float | None:
    """How long to wait before retrying a run that closed with ``failure``; None if it is not to be retried."""
    retry = lifetime["retry"]
    attempt = int(lifetime.get("attempt") or 1)
    most = int(retry.get("maximum_attempts") or 0)
    if most and attempt >= most:
        return None
    if failure is not None and (
        failure.get("non_retryable") or failure.get("type") in (retry.get("non_retryable_error_types") or [])
    ):
        return None
    delay = retry_interval(retry, attempt)
    deadline = lifetime.get("exec_deadline")
    if deadline is not None and now + delay >= deadline:
        return None
    return delay


def _name_successor(t: Transition, run_id: str) -> None:
    """Name the retry's run in the closing event just appended (as Temporal does), so results follow it."""
    ex = t.ex
    if not ex.events:
        return
    e = ex.events[-1]
    e.attributes["new_execution_run_id"] = run_id
    encoded = dumps(e.attributes)
    ex.state.history_bytes += len(encoded) - len(e.encoded or b"")
    e.encoded = encoded
