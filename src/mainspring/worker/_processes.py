"""Plain ``def`` activities in other processes (``Worker(activity_executor=ProcessPoolExecutor(...))``).

The activity's context cannot follow it into a child process, so the child gets what it needs
pickled (its ``ActivityInfo``, a queue and an event that a ``multiprocessing.Manager`` serves) and
sets up an activity context of its own (``_run_in_child``): ``activity.info()`` answers from the
copy, ``activity.heartbeat()`` puts the details on the queue, ``activity.is_cancelled()`` (and the
next heartbeat, which then raises ``CancelledError``) reads the event. In the worker, a thread takes
the heartbeats off the queue and hands each to its attempt's batching heartbeater on the event loop,
as a thread's heartbeats are. This is how Temporal's SDK does it too; like there, the function and
its arguments and result must be picklable (a module-level function, not a closure or lambda).

The manager (a server process of its own, started the way the pool starts its processes) is started
with the first such activity, and stopped with the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from multiprocessing.managers import SyncManager
from typing import Any

from ..activity._context import ActivityInfo, _current, _Running
from ..converter import PayloadError, encode
from ..errors import InvalidArgumentError

__all__ = ["ProcessActivities", "SharedStateManager"]

log = logging.getLogger("mainspring.worker")


def _run_in_child(fn: Callable[..., Any], args: list[Any], info: ActivityInfo, beats: Any, cancelled: Any) -> Any:
    """Run in the child process: an activity context of its own around ``fn(*args)``."""

    def heartbeat(details: Any) -> None:
        try:
            payload = encode(details)
        except PayloadError as e:
            raise InvalidArgumentError(f"activity.heartbeat(): the details cannot be sent: {e}") from None
        beats.put((info.task_token, payload))

    running = _Running(lambda: info, heartbeat, sync=True, probe=cancelled.is_set)
    token = _current.set(running)
    try:
        return fn(*args)
    finally:
        _current.reset(token)


def _set(event: Any) -> None:
    with contextlib.suppress(Exception):  # the manager is gone: the worker is stopping anyway
        event.set()


class SharedStateManager:
    """A ``multiprocessing`` manager of your own for the worker's process-pool activities (Temporal's shape:
    ``Worker(..., shared_state_manager=SharedStateManager.create_from_multiprocessing(multiprocessing.Manager()))``).

    Optional here: without one the worker starts a manager itself with the first such activity. One given is
    used, and left running when the worker stops (it is yours to shut down)."""

    def __init__(self, manager: SyncManager) -> None:
        self.manager = manager

    @classmethod
    def create_from_multiprocessing(cls, manager: SyncManager) -> SharedStateManager:
        """Use ``manager`` (a started ``multiprocessing.Manager()``) for heartbeats and cancellation."""
        return cls(manager)


class ProcessActivities:
    """The worker's side of activities run in a process pool: the manager, and the heartbeats' way back."""

    def __init__(self, shared: SharedStateManager | None = None) -> None:
        #: The manager given to the worker, if one was (used, and not stopped here).
        self._shared = shared
        self._manager: SyncManager | None = None
        self._beats: Any = None
        self._drainer: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Where each running attempt's heartbeats go, by task token (set and read on the event loop).
        self._listeners: dict[str, Callable[[Any], None]] = {}
        #: Each running attempt's cancellation event (a manager proxy), by task token.
        self._events: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _start(self, loop: asyncio.AbstractEventLoop, executor: Executor) -> tuple[SyncManager, Any]:
        """In a thread: starting a manager is a process start and a handshake."""
        with self._lock:
            if self._manager is None:
                # Started the way the pool starts its processes (fork, spawn or forkserver), so whatever
                # that asks of the program (spawn re-imports its main module) it asks once, not twice.
                if self._shared is not None:
                    manager = self._shared.manager
                else:
                    context = getattr(executor, "_mp_context", None) or multiprocessing.get_context()
                    manager = SyncManager(ctx=context)
                    manager.start()
                self._beats = manager.Queue()
                self._loop = loop
                self._drainer = threading.Thread(target=self._drain, name="mainspring-heartbeats", daemon=True)
                self._drainer.start()
                self._manager = manager
            return self._manager, self._beats

    def _drain(self) -> None:
        beats, loop = self._beats, self._loop
        assert loop is not None
        while True:
            try:
                item = beats.get()
            except (EOFError, OSError, BrokenPipeError):  # the manager stopped: the worker is stopping
                return
            if item is None:
                return
            try:
                loop.call_soon_threadsafe(self._deliver, *item)
            except RuntimeError:  # the loop is closed
                return

    def _deliver(self, token: str, details: Any) -> None:
        listener = self._listeners.get(token)
        if listener is not None:  # else the attempt ended meanwhile: a late heartbeat is dropped
            listener(details)

    async def run(
        self,
        executor: Executor,
        fn: Callable[..., Any],
        args: list[Any],
        info: ActivityInfo,
        on_heartbeat: Callable[[Any], None],
        cancelled_already: Callable[[], bool],
    ) -> Any:
        """Run ``fn(*args)`` in ``executor`` (a process pool); ``cancel(token)`` reaches the child."""
        loop = asyncio.get_running_loop()
        manager, beats = await loop.run_in_executor(None, self._start, loop, executor)
        cancelled = await loop.run_in_executor(None, manager.Event)
        self._listeners[info.task_token] = on_heartbeat

        self._events[info.task_token] = cancelled
        if cancelled_already():  # while the event was being made
            self.cancel(info.task_token)
        try:
            return await loop.run_in_executor(executor, _run_in_child, fn, args, info, beats, cancelled)
        finally:
            del self._listeners[info.task_token]
            del self._events[info.task_token]

    def cancel(self, token: str) -> None:
        """The workflow cancelled this attempt: tell its child (its next heartbeat raises)."""
        event = self._events.get(token)
        if event is not None and self._loop is not None:
            self._loop.run_in_executor(None, _set, event)

    def shutdown(self) -> None:
        """Stop the manager (and with it the heartbeat thread); nothing if none was started."""
        with self._lock:
            manager, self._manager = self._manager, None
        if manager is not None:
            with contextlib.suppress(Exception):
                self._beats.put(None)
            if self._shared is None:
                with contextlib.suppress(Exception):
                    manager.shutdown()
