"""A worker for the redeploy test: three versions of one workflow's code, ``Greeting``, as a team ships them.

`python tests/workers/patch_worker.py --address HOST:PORT --task-queue Q --version v1|v2|v3`

- v1 greets with the ``hello`` activity, waits for the signal ``go``, then says goodbye (``farewell``).
- v2 changes the greeting behind ``if ctx.patched("v2")``: new runs greet with ``bonjour``; runs that greeted
  under v1 replay the old branch, ``hello``.
- v3 once no v1 run is left: ``ctx.deprecate_patch("v2")`` and the new branch only.

Every version also runs ``Napper``, unchanged: one local activity ``nap(seconds)`` that logs "nap started",
so that a test can stop a worker while one of its workflow tasks is running.

Each returns which branch its run took (``path``: "old" or "new") and what the activities said, so that a
test can tell, from the result alone, which code a run followed. The worker serves one version (the one
deployed); all three are here so that a test can replay histories against any of them in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import timedelta

from mainspring import Client, Worker, activity, workflow

NAME = "Greeting"
PATCH = "v2"
STC = timedelta(seconds=10)


@activity.defn
async def hello(name: str) -> str:
    return f"Hello, {name}"


@activity.defn
async def bonjour(name: str) -> str:
    return f"Bonjour, {name}"


@activity.defn
async def farewell(name: str) -> str:
    return f"Goodbye, {name}"


@activity.defn
async def nap(seconds: float) -> str:
    logging.getLogger("patch_worker").info("nap started")
    await asyncio.sleep(seconds)
    return "rested"


async def _wait_go(ctx: workflow.Context) -> None:
    go: list[bool] = []
    ctx.set_signal_handler("go", lambda: go.append(True))
    await ctx.wait_condition(lambda: bool(go))


async def _finish(ctx: workflow.Context, name: str, path: str, greeting: str) -> dict[str, str]:
    await _wait_go(ctx)
    bye = await ctx.execute_activity(farewell, name, start_to_close_timeout=STC)
    return {"path": path, "greeting": greeting, "farewell": bye}


@workflow.defn(name=NAME)
async def v1(ctx: workflow.Context, name: str) -> dict[str, str]:
    greeting = await ctx.execute_activity(hello, name, start_to_close_timeout=STC)
    return await _finish(ctx, name, "old", greeting)


@workflow.defn(name=NAME)
async def v2(ctx: workflow.Context, name: str) -> dict[str, str]:
    if ctx.patched(PATCH):
        greeting = await ctx.execute_activity(bonjour, name, start_to_close_timeout=STC)
        return await _finish(ctx, name, "new", greeting)
    greeting = await ctx.execute_activity(hello, name, start_to_close_timeout=STC)
    return await _finish(ctx, name, "old", greeting)


@workflow.defn(name=NAME)
async def v3(ctx: workflow.Context, name: str) -> dict[str, str]:
    ctx.deprecate_patch(PATCH)
    greeting = await ctx.execute_activity(bonjour, name, start_to_close_timeout=STC)
    return await _finish(ctx, name, "new", greeting)


@workflow.defn(name="Napper")
async def napper(ctx: workflow.Context, seconds: float) -> str:
    # A local activity runs inside the workflow task: the task is in flight for as long as it naps.
    return await ctx.execute_local_activity(nap, seconds, start_to_close_timeout=STC)


VERSIONS = {"v1": v1, "v2": v2, "v3": v3}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default=None)
    parser.add_argument("--task-queue", default="patch")
    parser.add_argument("--version", choices=sorted(VERSIONS), required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = await Client.connect(args.address)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=[VERSIONS[args.version], napper],
        activities=[hello, bonjour, farewell, nap],
    )
    logging.getLogger("patch_worker").info("serving %s of %s", args.version, NAME)
    await worker.run()  # until SIGTERM (or SIGINT): then it finishes what runs and ends its session
    await client.close()
    logging.getLogger("patch_worker").info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
