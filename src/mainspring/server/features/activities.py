"""Activity commands: ScheduleActivity and RequestCancelActivity.

What happens to an activity after it is scheduled (attempts, retries, heartbeats, timeouts, its
completion) is in ``activity_tasks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import ActivityState, CommandType, EventType
from .._state import ActivityInfo
from .kinds import CommandCheck, CommandKind

if TYPE_CHECKING:
    from .._transition import Transition

__all__ = ["KINDS"]


def _validate_schedule(check: CommandCheck, cmd: m.ScheduleActivityCommand) -> str | None:
    # The ids in use are looked up in the state's index: O(commands), however many are pending.
    in_use = check.ex.state.activity_ids.get(cmd.activity_id)
    if (in_use is not None and in_use != check.closing_activity) or not check.claim("activity", cmd.activity_id):
        return f"activity id {cmd.activity_id!r} is already in use by a pending activity"
    if cmd.schedule_to_close_timeout is None and cmd.start_to_close_timeout is None:
        return f"activity {cmd.activity_type!r} needs a schedule_to_close_timeout or a start_to_close_timeout"
    return check.core._payload_problem(f"the input of activity {cmd.activity_type!r}", cmd.input)


def _apply_schedule(t: Transition, cmd: m.ScheduleActivityCommand, completed_id: int) -> None:
    ex = t.ex
    now = t.now
    s2c = cmd.schedule_to_close_timeout
    st2c = cmd.start_to_close_timeout if cmd.start_to_close_timeout is not None else s2c
    # As Temporal: schedule-to-start is at most schedule-to-close, and defaults to it, so a task no
    # worker starts times out as SCHEDULE_TO_START (which users' code checks), not SCHEDULE_TO_CLOSE.
    s2s = cmd.schedule_to_start_timeout
    if s2c is not None and (s2s is None or s2s > s2c):
        s2s = s2c
    retry = (cmd.retry_policy or m.RetryPolicyModel()).model_dump()
    task_queue = cmd.task_queue or ex.record.task_queue
    e = t.append(
        EventType.ACTIVITY_TASK_SCHEDULED,
        {
            "activity_id": cmd.activity_id,
            "activity_type": cmd.activity_type,
            "task_queue": task_queue,
            "input": cmd.input,
            "schedule_to_close_timeout": s2c,
            "start_to_close_timeout": st2c,
            "schedule_to_start_timeout": s2s,
            "heartbeat_timeout": cmd.heartbeat_timeout,
            "retry_policy": retry,
            "workflow_task_completed_event_id": completed_id,
            **({"header": cmd.header} if cmd.header is not None else {}),
        },
    )
    act = ActivityInfo(
        scheduled_event_id=e.event_id,
        activity_id=cmd.activity_id,
        activity_type=cmd.activity_type,
        task_queue=task_queue,
        input=cmd.input,
        schedule_to_close=s2c,
        start_to_close=st2c,
        schedule_to_start=s2s,
        heartbeat=cmd.heartbeat_timeout,
        retry=retry,
        scheduled_time=now,
        attempt_scheduled_time=now,
        header=cmd.header,
    )
    ex.state.add_activity(act)
    # Handed out once the transition is durable. A command that closes the workflow later in the same
    # task clears them (``_close``): the validation lets no command follow it.
    if t.fx.activities is None:
        t.fx.activities = []
    t.fx.activities.append(act)


def _validate_request_cancel(check: CommandCheck, cmd: m.RequestCancelActivityCommand) -> str | None:
    if cmd.scheduled_event_id >= check.ex.record.next_event_id:
        return f"event {cmd.scheduled_event_id} is not in the history yet"
    return None


def _apply_request_cancel(t: Transition, cmd: m.RequestCancelActivityCommand, completed_id: int) -> None:
    core = t.core
    ex = t.ex
    fx = t.fx
    st = ex.state
    cancelled = st.activities.get(cmd.scheduled_event_id)
    # Written even if the activity closed meanwhile (as for CancelTimer): replay must find it.
    e = t.append(
        EventType.ACTIVITY_TASK_CANCEL_REQUESTED,
        {
            "scheduled_event_id": cmd.scheduled_event_id,
            "workflow_task_completed_event_id": completed_id,
        },
    )
    if cancelled is None or cancelled.cancel_requested:
        return
    cancelled.cancel_requested_event_id = e.event_id
    st.touch_activity(cancelled)
    if cancelled.state is ActivityState.STARTED:
        # Running: its worker is told to stop it; it ends when the worker reports back.
        sid = cancelled.session_id
        session = core.matching.sessions.get(sid) if sid else None
        if session is not None:
            fx.stop_activity(session, core._activity_token(ex.record, cancelled, session.id))
    else:
        # Not started: it ends at once, after this task's other command events (``_finish_cancels``).
        if fx.cancel_now is None:
            fx.cancel_now = []
        fx.cancel_now.append(cancelled)


def _finish_cancels(t: Transition) -> None:
    ex = t.ex
    fx = t.fx
    if fx.cancel_now:
        # After every command event: replay matches a task's command events as one run.
        if ex.running:
            for act in fx.cancel_now:
                if act.scheduled_event_id in ex.state.activities:
                    t.core.activity_tasks.canceled(t, act)
        fx.cancel_now = None


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(CommandType.SCHEDULE_ACTIVITY, m.ScheduleActivityCommand, _validate_schedule, _apply_schedule),
    CommandKind(
        CommandType.REQUEST_CANCEL_ACTIVITY,
        m.RequestCancelActivityCommand,
        _validate_request_cancel,
        _apply_request_cancel,
        finish=_finish_cancels,
    ),
)
