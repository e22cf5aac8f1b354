"""What an activity can ask about the attempt it runs in: ``info()``, ``heartbeat()``."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["ActivityInfo", "heartbeat", "in_activity", "info", "is_cancelled"]


@dataclass(frozen=True)
class ActivityInfo:
    """About the running activity attempt."""

    activity_id: str
    activity_type: str
    attempt: int
    workflow_id: str
    run_id: str
    workflow_type: str
    namespace: str
    task_queue: str
    scheduled_time: datetime
    started_time: datetime
    #: Details of the last heartbeat of an earlier attempt (to resume where it stopped), or None.
    heartbeat_details: Any
    heartbeat_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    schedule_to_close_timeout: timedelta | None


class _Running:
    """The attempt running in this context. Its ``info`` is built on first use: most activities
    never ask, and building it (times and timeouts parsed) is a noticeable part of a short step."""

    __slots__ = ("_info", "_make_info", "cancelled", "heartbeat")

    def __init__(self, make_info: Callable[[], ActivityInfo], heartbeat: Callable[[Any], None]) -> None:
        self._make_info = make_info
        self._info: ActivityInfo | None = None
        self.heartbeat = heartbeat
        #: The workflow cancelled this activity (or closed): stop, and let the cancellation propagate.
        self.cancelled = False

    @property
    def info(self) -> ActivityInfo:
        if self._info is None:
            self._info = self._make_info()
        return self._info


_current: contextvars.ContextVar[_Running | None] = contextvars.ContextVar("mainspring_activity", default=None)


def _get() -> _Running:
    running = _current.get()
    if running is None:
        raise RuntimeError("not in an activity: activity.info() and activity.heartbeat() work only inside one")
    return running


def in_activity() -> bool:
    """True inside a running activity."""
    return _current.get() is not None


def info() -> ActivityInfo:
    """About the activity attempt running now."""
    return _get().info


def heartbeat(details: Any = None) -> None:
    """Tell the server this attempt is alive, with optional progress ``details``.

    Required at least every ``heartbeat_timeout`` when one is set. The details are kept, and a later
    attempt finds them in ``info().heartbeat_details``. Calls are batched, so calling often is cheap.
    Details with no JSON form raise ``InvalidArgumentError`` naming their type.
    """
    _get().heartbeat(details)


def is_cancelled() -> bool:
    """True once the workflow cancelled this activity (or ended without waiting for it).

    An ``async def`` activity is also interrupted: it gets ``asyncio.CancelledError`` where it waits.
    A plain ``def`` activity runs in a thread that cannot be interrupted, so a long one should check
    this now and then (for example next to each ``heartbeat()``) and stop by raising
    ``mainspring.CancelledError``.
    """
    return _get().cancelled
