"""Timer commands: StartTimer and CancelTimer. A timer fires from the timer wheel (``_timers``) into
``WorkflowTasks._on_user_timer``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import CommandType, EventType
from .._state import TimerInfo
from .kinds import CommandCheck, CommandKind

if TYPE_CHECKING:
    from .._commands import Commands
    from .._core import Effects, Execution

__all__ = ["KINDS"]


def _validate_start(check: CommandCheck, cmd: m.StartTimerCommand) -> str | None:
    if cmd.timer_id in check.ex.state.timers or not check.claim("timer", cmd.timer_id):
        return f"timer id {cmd.timer_id!r} is already in use"
    return None


def _apply_start(
    engine: Commands, ex: Execution, cmd: m.StartTimerCommand, completed_id: int, now: float, fx: Effects
) -> None:
    e = engine._append(
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
    ex.state.add_timer(timer)
    engine.timers.schedule(timer.fire_time, engine._on_user_timer, ex.record.run_id, timer.timer_id, e.event_id)


def _validate_cancel(check: CommandCheck, cmd: m.CancelTimerCommand) -> str | None:
    return None


def _apply_cancel(
    engine: Commands, ex: Execution, cmd: m.CancelTimerCommand, completed_id: int, now: float, fx: Effects
) -> None:
    t = ex.state.remove_timer(cmd.timer_id)
    # Written even if the timer fired meanwhile: the workflow code issued this command, and
    # replaying it must find the matching event.
    engine._append(
        ex,
        EventType.TIMER_CANCELED,
        {
            "timer_id": cmd.timer_id,
            "started_event_id": t.started_event_id if t else None,
            "workflow_task_completed_event_id": completed_id,
        },
        now,
    )


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(CommandType.START_TIMER, m.StartTimerCommand, _validate_start, _apply_start),
    CommandKind(CommandType.CANCEL_TIMER, m.CancelTimerCommand, _validate_cancel, _apply_cancel),
)
