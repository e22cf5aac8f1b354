"""Timers: the StartTimer and CancelTimer commands, a timer firing (from the timer wheel, ``_timers``),
and re-arming a run's timers when it is taken from the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import CommandType, EventType
from ...storage import ExecutionRecord
from .._state import ExecutionState, TimerInfo
from .kinds import CommandCheck, CommandKind

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._transition import Transition

__all__ = ["KINDS", "fire", "register"]


def _validate_start(check: CommandCheck, cmd: m.StartTimerCommand) -> str | None:
    if cmd.timer_id in check.ex.state.timers or not check.claim("timer", cmd.timer_id):
        return f"timer id {cmd.timer_id!r} is already in use"
    return None


def _apply_start(t: Transition, cmd: m.StartTimerCommand, completed_id: int) -> None:
    ex = t.ex
    e = t.append(
        EventType.TIMER_STARTED,
        {
            "timer_id": cmd.timer_id,
            "duration": cmd.duration,
            "workflow_task_completed_event_id": completed_id,
        },
    )
    timer = TimerInfo(cmd.timer_id, e.event_id, t.now + cmd.duration)
    ex.state.add_timer(timer)
    t.core.timers.schedule(timer.fire_time, fire, t.core, ex.record.run_id, timer.timer_id, e.event_id)


def _validate_cancel(check: CommandCheck, cmd: m.CancelTimerCommand) -> str | None:
    return None


def _apply_cancel(t: Transition, cmd: m.CancelTimerCommand, completed_id: int) -> None:
    timer = t.ex.state.remove_timer(cmd.timer_id)
    # Written even if the timer fired meanwhile: the workflow code issued this command, and
    # replaying it must find the matching event.
    t.append(
        EventType.TIMER_CANCELED,
        {
            "timer_id": cmd.timer_id,
            "started_event_id": timer.started_event_id if timer else None,
            "workflow_task_completed_event_id": completed_id,
        },
    )


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(CommandType.START_TIMER, m.StartTimerCommand, _validate_start, _apply_start),
    CommandKind(CommandType.CANCEL_TIMER, m.CancelTimerCommand, _validate_cancel, _apply_cancel),
)


async def fire(core: EngineCore, run_id: str, timer_id: str, started_event_id: int) -> None:
    """The timer wheel's callback: the timer is due."""
    ex = await core._load(run_id)
    if ex is None:
        return
    async with core.transition(ex) as t:
        timer = ex.state.timers.get(timer_id)
        if not ex.running or timer is None or timer.started_event_id != started_event_id:
            return
        if t.now < timer.fire_time:  # woken early (e.g. clock adjusted): try again at the right time
            core.timers.schedule(timer.fire_time, fire, core, run_id, timer_id, started_event_id)
            return
        ex.state.remove_timer(timer_id)
        t.append(EventType.TIMER_FIRED, {"timer_id": timer_id, "started_event_id": started_event_id})
        t.wake()


def register(core: EngineCore) -> None:
    """Re-arm a stored run's timers when the core takes it from the store."""

    def rearm(rec: ExecutionRecord, st: ExecutionState) -> None:
        for timer in st.timers.values():
            core.timers.schedule(timer.fire_time, fire, core, rec.run_id, timer.timer_id, timer.started_event_id)

    core.on_rearm(rearm)
