"""Versioning workflow code with patches: ``ctx.patched(id)`` and ``ctx.deprecate_patch(id)``, as Temporal's.

Code changed while runs are mid-flight keeps both paths behind ``if ctx.patched("my-change"):``. Run live, the
call records a marker (MarkerRecorded, marker_name "core_patch", Temporal's name) and returns True: the run
takes the new path from then on, and its replays find the marker and take it again. A run whose history
reached that point under the old code has no marker there: replaying, the call returns False, and the run
keeps the old path. The first answer for an id is kept for the rest of the run, so a run never switches
paths halfway.

Once no run on the old path is left, ``ctx.deprecate_patch(id)`` replaces the ``if``: it records the same
marker (``deprecated``) without asking anything, and a history with the marker replays with or without
the call. Once no run that recorded it is left either, the call can go: a deprecated marker with no command
for it is passed over in replay. A non-deprecated one is not: code that stopped calling ``patched`` while
runs recorded it disagrees with their history (non-determinism, named).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..api.enums import CommandType, EventType
from ..api.names import check_id

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["MARKER_NAME", "deprecate", "patched", "skippable"]

MARKER_NAME = "core_patch"
_CMD_MARKER = CommandType.RECORD_MARKER.value
_EV_MARKER = EventType.MARKER_RECORDED.value
_EV_COMPLETED = EventType.WORKFLOW_TASK_COMPLETED.value


def patched(inst: WorkflowInstance, patch_id: str) -> bool:
    """Whether the run takes the new path of ``patch_id``: True live (recording the marker), else whether
    the history recorded the marker in the task being replayed; the same for the rest of the run."""
    _check(patch_id)
    known = inst._patches.get(patch_id)
    if known is not None:
        return known
    recorded = _recorded_here(inst, patch_id)
    take = (not inst.replaying) or recorded is not None
    inst._patches[patch_id] = take
    if take:
        _record(inst, patch_id, deprecated=False)
    return take


def deprecate(inst: WorkflowInstance, patch_id: str) -> None:
    """Record the marker of ``patch_id`` as deprecated (live; replaying, only if history has it here)."""
    _check(patch_id)
    if patch_id in inst._patches:
        return
    inst._patches[patch_id] = True
    if not inst.replaying or _recorded_here(inst, patch_id) is not None:
        _record(inst, patch_id, deprecated=True)


def skippable(ev: dict[str, Any]) -> bool:
    """True for a deprecated patch marker: replay passes it over when the code issued no command for it."""
    attrs = ev["attributes"]
    details = attrs.get("details")
    return (
        ev["event_type"] == _EV_MARKER
        and attrs.get("marker_name") == MARKER_NAME
        and isinstance(details, dict)
        and details.get("deprecated") is True
    )


def _check(patch_id: str) -> None:
    if not isinstance(patch_id, str):
        raise TypeError(f"a patch id must be a str, got {type(patch_id).__name__}")
    problem = check_id("patch id", patch_id)  # the marker's id: bounded and printable, as the server wants
    if problem:
        raise ValueError(problem)


def _record(inst: WorkflowInstance, patch_id: str, *, deprecated: bool) -> None:
    inst._add_command(
        {
            "type": _CMD_MARKER,
            "marker_name": MARKER_NAME,
            "marker_id": patch_id,
            "details": {"patch_id": patch_id, "deprecated": deprecated},
        },
        (_CMD_MARKER, MARKER_NAME, patch_id),
    )


def _recorded_here(inst: WorkflowInstance, patch_id: str) -> dict[str, Any] | None:
    """The patch's marker among the command events of the task being replayed, if it recorded one."""
    completed_id = inst._task_completed_id
    events = inst._events
    if not completed_id or not events:
        return None
    at = completed_id - events[0]["event_id"] + 1  # the events are contiguous: the first after the completion
    if at <= 0 or at > len(events) or events[at - 1]["event_type"] != _EV_COMPLETED:
        return None
    from ._features import COMMAND_EVENTS

    while at < len(events) and events[at]["event_type"] in COMMAND_EVENTS:
        ev: dict[str, Any] = events[at]
        attrs = ev["attributes"]
        if (
            ev["event_type"] == _EV_MARKER
            and attrs.get("marker_name") == MARKER_NAME
            and attrs.get("marker_id") == patch_id
        ):
            return ev
        at += 1
    return None
