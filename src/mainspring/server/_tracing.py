"""OpenTelemetry spans of the server's operations (``server start --otlp-endpoint URL``), exported over
OTLP/HTTP; off by default.

One span per operation, named after it (``start_workflow``, ``signal_workflow``, ``complete_activity_task``,
...), for HTTP routes and channel operations alike (``mainspring.transport``: ``http`` or ``channel``). A span
continues the caller's trace: an HTTP request's ``traceparent`` header (W3C Trace Context), else the
``_tracer-data`` entry of the request's ``header`` field, which the SDK's ``TracingInterceptor`` fills
(``api.headers``). Workers' long polls and session heartbeats make no span: they are most of a worker's calls,
and say nothing about any workflow.

The OpenTelemetry SDK is imported only when tracing is on (the ``opentelemetry`` extra); with it off the
server's paths cost one attribute test, as with metrics. The exporter reads the standard variables for the
rest (``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_TIMEOUT``, ``OTEL_BSP_*``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``); the service name is ``mainspring-server`` unless they say otherwise. A JSON log
line written while a span is current carries its ``trace_id`` (``_logs``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..api.headers import TRACER_HEADER
from ..errors import MainspringError
from . import _logs

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

__all__ = ["UNTRACED", "ServerTracing", "TracingUnavailableError", "traces_url"]

#: Operations that make no span (see the module's docstring).
UNTRACED = frozenset(
    {
        "poll_workflow_task",
        "poll_workflow_tasks",
        "poll_activity_task",
        "poll_activity_tasks",
        "heartbeat_session",
    }
)


class TracingUnavailableError(MainspringError):
    """``--otlp-endpoint`` was given, but the OpenTelemetry SDK and exporter are not installed."""


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of ``endpoint``: a collector's base URL (as ``OTEL_EXPORTER_OTLP_ENDPOINT`` is,
    ``http://collector:4318``) gets ``/v1/traces``; a URL that ends with it is kept as it is."""
    url = endpoint.rstrip("/")
    return url if url.endswith("/v1/traces") else url + "/v1/traces"


class ServerTracing:
    """The server's tracer, its exporter, and what the request paths ask of them."""

    def __init__(self, endpoint: str) -> None:
        try:
            from opentelemetry import trace
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError as e:
            raise TracingUnavailableError(
                f"--otlp-endpoint needs the OpenTelemetry SDK and OTLP exporter ({e.name} is missing): "
                "pip install 'mainspring[opentelemetry]'"
            ) from None
        self.url = traces_url(endpoint)
        given = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "mainspring-server"}
        # A provider of the server's own, not the global one: code sharing the process (tests, an embedding
        # program) keeps its tracing as it set it up.
        self._provider: TracerProvider = TracerProvider(resource=Resource.create(given))
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=self.url)))
        self._tracer: Tracer = self._provider.get_tracer("mainspring.server")
        self._propagator = TraceContextTextMapPropagator()
        self._trace = trace
        self._server_kind = trace.SpanKind.SERVER
        _logs.trace_id = self.trace_id

    def parent(self, headers: Mapping[str, str] | None, body: Any) -> Context | None:
        """The caller's context: the HTTP ``traceparent`` header's, else the body's ``header`` field's; or None."""
        if headers is not None and "traceparent" in headers:
            return self._propagator.extract(headers)
        header = body.get("header") if isinstance(body, dict) else None
        carrier = header.get(TRACER_HEADER) if isinstance(header, dict) else None
        if isinstance(carrier, dict):
            return self._propagator.extract({str(k): str(v) for k, v in carrier.items()})
        return None

    def span(
        self, name: str, transport: str, headers: Mapping[str, str] | None, body: Any
    ) -> AbstractContextManager[Span]:
        """The span of one operation, current for its extent; an exception ends it as an error."""
        return self._tracer.start_as_current_span(
            name,
            context=self.parent(headers, body),
            kind=self._server_kind,
            attributes={"mainspring.operation": name, "mainspring.transport": transport},
        )

    def trace_id(self) -> str | None:
        """The current span's trace id (32 hex digits), or None outside a span."""
        context = self._trace.get_current_span().get_span_context()
        return f"{context.trace_id:032x}" if context.is_valid else None

    def shutdown(self) -> None:
        """Export what is left, and stop."""
        if _logs.trace_id == self.trace_id:
            _logs.trace_id = None
        self._provider.shutdown()
