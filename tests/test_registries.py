"""The feature registries are the one place that lists command and event kinds.

On the server, each command type is one ``CommandKind`` (``mainspring.server.features``); on the
worker, each is one command event, and every event type the workflow must act on has a handler
(``mainspring.workflow._features``). These tests fail when a kind is added in one place and not the
other, and show that registering a kind is all a server needs to accept and apply a new command.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from mainspring.api import models as m
from mainspring.api.enums import CommandType, EventType, WorkflowStatus
from mainspring.errors import InvalidArgumentError
from mainspring.server import Engine, ServerConfig
from mainspring.server._transition import Transition
from mainspring.server.features import COMMAND_KINDS, CommandCheck, CommandKind, CommandKinds
from mainspring.storage import store_from_url
from mainspring.workflow._features import CLOSING_COMMANDS, COMMAND_EVENTS, EVENT_HANDLERS

#: Event types the workflow code never sees: replay handles workflow tasks itself (their started
#: and completed events drive it, a failed or timed out task's code run is skipped), an activity's
#: started event is written with its outcome, and a terminated run gets no more workflow tasks.
NOT_FOR_FEATURES = {
    EventType.WORKFLOW_TASK_SCHEDULED,
    EventType.WORKFLOW_TASK_STARTED,
    EventType.WORKFLOW_TASK_COMPLETED,
    EventType.WORKFLOW_TASK_FAILED,
    EventType.WORKFLOW_TASK_TIMED_OUT,
    EventType.ACTIVITY_TASK_STARTED,
    EventType.WORKFLOW_EXECUTION_TERMINATED,
    # Written by the server when a run's own timeout fires; like a termination, the run is closed: no
    # workflow task follows it.
    EventType.WORKFLOW_EXECUTION_TIMED_OUT,
}


def test_every_command_type_has_one_kind_on_the_server() -> None:
    types = [kind.command_type for kind in COMMAND_KINDS]
    assert sorted(types) == sorted(CommandType)
    # ... and the kinds' models are exactly the commands the API accepts.
    union = typing.get_args(m.Command)[0]
    assert {kind.model for kind in COMMAND_KINDS} == set(typing.get_args(union))
    for kind in COMMAND_KINDS:
        assert kind.model.model_fields["type"].default == kind.command_type


def test_every_command_type_has_one_command_event_on_the_worker() -> None:
    command_types = [ce.command_type for ce in COMMAND_EVENTS.values()]
    assert sorted(command_types) == sorted(t.value for t in CommandType)
    assert all(event_type == ce.event_type for event_type, ce in COMMAND_EVENTS.items())


def test_server_and_worker_agree_on_which_commands_close_the_workflow() -> None:
    assert {kind.command_type for kind in COMMAND_KINDS if kind.closes} == CLOSING_COMMANDS
    assert {
        CommandType.COMPLETE_WORKFLOW.value,
        CommandType.FAIL_WORKFLOW.value,
        CommandType.CANCEL_WORKFLOW.value,
        CommandType.CONTINUE_AS_NEW_WORKFLOW.value,
    } == CLOSING_COMMANDS


def test_every_event_type_is_handled_once_by_the_replay() -> None:
    handled = set(EVENT_HANDLERS)
    matched = set(COMMAND_EVENTS)
    assert not handled & matched
    assert not (handled | matched) & {t.value for t in NOT_FOR_FEATURES}
    # A new event type must be registered by a feature, or listed above with the reason it needs none.
    assert handled | matched | {t.value for t in NOT_FOR_FEATURES} == {t.value for t in EventType}


def test_a_kind_is_registered_once() -> None:
    kind = next(iter(COMMAND_KINDS))
    with pytest.raises(ValueError, match="registered twice"):
        CommandKinds([*COMMAND_KINDS, kind])


# --- a new command, registered in a test: nothing else changes -----------------------------------------


class EchoCommand(BaseModel):
    """Close the workflow as completed, with ``note`` as its result."""

    type: Literal["Echo"] = "Echo"
    note: str


def _validate_echo(check: CommandCheck, cmd: EchoCommand) -> str | None:
    return "the note is empty" if not cmd.note else None


def _apply_echo(t: Transition, cmd: EchoCommand, completed_id: int) -> None:
    t.append(
        EventType.WORKFLOW_EXECUTION_COMPLETED, {"result": cmd.note, "workflow_task_completed_event_id": completed_id}
    )
    t.ex.state.outcome = (cmd.note, None)
    t.close(WorkflowStatus.COMPLETED)


ECHO = CommandKind("Echo", EchoCommand, _validate_echo, _apply_echo, closes=True)


async def test_a_registered_command_kind_is_validated_and_applied(tmp_path: Path) -> None:
    store = store_from_url(str(tmp_path / "registry.db"))
    await store.open()
    engine = Engine(store, ServerConfig(db=str(tmp_path / "registry.db"), ui_port=None))
    await engine.start()
    try:
        # This engine alone accepts the new kind; no other code knows of it.
        engine.command_kinds = CommandKinds([*COMMAND_KINDS, ECHO])
        session = await engine.register_worker(
            "default",
            m.RegisterWorkerRequest(identity="test", task_queue="q", workflow_types=[m.WorkflowTypeInfo(name="wf")]),
        )
        run_id, _ = await engine.start_workflow(
            "default", m.StartWorkflowRequest(workflow_id="w", workflow_type="wf", task_queue="q")
        )

        async def complete(*commands: Any) -> None:
            task = await engine.workflow_tasks.poll(session, 30)
            assert task is not None
            req = m.CompleteWorkflowTaskRequest.model_construct(
                task_token=task["task_token"], commands=list(commands), sticky=False, eager_activity_slots=0
            )
            await engine.workflow_tasks.complete("default", req)

        # Its validation runs, in the place of the command in the task ...
        with pytest.raises(InvalidArgumentError, match=r"^command 1 \(Echo\): the note is empty$"):
            await complete(EchoCommand(note=""))
        # ... it closes the workflow, so nothing may follow it ...
        with pytest.raises(
            InvalidArgumentError, match=r"^command 2 \(CompleteWorkflow\) comes after the command that closed"
        ):
            await complete(EchoCommand(note="hi"), m.CompleteWorkflowCommand(result=1))
        # ... and it is applied: its event is written and the run closes with its result.
        await complete(EchoCommand(note="hello"))
        result = await engine.wait_result("default", "w", None, 10)
        assert (result["status"], result["result"]) == ("COMPLETED", "hello")
        events = await store.read_history(run_id, 1, 100)
        assert events[-1].event_type is EventType.WORKFLOW_EXECUTION_COMPLETED
        assert events[-1].attributes["result"] == "hello"
    finally:
        await engine.stop()
        await store.close()


# --- the transition core: a change that fails half-way is never half-kept ------------------------------


class BoomCommand(BaseModel):
    """A command whose application fails after it appended an event (a feature's bug, say)."""

    type: Literal["Boom"] = "Boom"


def _apply_boom(t: Transition, cmd: BoomCommand, completed_id: int) -> None:
    t.append(EventType.TIMER_STARTED, {"timer_id": "half", "duration": 1.0, "workflow_task_completed_event_id": 0})
    raise RuntimeError("boom")


BOOM = CommandKind("Boom", BoomCommand, lambda check, cmd: None, _apply_boom)


async def test_a_transition_that_fails_before_its_commit_leaves_nothing_and_the_run_goes_on(tmp_path: Path) -> None:
    store = store_from_url(str(tmp_path / "boom.db"))
    await store.open()
    engine = Engine(store, ServerConfig(db=str(tmp_path / "boom.db"), ui_port=None))
    await engine.start()
    try:
        engine.command_kinds = CommandKinds([*COMMAND_KINDS, BOOM])
        session = await engine.register_worker(
            "default",
            m.RegisterWorkerRequest(identity="test", task_queue="q", workflow_types=[m.WorkflowTypeInfo(name="wf")]),
        )
        run_id, _ = await engine.start_workflow(
            "default", m.StartWorkflowRequest(workflow_id="w", workflow_type="wf", task_queue="q")
        )
        task = await engine.workflow_tasks.poll(session, 30)
        assert task is not None
        req = m.CompleteWorkflowTaskRequest.model_construct(
            task_token=task["task_token"], commands=[BoomCommand()], sticky=False, eager_activity_slots=0
        )
        with pytest.raises(RuntimeError, match="boom"):
            await engine.workflow_tasks.complete("default", req)
        # Nothing of the failed transition is stored, and its in-memory copy is forgotten.
        events = await store.read_history(run_id, 1, 100)
        assert [e.event_type for e in events] == [
            EventType.WORKFLOW_EXECUTION_STARTED,
            EventType.WORKFLOW_TASK_SCHEDULED,
        ]
        ex = engine._cache.get(run_id)
        assert ex is None or not ex.events
        # The run is reloaded from the store and its workflow task handed out again; it completes.
        again = await engine.workflow_tasks.poll(session, 30)
        assert again is not None and again["run_id"] == run_id
        done = m.CompleteWorkflowTaskRequest.model_construct(
            task_token=again["task_token"],
            commands=[m.CompleteWorkflowCommand(result="ok")],
            sticky=False,
            eager_activity_slots=0,
        )
        await engine.workflow_tasks.complete("default", done)
        result = await engine.wait_result("default", "w", None, 10)
        assert (result["status"], result["result"]) == ("COMPLETED", "ok")
        # The half-made event never reached the store, not even with a later commit of the run.
        assert EventType.TIMER_STARTED not in [e.event_type for e in await store.read_history(run_id, 1, 100)]
    finally:
        await engine.stop()
        await store.close()
