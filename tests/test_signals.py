"""Class workflows and signals, against a real server: handlers, ``wait_condition``, ordering, buffering,
durability (a signal sent before any worker runs), request-id deduplication, payload checks at the
boundary, and replay on a fresh worker. A ``wait_condition`` timeout runs on the time-skipping environment
(``mainspring_client``), where a day's wait takes no real time.

Tests that matter for replay run twice: with the sticky cache, and with ``max_cached_workflows=0``,
which rebuilds the workflow from its whole history on every workflow task.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from inprocess import events_of, eventually, running_worker
from mainspring import (
    ApplicationError,
    Client,
    InvalidArgumentError,
    NotFoundError,
    WorkflowFailureError,
    activity,
    workflow,
)
from mainspring.errors import TimeoutError as MainspringTimeoutError
from support import ServerProcess, run_cli

CACHE_SIZES = pytest.mark.parametrize("cache", [1000, 0], ids=["cached", "replaying"])


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@dataclass
class Start:
    greeting: str


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn(name="GreetingWorkflow")
class GreetingWorkflow:
    @workflow.init
    def __init__(self, input: Start) -> None:
        self.greeting = input.greeting
        self.names: list[str] = []
        self.exit = False

    @workflow.run
    async def run(self, ctx: workflow.Context, input: Start) -> list[str]:
        await ctx.wait_condition(lambda: self.exit, timeout=timedelta(hours=1))
        await ctx.wait_condition(ctx.all_handlers_finished)
        return [f"{self.greeting}, {n}" for n in self.names]

    @workflow.signal
    async def submit(self, ctx: workflow.Context, name: str) -> None:
        # An async handler may run activities; the run waits for it through all_handlers_finished.
        self.names.append(await ctx.execute_activity(shout, name, start_to_close_timeout=timedelta(seconds=10)))

    @workflow.signal(name="exit")
    def exit_(self) -> None:
        self.exit = True


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.seen: list[int] = []

    @workflow.run
    async def run(self, ctx: workflow.Context, until: int) -> list[int]:
        await ctx.wait_condition(lambda: len(self.seen) >= until)
        return self.seen

    @workflow.signal
    def add(self, n: int) -> None:
        self.seen.append(n)


@workflow.defn
class Impatient:
    @workflow.run
    async def run(self, ctx: workflow.Context) -> str:
        began = ctx.now()
        try:
            await ctx.wait_condition(lambda: False, timeout=timedelta(days=1))
        except MainspringTimeoutError as e:
            return f"timed out after {(ctx.now() - began).total_seconds() / 3600:.0f} hours: {e}"
        return "never"


@workflow.defn
class FailsOnSignal:
    @workflow.run
    async def run(self, ctx: workflow.Context) -> None:
        await ctx.sleep(timedelta(hours=1))

    @workflow.signal
    def boom(self, why: str) -> None:
        raise ApplicationError(f"refused: {why}", non_retryable=True)


@workflow.defn
class Dynamic:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self, ctx: workflow.Context) -> list[str]:
        await ctx.wait_condition(lambda: len(self.got) >= 2)
        return self.got

    @workflow.signal(dynamic=True)
    def anything(self, name: str, payload: object) -> None:
        self.got.append(f"{name}={payload}")


@workflow.defn
class Unfinished:
    @workflow.run
    async def run(self, ctx: workflow.Context) -> str:
        await ctx.wait_condition(lambda: self.started)
        return "done"

    def __init__(self) -> None:
        self.started = False

    @workflow.signal
    async def slow(self, ctx: workflow.Context) -> None:
        self.started = True
        await ctx.sleep(timedelta(hours=1))


@CACHE_SIZES
async def test_signals_reach_their_handlers_and_wait_condition_wakes(client: Client, cache: int) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[GreetingWorkflow], activities=[shout], max_cached_workflows=cache):
        handle = await client.start_workflow(GreetingWorkflow.run, Start("Hello"), id=new_id(), task_queue=tq)
        await handle.signal(GreetingWorkflow.submit, "ann")
        await handle.signal(GreetingWorkflow.submit, "bob")
        await handle.signal(GreetingWorkflow.exit_)
        assert await asyncio.wait_for(handle.result(), 30) == ["Hello, ANN", "Hello, BOB"]
    signaled = await events_of(handle, "WorkflowExecutionSignaled")
    assert [e["attributes"]["signal_name"] for e in signaled] == ["submit", "submit", "exit"]
    assert [e["attributes"]["input"] for e in signaled] == ["ann", "bob", None]


async def test_a_signal_sent_before_any_worker_runs_is_delivered(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(Counter.run, 3, id=new_id(), task_queue=tq)
    for n in (1, 2, 3):
        await handle.signal(Counter.add, n)
    async with running_worker(client, tq, workflows=[Counter]):
        assert await asyncio.wait_for(handle.result(), 30) == [1, 2, 3]


@CACHE_SIZES
async def test_many_signals_arrive_in_order(client: Client, cache: int) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[Counter], max_cached_workflows=cache):
        handle = await client.start_workflow(Counter.run, 60, id=new_id(), task_queue=tq)
        await asyncio.gather(*(handle.signal("add", n) for n in range(20)))
        for n in range(20, 60):
            await handle.signal(Counter.add, n)
        result = await asyncio.wait_for(handle.result(), 60)
    # Concurrent sends are recorded in some order; the workflow sees exactly the recorded order.
    recorded = [e["attributes"]["input"] for e in await events_of(handle, "WorkflowExecutionSignaled")]
    assert result == recorded and sorted(result) == list(range(60))
    assert result[20:] == list(range(20, 60))


async def test_a_retried_signal_with_the_same_request_id_is_recorded_once(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(Counter.run, 2, id=new_id(), task_queue=tq)
    await handle.signal(Counter.add, 7, request_id="same-request")
    await handle.signal(Counter.add, 7, request_id="same-request")
    await handle.signal(Counter.add, 8)
    async with running_worker(client, tq, workflows=[Counter]):
        assert await asyncio.wait_for(handle.result(), 30) == [7, 8]
    assert len(await events_of(handle, "WorkflowExecutionSignaled")) == 2


async def test_wait_condition_times_out_with_a_mainspring_timeout_error(mainspring_client: Client) -> None:
    client = mainspring_client
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[Impatient]):
        result = await asyncio.wait_for(client.execute_workflow(Impatient.run, id=new_id(), task_queue=tq), 30)
    assert result.startswith("timed out after 24 hours")


async def test_an_application_error_in_a_signal_handler_fails_the_workflow(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[FailsOnSignal]):
        handle = await client.start_workflow(FailsOnSignal.run, id=new_id(), task_queue=tq)
        await handle.signal(FailsOnSignal.boom, "no")
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), 30)
    assert info.value.cause is not None and "refused: no" in info.value.cause.message


async def test_a_dynamic_handler_gets_every_unknown_name(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[Dynamic]):
        handle = await client.start_workflow(Dynamic.run, id=new_id(), task_queue=tq)
        await handle.signal("alpha", 1)
        await handle.signal("beta", "two")
        assert await asyncio.wait_for(handle.result(), 30) == ["alpha=1", "beta=two"]


async def test_completing_with_a_handler_still_running_is_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    caplog.set_level(logging.WARNING, logger="mainspring.workflow")
    async with running_worker(client, tq, workflows=[Unfinished]):
        handle = await client.start_workflow(Unfinished.run, id=new_id(), task_queue=tq)
        await handle.signal(Unfinished.slow)
        assert await asyncio.wait_for(handle.result(), 30) == "done"
    assert any("all_handlers_finished" in r.getMessage() for r in caplog.records)


async def test_a_signal_to_a_closed_or_missing_run_is_refused(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[Counter]):
        handle = await client.start_workflow(Counter.run, 0, id=new_id(), task_queue=tq)
        await asyncio.wait_for(handle.result(), 30)
    with pytest.raises(InvalidArgumentError) as info:
        await handle.signal(Counter.add, 1)
    assert info.value.code == "not_running"
    with pytest.raises(NotFoundError):
        await client.get_workflow_handle("no-such-workflow").signal("add", 1)


async def test_a_payload_that_does_not_fit_the_announced_handler_is_refused(
    client: Client, server: ServerProcess
) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[Counter]):
        handle = await client.start_workflow(Counter.run, 1, id=new_id(), task_queue=tq)
        with pytest.raises(InvalidArgumentError) as info:
            await handle.signal("add", "not a number")
        assert info.value.code == "invalid_input" and "add" in info.value.message
        # Over plain HTTP too: a 400 with a JSON body; nothing is recorded.
        async with httpx.AsyncClient(base_url=server.url) as http:
            r = await http.post(
                "/api/v1/namespaces/default/workflows/signal",
                json={"workflow_id": handle.workflow_id, "signal_name": "add", "input": {"n": 1}},
            )
        assert r.status_code == 400 and r.json()["code"] == "invalid_input"
        assert await events_of(handle, "WorkflowExecutionSignaled") == []
        await handle.signal(Counter.add, 5)
        assert await asyncio.wait_for(handle.result(), 30) == [5]


async def test_a_fresh_worker_replays_a_history_with_signals(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, tq, workflows=[GreetingWorkflow], activities=[shout]):
        handle = await client.start_workflow(GreetingWorkflow.run, Start("Hi"), id=new_id(), task_queue=tq)
        await handle.signal(GreetingWorkflow.submit, "ann")
        await eventually(lambda: events_of(handle, "ActivityTaskCompleted"), what="the first handler's activity")
    # A new worker (no cache of this run) replays the signal and its handler's activity, then goes on.
    async with running_worker(client, tq, workflows=[GreetingWorkflow], activities=[shout]):
        await handle.signal(GreetingWorkflow.submit, "bob")
        await handle.signal(GreetingWorkflow.exit_)
        assert await asyncio.wait_for(handle.result(), 30) == ["Hi, ANN", "Hi, BOB"]


def test_signal_methods_are_checked_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="query"):

        @workflow.defn
        class AsyncQuery:
            @workflow.run
            async def run(self, ctx: workflow.Context) -> None: ...

            @workflow.query  # type: ignore[misc]
            async def q(self) -> int:
                return 1

    with pytest.raises(TypeError, match="exactly one"):

        @workflow.defn
        class NoRun:
            pass

    with pytest.raises(TypeError, match="signal"):

        @workflow.defn
        class TwoPayloads:
            @workflow.run
            async def run(self, ctx: workflow.Context) -> None: ...

            @workflow.signal
            def s(self, a: int, b: int) -> None: ...  # type: ignore[misc]


async def test_the_cli_sends_signals_and_names_the_handlers_on_a_typo(client: Client, server: ServerProcess) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    addr = server.address
    async with running_worker(client, tq, workflows=[Counter]):
        handle = await client.start_workflow(Counter.run, 2, id=new_id(), task_queue=tq)
        wid = handle.workflow_id
        r = await asyncio.to_thread(
            run_cli, "workflow", "signal", "-w", wid, "--name", "add", "--input", "4", address=addr
        )
        assert r.returncode == 0, r.stderr
        assert "Signal 'add' sent" in r.stdout
        typo = await asyncio.to_thread(
            run_cli, "workflow", "signal", "-w", wid, "--name", "ad", "--input", "1", "-o", "json", address=addr
        )
        assert typo.returncode == 0, typo.stderr
        answer = json.loads(typo.stdout)
        assert "Did you mean 'add'?" in answer["warning"] and answer["event_id"] > 0
        bad = await asyncio.to_thread(
            run_cli, "workflow", "signal", "-w", wid, "--name", "add", "--input", '"x"', address=addr
        )
        assert bad.returncode != 0 and "does not fit" in bad.stderr
        not_json = await asyncio.to_thread(
            run_cli, "workflow", "signal", "-w", wid, "--name", "add", "--input", "{oops", address=addr
        )
        assert not_json.returncode != 0 and "not valid JSON" in not_json.stderr
        await handle.signal(Counter.add, 6)
        assert await asyncio.wait_for(handle.result(), 30) == [4, 6]
    closed = await asyncio.to_thread(
        run_cli, "workflow", "signal", "-w", wid, "--name", "add", "--input", "1", "-o", "json", address=addr
    )
    assert closed.returncode != 0 and json.loads(closed.stderr)["code"] == "not_running"
