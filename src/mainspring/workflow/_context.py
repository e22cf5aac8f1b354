"""The workflow context: everything workflow code may use to talk to the world, deterministically."""

from __future__ import annotations

import asyncio
import logging
import random as _random
import uuid
from collections.abc import Awaitable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ..activity import get_definition as get_activity_definition
from ..api.fields import seconds_problem
from ..api.names import check_id
from ..converter import PayloadError, encode
from ..errors import WorkflowCodeError
from ..options import ActivityOptions, RetryPolicy
from ._instance import ActivityCall, WorkflowInfo

if TYPE_CHECKING:
    from ..activity._definition import ActivityFunction
    from ._instance import WorkflowInstance

__all__ = ["Context"]

A = TypeVar("A")
R = TypeVar("R")


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


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

    def _check_loop(self) -> None:
        if asyncio.events._get_running_loop() is not self._instance:
            raise WorkflowCodeError("the workflow context can only be used from the workflow's own code")

    # --- activities --------------------------------------------------------------------------------------
    # One overload per shape of activity (async or plain, with or without an input), so the type
    # checker knows the argument type the activity wants and the type of its result. Only
    # ``@activity.defn`` produces an ``ActivityFunction``, so an undecorated function does not fit.
    # pyright compares its parameter list exactly: an optional input must still be passed, and extra
    # keyword-only parameters do not fit. The required timeout is checked when the call runs:
    # overloads for every combination of timeouts would bury the message about a wrong argument
    # under a dozen candidates.

    @overload
    async def execute_activity(
        self,
        activity: ActivityFunction[[], Awaitable[R]],
        *,
        activity_id: str | None = ...,
        task_queue: str | None = ...,
        schedule_to_close_timeout: timedelta | None = ...,
        start_to_close_timeout: timedelta | None = ...,
        schedule_to_start_timeout: timedelta | None = ...,
        heartbeat_timeout: timedelta | None = ...,
        retry_policy: RetryPolicy | None = ...,
        options: ActivityOptions | None = ...,
    ) -> R: ...

    @overload
    async def execute_activity(
        self,
        activity: ActivityFunction[[A], Awaitable[R]],
        arg: A,
        *,
        activity_id: str | None = ...,
        task_queue: str | None = ...,
        schedule_to_close_timeout: timedelta | None = ...,
        start_to_close_timeout: timedelta | None = ...,
        schedule_to_start_timeout: timedelta | None = ...,
        heartbeat_timeout: timedelta | None = ...,
        retry_policy: RetryPolicy | None = ...,
        options: ActivityOptions | None = ...,
    ) -> R: ...

    @overload
    async def execute_activity(
        self,
        activity: ActivityFunction[[], R],
        *,
        activity_id: str | None = ...,
        task_queue: str | None = ...,
        schedule_to_close_timeout: timedelta | None = ...,
        start_to_close_timeout: timedelta | None = ...,
        schedule_to_start_timeout: timedelta | None = ...,
        heartbeat_timeout: timedelta | None = ...,
        retry_policy: RetryPolicy | None = ...,
        options: ActivityOptions | None = ...,
    ) -> R: ...

    @overload
    async def execute_activity(
        self,
        activity: ActivityFunction[[A], R],
        arg: A,
        *,
        activity_id: str | None = ...,
        task_queue: str | None = ...,
        schedule_to_close_timeout: timedelta | None = ...,
        start_to_close_timeout: timedelta | None = ...,
        schedule_to_start_timeout: timedelta | None = ...,
        heartbeat_timeout: timedelta | None = ...,
        retry_policy: RetryPolicy | None = ...,
        options: ActivityOptions | None = ...,
    ) -> R: ...

    @overload
    async def execute_activity(
        self,
        activity: str,
        arg: Any = ...,
        *,
        result_type: type[R],
        activity_id: str | None = ...,
        task_queue: str | None = ...,
        schedule_to_close_timeout: timedelta | None = ...,
        start_to_close_timeout: timedelta | None = ...,
        schedule_to_start_timeout: timedelta | None = ...,
        heartbeat_timeout: timedelta | None = ...,
        retry_policy: RetryPolicy | None = ...,
        options: ActivityOptions | None = ...,
    ) -> R: ...

    @overload
    async def execute_activity(
        self,
        activity: str,
        arg: Any = ...,
        *,
        activity_id: str | None = ...,
        task_queue: str | None = ...,
        schedule_to_close_timeout: timedelta | None = ...,
        start_to_close_timeout: timedelta | None = ...,
        schedule_to_start_timeout: timedelta | None = ...,
        heartbeat_timeout: timedelta | None = ...,
        retry_policy: RetryPolicy | None = ...,
        options: ActivityOptions | None = ...,
    ) -> Any: ...

    async def execute_activity(
        self,
        activity: Any,
        arg: Any = None,
        *,
        result_type: Any = None,
        activity_id: str | None = None,
        task_queue: str | None = None,
        schedule_to_close_timeout: timedelta | None = None,
        start_to_close_timeout: timedelta | None = None,
        schedule_to_start_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        options: ActivityOptions | None = None,
    ) -> Any:
        """Run an activity and wait for its result.

        ``activity`` is a function decorated with ``@activity.defn`` (typed: ``arg`` must fit its
        input type, and the result has its result type) or an activity name (untyped; give
        ``result_type`` to get a typed result). Keyword options override ``options``.
        At least one of ``schedule_to_close_timeout`` and ``start_to_close_timeout`` is required.
        If the activity fails for good, ``ActivityError`` is raised with the last attempt's error as
        its ``cause``.
        """
        self._check_loop()
        o = options or ActivityOptions()
        if isinstance(activity, str):
            name, takes_input, rtype = activity, arg is not None, result_type
        else:
            d = get_activity_definition(activity)
            name, takes_input, rtype = (
                d.name,
                d.takes_input,
                d.result_type if result_type is None else result_type,
            )
        s2c = schedule_to_close_timeout or o.schedule_to_close_timeout
        st2c = start_to_close_timeout or o.start_to_close_timeout
        if s2c is None and st2c is None:
            raise ValueError(
                f"activity {name!r}: set schedule_to_close_timeout or start_to_close_timeout "
                "(how long it may take, retries included or per attempt)"
            )
        policy = retry_policy or o.retry_policy
        # What the server would refuse, refused here: the workflow task fails with this message (and
        # is retried), instead of its completion being turned away.
        timeouts = {
            "schedule_to_close_timeout": s2c,
            "start_to_close_timeout": st2c,
            "schedule_to_start_timeout": schedule_to_start_timeout or o.schedule_to_start_timeout,
            "heartbeat_timeout": heartbeat_timeout or o.heartbeat_timeout,
        }
        for what, value in timeouts.items():
            problem = None if value is None else seconds_problem(what, value.total_seconds(), positive=True)
            if problem:
                raise ValueError(f"activity {name!r}: {problem}")
        for kind, text in (("activity id", activity_id or o.activity_id), ("task queue", task_queue or o.task_queue)):
            problem = None if text is None else check_id(kind, text)
            if problem:
                raise ValueError(f"activity {name!r}: {problem}")
        try:
            payload = encode(arg) if takes_input else None
        except PayloadError as e:
            raise TypeError(f"the input of activity {name!r} cannot be sent: {e}") from None
        call = ActivityCall(
            activity_type=name,
            activity_id=activity_id or o.activity_id,
            input=payload,
            result_type=rtype,
            task_queue=task_queue or o.task_queue,
            schedule_to_close_timeout=_seconds(s2c),
            start_to_close_timeout=_seconds(st2c),
            schedule_to_start_timeout=_seconds(timeouts["schedule_to_start_timeout"]),
            heartbeat_timeout=_seconds(timeouts["heartbeat_timeout"]),
            retry_policy=policy.to_json() if policy is not None else None,
        )
        return await self._instance.schedule_activity(call)
