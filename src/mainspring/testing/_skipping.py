"""The time-skipping clock of ``WorkflowEnvironment.start_time_skipping()``.

The server reads the time from its ``Clock`` (event times, timers, timeouts, retry backoffs). Here that clock
is real time plus an offset, and a watcher moves the offset forward to the server's next timer whenever
nothing is under way: no run is locked, being written or created, none has a workflow task due or running, an
activity scheduled or running (one in its retry backoff waits on a timer), a child starting or a signal or
cancellation to another workflow in flight, and no fired timer's handler still runs. Twice in a row, a few
milliseconds apart, so that what was just handed to a worker is seen. Activity code runs in real time (as in
Temporal's test server): time does not skip while it runs, so its timeouts mean what they say.

A workflow that never blocks (a busy loop) keeps its workflow task running, and time does not skip: the
worker's deadlock detector stops it, and the environment terminates the run (see ``_environment``).

Each look costs O(1), not O(cached runs): the engine notes the runs it touches (``_Watch``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..api.enums import ActivityState

if TYPE_CHECKING:
    from ..server import Server

__all__ = ["SkippingClock", "skip_while_idle"]

#: How often (real seconds) the watcher looks whether it may skip.
_LOOK = 0.002


class SkippingClock:
    """Real time plus an offset that only grows."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.offset += seconds


def _run_busy(ex: Any, now: float) -> bool:
    """True while something is under way for this run (see the module's docstring)."""
    if ex.lock.locked() or ex.creating is not None or ex.writing is not None:
        return True
    if not ex.running:
        return False
    st = ex.state
    wt = st.wt
    if wt is not None and (wt.started or wt.ready_time <= now):
        return True
    if any(a.state is not ActivityState.BACKOFF for a in st.activities.values()):
        return True
    return any(c.status == "INITIATED" for c in st.children.values()) or bool(st.externals)


def _delayed(ex: Any, now: float) -> bool:
    """A running run whose workflow task waits for a time (a delayed start, a retry's backoff): it becomes
    due as the clock moves, with no step of the engine's to say so (see ``_Watch``)."""
    wt = ex.state.wt
    return ex.running and wt is not None and not wt.started and wt.ready_time > now


class _Watch:
    """Whether anything is under way, in O(1) per look rather than O(cached runs).

    A run goes from idle to busy only by a step of the engine's, and each such step adds it to
    ``EngineCore.touched`` (a transition takes its lock, a workflow task is handed out, a write is
    submitted, the run enters the cache). A look checks only the runs touched since and those still
    busy at the last look, and stops at the first busy one: the others stay suspects for the next
    look. A run found idle is forgotten until it is touched again. Runs whose workflow task waits
    for a time are the exception, as time alone makes them due: they are checked on every look.
    A run that left the cache (evicted, or a copy that was lost) is not the run any more.
    """

    def __init__(self, server: Server, also: set[Any]) -> None:
        self.core: Any = server.engine
        #: Work of the environment's own that keeps the server busy while it is not empty.
        self.also = also
        self.suspects: set[Any] = set(self.core._cache.values())  # a kept database's runs, once
        self.delayed: set[Any] = set()
        #: Something besides timer handlers happened since this was last cleared (see ``_skip``).
        self.stirred = True
        self.core.touched = set()

    def close(self) -> None:
        self.core.touched = None

    def busy(self) -> bool:
        core = self.core
        touched: set[Any] = core.touched
        if core._behind or touched:
            self.stirred = True
        if core._behind or core.timers._running or self.also:
            return True
        suspects = self.suspects
        if touched:
            suspects |= touched
            touched.clear()
        now = core.clock.now()
        cache = core._cache
        for ex in list(self.delayed):
            if cache.get(ex.record.run_id) is not ex or not _delayed(ex, now):
                self.delayed.discard(ex)
                suspects.add(ex)
        while suspects:
            ex = suspects.pop()
            if cache.get(ex.record.run_id) is not ex:
                continue
            if _run_busy(ex, now):
                suspects.add(ex)
                return True
            if _delayed(ex, now):
                self.delayed.add(ex)
        return False


async def skip_while_idle(server: Server, clock: SkippingClock, also: set[Any] | None = None) -> None:
    """Run until cancelled: whenever the server is idle twice in a row, jump to its next timer. ``also``:
    work of the caller's that counts as busy while the set is not empty."""
    wheel: Any = server.engine.timers
    watch = _Watch(server, also if also is not None else set())
    try:
        await _skip(watch, wheel, clock)
    finally:
        watch.close()


async def _skip(watch: _Watch, wheel: Any, clock: SkippingClock) -> None:
    idle_looks = 0
    while True:
        await asyncio.sleep(_LOOK)
        if watch.busy():
            idle_looks = 0
            continue
        idle_looks += 1
        # Idle twice in a row, so that what was just handed over is seen. Once is enough when all that
        # happened since the last skip is timers whose handlers changed nothing (a workflow task's
        # timeout, say, long after it completed): the server stayed idle throughout. Skipping past a
        # thousand such reminders, spread over the real time their tasks took, cost two looks each.
        if idle_looks < (1 if not watch.stirred else 2):
            continue
        heap = wheel._heap
        if heap:
            ahead = heap[0][0] - clock.now()
            if ahead > 0:
                watch.stirred = False
                clock.advance(ahead)
                wheel.wake()
        idle_looks = 0
