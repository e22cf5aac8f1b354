"""How the store's writes are going, so that work retried after a failed write backs off.

A failed commit leaves its run to be reloaded from the store and its tasks and timers re-armed
(``Engine._restore``). On a full disk the re-armed work fails again at once: a due timer fired, failed
and was re-armed in a tight loop. So each consecutive failure doubles the wait before that retry,
from 0.1 s to at most 5 s, and the first write that succeeds ends the wait.
"""

from __future__ import annotations

__all__ = ["StoreHealth"]

_FIRST_DELAY = 0.1
_MAX_DELAY = 5.0


class StoreHealth:
    """Consecutive failed writes, and how long work retried after one waits."""

    __slots__ = ("failures",)

    def __init__(self) -> None:
        #: Writes that failed since the last one that succeeded (the store logs the failures).
        self.failures = 0

    def failed(self) -> None:
        self.failures += 1

    def succeeded(self) -> None:
        """A write went through (the hot path calls this only while ``failures`` is not 0)."""
        self.failures = 0

    @property
    def delay(self) -> float:
        """Seconds to wait before retrying work whose write failed (0 while writes succeed)."""
        if not self.failures:
            return 0.0
        return min(_FIRST_DELAY * 2.0 ** min(self.failures - 1, 16), _MAX_DELAY)
