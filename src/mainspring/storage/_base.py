"""The storage interface: everything the engine persists goes through ``Store``, the one seam.

A store (SQLite today, PostgreSQL next) implements ``Store`` and nothing else; the engine knows no SQL.

What a store keeps for each workflow run:

- **the run's row** (``ExecutionRecord``): the columns lookups and listing filter on, and ``state``, a
  small JSON object of the engine's (the workflow task, a cancellation request). Opaque here.
- **its pending items** (``PendingItem``): one per thing the run has many of at once, keyed by
  ``(kind, key)`` within the run: pending activities (kind "a", keyed by scheduled event id) and timers
  ("t", by timer id) today; signals, child workflows and updates will add kinds. Each value is a small
  JSON value of the engine's, opaque here. They are what lets a transition's write be the size of what
  it changed: a completion among 10,000 pending activities deletes one item, it does not rewrite 10,000.
- **its history** (``HistoryEvent``): append-only, ids 1 .. ``next_event_id - 1``. Payloads (inputs,
  results) are stored here and only here: the engine reads them back from their events when needed.

The engine owns the meaning of all of it; storage owns atomicity and durability. One
``ExecutionWrite`` is one atomic, durable transition: the row is replaced, the items upserted and
deleted, and the events appended, all or nothing. Writes are conditional on the row's ``version`` so
that a stale writer can never overwrite newer state. A store may batch many writes in one
transaction (group commit) as long as each stays all-or-nothing and one refused write (a stale
version) fails alone.

Reads that return a record "with its state" (``get_run``, ``get_execution``, ``open_executions``)
fill both ``state`` and ``pending``; a store that finds a value it cannot decode (damaged JSON) says so
in ``ExecutionRecord.unreadable`` instead of raising, so that one bad run is set aside rather than
failing a read or the server's start. Listing returns records without either.

One server owns a store (the store lock)
----------------------------------------
The engine keeps what it knows of a run in memory: its execution cache answers reads and is changed
before each commit, its timer wheel holds the run's reminders, matching holds its ready tasks and the
workers they were handed to (which the store never sees). All of that assumes that no one else writes
the run's executions row. The version check would refuse a stale write, but a second engine would
still hand out the same tasks and fire the same timers. So a server must own the runs it runs:

- ``Store.open`` takes ownership of the whole store, or fails with ``StoreOwnershipError`` naming what
  holds it. The SQLite store takes an exclusive ``flock()`` on the database file for its life (see
  ``storage._sqlite_file.take_file_lock``), so a second server on the same file is refused with the file's
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
import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..api.enums import EventType, WorkflowStatus
from ..errors import MainspringError

if TYPE_CHECKING:
    from .._visibility._ast import VisibilityQuery
    from ._cluster import ClusterView

__all__ = [
    "ConditionFailedError",
    "ExecutionAlreadyRunningError",
    "ExecutionRecord",
    "ExecutionWrite",
    "HistoryEvent",
    "ListQuery",
    "NamespaceRecord",
    "PendingItem",
    "StorageError",
    "Store",
    "StoreCounts",
    "StoreOwnershipError",
    "StoredEvent",
    "StoredKey",
    "StoredRun",
    "StoredSchema",
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
    #: ``attributes`` as JSON, when whoever made the event has encoded them already: the store writes
    #: this instead of encoding them again (a 1 MB payload of ordinary text takes ~1 ms to encode).
    #: It must be what ``_json.dumps(attributes)`` gives; the store drops it as it writes the event.
    encoded: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class PendingItem:
    """One pending thing of a run (an activity, a timer...), stored apart from the run's row so that
    changing it writes it alone. ``(kind, key)`` is unique within a run; ``value`` is JSON."""

    kind: str
    key: str
    value: Any


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
    #: The run's pending items, as stored (filled by the reads that return the state, else empty).
    pending: list[PendingItem] = field(default_factory=list)
    #: Why the stored state could not be read (then ``state`` is empty and the row is left as it is).
    unreadable: str | None = None


@dataclass(slots=True)
class ExecutionWrite:
    """One atomic transition of one execution.

    ``expected_version`` None means "create": it fails with ``ExecutionAlreadyRunningError`` if the
    workflow id has a running run, and with ``ConditionFailedError`` if ``if_current`` is set and the workflow
    id's current (newest) run is no longer that one. Otherwise the stored version must equal it, and the record's
    ``version`` is written as given (the engine sets it to ``expected_version + 1``).

    The record's ``pending`` is ignored: its items change only as said here, in this order: with
    ``clear_pending`` every item of the run is deleted, then ``delete_items`` (``(kind, key)``; absent
    ones are no error), then ``put_items`` are written (inserted, or replacing the item with that key).

    ``follow_on`` is the create of the next run of the same workflow id (a continue-as-new, a retry):
    applied in the same atomic unit, after this write closed its run, so that a crash at any moment
    leaves either this run open and no successor, or this run closed and its successor created. It
    takes the workflow id over from the run this write closes (however that run was started, even
    with a ``request_id`` equal to its own), and fails the whole write if that run is not the
    current one of its workflow id.
    """

    record: ExecutionRecord
    expected_version: int | None
    events: Sequence[HistoryEvent] = ()
    put_items: Sequence[PendingItem] = ()
    delete_items: Sequence[tuple[str, str]] = ()
    clear_pending: bool = False
    #: The next run's create (``expected_version`` None), all or nothing with this write (see above).
    follow_on: ExecutionWrite | None = None
    #: A create only: the run the workflow id must still have as its newest ("" for no run at all), because
    #: the engine decided on it (a start's id reuse policy): a start in between refuses this one. None: no
    #: such condition.
    if_current: str | None = None


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
    #: A parsed list filter (``mainspring._visibility``), ANDed with the fields above; its ORDER BY is the
    #: listing's order (newest first without one). Both stores compile it in ``_visibility_sql``.
    filter: VisibilityQuery | None = None


#: One stored event of a run, as its store holds it: (run id, event id, event type, event time, attributes as
#: the JSON text stored). What ``Store.export_events`` gives and ``Store.import_runs`` takes.
StoredEvent = tuple[str, int, str, float, str]


@dataclass(slots=True)
class StoredRun:
    """One run exactly as its store holds it, to be moved whole to another store (``store copy``).

    Values stay the JSON text they are stored as, never parsed: copying is byte for byte, and a damaged
    value (a run the server sets aside) moves unchanged instead of failing the copy."""

    #: The run's columns (its ``state`` and ``pending`` are left empty: they are the two fields below).
    record: ExecutionRecord
    #: The engine's state, as the JSON text stored.
    state: str
    #: (status, request id) of its workflow id's entry as "current run", if this run is the one it names.
    current: tuple[str, str | None] | None
    #: Its pending items: (kind, key, value as the JSON text stored).
    pending: list[tuple[str, str, str]] = field(default_factory=list)
    #: Its whole history (filled in by the copy from ``export_events``).
    events: list[StoredEvent] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class StoredKey:
    """One of the server's secret keys (``Store.server_key``), with when it was made."""

    name: str
    key: bytes = field(repr=False)
    created_at: float


@dataclass(slots=True, frozen=True)
class StoredSchema:
    """What the workers of a task queue announced for a workflow type (``put_workflow_schema``), as stored."""

    namespace: str
    task_queue: str
    workflow_type: str
    #: The input schema and the handlers, as the JSON text stored (None: none announced).
    input_schema: str | None
    handlers: str | None
    updated_at: float


@dataclass(slots=True, frozen=True)
class StoredBuild:
    """When a worker build was first seen on a task queue (``note_build``), as stored."""

    namespace: str
    task_queue: str
    build_id: str
    first_seen: float


@dataclass(slots=True, frozen=True)
class StoredApiKey:
    """An API key as stored: its id, owner-given name, grant, and the hash of its secret (see ``_api_keys``)."""

    key_id: str
    name: str
    namespace: str
    role: str
    secret_hash: str = field(repr=False)
    created_at: float
    #: Who made it (the name of the admin key, or "store" for one made offline against the store).
    created_by: str = ""
    #: When it was revoked (Unix seconds), or None while it is valid.
    revoked_at: float | None = None


@dataclass(slots=True, frozen=True)
class StoredUiSession:
    """A web UI login session as stored (``server._auth``): keyed by the hash of its cookie's value, never
    the value itself, with who it stands for and the CSRF token its mutations must send."""

    #: The SHA-256 (hex) of the session cookie's value.
    session_hash: str
    #: The name of who logged in (an API key's name and id, a token's subject).
    principal: str
    #: Their roles, a JSON object ``{namespace: role}``.
    grants: str
    #: How they proved it (``session (api-key)``, ``session (oidc)``).
    method: str
    #: The API key they logged in with (its revocation ends the session), or None.
    key_id: str | None
    #: The token every request that changes something must send (``X-CSRF-Token``).
    csrf_token: str = field(repr=False)
    #: When it was made, and when it ends (Unix seconds).
    created_at: float
    expires_at: float


@dataclass(slots=True, frozen=True)
class AuditEntry:
    """One call that changed something, as the audit log keeps it (``server._audit``)."""

    #: When it was answered (Unix seconds).
    at: float
    #: The namespace it was about ("" for none: a key of every namespace, say).
    namespace: str
    #: Who made it (an API key's name and id, a token's subject), and how they proved it.
    principal: str
    method: str
    #: The operation (``start_workflow``, ``revoke_api_key``...) and what it named (a workflow id, a key id).
    operation: str
    target: str
    #: The caller's address, the HTTP status it was answered (200 on a channel's success), the request's id.
    peer: str
    status: int
    request_id: str
    #: Its place in the log (0 until stored).
    seq: int = 0


@dataclass(slots=True, frozen=True)
class StoredSchedule:
    """A schedule (``server.features.schedules``) as the store keeps it: its whole description as one JSON
    document, opaque here (the engine owns its meaning), written on the condition of its ``version``."""

    namespace: str
    schedule_id: str
    #: The schedule's JSON document: its spec, action, policy, state and what it has done.
    body: str
    #: Starts at 1 and grows by one with each write (``update_schedule`` is conditional on it).
    version: int = 1


@dataclass(slots=True, frozen=True)
class StoredBatchJob:
    """A batch job (``server.features.batch``) as the store keeps it: one operation applied to every run a list
    filter selects, with how far it got. Written on the condition of its ``version``."""

    namespace: str
    job_id: str
    #: The operation applied to each run: "cancel", "terminate", "signal" or "reset".
    operation: str
    #: Its arguments (reason, signal name and input, reset type, who asked) as JSON text, opaque here.
    args: str
    #: The list filter that selects the runs (Temporal's language).
    query: str
    #: At most this many runs a second.
    rps: float
    #: RUNNING, COMPLETED, FAILED or TERMINATED (``api.batch.BatchJobState``).
    state: str
    #: How many runs the query selected when the job started (an estimate: runs change meanwhile).
    matched: int
    #: Runs the operation was applied to; runs skipped (closed meanwhile, already asked); runs it failed on.
    done: int
    skipped: int
    failed: int
    #: The page token of the listing after the last page dealt with (None: from the first page).
    cursor: str | None
    started_at: float
    closed_at: float | None
    #: Why it ended as it did (who terminated it, what failed); "" while it runs.
    note: str
    #: Starts at 1 and grows by one with each write (``update_batch_job`` is conditional on it).
    version: int = 1


@dataclass(slots=True, frozen=True)
class StoreCounts:
    """How much a store holds, table by table: what a copy checks on both sides."""

    namespaces: int
    executions: int
    open_executions: int
    events: int
    pending: int
    server_keys: int
    workflow_schemas: int
    worker_builds: int


class Store(abc.ABC):
    """Durable storage for namespaces, executions and their histories."""

    #: Called after each group commit that went through with its time (seconds) and how many writes it
    #: held (the server's metrics); it may be called from the store's writer thread.
    observe_commit: Callable[[float, int], None] | None = None

    def leases_held(self) -> int | None:
        """How many shard leases this server holds; None for a store that has none (SQLite)."""
        return None

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

    async def describe_cluster(self) -> ClusterView | None:
        """The servers sharing this store and their leases, as the store records them; None for a store
        one server owns whole (a SQLite file: the server holding it is the only one)."""
        return None

    # Namespaces
    @abc.abstractmethod
    async def create_namespace(self, name: str, description: str = "") -> bool:
        """Create a namespace; False if it already existed."""

    @abc.abstractmethod
    async def get_namespace(self, name: str) -> NamespaceRecord | None: ...

    @abc.abstractmethod
    async def list_namespaces(self) -> list[NamespaceRecord]: ...

    # Executions
    async def write(self, op: ExecutionWrite, *, quiet: bool | None = None) -> None:
        """Apply one transition atomically and durably (committed before this returns)."""
        await self.submit(op, quiet=quiet)

    @abc.abstractmethod
    def submit(self, op: ExecutionWrite, *, quiet: bool | None = None) -> asyncio.Future[None]:
        """Start applying one transition, atomically and durably; await the result to know it is
        committed (or why it was refused).

        Writes are applied in the order they are submitted: the engine may submit a run's next
        transition while the previous one is still being written (it builds on it), and relies on
        the version check to refuse it if the previous one failed. Submitting never waits.

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

    async def read_history_page(
        self, run_id: str, first_event_id: int, last_event_id: int, budget: int
    ) -> tuple[str, int, int]:
        """Events ``first_event_id`` .. ``last_event_id`` as one JSON array of text, cut past ``budget``
        bytes (``_history_json.page_text``): (the text, how many events, the last one's id). For large
        pages: built where it keeps the server's event loop free (here, in a thread; the SQLite store
        builds them in a process of their own). StorageError if a stored event is damaged."""
        from .._history_json import page_text

        rows = await self.read_history_json(run_id, first_event_id, last_event_id)
        return await asyncio.to_thread(page_text, rows, budget)

    @abc.abstractmethod
    async def list_executions(self, namespace: str, query: ListQuery) -> tuple[list[ExecutionRecord], str | None]:
        """A page of runs, newest first (or in the filter's order), without their mutable state; and the next
        page's token."""

    async def listed_search_attributes(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The stored search attributes (the pending item of kind "sa", as JSON) of those of ``run_ids`` that
        have any: what a listing shows beside each run. One read for a whole page."""
        return {}

    @abc.abstractmethod
    async def count_executions(
        self, namespace: str, filter: VisibilityQuery | None, group_by_status: bool = False
    ) -> tuple[int, list[tuple[WorkflowStatus, int]]]:
        """How many runs the filter selects (every run without one); with ``group_by_status`` also how many
        of each status that has any, as (status, count) pairs. Without it the pairs are empty."""

    @abc.abstractmethod
    async def delete_execution(self, run_id: str) -> bool:
        """Delete one closed run: its row, its history and its pending items, atomically and durably. If it was
        its workflow id's newest run, the id's newest remaining run (if any) becomes its current one. False if
        there was no such run; ``StorageError`` if the run is running (only a closed run is deleted)."""

    @abc.abstractmethod
    def open_executions(self) -> AsyncIterator[ExecutionRecord]:
        """Every running execution, with its state (used to rebuild queues and timers at start)."""

    # Server keys
    @abc.abstractmethod
    async def server_key(self, name: str) -> bytes:
        """The server's secret key called ``name``: 32 random bytes made by the first call (from the
        operating system's generator) and the same ever after, across restarts. A store that keeps
        nothing (in memory) makes one per process. Never to be logged or shown."""

    # Announced workflow input schemas, and message handlers
    @abc.abstractmethod
    async def put_workflow_schema(
        self,
        namespace: str,
        task_queue: str,
        workflow_type: str,
        schema: dict[str, Any] | None,
        handlers: list[dict[str, Any]] | None = None,
    ) -> None:
        """Keep the input schema and the message handlers (``{"kind", "name", "input_schema"}`` each; None
        for a worker that announces none) the workers of ``task_queue`` announced for ``workflow_type``."""

    @abc.abstractmethod
    async def get_workflow_handlers(
        self, namespace: str, task_queue: str, workflow_type: str
    ) -> list[dict[str, Any]] | None:
        """The message handlers announced for ``workflow_type`` on ``task_queue`` (None if none were)."""

    @abc.abstractmethod
    async def get_workflow_schema(
        self, namespace: str, task_queue: str, workflow_type: str
    ) -> dict[str, Any] | None: ...

    # Worker builds
    @abc.abstractmethod
    async def note_build(self, namespace: str, task_queue: str, build_id: str, first_seen: float) -> float:
        """Record that a worker of ``build_id`` polls ``task_queue``, started at ``first_seen`` (Unix seconds),
        unless an earlier time is recorded; the earliest recorded, which orders the builds (the one first seen
        last gets new runs) across server restarts."""

    # API keys (``_api_keys``): few rows, read whole by each server and refreshed every few seconds.
    @abc.abstractmethod
    async def put_api_key(self, key: StoredApiKey) -> None:
        """Add ``key`` (``StorageError`` if its id exists)."""

    @abc.abstractmethod
    async def list_api_keys(self) -> list[StoredApiKey]:
        """Every key, revoked ones too, by id."""

    @abc.abstractmethod
    async def revoke_api_key(self, key_id: str, at: float) -> StoredApiKey | None:
        """Mark the key revoked at ``at`` (unless it was already); the key as it now stands, or None if
        there is no such key."""

    # UI sessions (``server._auth``): one row per login, read on a server's first sight of a cookie.
    @abc.abstractmethod
    async def put_ui_session(self, session: StoredUiSession) -> None:
        """Add ``session`` (``StorageError`` if its hash exists)."""

    @abc.abstractmethod
    async def get_ui_session(self, session_hash: str, now: float) -> StoredUiSession | None:
        """The session of that hash, unless there is none or it expired before ``now`` (Unix seconds)."""

    @abc.abstractmethod
    async def delete_ui_session(self, session_hash: str) -> bool:
        """End the session (a logout); whether there was one."""

    @abc.abstractmethod
    async def delete_ui_sessions_of_keys(self, key_ids: Sequence[str]) -> int:
        """End the sessions opened with these API keys (revoked); how many there were."""

    @abc.abstractmethod
    async def purge_ui_sessions(self, now: float) -> int:
        """Delete the sessions that expired before ``now``; how many."""

    # The audit log (``server._audit``): appended in batches, read newest first.
    @abc.abstractmethod
    async def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Add ``entries`` (their ``seq`` is ignored: the store numbers them), in one transaction."""

    @abc.abstractmethod
    async def read_audit(self, namespaces: Sequence[str] | None, before: int | None, limit: int) -> list[AuditEntry]:
        """Up to ``limit`` entries, newest first, of ``namespaces`` (None: every namespace), with a ``seq``
        below ``before`` (None: from the newest)."""

    # Schedules (``server.features.schedules``): one row each, rewritten whole on the condition of its version,
    # so that two writers (two servers on one PostgreSQL store) cannot lose each other's changes.
    @abc.abstractmethod
    async def create_schedule(self, schedule: StoredSchedule) -> bool:
        """Add ``schedule``; False (and nothing written) if its namespace already has one of its id."""

    @abc.abstractmethod
    async def get_schedule(self, namespace: str, schedule_id: str) -> StoredSchedule | None:
        """The schedule, or None."""

    @abc.abstractmethod
    async def list_schedules(
        self, namespace: str | None, *, after: str = "", limit: int | None = None
    ) -> list[StoredSchedule]:
        """The schedules of ``namespace`` (None: of every namespace), by namespace and id (in byte order); of a
        namespace, only those whose id sorts after ``after``, at most ``limit`` (a page: see list_schedules)."""

    @abc.abstractmethod
    async def update_schedule(self, schedule: StoredSchedule, expected_version: int) -> bool:
        """Replace the schedule's body and version with ``schedule``'s if its stored version is still
        ``expected_version``; False (nothing written) if it is not, or if there is no such schedule."""

    @abc.abstractmethod
    async def delete_schedule(self, namespace: str, schedule_id: str) -> bool:
        """Remove the schedule; False if there was none."""

    # Batch jobs (``server.features.batch``): one row each, rewritten whole on the condition of its version, so a
    # job's progress and its termination (by a call, or another server) cannot lose each other's writes.
    @abc.abstractmethod
    async def create_batch_job(self, job: StoredBatchJob) -> bool:
        """Add ``job``; False (and nothing written) if its namespace already has one of its id."""

    @abc.abstractmethod
    async def get_batch_job(self, namespace: str, job_id: str) -> StoredBatchJob | None:
        """The job, or None."""

    @abc.abstractmethod
    async def list_batch_jobs(self, namespace: str | None, *, running: bool = False) -> list[StoredBatchJob]:
        """The jobs of ``namespace`` (None: of every namespace), newest first; ``running``: only those RUNNING."""

    @abc.abstractmethod
    async def update_batch_job(self, job: StoredBatchJob, expected_version: int) -> bool:
        """Replace the job's row with ``job`` if its stored version is still ``expected_version``; False
        (nothing written) if it is not, or if there is no such job."""

    # --- search attributes (``server.features.search_attributes``); a run's values are its pending item of
    # kind "sa", which the store indexes (``search_attribute_values``) for list filters ---

    async def add_search_attribute(self, namespace: str, name: str, type_name: str, created_at: float) -> str | None:
        """Register a custom search attribute; the type it already had if it was registered (then unchanged)."""
        raise NotImplementedError

    async def list_search_attributes(self, namespace: str | None) -> list[tuple[str, str, str]]:
        """(namespace, name, type) of the custom search attributes of ``namespace`` (None: every one)."""
        raise NotImplementedError

    async def remove_search_attribute(self, namespace: str, name: str) -> bool:
        """Unregister one; False if it was not registered. Runs keep the values they hold."""
        raise NotImplementedError

    # Moving a whole store to another (``store copy``, see ``storage._copy``). Runs are read in pages by
    # run id, in byte order (the same order in every store), with their values as the stored text.
    async def export_runs(self, after: str, limit: int) -> list[StoredRun]:
        """Up to ``limit`` runs (closed or not) whose ids come after ``after`` in byte order, in that order,
        each with its state, its pending items and whether it is its workflow id's current run (not its
        history: ``export_events``)."""
        raise StorageError(f"{type(self).__name__} cannot be copied from")

    async def export_events(
        self, run_ids: Sequence[str], first_event_id: int = 1, last_event_id: int = 2**62
    ) -> list[StoredEvent]:
        """The stored events of ``run_ids`` with ids in [first_event_id, last_event_id], ordered by run id
        (byte order) then event id, unchecked."""
        raise StorageError(f"{type(self).__name__} cannot be copied from")

    async def export_server_keys(self) -> list[StoredKey]:
        """Every server key, by name."""
        raise StorageError(f"{type(self).__name__} cannot be copied from")

    async def export_workflow_schemas(self) -> list[StoredSchema]:
        """Every announced input schema and set of handlers."""
        raise StorageError(f"{type(self).__name__} cannot be copied from")

    async def export_worker_builds(self) -> list[StoredBuild]:
        """When each worker build was first seen, by namespace, task queue and build."""
        raise StorageError(f"{type(self).__name__} cannot be copied from")

    async def import_runs(self, runs: Sequence[StoredRun]) -> None:
        """Add ``runs`` as they are (rows, current-run entries, pending items, histories), atomically and
        durably; ``StorageError`` (and nothing added) if any of them clashes with what the store holds."""
        raise StorageError(f"{type(self).__name__} cannot be copied to")

    async def import_metadata(
        self,
        namespaces: Sequence[NamespaceRecord],
        keys: Sequence[StoredKey],
        schemas: Sequence[StoredSchema],
        builds: Sequence[StoredBuild] = (),
    ) -> None:
        """Add or replace namespaces, server keys, workflow schemas and worker builds as given, atomically and
        durably. Keys are replaced too: the runs copied with them hold tokens and links signed with them."""
        raise StorageError(f"{type(self).__name__} cannot be copied to")

    async def count_contents(self) -> StoreCounts:
        """How many namespaces, runs (and open ones), events, pending items, keys and schemas are stored."""
        raise StorageError(f"{type(self).__name__} cannot be counted")
