"""The public API is explicit: it is pinned here, and every part of it is importable and documented.

Changing what a public module exports means changing ``EXPORTS`` below, on purpose.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import mainspring

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "src" / "mainspring"

EXPORTS: dict[str, list[str]] = {
    "mainspring": [
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
    ],
    "mainspring.activity": [
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
    ],
    "mainspring.api": [
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
    ],
    "mainspring.contrib": [],
    "mainspring.contrib.opentelemetry": ["TracingInterceptor"],
    "mainspring.client": [
        "DEFAULT_ADDRESS",
        "AsyncActivityHandle",
        "BatchJobDescription",
        "BatchJobHandle",
        "BatchJobState",
        "BatchOperation",
        "Client",
        "Schedule",
        "ScheduleActionExecutionStartWorkflow",
        "ScheduleActionResult",
        "ScheduleActionStartWorkflow",
        "ScheduleAlreadyRunningError",
        "ScheduleAsyncIterator",
        "ScheduleBackfill",
        "ScheduleCalendarSpec",
        "ScheduleDescription",
        "ScheduleHandle",
        "ScheduleInfo",
        "ScheduleIntervalSpec",
        "ScheduleListActionStartWorkflow",
        "ScheduleListDescription",
        "ScheduleListInfo",
        "ScheduleListSchedule",
        "ScheduleListState",
        "ScheduleOverlapPolicy",
        "SchedulePolicy",
        "ScheduleRange",
        "ScheduleSpec",
        "ScheduleState",
        "ScheduleUpdate",
        "ScheduleUpdateInput",
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
    ],
    "mainspring.converter": [
        "BYTES_KEY",
        "PAYLOAD_KEY",
        "DataConverter",
        "EncodedPayloadError",
        "Payload",
        "PayloadCodec",
        "PayloadDecodeError",
        "PayloadError",
        "decode",
        "default",
        "encode",
        "format_validation_error",
        "json_schema",
        "type_hints",
    ],
    "mainspring.errors": [
        "ActivityError",
        "AlreadyStartedError",
        "ApplicationError",
        "ApplicationErrorCategory",
        "CancelledError",
        "ChildWorkflowError",
        "DeadlockError",
        "FailureError",
        "InvalidAddressError",
        "InvalidArgumentError",
        "InvalidQueryError",
        "MainspringError",
        "NondeterminismError",
        "NondeterministicCallError",
        "NotFoundError",
        "PayloadTooLargeError",
        "PermissionDeniedError",
        "RPCError",
        "ResourceExhaustedError",
        "ServerError",
        "ServerUnavailableError",
        "TLSError",
        "TerminatedError",
        "TimeoutError",
        "UnauthenticatedError",
        "WorkflowCodeError",
        "WorkflowFailureError",
        "WorkflowQueryFailedError",
        "WorkflowUpdateFailedError",
        "exception_from_failure",
        "failure_from_dict",
        "failure_to_dict",
    ],
    "mainspring.common": [
        "SearchAttributeIndexedValueType",
        "SearchAttributeKey",
        "SearchAttributePair",
        "SearchAttributeUpdate",
        "SearchAttributeValues",
        "TypedSearchAttributes",
    ],
    "mainspring.interceptors": ["Call", "CallKind", "Interceptor", "WorkflowInterceptor"],
    "mainspring.options": [
        "ActivityOptions",
        "ExecuteActivityOptions",
        "ExecuteLocalActivityOptions",
        "RetryPolicy",
        "StartWorkflowOptions",
    ],
    "mainspring.server": [
        "Clock",
        "Engine",
        "Server",
        "ServerConfig",
        "ServerStartError",
        "SystemClock",
        "openapi_document",
        "run_server",
    ],
    "mainspring.storage": [
        "AuditEntry",
        "ConditionFailedError",
        "CopyError",
        "CopyProgress",
        "CopyReport",
        "ExecutionAlreadyRunningError",
        "ExecutionRecord",
        "ExecutionWrite",
        "HistoryEvent",
        "ListQuery",
        "NamespaceRecord",
        "PendingItem",
        "SQLiteStore",
        "StorageError",
        "Store",
        "StoreCounts",
        "StoreOwnershipError",
        "StoredApiKey",
        "StoredBatchJob",
        "StoredBuild",
        "StoredEvent",
        "StoredKey",
        "StoredRun",
        "StoredSchedule",
        "StoredSchema",
        "StoredUiSession",
        "copy_store",
        "copy_urls",
        "store_from_url",
    ],
    "mainspring.runtime": ["PrometheusConfig", "Runtime", "TelemetryConfig", "WorkerMetrics"],
    "mainspring.testing": ["ActivityEnvironment", "WorkflowEnvironment", "default_activity_info"],
    "mainspring.worker": [
        "Replayer",
        "SharedStateManager",
        "VersioningBehavior",
        "Worker",
        "WorkflowHistory",
        "WorkflowReplayResult",
        "WorkflowReplayResults",
        "tune_gc",
    ],
    "mainspring.workflow": [
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
    ],
}

MODULES = sorted(EXPORTS)


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _isort_key(name: str) -> tuple[int, list[int | str]]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, then Classes, then the rest; naturally sorted."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _defined_names(module: ModuleType) -> set[str]:
    """Public names the module binds itself: definitions, assignments, and imports from this package.

    Imports from elsewhere (``typing``, ``dataclasses``, ...) are not part of the API. Only top-level
    statements count, so names imported under ``if TYPE_CHECKING:`` are left out.
    """
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("mainspring")):
            names.update(alias.asname or alias.name for alias in node.names)
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("name", MODULES)
def test_exports_are_pinned(name: str) -> None:
    assert list(_module(name).__all__) == EXPORTS[name]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted(name: str) -> None:
    exported = list(_module(name).__all__)
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported), "a name is listed twice"


@pytest.mark.parametrize("name", MODULES)
def test_all_is_complete(name: str) -> None:
    module = _module(name)
    missing = _defined_names(module) - set(module.__all__)
    assert not missing, f"{name} defines or re-exports public names that __all__ does not list: {sorted(missing)}"


@pytest.mark.parametrize("name", MODULES)
def test_every_listed_name_imports(name: str) -> None:
    module = _module(name)
    for export in module.__all__:
        namespace: dict[str, object] = {}
        exec(f"from {name} import {export}", namespace)  # the statement a user would write
        assert namespace[export] is getattr(module, export)


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_has_a_docstring(name: str) -> None:
    module = _module(name)
    assert (module.__doc__ or "").strip(), f"module {name} has no docstring"
    undocumented = [
        export
        for export in module.__all__
        if inspect.isclass(obj := getattr(module, export)) or inspect.isfunction(obj) or inspect.ismodule(obj)
        if not (obj.__doc__ or "").strip()
    ]
    assert not undocumented, f"{name}: no docstring on {undocumented}"


def _public_members(cls: type) -> dict[str, object]:
    """The public methods and properties a class defines itself (not those of ``Exception``, ``Enum``, ...)."""
    members: dict[str, object] = {}
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, property):
            members[attr] = value.fget
        elif isinstance(value, classmethod | staticmethod):
            members[attr] = value.__func__
        elif inspect.isfunction(value):
            members[attr] = value
    return members


@pytest.mark.parametrize("export", [n for n in EXPORTS["mainspring"] if inspect.isclass(getattr(mainspring, n, None))])
def test_everyday_api_members_have_docstrings(export: str) -> None:
    # The classes re-exported from the package root are the everyday API: their methods and
    # properties are documented too (a docstring inherited from a base class counts).
    cls = getattr(mainspring, export)
    undocumented = [attr for attr in _public_members(cls) if not (inspect.getdoc(getattr(cls, attr)) or "").strip()]
    assert not undocumented, f"mainspring.{export}: no docstring on {undocumented}"


def test_py_typed_ships() -> None:
    # PEP 561: without the marker, type checkers ignore the package's annotations.
    assert (PACKAGE / "py.typed").is_file()
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["mainspring"]
