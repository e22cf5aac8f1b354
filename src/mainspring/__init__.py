"""Mainspring: durable workflows for Python.

The layout, one package per concept:

- ``workflow``  -- ``@workflow.defn`` and the ``Context`` a workflow runs with
- ``activity``  -- ``@activity.defn``, ``activity.heartbeat()``, ``activity.info()``
- ``client``    -- ``Client`` and ``WorkflowHandle``: start, wait for, inspect workflows
- ``worker``    -- ``Worker``: polls task queues and runs workflows and activities
- ``server``    -- the engine, its HTTP/JSON API and ``start-dev``
- ``storage``   -- the ``Store`` interface and its SQLite implementation
- ``api``       -- the wire format shared by all of the above
- ``errors``    -- every exception, under ``MainspringError``
- ``cli``       -- the ``mainspring`` command

The names below are the everyday API; import anything else from its package.
"""

from . import activity, workflow
from ._version import __version__
from .api.enums import EventType, WorkflowStatus
from .client import Client, WorkflowDescription, WorkflowHandle
from .errors import (
    ActivityError,
    AlreadyStartedError,
    ApplicationError,
    CancelledError,
    FailureError,
    InvalidArgumentError,
    MainspringError,
    NondeterminismError,
    NondeterministicCallError,
    NotFoundError,
    RPCError,
    ServerUnavailableError,
    TimeoutError,
    WorkflowFailureError,
)
from .options import ActivityOptions, RetryPolicy
from .worker import Worker

__all__ = [
    "ActivityError",
    "ActivityOptions",
    "AlreadyStartedError",
    "ApplicationError",
    "CancelledError",
    "Client",
    "EventType",
    "FailureError",
    "InvalidArgumentError",
    "MainspringError",
    "NondeterminismError",
    "NondeterministicCallError",
    "NotFoundError",
    "RPCError",
    "RetryPolicy",
    "ServerUnavailableError",
    "TimeoutError",
    "Worker",
    "WorkflowDescription",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowStatus",
    "__version__",
    "activity",
    "workflow",
]
