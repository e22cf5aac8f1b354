"""Logging an error that repeats: once when it starts, then at most every few seconds with a count.

A full disk fails every write, and every retry of every write: logged one line (or one traceback)
per failure, that was ~650,000 tracebacks in 60 s. ``RepeatedLog`` logs the first occurrence of each
kind of error, counts the ones that follow, and logs the next one after ``every`` seconds with
"repeated N times in the last X s".
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

__all__ = ["RepeatedLog"]


class RepeatedLog:
    """Rate-limited logging per kind of error (a short fixed ``key``, not the message itself)."""

    def __init__(self, logger: logging.Logger, every: float = 5.0) -> None:
        self._logger = logger
        self._every = every
        #: key -> (when it was last logged, how many were not logged since); the store's writer
        #: thread logs through this too.
        self._seen: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def log(self, key: str, level: int, msg: str, *args: Any) -> bool:
        """Log ``msg % args`` unless an error of kind ``key`` was logged in the last ``every`` seconds
        (then it is only counted); True if it was logged."""
        now = time.monotonic()
        with self._lock:
            last, skipped = self._seen.get(key, (-math.inf, 0))
            if now - last < self._every:
                self._seen[key] = (last, skipped + 1)
                return False
            self._seen[key] = (now, 0)
        if skipped:
            msg += " (repeated %d times in the last %.0f s)"
            args = (*args, skipped, now - last)
        self._logger.log(level, msg, *args)
        return True

    def error(self, key: str, msg: str, *args: Any) -> bool:
        return self.log(key, logging.ERROR, msg, *args)

    def warning(self, key: str, msg: str, *args: Any) -> bool:
        return self.log(key, logging.WARNING, msg, *args)
