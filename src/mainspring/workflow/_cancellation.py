"""A cancellation requested of the workflow (``WorkflowHandle.cancel``).

Registered with the replay (``_features``): WorkflowExecutionCancelRequested cancels the main
coroutine where it waits. The command that then closes the run as cancelled is in ``_lifecycle``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..api.enums import EventType
from ._kinds import CommandEvent, EventHandler

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["COMMAND_EVENTS", "EVENTS"]


def _requested(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    """The main coroutine gets ``asyncio.CancelledError`` where it waits (at the next workflow task),
    and what it waited on (an activity, a timer) is cancelled."""
    if inst.cancel_request is not None:
        return
    attrs = ev["attributes"]
    inst.cancel_request = attrs
    # Through the ready queue, not at once: a main coroutine cancelled before its first step would
    # never enter its body, so it could not report the cancellation (or catch it).
    inst.call_soon(_cancel_main, inst, attrs.get("reason") or None)


def _cancel_main(inst: WorkflowInstance, reason: str | None) -> None:
    main = inst._main
    if main is not None and not main.done():
        main.cancel(reason)


EVENTS: dict[str, EventHandler] = {EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED.value: _requested}

COMMAND_EVENTS: tuple[CommandEvent, ...] = ()
