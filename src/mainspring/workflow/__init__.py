"""Workflows: durable, deterministic ``async`` functions, or classes with a ``@workflow.run`` method and
message handlers (``@workflow.signal``, ``@workflow.query``, ``@workflow.update``).

A workflow's every step is recorded in its history on the server; a worker that picks it up (after
a crash, or when the workflow was evicted from its cache) rebuilds it by replaying that history.
"""

from ..api.enums import ParentClosePolicy, VersioningBehavior
from ._children import ChildWorkflowHandle, ChildWorkflowOptions, ExternalWorkflowHandle, ParentInfo
from ._context import Context
from ._continue_as_new import ContinueAsNewError
from ._definition import WorkflowDefinition, WorkflowFunction, defn, get_definition
from ._handlers import (
    HandlerDefinition,
    QueryMethod,
    RunMethod,
    SignalMethod,
    UpdateMethod,
    init,
    query,
    run,
    signal,
    update,
)
from ._instance import WorkflowInfo
from ._raise_cause import raise_cause

__all__ = [
    "ChildWorkflowHandle",
    "ChildWorkflowOptions",
    "Context",
    "ContinueAsNewError",
    "ExternalWorkflowHandle",
    "HandlerDefinition",
    "ParentClosePolicy",
    "ParentInfo",
    "QueryMethod",
    "RunMethod",
    "SignalMethod",
    "UpdateMethod",
    "VersioningBehavior",
    "WorkflowDefinition",
    "WorkflowFunction",
    "WorkflowInfo",
    "defn",
    "get_definition",
    "init",
    "query",
    "raise_cause",
    "run",
    "signal",
    "update",
]
