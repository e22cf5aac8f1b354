"""The closed sets of names that cross the wire: one ``StrEnum`` each."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ActivityState",
    "ApplicationErrorCategory",
    "CommandType",
    "EventType",
    "ParentClosePolicy",
    "TimeoutType",
    "UpdateStage",
    "VersioningBehavior",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
    "WorkflowStatus",
    "WorkflowTaskFailedCause",
]


class WorkflowStatus(StrEnum):
    """The status of one workflow execution (one run)."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TERMINATED = "TERMINATED"
    TIMED_OUT = "TIMED_OUT"
    CONTINUED_AS_NEW = "CONTINUED_AS_NEW"

    @property
    def is_open(self) -> bool:
        """True while the run has not closed."""
        return self is WorkflowStatus.RUNNING


class EventType(StrEnum):
    """The kinds of event in a workflow's history. Names match Temporal's, so its users can read them."""

    WORKFLOW_EXECUTION_STARTED = "WorkflowExecutionStarted"
    WORKFLOW_EXECUTION_COMPLETED = "WorkflowExecutionCompleted"
    WORKFLOW_EXECUTION_FAILED = "WorkflowExecutionFailed"
    WORKFLOW_EXECUTION_CANCEL_REQUESTED = "WorkflowExecutionCancelRequested"
    WORKFLOW_EXECUTION_CANCELED = "WorkflowExecutionCanceled"
    WORKFLOW_EXECUTION_TERMINATED = "WorkflowExecutionTerminated"
    WORKFLOW_EXECUTION_SIGNALED = "WorkflowExecutionSignaled"
    WORKFLOW_EXECUTION_UPDATE_ACCEPTED = "WorkflowExecutionUpdateAccepted"
    WORKFLOW_EXECUTION_UPDATE_COMPLETED = "WorkflowExecutionUpdateCompleted"
    WORKFLOW_TASK_SCHEDULED = "WorkflowTaskScheduled"
    WORKFLOW_TASK_STARTED = "WorkflowTaskStarted"
    WORKFLOW_TASK_COMPLETED = "WorkflowTaskCompleted"
    WORKFLOW_TASK_FAILED = "WorkflowTaskFailed"
    WORKFLOW_TASK_TIMED_OUT = "WorkflowTaskTimedOut"
    ACTIVITY_TASK_SCHEDULED = "ActivityTaskScheduled"
    ACTIVITY_TASK_STARTED = "ActivityTaskStarted"
    ACTIVITY_TASK_COMPLETED = "ActivityTaskCompleted"
    ACTIVITY_TASK_FAILED = "ActivityTaskFailed"
    ACTIVITY_TASK_TIMED_OUT = "ActivityTaskTimedOut"
    ACTIVITY_TASK_CANCEL_REQUESTED = "ActivityTaskCancelRequested"
    ACTIVITY_TASK_CANCELED = "ActivityTaskCanceled"
    TIMER_STARTED = "TimerStarted"
    TIMER_FIRED = "TimerFired"
    TIMER_CANCELED = "TimerCanceled"
    # Continue-as-new and the workflow's own timeouts (``server.features.continue_as_new``, ``workflow_timeouts``).
    WORKFLOW_EXECUTION_CONTINUED_AS_NEW = "WorkflowExecutionContinuedAsNew"
    WORKFLOW_EXECUTION_TIMED_OUT = "WorkflowExecutionTimedOut"
    # Child workflows and external workflows (``server.features.child_workflows``).
    START_CHILD_WORKFLOW_EXECUTION_INITIATED = "StartChildWorkflowExecutionInitiated"
    START_CHILD_WORKFLOW_EXECUTION_FAILED = "StartChildWorkflowExecutionFailed"
    CHILD_WORKFLOW_EXECUTION_STARTED = "ChildWorkflowExecutionStarted"
    CHILD_WORKFLOW_EXECUTION_COMPLETED = "ChildWorkflowExecutionCompleted"
    CHILD_WORKFLOW_EXECUTION_FAILED = "ChildWorkflowExecutionFailed"
    CHILD_WORKFLOW_EXECUTION_CANCELED = "ChildWorkflowExecutionCanceled"
    CHILD_WORKFLOW_EXECUTION_TERMINATED = "ChildWorkflowExecutionTerminated"
    CHILD_WORKFLOW_EXECUTION_TIMED_OUT = "ChildWorkflowExecutionTimedOut"
    SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED = "SignalExternalWorkflowExecutionInitiated"
    SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED = "SignalExternalWorkflowExecutionFailed"
    EXTERNAL_WORKFLOW_EXECUTION_SIGNALED = "ExternalWorkflowExecutionSignaled"
    REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED = "RequestCancelExternalWorkflowExecutionInitiated"
    REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED = "RequestCancelExternalWorkflowExecutionFailed"
    EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED = "ExternalWorkflowExecutionCancelRequested"
    #: A marker a workflow task recorded: a local activity's outcome (marker_name "LocalActivity").
    MARKER_RECORDED = "MarkerRecorded"
    #: Workflow code upserted search attributes (``ctx.upsert_search_attributes``).
    UPSERT_WORKFLOW_SEARCH_ATTRIBUTES = "UpsertWorkflowSearchAttributes"
    #: Workflow code upserted its memo (``ctx.upsert_memo``).
    WORKFLOW_PROPERTIES_MODIFIED = "WorkflowPropertiesModified"


class CommandType(StrEnum):
    """What a workflow task asks the server to do."""

    SCHEDULE_ACTIVITY = "ScheduleActivity"
    START_TIMER = "StartTimer"
    CANCEL_TIMER = "CancelTimer"
    COMPLETE_WORKFLOW = "CompleteWorkflow"
    FAIL_WORKFLOW = "FailWorkflow"
    CANCEL_WORKFLOW = "CancelWorkflow"
    REQUEST_CANCEL_ACTIVITY = "RequestCancelActivity"
    ACCEPT_UPDATE = "AcceptUpdate"
    COMPLETE_UPDATE = "CompleteUpdate"
    CONTINUE_AS_NEW_WORKFLOW = "ContinueAsNewWorkflow"
    START_CHILD_WORKFLOW = "StartChildWorkflow"
    SIGNAL_EXTERNAL_WORKFLOW = "SignalExternalWorkflow"
    REQUEST_CANCEL_EXTERNAL_WORKFLOW = "RequestCancelExternalWorkflow"
    RECORD_MARKER = "RecordMarker"
    UPSERT_WORKFLOW_SEARCH_ATTRIBUTES = "UpsertWorkflowSearchAttributes"
    MODIFY_WORKFLOW_PROPERTIES = "ModifyWorkflowProperties"


class ParentClosePolicy(StrEnum):
    """What happens to a child workflow that is still running when its parent closes."""

    #: The child is terminated (the default, as in Temporal).
    TERMINATE = "TERMINATE"
    #: The child is asked to cancel (its code sees the request and decides how to end).
    REQUEST_CANCEL = "REQUEST_CANCEL"
    #: Nothing: the child runs on by itself.
    ABANDON = "ABANDON"


class UpdateStage(StrEnum):
    """How far an update has got: admitted (the server has it), accepted (its validator passed and it is in
    history), completed (its handler returned or failed; the outcome is in history)."""

    ADMITTED = "ADMITTED"
    ACCEPTED = "ACCEPTED"
    COMPLETED = "COMPLETED"


class TimeoutType(StrEnum):
    """Which activity timeout fired."""

    SCHEDULE_TO_CLOSE = "SCHEDULE_TO_CLOSE"
    START_TO_CLOSE = "START_TO_CLOSE"
    SCHEDULE_TO_START = "SCHEDULE_TO_START"
    HEARTBEAT = "HEARTBEAT"


class WorkflowTaskFailedCause(StrEnum):
    """Why a worker (or the server) failed a workflow task."""

    WORKFLOW_CODE_ERROR = "WORKFLOW_CODE_ERROR"
    NON_DETERMINISTIC = "NON_DETERMINISTIC"
    UNKNOWN_WORKFLOW_TYPE = "UNKNOWN_WORKFLOW_TYPE"
    BAD_COMMAND = "BAD_COMMAND"
    WORKER_LOST = "WORKER_LOST"
    #: The server refused the task's commands: they would go past one of its limits (``--limit-*``).
    PENDING_ACTIVITIES_LIMIT_EXCEEDED = "PENDING_ACTIVITIES_LIMIT_EXCEEDED"
    HISTORY_LIMIT_EXCEEDED = "HISTORY_LIMIT_EXCEEDED"
    #: Not a worker's: the task a reset went back to, failed in the new run so that it runs again.
    RESET_WORKFLOW = "RESET_WORKFLOW"


class ActivityState(StrEnum):
    """Where a pending activity is in its life."""

    SCHEDULED = "SCHEDULED"
    STARTED = "STARTED"
    BACKOFF = "BACKOFF"


# --- workflow start options ---------------------------------------------------------------------------------


class VersioningBehavior(StrEnum):
    """Which workers of a task queue run a workflow's later tasks, once a worker with a ``build_id`` ran
    its first (Temporal's names; ``Worker(build_id=..., versioning=...)``, ``@workflow.defn(versioning_behavior=)``).

    New runs always go to the queue's current build: of the builds with a live worker, the one whose first
    worker started last."""

    #: The run stays on workers of the build that started it, to its end; a newer build gets new runs only.
    PINNED = "PINNED"
    #: The run moves to the queue's current build at its next workflow task (its code must replay the
    #: older build's history: ``ctx.patched`` for changes).
    AUTO_UPGRADE = "AUTO_UPGRADE"


class WorkflowIDReusePolicy(StrEnum):
    """Whether a start may make a new run of a workflow id whose last run has closed (Temporal's names).
    While a run of the id is running, ``WorkflowIDConflictPolicy`` decides instead."""

    #: A new run, whatever the last one's outcome (the default).
    ALLOW_DUPLICATE = "ALLOW_DUPLICATE"
    #: A new run only if the last one did not complete successfully (it failed, was cancelled or
    #: terminated, or timed out).
    ALLOW_DUPLICATE_FAILED_ONLY = "ALLOW_DUPLICATE_FAILED_ONLY"
    #: Never a second run of the id.
    REJECT_DUPLICATE = "REJECT_DUPLICATE"
    #: Terminate a running run of the id, then start (Temporal's older spelling of ``ALLOW_DUPLICATE`` with
    #: ``WorkflowIDConflictPolicy.TERMINATE_EXISTING``).
    TERMINATE_IF_RUNNING = "TERMINATE_IF_RUNNING"


class WorkflowIDConflictPolicy(StrEnum):
    """What a start does when a run of its workflow id is running (Temporal's names)."""

    #: Refuse: ``AlreadyStartedError`` (the default).
    FAIL = "FAIL"
    #: Take the running run instead of starting one (the start answers its run id).
    USE_EXISTING = "USE_EXISTING"
    #: Terminate the running run, then start a new one.
    TERMINATE_EXISTING = "TERMINATE_EXISTING"


class ApplicationErrorCategory(StrEnum):
    """What kind of failure an ``ApplicationError`` is, for how loudly it is reported (Temporal's).

    ``BENIGN``: an expected outcome (a polling activity that is not done yet, a known rejection): the
    worker logs it at debug rather than as a warning. Retries are unchanged."""

    UNSPECIFIED = "UNSPECIFIED"
    BENIGN = "BENIGN"
