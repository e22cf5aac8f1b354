"""The header a request or command may carry: context that travels with a call (a trace's, say) and is not
the call's payload.

A header is a small JSON object, by name. The server stores it with the event that records the call
(WorkflowExecutionStarted, WorkflowExecutionSignaled, ActivityTaskScheduled, StartChildWorkflowExecutionInitiated)
and hands it to the worker with the task, but never reads it, except that a server with tracing on
(``server start --otlp-endpoint``) continues the trace a header's ``_tracer-data`` names (``mainspring.contrib
.opentelemetry``). Left out, as it is unless an interceptor adds one, nothing is stored and nothing changes.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

__all__ = ["MAX_HEADER_KEYS", "TRACER_HEADER", "HeaderField"]

#: At most this many entries: a header carries context, not data (the payload is for data).
MAX_HEADER_KEYS = 16
#: The entry the OpenTelemetry interceptor uses (Temporal's name, so traces cross the two): a W3C carrier,
#: ``{"traceparent": "00-...", "tracestate": "..."}``.
TRACER_HEADER = "_tracer-data"

HeaderField = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=256)], Any] | None,
    Field(
        max_length=MAX_HEADER_KEYS,
        description="Context carried with the call, not its payload (a trace's: the '_tracer-data' entry holds a "
        "W3C traceparent): a JSON object of at most 16 entries, stored with the event that records the call and "
        "handed to the worker with its task. Omit for none.",
    ),
]
