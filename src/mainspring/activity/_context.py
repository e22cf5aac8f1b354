"""What an activity can ask about the attempt it runs in: ``info()``, ``heartbeat()``, and what it can
tell: ``raise_complete_async()``."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from ..errors import CancelledError

__all__ = ["ActivityInfo", "heartbeat", "in_activity", "info", "is_cancelled", "raise_complete_async"]


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
    #: This attempt's task token: what ``client.get_async_activity_handle(task_token=...)`` takes to
    #: heartbeat, complete or fail it from elsewhere (see ``raise_complete_async``).
    task_token: str = ""


class _Running:
    """The attempt running in this context. Its ``info`` is built on first use: most activities
    never ask, and building it (times and timeouts parsed) is a noticeable part of a short step."""

    __slots__ = ("_info", "_make_info", "cancelled", "heartbeat", "probe", "sync")

    def __init__(
        self,
        make_info: Callable[[], ActivityInfo],
        heartbeat: Callable[[Any], None],
        *,
        sync: bool = False,
        probe: Callable[[], bool] | None = None,
    ) -> None:
        self._make_info = make_info
        self._info: ActivityInfo | None = None
        self.heartbeat = heartbeat
        #: The workflow cancelled this activity (or closed): stop, and let the cancellation propagate.
        self.cancelled = False
        #: A plain ``def`` activity: nothing can interrupt it, so ``heartbeat()`` raises once it is cancelled.
        self.sync = sync
        #: In another process: asks the worker's process whether the attempt was cancelled.
        self.probe = probe

    def is_cancelled(self) -> bool:
        if not self.cancelled and self.probe is not None and self.probe():
            self.cancelled = True
        return self.cancelled

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

    In a plain ``def`` activity (a thread or another process, which nothing can interrupt), once the
    workflow cancelled the activity this raises ``mainspring.CancelledError`` instead, as Temporal's
    threaded activities get theirs: let it propagate (after cleaning up) and the activity ends
    cancelled. An ``async def`` activity gets ``asyncio.CancelledError`` where it awaits instead.
    """
    running = _get()
    if running.sync and running.is_cancelled():
        raise CancelledError(f"activity {running.info.activity_type!r} was cancelled")
    running.heartbeat(details)


def is_cancelled() -> bool:
    """True once the workflow cancelled this activity (or ended without waiting for it).

    An ``async def`` activity is also interrupted: it gets ``asyncio.CancelledError`` where it waits.
    A plain ``def`` activity runs in a thread (or process) that cannot be interrupted: its next
    ``heartbeat()`` raises ``mainspring.CancelledError``, and one that does not heartbeat should check
    this now and then and stop by raising ``mainspring.CancelledError``.
    """
    return _get().is_cancelled()


class _CompleteAsync(BaseException):
    """Raised by ``raise_complete_async``: not an ``Exception``, so an ``except Exception`` in the
    activity does not take it for a failure."""


def raise_complete_async() -> NoReturn:
    """End this function without ending the activity: it is completed later, from elsewhere.

    Hand ``info().task_token`` (or the workflow id and activity id) to whatever will finish the work;
    it calls ``client.get_async_activity_handle(...)`` and ``complete(result)``, ``fail(error)``,
    ``heartbeat(details)`` or ``report_cancellation(details)`` (or ``mainspring activity complete`` on
    the command line). The worker frees the activity's slot at once and does not report on it; the
    server keeps the attempt open, under its timeouts (start-to-close, heartbeat, schedule-to-close).
    """
    _get()
    raise _CompleteAsync()
