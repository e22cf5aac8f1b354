"""Signals in workflow code: a WorkflowExecutionSignaled event runs its handler, in history's order.

Registered with the replay (``_features``). A signal recorded before the class's instance exists (in
the run's first workflow task: signal-with-start, or signals sent before any worker ran it) is kept
until ``_lifecycle`` has made the instance, and delivered before ``run`` starts, so a handler sees the
state ``__init__`` set. A signal with no handler of its name (and no dynamic handler) waits in a buffer
for one: a function workflow's signals, or a name the code does not know yet.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..api.enums import EventType
from ..converter import PayloadError, decode
from ..interceptors import CallKind
from ._handlers import SIGNAL, HandlerDefinition
from ._kinds import CommandEvent, EventHandler
from ._runtime_handlers import lookup

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["COMMAND_EVENTS", "EVENTS", "deliver", "deliver_early"]

log = logging.getLogger("mainspring.workflow")


def _signaled(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    attrs = ev["attributes"]
    name: str = attrs["signal_name"]
    raw = attrs.get("input")
    if inst.workflow_object is None and inst.definition.cls is not None:
        if not inst.finished:
            inst._early_signals.append((name, raw))
        else:
            inst._signal_buffer.setdefault(name, []).append(raw)
        return
    if inst.interceptors:
        # Told when the handler is given it, in the task that delivers it (``replaying`` is that task's then).
        inst.call_soon(inst.note_call, CallKind.HANDLE_SIGNAL, name, attrs.get("header"), None)
    inst.call_soon(deliver, inst, name, raw)


def deliver_early(inst: WorkflowInstance) -> None:
    """Deliver the signals that came before the instance was made (called once it is, before ``run``)."""
    early = inst._early_signals
    inst._early_signals = []
    for name, raw in early:
        deliver(inst, name, raw)


def deliver(inst: WorkflowInstance, name: str, raw: Any) -> None:
    """Run the handler for signal ``name`` (set at run time, or the class's), or keep it for one."""
    h = lookup(inst, SIGNAL, name)
    if h is None:
        inst._signal_buffer.setdefault(name, []).append(raw)
        return
    args = _arguments(inst, h, name, raw)
    if args is not None:
        inst.run_handler(h, args, f"signal {name!r}")


def _arguments(inst: WorkflowInstance, h: HandlerDefinition, name: str, raw: Any) -> list[Any] | None:
    args: list[Any] = [inst.context] if h.takes_context else []
    if h.dynamic:
        return [*args, name, raw]
    if not h.takes_input:
        return args
    try:
        return [*args, decode(raw, h.input_type)]
    except PayloadError as e:
        # The server checks payloads against the schema the worker announced; one that still does not fit
        # (sent before any worker announced it) is dropped, as Temporal does, rather than failing the run.
        if not inst.replaying:
            log.warning(
                "workflow %s: signal %r dropped: its payload does not fit the handler's input: %s",
                inst.info.workflow_id,
                name,
                e,
            )
        return None


EVENTS: dict[str, EventHandler] = {EventType.WORKFLOW_EXECUTION_SIGNALED.value: _signaled}

COMMAND_EVENTS: tuple[CommandEvent, ...] = ()
