"""Local activities in workflow code: run by the workflow's own worker, their outcome recorded as a marker.

``ctx.execute_local_activity`` asks for one; nothing goes to the server then. When the code is blocked,
the worker runs every local activity asked for (``mainspring.worker._local_activities``: retries with
backoff included), waits for all of them, and hands their outcomes back (``resolve``): each becomes a
RecordMarker command (marker_name "LocalActivity", in the order they were asked for) and resolves the
code's future, and the code runs on, in the same workflow task. The task's completion carries the markers
among its commands.

On replay the function is not run: the outcome is read from the task's MarkerRecorded events. The same
rule as live decides when: at each point where the code is blocked, the local activities asked for whose
markers the current task recorded are resolved, in the order they were asked for (live, a worker resolves
all the outstanding ones at once, or none when it had to complete the task before they finished: see the
worker's heartbeat).

Registered with the replay (``_features``): MarkerRecorded confirms the RecordMarker command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..api.enums import CommandType, EventType
from ..converter import PayloadError, decode
from ..errors import ActivityError, WorkflowCodeError, exception_from_failure
from ..interceptors import CallKind
from ._kinds import CommandEvent, EventHandler

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["COMMAND_EVENTS", "EVENTS", "MARKER_NAME", "LocalActivity", "LocalActivityCall", "resolve", "schedule"]

MARKER_NAME = "LocalActivity"
_CMD_MARKER = CommandType.RECORD_MARKER.value
_EV_MARKER = EventType.MARKER_RECORDED.value


@dataclass(frozen=True)
class LocalActivityCall:
    """Everything needed to run one local activity (built by ``Context.execute_local_activity``)."""

    activity_type: str
    input: Any
    result_type: Any
    schedule_to_close_timeout: float | None
    start_to_close_timeout: float | None
    #: The retry policy as the server's API takes it (``RetryPolicy.to_json``), or None for the default.
    retry_policy: dict[str, Any] | None


class LocalActivity:
    """A local activity the code asked for, until its outcome is recorded."""

    __slots__ = ("activity_id", "call", "future", "outgoing", "task")

    def __init__(self, activity_id: str, call: LocalActivityCall, future: asyncio.Future[Any]) -> None:
        self.activity_id = activity_id
        self.call = call
        self.future = future
        #: With interceptors: where their header for it goes (``outgoing["header"]``), as a command's would;
        #: it stays in the worker, which runs the attempts within their ``activity_call``. None without.
        self.outgoing: dict[str, Any] | None = None
        #: The worker's task running its attempts (on the worker's loop), once it started it.
        self.task: asyncio.Task[Any] | None = None


class _LocalFuture(asyncio.Future[Any]):
    """Cancelling it (the code stopped waiting) drops the local activity: no marker is recorded for it."""

    __slots__ = ("on_cancel",)

    def __init__(self, loop: asyncio.AbstractEventLoop, on_cancel: Callable[[], None]) -> None:
        super().__init__(loop=loop)
        self.on_cancel = on_cancel

    def cancel(self, msg: Any = None) -> bool:
        if not super().cancel(msg):
            return False
        self.on_cancel()
        return True


def schedule(inst: WorkflowInstance, call: LocalActivityCall) -> asyncio.Future[Any]:
    """Ask for a local activity; the future resolves once its outcome is known (run, or read from history)."""
    activity_id = str(inst._next_seq())
    fut = _LocalFuture(inst, lambda: _dropped(inst, activity_id))
    la = inst._local[activity_id] = LocalActivity(activity_id, call, fut)
    if inst.interceptors:
        la.outgoing = {}
        inst.note_call(CallKind.START_ACTIVITY, call.activity_type, None, la.outgoing, {"local": True})
    return fut


def _dropped(inst: WorkflowInstance, activity_id: str) -> None:
    la = inst._local.pop(activity_id, None)
    if la is not None and la.task is not None:
        la.task.cancel()


def outstanding(inst: WorkflowInstance) -> list[LocalActivity]:
    """The local activities asked for whose outcome is not recorded yet, in the order they were asked for."""
    return list(inst._local.values())


def resolve(inst: WorkflowInstance, outcomes: dict[str, dict[str, Any]]) -> None:
    """Record the outcome (the marker's details) of each local activity in ``outcomes``, in the order they
    were asked for: a RecordMarker command each, then its future resolved. The caller runs the code on."""
    for activity_id in [i for i in inst._local if i in outcomes]:
        la = inst._local.pop(activity_id)
        details = outcomes[activity_id]
        inst._add_command(
            {"type": _CMD_MARKER, "marker_name": MARKER_NAME, "marker_id": activity_id, "details": details},
            (_CMD_MARKER, MARKER_NAME, activity_id),
        )
        _settle(la, details)


def _settle(la: LocalActivity, details: dict[str, Any]) -> None:
    fut = la.future
    if fut.done():
        return
    name = la.call.activity_type
    if "failure" not in details:
        try:
            fut.set_result(decode(details.get("result"), la.call.result_type))
        except PayloadError as e:
            fut.set_exception(
                WorkflowCodeError(f"the result of local activity {name!r} does not fit its declared return type: {e}")
            )
        return
    failure = details.get("failure") or {"message": "local activity failed"}
    cause = exception_from_failure(failure)
    retry_state = details.get("retry_state")
    fut.set_exception(
        ActivityError(
            f"local activity {name!r} (id {la.activity_id!r}) "
            f"{'timed out' if retry_state == 'TIMEOUT' else 'failed'}: {cause}",
            activity_type=name,
            activity_id=la.activity_id,
            attempt=int(details.get("attempt") or 1),
            retry_state=retry_state,
            cause=cause,
        )
    )


def replay_recorded(inst: WorkflowInstance) -> bool:
    """At a point where replayed code is blocked: resolve the outstanding local activities whose markers
    the current task recorded (read from the events being replayed). True if any was."""
    completed_id = inst._task_completed_id
    if not completed_id:
        return False
    recorded = inst._local_markers
    if recorded is None or recorded[0] is not inst._events:
        recorded = inst._local_markers = (inst._events, _markers_in(inst._events))
    found = {}
    for activity_id in inst._local:
        m = recorded[1].get(activity_id)
        if m is not None and m[0] == completed_id:
            found[activity_id] = m[1]
    if not found:
        return False
    resolve(inst, found)
    return True


def _markers_in(events: list[dict[str, Any]]) -> dict[str, tuple[int, dict[str, Any]]]:
    """The local activity markers among ``events``: id -> (its task's WorkflowTaskCompleted id, details).
    Made once per piece of history, and only for a workflow that asked for local activities."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for ev in events:
        if ev["event_type"] == _EV_MARKER:
            attrs = ev["attributes"]
            if attrs.get("marker_name") == MARKER_NAME and isinstance(attrs.get("details"), dict):
                out[str(attrs["marker_id"])] = (
                    int(attrs.get("workflow_task_completed_event_id") or 0),
                    attrs["details"],
                )
    return out


EVENTS: dict[str, EventHandler] = {}

COMMAND_EVENTS = (
    CommandEvent(
        _EV_MARKER,
        _CMD_MARKER,
        lambda attrs: (_CMD_MARKER, attrs["marker_name"], attrs["marker_id"]),
    ),
)
