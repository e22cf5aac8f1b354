"""Errors that keep their type: an exception class raised in an activity (or a local activity) reaches the
workflow as that class with its attributes (``ActivityError.cause``, or directly with
``workflow.raise_cause``), falls back to ``ApplicationError(type=...)`` where the class is not loaded, and a
hostile failure dict can name anything without effect. Also ``failure_exception_types`` (exceptions that
fail the workflow instead of its task) and the client's own errors (``handle.result(timeout=)``, a result
that does not fit its type).

Real server processes; the workflow workers run in the test's loop, the worker that has a class the
workflow's worker lacks is a separate process.
"""

from __future__ import annotations

import asyncio
import builtins
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from inprocess import events_of, history_types, running_worker
from mainspring import (
    ActivityError,
    ApplicationError,
    Client,
    RetryPolicy,
    RPCError,
    TimeoutError,
    WorkflowFailureError,
    WorkflowStatus,
    activity,
    workflow,
)
from mainspring.converter import PayloadError
from mainspring.errors import WorkflowUpdateFailedError, exception_from_failure, failure_to_dict
from support import ServerProcess, WorkerProcess

STC = timedelta(seconds=10)
ONCE = RetryPolicy(maximum_attempts=1)
WORKERS = Path(__file__).parent / "workers"


def new_id() -> str:
    return f"te-{uuid.uuid4().hex[:10]}"


# ================================================================================================
# Exceptions, activities, workflows
# ================================================================================================


@dataclass
class Account:
    number: str
    balance: int


class InsufficientFunds(Exception):
    """A user's exception with attributes and a constructor that takes them (which a rebuild never calls)."""

    def __init__(self, missing: int, account: Account) -> None:
        super().__init__(f"{missing} short on {account.number}")
        self.missing = missing
        self.account = account
        self.notes = ["checked", "twice"]
        self._secret = "not carried"  # private: left out


class Declined(ApplicationError):
    """A user's subclass of ApplicationError: its type defaults to its class name."""

    def __init__(self, reason_code: int) -> None:
        super().__init__(f"declined ({reason_code})", {"code": reason_code}, non_retryable=True)
        self.reason_code = reason_code


@activity.defn
async def withdraw(amount: int) -> str:
    raise InsufficientFunds(amount - 70, Account("acc-1", 70))


@activity.defn
async def charge(amount: int) -> str:
    raise Declined(amount)


@workflow.defn
async def catches_typed(ctx: workflow.Context, amount: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        await ctx.execute_activity(withdraw, amount, start_to_close_timeout=STC, retry_policy=ONCE)
    except ActivityError as e:  # Temporal's shape: the ActivityError, the typed error as its cause
        c = e.cause
        assert isinstance(c, InsufficientFunds)
        out["cause"] = {
            "class": type(c).__name__,
            "missing": c.missing,
            "account": c.account,
            "notes": c.notes,
            "args": list(c.args),
            "str": str(c),
            "secret": hasattr(c, "_secret"),
        }
        out["message"] = e.message
    try:
        await workflow.raise_cause(
            ctx.execute_activity(withdraw, amount, start_to_close_timeout=STC, retry_policy=ONCE)
        )
    except InsufficientFunds as e:  # directly, with raise_cause; the ActivityError is its context
        out["direct"] = [e.missing, isinstance(e.__context__, ActivityError)]
    try:
        await workflow.raise_cause(
            ctx.execute_local_activity(withdraw, amount, start_to_close_timeout=STC, retry_policy=ONCE)
        )
    except InsufficientFunds as e:
        out["local"] = e.missing
    try:
        await workflow.raise_cause(ctx.execute_activity(charge, 3, start_to_close_timeout=STC))
    except Declined as e:  # non-retryable: one attempt
        out["declined"] = [e.type, e.reason_code, e.non_retryable, list(e.details), e.message]
    return out


@workflow.defn
async def calls_by_name(ctx: workflow.Context, task_queue: str) -> dict[str, Any]:
    try:
        await ctx.execute_activity(
            "raise_only_here",
            "k",
            result_type=str,
            task_queue=task_queue,
            start_to_close_timeout=STC,
            retry_policy=ONCE,
        )
    except ActivityError as e:
        c = e.cause
        assert isinstance(c, ApplicationError)
        return {"class": type(c).__name__, "type": c.type, "message": c.message}
    return {}


# ================================================================================================
# Typed round trips
# ================================================================================================


async def test_typed_exception_round_trip(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[catches_typed], activities=[withdraw, charge]):
        handle = await client.start_workflow(catches_typed, 100, id=new_id(), task_queue=task_queue)
        out = await handle.result(timeout=60)
    assert out["cause"] == {
        "class": "InsufficientFunds",
        "missing": 30,
        # Attributes come back as JSON: the dataclass as a dict.
        "account": {"number": "acc-1", "balance": 70},
        "notes": ["checked", "twice"],
        "args": ["30 short on acc-1"],
        "str": "30 short on acc-1",
        "secret": False,
    }
    assert "30 short on acc-1" in out["message"]
    assert out["direct"] == [30, True]
    assert out["local"] == 30
    assert out["declined"] == ["Declined", 3, True, [{"code": 3}], "declined (3)"]
    failed = await events_of(handle, "ActivityTaskFailed")
    info = failed[0]["attributes"]["failure"]["exception"]
    assert info["module"] == __name__ and info["qualname"] == "InsufficientFunds"
    assert info["attrs"]["missing"] == 30 and "_secret" not in info["attrs"]


async def test_falls_back_to_application_error_when_the_class_is_not_loaded(
    server: ServerProcess, client: Client, task_queue: str, tmp_path: Path
) -> None:
    activity_queue = task_queue + "-acts"
    w = WorkerProcess(
        WORKERS / "typed_error_worker.py",
        server.address,
        args=["--task-queue", activity_queue],
        log_path=tmp_path / "typed-worker.log",
    ).start()
    try:
        async with running_worker(client, task_queue, workflows=[calls_by_name]):
            handle = await client.start_workflow(calls_by_name, activity_queue, id=new_id(), task_queue=task_queue)
            out = await handle.result(timeout=60)
    finally:
        w.stop()
    assert out == {"class": "ApplicationError", "type": "OnlyHere", "message": "only here, code 7"}
    failed = await events_of(handle, "ActivityTaskFailed")
    info = failed[0]["attributes"]["failure"]["exception"]
    assert (info["module"], info["qualname"], info["attrs"]) == ("__main__", "OnlyHere", {"code": 7})


# ================================================================================================
# Hostile failure dicts
# ================================================================================================

TRAPPED: list[Any] = []


class Trap(Exception):
    """Loaded here, so a failure may name it: its constructor and property setter must never run."""

    def __init__(self, *args: Any) -> None:
        TRAPPED.append(("init", args))
        super().__init__(*args)

    @property
    def value(self) -> Any:
        return "property"

    @value.setter
    def value(self, v: Any) -> None:
        TRAPPED.append(("setter", v))


def _failure(module: Any, qualname: Any, args: Any = (), attrs: Any = None) -> dict[str, Any]:
    exception = {"module": module, "qualname": qualname, "args": list(args), "attrs": attrs or {}}
    return {"message": "boom", "type": "Hostile", "kind": "application", "exception": exception}


HOSTILE: list[Callable[[str], dict[str, Any]]] = [
    lambda marker: _failure("os", "system", [f"touch {marker}"]),
    lambda marker: _failure("subprocess", "Popen", [["touch", marker]]),
    lambda marker: _failure("antigravity", "Thing"),  # importing it would open a browser: never imported
    lambda marker: _failure("mainspring_never_imported_module", "Boom"),
    lambda marker: _failure("builtins", "SystemExit", [3]),
    lambda marker: _failure("builtins", "ValueError", ["v"]),
    lambda marker: _failure(__name__, "Trap.__init__.__globals__"),
    lambda marker: _failure(__name__, "TRAPPED"),
    lambda marker: _failure(__name__, "InsufficientFunds.__class__"),
    lambda marker: _failure("mainspring.errors", "ActivityError"),
    lambda marker: _failure(None, 5),
    lambda marker: {"message": "boom", "type": "Hostile", "exception": ["os", "system"]},
    lambda marker: {
        "message": "boom",
        "type": "Hostile",
        "exception": {"module": __name__, "qualname": "Trap", "args": 5},
    },
]


@pytest.mark.parametrize("make", HOSTILE)
def test_a_hostile_failure_dict_is_harmless(make: Callable[[str], dict[str, Any]], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    failure = make(str(marker))
    before = set(sys.modules)
    err = exception_from_failure(failure)
    assert type(err) is ApplicationError and err.type == "Hostile" and err.message == "boom"
    assert set(sys.modules) == before  # nothing imported
    assert not marker.exists()


def test_a_known_class_is_built_without_running_its_code() -> None:
    TRAPPED.clear()
    err = exception_from_failure(_failure(__name__, "Trap", ["a", 1], {"value": "from history", "other": [1]}))
    assert type(err) is Trap and err.args == ("a", 1)
    assert err.value == "property" and err.other == [1]  # type: ignore[attr-defined]
    assert TRAPPED == []  # neither __init__ nor the setter ran


class _Masked(Exception):
    pass


@activity.defn
async def masked(name: str) -> str:
    # An exception whose class *claims* to be os.system (or an unloaded module's): what the activity worker
    # records is what a hostile worker could, and it travels the real path to the workflow.
    _Masked.__module__, _Masked.__qualname__ = ("os", "system") if name == "os" else ("antigravity", "Masked")
    raise _Masked("masked")


@workflow.defn
async def catches_masked(ctx: workflow.Context, name: str) -> list[str]:
    try:
        await ctx.execute_activity(masked, name, start_to_close_timeout=STC, retry_policy=ONCE)
    except ActivityError as e:
        c = e.cause
        assert isinstance(c, ApplicationError)
        return [type(c).__name__, c.type, c.message]
    return []


@pytest.mark.parametrize("name", ["os", "antigravity"])
async def test_a_hostile_failure_through_history_is_harmless(client: Client, task_queue: str, name: str) -> None:
    try:
        async with running_worker(client, task_queue, workflows=[catches_masked], activities=[masked]):
            handle = await client.start_workflow(catches_masked, name, id=new_id(), task_queue=task_queue)
            out = await handle.result(timeout=60)
    finally:
        _Masked.__module__, _Masked.__qualname__ = __name__, "_Masked"
    assert out[0] == "ApplicationError" and out[2] == "masked"
    assert "antigravity" not in sys.modules
    failed = await events_of(handle, "ActivityTaskFailed")
    assert failed[0]["attributes"]["failure"]["exception"]["module"] == name


# ================================================================================================
# failure_exception_types
# ================================================================================================


@workflow.defn(failure_exception_types=[InsufficientFunds])
async def fails_on_funds(ctx: workflow.Context, missing: int) -> str:
    raise InsufficientFunds(missing, Account("acc-2", 0))


@workflow.defn
async def task_fails_on_funds(ctx: workflow.Context, missing: int) -> str:
    raise InsufficientFunds(missing, Account("acc-3", 0))


async def test_failure_exception_types_fail_the_workflow(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[fails_on_funds]):
        handle = await client.start_workflow(fails_on_funds, 12, id=new_id(), task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=60)
    assert info.value.status == "FAILED"
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InsufficientFunds"
    assert cause.message == "12 short on acc-2"
    failed = await events_of(handle, "WorkflowExecutionFailed")
    assert failed[0]["attributes"]["failure"]["exception"]["attrs"]["missing"] == 12
    assert "WorkflowTaskFailed" not in await history_types(handle)


async def test_by_default_an_exception_fails_the_task_and_a_worker_option_fails_the_workflow(
    client: Client, task_queue: str
) -> None:
    async with running_worker(client, task_queue, workflows=[task_fails_on_funds]):
        handle = await client.start_workflow(task_fails_on_funds, 5, id=new_id(), task_queue=task_queue)
        for _ in range(300):
            if "WorkflowTaskFailed" in await history_types(handle):
                break
            await asyncio.sleep(0.05)
        assert "WorkflowTaskFailed" in await history_types(handle)
        assert (await handle.describe()).status is WorkflowStatus.RUNNING  # Temporal's default: the task retries
    other = task_queue + "-wide"
    async with running_worker(
        client, other, workflows=[task_fails_on_funds], workflow_failure_exception_types=[InsufficientFunds]
    ):
        handle2 = await client.start_workflow(task_fails_on_funds, 6, id=new_id(), task_queue=other)
        with pytest.raises(WorkflowFailureError) as info:
            await handle2.result(timeout=60)
    assert isinstance(info.value.cause, ApplicationError) and info.value.cause.type == "InsufficientFunds"
    await handle.terminate(reason="test over")


def test_failure_exception_types_are_checked() -> None:
    with pytest.raises(TypeError, match="exception classes"):
        workflow.defn(failure_exception_types=[42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list of exception classes"):
        workflow.defn(failure_exception_types=InsufficientFunds)  # type: ignore[arg-type]


# ================================================================================================
# The client's own errors
# ================================================================================================


@workflow.defn
async def returns_text(ctx: workflow.Context) -> str:
    return "not a number"


async def test_result_timeout_raises_mainspring_timeout_error(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(returns_text, id=new_id(), task_queue=task_queue)  # no worker
    with pytest.raises(TimeoutError) as info:
        await handle.result(timeout=0.5)
    assert info.value.timeout_type == "RESULT"
    assert isinstance(info.value, builtins.TimeoutError)  # what `except TimeoutError` written for asyncio catches
    await handle.terminate(reason="test over")


async def test_a_result_that_does_not_fit_is_a_payload_error(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[returns_text]):
        handle = await client.start_workflow(returns_text, id=new_id(), task_queue=task_queue)
        assert await handle.result(timeout=60) == "not a number"
    typed = client.get_workflow_handle(handle.workflow_id, result_type=int)
    with pytest.raises(PayloadError) as info:
        await typed.result(timeout=30)
    assert not isinstance(info.value, RPCError)
    assert "does not fit the expected type" in str(info.value) and handle.workflow_id in str(info.value)


def test_failure_to_dict_records_the_class_of_user_exceptions_only() -> None:
    assert "exception" not in failure_to_dict(ValueError("v"))
    assert "exception" not in failure_to_dict(ApplicationError("a", type="X"))
    info = failure_to_dict(InsufficientFunds(3, Account("a", 1)))["exception"]
    assert info == {
        "module": __name__,
        "qualname": "InsufficientFunds",
        "args": ["3 short on a"],
        "attrs": {"missing": 3, "account": {"number": "a", "balance": 1}, "notes": ["checked", "twice"]},
    }


@workflow.defn(failure_exception_types=[InsufficientFunds])
class Wallet:
    def __init__(self) -> None:
        self.done = False

    @workflow.update
    def spend(self, amount: int) -> int:
        raise InsufficientFunds(amount, Account("wallet", 0))

    @workflow.signal
    def close(self) -> None:
        self.done = True

    @workflow.run
    async def run(self, ctx: workflow.Context) -> str:
        await ctx.wait_condition(lambda: self.done)
        return "closed"


async def test_failure_exception_types_fail_an_update_not_the_workflow(client: Client, task_queue: str) -> None:
    async with running_worker(client, task_queue, workflows=[Wallet]):
        handle = await client.start_workflow(Wallet.run, id=new_id(), task_queue=task_queue)
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update(Wallet.spend, 4)
        cause = info.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "InsufficientFunds"
        await handle.signal(Wallet.close)
        assert await handle.result(timeout=60) == "closed"
    assert "WorkflowTaskFailed" not in await history_types(handle)
