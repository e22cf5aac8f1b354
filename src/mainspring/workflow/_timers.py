"""Durable timers: the workflow loop's ``call_later`` (hence ``asyncio.sleep`` and ``wait_for``).

Registered with the replay (``_features``): TimerFired runs the timer's callback; TimerStarted and
TimerCanceled confirm the StartTimer and CancelTimer commands.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..api.enums import CommandType, EventType
from ._kinds import CommandEvent, EventHandler

if TYPE_CHECKING:
    from ._instance import WorkflowInstance, _Command

__all__ = ["COMMAND_EVENTS", "EVENTS", "Timer", "handle_cancelled", "start"]

_CMD_START = CommandType.START_TIMER.value
_CMD_CANCEL = CommandType.CANCEL_TIMER.value


class Timer:
    """A timer the code started, until it fires or is cancelled."""

    __slots__ = ("command", "done", "handle", "timer_id")

    def __init__(self, timer_id: str, handle: asyncio.TimerHandle, command: _Command):
        self.timer_id = timer_id
        self.handle = handle
        self.command = command
        self.done = False


def start(inst: WorkflowInstance, delay: float, handle: asyncio.TimerHandle) -> None:
    """Issue a StartTimer command for ``handle`` (made by the loop's ``call_later``)."""
    timer_id = str(inst._next_seq())
    cmd = inst._add_command(
        {"type": _CMD_START, "timer_id": timer_id, "duration": max(delay, 0.0)},
        (_CMD_START, timer_id),
    )
    t = Timer(timer_id, handle, cmd)
    inst._timers[timer_id] = t
    inst._handle_timers[id(handle)] = t


def _fired(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    t = inst._timers.pop(ev["attributes"]["timer_id"], None)
    if t is None or t.done:
        return
    t.done = True
    inst._handle_timers.pop(id(t.handle), None)
    if not t.handle._cancelled:
        inst._ready.append(t.handle)


def handle_cancelled(inst: WorkflowInstance, handle: asyncio.TimerHandle) -> None:
    """The code cancelled a timer's handle: cancel the timer too, unless it is done."""
    t = inst._handle_timers.pop(id(handle), None)
    if t is None or t.done:
        return
    t.done = True
    inst._timers.pop(t.timer_id, None)
    if t.command in inst._pending:
        # Started and cancelled within the same workflow task (code only runs once every earlier
        # command has been matched, so a pending command is one of this task's): send neither.
        inst._pending.remove(t.command)
        return
    inst._add_command({"type": _CMD_CANCEL, "timer_id": t.timer_id}, (_CMD_CANCEL, t.timer_id))


EVENTS: dict[str, EventHandler] = {EventType.TIMER_FIRED.value: _fired}

COMMAND_EVENTS = (
    CommandEvent(EventType.TIMER_STARTED.value, _CMD_START, lambda attrs: (_CMD_START, attrs["timer_id"])),
    CommandEvent(EventType.TIMER_CANCELED.value, _CMD_CANCEL, lambda attrs: (_CMD_CANCEL, attrs["timer_id"])),
)
