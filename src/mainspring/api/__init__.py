"""The wire format shared by the server, the client and the worker: enums, name rules, and models."""

from .enums import (
    ActivityState,
    CommandType,
    EventType,
    TimeoutType,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
    WorkflowStatus,
    WorkflowTaskFailedCause,
)
from .names import check_id, check_namespace

__all__ = [
    "ActivityState",
    "CommandType",
    "EventType",
    "TimeoutType",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
    "WorkflowStatus",
    "WorkflowTaskFailedCause",
    "check_id",
    "check_namespace",
]
