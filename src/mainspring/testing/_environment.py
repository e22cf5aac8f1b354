"""``WorkflowEnvironment.start_local()``: a Mainspring server in this process, on this event loop, for tests.

    async with WorkflowEnvironment.start_local() as env:      # or: env = await ...start_local()
        async with Worker(env.client, task_queue="tq", workflows=[...]):
            await env.client.execute_workflow(...)

The server is the real one (``mainspring.server.Server``) on a free port of 127.0.0.1, with its state in a
SQLite file: a temporary one removed at the end, or ``db_filename``, which is kept. Nothing to download and no
process to start, unlike Temporal's ``start_local``. Leaving the block (or ``await env.shutdown()``) closes
the client and stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..client import Client

__all__ = ["WorkflowEnvironment"]


class WorkflowEnvironment:
    """A server and a client of it, for tests (``start_local``)."""

    def __init__(self, client: Client, server: Any, serving: asyncio.Task[None], tmp: Path | None) -> None:
        #: A client of the environment's server.
        self.client = client
        self._server = server
        self._serving = serving
        self._tmp = tmp

    @staticmethod
    def start_local(*, db_filename: str | Path | None = None, namespace: str = "default", **settings: Any) -> _Starting:
        """Start a server in this process (real time); ``settings`` are ``ServerConfig`` fields
        (``workflow_task_timeout=timedelta(seconds=2)``, say). Await it, or use it with ``async with``."""
        return _Starting(db_filename, namespace, settings)

    @property
    def address(self) -> str:
        """The server's host:port (for a worker or CLI in another process)."""
        address: str = self._server.address
        return address

    def now(self) -> datetime:
        """The environment's current time (real time, here)."""
        return datetime.now(UTC)

    async def sleep(self, duration: float | Any) -> None:
        """Wait ``duration`` (seconds or a ``timedelta``) of the environment's time (real time, here)."""
        seconds = duration.total_seconds() if hasattr(duration, "total_seconds") else float(duration)
        await asyncio.sleep(seconds)

    async def shutdown(self) -> None:
        """Close the client and stop the server (and remove its temporary database)."""
        await self.client.close()
        self._server.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await self._serving
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()


class _Starting:
    """What ``start_local`` returns: awaitable (the environment) and an async context manager."""

    def __init__(self, db: str | Path | None, namespace: str, settings: dict[str, Any]) -> None:
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
        if db is None:
            tmp = Path(tempfile.mkdtemp(prefix="mainspring-test-"))
            db = tmp / "mainspring.db"
        namespaces = ("default",) if self._namespace == "default" else ("default", self._namespace)
        config = ServerConfig(db=str(db), port=0, ui_port=None, namespaces=namespaces, **self._settings)
        server = Server(config)
        try:
            await server.start()
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        serving = asyncio.get_running_loop().create_task(server.serve(), name="mainspring-test-server")
        client = await Client.connect(server.address, namespace=self._namespace)
        return WorkflowEnvironment(client, server, serving, tmp)
