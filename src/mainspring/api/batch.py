"""The request and answer models of batch operations (``server.features.batch``): one cancel, terminate, signal or
reset applied to every run a list filter selects, as a durable job on the server (Temporal's
StartBatchOperation, DescribeBatchOperation, ListBatchOperations, StopBatchOperation)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from .._visibility._ast import MAX_QUERY_LENGTH
from .fields import HandlerName, Identity, Text, UnixTime, WorkflowId
from .models import _Model

__all__ = [
    "DEFAULT_BATCH_RPS",
    "MAX_BATCH_RPS",
    "BatchJobModel",
    "BatchJobState",
    "BatchOperation",
    "ListBatchJobsResponse",
    "StartBatchRequest",
    "TerminateBatchRequest",
]

#: Runs a second a batch job goes at when the request names no rate (Temporal's default).
DEFAULT_BATCH_RPS = 50.0
#: The fastest a job may be asked to go.
MAX_BATCH_RPS = 10_000.0


class BatchOperation(StrEnum):
    """What a batch job does to each run."""

    CANCEL = "cancel"
    TERMINATE = "terminate"
    SIGNAL = "signal"
    RESET = "reset"


class BatchJobState(StrEnum):
    """Where a batch job is (Temporal's BatchOperationState, with TERMINATED for a job stopped by a call)."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TERMINATED = "TERMINATED"


class StartBatchRequest(_Model):
    """Start a batch job: ``operation`` applied to every run ``query`` selects."""

    operation: BatchOperation
    query: str = Field(
        max_length=MAX_QUERY_LENGTH,
        description="A list filter in Temporal's language (as list_workflows takes); its ORDER BY is ignored: "
        "runs are walked newest first.",
    )
    job_id: WorkflowId | None = Field(default=None, description="The job's id; a new one is made when omitted.")
    reason: Text = Field(default="", description="Why; recorded in each run's history (cancel, terminate, reset).")
    signal_name: HandlerName | None = Field(default=None, description="The signal's name (operation signal).")
    input: Any = Field(default=None, description="The signal's payload as a JSON value (operation signal).")
    reset_type: Literal["FirstWorkflowTask", "LastWorkflowTask"] | None = Field(
        default=None, description="Where each run is reset to (operation reset; LastWorkflowTask by default)."
    )
    reapply_exclude: list[Literal["All", "Signal", "Update"]] = Field(
        default_factory=list,
        max_length=3,
        description="What of what happened after the reset point is not reapplied (operation reset).",
    )
    rps: float | None = Field(
        default=None,
        gt=0,
        le=MAX_BATCH_RPS,
        allow_inf_nan=False,
        description=f"At most this many runs a second (default {DEFAULT_BATCH_RPS:g}).",
    )
    identity: Identity = Field(default="", description="Who asks (recorded); the caller's address if empty.")


class TerminateBatchRequest(_Model):
    """Stop a running batch job: the runs it dealt with stay as they are, the others are left alone."""

    job_id: WorkflowId
    reason: Text = ""
    identity: Identity = ""


class BatchJobModel(_Model):
    """A batch job and how far it got."""

    job_id: str
    operation: BatchOperation
    query: str
    state: BatchJobState
    reason: str = Field(description="The reason given for the operation.")
    rps: float
    matched: int = Field(description="How many runs the query selected when the job started (an estimate).")
    done: int = Field(description="Runs the operation was applied to.")
    skipped: int = Field(description="Runs left alone: closed by then, or already asked (a cancellation).")
    failed: int = Field(description="Runs the operation was refused for (see the server's log).")
    started_at: UnixTime
    closed_at: UnixTime | None = None
    identity: str
    note: str = Field(description="Why it ended as it did (who terminated it, what failed); empty while it runs.")


class ListBatchJobsResponse(_Model):
    jobs: list[BatchJobModel]
