"""``WorkflowEnvironment``: a Mainspring server in this process, on this event loop, for tests.

    async with WorkflowEnvironment.start_local() as env:      # or: env = await ...start_local()
        async with Worker(env.client, task_queue="tq", workflows=[...]):
            await env.client.execute_workflow(...)

The server is the real one (``mainspring.server.Server``) on a free port of 127.0.0.1, with its state in a
SQLite file: a temporary one removed at the end, or ``db_filename``, which is kept. Nothing to download and no
process to start, unlike Temporal's ``start_local``. Leaving the block (or ``await env.shutdown()``) closes
the client and stops the server.

Either takes the client's ``data_converter=`` and ``interceptors=`` (``Client.connect``'s), which its workers
use too: ``start_time_skipping(interceptors=[TracingInterceptor(tracer)])`` traces the workflows a test runs.

``WorkflowEnvironment.start_time_skipping()`` is the same server (on an in-memory database unless
``db_filename`` is given) on a clock that jumps to its next timer
whenever nothing is under way (``_skipping``): a workflow that sleeps 30 days finishes in milliseconds, and
timeouts, retry backoffs and ``ctx.wait_condition(timeout=)`` follow the skipped clock. ``env.now()`` is that
clock's time; ``env.sleep(duration)`` moves it on by ``duration``.

Workflow code that never yields (a busy loop) holds the event loop that the server shares: the worker's
deadlock detector (``Worker(deadlock_detection_timeout=...)``, 2 s by default) interrupts it and fails the
workflow task with ``DeadlockError``, whose message names the run and the ``file.py:line`` it was stuck at.
The time-skipping environment then terminates that run with the message as the reason (a retry would only
hold the loop again), so ``await handle.result()`` raises it at once; the other workflows go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Callable, Generator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from .._gc import raise_gc_thresholds
from ..client import Client
from ..converter import DataConverter as _DataConverter
from ..errors import RPCError
from ..interceptors import Interceptor as _Interceptor
from ._skipping import SkippingClock, skip_while_idle

__all__ = ["WorkflowEnvironment"]


class WorkflowEnvironment:
    """A server and a client of it, for tests (``start_local``)."""

    def __init__(
        self,
        client: Client,
        server: Any,
        serving: asyncio.Task[None],
        tmp: Path | None,
        clock: SkippingClock | None = None,
        skipper: asyncio.Task[None] | None = None,
        ending: set[asyncio.Task[None]] | None = None,
        restore_gc: Callable[[], None] | None = None,
    ) -> None:
        #: A client of the environment's server.
        self.client = client
        self._server = server
        self._serving = serving
        self._tmp = tmp
        self._clock = clock
        self._skipper = skipper
        #: Terminations of deadlocked runs under way (time does not skip meanwhile).
        self._ending: set[asyncio.Task[None]] = ending if ending is not None else set()
        self._restore_gc = restore_gc

    @staticmethod
    def start_local(
        *,
        db_filename: str | Path | None = None,
        namespace: str = "default",
        data_converter: _DataConverter | None = None,
        interceptors: Sequence[_Interceptor] = (),
        **settings: Any,
    ) -> _Starting:
        """Start a server in this process (real time); ``settings`` are ``ServerConfig`` fields
        (``workflow_task_timeout=timedelta(seconds=2)``, say); ``data_converter`` is the client's (a payload
        codec, say); ``interceptors`` are the client's, so also its workers' (``TracingInterceptor()``, to
        test tracing). Await it, or use it with ``async with``."""
        return _Starting(
            db_filename, namespace, settings, skipping=False, data_converter=data_converter, interceptors=interceptors
        )

    @staticmethod
    def start_time_skipping(
        *,
        db_filename: str | Path | None = None,
        namespace: str = "default",
        data_converter: _DataConverter | None = None,
        interceptors: Sequence[_Interceptor] = (),
        **settings: Any,
    ) -> _Starting:
        """Start a server in this process whose clock skips to its next timer whenever nothing is under way
        (see the module's docstring); ``data_converter`` and ``interceptors`` are the client's (as
        ``start_local``'s). Await it, or use it with ``async with``."""
        return _Starting(
            db_filename, namespace, settings, skipping=True, data_converter=data_converter, interceptors=interceptors
        )

    @property
    def supports_time_skipping(self) -> bool:
        """True for ``start_time_skipping``'s environment."""
        return self._clock is not None

    @property
    def address(self) -> str:
        """The server's host:port (for a worker or CLI in another process)."""
        address: str = self._server.address
        return address

    def now(self) -> datetime:
        """The environment's current time: real time, or the skipping clock's."""
        return datetime.fromtimestamp(self._clock.now(), UTC) if self._clock is not None else datetime.now(UTC)

    async def sleep(self, duration: float | Any) -> None:
        """Let ``duration`` (seconds or a ``timedelta``) of the environment's time pass: moved on at once
        when time skips (the timers due meanwhile fire), waited for in real time otherwise."""
        seconds = duration.total_seconds() if hasattr(duration, "total_seconds") else float(duration)
        if self._clock is None:
            await asyncio.sleep(seconds)
            return
        self._clock.advance(seconds)
        self._server.engine.timers.wake()
        await asyncio.sleep(0)

    def _on_workflow_task_failure(self, record: Any, failure: dict[str, Any]) -> None:
        """A deadlocked workflow (``DeadlockError``) is terminated with its message as the reason: each
        retry would hold the event loop again, and time would never skip past it (see the module)."""
        if failure.get("type") != "DeadlockError":
            return
        handle = self.client.get_workflow_handle(record.workflow_id, run_id=record.run_id)
        task = asyncio.get_running_loop().create_task(_terminate(handle, str(failure.get("message"))))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def shutdown(self) -> None:
        """Close the client and stop the server (and remove its temporary database)."""
        if self._ending:
            await asyncio.gather(*self._ending, return_exceptions=True)
        if self._skipper is not None:
            self._skipper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._skipper
        await self.client.close()
        self._server.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self._serving
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        if self._restore_gc is not None:
            self._restore_gc()
            self._restore_gc = None

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()


async def _terminate(handle: Any, reason: str) -> None:
    with contextlib.suppress(RPCError):  # it closed meanwhile
        await handle.terminate(reason=reason)


class _Starting:
    """What ``start_local`` returns: awaitable (the environment) and an async context manager."""

    def __init__(
        self,
        db: str | Path | None,
        namespace: str,
        settings: dict[str, Any],
        *,
        skipping: bool,
        data_converter: _DataConverter | None = None,
        interceptors: Sequence[_Interceptor] = (),
    ) -> None:
        self._skipping = skipping
        self._data_converter = data_converter
        self._interceptors = tuple(interceptors)
        self._db = db
        self._namespace = namespace
        self._settings = settings
        self._env: WorkflowEnvironment | None = None

    def __await__(self) -> Generator[Any, None, WorkflowEnvironment]:
        return self._start().__await__()

    async def __aenter__(self) -> WorkflowEnvironment:
        self._env = await self._start()
        return self._env

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._env is not None:
            await self._env.shutdown()

    async def _start(self) -> WorkflowEnvironment:
        from ..server import Server, ServerConfig

        tmp = None
        db = self._db
        if db is None and self._skipping:
            # A test's run needs no durability: an in-memory database spares every commit its fsync (W16:
            # ~3.6 -> ~2.5 s), as Temporal's test server keeps nothing either. db_filename= keeps a file.
            db = ":memory:"
        elif db is None:
            tmp = Path(tempfile.mkdtemp(prefix="mainspring-test-"))
            db = tmp / "mainspring.db"
        namespaces = ("default",) if self._namespace == "default" else ("default", self._namespace)
        config = ServerConfig(db=str(db), port=0, ui_port=None, namespaces=namespaces, **self._settings)
        clock = SkippingClock() if self._skipping else None
        server = Server(config, clock=clock)
        try:
            await server.start()
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        loop = asyncio.get_running_loop()
        serving = loop.create_task(server.serve(), name="mainspring-test-server")
        skipper = None
        ending: set[asyncio.Task[None]] = set()
        if clock is not None:
            skipper = loop.create_task(skip_while_idle(server, clock, ending), name="mainspring-time-skipping")
        client = await Client.connect(
            server.address,
            namespace=self._namespace,
            data_converter=self._data_converter,
            interceptors=self._interceptors,
        )
        # The client's and its workers' channels reach the server without a socket (see client._loopback).
        client.transport.loopback = server.api_app
        # The server, its workers and the test share this process: the collector's default thresholds would
        # have it scan every run's objects again and again (a third of W16's time). Put back at shutdown.
        env = WorkflowEnvironment(client, server, serving, tmp, clock, skipper, ending, raise_gc_thresholds())
        if clock is not None:
            server.engine.on_workflow_task_failure = env._on_workflow_task_failure
        return env
