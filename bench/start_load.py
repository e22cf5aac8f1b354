"""Start load: how many workflow starts a second Mainspring holds, and what happens past that.

  python bench/start_load.py --rates 500,1000,2000,4000,6000 --seconds 60

For each rate, a fresh dev server (full durability, as a user runs it) is offered starts at that rate,
open loop (each start is sent on schedule whether or not the earlier ones were answered, as independent
users would), over four client channels, for ``--seconds``. A start is answered either with its run or,
once the server is past what it can take, with 429 and a Retry-After; this script does not retry
(the SDK would), so each answer is seen as the server gave it. Per rate it prints one JSON line:

- ``accepted_per_s``: starts answered with a run, per second;
- ``p50_ms`` / ``p99_ms`` / ``max_ms``: how long an accepted start took, from when it was due;
- ``refused``: starts answered 429; ``failed``: any other error or no answer within 10 s;
- ``orphans``: runs the server created whose start the client did not see succeed (must be 0), and
  ``missing``: accepted starts the server has no run for (must be 0), both checked against the list.

With ``--worker`` a worker runs the started workflows (one activity each), so the starts compete with
the work they cause. bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import mainspring_defs as defs
import procstat
from common import BENCH_DIR, PY, Child, free_port, machine, mainspring_commit, pct, remove_files, rundir, stopping
from mainspring import Client
from mainspring.errors import RPCError, ServerUnavailableError
from mainspring.workflow import get_definition

CHANNELS = 4
#: The workflow started: one activity (W1's).
WORKFLOW_TYPE = get_definition(defs.greet_wf).name


async def _offer(
    clients: list[Client], rate: int, seconds: float, tq: str, tag: str
) -> tuple[list[float], dict[str, str], int, int, list[float]]:
    """Offer ``rate`` starts/s for ``seconds``: latencies of the accepted, their ids -> run ids, refused,
    failed, and how late this generator itself sent each batch (ms: when it is late, so are the latencies)."""
    latencies: list[float] = []
    accepted: dict[str, str] = {}
    refused = failed = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, due: float) -> None:
        nonlocal refused, failed
        wid = f"{tag}-{i}"
        body = {"workflow_id": wid, "workflow_type": WORKFLOW_TYPE, "task_queue": tq, "input": "x", "request_id": wid}
        try:
            # The channel call itself, without the SDK's retries: each answer as the server gave it.
            answer = await clients[i % len(clients)]._channel_call("start_workflow", body, 10.0)
        except RPCError as e:
            if e.status == 429:
                refused += 1
            else:
                failed += 1
            return
        except (ServerUnavailableError, TimeoutError):
            failed += 1
            return
        latencies.append((time.perf_counter() - due) * 1000)
        accepted[wid] = answer["run_id"]

    t0 = time.perf_counter()
    step = 0.01  # a batch every 10 ms
    i = 0
    late: list[float] = []
    while True:
        elapsed = time.perf_counter() - t0
        if i:
            late.append(max(0.0, elapsed - i / rate) * 1000)
        if elapsed >= seconds:
            break
        due_count = int(min(elapsed + step, seconds) * rate)
        while i < due_count:
            due = t0 + i / rate
            task = asyncio.create_task(one(i, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        await asyncio.sleep(max(0.0, t0 + elapsed + step - time.perf_counter()))
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    return latencies, accepted, refused, failed, late


async def _listed(client: Client, prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    token = None
    while True:
        page = await client.list_workflows(workflow_id_prefix=prefix, limit=1000, page_token=token)
        out.update({e["workflow_id"]: e["run_id"] for e in page.executions})
        token = page.next_page_token
        if not token:
            return out


async def one_rate(rate: int, seconds: float, with_worker: bool) -> dict[str, Any]:
    tag = f"load-{rate}-{uuid.uuid4().hex[:6]}"
    d = rundir()
    db = d / f"{tag}.db"
    port = free_port()
    address = f"127.0.0.1:{port}"
    tq = f"tq-{tag}"
    children: list[Child] = []
    cli = Path(PY).parent / "mainspring"
    try:
        with stopping(children):
            argv = [str(cli), "server", "start-dev", "--port", str(port), "--headless", "--db-filename", str(db)]
            server = Child(argv, log=d / f"{tag}.server.log")
            children.append(server)
            clients = [await Client.connect(address, timeout=30) for _ in range(CHANNELS)]
            try:
                for _ in range(300):
                    try:
                        await clients[0].health()
                        break
                    except ServerUnavailableError:
                        await asyncio.sleep(0.05)
                if with_worker:
                    argv = [PY, str(BENCH_DIR / "mainspring_worker.py"), "--address", address, "--task-queue", tq]
                    worker = Child(argv, log=d / f"{tag}.worker.log")
                    children.append(worker)
                    await asyncio.to_thread(worker.wait_line, "READY", 60.0)
                for c in clients:  # open each channel before the clock starts
                    await c.start_workflow(WORKFLOW_TYPE, "warm", id=f"warm-{uuid.uuid4().hex}", task_queue=tq)
                cpu0, client0 = procstat.cpu_seconds(server.pid), procstat.self_cpu_seconds()
                latencies, accepted, refused, failed, late = await _offer(clients, rate, seconds, tq, tag)
                cpu, client_cpu = procstat.cpu_seconds(server.pid) - cpu0, procstat.self_cpu_seconds() - client0
                rss = procstat.peak_rss_mb(server.pid)
                listed = await _listed(clients[0], f"{tag}-")
                health = await clients[0].health()
            finally:
                for c in clients:
                    await c.close()
        offered = int(rate * seconds)
        return {
            "rate": rate,
            "seconds": seconds,
            "worker": with_worker,
            "offered": offered,
            "accepted": len(accepted),
            "accepted_per_s": len(accepted) / seconds,
            "refused": refused,
            "failed": failed,
            "p50_ms": statistics.median(latencies) if latencies else None,
            "p99_ms": pct(latencies, 0.99) if latencies else None,
            "max_ms": max(latencies) if latencies else None,
            "orphans": len(set(listed) - set(accepted)),
            "missing": len(set(accepted) - set(listed)),
            "wrong_run": sum(1 for w, r in accepted.items() if w in listed and listed[w] != r),
            "server_refused": health.get("load", {}).get("starts_refused"),
            "server_cpu_s": cpu,
            "client_cpu_s": client_cpu,
            "client_late_p99_ms": pct(late, 0.99) if late else None,
            "server_peak_rss_mb": rss,
        }
    finally:
        remove_files(db)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="500,1000,2000,4000,6000", help="starts per second to offer, comma-separated")
    p.add_argument("--seconds", type=float, default=60.0, help="how long each rate is offered")
    p.add_argument("--worker", action="store_true", help="run a worker that runs the started workflows")
    args = p.parse_args()
    import uvloop

    print("# " + json.dumps({"machine": machine(), "mainspring_commit": mainspring_commit()}))
    for rate in (int(r) for r in args.rates.split(",")):
        row = uvloop.run(one_rate(rate, args.seconds, args.worker))
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
