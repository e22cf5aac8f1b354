"""What a feature registers with the replay (see ``_features``).

- An **event handler**: what an event of one type means to the workflow during replay (an
  activity's result resolves its future, a fired timer runs its callback). Called as
  ``handler(instance, event)`` for every such event, live or replayed: keep it lean.
- A **command event**: an event the server writes for a command the code issued
  (ActivityTaskScheduled for ScheduleActivity). Replay matches it against the oldest command the code
  issued and history has not yet confirmed, by key: the key the feature gave the command when the code
  issued it, rebuilt here from the event's attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["NAMING_FIELDS", "CommandEvent", "EventHandler", "describe_event"]

#: The attributes that name what an event or command is about, in a non-determinism error.
NAMING_FIELDS = (
    "activity_type",
    "activity_id",
    "timer_id",
    "signal_name",
    "name",
    "update_id",
    "marker_name",
    "marker_id",
)

#: What an event means to the workflow: ``handler(instance, event)``.
EventHandler = Callable[["WorkflowInstance", dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class CommandEvent:
    """An event the server writes for one command type, and how to match the two in replay."""

    event_type: str
    command_type: str
    #: The command's key, from the event's attributes: equal to the key the code's command was issued
    #: with if, and only if, the event records that command.
    key: Callable[[dict[str, Any]], tuple[str, ...]]
    #: The command closes the workflow: the code's later commands are dropped.
    closes: bool = False


def describe_event(ev: dict[str, Any]) -> str:
    """An event as a non-determinism error names it."""
    attrs = ev.get("attributes", {})
    fields = ", ".join(f"{k}={attrs[k]!r}" for k in NAMING_FIELDS if k in attrs)
    return f"event {ev['event_id']} {ev['event_type']}({fields})"
