"""Fixtures: a real server process per test (fresh SQLite file), its address, a client, example workers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mainspring import Client
from support import EXAMPLES, ServerProcess, WorkerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running dev server on a free port with its own SQLite file; stopped after the test."""
    srv = ServerProcess(tmp_path / "mainspring.db").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(server.address)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def task_queue() -> str:
    """A task queue name of this test's own."""
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def hello_worker(server: ServerProcess, tmp_path: Path) -> Iterator[WorkerProcess]:
    w = WorkerProcess(EXAMPLES / "hello" / "worker.py", server.address, log_path=tmp_path / "hello-worker.log").start()
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture
def order_worker(server: ServerProcess, tmp_path: Path) -> Iterator[WorkerProcess]:
    w = WorkerProcess(
        EXAMPLES / "order" / "worker.py",
        server.address,
        log_path=tmp_path / "order-worker.log",
        env={"ORDER_LOG": str(tmp_path / "order-steps.log")},
    ).start()
    try:
        yield w
    finally:
        w.stop()
