"""The clock and the timer wheel that fires durable timers, timeouts and retry backoffs.

Timers here are reminders, not state: the durable facts (a user timer's fire time, an activity's
next attempt) live in execution state, and the heap is rebuilt from it when the server starts. A
timer that fires late or twice is harmless, because its handler re-checks the execution's state.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .._repeats import RepeatedLog
from ..storage import StorageError

__all__ = ["Clock", "SystemClock", "TimerWheel"]

log = logging.getLogger(__name__)
_repeats = RepeatedLog(log)


class Clock(Protocol):
    """Where the server reads the time. Tests may inject one that jumps forward."""

    def now(self) -> float:
        """Unix time in seconds."""
        ...


class SystemClock:
    """The real clock: ``time.time()``."""

    def now(self) -> float:
        return time.time()


Handler = Callable[..., Awaitable[Any]]


class TimerWheel:
    """A heap of (when, handler, args) run by one background task."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Handler, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, when: float, handler: Handler, *args: Any) -> None:
        """Run ``handler(*args)`` at Unix time ``when`` (or soon after)."""
        entry = (when, next(self._seq), handler, args)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self._wake.set()

    def wake(self) -> None:
        """Re-check the heap now (e.g. after an injected clock jumped)."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mainspring-timers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for t in list(self._running):
            t.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = self._clock.now()
            heap = self._heap
            while heap and heap[0][0] <= now:
                _, _, handler, args = heapq.heappop(heap)
                task = loop.create_task(self._call(handler, args))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            self._wake.clear()
            # At most an hour: the event loop cannot wait for a far-future time (a stored 1e300).
            delay = min(heap[0][0] - now, 3600.0) if heap else 3600.0
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.001))
            except TimeoutError:
                pass

    @staticmethod
    async def _call(handler: Handler, args: tuple[Any, ...]) -> None:
        try:
            await handler(*args)
        except StorageError as e:
            # The store failed (a full disk): expected, and retried later (the run is reloaded from the
            # store and its timers re-armed, after a backoff); a traceback would say nothing more.
            _repeats.error("timer", "timer handler %s failed: %s", getattr(handler, "__name__", handler), e)
        except Exception:
            log.exception("timer handler %s failed", getattr(handler, "__name__", handler))
