"""Commands: what a completed workflow task asks for, checked and turned into history events.

Shared by the two ways a workflow task completes: on its own (``WorkflowTasks``) and together with
the activity completion that caused it (``ActivityTasks``, when the worker ran the workflow at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..api import models as m
from ..api.enums import ActivityState, EventType, WorkflowStatus
from ._core import Effects, EngineCore, Execution, cancelled_failure
from ._matching import Session
from ._state import ActivityInfo, TimerInfo

__all__ = ["Commands"]


class Commands(EngineCore):
    def _validate_commands(
        self, ex: Execution, commands: Iterable[m.Command], closing_activity: int | None = None
    ) -> str | None:
        """Why these commands cannot be applied, or None. ``closing_activity`` is about to close."""
        # The ids in use are looked up in the state's index: O(commands), however many are pending.
        pending_ids = ex.state.activity_ids
        timers = ex.state.timers
        new_activity_ids: set[str] = set()
        new_timer_ids: set[str] = set()
        closed = False
        for i, cmd in enumerate(commands):
            where = f"command {i + 1} ({cmd.type})"
            if closed:
                return f"{where} comes after the command that closed the workflow"
            # Ids, names, durations and retry policies are checked by the request models already.
            if isinstance(cmd, m.ScheduleActivityCommand):
                in_use = pending_ids.get(cmd.activity_id)
                if (in_use is not None and in_use != closing_activity) or cmd.activity_id in new_activity_ids:
                    return f"{where}: activity id {cmd.activity_id!r} is already in use by a pending activity"
                new_activity_ids.add(cmd.activity_id)
                if cmd.schedule_to_close_timeout is None and cmd.start_to_close_timeout is None:
                    return (
                        f"{where}: activity {cmd.activity_type!r} needs a schedule_to_close_timeout or a "
                        "start_to_close_timeout"
                    )
                problem = self._payload_problem(f"the input of activity {cmd.activity_type!r}", cmd.input)
                if problem:
                    return f"{where}: {problem}"
            elif isinstance(cmd, m.StartTimerCommand):
                if cmd.timer_id in timers or cmd.timer_id in new_timer_ids:
                    return f"{where}: timer id {cmd.timer_id!r} is already in use"
                new_timer_ids.add(cmd.timer_id)
            elif isinstance(cmd, m.CancelTimerCommand):
                pass
            elif isinstance(cmd, m.RequestCancelActivityCommand):
                if cmd.scheduled_event_id >= ex.record.next_event_id:
                    return f"{where}: event {cmd.scheduled_event_id} is not in the history yet"
            else:
                closed = True
                if isinstance(cmd, m.CancelWorkflowCommand):
                    if ex.state.cancel_request is None:
                        return f"{where}: a workflow can only end as cancelled after a cancellation was requested"
                    problem = self._payload_problem("the cancellation details", cmd.details)
                elif isinstance(cmd, m.CompleteWorkflowCommand):
                    problem = self._payload_problem("the workflow result", cmd.result)
                else:
                    problem = self._payload_problem("the workflow failure", cmd.failure.model_dump(exclude_none=True))
                if problem:
                    return f"{where}: {problem}"
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
            st.add_activity(act)
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
            st.add_timer(timer)
            self.timers.schedule(timer.fire_time, self._on_user_timer, rec.run_id, timer.timer_id, e.event_id)
        elif isinstance(cmd, m.CancelTimerCommand):
            t = st.remove_timer(cmd.timer_id)
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
        elif isinstance(cmd, m.RequestCancelActivityCommand):
            cancelled = st.activities.get(cmd.scheduled_event_id)
            # Written even if the activity closed meanwhile (as for CancelTimer): replay must find it.
            e = self._append(
                ex,
                EventType.ACTIVITY_TASK_CANCEL_REQUESTED,
                {
                    "scheduled_event_id": cmd.scheduled_event_id,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            if cancelled is not None and not cancelled.cancel_requested:
                cancelled.cancel_requested_event_id = e.event_id
                st.touch_activity(cancelled)
                if cancelled.state is ActivityState.STARTED:
                    # Running: its worker is told to stop it; it ends when the worker reports back.
                    sid = cancelled.session_id
                    session = self.matching.sessions.get(sid) if sid else None
                    if session is not None:
                        fx.stop_activity(session, self._activity_token(rec, cancelled, session.id))
                else:
                    # Not started: it ends at once (after this task's other command events).
                    if fx.cancel_now is None:
                        fx.cancel_now = []
                    fx.cancel_now.append(cancelled)
        elif isinstance(cmd, m.CancelWorkflowCommand):
            self._append(
                ex,
                EventType.WORKFLOW_EXECUTION_CANCELED,
                {
                    "details": cmd.details,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            st.outcome = (None, cancelled_failure(st.cancel_request))
            self._close(ex, WorkflowStatus.CANCELED, now, fx)
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
            st.outcome = (cmd.result, None)
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
            st.outcome = (None, failure)
            self._close(ex, WorkflowStatus.FAILED, now, fx)

    def _apply_commands(
        self, ex: Execution, commands: Iterable[m.Command], completed_id: int, now: float, fx: Effects
    ) -> None:
        new_activities: list[ActivityInfo] = []
        for cmd in commands:
            self._apply_command(ex, cmd, completed_id, now, new_activities, fx)
        if new_activities and ex.running:
            fx.activities = (fx.activities or []) + new_activities
        if fx.cancel_now:
            # After every command event: replay matches a task's command events as one run.
            if ex.running:
                for act in fx.cancel_now:
                    if act.scheduled_event_id in ex.state.activities:
                        self._activity_canceled(ex, act, now)
            fx.cancel_now = None

    def _session_done_activity(self, ex: Execution, act: ActivityInfo) -> None:
        if act.session_id is not None:
            s = self.matching.sessions.get(act.session_id)
            if s is not None:
                s.inflight_activities.discard((ex.record.run_id, act.scheduled_event_id))
            act.session_id = None

    def _activity_started_event(self, ex: Execution, act: ActivityInfo, now: float) -> int:
        # ActivityTaskStarted is written when the activity closes, with the attempt that closed it, so
        # retries don't add an event each (as in Temporal).
        e = self._append(
            ex,
            EventType.ACTIVITY_TASK_STARTED,
            {
                "scheduled_event_id": act.scheduled_event_id,
                "attempt": act.attempt,
                "identity": act.last_identity,
                "last_failure": act.last_failure,
            },
            act.last_started_time or now,
        )
        return e.event_id

    def _activity_canceled(self, ex: Execution, act: ActivityInfo, now: float, details: Any = None) -> None:
        """A cancelled activity ends: its running attempt stopped (or ended anyway), or it never started.

        No workflow task follows: the workflow stopped waiting for it when it asked to cancel it.
        """
        started = act.state is ActivityState.STARTED
        self._session_done_activity(ex, act)
        started_id = self._activity_started_event(ex, act, now) if started else 0
        self._append(
            ex,
            EventType.ACTIVITY_TASK_CANCELED,
            {
                "scheduled_event_id": act.scheduled_event_id,
                "started_event_id": started_id,
                "latest_cancel_requested_event_id": act.cancel_requested_event_id,
                "details": details,
                "identity": act.last_identity if started else None,
            },
            now,
        )
        ex.state.remove_activity(act.scheduled_event_id)

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
