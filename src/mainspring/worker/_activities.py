"""Running one activity attempt: decode its input, call it, heartbeat, report the outcome."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from .._json import dumps
from ..activity import ActivityDefinition
from ..activity._args import decode_arguments
from ..activity._context import ActivityInfo, _CompleteAsync, _current, _Running
from ..converter import PayloadError, encode
from ..errors import ApplicationError, ApplicationErrorCategory, CancelledError, InvalidArgumentError
from ..workflow._instance import failure_payload
from ._processes import ProcessActivities, SharedStateManager

__all__ = ["ActivityRunner", "Outcome"]

log = logging.getLogger("mainspring.worker")

#: ("complete", result), ("fail", failure JSON) or ("async", None): completed later, from elsewhere
Outcome = tuple[str, Any]


def _td(seconds: float | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None


def _activity_info(task: dict[str, Any]) -> ActivityInfo:
    hb_timeout = task.get("heartbeat_timeout")
    return ActivityInfo(
        activity_id=task["activity_id"],
        activity_type=task["activity_type"],
        attempt=task["attempt"],
        workflow_id=task["workflow_id"],
        run_id=task["run_id"],
        workflow_type=task["workflow_type"],
        namespace=task["namespace"],
        task_queue=task["task_queue"],
        scheduled_time=datetime.fromisoformat(task["scheduled_time"]),
        started_time=datetime.fromisoformat(task["started_time"]),
        heartbeat_details=task.get("heartbeat_details"),
        heartbeat_timeout=_td(hb_timeout),
        start_to_close_timeout=_td(task.get("start_to_close_timeout")),
        schedule_to_close_timeout=_td(task.get("schedule_to_close_timeout")),
        task_token=task["task_token"],
    )


def _log_failure(task: dict[str, Any], e: Exception, *, cancelled: bool) -> None:
    """One line per failed attempt; an expected one (``ApplicationErrorCategory.BENIGN``, or the
    cancellation the workflow asked for) at debug, as Temporal's worker does, so a polling activity
    that is "not done yet" does not flood the log."""
    benign = (isinstance(e, ApplicationError) and e.category is ApplicationErrorCategory.BENIGN) or (
        cancelled and isinstance(e, CancelledError)
    )
    level = logging.DEBUG if benign else logging.WARNING
    if log.isEnabledFor(level):
        log.log(
            level,
            "activity %s (id %s, attempt %s) of workflow %s failed: %s: %s",
            task["activity_type"],
            task["activity_id"],
            task["attempt"],
            task["workflow_id"],
            e.type if isinstance(e, ApplicationError) else type(e).__name__,
            e,
        )


class _Heartbeater:
    """Batches ``activity.heartbeat()`` calls: at most one request in flight, spaced by ``interval``."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, send: Callable[[Any], Awaitable[None]], interval: float
    ) -> None:
        self._loop = loop
        self._send = send
        self._interval = interval
        self._details: Any = None
        self._dirty = False
        self._task: asyncio.Task[None] | None = None

    def beat(self, details: Any) -> None:
        try:
            details = encode(details)
        except PayloadError as e:
            raise InvalidArgumentError(f"activity.heartbeat(): the details cannot be sent: {e}") from None
        try:
            running_here = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            running_here = False
        if running_here:
            self._record(details)
        else:  # a plain `def` activity heartbeating from its thread
            self._loop.call_soon_threadsafe(self._record, details)

    def record(self, details: Any) -> None:
        """Details already encoded (from another process), on the event loop."""
        self._record(details)

    def _record(self, details: Any) -> None:
        self._details = details
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._flush())

    async def _flush(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self._send(self._details)
            except Exception as e:  # a lost heartbeat is not fatal; the next one may get through
                log.debug("activity heartbeat failed: %s", e)
            await asyncio.sleep(self._interval)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def _in_daemon_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], Any], name: str) -> Any:
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def run() -> None:
        try:
            value = fn()
        except BaseException as e:  # handed to the awaiting coroutine, like run_in_executor does
            ok, value = False, e
        else:
            ok = True
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop is closed: the worker stopped and nobody waits for this any more
            pass

    threading.Thread(target=run, name=f"mainspring-activity-{name}", daemon=True).start()
    return await future


class ActivityRunner:
    """Runs activity tasks for a worker."""

    def __init__(
        self,
        definitions: dict[str, ActivityDefinition],
        max_payload_bytes: Callable[[], int],
        threads: int,
        executor: Executor | None = None,
        shared_state_manager: SharedStateManager | None = None,
    ) -> None:
        self.definitions = definitions
        self._shared = shared_state_manager
        self._max_payload = max_payload_bytes
        # Plain-function activities each get a daemon thread (their number is already bounded by the
        # worker's activity slots), unless the worker was given an executor. Daemon, so that a worker
        # told to stop can exit even if an abandoned activity never returns: the server runs it again
        # elsewhere.
        self._threads = threads
        self._executor = executor
        #: Set up with the first activity run in a process pool (``_processes``).
        self._processes: ProcessActivities | None = None
        #: Attempts running now, by task token: their context, and the task to cancel (async ones).
        self._attempts: dict[str, tuple[_Running, asyncio.Task[Any] | None]] = {}

    def cancel(self, token: str) -> bool:
        """The server says the workflow cancelled this attempt's activity: stop it.

        An ``async def`` activity gets ``asyncio.CancelledError``; a plain ``def`` one, in its thread,
        sees ``activity.is_cancelled()`` become true. False if no such attempt runs here.
        """
        entry = self._attempts.get(token)
        if entry is None:
            return False
        running, task = entry
        if not running.cancelled:
            running.cancelled = True
            if task is not None:
                task.cancel()
            if self._processes is not None:
                self._processes.cancel(token)
        return True

    def shutdown(self) -> None:
        """Stop the process manager, if process-pool activities started one. (Activity threads are
        daemons that end with their functions; the executor is the caller's, left to them.)"""
        if self._processes is not None:
            self._processes.shutdown()

    async def _call_plain(
        self, d: ActivityDefinition, args: list[Any], running: _Running, heartbeater: _Heartbeater, token: str
    ) -> Any:
        """Run a plain ``def`` activity off the event loop: on a thread, or in the executor."""
        loop = asyncio.get_running_loop()
        executor = self._executor
        if isinstance(executor, ProcessPoolExecutor):
            if self._processes is None:
                self._processes = ProcessActivities(self._shared)
            return await self._processes.run(
                executor, d.fn, args, running.info, heartbeater.record, lambda: running.cancelled
            )
        call = functools.partial(contextvars.copy_context().run, d.fn, *args)
        if executor is None:
            return await _in_daemon_thread(loop, call, d.name)
        return await loop.run_in_executor(executor, call)

    async def run(self, task: dict[str, Any], send_heartbeat: Callable[[Any], Awaitable[None]]) -> Outcome:
        name = task["activity_type"]
        d = self.definitions.get(name)
        if d is None:
            known = ", ".join(sorted(self.definitions)) or "none"
            err = ApplicationError(
                f"activity type {name!r} is not registered on this worker; it runs: {known}",
                type="UnknownActivityType",
            )
            return "fail", failure_payload(err, with_stack=False)
        try:
            args = decode_arguments(d, task.get("input"))
        except PayloadError as e:
            err = ApplicationError(f"invalid input for activity {name!r}: {e}", type="InvalidInput", non_retryable=True)
            return "fail", failure_payload(err, with_stack=False)
        loop = asyncio.get_running_loop()
        hb_timeout = task.get("heartbeat_timeout")
        # Heartbeats are sent at most every half heartbeat timeout: the other half is left for a slow
        # round trip or a busy event loop.
        heartbeater = _Heartbeater(loop, send_heartbeat, min(hb_timeout * 0.5, 30.0) if hb_timeout else 30.0)
        running = _Running(functools.partial(_activity_info, task), heartbeater.beat, sync=not d.is_async)
        token = _current.set(running)
        task_token = task["task_token"]
        self._attempts[task_token] = (running, asyncio.current_task() if d.is_async else None)
        try:
            if d.is_async:
                result = await d.fn(*args)
            else:
                result = await self._call_plain(d, args, running, heartbeater, task_token)
        except _CompleteAsync:
            return "async", None
        except asyncio.CancelledError:
            if not running.cancelled:
                raise  # the worker is stopping, not a cancellation of the activity
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # handled here: later awaits of this task must not be cut short
            return "fail", failure_payload(CancelledError(f"activity {name!r} was cancelled"), with_stack=False)
        except Exception as e:
            _log_failure(task, e, cancelled=running.cancelled)
            return "fail", failure_payload(e)
        finally:
            del self._attempts[task_token]
            _current.reset(token)
            heartbeater.stop()
        try:
            payload = encode(result)
        except PayloadError as e:
            err = ApplicationError(
                f"the result of activity {name!r} cannot be sent: {e}",
                type="InvalidResult",
                non_retryable=True,
            )
            return "fail", failure_payload(err, with_stack=False)
        size = len(dumps(payload))
        if size > self._max_payload():
            err = ApplicationError(
                f"the result of activity {name!r} is {size:,} bytes, over the server's limit of "
                f"{self._max_payload():,} bytes; store large data elsewhere and return a reference",
                type="PayloadTooLarge",
                non_retryable=True,
            )
            return "fail", failure_payload(err, with_stack=False)
        return "complete", payload
