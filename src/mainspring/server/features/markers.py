"""Markers: the RecordMarker command, what a workflow task worked out itself and records for replay.

A local activity runs inside the worker's workflow task (no activity task, no queue): its outcome is a
marker among the task's commands (marker_name "LocalActivity"), written as MarkerRecorded with the
task's other command events, in the same commit. Replay reads the outcome back from it instead of
running the function again. The server keeps no state for a marker: it is history only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import CommandType, EventType
from .kinds import CommandCheck, CommandKind

if TYPE_CHECKING:
    from .._transition import Transition

__all__ = ["KINDS"]


def _validate(check: CommandCheck, cmd: m.RecordMarkerCommand) -> str | None:
    if not check.claim("marker:" + cmd.marker_name, cmd.marker_id):
        return f"marker {cmd.marker_name!r} id {cmd.marker_id!r} is recorded twice in this task"
    # The details hold a local activity's result or failure: bounded as an activity's result is.
    return check.core._payload_problem(f"the details of marker {cmd.marker_name!r} {cmd.marker_id!r}", cmd.details)


def _apply(t: Transition, cmd: m.RecordMarkerCommand, completed_id: int) -> None:
    t.append(
        EventType.MARKER_RECORDED,
        {
            "marker_name": cmd.marker_name,
            "marker_id": cmd.marker_id,
            "details": cmd.details,
            "workflow_task_completed_event_id": completed_id,
        },
    )


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(CommandType.RECORD_MARKER, m.RecordMarkerCommand, _validate, _apply),
)
