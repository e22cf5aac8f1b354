"""Fixtures: a real server process per test (fresh SQLite file), its address, a client, example workers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from mainspring import Client
from support import EXAMPLES, ON_POSTGRES, ServerProcess, WorkerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running dev server on a free port with its own SQLite file (or PostgreSQL database, under
    MAINSPRING_TEST_STORE=postgres); stopped after the test."""
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster for the whole test session (tests/pgserver.py)."""
    from pgserver import pg_bin, shared_cluster

    if pg_bin() is None:
        pytest.fail("PostgreSQL is not installed: scripts/test.sh installs postgresql-15")
    yield shared_cluster()  # stopped in pytest_sessionfinish: MAINSPRING_TEST_STORE=postgres servers use it too


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under MAINSPRING_TEST_STORE=postgres, skip the tests about SQLite itself (its file, WAL, a full disk)."""
    if not ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="about the SQLite store (MAINSPRING_TEST_STORE=postgres)")
    for item in items:
        if item.get_closest_marker("sqlite_only") is not None:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from pgserver import stop_shared_cluster

    stop_shared_cluster()


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """The URL of a fresh database of this test's own."""
    url: str = postgres_server.new_database()
    return url
