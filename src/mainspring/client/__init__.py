"""The client: start workflows and read their results, state and history."""

from ._client import Client, WorkflowDescription, WorkflowHandle, WorkflowPage
from ._transport import DEFAULT_ADDRESS, Transport, resolve_address

__all__ = [
    "DEFAULT_ADDRESS",
    "Client",
    "Transport",
    "WorkflowDescription",
    "WorkflowHandle",
    "WorkflowPage",
    "resolve_address",
]
