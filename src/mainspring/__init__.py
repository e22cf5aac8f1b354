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

The names below are the everyday API; import anything else from its package. They are loaded on first
use (``__getattr__``), so that importing ``mainspring.cli`` or ``mainspring.errors`` does not import the
SDK's heavy dependencies: ``mainspring --help`` would otherwise spend 0.2 s importing pydantic and asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from . import activity, workflow
    from .api.enums import (
        ApplicationErrorCategory,
        EventType,
        VersioningBehavior,
        WorkflowIDConflictPolicy,
        WorkflowIDReusePolicy,
        WorkflowStatus,
    )
    from .client import Client, WorkflowDescription, WorkflowHandle
    from .errors import (
        ActivityError,
        AlreadyStartedError,
        ApplicationError,
        CancelledError,
        ChildWorkflowError,
        FailureError,
        InvalidArgumentError,
        InvalidQueryError,
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
    "ApplicationErrorCategory",
    "CancelledError",
    "ChildWorkflowError",
    "Client",
    "EventType",
    "FailureError",
    "InvalidArgumentError",
    "InvalidQueryError",
    "MainspringError",
    "NondeterminismError",
    "NondeterministicCallError",
    "NotFoundError",
    "RPCError",
    "RetryPolicy",
    "ServerUnavailableError",
    "TimeoutError",
    "VersioningBehavior",
    "Worker",
    "WorkflowDescription",
    "WorkflowFailureError",
    "WorkflowHandle",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
    "WorkflowStatus",
    "__version__",
    "activity",
    "workflow",
]

#: Where each name of ``__all__`` lives (a module, or ``None`` for a subpackage of the same name).
_HOMES: dict[str, str | None] = {
    "activity": None,
    "workflow": None,
    "EventType": ".api.enums",
    "WorkflowStatus": ".api.enums",
    "WorkflowIDConflictPolicy": ".api.enums",
    "VersioningBehavior": ".api.enums",
    "WorkflowIDReusePolicy": ".api.enums",
    "ApplicationErrorCategory": ".api.enums",
    "Client": ".client",
    "WorkflowDescription": ".client",
    "WorkflowHandle": ".client",
    "ActivityOptions": ".options",
    "RetryPolicy": ".options",
    "Worker": ".worker",
    **{
        name: ".errors"
        for name in (
            "ActivityError",
            "AlreadyStartedError",
            "ApplicationError",
            "CancelledError",
            "ChildWorkflowError",
            "FailureError",
            "InvalidArgumentError",
            "InvalidQueryError",
            "MainspringError",
            "NondeterminismError",
            "NondeterministicCallError",
            "NotFoundError",
            "RPCError",
            "ServerUnavailableError",
            "TimeoutError",
            "WorkflowFailureError",
        )
    },
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name, "")
    if home == "" and not name.startswith("_"):
        # A subpackage, as `import mainspring; mainspring.errors.X` found it when this file imported them all.
        try:
            return importlib.import_module("." + name, __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    if home == "":
        raise AttributeError(f"module 'mainspring' has no attribute {name!r}")
    value = importlib.import_module("." + name if home is None else home, __name__)
    if home is not None:
        value = getattr(value, name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
