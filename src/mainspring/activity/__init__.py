"""Activities: the side-effecting steps of a workflow (I/O, calls to other systems).

An activity runs at least once; it is retried per its retry policy until it succeeds, fails with a
non-retryable error, runs out of attempts, or times out. Make activities idempotent.
"""

from ._context import ActivityInfo, heartbeat, in_activity, info, is_cancelled, raise_complete_async
from ._definition import ActivityDefinition, ActivityFunction, defn, get_definition
from ._logger import ActivityLoggerAdapter, logger

__all__ = [
    "ActivityDefinition",
    "ActivityFunction",
    "ActivityInfo",
    "ActivityLoggerAdapter",
    "defn",
    "get_definition",
    "heartbeat",
    "in_activity",
    "info",
    "is_cancelled",
    "logger",
    "raise_complete_async",
]
