"""Activities in workflow code: scheduling one, cancelling it, and its result arriving in history.

Registered with the replay (``_features``): ActivityTaskCompleted, ActivityTaskFailed,
ActivityTaskTimedOut and ActivityTaskCanceled resolve the activity's future; ActivityTaskScheduled
and ActivityTaskCancelRequested confirm the ScheduleActivity and RequestCancelActivity commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..api.enums import CommandType, EventType
from ..converter import PayloadError, decode
from ..errors import ActivityError, NondeterminismError, WorkflowCodeError, exception_from_failure
from ..interceptors import CallKind
from ._kinds import CommandEvent, EventHandler, describe_event

if TYPE_CHECKING:
    from ._instance import ActivityCall, WorkflowInstance, _Command

__all__ = ["COMMAND_EVENTS", "EVENTS", "Activity", "CancellingFuture", "schedule"]

# Plain strings for the hot path: an enum member's ``.value`` is a Python-level property call.
_CMD_SCHEDULE = CommandType.SCHEDULE_ACTIVITY.value
_CMD_REQUEST_CANCEL = CommandType.REQUEST_CANCEL_ACTIVITY.value
_EV_COMPLETED = EventType.ACTIVITY_TASK_COMPLETED.value
_EV_TIMED_OUT = EventType.ACTIVITY_TASK_TIMED_OUT.value


class Activity:
    """An activity the code scheduled, until history closes it."""

    __slots__ = ("activity_id", "activity_type", "closed", "command", "future", "result_type", "scheduled_event_id")

    def __init__(self, activity_type: str, activity_id: str, result_type: Any, future: asyncio.Future[Any]):
        self.activity_type = activity_type
        self.activity_id = activity_id
        self.result_type = result_type
        self.future = future
        self.command: _Command | None = None
        #: Its ActivityTaskScheduled event id, once history confirmed the command (0 before).
        self.scheduled_event_id = 0
        #: History closed it (completed, failed, timed out or cancelled).
        self.closed = False


class CancellingFuture(asyncio.Future[Any]):
    """A future whose cancellation (the code stopped waiting: its task was cancelled, or a ``wait_for``
    timed out) calls ``on_cancel`` at once, without a callback on the loop: an activity's result, which
    cancels the activity; a child workflow's start and result (``_children``), which cancel the child."""

    __slots__ = ("on_cancel",)

    def __init__(self, loop: asyncio.AbstractEventLoop, on_cancel: Callable[[], None]) -> None:
        super().__init__(loop=loop)
        self.on_cancel = on_cancel

    def cancel(self, msg: Any = None) -> bool:
        if not super().cancel(msg):
            return False
        self.on_cancel()
        return True


def schedule(inst: WorkflowInstance, call: ActivityCall) -> asyncio.Future[Any]:
    """Issue a ScheduleActivity command; the future resolves when history closes the activity."""
    seq = inst._next_seq()
    activity_id = call.activity_id or str(seq)
    fut = CancellingFuture(inst, lambda: _future_cancelled(inst, act))
    act = Activity(call.activity_type, activity_id, call.result_type, fut)
    body: dict[str, Any] = {
        "type": _CMD_SCHEDULE,
        "activity_id": activity_id,
        "activity_type": call.activity_type,
        "input": call.input,
        "task_queue": call.task_queue,
        "schedule_to_close_timeout": call.schedule_to_close_timeout,
        "start_to_close_timeout": call.start_to_close_timeout,
        "schedule_to_start_timeout": call.schedule_to_start_timeout,
        "heartbeat_timeout": call.heartbeat_timeout,
        "retry_policy": call.retry_policy,
    }

    def bind(event_id: int) -> None:
        act.scheduled_event_id = event_id
        inst._activities[event_id] = act

    key = (_CMD_SCHEDULE, call.activity_type, activity_id)
    act.command = inst._add_command(body, key, bind)
    if inst.interceptors:
        inst.note_call(CallKind.START_ACTIVITY, call.activity_type, None, body)
    return fut


def _future_cancelled(inst: WorkflowInstance, act: Activity) -> None:
    """The code stopped waiting for an activity: if it is still open, cancel it too."""
    if act.closed:
        return
    if act.command is not None and act.command in inst._pending:
        # Scheduled and cancelled within the same workflow task: send neither (see timers).
        inst._pending.remove(act.command)
        return
    if not act.scheduled_event_id:
        return  # dropped because the workflow had already closed
    sched = act.scheduled_event_id
    inst._add_command({"type": _CMD_REQUEST_CANCEL, "scheduled_event_id": sched}, (_CMD_REQUEST_CANCEL, str(sched)))


def _canceled(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    act = inst._activities.pop(ev["attributes"]["scheduled_event_id"], None)
    if act is None:
        return  # the code asked to cancel it after it had already closed
    act.closed = True
    if not act.future.done():
        act.future.cancel()


def _closed(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    """ActivityTaskCompleted, ActivityTaskFailed or ActivityTaskTimedOut: the activity's outcome."""
    attrs = ev["attributes"]
    act = inst._activities.pop(attrs["scheduled_event_id"], None)
    if act is None:
        raise NondeterminismError(
            f"{inst._where()}: history {describe_event(ev)} closes activity event "
            f"{attrs['scheduled_event_id']}, which the workflow code did not schedule. {inst._hint()}"
        )
    act.closed = True
    fut = act.future
    if fut.done():
        return  # the code stopped waiting for it (e.g. its task was cancelled)
    etype = ev["event_type"]
    if etype == _EV_COMPLETED:
        try:
            fut.set_result(decode(attrs.get("result"), act.result_type))
        except PayloadError as e:
            fut.set_exception(
                WorkflowCodeError(
                    f"the result of activity {act.activity_type!r} does not fit its declared return type: {e}"
                )
            )
        return
    failure = attrs.get("failure") or {"message": "activity failed"}
    # The error the last attempt raised, as its own class when this worker has it (``exception_from_failure``).
    cause = exception_from_failure(failure)
    fut.set_exception(
        ActivityError(
            f"activity {act.activity_type!r} (id {act.activity_id!r}) "
            f"{'timed out' if etype == _EV_TIMED_OUT else 'failed'}: {cause}",
            activity_type=act.activity_type,
            activity_id=act.activity_id,
            attempt=int(attrs.get("attempt") or 1),
            retry_state=attrs.get("retry_state"),
            cause=cause,
        )
    )


EVENTS: dict[str, EventHandler] = {
    EventType.ACTIVITY_TASK_COMPLETED.value: _closed,
    EventType.ACTIVITY_TASK_FAILED.value: _closed,
    EventType.ACTIVITY_TASK_TIMED_OUT.value: _closed,
    EventType.ACTIVITY_TASK_CANCELED.value: _canceled,
}

COMMAND_EVENTS = (
    CommandEvent(
        EventType.ACTIVITY_TASK_SCHEDULED.value,
        _CMD_SCHEDULE,
        lambda attrs: (_CMD_SCHEDULE, attrs["activity_type"], attrs["activity_id"]),
    ),
    CommandEvent(
        EventType.ACTIVITY_TASK_CANCEL_REQUESTED.value,
        _CMD_REQUEST_CANCEL,
        lambda attrs: (_CMD_REQUEST_CANCEL, str(attrs["scheduled_event_id"])),
    ),
)
