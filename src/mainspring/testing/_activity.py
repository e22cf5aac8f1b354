"""``ActivityEnvironment``: run an activity as its worker would, without a worker or a server.

    env = ActivityEnvironment()
    env.on_heartbeat = lambda details: seen.append(details)
    assert await env.run(compose_greeting, Input("Hello", "World")) == "Hello, World!"

``activity.info()`` is ``env.info`` (``default_activity_info()`` unless replaced), ``activity.heartbeat(d)``
calls ``env.on_heartbeat(d)``, and ``env.cancel()`` cancels the run: an ``async def`` activity gets
``asyncio.CancelledError`` where it awaits, a plain ``def`` one (run in a thread, as a worker runs it) gets
``mainspring.CancelledError`` from its next ``heartbeat()`` and sees ``activity.is_cancelled()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..activity._context import ActivityInfo, _current, _Running

__all__ = ["ActivityEnvironment", "default_activity_info"]


def default_activity_info() -> ActivityInfo:
    """The made-up info an ``ActivityEnvironment`` starts with (change it with ``dataclasses.replace``)."""
    now = datetime.now(UTC)
    return ActivityInfo(
        activity_id="test",
        activity_type="unknown",
        attempt=1,
        workflow_id="test",
        run_id="test-run",
        workflow_type="test",
        namespace="default",
        task_queue="test",
        scheduled_time=now,
        started_time=now,
        heartbeat_details=None,
        heartbeat_timeout=None,
        start_to_close_timeout=None,
        schedule_to_close_timeout=None,
        task_token="test-token",
    )


class ActivityEnvironment:
    """Runs activity functions directly: ``await env.run(fn, *args)``."""

    def __init__(self) -> None:
        #: What ``activity.info()`` returns (its ``activity_type`` is the function's name unless set).
        self.info: ActivityInfo = default_activity_info()
        #: Called with the details of each ``activity.heartbeat(details)``.
        self.on_heartbeat: Callable[[Any], None] = lambda details: None
        self._running: list[tuple[_Running, asyncio.Future[Any]]] = []

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` as an activity attempt; its result (or its exception)."""
        from ..activity._definition import get_definition

        try:
            name = get_definition(fn).name
        except (TypeError, ValueError):
            name = getattr(fn, "__name__", "unknown")
        info = self.info if self.info.activity_type != "unknown" else dataclasses.replace(self.info, activity_type=name)
        running = _Running(lambda: info, lambda details: self.on_heartbeat(details), sync=not _is_async(fn))
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        ctx.run(_current.set, running)
        if running.sync:
            # In a thread, as a worker runs a plain ``def`` activity: cancel() cannot interrupt it.
            future: asyncio.Future[Any] = loop.run_in_executor(None, lambda: ctx.run(fn, *args, **kwargs))
        else:
            future = loop.create_task(fn(*args, **kwargs), context=ctx)
        entry = (running, future)
        self._running.append(entry)
        try:
            return await asyncio.shield(future) if running.sync else await future
        finally:
            self._running.remove(entry)

    def cancel(self) -> None:
        """Cancel the activities running in this environment (see the module's docstring)."""
        for running, future in self._running:
            running.cancelled = True
            if not running.sync:
                future.cancel()


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004
