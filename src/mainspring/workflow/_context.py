"""The workflow context: everything workflow code may use to talk to the world, deterministically."""

from __future__ import annotations

import asyncio
import logging
import random as _random
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

from ..activity import get_definition as get_activity_definition
from ..converter import PayloadError, encode
from ..errors import InvalidArgumentError, WorkflowCodeError
from ..errors import TimeoutError as FailureTimeoutError
from ..options import (
    ActivityOptions,
    ExecuteActivityOptions,
    ExecuteLocalActivityOptions,
    _check_activity_options,
    _local_activity_options,
    _wire,
)
from ._instance import ActivityCall, WorkflowInfo
from ._local_activities import LocalActivityCall
from ._updates import UpdateInfo, current_update

if TYPE_CHECKING:
    from ..activity._definition import ActivityFunction
    from ._instance import WorkflowInstance

__all__ = ["Context"]

A = TypeVar("A")
R = TypeVar("R")


#: What ``execute_activity`` starts from when no ``options`` are given, in the server's terms.
_NO_OPTIONS = ActivityOptions().to_json()


class _ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """Drops records while the workflow replays, so each message is logged once."""

    def __init__(self, instance: WorkflowInstance) -> None:
        super().__init__(logging.getLogger("mainspring.workflow"), {})
        self._instance = instance

    def isEnabledFor(self, level: int) -> bool:
        return not self._instance.replaying and super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        info = self._instance.info
        return f"[{info.workflow_type} {info.workflow_id}] {msg}", kwargs


class Context:
    """Passed to every workflow as its first argument.

    Workflow code must be deterministic: replaying its history must make it issue the same calls in
    the same order. Everything here is safe in that sense; the wall clock, ``time.sleep``, the
    ``random`` module and I/O are not (do I/O in activities).
    """

    def __init__(self, instance: WorkflowInstance) -> None:
        self._instance = instance
        self._logger: _ReplayAwareLogger | None = None

    @property
    def info(self) -> WorkflowInfo:
        """About this workflow run."""
        return self._instance.info

    @property
    def is_replaying(self) -> bool:
        """True while the code is re-running steps whose outcome is already in history."""
        return self._instance.replaying

    @property
    def cancel_requested(self) -> bool:
        """True once a cancellation of this run was requested (``handle.cancel()``, ``mainspring workflow
        cancel``, the web UI). The workflow's main coroutine then gets ``asyncio.CancelledError`` where it
        waits; it may catch it to clean up (even run activities) before it returns or re-raises."""
        return self._instance.cancel_request is not None

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger that stays quiet during replay."""
        if self._logger is None:
            self._logger = _ReplayAwareLogger(self._instance)
        return self._logger

    def now(self) -> datetime:
        """The workflow's current time (UTC): when the current workflow task started. Replays the same."""
        return datetime.fromtimestamp(self._instance.time(), UTC)

    def random(self) -> _random.Random:
        """A random generator seeded by the run, so replays draw the same numbers."""
        return self._instance.random

    def uuid4(self) -> uuid.UUID:
        """A random UUID that replays the same."""
        return uuid.UUID(int=self._instance.random.getrandbits(128), version=4)

    async def sleep(self, duration: timedelta | float) -> None:
        """Wait durably: the timer lives on the server and survives worker and server restarts."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        if seconds < 0:
            raise ValueError(f"ctx.sleep() needs a duration of zero or more, got {seconds}")
        self._check_loop()
        await asyncio.sleep(seconds)

    async def wait_condition(self, condition: Callable[[], bool], *, timeout: timedelta | float | None = None) -> None:
        """Wait until ``condition()`` is true: it is checked whenever the workflow's code is blocked (after a
        signal or update handler ran, an activity's result arrived, a timer fired), so it may read state
        that handlers change. It must only read: no side effects, no awaiting.

        With ``timeout`` (a durable timer), raises ``mainspring.TimeoutError`` if the condition is still
        false when it fires.
        """
        self._check_loop()
        seconds = None
        if timeout is not None:
            seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
            if not seconds >= 0:
                raise ValueError(f"ctx.wait_condition() needs a timeout of zero or more, got {seconds}")
        if condition():
            return
        future = self._instance.add_condition(condition)
        if seconds is None:
            await future
            return
        try:
            await asyncio.wait_for(future, seconds)
        except TimeoutError:
            raise FailureTimeoutError(
                f"wait_condition timed out after {seconds:g} s", timeout_type="WAIT_CONDITION"
            ) from None

    def current_update_info(self) -> UpdateInfo | None:
        """The update whose handler (or validator) runs this code (its ``id`` and ``name``), else None."""
        return current_update.get()

    def all_handlers_finished(self) -> bool:
        """True when no signal or update handler of this run is still running: ``await
        ctx.wait_condition(ctx.all_handlers_finished)`` before returning, so that none is cut short."""
        return self._instance.running_handlers == 0

    def _check_loop(self) -> None:
        if asyncio.events._get_running_loop() is not self._instance:
            raise WorkflowCodeError("the workflow context can only be used from the workflow's own code")

    # --- activities --------------------------------------------------------------------------------------
    # One overload per shape of activity (async or plain, with or without an input), so the type
    # checker knows the argument type the activity wants and the type of its result; the options are
    # one TypedDict (``ExecuteActivityOptions``) that every overload takes, so a new option is one edit
    # there. Only ``@activity.defn`` produces an ``ActivityFunction``, so an undecorated function does
    # not fit. pyright compares its parameter list exactly: an optional input must still be passed, and
    # extra keyword-only parameters do not fit. The required timeout is checked when the call runs:
    # overloads for every combination of timeouts would bury the message about a wrong argument under a
    # dozen candidates.
    #
    # By name, ``result_type`` is required. A name is a ``str``, and so is the result of *calling* a plain
    # activity that returns one (``ctx.execute_activity(checksum(data))``, meant as
    # ``ctx.execute_activity(checksum, data)``); neither checker can tell the two apart (mypy has no
    # ``LiteralString``), but the mistake never comes with a ``result_type``. ``result_type=object`` takes
    # the result as plain JSON.

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[[], Awaitable[R]], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[[A], Awaitable[R]], arg: A, **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[[], R], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[[A], R], arg: A, **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    async def execute_activity(self, activity: Any, arg: Any = None, *, result_type: Any = None, **options: Any) -> Any:
        """Run an activity and wait for its result.

        ``activity`` is a function decorated with ``@activity.defn`` (typed: ``arg`` must fit its
        input type, and the result has its result type) or an activity name with the ``result_type``
        its result is decoded to (``object`` for plain JSON). The options (``ExecuteActivityOptions``)
        are the fields of ``ActivityOptions``, and ``options``, an ``ActivityOptions`` whose fields the
        keywords override. At least one of ``schedule_to_close_timeout`` and ``start_to_close_timeout``
        is required. An option the server would refuse raises ``TypeError`` (an unknown option or a
        value of the wrong type) or ``ValueError`` (a duration or id out of range), naming it; an
        ``arg`` with no JSON form raises ``InvalidArgumentError`` naming its type.
        If the activity fails for good, ``ActivityError`` is raised with the last attempt's error as
        its ``cause``.
        """
        self._check_loop()
        if isinstance(activity, str):
            name, takes_input, rtype = activity, arg is not None, result_type
        else:
            d = get_activity_definition(activity)
            name, takes_input, rtype = (
                d.name,
                d.takes_input,
                d.result_type if result_type is None else result_type,
            )
        # What the server would refuse, refused here: the workflow task fails with this message (and
        # is retried), instead of its completion being turned away.
        _check_activity_options(options, message_prefix=f"activity {name!r}: ")
        base: ActivityOptions | None = options.pop("options", None)
        merged = base.to_json() if base is not None else dict(_NO_OPTIONS)
        for option, value in options.items():
            if value is not None:
                merged[option] = _wire(value)
        if merged["schedule_to_close_timeout"] is None and merged["start_to_close_timeout"] is None:
            raise ValueError(
                f"activity {name!r}: set schedule_to_close_timeout or start_to_close_timeout "
                "(how long it may take, retries included or per attempt)"
            )
        try:
            payload = encode(arg) if takes_input else None
        except PayloadError as e:
            raise InvalidArgumentError(f"the input of activity {name!r} cannot be sent: {e}") from None
        call = ActivityCall(activity_type=name, input=payload, result_type=rtype, **merged)
        return await self._instance.schedule_activity(call)

    # --- local activities --------------------------------------------------------------------------------
    # Typed as execute_activity is (one overload per shape of activity; by name, result_type is required);
    # the options are ExecuteLocalActivityOptions.

    @overload
    async def execute_local_activity(
        self, activity: ActivityFunction[[], Awaitable[R]], **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self, activity: ActivityFunction[[A], Awaitable[R]], arg: A, **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self, activity: ActivityFunction[[], R], **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self, activity: ActivityFunction[[A], R], arg: A, **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self, activity: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    async def execute_local_activity(
        self, activity: Any, arg: Any = None, *, result_type: Any = None, **options: Any
    ) -> Any:
        """Run an activity in this worker, within the workflow task, and wait for its result.

        For short work (a lookup, a computation, a quick call) that is not worth a round trip through the
        server's task queue: the function runs in the worker that runs the workflow (it must be among the
        worker's ``activities``), is retried there with backoff per ``retry_policy``, and its outcome is
        recorded in history as a marker with the task's other commands. On replay the marker's outcome is
        used: the function is not run again. It may run more than once if a worker is lost before the
        task completes (at least once, as an activity). A local activity longer than the workflow task
        timeout keeps its task alive: the worker completes the task before it times out and goes on in
        the next one.

        Typed as ``execute_activity`` (``arg`` must fit the activity's input type, the result has its result
        type; by name, ``result_type`` is required). Options: ``ExecuteLocalActivityOptions`` (at least one
        of the two timeouts). If it fails for good, ``ActivityError`` is raised with the last attempt's
        error as its ``cause`` (see ``workflow.raise_cause``).
        """
        self._check_loop()
        if isinstance(activity, str):
            name, takes_input, rtype = activity, arg is not None, result_type
        else:
            d = get_activity_definition(activity)
            name, takes_input, rtype = d.name, d.takes_input, d.result_type if result_type is None else result_type
        wire = _local_activity_options(options, message_prefix=f"local activity {name!r}: ")
        try:
            payload = encode(arg) if takes_input else None
        except PayloadError as e:
            raise InvalidArgumentError(f"the input of local activity {name!r} cannot be sent: {e}") from None
        call = LocalActivityCall(activity_type=name, input=payload, result_type=rtype, **wire)
        return await self._instance.schedule_local_activity(call)
