"""The deadlock detector: workflow code that does not yield is stopped, and its workflow task fails.

Workflow code runs on the worker's event loop, one activation (``WorkflowInstance._run_ready``) at a
time. Code that never awaits (``while not done: pass``, a long computation) holds that loop: no other
workflow, activity or heartbeat of the worker moves, and in ``WorkflowEnvironment`` the server, which
shares the loop, stops too. So a watchdog thread per worker looks at the activation under way; one that
has run longer than the worker's ``deadlock_detection_timeout`` (Temporal's "[TMPRL1101] Potential
deadlock detected", also 2 s by default) is logged with the place it is stuck at (the innermost frame of
the loop's thread outside Mainspring and the standard library, from ``sys._current_frames()``) and
interrupted: ``Interrupt`` is raised in the loop's thread (``PyThreadState_SetAsyncExc``). The
activation then ends with ``DeadlockError`` naming the run and that place; the worker fails the workflow
task with it and drops the run's cached instance (the interrupt may have landed anywhere in its
coroutines), so that a retry replays it afresh.

Why the interrupt cannot land outside the activation it is meant for: it is raised only while the
watchdog holds ``_lock`` and that activation is still the current one, looked at again under the lock
right before, and at most once per activation. The activation ends (``end``) by taking the same lock:
from then on none can be raised for it. One raised before but not delivered yet is then made to arrive
(``take_pending``). From ``begin`` to there, the thread runs only code inside the ``try`` of
``WorkflowInstance._run_ready`` (the workflow's code, the instance's loop, the way out), which takes the
interrupt wherever it arrives. CPython delivers such an exception between
bytecodes: code stuck inside one long C call (``sum(range(10**12))``) is interrupted when that call
returns, and code that catches ``BaseException`` and loops on is not stopped at all (it is still logged).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

from ..errors import DeadlockError

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["Activation", "DeadlockWatchdog", "Interrupt"]

log = logging.getLogger("mainspring.worker")

_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the mainspring package


@functools.cache
def _stdlib() -> tuple[str, ...]:
    import sysconfig

    return tuple({sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")})


def _set_async_exc(thread_id: int, exc: type[BaseException]) -> None:
    """Raise ``exc`` in the thread, at its next check for one (a loop's jump back, a call)."""
    import ctypes  # here: the module is imported wherever workflows are, a worker is not always made

    f = ctypes.pythonapi.PyThreadState_SetAsyncExc
    f.argtypes = (ctypes.c_ulong, ctypes.py_object)
    f.restype = ctypes.c_int
    f(thread_id, ctypes.py_object(exc))


class Interrupt(BaseException):
    """Raised into the worker's loop thread to stop workflow code that does not yield. A
    ``BaseException``, so that the code's own ``except Exception`` does not swallow it."""


class Activation:
    """One run of a workflow's ready code (``WorkflowInstance._run_ready``), as the watchdog sees it."""

    __slots__ = ("instance", "interrupted", "location", "previous", "started", "thread_id")

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        self.thread_id = threading.get_ident()
        self.started = time.monotonic()
        #: The activation this one interrupts, if any (they nest only within a thread), restored by ``end``.
        self.previous: Activation | None = None
        #: Set (under the watchdog's lock) when it was found stuck: where, and whether the interrupt was sent.
        self.location: str | None = None
        self.interrupted = False


class DeadlockWatchdog:
    """A thread that interrupts activations running longer than ``timeout`` seconds (see the module)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._current: Activation | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stopped = False
            self._thread = threading.Thread(target=self._watch, name="mainspring-deadlock-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopped = True
            self._wake.notify()
        if thread is not None:
            thread.join()

    # --- on the loop's thread ------------------------------------------------------------------------

    def begin(self, act: Activation) -> None:
        """The activation starts: from here on it may be interrupted (the caller is ready to take that)."""
        act.started = time.monotonic()
        with self._lock:
            act.previous, self._current = self._current, act

    def end(self, act: Activation) -> None:
        """The activation is over: no interrupt can be sent for it from now on. Called again after an
        interrupt cut it short (it is idempotent); then ``take_pending`` must follow."""
        with self._lock:
            if self._current is act:
                self._current = act.previous

    @staticmethod
    def take_pending() -> None:
        """Let an interrupt sent but not delivered yet arrive here (the caller takes it): CPython delivers
        one at the next jump back of a loop, and this loop has some. (Withdrawing it instead, with
        ``PyThreadState_SetAsyncExc(id, NULL)``, left CPython 3.11's loop thread stalled until the watchdog's
        thread next woke: 2 s.)"""
        for _ in range(3):
            pass

    def error(self, act: Activation) -> DeadlockError:
        info = act.instance.info
        return DeadlockError(
            f"workflow {info.workflow_id!r} (run {info.run_id}, type {info.workflow_type!r}) did not yield "
            f"within {self.timeout:g} s: it was running at {act.location}; workflow code must await "
            "(ctx.sleep, activities, ctx.wait_condition) rather than loop, and long computations belong in "
            "an activity. Its workflow task failed and its cached state was dropped."
        )

    # --- on the watchdog's thread --------------------------------------------------------------------

    def _watch(self) -> None:
        with self._lock:
            while not self._stopped:
                act = self._current
                if act is None or act.interrupted:
                    self._wake.wait(self.timeout)
                    continue
                left = act.started + self.timeout - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                # Still the current activation (looked at again under the lock, which end() needs): stop it.
                act.location = _stuck_at(sys._current_frames().get(act.thread_id))
                act.interrupted = True
                _set_async_exc(act.thread_id, Interrupt)
                log.error("%s", self.error(act))


def _stuck_at(frame: FrameType | None) -> str:
    """``file:line (in function)`` of the innermost frame outside Mainspring and the standard library."""
    innermost = frame
    while frame is not None:
        name = frame.f_code.co_filename
        library = name.startswith(_stdlib()) and "-packages" not in name
        if not name.startswith(_OWN) and not library and not name.startswith("<"):
            break
        frame = frame.f_back
    frame = frame or innermost
    if frame is None:
        return "an unknown place"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} (in {frame.f_code.co_name})"
