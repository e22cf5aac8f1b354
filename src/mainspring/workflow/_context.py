"""The workflow context: everything workflow code may use to talk to the world, deterministically."""

from __future__ import annotations

import asyncio
import logging
import random as _random
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Concatenate, TypeVar, Unpack, overload

from ..activity import get_definition as get_activity_definition
from ..activity._args import NO_ARG, encode_arguments
from ..errors import TimeoutError as FailureTimeoutError
from ..errors import WorkflowCodeError
from ..options import ActivityOptions, ExecuteActivityOptions, _check_activity_options, _wire
from ._instance import ActivityCall, WorkflowInfo
from ._updates import UpdateInfo, current_update

if TYPE_CHECKING:
    from ..activity._definition import ActivityDefinition, ActivityFunction
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

    # Several arguments go in ``args`` (as in Temporal's SDK): the result's type still flows, the
    # arguments' types are not checked (a list literal has one element type; a tuple per arity would
    # fall through to these overloads anyway).
    @overload
    async def execute_activity(
        self,
        activity: ActivityFunction[..., Awaitable[R]],
        *,
        args: Sequence[Any],
        **options: Unpack[ExecuteActivityOptions],
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[..., R], *, args: Sequence[Any], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self,
        activity: str,
        *,
        args: Sequence[Any],
        result_type: type[R],
        **options: Unpack[ExecuteActivityOptions],
    ) -> R: ...

    async def execute_activity(
        self,
        activity: Any,
        arg: Any = NO_ARG,
        *,
        args: Sequence[Any] | None = None,
        result_type: Any = None,
        **options: Any,
    ) -> Any:
        """Run an activity and wait for its result.

        ``activity`` is a function decorated with ``@activity.defn`` (typed: ``arg`` must fit its
        input type, and the result has its result type; a method bound to an instance, ``repo.save``,
        works too) or an activity name with the ``result_type`` its result is decoded to (``object``
        for plain JSON). An activity of several parameters takes them as ``args=[a, b]``. The
        options (``ExecuteActivityOptions``) are the fields of ``ActivityOptions``, and ``options``,
        an ``ActivityOptions`` whose fields the keywords override. At least one of
        ``schedule_to_close_timeout`` and ``start_to_close_timeout`` is required. An option the server
        would refuse raises ``TypeError`` (an unknown option or a value of the wrong type) or
        ``ValueError`` (a duration or id out of range), naming it; an argument with no JSON form
        raises ``InvalidArgumentError`` naming its type, and a number of arguments the activity does
        not take ``TypeError``. If the activity fails for good, ``ActivityError`` is raised with the
        last attempt's error as its ``cause``.
        """
        self._check_loop()
        d = None if isinstance(activity, str) else get_activity_definition(activity)
        return await self._instance.schedule_activity(_activity_call(d, activity, arg, args, result_type, options))

    # One overload per shape of method (async or plain, with no argument, one, or ``args``): ``self`` is
    # typed Any, as mypy cannot solve a type variable that only the instance would bind.
    @overload
    async def execute_activity_method(
        self, activity: ActivityFunction[[Any], Awaitable[R]], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self, activity: ActivityFunction[[Any, A], Awaitable[R]], arg: A, **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self, activity: ActivityFunction[[Any], R], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self, activity: ActivityFunction[[Any, A], R], arg: A, **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self,
        activity: ActivityFunction[Concatenate[Any, ...], Awaitable[R]],
        *,
        args: Sequence[Any],
        **options: Unpack[ExecuteActivityOptions],
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self,
        activity: ActivityFunction[Concatenate[Any, ...], R],
        *,
        args: Sequence[Any],
        **options: Unpack[ExecuteActivityOptions],
    ) -> R: ...

    async def execute_activity_method(
        self, activity: Any, arg: Any = NO_ARG, *, args: Sequence[Any] | None = None, **options: Any
    ) -> Any:
        """Run an activity that is a method of a class, named by its class: ``ctx.execute_activity_method(
        Repo.save, item, start_to_close_timeout=...)``. The worker runs it on the instance it was given
        (``Worker(activities=[repo.save])``). Otherwise as ``execute_activity``."""
        self._check_loop()
        d = get_activity_definition(activity)
        if not d.is_method:
            raise TypeError(f"activity {d.name!r} is not a method of a class: run it with ctx.execute_activity()")
        return await self._instance.schedule_activity(_activity_call(d, activity, arg, args, None, options))


def _activity_call(
    d: ActivityDefinition | None,
    activity: Any,
    arg: Any,
    args: Sequence[Any] | None,
    result_type: Any,
    options: dict[str, Any],
) -> ActivityCall:
    """What ``execute_activity`` and ``execute_activity_method`` schedule (``d`` None: by name)."""
    if d is None:
        name, rtype = activity, result_type
    else:
        name, rtype = d.name, d.result_type if result_type is None else result_type
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
    payload = encode_arguments(name, d, arg, args)
    return ActivityCall(activity_type=name, input=payload, result_type=rtype, **merged)
