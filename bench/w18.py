"""W18: finding workflows among 1,000,000 closed ones: a selective list query's first page, and counts by status.

The store is filled directly (through the ``Store`` interface, as ``store copy`` writes: the engine would take
half an hour to run a million workflows here, and what W18 measures is reading): n closed runs of ten workflow
types, mostly Completed (the rest Failed, Terminated, Canceled, TimedOut), each with a ``CustomerId`` (Keyword,
10,000 customers, so ~100 runs each) and its start and close events. The filled file is kept in the run
directory by n and reused (``w18-<n>.db``; remove it to fill again). A server started on a copy of it answers:

- ``first_page``: ``CustomerId = 'c-…' AND WorkflowType = 'order' AND ExecutionStatus = 'Completed'``, page 1
  (20 runs), p50/p99 over 50 different customers;
- ``count_by_status``: ``count_workflows(group_by="ExecutionStatus")`` over every run, p50 over 10;
- ``count_selective``: the first query's count.

Goals: first page <= 20 ms, count by status <= 200 ms (bench/README.md says which indexes answer them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from common import pct
from mainspring import Client
from mainspring.api.enums import EventType, WorkflowStatus
from mainspring.storage import ExecutionRecord, ExecutionWrite, HistoryEvent, PendingItem, SQLiteStore

__all__ = ["fill", "measure"]

TYPES = ["order", "invoice", "refund", "shipment", "signup", "report", "billing", "sync", "export", "cleanup"]
CUSTOMERS = 10_000
_CLOSED = [
    (WorkflowStatus.COMPLETED, EventType.WORKFLOW_EXECUTION_COMPLETED),
    (WorkflowStatus.FAILED, EventType.WORKFLOW_EXECUTION_FAILED),
    (WorkflowStatus.TERMINATED, EventType.WORKFLOW_EXECUTION_TERMINATED),
    (WorkflowStatus.CANCELED, EventType.WORKFLOW_EXECUTION_CANCELED),
    (WorkflowStatus.TIMED_OUT, EventType.WORKFLOW_EXECUTION_TIMED_OUT),
]


def _status(i: int) -> tuple[WorkflowStatus, EventType]:
    # 92 % completed, 2 % each of the others.
    r = i % 50
    return _CLOSED[0] if r < 46 else _CLOSED[r - 45]


async def fill(path: Path, n: int) -> float:
    """Write n closed runs into a new store at ``path``; the seconds it took."""
    t0 = time.perf_counter()
    store = SQLiteStore(str(path), synchronous="OFF")
    await store.open()
    try:
        await store.create_namespace("default")
        await store.add_search_attribute("default", "CustomerId", "Keyword", time.time())
        base = time.time() - n * 0.01 - 86_400
        pending: list[asyncio.Future[None]] = []
        for i in range(n):
            start = base + i * 0.01
            status, closing = _status(i)
            run_id = f"{i:08d}-0000-4000-8000-{i:012d}"
            record = ExecutionRecord(
                namespace="default",
                workflow_id=f"w18-{i}",
                run_id=run_id,
                workflow_type=TYPES[i % len(TYPES)],
                task_queue="w18",
                status=status,
                start_time=start,
                close_time=start + 1.5,
                next_event_id=3,
                version=1,
                state={},
                request_id=f"r-{i}",
            )
            events = [
                HistoryEvent(1, EventType.WORKFLOW_EXECUTION_STARTED, start, {"workflow_type": record.workflow_type}),
                HistoryEvent(2, closing, start + 1.5, {}),
            ]
            sa = PendingItem("sa", "", {"CustomerId": ["Keyword", f"c-{((i * 2654435761) >> 7) % CUSTOMERS}"]})
            pending.append(store.submit(ExecutionWrite(record, None, events=events, put_items=[sa])))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
                if i % 100_000 < 5000:
                    print(f"  [mainspring] W18: {i + 1:,} runs written", file=sys.stderr)
        await asyncio.gather(*pending)
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        conn.execute("ANALYZE")  # the statistics the query planner chooses indexes by, as a long-lived store has
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - t0


async def measure(client: Client) -> dict[str, Any]:
    first_page: list[float] = []
    rows = 0
    for k in range(50):
        customer = f"c-{(k * 131) % CUSTOMERS}"
        q = f"CustomerId = '{customer}' AND WorkflowType = 'order' AND ExecutionStatus = 'Completed'"
        t = time.perf_counter()
        page = await client.list_workflows(query=q, limit=20)
        first_page.append(time.perf_counter() - t)
        rows += len(page.executions)
    counts: list[float] = []
    groups: Any = None
    for _ in range(10):
        t = time.perf_counter()
        c = await client.count_workflows(group_by="ExecutionStatus")
        counts.append(time.perf_counter() - t)
        groups = c
    t = time.perf_counter()
    selective = await client.count_workflows(
        "CustomerId = 'c-0' AND WorkflowType = 'order' AND ExecutionStatus = 'Completed'"
    )
    count_selective = time.perf_counter() - t
    return {
        "first_page_p50_ms": round(pct(first_page, 0.5) * 1000, 2),
        "first_page_p99_ms": round(pct(first_page, 0.99) * 1000, 2),
        "first_page_rows_mean": round(rows / 50, 1),
        "count_by_status_p50_ms": round(pct(counts, 0.5) * 1000, 1),
        "count_by_status_max_ms": round(max(counts) * 1000, 1),
        "count_total": groups.count if groups is not None else None,
        "count_selective_ms": round(count_selective * 1000, 2),
        "count_selective": selective.count,
    }


def prepared(d: Path, n: int) -> tuple[Path, float | None]:
    """The filled store for n (made now if missing: the seconds that took, else None), copied for this run."""
    kept = d / f"w18-{n}.db"
    took = None
    if not kept.exists():
        tmp = d / f"w18-{n}.filling.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
        took = asyncio.run(fill(tmp, n))
        os.replace(tmp, kept)
        for suffix in ("-wal", "-shm", ".lock"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
    run_copy = d / f"w18-{n}-{os.getpid()}.db"
    shutil.copyfile(kept, run_copy)
    return run_copy, took
