"""A worker's own metrics, set up as in Temporal (``Runtime(telemetry=TelemetryConfig(metrics=
PrometheusConfig(bind_address=...)))`` given to ``Client.connect``), against a real server, read back with
Prometheus' text-format parser: slots, polls, workflow task and activity execution, failures, the cache."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inprocess import running_worker, serving
from mainspring import ApplicationError, Client, RetryPolicy, activity, workflow
from mainspring.errors import InvalidArgumentError, WorkflowFailureError
from mainspring.runtime import PrometheusConfig, Runtime, TelemetryConfig


@activity.defn
async def shout(text: str) -> str:
    if text == "fail":
        raise ApplicationError("no", non_retryable=True)
    return text.upper()


@workflow.defn
async def shouting(ctx: workflow.Context, text: str) -> str:
    return await ctx.execute_activity(
        shout, text, start_to_close_timeout=timedelta(seconds=10), retry_policy=RetryPolicy(maximum_attempts=1)
    )


def _samples(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://{address}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def _get(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_worker_reports_its_slots_polls_and_executions(tmp_path: Path) -> None:
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address="127.0.0.1:0")))
    assert runtime.metrics_address is not None
    tq = f"wm-{uuid.uuid4().hex[:8]}"
    try:
        async with serving(tmp_path / "wm.db") as (server, _):
            client = await Client.connect(server.address, runtime=runtime)
            async with client, running_worker(client, tq, workflows=[shouting], activities=[shout]):
                assert await client.execute_workflow(shouting, "hi", id=f"{tq}-ok", task_queue=tq) == "HI"
                with pytest.raises(WorkflowFailureError):
                    await client.execute_workflow(shouting, "fail", id=f"{tq}-bad", task_queue=tq)
                m: Any = _samples(runtime.metrics_address)
                q = {"task_queue": tq}
                for kind, size in (("WorkflowWorker", 50), ("ActivityWorker", 100)):
                    free = _get(m, "mainspring_worker_task_slots_available", worker_type=kind, **q)
                    used = _get(m, "mainspring_worker_task_slots_used", worker_type=kind, **q)
                    assert free + used == size and 0 < free <= size  # (a waiting poll holds a slot)
                wt = "mainspring_worker_workflow_task_execution_seconds_count"
                assert _get(m, wt, workflow_type="shouting", **q) >= 2
                act = "mainspring_worker_activity_execution_seconds_count"
                assert _get(m, act, activity_type="shout", **q) == 2
                assert _get(m, "mainspring_worker_activity_failures_total", activity_type="shout", **q) == 1
                polls = "mainspring_worker_poll_duration_seconds_count"
                assert _get(m, polls, worker_type="WorkflowWorker", **q) >= 1
                # (The activities came with the workflow task's answer, eagerly: their pollers still wait.)
                assert ("mainspring_worker_sticky_cache_size", tuple(q.items())) in m  # (closed runs leave it)
            # A stopped worker is no longer reported.
            m = _samples(runtime.metrics_address)
            assert not any(name == "mainspring_worker_task_slots_available" for name, _ in m)
    finally:
        runtime.close()


def test_a_bad_bind_address_is_refused_naming_it() -> None:
    for bad in ("nowhere", "0.0.0.0:99999", "0.0.0.0:port"):
        with pytest.raises(InvalidArgumentError, match="bind_address"):
            Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bad)))


def test_without_a_runtime_a_worker_counts_nothing() -> None:
    assert Runtime.default().metrics is None and Runtime.default().metrics_address is None
