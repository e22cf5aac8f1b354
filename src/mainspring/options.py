"""Options for activities and workflow starts: each set declared once.

``RetryPolicy`` and ``ActivityOptions`` are frozen dataclasses with ``timedelta`` durations. The keyword
options of ``ctx.execute_activity`` and of ``Client.start_workflow`` / ``execute_workflow`` are the
``TypedDict``\\s ``ExecuteActivityOptions`` and ``StartWorkflowOptions``: each method's overloads take them
as ``**options: Unpack[...]`` (so they differ only in the shape of what is called), and the checks made
when the call runs are read from the same declaration. A new option is one field here (plus, for an
activity option, the same field on ``ActivityOptions``: a test checks the two agree).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NotRequired, Required, TypedDict, Union, get_args, get_origin, get_type_hints

from .api import enums as _enums
from .api.fields import seconds_problem as _seconds_problem
from .api.names import check_id as _check_id
from .common import TypedSearchAttributes as _TypedSearchAttributes

__all__ = [
    "ActivityOptions",
    "ExecuteActivityOptions",
    "ExecuteLocalActivityOptions",
    "RetryPolicy",
    "StartWorkflowOptions",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed activity attempt is retried.

    The wait before attempt ``n + 1`` is ``initial_interval * backoff_coefficient ** (n - 1)``,
    capped at ``maximum_interval``.
    """

    #: Wait before the first retry.
    initial_interval: timedelta = timedelta(seconds=1)
    #: Each retry waits this many times longer than the previous one.
    backoff_coefficient: float = 2.0
    #: Longest wait between attempts; None means 100 x ``initial_interval``.
    maximum_interval: timedelta | None = None
    #: Total attempts allowed, the first included; 0 means unlimited.
    maximum_attempts: int = 0
    #: Error types (``ApplicationError.type``, or the exception class name) that are never retried.
    non_retryable_error_types: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for what, value in (("initial_interval", self.initial_interval), ("maximum_interval", self.maximum_interval)):
            if value is not None:
                problem = _seconds_problem(f"RetryPolicy.{what}", value.total_seconds(), positive=True)
                if problem:
                    raise ValueError(problem)
        if not 1 <= self.backoff_coefficient <= 100:  # also False for NaN
            raise ValueError(f"RetryPolicy.backoff_coefficient must be 1 to 100, got {self.backoff_coefficient!r}")
        if self.maximum_interval is not None and self.maximum_interval < self.initial_interval:
            raise ValueError("RetryPolicy.maximum_interval must not be shorter than initial_interval")
        if self.maximum_attempts < 0:
            raise ValueError("RetryPolicy.maximum_attempts must be 0 (unlimited) or more")

    def to_json(self) -> dict[str, Any]:
        """The policy as the server's API takes it (durations in seconds)."""
        return {
            "initial_interval": self.initial_interval.total_seconds(),
            "backoff_coefficient": self.backoff_coefficient,
            "maximum_interval": self.maximum_interval.total_seconds() if self.maximum_interval else None,
            "maximum_attempts": self.maximum_attempts,
            "non_retryable_error_types": list(self.non_retryable_error_types),
        }


@dataclass(frozen=True)
class ActivityOptions:
    """How one activity call is run. At least one of the two "to close" timeouts is required.

    Every field is also a keyword option of ``ctx.execute_activity`` (``ExecuteActivityOptions``), which
    overrides the value given here. A value is checked when the options are made.
    """

    #: Activity id, unique among the workflow's pending activities; defaults to a sequence number.
    activity_id: str | None = None
    #: Task queue to run it on; defaults to the workflow's.
    task_queue: str | None = None
    #: Limit on the whole activity, all attempts and waits included. Not retried when it fires.
    schedule_to_close_timeout: timedelta | None = None
    #: Limit on one attempt; when it fires the attempt is retried per ``retry_policy``.
    start_to_close_timeout: timedelta | None = None
    #: Limit on how long an attempt waits in the queue for a worker. Not retried when it fires.
    schedule_to_start_timeout: timedelta | None = None
    #: The attempt fails (and is retried) if it does not heartbeat at least this often.
    heartbeat_timeout: timedelta | None = None
    #: Retry policy; None means the default (unlimited attempts, 1 s doubling to 100 s).
    retry_policy: RetryPolicy | None = None

    def __post_init__(self) -> None:
        _check_activity_options(vars(self), name_prefix="ActivityOptions.")

    def to_json(self) -> dict[str, Any]:
        """The options as the server's schedule-activity command takes them (durations in seconds)."""
        return {name: _wire(value) for name, value in vars(self).items()}


class ExecuteActivityOptions(TypedDict, total=False):
    """The keyword options of ``ctx.execute_activity``: those of ``ActivityOptions``, and ``options``.

    A keyword overrides the same field of ``options``; None (or leaving it out) means "not set here".
    Bundle shared options as one of these (``ctx.execute_activity(fn, arg, **shared)``) or as an
    ``ActivityOptions``.
    """

    activity_id: str | None
    task_queue: str | None
    schedule_to_close_timeout: timedelta | None
    start_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    heartbeat_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    #: Defaults for the keywords above.
    options: ActivityOptions | None


class StartWorkflowOptions(TypedDict, total=False):
    """The keyword options of ``Client.start_workflow`` and ``Client.execute_workflow``."""

    #: The workflow id: unique among the namespace's running workflows.
    id: Required[str]
    #: The task queue its workers poll.
    task_queue: Required[str]
    #: Makes the start idempotent: a start repeated with the same request id gets the run the first one
    #: started. None means a fresh one (the client's own retries of this call reuse it).
    request_id: str | None
    #: Signal-with-start: the name of a signal to send with the start. If a run of the workflow id is
    #: running, the signal is recorded on it and nothing is started (the handle is to that run); if none
    #: is, a run is started with the signal recorded in the same write, so its handler runs (on the
    #: class's instance) before ``run`` does.
    start_signal: str | None
    #: The payload of ``start_signal``: empty for a handler that takes none, or one value (a handler
    #: takes at most one payload: bundle several in a dataclass).
    start_signal_args: Sequence[Any]
    # --- the workflow's lifetime ---
    #: How long the whole workflow may take, across its retries and continue-as-new runs: then the open run
    #: closes as TIMED_OUT. None: no limit.
    execution_timeout: timedelta | None
    #: How long one run may take: then it closes as TIMED_OUT (and is retried if ``retry_policy`` says so).
    run_timeout: timedelta | None
    #: Retry the workflow: a run that fails (or times out by ``run_timeout``) is followed, after the policy's
    #: backoff, by a new run of the same id and input (``ctx.info.attempt`` counts them). None: no retries.
    retry_policy: RetryPolicy | None
    # --- the id policies, a start delay, a memo, the task timeout (_start_options) ---
    #: May a new run start when the workflow id's last run has closed (default ALLOW_DUPLICATE)?
    id_reuse_policy: _enums.WorkflowIDReusePolicy | None
    #: What to do when a run of the workflow id is running: FAIL (``AlreadyStartedError``, the default),
    #: USE_EXISTING (the handle is to that run), TERMINATE_EXISTING (terminate it and start a new one).
    id_conflict_policy: _enums.WorkflowIDConflictPolicy | None
    #: Create the run now, but dispatch its first workflow task only after this long.
    start_delay: timedelta | None
    #: Information about the run (JSON values, or what the converter encodes), shown by ``describe``.
    memo: Mapping[str, Any] | None
    #: How long a worker has to complete each workflow task of the run (1 to 120 s; default the server's, 10 s).
    task_timeout: timedelta | None
    #: Temporal's older cron workflows: a cron expression (UTC). The first run waits for its first time, and each
    #: run that completes, fails or times out is followed by a new run of the same id at the next time. For new
    #: code, prefer a schedule (``client.create_schedule``).
    cron_schedule: str | None
    #: The run's custom search attributes (``mainspring.common.TypedSearchAttributes``, or a mapping of name to
    #: value), each registered in the namespace (``mainspring operator search-attribute create``): list filters
    #: (``list_workflows(query=...)``) select runs by them. The server refuses one unknown or of another type.
    search_attributes: _TypedSearchAttributes | Mapping[str, Any] | None


# --- checks made when a call runs, read from the declarations above ---------------------------------------


class _Keywords:
    """The keyword options a call takes, read once from its TypedDict: the classes each value may be an
    instance of, and which must be given. Checking a call is then a dictionary lookup and an
    ``isinstance`` per option given (it runs on every activity a workflow schedules)."""

    def __init__(self, call: str, spec: Any) -> None:
        self.call = call
        self.types: dict[str, tuple[type, ...]] = {}
        self.required: list[str] = []
        # include_extras keeps Required[...]: TypedDict's own __required_keys__ is wrong on 3.11 for
        # annotations that are strings (this module's, under `from __future__ import annotations`).
        for name, hint in get_type_hints(spec, include_extras=True).items():
            if get_origin(hint) in (Required, NotRequired):
                if get_origin(hint) is Required:
                    self.required.append(name)
                hint = get_args(hint)[0]
            classes = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
            # A generic (Sequence[Any]) is checked as its class: what it holds is the call's to check.
            classes = tuple(get_origin(c) or c for c in classes)
            if not all(isinstance(c, type) for c in classes):
                raise TypeError(f"{spec.__name__}.{name}: only classes and unions of classes can be checked")
            self.types[name] = classes

    def check(self, given: Mapping[str, object], *, name_prefix: str = "", message_prefix: str = "") -> None:
        """TypeError, naming the option, for an unknown or missing one or a value of the wrong type."""
        for name, value in given.items():
            classes = self.types.get(name)
            if classes is None:
                close = difflib.get_close_matches(name, self.types, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TypeError(
                    f"{self.call}() got an unexpected keyword argument {name!r}{hint} "
                    f"(its options: {', '.join(self.types)})"
                )
            if not isinstance(value, classes):
                raise TypeError(
                    f"{message_prefix}{name_prefix}{name} must be {_describe(classes)}, "
                    f"got {type(value).__name__} {value!r}"
                )
        for name in self.required:
            if name not in given:
                raise TypeError(f"{self.call}() missing required keyword argument {name!r}")


def _describe(classes: tuple[type, ...]) -> str:
    named = [c for c in classes if c is not type(None)]
    text = " or ".join(f"{'an' if c.__name__[0] in 'AEIOU' else 'a'} {c.__name__}" for c in named)
    if timedelta in named:
        text += " (for example timedelta(seconds=5))"
    return text + (" or None" if len(named) < len(classes) else "")


def _wire(value: object) -> object:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, RetryPolicy):
        return value.to_json()
    return value


_EXECUTE_ACTIVITY_KEYWORDS = _Keywords("execute_activity", ExecuteActivityOptions)
_START_WORKFLOW_KEYWORDS = _Keywords("start_workflow", StartWorkflowOptions)


def _check_activity_options(given: Mapping[str, object], *, name_prefix: str = "", message_prefix: str = "") -> None:
    """Check activity options (keywords of ``execute_activity`` or fields of ``ActivityOptions``) as the
    server would: TypeError for an unknown option or a value of the wrong type, ValueError for a duration
    or an id it would refuse. Each message names the option."""
    _EXECUTE_ACTIVITY_KEYWORDS.check(given, name_prefix=name_prefix, message_prefix=message_prefix)
    for name, value in given.items():
        problem = None
        if isinstance(value, timedelta):
            problem = _seconds_problem(name_prefix + name, value.total_seconds(), positive=True)
        elif isinstance(value, str):  # the string options are ids: the activity id and the task queue
            problem = _check_id(name_prefix + name, value)
        if problem:
            raise ValueError(message_prefix + problem)


# --- local activities -------------------------------------------------------------------------------------


class ExecuteLocalActivityOptions(TypedDict, total=False):
    """The keyword options of ``ctx.execute_local_activity``. At least one of the two timeouts is required.

    A local activity runs in the workflow's own worker, within the workflow task: no task queue, no
    heartbeats, no schedule-to-start.
    """

    #: Limit on the whole local activity, all attempts and the waits between them included.
    schedule_to_close_timeout: timedelta | None
    #: Limit on one attempt; when it fires the attempt is retried per ``retry_policy``.
    start_to_close_timeout: timedelta | None
    #: How failed attempts are retried (by the worker, with backoff); None: ``RetryPolicy()``'s defaults.
    retry_policy: RetryPolicy | None


_EXECUTE_LOCAL_ACTIVITY_KEYWORDS = _Keywords("execute_local_activity", ExecuteLocalActivityOptions)


def _local_activity_options(given: Mapping[str, object], *, message_prefix: str = "") -> dict[str, Any]:
    """The options of a local activity, checked (TypeError or ValueError naming the option), in wire form."""
    _EXECUTE_LOCAL_ACTIVITY_KEYWORDS.check(given, message_prefix=message_prefix)
    out: dict[str, Any] = dict.fromkeys(_EXECUTE_LOCAL_ACTIVITY_KEYWORDS.types)
    for name, value in given.items():
        if isinstance(value, timedelta):
            problem = _seconds_problem(name, value.total_seconds(), positive=True)
            if problem:
                raise ValueError(message_prefix + problem)
        out[name] = _wire(value) if value is not None else None
    if out["schedule_to_close_timeout"] is None and out["start_to_close_timeout"] is None:
        raise ValueError(
            message_prefix + "set schedule_to_close_timeout or start_to_close_timeout "
            "(how long it may take, retries included or per attempt)"
        )
    return out
