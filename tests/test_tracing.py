"""OpenTelemetry tracing (``mainspring.contrib.opentelemetry``, ``server start --otlp-endpoint``) against a real
server: the SDK's spans recorded by the OpenTelemetry SDK's in-memory exporter (the client and an in-process
worker share one tracer provider), the server's received by an OTLP/HTTP collector stand-in (an HTTP server
that records what is POSTed to /v1/traces).

- a workflow that runs an activity, receives a signal and starts a child makes one trace with Temporal's span
  names and parent links, with the sticky cache and with every task replayed from the whole history (no second
  RunWorkflow span either way);
- without an interceptor no header is sent: the stored events have none;
- a server with tracing on exports a span per operation, continuing the caller's trace, and its JSON logs
  carry the trace id; a call over plain HTTP continues the trace its body's header (or traceparent) names;
- updates (StartWorkflowUpdate -> ValidateUpdate, HandleUpdate), queries (QueryWorkflow -> HandleQuery),
  local activities (StartActivity -> RunActivity) and continue-as-new (the next run's RunWorkflow under the
  first start) are traced with Temporal's names;
- the time-skipping environment takes interceptors.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from inprocess import eventually, running_worker
from mainspring import Client, activity, workflow
from mainspring.client import WithStartWorkflowOperation
from mainspring.contrib.opentelemetry import TracingInterceptor
from mainspring.testing import WorkflowEnvironment
from mainspring.worker import Replayer, Worker, WorkflowHistory
from support import ServerProcess, free_port

CACHE_SIZES = pytest.mark.parametrize("cache", [1000, 0], ids=["cached", "replaying"])


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
async def exclaim(ctx: workflow.Context, text: str) -> str:
    return text + "!"


@workflow.defn
class Traced:
    def __init__(self) -> None:
        self.word: str | None = None

    @workflow.run
    async def run(self, ctx: workflow.Context, text: str) -> str:
        loud = await ctx.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=10))
        await ctx.wait_condition(lambda: self.word is not None)
        child = await ctx.execute_child_workflow(exclaim, loud, id=f"{ctx.info.workflow_id}-child")
        return f"{child} {self.word}"

    @workflow.signal
    def proceed(self, word: str) -> None:
        self.word = word


def _recorder() -> tuple[InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider


async def _run_traced(client: Client, cache: int) -> tuple[str, str]:
    """Run a Traced workflow to its end; its id and result."""
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = f"wf-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[Traced, exclaim], activities=[shout], max_cached_workflows=cache):
        handle = await client.start_workflow(Traced.run, "hi", id=wid, task_queue=tq)

        async def activity_done() -> bool:
            events = await handle.fetch_history()
            return any(e["event_type"] == "ActivityTaskCompleted" for e in events)

        await eventually(activity_done, what="the activity to complete")
        await handle.signal(Traced.proceed, "now")
        result = await handle.result()
    return wid, result


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{len(found)} spans named {name!r} in {sorted(s.name for s in spans)}"
    return found[0]


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


@CACHE_SIZES
async def test_a_workflow_its_activity_signal_and_child_make_one_trace(server: ServerProcess, cache: int) -> None:
    exporter, provider = _recorder()
    tracer = provider.get_tracer("test")
    async with await Client.connect(server.address, interceptors=[TracingInterceptor(tracer)]) as client:
        with tracer.start_as_current_span("test") as root:
            wid, result = await _run_traced(client, cache)
        assert result == "HI! now"
        handle = client.get_workflow_handle(wid)
        history = await handle.fetch_history()
    spans = list(exporter.get_finished_spans())
    names = sorted(s.name for s in spans)
    assert names == sorted(
        [
            "test",
            "StartWorkflow:Traced",
            "RunWorkflow:Traced",
            "StartActivity:shout",
            "RunActivity:shout",
            "SignalWorkflow:proceed",
            "HandleSignal:proceed",
            "StartChildWorkflow:exclaim",
            "RunWorkflow:exclaim",
        ]
    ), "each span once: a replay of the run makes none"
    assert {s.context.trace_id for s in spans if s.context is not None} == {root.get_span_context().trace_id}

    start = _one(spans, "StartWorkflow:Traced")
    run = _one(spans, "RunWorkflow:Traced")
    assert _parent_of(start) == root.get_span_context().span_id
    assert _parent_of(run) == _id(start)
    assert _parent_of(_one(spans, "StartActivity:shout")) == _id(run)  # scheduled in the run's first task
    assert _parent_of(_one(spans, "RunActivity:shout")) == _id(_one(spans, "StartActivity:shout"))
    signal, handled = _one(spans, "SignalWorkflow:proceed"), _one(spans, "HandleSignal:proceed")
    assert _parent_of(handled) == _id(signal)
    child_start = _one(spans, "StartChildWorkflow:exclaim")
    # A later task: with the cache, the copy of the run that made RunWorkflow; replaying, a copy rebuilt from
    # history, for which the start's span stands in (no RunWorkflow span is made twice).
    assert _parent_of(child_start) == (_id(run) if cache else _id(start))
    assert [link.context.span_id for link in handled.links] == [_id(run) if cache else _id(start)]
    assert _parent_of(_one(spans, "RunWorkflow:exclaim")) == _id(child_start)
    assert run.attributes is not None and run.attributes["temporalWorkflowID"] == wid

    # The context travels in the stored events' header, as Temporal's does.
    headers = {e["event_type"]: e["attributes"].get("header") for e in history if "header" in e["attributes"]}
    assert set(headers) == {
        "WorkflowExecutionStarted",
        "ActivityTaskScheduled",
        "WorkflowExecutionSignaled",
        "StartChildWorkflowExecutionInitiated",
    }
    assert headers["WorkflowExecutionStarted"]["_tracer-data"]["traceparent"].startswith("00-")

    # A history recorded with tracing replays without it (the header is no part of what replay compares), and
    # the replay makes no span.
    before = len(exporter.get_finished_spans())
    replayed = await Replayer(workflows=[Traced, exclaim]).replay_workflow(WorkflowHistory(wid, history))
    assert replayed.replay_failure is None
    assert len(exporter.get_finished_spans()) == before


async def test_a_worker_restart_makes_no_second_run_span(server: ServerProcess) -> None:
    # The run's first task on one worker, the rest on a new one (a new process would be the same: the new
    # worker rebuilds the run from its history).
    exporter, provider = _recorder()
    tracer = provider.get_tracer("test")
    tq, wid = f"tq-{uuid.uuid4().hex[:8]}", f"wf-{uuid.uuid4().hex[:8]}"
    async with await Client.connect(server.address, interceptors=[TracingInterceptor(tracer)]) as client:
        async with running_worker(client, tq, workflows=[Traced, exclaim], activities=[shout]):
            handle = await client.start_workflow(Traced.run, "hi", id=wid, task_queue=tq)

            async def waiting() -> bool:
                events = await handle.fetch_history()
                return sum(e["event_type"] == "WorkflowTaskCompleted" for e in events) >= 2

            await eventually(waiting, what="the run to wait for its signal")
        async with running_worker(client, tq, workflows=[Traced, exclaim], activities=[shout]):
            await handle.signal(Traced.proceed, "later")
            assert await handle.result() == "HI! later"
    names = [s.name for s in exporter.get_finished_spans()]
    assert names.count("RunWorkflow:Traced") == 1
    assert names.count("HandleSignal:proceed") == 1
    assert names.count("RunWorkflow:exclaim") == 1


async def test_without_an_interceptor_no_header_is_sent_or_stored(client: Client) -> None:
    wid, result = await _run_traced(client, 1000)
    assert result == "HI! now"
    history = await client.get_workflow_handle(wid).fetch_history()
    child = await client.get_workflow_handle(f"{wid}-child").fetch_history()
    assert [e["event_type"] for e in history + child if "header" in e["attributes"]] == []


# --- the server's spans ------------------------------------------------------------------------------------------


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP collector stand-in: records the spans POSTed to /v1/traces (protobuf)."""

    spans: list[Any]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}.get("service.name")
                for scope in resource.scope_spans:
                    self.spans.extend((service, span) for span in scope.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[Any]]]:
    handler = type("Collector", (_Collector,), {"spans": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.spans
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_a_server_with_tracing_on_exports_a_span_per_operation(
    tmp_path: Path, collector: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = collector
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export within a tenth of a second
    log = tmp_path / "server.log"
    server = ServerProcess(
        tmp_path / "mainspring.db",
        extra_args=["--otlp-endpoint", url, "--log-format", "json", "--log-level", "debug"],
        log_path=log,
    ).start()
    exporter, provider = _recorder()
    try:
        async with await Client.connect(
            server.address, interceptors=[TracingInterceptor(provider.get_tracer("test"))]
        ) as client:
            wid, result = await _run_traced(client, 1000)
            assert result == "HI! now"
            async with await Client.connect(server.address) as plain:  # no interceptor: a trace of its own
                await plain.get_workflow_handle(wid).describe()

            def names() -> set[str]:
                return {span.name for _, span in received}

            async def exported() -> bool:
                return {"start_workflow", "signal_workflow", "complete_workflow_task"} <= names()

            await eventually(exported, what="the server's spans")
    finally:
        server.stop()
    ours = {s.name: s for s in exporter.get_finished_spans()}
    start = ours["StartWorkflow:Traced"]
    assert start.context is not None
    by_name = {span.name: span for _, span in received}
    assert {service for service, _ in received} == {"mainspring-server"}
    # The start's span continues the client's: same trace, the client's span its parent.
    served = by_name["start_workflow"]
    assert int.from_bytes(served.trace_id, "big") == start.context.trace_id
    assert int.from_bytes(served.parent_span_id, "big") == start.context.span_id
    attributes = {a.key: a.value.string_value for a in served.attributes}
    assert attributes["mainspring.transport"] == "channel"
    # Workers' polls and heartbeats make none.
    assert not {n for n in by_name if n.startswith("poll_") or n == "heartbeat_session"}
    # The plain client's describe (HTTP) made a span with no parent.
    assert by_name["describe_workflow"].parent_span_id == b""
    # A log line written within a span carries its trace id: the signal's, recorded in the signal's trace.
    signal = ours["SignalWorkflow:proceed"]
    assert signal.context is not None
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    recorded = [line for line in lines if line["message"].startswith("signal 'proceed' recorded")]
    assert [line.get("trace_id") for line in recorded] == [f"{signal.context.trace_id:032x}"]


async def test_a_worker_takes_interceptors_of_its_own(server: ServerProcess) -> None:
    # As Temporal's Worker(interceptors=...): the client is plain, the worker's runs and activities are traced.
    exporter, provider = _recorder()
    tracer = provider.get_tracer("test")
    tq, wid = f"tq-{uuid.uuid4().hex[:8]}", f"wf-{uuid.uuid4().hex[:8]}"
    async with await Client.connect(server.address) as client:
        worker = Worker(
            client, task_queue=tq, workflows=[exclaim], activities=[shout], interceptors=[TracingInterceptor(tracer)]
        )
        async with worker:
            assert await client.execute_workflow(exclaim, "hey", id=wid, task_queue=tq)
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert "RunWorkflow:exclaim" in names and "StartWorkflow:exclaim" not in names, names


# --- updates, queries, local activities, continue-as-new --------------------------------------------------------


@activity.defn
async def whisper(text: str) -> str:
    return text.lower()


@workflow.defn
class Messaged:
    """Runs a local activity, answers a query and an update, then continues as new once (its second run ends)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, ctx: workflow.Context, round: int) -> str:
        quiet = await ctx.execute_local_activity(whisper, "HUSH", start_to_close_timeout=timedelta(seconds=10))
        if round == 1:
            await ctx.wait_condition(lambda: self.done)
            ctx.continue_as_new(2)
        return f"{quiet} {round}"

    @workflow.query
    def count(self) -> int:
        return len(self.items)

    @workflow.update
    async def add(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)

    @add.validator
    def _check(self, item: str) -> None:
        if not item:
            raise ValueError("empty")

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def test_updates_queries_local_activities_and_continue_as_new_are_traced(server: ServerProcess) -> None:
    exporter, provider = _recorder()
    tracer = provider.get_tracer("test")
    tq, wid = f"tq-{uuid.uuid4().hex[:8]}", f"wf-{uuid.uuid4().hex[:8]}"
    async with await Client.connect(server.address, interceptors=[TracingInterceptor(tracer)]) as client:
        async with running_worker(client, tq, workflows=[Messaged], activities=[whisper]):
            with tracer.start_as_current_span("test") as root:
                handle = await client.start_workflow(Messaged.run, 1, id=wid, task_queue=tq)
                assert await handle.execute_update(Messaged.add, "a") == 1
                assert await handle.query(Messaged.count) == 1
                await handle.signal(Messaged.finish)
                assert await client.get_workflow_handle(wid).result() == "hush 2"
        history = await client.get_workflow_handle(wid).fetch_history()  # (the run continued as)
    first = next(e for e in history if e["event_type"] == "WorkflowExecutionStarted")
    assert first["attributes"]["header"]["_tracer-data"]["traceparent"].startswith("00-")
    spans = list(exporter.get_finished_spans())
    names = sorted(s.name for s in spans)
    assert {s.context.trace_id for s in spans if s.context is not None} == {root.get_span_context().trace_id}, names
    start = _one(spans, "StartWorkflow:Messaged")
    runs = [s for s in spans if s.name == "RunWorkflow:Messaged"]
    assert len(runs) == 2, names  # the first run's, and the run it continued as
    # Continue-as-new carries the start header into the next run (as Temporal's): both runs are children of
    # the client's start.
    assert [_parent_of(r) for r in runs] == [_id(start), _id(start)]

    update = _one(spans, "StartWorkflowUpdate:add")
    assert _parent_of(update) == root.get_span_context().span_id
    validated, handled = _one(spans, "ValidateUpdate:add"), _one(spans, "HandleUpdate:add")
    assert _parent_of(validated) == _id(update) and _parent_of(handled) == _id(update)
    assert (
        handled.attributes is not None
        and handled.attributes["temporalUpdateID"] == update.attributes["temporalUpdateID"]
    )  # type: ignore[index]

    query = _one(spans, "QueryWorkflow:count")
    assert _parent_of(_one(spans, "HandleQuery:count")) == _id(query)
    assert _parent_of(_one(spans, "HandleSignal:finish")) == _id(_one(spans, "SignalWorkflow:finish"))

    # A local activity per run: StartActivity in the run's span, RunActivity around its attempt.
    local_starts = [s for s in spans if s.name == "StartActivity:whisper"]
    local_runs = [s for s in spans if s.name == "RunActivity:whisper"]
    assert len(local_starts) == 2 and len(local_runs) == 2, names
    assert sorted(_parent_of(s) or 0 for s in local_starts) == sorted(_id(r) for r in runs)
    assert sorted(_parent_of(s) or 0 for s in local_runs) == sorted(_id(s) for s in local_starts)


async def test_a_call_over_plain_http_continues_the_callers_trace(
    tmp_path: Path, collector: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not over the SDK's channel: a program of its own POSTs, with the context in the body's header field (as
    # the SDK's interceptor puts it) or in a W3C traceparent HTTP header.
    url, received = collector
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    server = ServerProcess(tmp_path / "mainspring.db", extra_args=["--otlp-endpoint", url]).start()
    ns = server.url + "/api/v1/namespaces/default"
    in_body, in_http = "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        async with httpx.AsyncClient() as http:
            r = await http.post(
                ns + "/workflows",
                json={
                    "workflow_id": "plain-1",
                    "workflow_type": "t",
                    "task_queue": "q",
                    "header": {"_tracer-data": {"traceparent": f"00-{in_body}-b7ad6b7169203331-01"}},
                },
            )
            assert r.status_code == 201, r.text
            r = await http.post(
                ns + "/workflows/signal",
                json={"workflow_id": "plain-1", "signal_name": "go"},
                headers={"traceparent": f"00-{in_http}-00f067aa0ba902b7-01"},
            )
            assert r.status_code == 200, r.text
            # A body too large is still refused as it was (the body read for the trace is the endpoint's).
            r = await http.post(
                ns + "/workflows", content=b"{" + b" " * (64 << 20) + b"}", headers={"content-type": "application/json"}
            )
            assert r.status_code == 413, r.text

        async def exported() -> bool:
            names = [span.name for _, span in received]
            return names.count("start_workflow") == 2 and "signal_workflow" in names

        await eventually(exported, what="the server's spans")
    finally:
        server.stop()
    starts = sorted(
        (span for _, span in received if span.name == "start_workflow"), key=lambda s: s.start_time_unix_nano
    )
    (signal,) = [span for _, span in received if span.name == "signal_workflow"]
    assert len(starts) == 2  # the refused one too: its own trace
    start = starts[0]
    assert (start.trace_id.hex(), start.parent_span_id.hex()) == (in_body, "b7ad6b7169203331")
    assert (
        starts[1].parent_span_id == b""
        and {a.key: a.value.int_value for a in starts[1].attributes}["http.response.status_code"] == 413
    )
    assert (signal.trace_id.hex(), signal.parent_span_id.hex()) == (in_http, "00f067aa0ba902b7")
    assert {a.key: a.value.string_value for a in start.attributes}["mainspring.transport"] == "http"


@workflow.defn
async def sleepy(ctx: workflow.Context, text: str) -> str:
    await ctx.sleep(timedelta(days=3))
    return await ctx.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=10))


async def test_the_time_skipping_environment_takes_interceptors() -> None:
    exporter, provider = _recorder()
    interceptor = TracingInterceptor(provider.get_tracer("test"))
    async with WorkflowEnvironment.start_time_skipping(interceptors=[interceptor]) as env:
        assert env.client.interceptors == (interceptor,)
        async with Worker(env.client, task_queue="tq", workflows=[sleepy], activities=[shout]):
            assert await env.client.execute_workflow(sleepy, "zz", id="sleepy-1", task_queue="tq") == "ZZ"
    spans = exporter.get_finished_spans()
    assert sorted(s.name for s in spans) == [
        "RunActivity:shout",
        "RunWorkflow:sleepy",
        "StartActivity:shout",
        "StartWorkflow:sleepy",
    ]
    assert len({s.context.trace_id for s in spans if s.context is not None}) == 1


# --- signals between workflows, update-with-start -----------------------------------------------------------


@workflow.defn
class Listener:
    def __init__(self) -> None:
        self.heard: list[str] = []

    @workflow.run
    async def run(self, ctx: workflow.Context, want: int) -> list[str]:
        await ctx.wait_condition(lambda: len(self.heard) >= want)
        return self.heard

    @workflow.signal
    def hear(self, word: str) -> None:
        self.heard.append(word)


@workflow.defn
class Caller:
    @workflow.run
    async def run(self, ctx: workflow.Context, other: str) -> list[str]:
        await ctx.get_external_workflow_handle_for(Listener.run, other).signal(Listener.hear, "external")
        child = await ctx.start_child_workflow(Listener.run, 1, id=f"{ctx.info.workflow_id}-child")
        await child.signal(Listener.hear, "child")
        return await child


async def test_a_signal_from_a_workflow_carries_its_trace_to_the_receiver(server: ServerProcess) -> None:
    # Temporal's SignalExternalWorkflow / SignalChildWorkflow spans, made in the sender's run, with the context
    # in the signal's header: the receiver's HandleSignal is their child (linked to the receiver's own run).
    exporter, provider = _recorder()
    tracer = provider.get_tracer("test")
    tq, wid = f"tq-{uuid.uuid4().hex[:8]}", f"wf-{uuid.uuid4().hex[:8]}"
    async with await Client.connect(server.address, interceptors=[TracingInterceptor(tracer)]) as client:
        async with running_worker(client, tq, workflows=[Caller, Listener]):
            with tracer.start_as_current_span("listener"):
                listener = await client.start_workflow(Listener.run, 1, id=f"{wid}-l", task_queue=tq)
            with tracer.start_as_current_span("caller") as root:
                assert await client.execute_workflow(Caller.run, f"{wid}-l", id=wid, task_queue=tq) == ["child"]
            assert await listener.result() == ["external"]
        history = await listener.fetch_history()
        sender = await client.get_workflow_handle(wid).fetch_history()
    spans = list(exporter.get_finished_spans())
    names = sorted(s.name for s in spans)
    caller_run = _one(spans, "RunWorkflow:Caller")
    sent = _one(spans, "SignalExternalWorkflow:hear")
    assert sent.context is not None and sent.context.trace_id == root.get_span_context().trace_id
    assert _parent_of(sent) == _id(caller_run), names
    child_sent = _one(spans, "SignalChildWorkflow:hear")
    assert child_sent.context is not None and child_sent.context.trace_id == root.get_span_context().trace_id
    handled = [s for s in spans if s.name == "HandleSignal:hear"]
    assert len(handled) == 2, names
    by_parent = {_parent_of(s): s for s in handled}
    assert set(by_parent) == {_id(sent), _id(child_sent)}
    # The external one: the receiver's run (of another trace) is linked.
    listener_run = next(
        s
        for s in spans
        if s.name == "RunWorkflow:Listener" and s.attributes and s.attributes["temporalWorkflowID"] == f"{wid}-l"
    )
    assert [link.context.span_id for link in by_parent[_id(sent)].links] == [_id(listener_run)]
    # The context travelled in the signal's header, as recorded in the receiver's history.
    (signaled,) = [e for e in history if e["event_type"] == "WorkflowExecutionSignaled"]
    assert signaled["attributes"]["header"]["_tracer-data"]["traceparent"].split("-")[2] == f"{_id(sent):016x}"
    # And in the sender's SignalExternalWorkflowExecutionInitiated (a send taken up after a restart reads it).
    initiated = [e for e in sender if e["event_type"] == "SignalExternalWorkflowExecutionInitiated"]
    assert [e["attributes"]["header"]["_tracer-data"]["traceparent"].split("-")[2] for e in initiated] == [
        f"{_id(sent):016x}",
        f"{_id(child_sent):016x}",
    ]


async def test_update_with_start_makes_one_client_span(server: ServerProcess) -> None:
    exporter, provider = _recorder()
    tracer = provider.get_tracer("test")
    tq, wid = f"tq-{uuid.uuid4().hex[:8]}", f"wf-{uuid.uuid4().hex[:8]}"
    async with (
        await Client.connect(server.address, interceptors=[TracingInterceptor(tracer)]) as client,
        running_worker(client, tq, workflows=[Messaged], activities=[whisper]),
    ):
        with tracer.start_as_current_span("test") as root:
            start = WithStartWorkflowOperation(Messaged.run, 1, id=wid, task_queue=tq)
            answer = await client.execute_update_with_start_workflow(Messaged.add, "a", start_workflow_operation=start)
            assert answer == 1
            await (await start.workflow_handle()).signal(Messaged.finish)
            assert await client.get_workflow_handle(wid).result() == "hush 2"
    spans = list(exporter.get_finished_spans())
    names = sorted(s.name for s in spans)
    assert not {"StartWorkflow:Messaged", "StartWorkflowUpdate:add"} & set(names), names
    outer = _one(spans, "UpdateWithStartWorkflow:Messaged")
    assert _parent_of(outer) == root.get_span_context().span_id
    assert outer.attributes is not None and outer.attributes["temporalWorkflowID"] == wid
    for name in ("ValidateUpdate:add", "HandleUpdate:add"):
        assert _parent_of(_one(spans, name)) == _id(outer), name
    # The run it started, and the one that run continued as (the start header carried on).
    runs = [s for s in spans if s.name == "RunWorkflow:Messaged"]
    assert [_parent_of(r) for r in runs] == [_id(outer), _id(outer)], names
    assert _one(spans, "HandleUpdate:add").attributes["temporalUpdateID"] == outer.attributes["temporalUpdateID"]  # type: ignore[index]
