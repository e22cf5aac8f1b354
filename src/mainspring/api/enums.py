"""The closed sets of names that cross the wire: one ``StrEnum`` each."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ActivityState",
    "CommandType",
    "EventType",
    "TimeoutType",
    "UpdateStage",
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
    #: A marker a workflow task recorded: a local activity's outcome (marker_name "LocalActivity").
    MARKER_RECORDED = "MarkerRecorded"


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
    RECORD_MARKER = "RecordMarker"


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


class ActivityState(StrEnum):
    """Where a pending activity is in its life."""

    SCHEDULED = "SCHEDULED"
    STARTED = "STARTED"
    BACKOFF = "BACKOFF"
