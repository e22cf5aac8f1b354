"""Activities: retries with backoff, non-retryable errors, every timeout kind, heartbeats (from a coroutine
and from a thread), how a failure reaches the workflow and the client, and input validation.

They run on the time-skipping environment (``mainspring_client``: an in-process server whose clock jumps to
its next timer when nothing is under way), with a worker in the test's event loop (``running_worker``), so the
activities below can record each attempt (its number, when the server handed it out, what it saw) in
module-level dicts the tests read back. Retry backoffs wait on the server's timers, so they are minutes and
hours long and take no real time; the spacing between attempts is measured on the server's clock. Activity
code runs in real time (the clock does not skip while an attempt runs), so the timeouts that end a running
attempt (start-to-close, heartbeat, a schedule-to-close that fires during one) are fractions of a second.
The one test of a server process's shutdown runs against a real process (the ``server`` fixture).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from inprocess import clock_held, events_of, eventually, history_types, running_worker
from mainspring import (
    ActivityError,
    ApplicationError,
    Client,
    InvalidArgumentError,
    RetryPolicy,
    TimeoutError,
    WorkflowDescription,
    WorkflowFailureError,
    WorkflowStatus,
    activity,
    workflow,
)
from support import ServerProcess

#: Spacing is measured on the server's clock, from event times written to the microsecond.
CLOCK_SLACK = 0.001
#: On the skipped clock an attempt starts when its backoff ends, plus the moments of real time the retry takes:
#: a gap longer than its backoff by more than this (seconds) is a wrong backoff.
SKIPPED_SLACK = 30.0
MINUTE = 60.0
HOUR = 3600.0


# ================================================================================================
# Activities
# ================================================================================================


@dataclass
class Behaviour:
    """What the test activity does on each attempt."""

    #: Where its attempts are recorded (unique per test).
    key: str
    #: Attempts 1..fail_attempts raise ``error``.
    fail_attempts: int = 0
    #: "app": a retryable ApplicationError(type="Flaky", with details); "fatal": the same, non-retryable;
    #: "value": a plain ValueError; "key": a plain KeyError.
    error: str = "app"
    #: Attempts 1..slow_attempts heartbeat ``beats`` times (details 1..beats), then go silent for ``sleep`` s.
    slow_attempts: int = 0
    beats: int = 0
    sleep: float = 0.0
    #: The attempt that succeeds heartbeats every 50 ms for this long first (to show heartbeats keep it alive).
    keep_beating: float = 0.0
    #: The attempt that succeeds waits until the test opens GATES[key].
    gated: bool = False


@dataclass
class Attempt:
    attempt: int
    at: float
    heartbeat_details: Any
    thread: str


ATTEMPTS: dict[str, list[Attempt]] = {}
GATES: dict[str, threading.Event] = {}


def _begin(b: Behaviour) -> int:
    info = activity.info()
    # When the server handed the attempt out, on its clock (the skipped one, in the environment).
    at = info.started_time.timestamp()
    ATTEMPTS.setdefault(b.key, []).append(
        Attempt(info.attempt, at, info.heartbeat_details, threading.current_thread().name)
    )
    n = info.attempt
    if n <= b.fail_attempts:
        if b.error == "app":
            raise ApplicationError(f"flaky failure on attempt {n}", {"attempt": n}, "more", type="Flaky")
        if b.error == "fatal":
            raise ApplicationError(f"fatal failure on attempt {n}", {"attempt": n}, type="Fatal", non_retryable=True)
        if b.error == "value":
            raise ValueError(f"bad value on attempt {n}")
        if b.error == "key":
            raise KeyError(f"missing-{n}")
        raise AssertionError(f"unknown error kind {b.error!r}")
    return n


@activity.defn
async def work(b: Behaviour) -> str:
    n = _begin(b)
    if n <= b.slow_attempts:
        for i in range(1, b.beats + 1):
            activity.heartbeat(i)
            await asyncio.sleep(0.05)
        await asyncio.sleep(b.sleep)  # silent: no heartbeats
        return f"slow attempt {n} finished"
    deadline = time.monotonic() + b.keep_beating
    while time.monotonic() < deadline:
        activity.heartbeat("alive")
        await asyncio.sleep(0.05)
    if b.gated:
        gate = GATES[b.key]
        while not gate.is_set():
            await asyncio.sleep(0.02)
    return f"done on attempt {n}"


@activity.defn
def work_sync(b: Behaviour) -> str:
    """The same, as a plain ``def`` activity: it runs in the worker's thread pool."""
    n = _begin(b)
    if n <= b.slow_attempts:
        for i in range(1, b.beats + 1):
            activity.heartbeat(i)
            time.sleep(0.05)
        time.sleep(b.sleep)
        return f"slow attempt {n} finished"
    deadline = time.monotonic() + b.keep_beating
    while time.monotonic() < deadline:
        activity.heartbeat("alive")
        time.sleep(0.05)
    if b.gated:
        GATES[b.key].wait(10)
    return f"done on attempt {n}"


@dataclass
class Shape:
    name: str
    count: int


@activity.defn
async def typed_input(s: Shape) -> str:
    ATTEMPTS.setdefault(s.name, []).append(Attempt(activity.info().attempt, time.monotonic(), None, "loop"))
    return f"{s.name}={s.count}"


# ================================================================================================
# Workflows
# ================================================================================================


@dataclass
class Retry:
    #: A minute: the backoff waits on a server timer, which the environment skips.
    initial: float = MINUTE
    coefficient: float = 2.0
    maximum_interval: float | None = None
    maximum_attempts: int = 0
    non_retryable: list[str] = field(default_factory=list)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self.initial),
            backoff_coefficient=self.coefficient,
            maximum_interval=timedelta(seconds=self.maximum_interval) if self.maximum_interval else None,
            maximum_attempts=self.maximum_attempts,
            non_retryable_error_types=self.non_retryable,
        )


@dataclass
class Call:
    behaviour: Behaviour
    #: None: no retry policy given, so the defaults apply.
    retry: Retry | None = field(default_factory=Retry)
    threaded: bool = False
    schedule_to_close: float | None = None
    start_to_close: float | None = 5.0
    schedule_to_start: float | None = None
    heartbeat: float | None = None
    task_queue: str | None = None
    #: Catch the ActivityError and report what the workflow saw, instead of letting it fail the workflow.
    catch: bool = True


@dataclass
class Outcome:
    result: str | None = None
    #: What the workflow saw of the ActivityError it caught.
    error: dict[str, Any] | None = None


def _td(seconds: float | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None


def summarize(e: ActivityError) -> dict[str, Any]:
    cause = e.cause
    out: dict[str, Any] = {
        "message": e.message,
        "activity_type": e.activity_type,
        "attempt": e.attempt,
        "retry_state": e.retry_state,
        "cause_class": type(cause).__name__,
        "cause_message": cause.message if cause else None,
    }
    if isinstance(cause, ApplicationError):
        out.update(cause_type=cause.type, details=list(cause.details), non_retryable=cause.non_retryable)
    if isinstance(cause, TimeoutError):
        out.update(timeout_type=cause.timeout_type, last_heartbeat_details=cause.last_heartbeat_details)
        inner = cause.cause
        if inner is not None:
            out["inner_cause_class"] = type(inner).__name__
            if isinstance(inner, TimeoutError):
                out["inner_timeout_type"] = inner.timeout_type
    return out


@workflow.defn
async def call_activity(ctx: workflow.Context, call: Call) -> Outcome:
    options: dict[str, Any] = {
        "retry_policy": call.retry.policy() if call.retry is not None else None,
        "schedule_to_close_timeout": _td(call.schedule_to_close),
        "start_to_close_timeout": _td(call.start_to_close),
        "schedule_to_start_timeout": _td(call.schedule_to_start),
        "heartbeat_timeout": _td(call.heartbeat),
        "task_queue": call.task_queue,
    }
    try:
        if call.threaded:
            result = await ctx.execute_activity(work_sync, call.behaviour, **options)
        else:
            result = await ctx.execute_activity(work, call.behaviour, **options)
    except ActivityError as e:
        if not call.catch:
            raise
        return Outcome(error=summarize(e))
    return Outcome(result=result)


@workflow.defn
async def catch_and_continue(ctx: workflow.Context, key: str) -> list[str]:
    steps: list[str] = []
    try:
        await ctx.execute_activity(
            work,
            Behaviour(key=key, fail_attempts=1, error="fatal"),
            start_to_close_timeout=timedelta(seconds=5),
        )
        steps.append("unexpected success")
    except ActivityError as e:
        assert isinstance(e.cause, ApplicationError)
        steps.append(f"caught {e.cause.type}: {e.cause.message}")
    steps.append(
        await ctx.execute_activity(work, Behaviour(key=key + "-2"), start_to_close_timeout=timedelta(seconds=5))
    )
    return steps


@workflow.defn
async def bad_activity_input(ctx: workflow.Context, key: str) -> Outcome:
    try:
        # Called by name, so nothing checks the input's shape before the worker does: `count` is missing.
        await ctx.execute_activity(
            "typed_input",
            {"name": key},
            result_type=str,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
        )
    except ActivityError as e:
        return Outcome(error=summarize(e))
    return Outcome(result="unexpected success")


WORKFLOWS = [call_activity, catch_and_continue, bad_activity_input]
ACTIVITIES = [work, work_sync, typed_input]


# ================================================================================================
# Helpers
# ================================================================================================


def new_key() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


async def run_call(client: Client, task_queue: str, call: Call, **worker_options: Any) -> Outcome:
    async with running_worker(client, task_queue, workflows=WORKFLOWS, activities=ACTIVITIES, **worker_options):
        return await client.execute_workflow(call_activity, call, id=call.behaviour.key, task_queue=task_queue)


def attempts(key: str) -> list[int]:
    return [a.attempt for a in ATTEMPTS.get(key, [])]


def gaps(key: str) -> list[float]:
    times = [a.at for a in ATTEMPTS[key]]
    return [b - a for a, b in itertools.pairwise(times)]


def assert_spacing_at_least(key: str, minimums: list[float], *, skipped: bool = False) -> None:
    """The attempts of ``key`` started at least ``minimums`` apart (server clock); ``skipped``: and at most
    ``SKIPPED_SLACK`` more, as the skipped clock jumps right to the end of each backoff."""
    actual = gaps(key)
    assert len(actual) == len(minimums), actual
    for i, (gap, least) in enumerate(zip(actual, minimums, strict=True)):
        assert gap >= least - CLOCK_SLACK, f"attempt {i + 2} started {gap:.3f}s after attempt {i + 1}, backoff {least}s"
        if skipped:
            assert gap <= least + SKIPPED_SLACK, (
                f"attempt {i + 2} started {gap:.3f}s after attempt {i + 1}, backoff {least}s"
            )


def pending_activity(desc: WorkflowDescription) -> dict[str, Any] | None:
    return desc.pending_activities[0] if desc.pending_activities else None


# ================================================================================================
# Retries
# ================================================================================================


async def test_retries_with_exponential_backoff_until_success(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    out = await run_call(
        client, task_queue, Call(Behaviour(key, fail_attempts=3), retry=Retry(initial=HOUR, coefficient=2.0))
    )
    assert out == Outcome(result="done on attempt 4")
    assert attempts(key) == [1, 2, 3, 4]
    # The wait before attempt n+1 is initial * coefficient ** (n-1): 1, 2 and 4 hours.
    assert_spacing_at_least(key, [HOUR, 2 * HOUR, 4 * HOUR], skipped=True)
    # The failures of the retried attempts are not events; the successful attempt is, with its number.
    handle = client.get_workflow_handle(key)
    started = await events_of(handle, "ActivityTaskStarted")
    assert [e["attributes"]["attempt"] for e in started] == [4]
    assert started[0]["attributes"]["last_failure"]["type"] == "Flaky"
    assert await events_of(handle, "ActivityTaskFailed") == []


async def test_backoff_is_capped_by_maximum_interval(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    retry = Retry(initial=MINUTE, coefficient=4.0, maximum_interval=10 * MINUTE)
    out = await run_call(client, task_queue, Call(Behaviour(key, fail_attempts=3), retry=retry))
    assert out.result == "done on attempt 4"
    # 1 minute, 4 minutes, then 16 capped to 10.
    assert_spacing_at_least(key, [MINUTE, 4 * MINUTE, 10 * MINUTE], skipped=True)
    scheduled = await events_of(client.get_workflow_handle(key), "ActivityTaskScheduled")
    assert scheduled[0]["attributes"]["retry_policy"] == {
        "initial_interval": 60.0,
        "backoff_coefficient": 4.0,
        "maximum_interval": 600.0,
        "maximum_attempts": 0,
        "non_retryable_error_types": [],
    }


async def test_maximum_attempts_then_activity_error_with_cause(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    out = await run_call(client, task_queue, Call(Behaviour(key, fail_attempts=99), retry=Retry(maximum_attempts=3)))
    assert attempts(key) == [1, 2, 3]
    assert out.result is None and out.error is not None
    err = out.error
    assert err["activity_type"] == "work"
    assert err["attempt"] == 3
    assert err["retry_state"] == "MAXIMUM_ATTEMPTS_REACHED"
    assert err["cause_class"] == "ApplicationError"
    assert err["cause_type"] == "Flaky"
    assert err["cause_message"] == "flaky failure on attempt 3"
    assert err["details"] == [{"attempt": 3}, "more"]
    assert err["non_retryable"] is False
    assert "flaky failure on attempt 3" in err["message"]
    failed = await events_of(client.get_workflow_handle(key), "ActivityTaskFailed")
    assert len(failed) == 1
    assert failed[0]["attributes"]["attempt"] == 3
    assert failed[0]["attributes"]["retry_state"] == "MAXIMUM_ATTEMPTS_REACHED"


def test_retry_policy_defaults() -> None:
    p = RetryPolicy()
    assert p.initial_interval == timedelta(seconds=1)
    assert p.backoff_coefficient == 2.0
    assert p.maximum_interval is None  # meaning 100 x initial_interval
    assert p.maximum_attempts == 0  # unlimited
    assert list(p.non_retryable_error_types) == []
    with pytest.raises(ValueError, match="initial_interval"):
        RetryPolicy(initial_interval=timedelta(0))
    with pytest.raises(ValueError, match="backoff_coefficient"):
        RetryPolicy(backoff_coefficient=0.5)
    with pytest.raises(ValueError, match="maximum_interval"):
        RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(seconds=1))
    with pytest.raises(ValueError, match="maximum_attempts"):
        RetryPolicy(maximum_attempts=-1)


async def test_default_retry_policy_applies_when_none_is_given(mainspring_client: Client, task_queue: str) -> None:
    """No retry policy: unlimited attempts, 1 s initial interval doubling (skipped: no real seconds)."""
    client = mainspring_client
    key = new_key()
    out = await run_call(client, task_queue, Call(Behaviour(key, fail_attempts=2), retry=None))
    assert out.result == "done on attempt 3"
    assert_spacing_at_least(key, [1.0, 2.0], skipped=True)
    scheduled = await events_of(client.get_workflow_handle(key), "ActivityTaskScheduled")
    policy = scheduled[0]["attributes"]["retry_policy"]
    assert policy["initial_interval"] == 1.0
    assert policy["backoff_coefficient"] == 2.0
    assert policy["maximum_attempts"] == 0
    assert policy["non_retryable_error_types"] == []
    assert policy["maximum_interval"] in (None, 100.0)


async def test_backoff_is_visible_in_describe(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    call = Call(Behaviour(key, fail_attempts=1), retry=Retry(initial=2 * HOUR))
    async with running_worker(client, task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        async with clock_held(client):  # the backoff stays pending while describe is looked at
            handle = await client.start_workflow(call_activity, call, id=key, task_queue=task_queue)

            async def in_backoff() -> dict[str, Any] | None:
                act = pending_activity(await handle.describe())
                return act if act is not None and act["state"] == "BACKOFF" else None

            act = await eventually(in_backoff, what="the activity to wait for its retry")
            assert act["attempt"] == 2
            assert act["last_failure"]["type"] == "Flaky"
            assert act["last_failure"]["message"] == "flaky failure on attempt 1"
            next_attempt = datetime.fromisoformat(act["next_attempt_time"]).timestamp()
            assert next_attempt - ATTEMPTS[key][0].at >= 2 * HOUR
        assert (await handle.result()).result == "done on attempt 2"
    assert_spacing_at_least(key, [2 * HOUR], skipped=True)


# ================================================================================================
# Non-retryable errors
# ================================================================================================


async def test_non_retryable_application_error_is_not_retried(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    out = await run_call(client, task_queue, Call(Behaviour(key, fail_attempts=99, error="fatal")))
    assert attempts(key) == [1]
    assert out.error is not None
    assert out.error["retry_state"] == "NON_RETRYABLE_FAILURE"
    assert out.error["attempt"] == 1
    assert out.error["cause_type"] == "Fatal"
    assert out.error["non_retryable"] is True
    assert out.error["details"] == [{"attempt": 1}]


async def test_non_retryable_error_types_by_application_type(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    call = Call(Behaviour(key, fail_attempts=99, error="app"), retry=Retry(non_retryable=["Other", "Flaky"]))
    out = await run_call(client, task_queue, call)
    assert attempts(key) == [1]
    assert out.error is not None
    assert out.error["retry_state"] == "NON_RETRYABLE_FAILURE"
    assert out.error["cause_type"] == "Flaky"


async def test_non_retryable_error_types_by_python_class_name(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    call = Call(Behaviour(key, fail_attempts=99, error="value"), retry=Retry(non_retryable=["ValueError"]))
    out = await run_call(client, task_queue, call)
    assert attempts(key) == [1]
    assert out.error is not None
    assert out.error["retry_state"] == "NON_RETRYABLE_FAILURE"
    assert out.error["cause_type"] == "ValueError"


async def test_plain_python_exception_is_retried_with_class_name_as_type(
    mainspring_client: Client, task_queue: str
) -> None:
    client = mainspring_client
    key = new_key()
    out = await run_call(
        client, task_queue, Call(Behaviour(key, fail_attempts=99, error="key"), retry=Retry(maximum_attempts=2))
    )
    assert attempts(key) == [1, 2]
    assert out.error is not None
    assert out.error["cause_class"] == "ApplicationError"
    assert out.error["cause_type"] == "KeyError"
    assert "missing-2" in out.error["cause_message"]
    assert out.error["attempt"] == 2
    assert out.error["non_retryable"] is False


async def test_plain_exception_then_success(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    out = await run_call(client, task_queue, Call(Behaviour(key, fail_attempts=2, error="value")))
    assert out.result == "done on attempt 3"
    assert attempts(key) == [1, 2, 3]


# ================================================================================================
# How the failure reaches the workflow and the client
# ================================================================================================


async def test_uncaught_activity_error_fails_the_workflow_with_the_cause_chain(
    mainspring_client: Client, task_queue: str
) -> None:
    client = mainspring_client
    key = new_key()
    call = Call(Behaviour(key, fail_attempts=99, error="app"), retry=Retry(maximum_attempts=2), catch=False)
    async with running_worker(client, task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(call_activity, call, id=key, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    err = info.value
    assert err.status == "FAILED"
    assert isinstance(err.cause, ActivityError)
    assert err.cause.activity_type == "work"
    assert err.cause.attempt == 2
    assert err.cause.retry_state == "MAXIMUM_ATTEMPTS_REACHED"
    inner = err.cause.cause
    assert isinstance(inner, ApplicationError)
    assert inner.type == "Flaky"
    assert inner.message == "flaky failure on attempt 2"
    assert inner.details == ({"attempt": 2}, "more")
    assert inner.stack and "flaky failure on attempt 2" in inner.stack  # the activity's traceback
    desc = await handle.describe()
    assert desc.status is WorkflowStatus.FAILED
    assert desc.failure is not None and desc.failure["type"] == "ActivityError"
    assert desc.failure["cause"]["type"] == "Flaky"
    types = [e["event_type"] for e in await handle.fetch_history()]
    assert types[-1] == "WorkflowExecutionFailed"


@pytest.mark.parametrize("cache", [1000, 0], ids=["cached", "replaying"])
async def test_workflow_catches_activity_error_and_continues(
    mainspring_client: Client, task_queue: str, cache: int
) -> None:
    client = mainspring_client
    key = new_key()
    async with running_worker(
        client, task_queue, workflows=WORKFLOWS, activities=ACTIVITIES, max_cached_workflows=cache
    ):
        steps = await client.execute_workflow(catch_and_continue, key, id=key, task_queue=task_queue)
    assert steps == ["caught Fatal: fatal failure on attempt 1", "done on attempt 1"]
    assert (await client.get_workflow_handle(key).describe()).status is WorkflowStatus.COMPLETED


# ================================================================================================
# Timeouts
# ================================================================================================


@pytest.mark.parametrize("threaded", [False, True], ids=["async", "thread"])
async def test_start_to_close_timeout_is_retried(mainspring_client: Client, task_queue: str, threaded: bool) -> None:
    client = mainspring_client
    key = new_key()
    call = Call(Behaviour(key, slow_attempts=1, sleep=1.5), start_to_close=0.3, threaded=threaded)
    out = await run_call(client, task_queue, call, graceful_shutdown_timeout=timedelta(seconds=2))
    assert out.result == "done on attempt 2"
    assert attempts(key) == [1, 2]
    # (No spacing asserted: the timeout runs from when the server handed the task out, which is
    # earlier than the attempt could record its own start.)
    started = await events_of(client.get_workflow_handle(key), "ActivityTaskStarted")
    assert started[0]["attributes"]["attempt"] == 2
    assert started[0]["attributes"]["last_failure"]["timeout_type"] == "START_TO_CLOSE"


async def test_start_to_close_timeout_exhausts_attempts(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    call = Call(Behaviour(key, slow_attempts=99, sleep=1.0), start_to_close=0.3, retry=Retry(maximum_attempts=2))
    out = await run_call(client, task_queue, call, graceful_shutdown_timeout=timedelta(seconds=2))
    assert attempts(key) == [1, 2]
    assert out.error is not None
    assert out.error["cause_class"] == "TimeoutError"
    assert out.error["timeout_type"] == "START_TO_CLOSE"
    assert out.error["attempt"] == 2
    assert out.error["retry_state"] == "MAXIMUM_ATTEMPTS_REACHED"
    timed_out = await events_of(client.get_workflow_handle(key), "ActivityTaskTimedOut")
    assert len(timed_out) == 1
    assert timed_out[0]["attributes"]["failure"]["timeout_type"] == "START_TO_CLOSE"


async def test_schedule_to_close_timeout_fires_across_attempts(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    # Attempt 1 times out at 0.6 s (start-to-close), attempt 2 starts at ~0.65 s, and the whole activity's
    # 1 s budget runs out in its middle (it would time out itself at ~1.25 s). (Real time: the attempts run,
    # and the backoff is short so that the budget runs out during an attempt, not before a retry; the
    # margins of 0.25-0.35 s either side are for a loaded machine: with 0.4 s attempts, attempt 2's own
    # timeout once came first, under load.)
    call = Call(
        Behaviour(key, slow_attempts=99, sleep=1.5),
        retry=Retry(initial=0.05),
        start_to_close=0.6,
        schedule_to_close=1.0,
    )
    out = await run_call(client, task_queue, call, graceful_shutdown_timeout=timedelta(seconds=2))
    assert out.error is not None
    assert out.error["cause_class"] == "TimeoutError"
    assert out.error["timeout_type"] == "SCHEDULE_TO_CLOSE"
    assert out.error["attempt"] >= 2
    assert attempts(key)[:2] == [1, 2]
    # Not retried after it fired, and its cause is the failure of the attempt before.
    assert max(attempts(key)) <= out.error["attempt"]
    assert out.error.get("inner_timeout_type") == "START_TO_CLOSE"


async def test_schedule_to_close_timeout_alone_is_not_retried(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    call = Call(Behaviour(key, slow_attempts=99, sleep=1.5), start_to_close=None, schedule_to_close=0.4)
    out = await run_call(client, task_queue, call, graceful_shutdown_timeout=timedelta(seconds=2))
    assert out.error is not None
    assert out.error["timeout_type"] == "SCHEDULE_TO_CLOSE"
    assert out.error["retry_state"] == "TIMEOUT"
    assert out.error["attempt"] == 1
    assert attempts(key) == [1]


async def test_schedule_to_start_timeout_when_no_worker_polls(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    call = Call(Behaviour(key), schedule_to_start=0.3, task_queue=f"{task_queue}-nobody-polls")
    out = await run_call(client, task_queue, call)
    assert attempts(key) == []  # never ran
    assert out.error is not None
    assert out.error["cause_class"] == "TimeoutError"
    assert out.error["timeout_type"] == "SCHEDULE_TO_START"
    assert out.error["attempt"] == 1
    timed_out = await events_of(client.get_workflow_handle(key), "ActivityTaskTimedOut")
    assert len(timed_out) == 1


async def test_an_activity_that_never_started_has_no_started_event(mainspring_client: Client, task_queue: str) -> None:
    """History must not claim an attempt started when it only waited in the queue."""
    client = mainspring_client
    key = new_key()
    call = Call(Behaviour(key), schedule_to_start=0.3, task_queue=f"{task_queue}-nobody-polls")
    out = await run_call(client, task_queue, call)
    assert out.error is not None and out.error["timeout_type"] == "SCHEDULE_TO_START"
    types = await history_types(client.get_workflow_handle(key))
    assert "ActivityTaskTimedOut" in types
    assert "ActivityTaskStarted" not in types


@pytest.mark.parametrize("threaded", [False, True], ids=["async", "thread"])
async def test_heartbeat_timeout_retries_with_last_details(
    mainspring_client: Client, task_queue: str, threaded: bool
) -> None:
    client = mainspring_client
    key = new_key()
    GATES[key] = threading.Event()
    # Attempt 1 heartbeats 1, 2, 3 and then goes silent: the heartbeat timeout fails it, and attempt 2
    # starts from the last details. It waits at the gate so the test can look at describe meanwhile.
    call = Call(
        Behaviour(key, slow_attempts=1, beats=3, sleep=1.5, gated=True),
        heartbeat=0.4,
        start_to_close=10,
        threaded=threaded,
    )
    try:
        async with running_worker(
            client,
            task_queue,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            graceful_shutdown_timeout=timedelta(seconds=2),
        ):
            handle = await client.start_workflow(call_activity, call, id=key, task_queue=task_queue)

            async def second_attempt_running() -> dict[str, Any] | None:
                act = pending_activity(await handle.describe())
                ok = act is not None and act["attempt"] == 2 and act["state"] == "STARTED" and len(attempts(key)) == 2
                return act if ok else None

            act = await eventually(second_attempt_running, what="the second attempt to start")
            assert act["heartbeat_details"] == 3
            assert act["last_failure"]["timeout_type"] == "HEARTBEAT"
            assert act["last_failure"]["last_heartbeat_details"] == 3
            GATES[key].set()
            assert (await handle.result()).result == "done on attempt 2"
    finally:
        GATES.pop(key).set()
    recorded = ATTEMPTS[key]
    assert [a.attempt for a in recorded] == [1, 2]
    assert recorded[0].heartbeat_details is None
    assert recorded[1].heartbeat_details == 3
    if threaded:
        assert all(a.thread.startswith("mainspring-activity") for a in recorded)


@pytest.mark.parametrize("threaded", [False, True], ids=["async", "thread"])
async def test_heartbeat_timeout_without_retries_reaches_the_workflow(
    mainspring_client: Client, task_queue: str, threaded: bool
) -> None:
    client = mainspring_client
    key = new_key()
    call = Call(
        Behaviour(key, slow_attempts=99, beats=2, sleep=1.5),
        heartbeat=0.5,
        start_to_close=10,
        retry=Retry(maximum_attempts=1),
        threaded=threaded,
    )
    out = await run_call(client, task_queue, call, graceful_shutdown_timeout=timedelta(seconds=2))
    assert attempts(key) == [1]
    assert out.error is not None
    assert out.error["cause_class"] == "TimeoutError"
    assert out.error["timeout_type"] == "HEARTBEAT"
    assert out.error["last_heartbeat_details"] == 2
    assert out.error["retry_state"] == "MAXIMUM_ATTEMPTS_REACHED"


@pytest.mark.parametrize("threaded", [False, True], ids=["async", "thread"])
async def test_heartbeats_keep_a_long_activity_alive(
    mainspring_client: Client, task_queue: str, threaded: bool
) -> None:
    client = mainspring_client
    key = new_key()
    # Runs 1 s (real time: the clock does not skip while it runs), well past its 0.4 s heartbeat timeout,
    # but heartbeats all along.
    call = Call(Behaviour(key, keep_beating=1.0), heartbeat=0.4, start_to_close=10, threaded=threaded)
    out = await run_call(client, task_queue, call)
    assert out.result == "done on attempt 1"
    assert attempts(key) == [1]


async def test_threaded_activity_retries(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    out = await run_call(
        client, task_queue, Call(Behaviour(key, fail_attempts=2, error="value"), threaded=True, retry=Retry(HOUR))
    )
    assert out.result == "done on attempt 3"
    assert_spacing_at_least(key, [HOUR, 2 * HOUR], skipped=True)
    assert all(a.thread.startswith("mainspring-activity") for a in ATTEMPTS[key])


# ================================================================================================
# Input validation
# ================================================================================================


async def test_activity_input_of_the_wrong_shape_fails_without_retry(
    mainspring_client: Client, task_queue: str
) -> None:
    client = mainspring_client
    key = new_key()
    async with running_worker(client, task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        out = await client.execute_workflow(bad_activity_input, key, id=key, task_queue=task_queue)
    assert attempts(key) == []  # the activity function never ran
    assert out.error is not None
    assert out.error["retry_state"] == "NON_RETRYABLE_FAILURE"
    assert out.error["attempt"] == 1
    assert out.error["cause_type"] == "InvalidInput"
    assert out.error["non_retryable"] is True
    assert "typed_input" in out.error["cause_message"]
    assert "count" in out.error["cause_message"]


# ================================================================================================
# Workers coming and going
# ================================================================================================


async def test_server_stops_promptly_after_workers_with_activities_came_and_went(
    server: ServerProcess, client: Client, task_queue: str
) -> None:
    """The polls of a worker that left are answered, not dropped: else they hang until their 30 s wait
    ends, and keep the server from exiting on SIGTERM."""
    # A worker polls for activities, then stops: its polls are still registered on the queue.
    async with running_worker(client, task_queue, activities=ACTIVITIES):
        pass
    # Another worker runs an activity: handing it out walks past the stopped worker's polls.
    key = new_key()
    assert (await run_call(client, task_queue, Call(Behaviour(key)))).result == "done on attempt 1"
    # SIGTERM: every poll should be answered at once, so the server exits well before it is killed.
    returncode = server.stop(timeout=5)
    assert returncode is not None and returncode != -signal.SIGKILL, f"server had to be killed ({returncode})"


# ================================================================================================
# Details that are dataclasses
# ================================================================================================


@dataclass
class Progress:
    done: int
    note: str


HEARTBEAT_ERRORS: dict[str, str] = {}


@activity.defn
async def rich_details(b: Behaviour) -> str:
    n = _begin(b)
    if n == 1:
        activity.heartbeat(Progress(3, "three"))
        await asyncio.sleep(0.05)
        raise ApplicationError("rich failure", Progress(n, "failed"), type="Rich")
    try:
        activity.heartbeat(object())
    except InvalidArgumentError as e:
        HEARTBEAT_ERRORS[b.key] = str(e)
    return f"resumed from {activity.info().heartbeat_details}"


@workflow.defn
async def rich_workflow(ctx: workflow.Context, key: str) -> str:
    result = await ctx.execute_activity(
        rich_details,
        Behaviour(key),
        start_to_close_timeout=timedelta(seconds=5),
        retry_policy=RetryPolicy(initial_interval=timedelta(minutes=1)),
    )
    raise ApplicationError(f"workflow failure after {result}", Progress(9, "workflow"), type="RichWorkflow")


async def test_dataclass_details_of_heartbeats_and_failures(mainspring_client: Client, task_queue: str) -> None:
    client = mainspring_client
    key = new_key()
    async with running_worker(client, task_queue, workflows=[rich_workflow], activities=[rich_details]):
        handle = await client.start_workflow(rich_workflow, key, id=key, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result(timeout=15)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "RichWorkflow"
    assert cause.details == ({"done": 9, "note": "workflow"},)
    assert cause.message == "workflow failure after resumed from {'done': 3, 'note': 'three'}"
    assert attempts(key) == [1, 2]
    started = await events_of(handle, "ActivityTaskStarted")
    assert started[0]["attributes"]["last_failure"]["details"] == [{"done": 1, "note": "failed"}]
    # Details that cannot be converted to JSON are refused where heartbeat() is called.
    assert "cannot be sent" in HEARTBEAT_ERRORS[key]
