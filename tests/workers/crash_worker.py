"""A worker for the crash tests: a workflow that sleeps on a durable timer, and one slow activity.

`python tests/workers/crash_worker.py --address HOST:PORT [--task-queue Q] [--graceful-timeout S]`

- ``nap_workflow({"seconds": S})`` sleeps S seconds on ``ctx.sleep`` and returns how much workflow time
  passed across the sleep (``ctx.now()`` before and after), so a test can see the timer really waited.
- ``slow_workflow({"name": N, "seconds": S, "blocking": B})`` runs the activity ``slow_step`` (async) or,
  with B true, ``blocking_step`` (a plain function, run in a thread) and returns its result. The first
  attempt works for S seconds; later attempts take 0.1 s. If ``SLOW_LOG`` names a file, each attempt
  appends ``start <name> <attempt> <pid>`` and ``end <name> <attempt> <pid>``.
- ``chain_workflow(n)`` runs ``chain_step`` n times in a row, each adding one to the last result, and
  returns the last: a run of quick steps, each handed to this worker in the answer that records the
  step before it. If ``CHAIN_LOG`` names a file, each execution appends ``<workflow id> <value>``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from dataclasses import dataclass
from datetime import timedelta

from mainspring import Client, RetryPolicy, Worker, activity, workflow


@dataclass
class Nap:
    seconds: float


@dataclass
class NapResult:
    slept: float


@workflow.defn(name="nap_workflow")
async def nap_workflow(ctx: workflow.Context, nap: Nap) -> NapResult:
    before = ctx.now()
    await ctx.sleep(timedelta(seconds=nap.seconds))
    return NapResult(slept=(ctx.now() - before).total_seconds())


@dataclass
class SlowJob:
    name: str
    seconds: float
    blocking: bool = False


def _note(line: str, log: str = "SLOW_LOG") -> None:
    path = os.environ.get(log)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


@activity.defn(name="slow_step")
async def slow_step(job: SlowJob) -> str:
    attempt = activity.info().attempt
    _note(f"start {job.name} {attempt} {os.getpid()}")
    await asyncio.sleep(job.seconds if attempt == 1 else 0.1)
    _note(f"end {job.name} {attempt} {os.getpid()}")
    return f"{job.name} done on attempt {attempt}"


@activity.defn(name="blocking_step")
def blocking_step(job: SlowJob) -> str:
    """Like ``slow_step``, but a plain function: it runs in a thread and cannot be interrupted."""
    attempt = activity.info().attempt
    _note(f"start {job.name} {attempt} {os.getpid()}")
    time.sleep(job.seconds if attempt == 1 else 0.1)
    _note(f"end {job.name} {attempt} {os.getpid()}")
    return f"{job.name} done on attempt {attempt}"


@workflow.defn(name="slow_workflow")
async def slow_workflow(ctx: workflow.Context, job: SlowJob) -> str:
    return await ctx.execute_activity(
        blocking_step if job.blocking else slow_step,
        job,
        start_to_close_timeout=timedelta(seconds=120),
        retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
    )


@activity.defn(name="chain_step")
async def chain_step(value: int) -> int:
    _note(f"{activity.info().workflow_id} {value}", log="CHAIN_LOG")
    return value + 1


@workflow.defn(name="chain_workflow")
async def chain_workflow(ctx: workflow.Context, n: int) -> int:
    value = 0
    for _ in range(n):
        value = await ctx.execute_activity(
            chain_step,
            value,
            start_to_close_timeout=timedelta(seconds=3),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )
    return value


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default="crash-task-queue")
    parser.add_argument("--graceful-timeout", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = await Client.connect(args.address)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=[nap_workflow, slow_workflow, chain_workflow],
        activities=[slow_step, blocking_step, chain_step],
        graceful_shutdown_timeout=timedelta(seconds=args.graceful_timeout),
    )
    await worker.run()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
