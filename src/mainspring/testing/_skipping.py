"""The time-skipping clock of ``WorkflowEnvironment.start_time_skipping()``.

The server reads the time from its ``Clock`` (event times, timers, timeouts, retry backoffs). Here that clock
is real time plus an offset, and a watcher moves the offset forward to the server's next timer whenever
nothing is under way: no run is locked, being written or created, none has a workflow task due or running, an
activity scheduled or running (one in its retry backoff waits on a timer), a child starting or a signal or
cancellation to another workflow in flight, and no fired timer's handler still runs. Twice in a row, a few
milliseconds apart, so that what was just handed to a worker is seen. Activity code runs in real time (as in
Temporal's test server): time does not skip while it runs, so its timeouts mean what they say.

A workflow that never blocks (a busy loop) keeps its workflow task running: the environment never skips past
it, and ``handle.result()`` with a ``timeout`` says so instead of hanging.
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


def _busy(server: Server) -> bool:
    """True while anything is under way on the server (see the module's docstring)."""
    core: Any = server.engine
    if core._behind or core.timers._running:
        return True
    now = core.clock.now()
    for ex in core._cache.values():
        if ex.lock.locked() or ex.creating is not None or ex.writing is not None:
            return True
        if not ex.running:
            continue
        st = ex.state
        wt = st.wt
        if wt is not None and (wt.started or wt.ready_time <= now):
            return True
        if any(a.state is not ActivityState.BACKOFF for a in st.activities.values()):
            return True
        if any(c.status == "INITIATED" for c in st.children.values()) or st.externals:
            return True
    return False


async def skip_while_idle(server: Server, clock: SkippingClock) -> None:
    """Run until cancelled: whenever the server is idle twice in a row, jump to its next timer."""
    wheel: Any = server.engine.timers
    idle_once = False
    while True:
        await asyncio.sleep(_LOOK)
        if _busy(server):
            idle_once = False
            continue
        if not idle_once:
            idle_once = True
            continue
        heap = wheel._heap
        if heap:
            ahead = heap[0][0] - clock.now()
            if ahead > 0:
                clock.advance(ahead)
                wheel.wake()
        idle_once = False
