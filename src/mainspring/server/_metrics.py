"""Prometheus metrics of one server, served at ``/metrics`` on ``--metrics-port`` (off unless given).

Counted as things happen (cheap: a dictionary lookup and an addition, and nothing at all when metrics are
off, as the engine holds ``None`` then): workflow starts and closes by namespace, type and status; each
operation's latency by operation name (the HTTP routes and both channels, from the one operation table);
the store's commits (latency and how many writes each held); the execution cache's hits, misses and
evictions. Read when scraped (``_Snapshot``): each task queue's backlog and live workers, the cache's size,
and the shard leases this server holds.

Labels are bounded: namespaces, workflow types, task queue names and operation names, never workflow or
run ids. Names follow Prometheus' conventions (``mainspring_`` prefix, ``_total`` counters, ``_seconds``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from .._prometheus import LATENCY_BUCKETS as _BUCKETS
from .._version import __version__

if TYPE_CHECKING:
    from ._core import EngineCore

__all__ = ["Metrics", "metrics_app"]

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The server's metrics, in a registry of its own (several servers in one process stay apart)."""

    def __init__(self, core: EngineCore) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._started = Counter(
            "mainspring_workflow_started",
            "Workflow runs started (durably).",
            ["namespace", "workflow_type"],
            registry=r,
        )
        self._closed = Counter(
            "mainspring_workflow_closed",
            "Workflow runs closed, by how (COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT, CONTINUED_AS_NEW).",
            ["namespace", "workflow_type", "status"],
            registry=r,
        )
        self._operation = Histogram(
            "mainspring_operation_duration_seconds",
            "Time to answer an operation (HTTP route or channel call), polls and result waits included.",
            ["operation"],
            buckets=_BUCKETS,
            registry=r,
        )
        self._failed = Counter(
            "mainspring_operation_errors",
            "Operations answered with an error, by operation and error code.",
            ["operation", "code"],
            registry=r,
        )
        self._commit = Histogram(
            "mainspring_store_commit_duration_seconds",
            "Time of one group commit of the store (all the writes it held, made durable).",
            buckets=_BUCKETS,
            registry=r,
        )
        self._batch = Histogram(
            "mainspring_store_commit_writes",
            "Writes in one group commit.",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self._s2s = Histogram(
            "mainspring_task_schedule_to_start_seconds",
            "Time a task waited for a worker, from when it was due to when a worker took it (workflow, activity).",
            ["namespace", "kind"],
            buckets=_BUCKETS,
            registry=r,
        )
        self._attempts = Counter(
            "mainspring_activity_attempts",
            "Activity attempts handed to a worker.",
            ["namespace", "activity_type"],
            registry=r,
        )
        self._attempt_failed = Counter(
            "mainspring_activity_attempt_failures",
            "Activity attempts that failed or timed out, by what followed: RETRIED, or the reason the activity "
            "failed for good (MAXIMUM_ATTEMPTS_REACHED, NON_RETRYABLE_FAILURE, TIMEOUT).",
            ["namespace", "activity_type", "outcome"],
            registry=r,
        )
        self._cache = Counter(
            "mainspring_execution_cache_lookups",
            "Execution cache lookups, by result (hit, miss).",
            ["result"],
            registry=r,
        )
        self._evicted = Counter(
            "mainspring_execution_cache_evictions", "Runs forgotten by the execution cache to stay in size.", registry=r
        )
        self.cache_hit = self._cache.labels("hit").inc
        self.cache_miss = self._cache.labels("miss").inc
        self.evicted = self._evicted.inc
        self._commit_observe = self._commit.observe
        self._batch_observe = self._batch.observe
        # Children by label values, so the hot path does not go through ``labels()`` each time.
        self._ops: dict[str, Any] = {}
        self._starts: dict[tuple[str, str], Any] = {}
        r.register(_Snapshot(core))

    def workflow_started(self, namespace: str, workflow_type: str) -> None:
        key = (namespace, workflow_type)
        c = self._starts.get(key)
        if c is None:
            c = self._starts[key] = self._started.labels(namespace, workflow_type)
        c.inc()

    def workflow_task_started(self, namespace: str, waited: float) -> None:
        self._s2s.labels(namespace, "workflow").observe(max(0.0, waited))

    def activity_started(self, namespace: str, activity_type: str, waited: float) -> None:
        self._s2s.labels(namespace, "activity").observe(max(0.0, waited))
        self._attempts.labels(namespace, activity_type).inc()

    def activity_failed(self, namespace: str, activity_type: str, outcome: str) -> None:
        self._attempt_failed.labels(namespace, activity_type, outcome).inc()

    def workflow_closed(self, namespace: str, workflow_type: str, status: str) -> None:
        self._closed.labels(namespace, workflow_type, status).inc()

    def operation(self, name: str, seconds: float) -> None:
        h = self._ops.get(name)
        if h is None:
            h = self._ops[name] = self._operation.labels(name)
        h.observe(seconds)

    def operation_failed(self, name: str, code: str) -> None:
        self._failed.labels(name, code).inc()

    def commit(self, seconds: float, writes: int) -> None:
        self._commit_observe(seconds)
        self._batch_observe(writes)

    def exposition(self) -> bytes:
        text: bytes = generate_latest(self.registry)
        return text


class _Snapshot(Collector):
    """What is read from the engine when Prometheus scrapes, rather than counted as it changes."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        core = self.core
        info = InfoMetricFamily("mainspring_build", "The server's version and store.")
        info.add_metric([], {"version": __version__, "store": type(core.store).__name__})
        yield info
        backlog = GaugeMetricFamily(
            "mainspring_task_queue_backlog",
            "Tasks ready and waiting for a worker, by namespace, task queue and kind (workflow, activity).",
            labels=["namespace", "task_queue", "kind"],
        )
        totals: dict[tuple[str, str, str], int] = {}
        matching = core.matching
        for (ns, name, kind), q in matching.queues.items():
            totals[(ns, name, kind)] = totals.get((ns, name, kind), 0) + len(q.ready)
        for (ns, name, _build, kind), q in matching.build_queues.items():
            totals[(ns, name, kind)] = totals.get((ns, name, kind), 0) + len(q.ready)
        for key, n in sorted(totals.items()):
            backlog.add_metric(list(key), n)
        yield backlog
        workers = GaugeMetricFamily(
            "mainspring_task_queue_workers",
            "Live worker sessions polling each task queue.",
            labels=["namespace", "task_queue"],
        )
        counts: dict[tuple[str, str], int] = {}
        for s in matching.sessions.values():
            if not s.closed:
                counts[(s.namespace, s.task_queue)] = counts.get((s.namespace, s.task_queue), 0) + 1
        for (ns, name), n in sorted(counts.items()):
            workers.add_metric([ns, name], n)
        yield workers
        yield GaugeMetricFamily(
            "mainspring_execution_cache_runs", "Runs held in the execution cache.", value=len(core._cache)
        )
        held = core.store.leases_held()
        if held is not None:
            yield GaugeMetricFamily(
                "mainspring_shard_leases_held", "Shard leases this server holds (PostgreSQL store).", value=held
            )


def metrics_app(metrics: Metrics) -> Any:
    """The ASGI application of the metrics port: ``GET /metrics``, and 404 for anything else."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics" or scope["method"] not in ("GET", "HEAD"):
            body = b'{"code":"not_found","message":"this port serves GET /metrics only"}'
            await _respond(send, 404, b"application/json", body)
            return
        await _respond(send, 200, CONTENT_TYPE_LATEST.encode(), metrics.exposition(), head=scope["method"] == "HEAD")

    return app


async def _respond(send: Any, status: int, content_type: bytes, body: bytes, *, head: bool = False) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
