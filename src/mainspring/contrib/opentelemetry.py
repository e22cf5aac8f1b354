"""OpenTelemetry tracing of workflows, signals, queries, updates, activities and child workflows, as Temporal's
``temporalio.contrib.opentelemetry`` traces them (the same span names and header, so traces and code port)::

    from mainspring.contrib.opentelemetry import TracingInterceptor

    client = await Client.connect(address, interceptors=[TracingInterceptor()])

Spans go to the tracer provider the program set up (``opentelemetry.trace.set_tracer_provider``, with an OTLP
exporter, say); a worker built on the client traces too. The trace's context travels in the calls' header
(``_tracer-data``, a W3C ``traceparent`` carrier), so one trace holds::

    StartWorkflow:<type>            the client's start (SignalWithStartWorkflow:<type> for a signal-with-start)
      RunWorkflow:<type>            the run's start, on the worker that ran its first workflow task
        StartActivity:<name>          each activity it scheduled
          RunActivity:<name>            each attempt, around the activity's code (its own spans nest in it)
        StartChildWorkflow:<type>     each child it started
          RunWorkflow:<type>            the child's run, and so on
        SignalExternalWorkflow:<name> each signal it sent another workflow (SignalChildWorkflow:<name> through
          HandleSignal:<name>           a child's handle); the receiving run's handling of it
        StartActivity:<name>          each local activity it ran (RunActivity:<name> around each attempt)
      RunWorkflow:<type>            the next run after a continue-as-new (the header carried into it)
    SignalWorkflow:<name>           a client's signal
      HandleSignal:<name>           the run handling it, linked to the run's start
    QueryWorkflow:<name>            a client's query
      HandleQuery:<name>            the copy of the run that answered it, linked to the run's start
    StartWorkflowUpdate:<name>      a client's update (start_update, execute_update)
      ValidateUpdate:<name>         its validator running (if the handler has one)
      HandleUpdate:<name>           its handler starting, once the update is accepted
    UpdateWithStartWorkflow:<type>  a client's update-with-start: one span, its header sent with both parts
      RunWorkflow:<type>            the run it started (none if it found one running)
      ValidateUpdate:<name>         and the update's, as above
      HandleUpdate:<name>

Workflow spans (RunWorkflow, HandleSignal, ValidateUpdate, HandleUpdate, StartActivity, StartChildWorkflow) are
made, and ended at once, when the workflow's code makes the call live, never when a worker replays history: a
run's RunWorkflow span is made once, however many times workers rebuild the run. They are made outside the
workflow's code, so tracing cannot make a workflow non-deterministic. Unlike Temporal's, the parent of
HandleSignal, ValidateUpdate and HandleUpdate is the sender's span (the caller's trace), with a link to the
run's; a signal or update sent without a header gets the run's as parent. HandleQuery is made only for a query
sent with a header (as Temporal's), each time a copy answers one. A continue-as-new makes no span: the next
run's start header is the one of the run that continued, so every run of the chain is a child of its first
start's span, as with Temporal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace as _trace
from opentelemetry.context import Context as _OtelContext
from opentelemetry.propagators.textmap import TextMapPropagator as _TextMapPropagator
from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator as _TraceContextTextMapPropagator,
)

from ..api.headers import TRACER_HEADER as _TRACER_HEADER
from ..interceptors import Call as _Call
from ..interceptors import CallKind as _CallKind
from ..interceptors import Interceptor as _Interceptor
from ..interceptors import WorkflowInterceptor as _WorkflowInterceptor
from ..workflow import WorkflowInfo as _WorkflowInfo

__all__ = ["TracingInterceptor"]


class TracingInterceptor(_Interceptor):
    """Trace a client's calls to workflows and its workers' runs and activities (see the module's docstring).

    ``tracer``: the tracer spans are made with (default: the global provider's, named after this module).
    ``propagator``: how the context is written into and read from the header (default: W3C Trace Context).
    ``header_key``: the header entry that holds it (Temporal's, by default).
    """

    def __init__(
        self,
        tracer: _trace.Tracer | None = None,
        *,
        propagator: _TextMapPropagator | None = None,
        header_key: str = _TRACER_HEADER,
    ) -> None:
        self.tracer = tracer or _trace.get_tracer(__name__)
        self.propagator = propagator or _TraceContextTextMapPropagator()
        self.header_key = header_key

    # --- the header --------------------------------------------------------------------------------------------

    def _inject(self, call: _Call, context: _OtelContext | None = None) -> None:
        carrier: dict[str, str] = {}
        self.propagator.inject(carrier, context=context)
        if carrier:
            call.header[self.header_key] = carrier

    def _extract(self, header: Mapping[str, Any] | None) -> _OtelContext | None:
        """The context a header carries, or None."""
        carrier = (header or {}).get(self.header_key)
        if not isinstance(carrier, dict):
            return None
        context = self.propagator.extract({str(k): str(v) for k, v in carrier.items()})
        return context if _trace.get_current_span(context).get_span_context().is_valid else None

    def _attributes(self, call: _Call) -> dict[str, str]:
        # Temporal's attribute names, so queries and dashboards written for its traces keep working.
        attributes = {"temporalWorkflowID": call.workflow_id}
        if call.run_id:
            attributes["temporalRunID"] = call.run_id
        activity_id = call.extra.get("activity_id")
        if isinstance(activity_id, str):
            attributes["temporalActivityID"] = activity_id
        update_id = call.extra.get("update_id")
        if isinstance(update_id, str):
            attributes["temporalUpdateID"] = update_id
        return attributes

    # --- the hooks ---------------------------------------------------------------------------------------------

    def client_call(self, call: _Call) -> AbstractContextManager[object]:
        return self._client_span(call)

    @contextmanager
    def _client_span(self, call: _Call) -> Iterator[object]:
        name = f"{call.kind.value}:{call.name}"
        with self.tracer.start_as_current_span(
            name, kind=_trace.SpanKind.CLIENT, attributes=self._attributes(call)
        ) as span:
            self._inject(call)
            yield span

    def activity_call(self, call: _Call) -> AbstractContextManager[object]:
        return self.tracer.start_as_current_span(
            f"{call.kind.value}:{call.name}",
            context=self._extract(call.header),
            kind=_trace.SpanKind.SERVER,
            attributes=self._attributes(call),
        )

    def workflow_interceptor(self, info: _WorkflowInfo) -> _WorkflowInterceptor | None:
        return _TracingWorkflow(self)


#: The messages a run handles: their spans' parent is the sender's span (the header that came with them), with
#: a link to the run's; without a header, the run's is the parent (a query's without one makes none).
_HANDLED = frozenset(
    {_CallKind.HANDLE_SIGNAL, _CallKind.HANDLE_QUERY, _CallKind.VALIDATE_UPDATE, _CallKind.HANDLE_UPDATE}
)


class _TracingWorkflow(_WorkflowInterceptor):
    """One run's spans: each made and ended at once (a run outlives any span a process could hold open)."""

    def __init__(self, root: TracingInterceptor) -> None:
        self.root = root
        #: The RunWorkflow span's context, once this copy of the run made it; before (a copy rebuilt from history
        #: by a worker that did not run the first task), the start's context stands in for it.
        self.context: _OtelContext | None = None

    def _run_context(self, call: _Call) -> _OtelContext | None:
        if self.context is not None:
            return self.context
        start = call.extra.get("start_header")
        return self.root._extract(start if isinstance(start, Mapping) else None)

    def workflow_call(self, call: _Call) -> None:
        root = self.root
        name = f"{call.kind.value}:{call.name}"
        attributes = root._attributes(call)
        if call.kind is _CallKind.RUN_WORKFLOW:
            span = root.tracer.start_span(
                name, context=root._extract(call.header), kind=_trace.SpanKind.SERVER, attributes=attributes
            )
            span.end()
            self.context = _trace.set_span_in_context(span)
        elif call.kind is _CallKind.CONTINUE_AS_NEW:
            # No span (as Temporal's): the next run's start header is this run's, so its RunWorkflow joins the
            # trace the chain's first start began.
            start = call.extra.get("start_header")
            carrier = start.get(root.header_key) if isinstance(start, Mapping) else None
            if isinstance(carrier, dict):
                call.header[root.header_key] = carrier
        elif call.kind in _HANDLED:
            run = self._run_context(call)
            sent = root._extract(call.header)
            if sent is None and call.kind is _CallKind.HANDLE_QUERY:
                return
            links = []
            if sent is not None and run is not None:
                links.append(_trace.Link(_trace.get_current_span(run).get_span_context()))
            span = root.tracer.start_span(
                name, context=sent or run, kind=_trace.SpanKind.SERVER, attributes=attributes, links=links
            )
            span.end()
        else:  # START_ACTIVITY (local ones too), START_CHILD_WORKFLOW, SIGNAL_*: the header goes with the command
            span = root.tracer.start_span(
                name, context=self._run_context(call), kind=_trace.SpanKind.CLIENT, attributes=attributes
            )
            span.end()
            root._inject(call, _trace.set_span_in_context(span))
