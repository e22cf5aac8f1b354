"""Large history pages are built in the SQLite store's page process, as the same text a small page gets.

The server's event loop gives the interpreter's lock up at every system call; a page built in a thread
made it wait behind that thread each time. These check the process gives exactly what the in-process
builder gives (a worker replays it: the event times must be the same to the microsecond), says when an
event is damaged, that a store whose page process died starts another, and that the server takes the
pages in on its event loop, with no thread of its own (see storage._page_process).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from mainspring._history_json import page_text
from mainspring.api.enums import EventType, WorkflowStatus
from mainspring.storage import ExecutionRecord, ExecutionWrite, HistoryEvent, StorageError
from mainspring.storage.sqlite import SQLiteStore
from support import ServerProcess, wait_until

#: About the SQLite store itself: skipped when the tests run on PostgreSQL (MAINSPRING_TEST_STORE=postgres).
pytestmark = pytest.mark.sqlite_only


def _page_processes(parent: int) -> list[int]:
    """The page processes ``parent`` started (running or not reaped yet)."""
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", "mainspring._page_child"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


async def _store_with_events(path: Path, n: int) -> SQLiteStore:
    store = SQLiteStore(str(path))
    await store.open()
    rec = ExecutionRecord(
        namespace="default",
        workflow_id="w",
        run_id="r",
        workflow_type="wf",
        task_queue="q",
        status=WorkflowStatus.RUNNING,
        start_time=1.0,
        close_time=None,
        next_event_id=n + 1,
        version=1,
    )
    # Times with every kind of fraction, some on a half microsecond, where rounding could differ.
    events = [
        HistoryEvent(i, EventType.ACTIVITY_TASK_COMPLETED, 1_790_000_000 + i * 0.0000015 + i / 7, {"result": [i, "é"]})
        for i in range(1, n + 1)
    ]
    await store.write(ExecutionWrite(rec, None, events))
    return store


async def test_a_large_page_is_the_same_text_built_in_the_page_process(tmp_path: Path) -> None:
    store = await _store_with_events(tmp_path / "pages.db", 1500)
    try:
        assert not _page_processes(os.getpid())
        text, count, last = await store.read_history_page("r", 1, 1200, 10_000_000)
        started = _page_processes(os.getpid())
        assert started, "no page process was started"
        assert (text, count, last) == page_text(await store.read_history_json("r", 1, 1200), 10_000_000)
        assert (count, last) == (1200, 1200)
        # Cut by bytes as the in-process builder cuts it.
        assert await store.read_history_page("r", 1, 1500, 50_000) == page_text(
            await store.read_history_json("r", 1, 1500), 50_000
        )
    finally:
        await store.close()
    assert not any(os.path.exists(f"/proc/{pid}") for pid in started), "the page process outlived its store"


async def test_a_damaged_event_in_a_large_page_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    store = await _store_with_events(path, 300)
    try:
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE history SET attributes = '{\"result\": 1' WHERE event_id = 150")
        with pytest.raises(StorageError, match=r"the history of run r cannot be read: a stored event is damaged"):
            await store.read_history_page("r", 1, 300, 10_000_000)
        # The events before it still read.
        assert (await store.read_history_page("r", 1, 149, 10_000_000))[1] == 149
    finally:
        await store.close()


async def test_a_page_process_that_died_is_replaced(tmp_path: Path) -> None:
    store = await _store_with_events(tmp_path / "killed.db", 300)
    try:
        await store.read_history_page("r", 1, 300, 10_000_000)
        [pid] = _page_processes(os.getpid())
        # Stopped, it cannot answer: the page asked now is in flight when the process dies.
        os.kill(pid, signal.SIGSTOP)
        asked = asyncio.ensure_future(store.read_history_page("r", 1, 300, 10_000_000))
        await asyncio.sleep(0.2)
        assert not asked.done()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(StorageError, match="the history of run r could not be read: its page process ended"):
            await asyncio.wait_for(asked, 30)
        # The next page starts another process.
        assert (await store.read_history_page("r", 1, 300, 10_000_000))[1] == 300
        assert _page_processes(os.getpid()) not in ([], [pid])
    finally:
        await store.close()


def test_the_page_process_ends_with_a_killed_server(tmp_path: Path) -> None:
    path = tmp_path / "server.db"

    async def build() -> None:
        await (await _store_with_events(path, 500)).close()

    asyncio.run(build())
    server = ServerProcess(path).start()
    try:
        r = httpx.get(
            server.url + "/api/v1/namespaces/default/workflows/history", params={"workflow_id": "w", "run_id": "r"}
        )
        assert r.status_code == 200 and len(r.json()["events"]) == 500
        assert server.proc is not None
        children = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout.split()
        assert children, "the server started no page process"
    finally:
        server.kill()
    # A SIGKILLed server closes nothing its page process waits on: the process sees it is gone.
    wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in children), timeout=20)


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def test_the_server_takes_large_pages_in_on_its_event_loop(tmp_path: Path) -> None:
    # No thread of the server's reads, unpickles or passes on a page: each time one did (the two of a
    # ProcessPoolExecutor), the event loop waited behind it for the interpreter's lock.
    path = tmp_path / "loop.db"

    async def build() -> None:
        await (await _store_with_events(path, 3000)).close()

    asyncio.run(build())
    server = ServerProcess(path).start()
    try:
        assert server.proc is not None
        pid = server.proc.pid

        def page(first: int, limit: int) -> int:
            r = httpx.get(
                server.url + "/api/v1/namespaces/default/workflows/history",
                params={"workflow_id": "w", "run_id": "r", "first_event_id": first, "limit": limit},
                timeout=60,
            )
            assert r.status_code == 200, r.text
            return len(r.json()["events"])

        assert page(1, 10) == 10  # small: read on the loop, and whatever a request needs is started
        threads = _threads(pid)
        assert [page(first, 1000) for first in (1, 1001, 2001)] == [1000, 1000, 1000]
        assert _threads(pid) == threads, "serving large pages started threads in the server"
        assert _page_processes(pid), "the large pages were not built in the page process"
    finally:
        server.stop()
