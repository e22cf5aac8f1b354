"""Temporal's older cron workflows: ``start_workflow(..., cron_schedule="*/5 * * * *")``.

The cron text (UTC, read by croniter like a schedule's: ``schedule_times``) is checked at the start and kept in
the run's lifetime (``workflow_timeouts``) with the input. The first run is created at once and its first
workflow task waits for the first cron time (its ``first_workflow_task_backoff``, as Temporal records it).
When a run completes, fails or times out, and its retry policy does not retry it, the next run of the same
workflow id is created in the same commit (``continue_as_new.start_next_run``), its first task at the next
cron time: the chain of runs is the workflow id's list. Cancelling or terminating a run ends the chain. As in
Temporal, a run's closing event names the next run (``new_execution_run_id``), so waiting for a cron workflow's
result follows the chain (and waits for the next time); each run's own outcome is in its history.

For new code a schedule (``features.schedules``) is the better tool: it can be paused, described and changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...api import models as m
from ...api.enums import WorkflowStatus
from ...api.schedules import ScheduleSpecModel
from .._execution import new_run_id
from .schedule_times import DueTimes

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._transition import Transition

__all__ = ["CronWorkflows", "with_first_delay"]

#: The closes a cron chain goes on after (Temporal's): not a cancellation or a termination.
_GO_ON = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.TIMED_OUT})


def _times(cron: str) -> DueTimes:
    return DueTimes(ScheduleSpecModel(cron_expressions=[cron]))


def with_first_delay(req: m.StartWorkflowRequest, now: float) -> m.StartWorkflowRequest:
    """``req`` with its first workflow task delayed to the first time of its ``cron_schedule`` (unless it gives a
    start delay of its own); ``InvalidArgumentError`` naming the problem for cron text that is refused."""
    if req.cron_schedule is None:
        return req
    times = _times(req.cron_schedule)
    times.check_fires(now)
    if req.start_delay is not None:
        return req
    first = times.next_after(now)
    assert first is not None  # check_fires
    return req.model_copy(update={"start_delay": first - now})


class CronWorkflows:
    """Follows each closed run of a cron workflow with the next one."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        # After workflow_timeouts' closer (registered before): a retry of a failed run comes first.
        core.on_close(self._closing)

    def _closing(self, t: Transition) -> None:
        lifetime = t.ex.state.lifetime
        if lifetime is None or not lifetime.get("cron") or t.ex.successor is not None:
            return
        rec = t.ex.record
        if rec.status not in _GO_ON:
            return
        nxt_time = _times(lifetime["cron"]).next_after(t.now)
        if nxt_time is None:
            return
        from .continue_as_new import start_next_run
        from .workflow_timeouts import _name_successor, carried

        nxt, attrs = carried(lifetime, t.now, attempt=1)
        delay = nxt_time - t.now
        if nxt is not None and nxt.get("run_deadline") is not None:
            nxt["run_deadline"] += delay  # a run's time starts when its first task may
        run_id = new_run_id()
        _name_successor(t, run_id)
        start_next_run(
            t,
            run_id,
            rec.workflow_type,
            rec.task_queue,
            lifetime.get("input"),
            {**attrs, "first_workflow_task_backoff": delay},
            lifetime=nxt,
            first_task_delay=delay,
        )
