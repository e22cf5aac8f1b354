"""The requests of async activity completion: reporting on an activity attempt from outside its worker.

An activity that called ``activity.raise_complete_async()`` is finished by someone else (a client, the
CLI, another service), who names the attempt by its task token or by its workflow id (and optionally run
id) and activity id, and heartbeats it, completes it, fails it or reports it cancelled. The worker tells
the server it let go of the attempt with ``ReleaseActivityTaskRequest``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from .fields import ActivityId, ShortText, TaskToken, WorkflowId
from .models import Failure, _Model

__all__ = [
    "ActivityTarget",
    "CompleteActivityRequest",
    "FailActivityRequest",
    "HeartbeatActivityRequest",
    "ReleaseActivityTaskRequest",
    "ReportActivityCancellationRequest",
]


class ActivityTarget(_Model):
    """Which activity attempt: ``task_token``, or ``workflow_id`` and ``activity_id`` (and ``run_id``,
    else the workflow's newest run), whose current attempt it then is."""

    task_token: TaskToken | None = Field(default=None, description="The attempt's task token (activity.info()).")
    workflow_id: WorkflowId | None = None
    run_id: ShortText | None = Field(default=None, description="Default: the newest run of workflow_id.")
    activity_id: ActivityId | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ActivityTarget:
        by_ids = self.workflow_id is not None or self.activity_id is not None or self.run_id is not None
        if self.task_token is not None and by_ids:
            raise ValueError("name the activity by task_token or by workflow_id and activity_id, not both")
        if self.task_token is None and (self.workflow_id is None or self.activity_id is None):
            raise ValueError("name the activity by task_token, or by workflow_id and activity_id (both)")
        return self


class CompleteActivityRequest(ActivityTarget):
    result: Any = None


class FailActivityRequest(ActivityTarget):
    failure: Failure = Field(description="Why it failed; the attempt is retried per the activity's retry policy.")


class HeartbeatActivityRequest(ActivityTarget):
    details: Any = None


class ReportActivityCancellationRequest(ActivityTarget):
    details: Any = None


class ReleaseActivityTaskRequest(_Model):
    """A worker lets go of an attempt it was handed: it is completed from elsewhere."""

    task_token: TaskToken
