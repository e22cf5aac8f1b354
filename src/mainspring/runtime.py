"""The process-wide runtime a client (and the workers built on it) reports through, in Temporal's shape, so
a Temporal user's telemetry setup ports with the import changed:

    from mainspring.runtime import PrometheusConfig, Runtime, TelemetryConfig

    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address="0.0.0.0:9000")))
    client = await Client.connect("localhost:7233", runtime=runtime)

With Prometheus configured, the runtime serves ``http://ADDRESS/metrics`` from the moment it is made (in a
thread of the Prometheus client's own), with the metrics of every worker on its clients:

- ``mainspring_worker_task_slots_available`` / ``..._used{worker_type, task_queue}`` (``WorkflowWorker``,
  ``ActivityWorker``): how many more tasks it may take, and how many run;
- ``mainspring_worker_poll_duration_seconds{worker_type, task_queue}``: each poll's wait, until tasks came or
  it timed out (a long poll that comes back empty is a worker waiting for work);
- ``mainspring_worker_workflow_task_execution_seconds{task_queue, workflow_type}``: running a workflow task's
  code (replay included), until its completion is sent;
- ``mainspring_worker_activity_execution_seconds{task_queue, activity_type}`` and
  ``mainspring_worker_activity_failures_total{task_queue, activity_type}``: each activity attempt here;
- ``mainspring_worker_sticky_cache_size{task_queue}``: workflows held in the worker's cache.

Without a runtime (the default), a worker counts nothing: its paths test one attribute.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._prometheus import LATENCY_BUCKETS as _BUCKETS
from .errors import InvalidArgumentError as _InvalidArgumentError

if TYPE_CHECKING:
    from .worker import Worker

__all__ = ["PrometheusConfig", "Runtime", "TelemetryConfig", "WorkerMetrics"]


@dataclass(frozen=True)
class PrometheusConfig:
    """Serve the metrics for Prometheus to scrape at ``http://bind_address/metrics`` (``"0.0.0.0:9000"``;
    port 0 picks a free one: ``Runtime.metrics_address`` says which)."""

    bind_address: str


@dataclass(frozen=True)
class TelemetryConfig:
    """What the runtime reports, and where. ``metrics=None``: no metrics."""

    metrics: PrometheusConfig | None = None


class Runtime:
    """Telemetry shared by the clients given it (``Client.connect(runtime=...)``) and their workers."""

    _default: Runtime | None = None
    _default_lock = threading.Lock()

    def __init__(self, *, telemetry: TelemetryConfig | None = None) -> None:
        self.telemetry = telemetry or TelemetryConfig()
        #: The workers' metrics, when Prometheus is configured.
        self.metrics: WorkerMetrics | None = None
        #: host:port the metrics are served at (the port bound, if 0 was asked for).
        self.metrics_address: str | None = None
        self._server: Any = None
        if self.telemetry.metrics is not None:
            self.metrics = WorkerMetrics()
            self._serve(self.telemetry.metrics)

    @classmethod
    def default(cls) -> Runtime:
        """The runtime of clients given none: no telemetry."""
        with cls._default_lock:
            if cls._default is None:
                cls._default = Runtime()
            return cls._default

    def _serve(self, config: PrometheusConfig) -> None:
        from prometheus_client import start_http_server

        host, _, port_text = config.bind_address.rpartition(":")
        if not host or not port_text.isdigit() or int(port_text) > 65535:
            raise _InvalidArgumentError(
                f"PrometheusConfig(bind_address={config.bind_address!r}): use HOST:PORT, e.g. 0.0.0.0:9000",
                code="invalid_argument",
            )
        port = int(port_text)
        host = host.strip("[]")
        assert self.metrics is not None
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.metrics.registry)
        except OSError as e:
            raise _InvalidArgumentError(
                f"cannot serve metrics at {config.bind_address}: {e.strerror or e}", code="invalid_argument"
            ) from None
        self._server = server
        self.metrics_address = f"{host}:{server.server_address[1]}"

    def close(self) -> None:
        """Stop serving the metrics."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class WorkerMetrics:
    """The metrics of the workers on a runtime's clients (a registry of the runtime's own)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = r = CollectorRegistry(auto_describe=True)
        self.poll = Histogram(
            "mainspring_worker_poll_duration_seconds",
            "Time a poll waited for tasks (until they came or it timed out).",
            ["worker_type", "task_queue"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.workflow_task = Histogram(
            "mainspring_worker_workflow_task_execution_seconds",
            "Time to run a workflow task's code (replay included) until its completion is sent.",
            ["task_queue", "workflow_type"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.activity = Histogram(
            "mainspring_worker_activity_execution_seconds",
            "Time an activity attempt ran here.",
            ["task_queue", "activity_type"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.activity_failures = Counter(
            "mainspring_worker_activity_failures",
            "Activity attempts here that raised (or timed out here).",
            ["task_queue", "activity_type"],
            registry=r,
        )
        self._workers: weakref.WeakSet[Worker] = weakref.WeakSet()
        r.register(_Slots(self._workers))

    def add(self, worker: Worker) -> None:
        self._workers.add(worker)

    def remove(self, worker: Worker) -> None:
        self._workers.discard(worker)


class _Slots:
    """Read when scraped: each running worker's slots and cache."""

    def __init__(self, workers: weakref.WeakSet[Worker]) -> None:
        self.workers = workers

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        labels = ["worker_type", "task_queue"]
        available = GaugeMetricFamily(
            "mainspring_worker_task_slots_available", "Tasks the worker may still take.", labels=labels
        )
        used = GaugeMetricFamily("mainspring_worker_task_slots_used", "Tasks the worker runs now.", labels=labels)
        cache = GaugeMetricFamily(
            "mainspring_worker_sticky_cache_size", "Workflows held in the worker's cache.", labels=["task_queue"]
        )
        workers: list[Worker] = []
        for _ in range(3):  # (scraped from the Prometheus client's thread while the loop adds or drops one)
            try:
                workers = list(self.workers)
                break
            except RuntimeError:
                continue
        for w in workers:
            for kind, (free, size) in w.slot_counts().items():
                available.add_metric([kind, w.task_queue], free)
                used.add_metric([kind, w.task_queue], size - free)
            cache.add_metric([w.task_queue], len(w.cache))
        yield available
        yield used
        yield cache
