"""The replay's tables: what each event means to the workflow, and which events record commands.

Each feature is a module that registers its part (``EVENTS``: event type -> handler;
``COMMAND_EVENTS``: the events its commands become), beside the code that issues those commands:

- ``_lifecycle``: WorkflowExecutionStarted runs the main coroutine; its end is the closing command
- ``_activities``: scheduling, cancelling and resolving activities
- ``_timers``: durable timers (the loop's ``call_later``)
- ``_cancellation``: a cancellation requested of the workflow
- ``_signals``: a signal, delivered to its handler
- ``_updates``: an update: validated, accepted or rejected, its handler run and its outcome recorded
- ``_continue_as_new``: ``ctx.continue_as_new``, the command that closes the run and starts the next
- ``_children``: child workflows (started, their outcome), signals and cancellation requests to other workflows
- ``_local_activities``: local activities, run by the worker within the task, their outcomes as markers
- ``_search_attributes``: ``ctx.upsert_search_attributes`` and ``ctx.upsert_memo``, their commands' events

A new feature (signals, updates, child workflows) is one module and one entry in ``FEATURES``; its
server side is one module in ``mainspring.server.features``. Workflow tasks (Started, Completed,
Failed, TimedOut) are the replay's own structure and are handled by ``WorkflowInstance.activate``.
Feature modules are part of the instance: they read and change its state (``_pending``,
``_activities``, ``_timers``), and their handlers run for every event, live or replayed.
"""

from __future__ import annotations

from types import ModuleType

from . import (
    _activities,
    _cancellation,
    _children,
    _continue_as_new,
    _lifecycle,
    _local_activities,
    _search_attributes,
    _signals,
    _timers,
    _updates,
)
from ._kinds import CommandEvent, EventHandler

__all__ = ["CLOSING_COMMANDS", "COMMAND_EVENTS", "EVENT_HANDLERS", "FEATURES"]

FEATURES: tuple[ModuleType, ...] = (
    _lifecycle,
    _activities,
    _timers,
    _cancellation,
    _signals,
    _updates,
    _continue_as_new,
    _children,
    _local_activities,
    _search_attributes,
)


def _tables() -> tuple[dict[str, EventHandler], dict[str, CommandEvent]]:
    handlers: dict[str, EventHandler] = {}
    command_events: dict[str, CommandEvent] = {}
    commands: set[str] = set()
    for feature in FEATURES:
        for event_type, handler in feature.EVENTS.items():
            if event_type in handlers or event_type in command_events:
                raise ValueError(f"event type {event_type!r} is registered twice")
            handlers[event_type] = handler
        for ce in feature.COMMAND_EVENTS:
            if ce.event_type in handlers or ce.event_type in command_events or ce.command_type in commands:
                raise ValueError(f"command event {ce.event_type!r} ({ce.command_type}) is registered twice")
            command_events[ce.event_type] = ce
            commands.add(ce.command_type)
    return handlers, command_events


#: Event type -> what it means to the workflow (events not here mean nothing to it).
#: Event type -> the command it records, for matching.
EVENT_HANDLERS, COMMAND_EVENTS = _tables()
#: The command types that close the workflow.
CLOSING_COMMANDS = frozenset(ce.command_type for ce in COMMAND_EVENTS.values() if ce.closes)
