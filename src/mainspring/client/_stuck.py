"""Noticing that a wait for a result is on a run stuck on a failing workflow task, and saying so.

A bug in workflow code fails its workflow task, and the server retries the task (with backoff) until a
deploy fixes the code; the run stays RUNNING meanwhile, and ``result()`` would wait in silence. So a wait
that lasts a few seconds has the run described, and again at growing intervals, and a warning is logged
once if its workflow task has failed. One watcher per client checks at most a few runs a second, the
longest waits first: a program awaiting thousands of results must not add thousands of describes to a
busy server's load.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["StuckWatch"]

log = logging.getLogger("mainspring.client")

#: A wait is first checked after this long, then after twice as long each time, up to _MOST.
_FIRST = 3.0
_MOST = 60.0
#: The watcher wakes this often, and describes at most _BATCH runs each time.
_TICK = 1.0
_BATCH = 4

#: Describes a run: (workflow id, run id) -> the server's describe answer.
Describe = Callable[[str, str | None], Awaitable[dict[str, Any]]]


class _Wait:
    __slots__ = ("delay", "due", "run_id", "workflow_id")

    def __init__(self, workflow_id: str, run_id: str | None, now: float) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.delay = _FIRST
        self.due = now + _FIRST


def _failure_line(failure: dict[str, Any]) -> str:
    kind = failure.get("type") or failure.get("kind") or "Error"
    return f"{kind}: {failure.get('message', '')}"


class StuckWatch:
    """The waits for results of one client, and the task that checks the long ones."""

    def __init__(self, describe: Describe) -> None:
        self._describe = describe
        self._waits: dict[int, _Wait] = {}
        self._ids = itertools.count()
        self._task: asyncio.Task[None] | None = None

    def add(self, workflow_id: str, run_id: str | None) -> int:
        """A wait begins; its key, for ``remove``."""
        key = next(self._ids)
        self._waits[key] = _Wait(workflow_id, run_id, time.monotonic())
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="mainspring-stuck-watch")
        return key

    def remove(self, key: int) -> None:
        """The wait ended (a result, an error, a timeout)."""
        self._waits.pop(key, None)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        while self._waits:
            await asyncio.sleep(_TICK)
            now = time.monotonic()
            due = sorted((w.due, key) for key, w in self._waits.items() if w.due <= now)
            for _, key in due[:_BATCH]:
                w = self._waits.get(key)
                if w is None:
                    continue
                if await self._check(w):
                    self._waits.pop(key, None)  # said, or nothing to say any more
                else:
                    w.delay = min(w.delay * 2, _MOST)
                    w.due = time.monotonic() + w.delay

    async def _check(self, w: _Wait) -> bool:
        """Look at the run; warn if it is stuck. Whether this wait needs no more looking at."""
        try:
            d = await self._describe(w.workflow_id, w.run_id)
        except Exception:  # advisory only: the wait itself reports what matters
            return True
        wt = d.get("pending_workflow_task")
        failure = wt.get("last_failure") if isinstance(wt, dict) else None
        if wt and failure:
            failed = int(wt["attempt"]) - 1
            log.warning(
                "workflow %r is stuck: its workflow task failed %d time%s, last with %s; it is retried until "
                "a worker runs it without error (see the worker's log); still waiting for the result",
                w.workflow_id,
                failed,
                "" if failed == 1 else "s",
                _failure_line(failure),
            )
            return True
        status: object = d.get("execution", {}).get("status")
        return status != "RUNNING"
