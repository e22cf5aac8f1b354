"""Signal-with-start, against a real server and worker: a run is started with its signal when none runs
(the handler runs on the instance before ``run``), the running run is signalled when one does (no second
run), a retried call with the same request id records nothing new, a payload that does not fit is refused
with nothing created, the CLI takes both paths, and hostile HTTP input gets a 4xx with a JSON body.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from inprocess import events_of, eventually, history_types, running_worker
from mainspring import Client, InvalidArgumentError, workflow
from support import ServerProcess, run_cli

SWS_PATH = "/api/v1/namespaces/default/workflows/signal-with-start"
VALID = {"workflow_id": "w", "workflow_type": "T", "task_queue": "q", "signal_name": "s"}


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@dataclass
class Start:
    greeting: str


@workflow.defn(name="SwsGreeting")
class Greeting:
    @workflow.init
    def __init__(self, input: Start) -> None:
        self.greeting = input.greeting
        self.names: list[str] = []
        #: What the state was when ``run`` began: the signal-with-start's handler ran before it.
        self.names_when_run_began: list[str] | None = None
        self.done = False

    @workflow.run
    async def run(self, ctx: workflow.Context, input: Start) -> dict[str, Any]:
        self.names_when_run_began = list(self.names)
        await ctx.wait_condition(lambda: self.done)
        return {"before_run": self.names_when_run_began, "greetings": [f"{self.greeting}, {n}" for n in self.names]}

    @workflow.signal
    def submit(self, name: str) -> None:
        self.names.append(name)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def _runs(client: Client, workflow_id: str) -> list[dict[str, Any]]:
    page = await client.list_workflows(workflow_id_prefix=workflow_id)
    return [e for e in page.executions if e["workflow_id"] == workflow_id]


async def test_starts_a_run_with_its_signal_when_none_runs(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    async with running_worker(client, tq, workflows=[Greeting]):
        handle = await client.start_workflow(
            Greeting.run, Start("Hello"), id=wid, task_queue=tq, start_signal="submit", start_signal_args=["ann"]
        )
        await handle.signal(Greeting.finish)
        result = await asyncio.wait_for(handle.result(), 30)
    # The handler ran on the instance __init__ made, before run's body.
    assert result == {"before_run": ["ann"], "greetings": ["Hello, ann"]}
    types = await history_types(handle)
    assert types[:3] == ["WorkflowExecutionStarted", "WorkflowExecutionSignaled", "WorkflowTaskScheduled"]
    first_signal = (await events_of(handle, "WorkflowExecutionSignaled"))[0]
    assert first_signal["event_id"] == 2 and first_signal["attributes"]["input"] == "ann"
    assert len(await _runs(client, wid)) == 1


async def test_signals_the_running_run_instead_of_starting_another(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    async with running_worker(client, tq, workflows=[Greeting]):
        first = await client.start_workflow(Greeting.run, Start("Hi"), id=wid, task_queue=tq)
        second = await client.start_workflow(
            Greeting.run, Start("ignored"), id=wid, task_queue=tq, start_signal="submit", start_signal_args=["bo"]
        )
        assert second.run_id == first.run_id
        await first.signal(Greeting.finish)
        result = await asyncio.wait_for(first.result(), 30)
    assert result["greetings"] == ["Hi, bo"]  # the running run's input, not the second call's
    assert len(await _runs(client, wid)) == 1
    signaled = await events_of(first, "WorkflowExecutionSignaled")
    assert [e["attributes"]["signal_name"] for e in signaled] == ["submit", "finish"]


async def test_after_the_run_closed_a_new_run_is_started(client: Client) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    async with running_worker(client, tq, workflows=[Greeting]):
        first = await client.start_workflow(Greeting.run, Start("Hi"), id=wid, task_queue=tq)
        await first.signal(Greeting.finish)
        await asyncio.wait_for(first.result(), 30)
        second = await client.start_workflow(Greeting.run, Start("Again"), id=wid, task_queue=tq, start_signal="finish")
        assert second.run_id != first.run_id
        assert await asyncio.wait_for(second.result(), 30) == {"before_run": [], "greetings": []}
        # execute_workflow takes the same options: a third run, its handler run before its body.
        third = client.execute_workflow(
            Greeting.run, Start("Once more"), id=wid, task_queue=tq, start_signal="submit", start_signal_args=["gus"]
        )
        executing = asyncio.create_task(third)
        await eventually(lambda: _third_run(client, wid, {first.run_id, second.run_id}), what="the third run")
        await client.get_workflow_handle(wid).signal(Greeting.finish)
        assert await asyncio.wait_for(executing, 30) == {
            "before_run": ["gus"],
            "greetings": ["Once more, gus"],
        }
    assert len(await _runs(client, wid)) == 3


async def _third_run(client: Client, workflow_id: str, known: set[str]) -> bool:
    return any(r["run_id"] not in known for r in await _runs(client, workflow_id))


async def test_a_retried_call_with_the_same_request_id_records_nothing_new(
    client: Client, server: ServerProcess
) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    body = {
        "workflow_id": wid,
        "workflow_type": "SwsGreeting",
        "task_queue": tq,
        "input": {"greeting": "Yo"},
        "signal_name": "submit",
        "signal_input": "cy",
        "request_id": "the-same-request",
    }
    async with httpx.AsyncClient(base_url=server.url) as http:
        answers = [(await http.post(SWS_PATH, json=body)).json() for _ in range(2)]
        # A retry of a call that signalled a running run is recorded once too.
        other = {**body, "request_id": "another-request", "signal_input": "di"}
        answers += [(await http.post(SWS_PATH, json=other)).json() for _ in range(2)]
    assert [(a["started"], a["duplicate"]) for a in answers] == [
        (True, False),
        (True, True),
        (False, False),
        (False, True),
    ]
    assert len({a["run_id"] for a in answers}) == 1
    assert answers[0]["event_id"] == answers[1]["event_id"] == 2
    assert answers[2]["event_id"] == answers[3]["event_id"] > 2
    handle = client.get_workflow_handle(wid)
    assert [e["attributes"]["input"] for e in await events_of(handle, "WorkflowExecutionSignaled")] == ["cy", "di"]
    async with running_worker(client, tq, workflows=[Greeting]):
        await handle.signal(Greeting.finish)
        assert await asyncio.wait_for(handle.result(), 30) == {
            "before_run": ["cy", "di"],
            "greetings": ["Yo, cy", "Yo, di"],
        }
    assert len(await _runs(client, wid)) == 1


async def test_concurrent_calls_start_one_run_and_record_every_signal(client: Client, server: ServerProcess) -> None:
    # Racing calls for a workflow id that has no run: one creates it (with its signal), the others find it
    # made (their start refused) and signal it; none is lost, none starts a second run.
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    n = 20

    def body(i: int) -> dict[str, Any]:
        return {
            "workflow_id": wid,
            "workflow_type": "SwsGreeting",
            "task_queue": tq,
            "input": {"greeting": "Hi"},
            "signal_name": "submit",
            "signal_input": f"n{i}",
            "request_id": f"call-{i}",
        }

    async with httpx.AsyncClient(base_url=server.url) as http:
        replies = await asyncio.gather(*(http.post(SWS_PATH, json=body(i)) for i in range(n)))
    answers = [r.json() for r in replies]
    assert all(r.status_code == 200 for r in replies), answers
    assert sum(a["started"] for a in answers) == 1
    assert len({a["run_id"] for a in answers}) == 1
    handle = client.get_workflow_handle(wid)
    recorded = [e["attributes"]["input"] for e in await events_of(handle, "WorkflowExecutionSignaled")]
    assert sorted(recorded) == sorted(f"n{i}" for i in range(n))
    assert len(await _runs(client, wid)) == 1


async def test_a_payload_that_does_not_fit_is_refused_and_nothing_is_created(
    client: Client, server: ServerProcess
) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    async with running_worker(client, tq, workflows=[Greeting]):  # it announces the handlers' schemas
        with pytest.raises(InvalidArgumentError) as info:
            await client.start_workflow(
                "SwsGreeting", {"greeting": "x"}, id=wid, task_queue=tq, start_signal="submit", start_signal_args=[42]
            )
        assert info.value.code == "invalid_input" and "submit" in info.value.message
        async with httpx.AsyncClient(base_url=server.url) as http:
            bad_input = await http.post(
                SWS_PATH,
                json={
                    "workflow_id": wid,
                    "workflow_type": "SwsGreeting",
                    "task_queue": tq,
                    "input": {"greeting": 3},
                    "signal_name": "submit",
                    "signal_input": "ok",
                },
            )
        assert bad_input.status_code == 400 and bad_input.json()["code"] == "invalid_input"
        assert "greeting" in bad_input.json()["message"]
    assert await _runs(client, wid) == []
    assert "Traceback" not in server.log()


async def test_the_client_refuses_bad_signal_arguments_before_sending(client: Client) -> None:
    with pytest.raises(ValueError, match="at most one"):
        await client.start_workflow("X", None, id="w", task_queue="q", start_signal="s", start_signal_args=[1, 2])
    with pytest.raises(TypeError, match="start_signal_args must be a list"):
        await client.start_workflow("X", None, id="w", task_queue="q", start_signal="s", start_signal_args="ann")
    with pytest.raises(TypeError, match="without start_signal"):
        await client.start_workflow("X", None, id="w", task_queue="q", start_signal_args=["ann"])
    with pytest.raises(TypeError, match="start_signal must be a str"):
        await client.start_workflow("X", None, id="w", task_queue="q", start_signal=3)  # type: ignore[typeddict-item]
    assert await _runs(client, "w") == []


async def test_the_cli_starts_or_signals(client: Client, server: ServerProcess) -> None:
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    wid = new_id()
    addr = server.address
    common = ["workflow", "signal-with-start", "-t", tq, "--type", "SwsGreeting", "-w", wid]
    started = await asyncio.to_thread(
        run_cli, *common, "--input", '{"greeting": "Hey"}', "--signal", "submit", "--signal-input", '"ed"', address=addr
    )
    assert started.returncode == 0, started.stderr
    assert f"Workflow {wid} started" in started.stdout
    second = ["--input", '{"greeting": "no"}', "--signal", "submit", "--signal-input", '"flo"', "-o", "json"]
    signalled = await asyncio.to_thread(run_cli, *common, *second, address=addr)
    assert signalled.returncode == 0, signalled.stderr
    answer = json.loads(signalled.stdout)
    assert answer["started"] is False and answer["duplicate"] is False and answer["event_id"] > 2
    not_json = await asyncio.to_thread(run_cli, *common, "--signal", "submit", "--signal-input", "{oops", address=addr)
    assert not_json.returncode != 0 and "--signal-input is not valid JSON" in not_json.stderr
    handle = client.get_workflow_handle(wid)
    async with running_worker(client, tq, workflows=[Greeting]):
        done = await asyncio.to_thread(run_cli, *common, "--signal", "finish", "-o", "json", address=addr)
        assert done.returncode == 0, done.stderr
        assert await asyncio.wait_for(handle.result(), 30) == {
            "before_run": ["ed", "flo"],
            "greetings": ["Hey, ed", "Hey, flo"],
        }
    assert len(await _runs(client, wid)) == 1


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


HOSTILE: list[Any] = [
    {},
    {"workflow_id": "w"},
    {"workflow_id": "w", "workflow_type": "T", "task_queue": "q"},  # no signal name
    {**VALID, "signal_name": ""},
    {**VALID, "extra": 1},
    {**VALID, "workflow_id": ""},
    {**VALID, "workflow_id": "w" * 5000},
    {**VALID, "signal_name": 7},
    {**VALID, "request_id": ["x"]},
    {**VALID, "input": {"deep": _nested(250)}},
    {**VALID, "signal_input": _nested(250)},
    {**VALID, "signal_input": "x" * (3 * 1024 * 1024)},
    [1, 2],
    "not an object",
]


async def test_hostile_http_input_gets_a_4xx_json_body(server: ServerProcess, client: Client) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        answers = [await http.post(SWS_PATH, json=body) for body in HOSTILE]
        answers.append(await http.post(SWS_PATH, content=b"{not json", headers={"content-type": "application/json"}))
        gone = await http.post("/api/v1/namespaces/no-such-namespace/workflows/signal-with-start", json=VALID)
    for body, answer in zip([*HOSTILE, "raw", "gone"], [*answers, gone], strict=True):
        assert 400 <= answer.status_code < 500, (str(body)[:120], answer.text)
        assert set(answer.json()) >= {"code", "message"}, answer.text
    # The route exists (an unknown one is a 404 too): each body is refused for what is wrong with it.
    assert all(a.status_code in (400, 413) for a in answers), [a.status_code for a in answers]
    assert "signal_name" in answers[HOSTILE.index({**VALID, "signal_name": ""})].json()["message"]
    assert gone.status_code == 404 and gone.json()["code"] == "namespace_not_found"
    assert await _runs(client, "w") == []
    assert "Traceback" not in server.log()  # a client's mistake is answered, not logged as a crash
