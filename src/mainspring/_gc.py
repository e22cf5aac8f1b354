"""Garbage-collector settings for a process that runs Mainspring and little else.

A server or a worker keeps many long-lived objects (runs, cached workflows and their coroutines). With
CPython's defaults, the youngest generation is collected every 700 new objects and, every so often, all
of those long-lived objects are scanned again; measured here, that scanning took a third of a worker's
time per new workflow (W2: 600-700 -> 700-870 workflows/s with these settings in the worker, and
470-640 -> 540-710 in the server). Reference cycles are still collected, in larger, rarer batches.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

__all__ = ["THRESHOLDS", "raise_gc_thresholds", "tune_gc"]

#: The collector's thresholds for a process holding many runs (see ``tune_gc``).
THRESHOLDS = (50_000, 5, 2)


def tune_gc(young_threshold: int = 50_000) -> None:
    """Set this process's garbage collector for a Mainspring server or worker process.

    What is alive now (modules, registrations, start-up state) is moved out of the collector's sight
    (``gc.freeze``), and the youngest generation is collected after ``young_threshold`` new objects
    instead of 700 (and the older generations after 5 and 2 of the younger's collections, not 10 and
    10, so garbage that survives into them is still freed: with 20 and 100 a worker running W5 grew to
    538 MB; with these it stays near 234 MB). The server does this itself. A worker process that
    mostly runs a ``Worker`` gains from calling it once, after imports and before ``worker.run()``; a
    process that does much else may prefer CPython's defaults. Call it again after loading much more
    code, to freeze that too.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, *THRESHOLDS[1:])


def raise_gc_thresholds() -> Callable[[], None]:
    """``THRESHOLDS`` until the function returned is called, which puts back the thresholds found (unless
    someone changed them meanwhile): for a server that shares a process with other code for a while (the
    test environments), where ``tune_gc``'s freeze would be for good. W16, a time-skipping environment
    running 1,000 workflows: 1.8-2.3 s -> 1.3-1.6 s."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], THRESHOLDS[0]), *THRESHOLDS[1:])
    mine = gc.get_threshold()

    def restore() -> None:
        if gc.get_threshold() == mine:
            gc.set_threshold(*before)

    return restore
