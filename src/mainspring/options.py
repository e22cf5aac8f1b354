"""Options for activities, as frozen dataclasses with ``timedelta`` durations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .api.fields import seconds_problem as _seconds_problem

__all__ = ["ActivityOptions", "RetryPolicy"]


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
    """How one activity call is run. At least one of the two "to close" timeouts is required."""

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
