"""The client: start workflows and read their results, state and history."""

from ._async_activity import AsyncActivityHandle
from ._client import Client, WorkflowDescription, WorkflowHandle, WorkflowPage
from ._listing import (
    WorkflowExecution,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
)
from ._tls import TLSConfig
from ._transport import DEFAULT_ADDRESS, Transport, resolve_address
from ._updates import WorkflowUpdateHandle, WorkflowUpdateStage
from ._with_start import WithStartWorkflowOperation, WorkflowIDConflictPolicy

__all__ = [
    "DEFAULT_ADDRESS",
    "AsyncActivityHandle",
    "Client",
    "TLSConfig",
    "Transport",
    "WithStartWorkflowOperation",
    "WorkflowDescription",
    "WorkflowExecution",
    "WorkflowExecutionAsyncIterator",
    "WorkflowExecutionCount",
    "WorkflowExecutionCountAggregationGroup",
    "WorkflowHandle",
    "WorkflowIDConflictPolicy",
    "WorkflowPage",
    "WorkflowUpdateHandle",
    "WorkflowUpdateStage",
    "resolve_address",
]
