"""Workflows: durable, deterministic ``async`` functions.

A workflow's every step is recorded in its history on the server; a worker that picks it up (after
a crash, or when the workflow was evicted from its cache) rebuilds it by replaying that history.
"""

from ._context import Context
from ._definition import WorkflowDefinition, WorkflowFunction, defn, get_definition
from ._instance import WorkflowInfo

__all__ = ["Context", "WorkflowDefinition", "WorkflowFunction", "WorkflowInfo", "defn", "get_definition"]
