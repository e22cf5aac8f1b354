"""Admission: the server says no to new work before it is swamped, rather than after.

Without it, a server offered more starts than its store can commit accepted them all: the write queue
grew, every call slowed down until callers timed out (and retried, adding more), and runs whose start
the caller saw fail were created anyway. Now a start that would join a standing queue is refused at
once with ``ResourceExhaustedError`` (429, with a ``retry_after``), which costs nothing to store, so
the starts that are accepted keep a short, steady latency and callers know to come back.

A burst is not a standing queue: a thousand starts sent at once are all accepted and drain in a few
group commits. What is refused is a queue that stays: the rule is CoDel's (Nichols and Jacobson,
"Controlling Queue Delay", 2012) on the start's time in the server. Once every start that finished
for ``interval`` took longer than ``target``, new starts are refused until one finishes within
``target`` again; and never more than ``limit`` are in flight at once.

A start's time in the server does not count the time its request waited to be read: when the event
loop itself is behind (the process is out of CPU), requests queue in front of it, unseen. So the
loop's lateness is watched too (``watch``): while every wake-up for ``interval`` was more than
``target`` late, new starts are refused as well.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

from ..errors import ResourceExhaustedError

__all__ = ["Admission"]

#: How many seconds of the loop's lateness are kept (``Admission.worst_lateness``).
_LATE_SECONDS = 60


class Admission:
    """Counts work in flight and refuses more while a queue stands."""

    def __init__(
        self,
        *,
        target: float = 0.05,
        interval: float = 0.1,
        limit: int = 10_000,
        floor: int = 128,
        retry_after: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.interval = interval
        self.limit = limit
        #: Fewer than this many in flight is never a queue worth refusing work for (one slow disk sync, a
        #: moment without CPU on a busy machine, a client that keeps a hundred starts in flight: its
        #: queue is as long as it chooses, and refusing it only makes it wait).
        self.floor = floor
        self.retry_after = retry_after
        self._clock = clock
        self.in_flight = 0
        #: Since when every finished start has taken longer than ``target`` (None: the last one did not).
        self._slow_since: float | None = None
        #: Since when every look at the event loop found it more than ``target`` late (None: on time).
        self._late_since: float | None = None
        #: Starts refused so far (for logs and benchmarks).
        self.refused = 0
        #: The loop's worst lateness in each of the last seconds: (the second, seconds late), newest last.
        self._late_by_second: collections.deque[tuple[int, float]] = collections.deque(maxlen=_LATE_SECONDS)

    def admit(self, what: str) -> float:
        """Take one in; ResourceExhaustedError if the server should not. Returns the ticket for ``done``."""
        now = self._clock()
        standing = self._lasted(self._slow_since, now) or self._lasted(self._late_since, now)
        if self.in_flight >= self.limit or (standing and self.in_flight >= self.floor):
            self.refused += 1
            raise ResourceExhaustedError(
                f"the server is overloaded ({self.in_flight:,} {what} in flight, falling behind); retry after "
                f"{self.retry_after:g} s (a start retried with the same request id is not started twice)",
                status=429,
                code="overloaded",
                details={"retry_after": self.retry_after},
            )
        self.in_flight += 1
        return now

    def _lasted(self, since: float | None, now: float) -> bool:
        return since is not None and now - since >= self.interval

    def done(self, ticket: float) -> None:
        """One taken in by ``admit`` has finished (either way)."""
        self.in_flight -= 1
        now = self._clock()
        if now - ticket <= self.target:
            self._slow_since = None
        elif self._slow_since is None:
            self._slow_since = now

    def lateness(self, late: float) -> None:
        """The event loop woke ``late`` seconds after it was due (see ``watch``)."""
        second = int(self._clock())
        by_second = self._late_by_second
        if by_second and by_second[-1][0] == second:
            if late > by_second[-1][1]:
                by_second[-1] = (second, late)
        else:
            by_second.append((second, late))
        if late <= self.target:
            self._late_since = None
        elif self._late_since is None:
            self._late_since = self._clock()

    def worst_lateness(self, seconds: int = _LATE_SECONDS) -> float:
        """The event loop's worst lateness over the last ``seconds`` seconds (at most 60), in seconds: how
        long the server kept every caller waiting at worst, whatever they asked (a stall of the loop)."""
        since = int(self._clock()) - seconds
        return max((late for second, late in self._late_by_second if second >= since), default=0.0)

    async def watch(self, period: float = 0.02) -> None:
        """Measure the event loop's lateness every ``period`` seconds, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + period
            await asyncio.sleep(period)
            self.lateness(loop.time() - due)
