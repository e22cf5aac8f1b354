"""Testing workflows and activities (Temporal's ``temporalio.testing`` shapes): ``WorkflowEnvironment.start_local()``
runs a real server in the test's own process; ``ActivityEnvironment`` runs an activity function directly,
with a made-up ``activity.info()``, its heartbeats captured and cancellation at hand."""

from ._activity import ActivityEnvironment, default_activity_info
from ._environment import WorkflowEnvironment

__all__ = ["ActivityEnvironment", "WorkflowEnvironment", "default_activity_info"]
