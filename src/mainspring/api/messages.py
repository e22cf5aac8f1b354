"""The request and answer models of the messages sent to workflows: signals, signal-with-start, queries and
updates (the commands and task fields they need are in ``models``, with the rest of the worker protocol)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .enums import UpdateStage, WorkflowIDReusePolicy
from .fields import HandlerName, Identity, ShortText, TaskQueue, Token, WaitSeconds, WorkflowId, WorkflowType
from .headers import HeaderField
from .models import Failure, SearchAttributesField, _Model
from .start_options import IdConflictPolicyField, IdReusePolicyField, MemoField, StartDelayField, TaskTimeoutField

__all__ = [
    "PollWorkflowUpdateRequest",
    "QueryWorkflowRequest",
    "QueryWorkflowResponse",
    "SignalWithStartWorkflowRequest",
    "SignalWithStartWorkflowResponse",
    "SignalWorkflowRequest",
    "SignalWorkflowResponse",
    "UpdateWorkflowRequest",
    "UpdateWorkflowResponse",
]


# --- Signals ---------------------------------------------------------------------------------------------------


class SignalWorkflowRequest(_Model):
    """Send a signal: recorded in the run's history, then delivered to the workflow's handler of its name."""

    workflow_id: WorkflowId
    run_id: ShortText | None = Field(
        default=None, description="A run id; the newest run of the workflow id when omitted."
    )
    signal_name: HandlerName
    input: Any = Field(default=None, description="The signal's payload as a JSON value (omit for none).")
    request_id: Token | None = Field(
        default=None, description="Idempotency key: a retried signal with the same key is recorded once."
    )
    identity: Identity = Field(default="", description="Who sends it (recorded); the caller's address if empty.")
    header: HeaderField = None


class SignalWorkflowResponse(_Model):
    accepted: Literal[True] = True
    workflow_id: str
    run_id: str = Field(description="The run the signal was recorded for.")
    event_id: int = Field(description="The WorkflowExecutionSignaled event that records it.")
    duplicate: bool = Field(
        default=False, description="A signal with this request id was recorded already: nothing new was recorded."
    )
    warning: str | None = Field(
        default=None,
        description="Set when the workflow's workers announced their signal handlers and none has this name (often "
        "a typo): it names the ones they have and the closest match.",
    )


class SignalWithStartWorkflowRequest(_Model):
    """Signal a workflow, starting it first if no run of its id is running: the run is created with the
    signal recorded in the same write (its first workflow task sees the start, then the signal)."""

    workflow_id: WorkflowId
    workflow_type: WorkflowType = Field(description="The type of the run started if none is running.")
    task_queue: TaskQueue = Field(description="The task queue of the run started if none is running.")
    input: Any = Field(
        default=None, description="The input of the run started if none is running, as a JSON value (omit for none)."
    )
    signal_name: HandlerName
    signal_input: Any = Field(default=None, description="The signal's payload as a JSON value (omit for none).")
    request_id: Token | None = Field(
        default=None,
        description="Idempotency key, of the start and of the signal: a retried call with the same key returns "
        "the run the first one started (or signalled), and records nothing new.",
    )
    identity: Identity = Field(default="", description="Who sends it (recorded); the caller's address if empty.")
    # --- start options of the run started if none is running (api.start_options); the conflict policy is
    # USE_EXISTING (signal the running run) unless TERMINATE_EXISTING is asked: FAIL is refused, as Temporal does ---
    id_reuse_policy: IdReusePolicyField = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    id_conflict_policy: IdConflictPolicyField = None
    start_delay: StartDelayField = None
    memo: MemoField = None
    task_timeout: TaskTimeoutField = None
    header: HeaderField = Field(
        default=None, description="Context carried with the call (see the start's): kept with the start and the signal."
    )
    search_attributes: SearchAttributesField = None


class SignalWithStartWorkflowResponse(_Model):
    workflow_id: str
    run_id: str = Field(description="The run the signal was recorded for: the one started, or the one running.")
    namespace: str
    started: bool = Field(description="No run was running: this call (or the first call of its request id) started it.")
    event_id: int = Field(description="The WorkflowExecutionSignaled event that records the signal.")
    duplicate: bool = Field(
        default=False, description="A call with this request id was made before: nothing new was recorded."
    )
    warning: str | None = Field(
        default=None,
        description="Set when the workers announced their workflow types or signal handlers and none fits (often "
        "a typo): it names the ones they have and the closest match. The signal is recorded all the same.",
    )


# --- Updates ---------------------------------------------------------------------------------------------------


class UpdateWorkflowRequest(_Model):
    """Send an update: the workflow's validator runs first (a rejected update leaves no trace in history); an
    accepted one is recorded, its handler runs, and its outcome is recorded. Sending it again with the same
    ``update_id`` is safe: it is applied once, and the call answers its stage (or outcome) as of now."""

    workflow_id: WorkflowId
    run_id: ShortText | None = Field(
        default=None, description="A run id; the newest run of the workflow id when omitted."
    )
    update_id: Token = Field(description="The update's id (unique among the run's updates).")
    name: HandlerName
    input: Any = Field(default=None, description="The update's payload as a JSON value (omit for none).")
    wait_for_stage: UpdateStage = Field(
        default=UpdateStage.COMPLETED, description="Answer once the update reaches this stage (or sooner: see wait)."
    )
    wait: WaitSeconds = Field(
        default=30.0, description="Seconds to wait for the stage (at most the server's --max-poll-wait)."
    )
    identity: Identity = Field(default="", description="Who sends it (recorded); the caller's address if empty.")
    header: HeaderField = Field(
        default=None,
        description="Context carried with the call (see the start's): handed to the worker with the update (kept in "
        "memory until the workflow accepts or rejects it, not recorded).",
    )


class PollWorkflowUpdateRequest(_Model):
    """Wait for an update sent earlier, by its id: its stage, and its outcome once completed."""

    workflow_id: WorkflowId
    run_id: ShortText | None = None
    update_id: Token
    wait_for_stage: UpdateStage = UpdateStage.COMPLETED
    wait: WaitSeconds = 30.0


class UpdateWorkflowResponse(_Model):
    update_id: str
    workflow_id: str
    run_id: str
    stage: UpdateStage = Field(description="The stage it has reached (ADMITTED: not yet seen by the workflow).")
    result: Any = Field(default=None, description="The handler's result (stage COMPLETED, no failure).")
    failure: Failure | None = Field(
        default=None,
        description="Why it failed: its validator refused it (stage COMPLETED, rejected) or its handler failed.",
    )
    rejected: bool = Field(default=False, description="Its validator refused it: nothing was recorded.")


# --- Queries -------------------------------------------------------------------------------------------------


class QueryWorkflowRequest(_Model):
    """Run a query handler of a workflow against its current state (a closed run's: replayed from its
    history); nothing is recorded."""

    workflow_id: WorkflowId
    run_id: ShortText | None = Field(
        default=None, description="A run id; the newest run of the workflow id when omitted."
    )
    query_name: HandlerName
    input: Any = Field(default=None, description="The query's payload as a JSON value (omit for none).")
    timeout: float | None = Field(
        default=None,
        gt=0,
        le=60,
        allow_inf_nan=False,
        description="Seconds to wait for a worker's answer (default 10, at most 60 and the server's "
        "--max-poll-wait): past it the query fails with 408 no_worker.",
    )
    header: HeaderField = Field(
        default=None, description="Context carried with the call (see the start's): handed to the worker that answers."
    )


class QueryWorkflowResponse(_Model):
    answer: Any = Field(default=None, description="The query handler's answer, as JSON.")
