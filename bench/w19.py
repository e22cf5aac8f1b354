"""W19: n schedules (10,000 by default), each firing every minute, keep firing on time.

Each schedule is ``every=60s`` with its own offset (i * 60 / n seconds), so the n actions of a minute are
spread over it, as the due times of many independent schedules are; each action starts W1's workflow (one
activity) on the bench worker. After every schedule has been created, the server runs them for
``BENCH_W19_MINUTES`` (default 3) minutes. Figures: the lag of each action (when the server started its run,
less its due time: ``recent_actions[].started_at - scheduled_at``), as p50/p99/max over every action of the
window, how many actions ran against how many were due, and the server's CPU over the window (the issue's
goals: lag p99 <= 1 s, server CPU below half a core).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

import mainspring_defs as defs
import procstat
from common import pct
from mainspring import Client
from mainspring.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
)

__all__ = ["w19"]

MINUTE = 60.0


async def w19(client: Client, tq: str, tag: str, n: int, server_pid: int) -> dict[str, Any]:
    minutes = float(os.environ.get("BENCH_W19_MINUTES", "3"))
    made = time.perf_counter()

    async def create(i: int) -> None:
        offset = timedelta(seconds=i * MINUTE / n)
        await client.create_schedule(
            f"w19-{tag}-{i}",
            Schedule(
                action=ScheduleActionStartWorkflow(defs.greet_wf, f"s{i}", id=f"w19-{tag}-{i}", task_queue=tq),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=MINUTE), offset=offset)]),
            ),
        )

    for first in range(0, n, 200):
        await asyncio.gather(*(create(i) for i in range(first, min(n, first + 200))))
    create_s = time.perf_counter() - made
    # The window: from now for whole minutes; due times before it (while creating) are left out.
    start = time.time()
    cpu0 = procstat.cpu_seconds(server_pid)
    await asyncio.sleep(minutes * MINUTE)
    end = time.time()
    cpu = procstat.cpu_seconds(server_pid) - cpu0
    lags: list[float] = []
    async for s in client.list_schedules():
        if not s.id.startswith(f"w19-{tag}-"):
            continue
        for a in s.info.recent_actions:
            due = a.scheduled_at.timestamp()
            if start <= due < end - 5:  # the last seconds' actions may not have started yet
                lags.append(a.started_at.timestamp() - due)
    expected = int(n * (end - 5 - start) / MINUTE)
    if not lags:
        raise AssertionError("W19: no action ran in the window")
    return {
        "schedules": n,
        "minutes": minutes,
        "create_s": round(create_s, 2),
        "creates_per_s": round(n / create_s, 1),
        "actions": len(lags),
        "actions_due": expected,
        "lag_p50_ms": round(pct(lags, 0.5) * 1000, 1),
        "lag_p99_ms": round(pct(lags, 0.99) * 1000, 1),
        "lag_max_ms": round(max(lags) * 1000, 1),
        "server_cpu_cores": round(cpu / (end - start), 3),
    }
