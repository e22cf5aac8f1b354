"""Activities for ``Worker(activity_executor=ProcessPoolExecutor(...))`` tests: module-level (so a child
process can import them by name) and light to import. They report through files, since the child
shares no memory with the test."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from mainspring import CancelledError, activity


@dataclass
class Job:
    #: A folder of the test's: the child writes what it saw there; the test creates ``go`` to let it finish.
    folder: str
    beats: int = 3


@activity.defn
def beating_in_a_child(job: Job) -> dict[str, int]:
    folder = Path(job.folder)
    for i in range(1, job.beats + 1):
        activity.heartbeat({"step": i, "pid": os.getpid()})
    (folder / "beat").write_text(str(job.beats))
    deadline = time.monotonic() + 60
    while not (folder / "go").exists() and time.monotonic() < deadline:
        activity.heartbeat({"step": job.beats, "pid": os.getpid()})
        time.sleep(0.05)
    return {"pid": os.getpid(), "attempt": activity.info().attempt}


@activity.defn
def cancellable_in_a_child(job: Job) -> str:
    folder = Path(job.folder)
    (folder / "started").write_text(activity.info().activity_id)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            activity.heartbeat("working")
            time.sleep(0.05)
    except CancelledError:
        (folder / "cancelled").write_text(f"is_cancelled={activity.is_cancelled()}")
        raise
    return "never cancelled"
