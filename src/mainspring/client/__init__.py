"""The client: start workflows and read their results, state and history."""

from ._client import Client, WorkflowDescription, WorkflowHandle, WorkflowPage
from ._transport import DEFAULT_ADDRESS, Transport, resolve_address
from ._updates import WorkflowUpdateHandle, WorkflowUpdateStage

__all__ = [
    "DEFAULT_ADDRESS",
    "Client",
    "Transport",
    "WorkflowDescription",
    "WorkflowHandle",
    "WorkflowPage",
    "WorkflowUpdateHandle",
    "WorkflowUpdateStage",
    "resolve_address",
]
