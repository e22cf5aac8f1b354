"""The HTTP/JSON API's request and response bodies.

These models are the single description of the wire format: the server validates requests with
them, the OpenAPI document is generated from them, and the client builds its requests from them.
Durations are seconds (float); times are RFC 3339 strings in UTC; payloads are plain JSON values.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .enums import (
    CommandType,
    EventType,
    ParentClosePolicy,
    VersioningBehavior,
    WorkflowIDReusePolicy,
    WorkflowStatus,
    WorkflowTaskFailedCause,
)
from .fields import (
    MAX_EVENT_ID,
    ActivityId,
    ActivityType,
    Attempts,
    BuildId,
    Coefficient,
    EventId,
    HandlerName,
    Identity,
    NamespaceName,
    PositiveSeconds,
    Seconds,
    ShortText,
    TaskQueue,
    TaskToken,
    Text,
    TimerId,
    Token,
    UnixTime,
    WaitSeconds,
    WorkflowId,
    WorkflowType,
)
from .headers import HeaderField
from .roles import Role
from .start_options import IdConflictPolicyField, IdReusePolicyField, MemoField, StartDelayField, TaskTimeoutField

__all__ = [
    "AcceptUpdateCommand",
    "AcceptedResponse",
    "ActivityTask",
    "ActivityTasks",
    "ApiKey",
    "AuditEntry",
    "AuditResponse",
    "CancelRequestInfo",
    "CancelTimerCommand",
    "CancelWorkflowCommand",
    "CancelWorkflowRequest",
    "CancelWorkflowResponse",
    "ChildWorkflowInfo",
    "ClusterResponse",
    "ClusterServer",
    "ClusterShard",
    "Command",
    "CompleteActivityTaskRequest",
    "CompleteActivityTaskResponse",
    "CompleteUpdateCommand",
    "CompleteWorkflowCommand",
    "CompleteWorkflowTaskRequest",
    "CompleteWorkflowTaskResponse",
    "Continuation",
    "ContinuationResult",
    "ContinueAsNewWorkflowCommand",
    "CountGroup",
    "CountWorkflowsResponse",
    "CreateApiKeyRequest",
    "CreateNamespaceRequest",
    "CreatedApiKey",
    "DeleteWorkflowRequest",
    "DeleteWorkflowResponse",
    "DescribeWorkflowResponse",
    "ErrorBody",
    "Event",
    "FailActivityTaskRequest",
    "FailWorkflowCommand",
    "FailWorkflowTaskRequest",
    "Failure",
    "HandlerInfo",
    "HealthResponse",
    "HeartbeatActivityTaskRequest",
    "HeartbeatActivityTaskResponse",
    "HistoryResponse",
    "ListApiKeysResponse",
    "ListNamespacesResponse",
    "ListWorkflowsResponse",
    "Namespace",
    "OkResponse",
    "ParentWorkflowInfo",
    "PendingActivity",
    "PendingTimer",
    "PendingWorkflowTask",
    "PollRequest",
    "RegisterWorkerRequest",
    "RegisterWorkerResponse",
    "RejectedUpdate",
    "RequestCancelActivityCommand",
    "RequestCancelExternalWorkflowCommand",
    "ResetLink",
    "ResetWorkflowRequest",
    "ResetWorkflowResponse",
    "RetryPolicyModel",
    "RevokeApiKeyRequest",
    "ScheduleActivityCommand",
    "ServerLoad",
    "SignalExternalWorkflowCommand",
    "StackCoroutine",
    "StackFrame",
    "StartChildWorkflowCommand",
    "StartTimerCommand",
    "StartWorkflowRequest",
    "StartWorkflowResponse",
    "TaskQueueBacklog",
    "TaskQueueInfo",
    "TaskQueueWorker",
    "TaskQueuesResponse",
    "TerminateWorkflowRequest",
    "TerminateWorkflowResponse",
    "UpdateRequest",
    "WaitResultRequest",
    "WorkflowExecutionInfo",
    "WorkflowResultResponse",
    "WorkflowStackResponse",
    "WorkflowTask",
    "WorkflowTaskHistoryRequest",
    "WorkflowTaskHistoryResponse",
    "WorkflowTasks",
    "WorkflowTypeInfo",
]


def _refuse_bool(value: Any) -> Any:
    """A number field's check before its type's: JSON's true and false are not numbers (pydantic's lax mode
    would take them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ErrorBody(_Model):
    """Every 4xx/5xx answer has this body."""

    code: str = Field(description="Stable machine-readable name, e.g. 'invalid_argument', 'already_started'.")
    message: str = Field(description="One line that says what is wrong and how to fix it.")
    details: Any = None


class Failure(BaseModel):
    """A failure as recorded in history: message, type, stack, details and an optional cause chain."""

    model_config = ConfigDict(extra="allow")
    message: str
    type: str | None = None
    kind: str = "application"
    stack: str | None = None
    non_retryable: bool = False
    details: list[Any] | None = None
    cause: Failure | None = None
    next_retry_delay: Seconds | None = Field(
        default=None,
        description="An activity's failure: wait this long before its next attempt, instead of the retry "
        "policy's backoff (its attempts and timeouts still apply).",
    )
    category: Literal["UNSPECIFIED", "BENIGN"] | None = Field(
        default=None, description="BENIGN: an expected failure, logged quietly (at debug) by the worker."
    )


class RetryPolicyModel(_Model):
    initial_interval: PositiveSeconds = 1.0
    backoff_coefficient: Coefficient = 2.0
    maximum_interval: PositiveSeconds | None = Field(
        default=None, description="The longest wait between attempts (default: 100 x initial_interval)."
    )
    maximum_attempts: Attempts = Field(default=0, description="0: unlimited.")
    non_retryable_error_types: list[ShortText] = Field(default_factory=list, max_length=1000)

    @field_validator("initial_interval", "backoff_coefficient", "maximum_interval", "maximum_attempts", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        return _refuse_bool(value)

    @model_validator(mode="after")
    def _interval_order(self) -> RetryPolicyModel:
        if self.maximum_interval is not None and self.maximum_interval < self.initial_interval:
            raise ValueError(
                f"maximum_interval ({self.maximum_interval:g}) must not be less than initial_interval "
                f"({self.initial_interval:g})"
            )
        return self


# The lifetime options of a workflow (``server.features.workflow_timeouts``), declared once: a start
# (``StartWorkflowRequest``) and a child's start (``StartChildWorkflowCommand``) take them alike.
ExecutionTimeoutField = Annotated[
    PositiveSeconds | None,
    BeforeValidator(_refuse_bool),
    Field(
        description="How long the whole workflow may take, across its retries and continue-as-new runs; then the "
        "open run closes as TIMED_OUT. Default: no limit.",
    ),
]
RunTimeoutField = Annotated[
    PositiveSeconds | None,
    BeforeValidator(_refuse_bool),
    Field(description="How long one run may take; then it closes as TIMED_OUT (and may be retried)."),
]
WorkflowRetryPolicyField = Annotated[
    RetryPolicyModel | None,
    Field(
        description="Retry the workflow: a run that fails (or times out by run_timeout) is followed, after the "
        "policy's backoff, by a new run of the same id with the same input. Default: no retries.",
    ),
]


# --- Search attributes (``server.features.search_attributes``) ------------------------------------------

SearchAttributesField = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=64)], Any] | None,
    Field(
        max_length=100,
        description="Custom search attributes, by name: each a value of its registered type (Keyword and Text a "
        "string, Int an integer, Double a finite number, Bool true or false, Datetime an RFC 3339 time, KeywordList "
        "a list of strings). 400 naming the attribute for one not registered in the namespace, or of another type.",
    ),
]


class SearchAttributeValue(_Model):
    type: str
    value: Any


class SearchAttributeType(StrEnum):
    KEYWORD = "Keyword"
    TEXT = "Text"
    INT = "Int"
    DOUBLE = "Double"
    BOOL = "Bool"
    DATETIME = "Datetime"
    KEYWORD_LIST = "KeywordList"


class CreateSearchAttributeRequest(_Model):
    name: str = Field(min_length=1, max_length=64, description="Letters, digits and _, not starting with a digit.")
    type: SearchAttributeType


class RemoveSearchAttributeRequest(_Model):
    name: str = Field(min_length=1, max_length=64)


class SearchAttributeInfo(_Model):
    name: str
    type: str
    builtin: bool = Field(description="Set by the server on every run (read-only), not registered.")


class ListSearchAttributesResponse(_Model):
    search_attributes: list[SearchAttributeInfo]


# --- Namespaces ----------------------------------------------------------------------------------------


class CreateNamespaceRequest(_Model):
    name: NamespaceName
    description: Text = ""


class Namespace(_Model):
    name: str
    description: str = ""
    created_at: str


class ListNamespacesResponse(_Model):
    namespaces: list[Namespace]


# --- API keys ----------------------------------------------------------------------------------------------


class CreateApiKeyRequest(_Model):
    name: Annotated[str, Field(min_length=1, max_length=200, description="What the key is for, to tell keys apart.")]
    namespace: Annotated[
        str, Field(min_length=1, max_length=1000, description='The namespace it is for, or "*" for every one.')
    ]
    role: Role


class RevokeApiKeyRequest(_Model):
    key_id: Annotated[str, Field(min_length=1, max_length=100)]


class ApiKey(_Model):
    key_id: str
    name: str
    namespace: str
    role: str
    created_at: str
    created_by: str
    revoked_at: str | None = None


class CreatedApiKey(ApiKey):
    api_key: str = Field(description="The key itself: shown this once, stored only as a hash.")


class ListApiKeysResponse(_Model):
    keys: list[ApiKey]


class AuditEntry(_Model):
    seq: int = Field(description="Its place in the log: pass it as before= for the older entries.")
    at: str
    namespace: str
    principal: str = Field(description="Who: an API key's name and id, or a token's subject.")
    method: str = Field(description="How they proved it: api-key, oidc or session (the web UI).")
    operation: str
    target: str = Field(description="What the call named: a workflow id, a key id.")
    peer: str = Field(description="The caller's address.")
    status: int = Field(description="The HTTP status it was answered (200 for a success on a channel).")
    request_id: str


class AuditResponse(_Model):
    entries: list[AuditEntry]


# --- The server ------------------------------------------------------------------------------------------


class ServerLoad(_Model):
    starts_in_flight: int = Field(description="Workflow starts being made now.")
    starts_refused: int = Field(description="Starts refused as overload (429) since the server started.")
    loop_late_ms_10s: float = Field(
        description="The server's event loop at its worst over the last 10 seconds: how many milliseconds "
        "late it woke (measured every 20 ms). Every call waits that long when the loop is behind."
    )


class HealthResponse(_Model):
    status: Literal["ok"]
    version: str
    store: str | None = Field(
        default=None,
        description="The store the server keeps its state in (left out for a caller a server with --auth does "
        "not know: it names paths and hosts).",
    )
    load: ServerLoad | None = None


class ClusterServer(_Model):
    """A server sharing the store, as the store records it."""

    node: str = Field(description="Its node name (host-pid-random unless set), unique among the servers.")
    address: str = Field(description="Where its API answers (host:port); empty if it registered none.")
    status: Literal["active", "standby", "draining", "gone"] = Field(
        description="active: holds a live lease and serves; standby: alive, waiting to take over; draining: "
        "told to hand the store over (`mainspring cluster drain`); gone: not seen within a lease."
    )
    started_at: str
    seen_at: str = Field(description="When it last renewed its lease or announced itself (the database's clock).")
    this: bool = Field(description="It is the server that answered this request.")


class ClusterShard(_Model):
    """A shard's lease: the server holding it writes the shard's executions, fenced by its epoch."""

    shard: int
    owner: str | None = Field(description="The holder's node name; null if nobody ever held it.")
    owner_address: str | None = None
    epoch: int = Field(description="Bumped at each takeover: writes carrying an older epoch are refused.")
    expires_at: str | None
    live: bool = Field(description="Held and not yet expired.")


class ClusterResponse(_Model):
    """The servers sharing this server's store and the store's shard leases, read from the store."""

    store: str = Field(description="The store, as messages name it (passwords redacted).")
    kind: Literal["sqlite", "postgresql"]
    shared: bool = Field(description="Several servers can share it (PostgreSQL); a SQLite file has one.")
    now: str = Field(description="The time the view was read at, by the clock leases are measured by.")
    lease_seconds: float | None = Field(description="How long a lease lasts unless renewed; null for SQLite.")
    servers: list[ClusterServer]
    shards: list[ClusterShard]


class OkResponse(_Model):
    """The call was done; there is nothing more to say."""

    ok: Literal[True]


class AcceptedResponse(_Model):
    """The report was recorded."""

    accepted: Literal[True]


# --- Starting and reading workflows ----------------------------------------------------------------------


class StartWorkflowRequest(_Model):
    workflow_id: WorkflowId
    workflow_type: WorkflowType
    task_queue: TaskQueue
    input: Any = Field(default=None, description="The workflow's argument as a JSON value (omit for none).")
    request_id: Token | None = Field(
        default=None, description="Idempotency key: a retried start with the same key returns the same run."
    )
    # The workflow's lifetime (``server.features.workflow_timeouts``).
    execution_timeout: ExecutionTimeoutField = None
    run_timeout: RunTimeoutField = None
    retry_policy: WorkflowRetryPolicyField = None

    # --- start options: the id policies, a start delay, a memo, the task timeout (api.start_options) ---
    id_reuse_policy: IdReusePolicyField = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    id_conflict_policy: IdConflictPolicyField = None
    start_delay: StartDelayField = None
    memo: MemoField = None
    task_timeout: TaskTimeoutField = None
    header: HeaderField = None
    search_attributes: SearchAttributesField = None
    # Temporal's older cron workflows (``server.features.cron_workflows``).
    cron_schedule: ShortText | None = Field(
        default=None,
        description="A cron expression (UTC): the first run waits for its first time, and each run that completes, "
        "fails or times out is followed by a new run of the same workflow id at the next time.",
    )


class StartWorkflowResponse(_Model):
    workflow_id: str
    run_id: str
    namespace: str
    warning: str | None = Field(
        default=None,
        description="Set when the workers polling the task queue have announced their workflow types and none "
        "runs this one (often a typo): it names the types they run and the closest match. The run was started "
        "all the same, and waits for a worker that runs its type.",
    )


class WorkflowExecutionInfo(_Model):
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: WorkflowStatus
    start_time: str
    close_time: str | None = None
    history_length: int
    #: In a listing: the run's custom search attributes (as describe shows them), if it has any.
    search_attributes: dict[str, SearchAttributeValue] | None = None


class PendingActivity(_Model):
    activity_id: str
    activity_type: str
    scheduled_event_id: int
    state: str
    attempt: int
    scheduled_time: str
    last_started_time: str | None = None
    last_heartbeat_time: str | None = None
    heartbeat_details: Any = None
    last_failure: Failure | None = None
    next_attempt_time: str | None = None
    last_worker_identity: str | None = None
    cancel_requested: bool = Field(
        default=False, description="The workflow asked to cancel it; it ends as soon as its worker stops it."
    )
    completing_async: bool = Field(
        default=False,
        description="Its worker let go of the running attempt (activity.raise_complete_async()): it is completed "
        "from elsewhere, by task token or by ids (complete_activity, fail_activity, heartbeat_activity).",
    )


class PendingTimer(_Model):
    timer_id: str
    started_event_id: int
    fire_time: str


class PendingWorkflowTask(_Model):
    state: str
    attempt: int
    scheduled_time: str
    started_time: str | None = None
    last_failure: Failure | None = None
    hint: str | None = Field(
        default=None,
        description="Why no worker picks the task up, when the server can tell: 'no worker polling this task "
        "queue', 'no worker here runs this type (...)', or 'pinned to build ..., and no worker of that build "
        "polls ...'. Null while a worker that may run it polls the queue.",
    )


class CancelRequestInfo(_Model):
    """A cancellation asked of a run (its WorkflowExecutionCancelRequested event)."""

    event_id: int
    time: str
    reason: str = ""
    identity: str = ""


class ParentWorkflowInfo(_Model):
    """The workflow that started this run as its child."""

    namespace: str
    workflow_id: str
    run_id: str
    initiated_event_id: int = Field(description="Its StartChildWorkflowExecutionInitiated event.")


class ChildWorkflowInfo(_Model):
    """A child workflow this run started."""

    workflow_id: str
    run_id: str | None = Field(default=None, description="Null until the child's run exists.")
    workflow_type: str
    task_queue: str
    initiated_event_id: int
    status: str = Field(
        description="INITIATED (being started), START_FAILED, RUNNING, or the status it closed with "
        "(COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT), as far as this run's history says."
    )
    parent_close_policy: ParentClosePolicy


class ResetLink(_Model):
    """One end of a reset (``workflow reset``): the other run, and the reset point in the base run."""

    run_id: str = Field(description="The other run: the new run (reset_to), or the base run (reset_from).")
    event_id: int = Field(description="The base run's workflow task event the reset went back to.")
    reason: str = Field(default="", description="Why it was reset.")


class DescribeWorkflowResponse(_Model):
    execution: WorkflowExecutionInfo
    input: Any = None
    result: Any = None
    failure: Failure | None = Field(
        default=None,
        description="Why the run did not complete: its failure, or a CancelledError / TerminatedError (kind "
        "'cancelled' / 'terminated', the reason as message) for a cancelled or terminated run.",
    )
    pending_activities: list[PendingActivity] = Field(default_factory=list)
    pending_timers: list[PendingTimer] = Field(default_factory=list)
    pending_workflow_task: PendingWorkflowTask | None = None
    cancel_requested: CancelRequestInfo | None = Field(
        default=None, description="Set once a cancellation was requested (the run may still be cleaning up)."
    )
    problem: str | None = Field(
        default=None,
        description="Why the server set this run aside (its stored state cannot be read): it is not run, "
        "and its pending work is not shown, until it is terminated or its row repaired. Null for a healthy run.",
    )
    handlers: list[HandlerInfo] | None = Field(
        default=None,
        description="The signal, query and update handlers its workflow type's workers announced on its task "
        "queue (kind, name, payload schema; a null name is the dynamic handler), in their order; null if none "
        "was announced (a function workflow, or no worker of the type has polled yet).",
    )
    # The run's chain (continue-as-new, retries of the workflow).
    previous_run_id: str | None = Field(default=None, description="The run this one continued (or retried), if any.")
    next_run_id: str | None = Field(
        default=None, description="The run that continued (or retried) this one once it closed, if any."
    )
    parent: ParentWorkflowInfo | None = Field(default=None, description="The parent, for a child workflow.")
    children: list[ChildWorkflowInfo] = Field(
        default_factory=list, description="The child workflows this run started, oldest first (at most 1,000)."
    )
    # --- what the run was started with: memo, start delay, task timeout (api.start_options) ---
    memo: dict[str, Any] | None = Field(
        default=None, description="The run's memo: the one it was started with, as its workflow code upserted it."
    )
    search_attributes: dict[str, SearchAttributeValue] = Field(
        default_factory=dict, description="The run's custom search attributes, by name: each one's type and value."
    )
    start_delay: float | None = Field(
        default=None,
        description="Seconds its first workflow task waited (or waits) after the start, if it was delayed.",
    )
    execution_time: str | None = Field(
        default=None,
        description="When its first workflow task is (or was) dispatched: start_time plus start_delay (null if not "
        "delayed). A signal-with-start during the delay dispatches it at once.",
    )
    task_timeout: float | None = Field(default=None, description="Its workflow task timeout, in seconds.")
    # --- builds (``server.features.versioning``) ---
    build_id: str | None = Field(
        default=None, description="The build of the worker that ran its first workflow task (null: unversioned)."
    )
    current_build_id: str | None = Field(default=None, description="The build that ran its latest workflow task.")
    versioning_behavior: VersioningBehavior | None = Field(
        default=None, description="PINNED (stays on build_id) or AUTO_UPGRADE (moves to the queue's current build)."
    )
    children_count: int = Field(default=0, description="How many child workflows this run started.")
    # --- reset (``server.features.reset``) ---
    reset_from: ResetLink | None = Field(
        default=None, description="This run was made by a reset of that run, from that event (null if not)."
    )
    reset_to: ResetLink | None = Field(
        default=None, description="This run was reset: the new run made from it (null if it never was)."
    )


class ListWorkflowsResponse(_Model):
    executions: list[WorkflowExecutionInfo]
    next_page_token: str | None = None


class CountGroup(_Model):
    """The runs of one group (one ExecutionStatus) of a count."""

    group_values: list[str] = Field(description='The group\'s values, e.g. ["Running"] for a group by status.')
    count: int


class CountWorkflowsResponse(_Model):
    """How many runs a list filter selects (Temporal's CountWorkflowExecutions)."""

    count: int = Field(description="How many runs the query selects, in every group.")
    groups: list[CountGroup] = Field(
        default_factory=list, description="With group_by: the count of each group that has runs."
    )


class Event(_Model):
    event_id: int
    event_time: str
    event_type: EventType
    attributes: dict[str, Any]


class HistoryResponse(_Model):
    events: list[Event]
    next_page_token: str | None = None


class WaitResultRequest(_Model):
    """Wait (up to ``wait`` seconds) for a run to close; the newest run of the id if ``run_id`` is omitted."""

    workflow_id: WorkflowId
    run_id: ShortText | None = None
    wait: WaitSeconds = 30.0


class WorkflowResultResponse(_Model):
    """The outcome of a run; ``status`` RUNNING means the wait timed out and the caller should ask again."""

    workflow_id: str
    run_id: str
    status: WorkflowStatus
    result: Any = None
    failure: Failure | None = None


# --- Cancelling and terminating -------------------------------------------------------------------------------


class _RunAction(_Model):
    """An action on one run, recorded in its history with who asked and why."""

    workflow_id: WorkflowId
    run_id: ShortText | None = Field(
        default=None, description="A run id; the newest run of the workflow id when omitted."
    )
    reason: Text = Field(default="", description="Why; recorded in history.")
    identity: Identity = Field(default="", description="Who asks (recorded); the caller's address if empty.")


class CancelWorkflowRequest(_RunAction):
    """Ask a running workflow to cancel: its code gets ``asyncio.CancelledError`` where it waits, and may
    clean up; its pending activities and timers are cancelled."""


class CancelWorkflowResponse(_Model):
    accepted: bool = True
    workflow_id: str
    run_id: str = Field(description="The run the cancellation was recorded for.")
    already_requested: bool = Field(
        default=False, description="A cancellation had already been requested: nothing new was recorded."
    )


class TerminateWorkflowRequest(_RunAction):
    """End a running workflow at once, without running any more of its code."""


class TerminateWorkflowResponse(_Model):
    accepted: bool = True
    workflow_id: str
    run_id: str = Field(description="The run that was terminated.")


class DeleteWorkflowRequest(_RunAction):
    """Delete a run with its history and pending work; a running run is terminated first (``reason`` is then
    the termination's)."""


class DeleteWorkflowResponse(_Model):
    workflow_id: str
    run_id: str = Field(description="The run that was deleted.")
    terminated: bool = Field(description="It was running: it was terminated, then deleted.")


# --- Where a workflow waits -----------------------------------------------------------------------------------


class StackFrame(_Model):
    file: str
    line: int
    function: str
    code: str = Field(description="The source line, stripped ('' if the file cannot be read).")


class StackCoroutine(_Model):
    name: str
    frames: list[StackFrame] = Field(description="The workflow code's own frames, outermost first, innermost last.")


class WorkflowStackResponse(_Model):
    """Where each of a workflow's coroutines waits, asked live of the worker that holds it in memory."""

    workflow_id: str
    run_id: str
    worker: str | None = Field(default=None, description="Identity of the worker that answered (or was asked).")
    coroutines: list[StackCoroutine] = Field(default_factory=list)
    message: str | None = Field(default=None, description="Why there are no coroutines to show, if there are none.")


# --- Task queues ---------------------------------------------------------------------------------------------


class TaskQueueWorker(_Model):
    identity: str
    session_id: str
    last_seen: str = Field(description="When the server last heard from it (now, for a worker on an open channel).")
    connected_since: str
    workflow_types: list[str] = Field(default_factory=list)
    activity_types: list[str] = Field(default_factory=list)
    channel: bool = Field(description="Connected over a worker channel (WebSocket) rather than HTTP polls.")
    build_id: str | None = Field(default=None, description="The build of its code, if it declared one.")


class TaskQueueBuild(_Model):
    build_id: str
    workers: int = Field(description="Live workers of this build polling the queue.")
    current: bool = Field(description="New runs go to this build (the most recently started worker's).")
    pinned_backlog: int = Field(description="Workflow tasks of runs pinned to this build, waiting for its worker.")


class TaskQueueBacklog(_Model):
    workflow: int = Field(description="Workflow tasks ready and waiting for a worker.")
    activity: int = Field(description="Activity tasks ready and waiting for a worker.")


class TaskQueueInfo(_Model):
    name: str
    workers: list[TaskQueueWorker] = Field(default_factory=list)
    backlog: TaskQueueBacklog
    builds: list[TaskQueueBuild] = Field(
        default_factory=list, description="The builds polling the queue (workers that declared a build id)."
    )


class TaskQueuesResponse(_Model):
    task_queues: list[TaskQueueInfo]


# --- Workers ------------------------------------------------------------------------------------------------


class HandlerInfo(_Model):
    """A message handler a class workflow has: the server checks messages' payloads against its schema."""

    kind: Literal["signal", "query", "update"]
    name: HandlerName | None = Field(default=None, description="Its message name; null for the dynamic handler.")
    input_schema: dict[str, Any] | None = Field(default=None, description="JSON schema of its payload.")


class WorkflowTypeInfo(_Model):
    name: WorkflowType
    input_schema: dict[str, Any] | None = Field(
        default=None,
        description="JSON schema of the workflow's input; the server validates starts against it.",
    )
    handlers: list[HandlerInfo] | None = Field(
        default=None,
        max_length=10_000,
        description="The workflow's signal, query and update handlers (a class workflow); null if none announced.",
    )
    versioning_behavior: VersioningBehavior | None = Field(
        default=None,
        description="A worker with a build id: whether the runs of this type it starts stay on its build (PINNED) "
        "or move to the queue's current build (AUTO_UPGRADE, the default).",
    )


class RegisterWorkerRequest(_Model):
    identity: Identity
    task_queue: TaskQueue
    workflow_types: list[WorkflowTypeInfo] = Field(default_factory=list, max_length=10_000)
    activity_types: list[ActivityType] = Field(default_factory=list, max_length=10_000)
    build_id: BuildId | None = Field(
        default=None,
        description="The build of the worker's code. New runs go to the queue's current build: the build of "
        "the worker started most recently (started_at).",
    )
    started_at: UnixTime | None = Field(
        default=None,
        description="When the worker process started (Unix seconds): orders the builds of a task queue.",
    )


class RegisterWorkerResponse(_Model):
    session_id: str
    heartbeat_interval: float = Field(description="Seconds between the heartbeats the worker must send.")
    session_timeout: float = Field(description="Seconds without a heartbeat after which the session ends.")
    max_payload_bytes: int


class PollRequest(_Model):
    session_id: Token
    timeout: WaitSeconds | None = Field(default=None, description="Seconds to wait for a task (server-capped).")
    max_tasks: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Channel polls (poll_workflow_tasks, poll_activity_tasks): how many ready tasks one "
        "answer may carry. The poll waits for the first; the others are only those ready at that moment.",
    )


class WorkflowTask(_Model):
    task_token: str
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    started_event_id: int
    history: list[Event] = Field(description="Events from first_event_id up to and including the task's start.")
    first_event_id: int = Field(
        description="1 for the whole history; more when only new events are sent, or when the history is longer "
        "than a page (1,000 events or about 4 MB): fetch the events before it with get_workflow_task_history "
        "(worker channel) or the history API."
    )
    updates: list[UpdateRequest] = Field(
        default_factory=list,
        description="Updates waiting for the workflow: the worker runs each one's validator, and accepts it (an "
        "AcceptUpdate command) or rejects it (rejected_updates of the completion). Left out when there are none.",
    )
    task_timeout: float | None = Field(
        default=None,
        description="Seconds the worker has to complete this task (a worker running local activities longer "
        "completes it before then with force_new_task, and goes on in the next).",
    )


class UpdateRequest(_Model):
    """An update waiting to be accepted or rejected by the workflow."""

    update_id: str
    name: str
    input: Any = None


class WorkflowTaskHistoryRequest(_Model):
    """A page of the history a workflow task left out (worker channel op ``get_workflow_task_history``)."""

    task_token: TaskToken
    first_event_id: EventId
    last_event_id: EventId = Field(description="The last event wanted; a page may stop before it.")


class WorkflowTaskHistoryResponse(_Model):
    events: list[Event]
    next_event_id: int | None = Field(
        default=None, description="Where the next page starts, if the page stopped before last_event_id."
    )


class ActivityTask(_Model):
    task_token: str
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    activity_id: str
    activity_type: str
    scheduled_event_id: int
    task_queue: str
    input: Any = Field(default=None, description="The activity's argument (left out when input_from_command is set).")
    input_from_command: bool = Field(
        default=False,
        description="An eager task handed back in the answer to the workflow task (or continuation) whose "
        "ScheduleActivity command scheduled it: the input is left out, and the worker takes it from that "
        "command (the one with this activity_id), which it sent. Tasks from polls always carry their input.",
    )
    attempt: int
    scheduled_time: str
    started_time: str
    heartbeat_details: Any = None
    schedule_to_close_timeout: float | None = None
    start_to_close_timeout: float | None = None
    heartbeat_timeout: float | None = None
    header: HeaderField = Field(
        default=None, description="The header of the ScheduleActivity command (left out when it had none)."
    )


class WorkflowTasks(_Model):
    """The answer of a channel's poll_workflow_tasks: empty when no task arrived in time."""

    tasks: list[WorkflowTask]


class ActivityTasks(_Model):
    """The answer of a channel's poll_activity_tasks: empty when no task arrived in time."""

    tasks: list[ActivityTask]


# --- Commands (what a completed workflow task asks for) -----------------------------------------------------


class ScheduleActivityCommand(_Model):
    type: Literal[CommandType.SCHEDULE_ACTIVITY] = CommandType.SCHEDULE_ACTIVITY
    activity_id: ActivityId
    activity_type: ActivityType
    task_queue: TaskQueue | None = None
    input: Any = None
    schedule_to_close_timeout: PositiveSeconds | None = None
    start_to_close_timeout: PositiveSeconds | None = None
    schedule_to_start_timeout: PositiveSeconds | None = None
    heartbeat_timeout: PositiveSeconds | None = None
    retry_policy: RetryPolicyModel | None = None
    header: HeaderField = None


class StartTimerCommand(_Model):
    type: Literal[CommandType.START_TIMER] = CommandType.START_TIMER
    timer_id: TimerId
    duration: Seconds


class CancelTimerCommand(_Model):
    type: Literal[CommandType.CANCEL_TIMER] = CommandType.CANCEL_TIMER
    timer_id: TimerId


class RequestCancelActivityCommand(_Model):
    """Cancel a pending activity: one not started yet ends at once, a running one when its worker stops it."""

    type: Literal[CommandType.REQUEST_CANCEL_ACTIVITY] = CommandType.REQUEST_CANCEL_ACTIVITY
    scheduled_event_id: EventId = Field(description="The activity's ActivityTaskScheduled event id.")


class CompleteWorkflowCommand(_Model):
    type: Literal[CommandType.COMPLETE_WORKFLOW] = CommandType.COMPLETE_WORKFLOW
    result: Any = None


class FailWorkflowCommand(_Model):
    type: Literal[CommandType.FAIL_WORKFLOW] = CommandType.FAIL_WORKFLOW
    failure: Failure


class AcceptUpdateCommand(_Model):
    """The workflow accepted an update (its validator passed): WorkflowExecutionUpdateAccepted is written, and
    its handler runs."""

    type: Literal[CommandType.ACCEPT_UPDATE] = CommandType.ACCEPT_UPDATE
    update_id: Token
    name: HandlerName
    input: Any = None


class CompleteUpdateCommand(_Model):
    """An accepted update's handler returned (``result``) or failed (``failure``)."""

    type: Literal[CommandType.COMPLETE_UPDATE] = CommandType.COMPLETE_UPDATE
    update_id: Token
    result: Any = None
    failure: Failure | None = None


class CancelWorkflowCommand(_Model):
    """Close the run as CANCELED (only after a cancellation was requested)."""

    type: Literal[CommandType.CANCEL_WORKFLOW] = CommandType.CANCEL_WORKFLOW
    details: Any = None


class ContinueAsNewWorkflowCommand(_Model):
    """Close the run as CONTINUED_AS_NEW and start the next run of the same workflow id, in one commit."""

    type: Literal[CommandType.CONTINUE_AS_NEW_WORKFLOW] = CommandType.CONTINUE_AS_NEW_WORKFLOW
    input: Any = Field(default=None, description="The next run's input.")
    workflow_type: WorkflowType | None = Field(default=None, description="The next run's type (default: this one's).")
    task_queue: TaskQueue | None = Field(default=None, description="The next run's task queue (default: this one's).")
    header: HeaderField = Field(
        default=None, description="The next run's start header (its WorkflowExecutionStarted's); omit for none."
    )


class StartChildWorkflowCommand(_Model):
    """Start a child workflow: its run is created once this task is recorded, linked to this one."""

    type: Literal[CommandType.START_CHILD_WORKFLOW] = CommandType.START_CHILD_WORKFLOW
    workflow_id: WorkflowId
    workflow_type: WorkflowType
    task_queue: TaskQueue | None = Field(default=None, description="The parent's task queue when omitted.")
    input: Any = None
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE
    # The child's own start options: those of a start (``StartWorkflowRequest``), declared once.
    execution_timeout: ExecutionTimeoutField = None
    run_timeout: RunTimeoutField = None
    task_timeout: TaskTimeoutField = None
    retry_policy: WorkflowRetryPolicyField = None
    id_reuse_policy: IdReusePolicyField = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    memo: MemoField = None
    search_attributes: SearchAttributesField = None
    header: HeaderField = None
    started_awaited: bool = Field(
        default=True,
        description="The workflow code waits for ChildWorkflowExecutionStarted (start_child_workflow returns its "
        "handle then). False: it only awaits the child's result (execute_child_workflow), so recording the start "
        "does not wake the parent unless the parent did something since the command.",
    )


class SignalExternalWorkflowCommand(_Model):
    """Signal another workflow (a child, or any workflow of the namespace)."""

    type: Literal[CommandType.SIGNAL_EXTERNAL_WORKFLOW] = CommandType.SIGNAL_EXTERNAL_WORKFLOW
    workflow_id: WorkflowId
    run_id: ShortText | None = Field(default=None, description="The newest run of the workflow id when omitted.")
    signal_name: HandlerName
    input: Any = None
    header: HeaderField = Field(
        default=None, description="Goes with the signal into the other run's WorkflowExecutionSignaled event."
    )


class RequestCancelExternalWorkflowCommand(_Model):
    """Ask another workflow (a child, or any workflow of the namespace) to cancel."""

    type: Literal[CommandType.REQUEST_CANCEL_EXTERNAL_WORKFLOW] = CommandType.REQUEST_CANCEL_EXTERNAL_WORKFLOW
    workflow_id: WorkflowId
    run_id: ShortText | None = Field(default=None, description="The newest run of the workflow id when omitted.")
    reason: Text = ""


class RecordMarkerCommand(_Model):
    """Record a marker in history: what the workflow worked out in the task itself, to be read back on replay
    instead of worked out again (a local activity's outcome: marker_name "LocalActivity", details
    ``{"activity_type", "attempt", "result"}`` or ``{..., "failure", "retry_state"}``)."""

    type: Literal[CommandType.RECORD_MARKER] = CommandType.RECORD_MARKER
    marker_name: HandlerName
    marker_id: Token = Field(description="Unique among the run's markers of that name (a sequence number).")
    details: Any = None


class UpsertWorkflowSearchAttributesCommand(_Model):
    """Set (or, with null, unset) some of the run's custom search attributes: recorded as
    UpsertWorkflowSearchAttributes, applied to the run's attributes (what list filters read) in the same commit."""

    type: Literal[CommandType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES] = CommandType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    search_attributes: SearchAttributesField = None


class ModifyWorkflowPropertiesCommand(_Model):
    """Change the run's memo: each key given is set (null removes it). Recorded as WorkflowPropertiesModified."""

    type: Literal[CommandType.MODIFY_WORKFLOW_PROPERTIES] = CommandType.MODIFY_WORKFLOW_PROPERTIES
    upserted_memo: MemoField = None


Command = Annotated[
    ScheduleActivityCommand
    | StartTimerCommand
    | CancelTimerCommand
    | RequestCancelActivityCommand
    | CompleteWorkflowCommand
    | FailWorkflowCommand
    | CancelWorkflowCommand
    | AcceptUpdateCommand
    | CompleteUpdateCommand
    | ContinueAsNewWorkflowCommand
    | StartChildWorkflowCommand
    | SignalExternalWorkflowCommand
    | RequestCancelExternalWorkflowCommand
    | RecordMarkerCommand
    | UpsertWorkflowSearchAttributesCommand
    | ModifyWorkflowPropertiesCommand,
    Field(discriminator="type"),
]


class RejectedUpdate(_Model):
    """An update the workflow's validator (or the worker: no handler of its name) refused: nothing is recorded."""

    update_id: Token
    failure: Failure


class CompleteWorkflowTaskRequest(_Model):
    task_token: TaskToken
    commands: list[Command] = Field(default_factory=list, max_length=10_000)
    rejected_updates: list[RejectedUpdate] = Field(default_factory=list, max_length=10_000)
    sticky: bool = Field(default=True, description="The worker keeps this workflow cached; send it later tasks.")
    eager_activity_slots: int = Field(
        default=0, ge=0, le=1000, description="Up to this many scheduled activities may be handed back at once."
    )
    force_new_task: bool = Field(
        default=False,
        description="Schedule the next workflow task at once (sticky), though nothing new happened: the worker "
        "is still running local activities and completes this task before it times out (a heartbeat).",
    )
    want_next_run_task: bool = Field(
        default=False,
        description="The worker has a free slot for the first workflow task of the run this task's "
        "ContinueAsNewWorkflow command starts: hand it back in the answer (next_run_task) if this worker's "
        "session runs that run's workflow type on its task queue.",
    )


class CompleteWorkflowTaskResponse(_Model):
    accepted: bool = True
    events: list[Event] = Field(
        default_factory=list,
        description=(
            "The events written, for a sticky worker's cached copy of the workflow; without the payloads "
            "its commands carried (input, result, failure, details): the worker sent them, the history has them."
        ),
    )
    activity_tasks: list[ActivityTask] = Field(
        default_factory=list,
        description="Activities handed over eagerly, without their input (input_from_command): the worker "
        "takes it from its ScheduleActivity commands.",
    )
    next_run_task: WorkflowTask | None = Field(
        default=None,
        description="The first workflow task of the run this task continued as new into (want_next_run_task). "
        "Such an answer goes out once the close and the new run's create are submitted, before they are durable; "
        "the new run's task is refused if they fail.",
    )


class FailWorkflowTaskRequest(_Model):
    task_token: TaskToken
    cause: WorkflowTaskFailedCause
    failure: Failure


class Continuation(_Model):
    """The workflow task a worker already ran on an activity's result (see complete_activity_task)."""

    base_event_id: int = Field(
        ge=0, le=MAX_EVENT_ID, description="The last history event the worker had seen before this result."
    )
    started_time: str = Field(
        max_length=64, description="When the worker ran the workflow code (RFC 3339): the workflow's ctx.now()."
    )
    commands: list[Command] = Field(default_factory=list, max_length=10_000)


class CompleteActivityTaskRequest(_Model):
    task_token: TaskToken
    result: Any = None
    continuation: Continuation | None = None
    want_workflow_task: bool = Field(
        default=False, description="Hand back the workflow task this result causes, if this worker holds it."
    )
    eager_activity_slots: int = Field(default=0, ge=0, le=1000)


class ContinuationResult(_Model):
    accepted: bool
    reason: str | None = None
    events: list[Event] = Field(
        default_factory=list,
        description="The events written from WorkflowTaskCompleted on, without the payloads the commands carried.",
    )


class CompleteActivityTaskResponse(_Model):
    accepted: bool = True
    continuation: ContinuationResult | None = None
    workflow_task: WorkflowTask | None = None
    activity_tasks: list[ActivityTask] = Field(
        default_factory=list,
        description="Activities the continuation's commands scheduled, handed over eagerly, without their "
        "input (input_from_command): the worker takes it from those commands.",
    )


class FailActivityTaskRequest(_Model):
    task_token: TaskToken
    failure: Failure


class HeartbeatActivityTaskRequest(_Model):
    task_token: TaskToken
    details: Any = None


class HeartbeatActivityTaskResponse(_Model):
    cancel_requested: bool = Field(
        default=False, description="The workflow cancelled this activity: stop it (report it as cancelled)."
    )


# --- Reset (``server.features.reset``) ------------------------------------------------------------------------


class ResetWorkflowRequest(_RunAction):
    """Make a new run of the workflow id from a workflow task of this run's history (Temporal's
    ResetWorkflowExecution): the events up to that task's WorkflowTaskStarted are copied, the task is failed
    (cause RESET_WORKFLOW), the signals received and the updates accepted after it reapplied, and a new workflow
    task scheduled, so the code after that point runs again. The run is terminated first if it is still running."""

    event_id: EventId | None = Field(
        default=None,
        description="The reset point: a WorkflowTaskCompleted, WorkflowTaskFailed or WorkflowTaskTimedOut event "
        "id (or the task's WorkflowTaskStarted). Exactly one of event_id and reset_type.",
    )
    reset_type: Literal["FirstWorkflowTask", "LastWorkflowTask"] | None = Field(
        default=None, description="The reset point by kind: the first or the last completed workflow task."
    )
    reapply_exclude: list[Literal["All", "Signal", "Update"]] = Field(
        default_factory=list,
        max_length=3,
        description="What of what happened after the reset point is not reapplied to the new run (Temporal's "
        "--reapply-exclude). By default both kinds are: the signals are recorded in the new run again, the updates "
        "accepted are requested of it again under their ids (so awaiting one by id gives the new run's outcome).",
    )

    @field_validator("event_id", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("must be a number, not a string")
        return _refuse_bool(value)

    @model_validator(mode="after")
    def _one_point(self) -> ResetWorkflowRequest:
        if (self.event_id is None) == (self.reset_type is None):
            raise ValueError("give exactly one of event_id and reset_type (FirstWorkflowTask or LastWorkflowTask)")
        return self


class ResetWorkflowResponse(_Model):
    workflow_id: str
    run_id: str = Field(description="The new run.")
    base_run_id: str = Field(description="The run that was reset.")
    reset_event_id: int = Field(description="The base run's workflow task event the new run was made from.")
    terminated: bool = Field(description="The base run was running: it was terminated.")
