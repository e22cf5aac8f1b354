"""Commands: what a completed workflow task asks for, checked and turned into history events.

Shared by the two ways a workflow task completes: on its own (``WorkflowTasks``) and together with
the activity completion that caused it (``ActivityTasks``, when the worker ran the workflow at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..api import models as m
from ..api.enums import ActivityState, EventType, WorkflowStatus
from ..api.names import check_id
from ._core import Effects, EngineCore, Execution, payload_size
from ._matching import Session
from ._state import ActivityInfo, TimerInfo

__all__ = ["Commands"]


class Commands(EngineCore):
    def _validate_commands(
        self, ex: Execution, commands: Iterable[m.Command], closing_activity: int | None = None
    ) -> str | None:
        """Why these commands cannot be applied, or None. ``closing_activity`` is about to close."""
        pending_ids = {a.activity_id for k, a in ex.state.activities.items() if k != closing_activity}
        timer_ids = set(ex.state.timers)
        closed = False
        for i, cmd in enumerate(commands):
            where = f"command {i + 1} ({cmd.type})"
            if closed:
                return f"{where} comes after the command that closed the workflow"
            if isinstance(cmd, m.ScheduleActivityCommand):
                for kind, value in (("activity id", cmd.activity_id), ("activity type", cmd.activity_type)):
                    problem = check_id(kind, value)
                    if problem:
                        return f"{where}: {problem}"
                if cmd.task_queue is not None:
                    problem = check_id("task queue", cmd.task_queue)
                    if problem:
                        return f"{where}: {problem}"
                if cmd.activity_id in pending_ids:
                    return f"{where}: activity id {cmd.activity_id!r} is already in use by a pending activity"
                pending_ids.add(cmd.activity_id)
                if cmd.schedule_to_close_timeout is None and cmd.start_to_close_timeout is None:
                    return (
                        f"{where}: activity {cmd.activity_type!r} needs a schedule_to_close_timeout or a "
                        "start_to_close_timeout"
                    )
                for name in (
                    "schedule_to_close_timeout",
                    "start_to_close_timeout",
                    "schedule_to_start_timeout",
                    "heartbeat_timeout",
                ):
                    v = getattr(cmd, name)
                    if v is not None and v <= 0:
                        return f"{where}: {name} must be positive, got {v}"
                if payload_size(cmd.input) > self.max_payload:
                    return f"{where}: the input of activity {cmd.activity_type!r} is over the payload limit"
            elif isinstance(cmd, m.StartTimerCommand):
                if cmd.duration < 0:
                    return f"{where}: timer duration must not be negative, got {cmd.duration}"
                if cmd.timer_id in timer_ids:
                    return f"{where}: timer id {cmd.timer_id!r} is already in use"
                timer_ids.add(cmd.timer_id)
            elif isinstance(cmd, m.CancelTimerCommand):
                pass
            elif isinstance(cmd, m.CompleteWorkflowCommand):
                closed = True
                if payload_size(cmd.result) > self.max_payload:
                    return f"{where}: the workflow result is over the payload limit"
            elif isinstance(cmd, m.FailWorkflowCommand):
                closed = True
        return None

    def _apply_command(
        self,
        ex: Execution,
        cmd: m.Command,
        completed_id: int,
        now: float,
        new_activities: list[ActivityInfo],
        fx: Effects,
    ) -> None:
        st = ex.state
        rec = ex.record
        if isinstance(cmd, m.ScheduleActivityCommand):
            s2c = cmd.schedule_to_close_timeout
            st2c = cmd.start_to_close_timeout if cmd.start_to_close_timeout is not None else s2c
            retry = (cmd.retry_policy or m.RetryPolicyModel()).model_dump()
            task_queue = cmd.task_queue or rec.task_queue
            e = self._append(
                ex,
                EventType.ACTIVITY_TASK_SCHEDULED,
                {
                    "activity_id": cmd.activity_id,
                    "activity_type": cmd.activity_type,
                    "task_queue": task_queue,
                    "input": cmd.input,
                    "schedule_to_close_timeout": s2c,
                    "start_to_close_timeout": st2c,
                    "schedule_to_start_timeout": cmd.schedule_to_start_timeout,
                    "heartbeat_timeout": cmd.heartbeat_timeout,
                    "retry_policy": retry,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            act = ActivityInfo(
                scheduled_event_id=e.event_id,
                activity_id=cmd.activity_id,
                activity_type=cmd.activity_type,
                task_queue=task_queue,
                input=cmd.input,
                schedule_to_close=s2c,
                start_to_close=st2c,
                schedule_to_start=cmd.schedule_to_start_timeout,
                heartbeat=cmd.heartbeat_timeout,
                retry=retry,
                scheduled_time=now,
                attempt_scheduled_time=now,
            )
            st.activities[e.event_id] = act
            new_activities.append(act)
        elif isinstance(cmd, m.StartTimerCommand):
            e = self._append(
                ex,
                EventType.TIMER_STARTED,
                {
                    "timer_id": cmd.timer_id,
                    "duration": cmd.duration,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            timer = TimerInfo(cmd.timer_id, e.event_id, now + cmd.duration)
            st.timers[cmd.timer_id] = timer
            self.timers.schedule(timer.fire_time, self._on_user_timer, rec.run_id, timer.timer_id, e.event_id)
        elif isinstance(cmd, m.CancelTimerCommand):
            t = st.timers.pop(cmd.timer_id, None)
            # Written even if the timer fired meanwhile: the workflow code issued this command, and
            # replaying it must find the matching event.
            self._append(
                ex,
                EventType.TIMER_CANCELED,
                {
                    "timer_id": cmd.timer_id,
                    "started_event_id": t.started_event_id if t else None,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
        elif isinstance(cmd, m.CompleteWorkflowCommand):
            self._append(
                ex,
                EventType.WORKFLOW_EXECUTION_COMPLETED,
                {
                    "result": cmd.result,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            st.result = cmd.result
            self._close(ex, WorkflowStatus.COMPLETED, now, fx)
        elif isinstance(cmd, m.FailWorkflowCommand):
            failure = cmd.failure.model_dump(exclude_none=True)
            self._append(
                ex,
                EventType.WORKFLOW_EXECUTION_FAILED,
                {
                    "failure": failure,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            st.failure = failure
            self._close(ex, WorkflowStatus.FAILED, now, fx)

    def _apply_commands(
        self, ex: Execution, commands: Iterable[m.Command], completed_id: int, now: float, fx: Effects
    ) -> None:
        new_activities: list[ActivityInfo] = []
        for cmd in commands:
            self._apply_command(ex, cmd, completed_id, now, new_activities, fx)
        if new_activities and ex.running:
            fx.activities = (fx.activities or []) + new_activities

    def _take_eager(
        self, ex: Execution, fx: Effects, session: Session | None, slots: int, now: float
    ) -> list[dict[str, Any]]:
        """Hand newly scheduled activities straight to the worker that scheduled them (it has room).

        Called after the commit; saves that worker a poll and the server a queue round trip.
        """
        tasks: list[dict[str, Any]] = []
        if slots <= 0 or not fx.activities or session is None or session.closed or not ex.running:
            return tasks
        for act in fx.activities:
            if len(tasks) >= slots:
                break
            if (
                act.task_queue == session.task_queue
                and act.state is ActivityState.SCHEDULED
                and act.activity_type in session.activity_types
            ):
                tasks.append(self._begin_activity(ex, act, session, now))
        return tasks
