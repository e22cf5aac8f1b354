"""The start options sent with a start (``StartWorkflowOptions``'s id policies, start delay, memo and task
timeout; a workflow's lifetime: its timeouts and retry policy), checked before they are sent: a value the
server would refuse is a ``ValueError`` here, naming the option, instead of a round trip. A client's start and
a workflow's start of a child (``ChildWorkflowOptions``) send them alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from .api.fields import seconds_problem
from .api.names import MAX_MEMO_KEYS, MAX_TASK_TIMEOUT, MIN_TASK_TIMEOUT
from .converter import PayloadError, encode
from .errors import InvalidArgumentError
from .options import RetryPolicy

__all__ = ["lifetime_body", "start_options_body"]


def _seconds(name: str, value: timedelta, *, positive: bool = False) -> float:
    seconds = value.total_seconds()
    problem = seconds_problem(name, seconds, positive=positive)
    if problem:
        raise ValueError(problem)
    return seconds


def start_options_body(options: Mapping[str, Any]) -> dict[str, Any]:
    """The request fields for the options given (their types are checked already, see ``options._Keywords``)."""
    body: dict[str, Any] = {}
    for name in ("id_reuse_policy", "id_conflict_policy"):
        if options.get(name) is not None:
            body[name] = options[name].value
    delay = options.get("start_delay")
    if delay is not None:
        body["start_delay"] = _seconds("start_delay", delay)
    timeout = options.get("task_timeout")
    if timeout is not None:
        seconds = timeout.total_seconds()
        if not MIN_TASK_TIMEOUT <= seconds <= MAX_TASK_TIMEOUT:  # also False for NaN
            raise ValueError(
                f"task_timeout must be {MIN_TASK_TIMEOUT:g} to {MAX_TASK_TIMEOUT:g} seconds, got {timeout!r}"
            )
        body["task_timeout"] = seconds
    memo = options.get("memo")
    if memo is not None:
        body["memo"] = _memo(memo)
    cron = options.get("cron_schedule")
    if cron is not None:
        body["cron_schedule"] = cron
    return body


def lifetime_body(options: Mapping[str, Any]) -> dict[str, Any]:
    """The request fields for the lifetime options given: ``execution_timeout``, ``run_timeout`` (more than 0),
    ``retry_policy`` (its types are checked already)."""
    body: dict[str, Any] = {}
    for name in ("execution_timeout", "run_timeout"):
        value = options.get(name)
        if value is not None:
            body[name] = _seconds(name, value, positive=True)
    policy: RetryPolicy | None = options.get("retry_policy")
    if policy is not None:
        body["retry_policy"] = policy.to_json()
    return body


def _memo(memo: Mapping[str, Any]) -> dict[str, Any]:
    if len(memo) > MAX_MEMO_KEYS:
        raise ValueError(f"memo has {len(memo):,} keys; the most is {MAX_MEMO_KEYS:,}: bundle values under fewer keys")
    out: dict[str, Any] = {}
    for key, value in memo.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"memo keys must be non-empty strings, got {key!r}")
        try:
            out[key] = encode(value)
        except PayloadError as e:
            raise InvalidArgumentError(f"memo value {key!r} cannot be sent: {e}") from None
    return out
