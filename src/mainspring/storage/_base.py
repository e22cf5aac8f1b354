"""The storage interface: everything the engine persists goes through ``Store``.

The engine owns the meaning of an execution's mutable state (``ExecutionRecord.state`` is opaque
JSON here); storage owns atomicity and durability. One ``ExecutionWrite`` is one atomic, durable
transition: the row is replaced and events appended, or nothing happens. Writes are conditional on
the row's ``version`` so that a stale writer can never overwrite newer state.

One server owns a store (the store lock)
----------------------------------------
The engine keeps what it knows of a run in memory: its execution cache answers reads and is changed
before each commit, its timer wheel holds the run's reminders, matching holds its ready tasks and the
workers they were handed to (which the store never sees). All of that assumes that no one else writes
the run's executions row. The version check would refuse a stale write, but a second engine would
still hand out the same tasks and fire the same timers. So a server must own the runs it runs:

- ``Store.open`` takes ownership of the whole store, or fails with ``StoreOwnershipError`` naming what
  holds it. The SQLite store takes an exclusive ``flock()`` on the database file for its life (see
  ``SQLiteStore._take_file_lock``), so a second server on the same file is refused with the file's
  name and the holder's pid.
- ``Store.owns(run_id)`` is how the engine asks "is this run mine?" before it loads a run into memory.
  A store owned whole (SQLite) answers True. A PostgreSQL store shared by several servers will instead
  give executions to servers by shard: each server holds leases on some shards, renews them while it
  lives, and owns exactly the runs of those shards; ``open_executions`` then yields only those. A lost
  lease means the runs of its shard are no longer this server's: the engine drops them from memory.
  The engine needs no other change for that.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..api.enums import EventType, WorkflowStatus
from ..errors import MainspringError

__all__ = [
    "ConditionFailedError",
    "ExecutionAlreadyRunningError",
    "ExecutionRecord",
    "ExecutionWrite",
    "HistoryEvent",
    "ListQuery",
    "NamespaceRecord",
    "StorageError",
    "Store",
    "StoreOwnershipError",
]


class StorageError(MainspringError):
    """The store failed or refused an operation."""


class StoreOwnershipError(StorageError):
    """The store (or a part of it) is owned by another server (see "the store lock" above)."""

    def __init__(self, message: str, *, holder: str) -> None:
        super().__init__(message)
        #: Who holds it, as far as the store can tell (a pid for SQLite; "unknown" if it cannot).
        self.holder = holder


class ConditionFailedError(StorageError):
    """A conditional write found a different version than expected (someone else wrote first)."""


class ExecutionAlreadyRunningError(StorageError):
    """A create found a running execution with the same workflow id."""

    def __init__(self, message: str, *, run_id: str, request_id: str | None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.request_id = request_id


@dataclass(slots=True)
class HistoryEvent:
    """One event of a workflow's history. ``event_time`` is Unix seconds."""

    event_id: int
    event_type: EventType
    event_time: float
    attributes: dict[str, Any]


@dataclass(slots=True)
class ExecutionRecord:
    """One workflow run: the indexed columns plus the engine's mutable state."""

    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowStatus
    start_time: float
    close_time: float | None
    #: The id the next appended event gets; the history holds events 1 .. next_event_id - 1.
    next_event_id: int
    #: Incremented by every write; writes are conditional on it.
    version: int
    state: dict[str, Any] = field(default_factory=dict)
    #: Idempotency key of the start request that created this run.
    request_id: str | None = None
    #: Why the stored state could not be read (then ``state`` is empty and the row is left as it is).
    unreadable: str | None = None


@dataclass(slots=True)
class ExecutionWrite:
    """One atomic transition of one execution.

    ``expected_version`` None means "create": it fails with ``ExecutionAlreadyRunningError`` if the
    workflow id has a running run. Otherwise the stored version must equal it, and the record's
    ``version`` is written as given (the engine sets it to ``expected_version + 1``).
    """

    record: ExecutionRecord
    expected_version: int | None
    events: Sequence[HistoryEvent] = ()


@dataclass(slots=True, frozen=True)
class NamespaceRecord:
    name: str
    description: str
    created_at: float


@dataclass(slots=True, frozen=True)
class ListQuery:
    """Filters for listing executions, newest first."""

    status: WorkflowStatus | None = None
    workflow_type: str | None = None
    workflow_id_prefix: str | None = None
    workflow_id: str | None = None
    started_after: float | None = None
    started_before: float | None = None
    limit: int = 100
    #: Opaque keyset cursor from a previous page.
    page_token: str | None = None


class Store(abc.ABC):
    """Durable storage for namespaces, executions and their histories."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Take ownership of the store (``StoreOwnershipError`` if another server has it), connect,
        migrate the schema to the newest version, and get ready for use."""

    def owns(self, run_id: str) -> bool:
        """True if this server owns the run (see "the store lock" above): only then may the engine
        load it into memory and act on it. A store owned whole, once open, owns every run."""
        return True

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release every resource."""

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """Where the data lives, for humans (e.g. the SQLite file's path)."""

    # Namespaces
    @abc.abstractmethod
    async def create_namespace(self, name: str, description: str = "") -> bool:
        """Create a namespace; False if it already existed."""

    @abc.abstractmethod
    async def get_namespace(self, name: str) -> NamespaceRecord | None: ...

    @abc.abstractmethod
    async def list_namespaces(self) -> list[NamespaceRecord]: ...

    # Executions
    @abc.abstractmethod
    async def write(self, op: ExecutionWrite, *, quiet: bool | None = None) -> None:
        """Apply one transition atomically and durably (committed before this returns).

        ``quiet`` is what the caller knows of the load: True if nothing else is waiting to run
        meanwhile, False if other work is, None to let the store guess. A store may use it to choose
        between writing at once on the caller's thread and batching with other writes.
        """

    @abc.abstractmethod
    async def get_execution(
        self, namespace: str, workflow_id: str, run_id: str | None = None
    ) -> ExecutionRecord | None:
        """One run; with ``run_id`` None, the newest run of that workflow id."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> ExecutionRecord | None:
        """One run by its (globally unique) run id."""

    @abc.abstractmethod
    async def read_history(
        self, run_id: str, first_event_id: int = 1, last_event_id: int | None = None
    ) -> list[HistoryEvent]:
        """Events of one run with ids in [first_event_id, last_event_id], in order."""

    async def read_history_json(
        self, run_id: str, first_event_id: int, last_event_id: int
    ) -> list[tuple[int, str, float, str]]:
        """Like ``read_history``, with each event as (event id, event type, event time, attributes as
        JSON text), for handing events on as JSON without parsing and encoding them again. A store that
        keeps attributes as JSON text returns the text it holds (checked to be JSON)."""
        from .._json import dumps_str

        events = await self.read_history(run_id, first_event_id, last_event_id)
        return [(e.event_id, e.event_type.value, e.event_time, dumps_str(e.attributes)) for e in events]

    @abc.abstractmethod
    async def list_executions(self, namespace: str, query: ListQuery) -> tuple[list[ExecutionRecord], str | None]:
        """A page of runs, newest first, without their mutable state; and the next page's token."""

    @abc.abstractmethod
    def open_executions(self) -> AsyncIterator[ExecutionRecord]:
        """Every running execution, with its state (used to rebuild queues and timers at start)."""

    # Server keys
    @abc.abstractmethod
    async def server_key(self, name: str) -> bytes:
        """The server's secret key called ``name``: 32 random bytes made by the first call (from the
        operating system's generator) and the same ever after, across restarts. A store that keeps
        nothing (in memory) makes one per process. Never to be logged or shown."""

    # Announced workflow input schemas
    @abc.abstractmethod
    async def put_workflow_schema(
        self, namespace: str, task_queue: str, workflow_type: str, schema: dict[str, Any] | None
    ) -> None: ...

    @abc.abstractmethod
    async def get_workflow_schema(
        self, namespace: str, task_queue: str, workflow_type: str
    ) -> dict[str, Any] | None: ...
