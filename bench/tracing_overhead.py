"""What tracing costs W1: N sequential one-activity workflows (W1's ``greet``), start -> result, with the
``TracingInterceptor`` off and on, in turns.

Topology: ``mainspring server start-dev`` in a subprocess (fresh SQLite file), the worker and the client in
this process on one loop, sharing a client (so the worker uses its interceptors). With tracing on, spans go
to an OpenTelemetry SDK ``TracerProvider`` with a ``BatchSpanProcessor`` over an exporter that drops them:
the SDK's whole cost in this process, without a collector's. The server does not trace (``--otlp-endpoint``
is a separate switch).

    python bench/tracing_overhead.py --n 200 --rounds 2
    PYTHONPATH=<an older checkout>/src python bench/tracing_overhead.py --modes off   # before interceptors

prints one JSON line per round and mode: ``mode`` (off, on), ``p50_ms``, ``p95_ms``, ``mean_ms``, and
``sdk_cpu_ms_per_wf`` (this process's CPU time, client and worker, per workflow: what the interceptor adds,
and less disturbed than wall time by other load on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from mainspring import Client, Worker, activity, workflow


@activity.defn(name="greet")
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn(name="hello_wf")
async def hello_wf(ctx: workflow.Context, name: str) -> str:
    return await ctx.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=5))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _interceptors(on: bool) -> Sequence[Any]:
    if not on:
        return ()
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from mainspring.contrib.opentelemetry import TracingInterceptor

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    return [TracingInterceptor(provider.get_tracer("bench"))]


async def _round(address: str, on: bool, n: int) -> list[float]:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    # (No interceptors= when off: the same call as before interceptors existed, so --modes off also runs on an
    # older checkout, for a before/after comparison.)
    extra = {"interceptors": _interceptors(on)} if on else {}
    async with await Client.connect(address, **extra) as client:
        worker = Worker(client, task_queue=tq, workflows=[hello_wf], activities=[greet])
        task = asyncio.create_task(worker.run())
        await worker.ready.wait()
        try:
            await client.execute_workflow(hello_wf, "warm-up", id=f"warm-{tq}", task_queue=tq)
            times = []
            cpu0 = time.process_time()
            for i in range(n):
                t0 = time.perf_counter()
                result = await client.execute_workflow(hello_wf, str(i), id=f"w1-{tq}-{i}", task_queue=tq)
                times.append(time.perf_counter() - t0)
                assert result == f"Hello, {i}!"
            times.append(time.process_time() - cpu0)  # the last item: this process's CPU for the n workflows
            return times
        finally:
            worker.shutdown()
            await task


async def _main(n: int, rounds: int, modes: list[str]) -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory() as d:
        argv = [sys.executable, "-m", "mainspring", "server", "start-dev", "--port", str(port), "--headless"]
        argv += ["--db", str(Path(d) / "bench.db")]
        server = subprocess.Popen(  # noqa: ASYNC220 (once, before anything is timed)
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy()
        )
        try:
            address = f"127.0.0.1:{port}"
            async with await Client.connect(address) as probe:
                for _ in range(100):
                    try:
                        await probe.health()
                        break
                    except Exception:
                        await asyncio.sleep(0.1)
            for r in range(rounds):
                for on in (mode == "on" for mode in modes):
                    measured = await _round(address, on, n)
                    cpu, times = measured[-1], sorted(measured[:-1])
                    figures = {
                        "mode": "on" if on else "off",
                        "round": r,
                        "n": n,
                        "p50_ms": round(statistics.median(times) * 1000, 3),
                        "p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000, 3),
                        "mean_ms": round(statistics.fmean(times) * 1000, 3),
                        "sdk_cpu_ms_per_wf": round(cpu / n * 1000, 3),
                    }
                    print(json.dumps(figures), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="off,on", help="which modes each round runs, in order (off, on)")
    args = parser.parse_args()
    asyncio.run(_main(args.n, args.rounds, args.modes.split(",")))
