"""Limits on one workflow run, like Temporal's but set per server (``--limit-*`` flags).

A run may have at most so many pending activities, and a history of at most so many events and so
many bytes (the JSON of its events' attributes, counted as they are appended: ``history_bytes`` in
the run's state). A workflow task whose commands would go past a limit is failed, with a cause and a
message that names the limit and how to raise it, and retried with the usual backoff. Nothing
already stored is lost: the run waits, and goes on once the server runs with a higher limit.

Temporal terminates a run whose history passes its limit. We fail the task instead: termination
cannot be undone, while a failed task costs nothing but time, lets an operator raise the limit (or
terminate the run, if that is what they want), and shows the reason on the run's pending workflow
task. A task that closes the workflow is never refused by the history limits (a run at its limit can
still finish), nor by the pending-activities limit (closing abandons them).

Before the history limits, past the warn thresholds, the workflow is told that continuing as new is
suggested: every WorkflowTaskStarted event the server hands out carries ``history_size_bytes`` and
``suggest_continue_as_new`` (as Temporal's do), so the workflow reads the same values when replayed
(``ctx.info.get_current_history_size()``, ``ctx.info.is_continue_as_new_suggested()``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..api import models as m
from ..api.enums import WorkflowTaskFailedCause
from ..errors import InvalidArgumentError
from ._config import ServerConfig

if TYPE_CHECKING:
    from ._execution import Execution
    from .features import CommandKinds

__all__ = ["LimitExceeded", "Limits"]

#: Events a workflow task's completion adds besides one per command: Scheduled (if transient),
#: Started, Completed.
_TASK_EVENTS = 3


@dataclass(frozen=True, slots=True)
class LimitExceeded:
    """A workflow task that would take its run past a limit."""

    cause: WorkflowTaskFailedCause
    message: str

    def failure(self) -> dict[str, Any]:
        """The failure recorded in WorkflowTaskFailed (retried: raising the limit lets it through)."""
        return {"message": self.message, "type": "LimitExceeded", "kind": "server", "non_retryable": False}

    def error(self) -> InvalidArgumentError:
        """What the worker that completed the task is answered."""
        return InvalidArgumentError(self.message, code="limit_exceeded", details={"cause": self.cause})


class Limits:
    """The server's limits, checked against one run's workflow task."""

    def __init__(self, config: ServerConfig) -> None:
        self.pending_activities = config.limit_pending_activities
        self.history_events = config.limit_history_events
        self.warn_history_events = config.warn_history_events
        self.history_bytes = config.limit_history_bytes
        self.warn_history_bytes = config.warn_history_bytes

    def check(
        self, ex: Execution, commands: Iterable[m.Command], kinds: CommandKinds, closing_activity: int | None = None
    ) -> LimitExceeded | None:
        """Why these commands would take the run past a limit, or None. ``kinds`` says which commands
        close the workflow; ``closing_activity`` is an activity about to close with them (a worker's
        continuation)."""
        closing = kinds.closing
        count = scheduled = 0
        for cmd in commands:
            if type(cmd) in closing:
                return None
            count += 1
            scheduled += isinstance(cmd, m.ScheduleActivityCommand)
        if scheduled:
            activities = ex.state.activities
            pending = len(activities) - (closing_activity in activities) + scheduled
            if pending > self.pending_activities:
                return LimitExceeded(
                    WorkflowTaskFailedCause.PENDING_ACTIVITIES_LIMIT_EXCEEDED,
                    f"this workflow would have {pending:,} pending activities, over the server's limit of "
                    f"{self.pending_activities:,} (--limit-pending-activities); wait for some of them before "
                    "scheduling more, or restart the server with a higher limit",
                )
        events = ex.record.next_event_id - 1 + _TASK_EVENTS + count
        if events > self.history_events:
            return LimitExceeded(
                WorkflowTaskFailedCause.HISTORY_LIMIT_EXCEEDED,
                # The same words at every retry (the worker logs a refusal once): no count that moves.
                f"this workflow task would take the history past the server's limit of {self.history_events:,} "
                "events (--limit-history-events); continue as new before reaching it "
                "(see ctx.info.is_continue_as_new_suggested()), or restart the server with a higher limit",
            )
        size = ex.state.history_bytes
        if size > self.history_bytes:
            return LimitExceeded(
                WorkflowTaskFailedCause.HISTORY_LIMIT_EXCEEDED,
                f"this workflow's history is past the server's limit of {self.history_bytes:,} bytes "
                "(--limit-history-bytes); continue as new before reaching it "
                "(see ctx.info.is_continue_as_new_suggested()), or restart the server with a higher limit",
            )
        return None

    def suggest_continue_as_new(self, ex: Execution) -> bool:
        """True once the run's history is past a warn threshold."""
        return ex.record.next_event_id > self.warn_history_events or ex.state.history_bytes > self.warn_history_bytes

    def started_attributes(self, ex: Execution) -> dict[str, Any]:
        """What a WorkflowTaskStarted handed out now tells the workflow about its history."""
        suggest = self.suggest_continue_as_new(ex)
        return {"history_size_bytes": ex.state.history_bytes, "suggest_continue_as_new": suggest}
