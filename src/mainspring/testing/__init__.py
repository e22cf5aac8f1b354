"""Testing workflows and activities (Temporal's ``temporalio.testing`` shapes): ``WorkflowEnvironment.start_local()``
runs a real server in the test's own process (``start_time_skipping()``: on a clock that skips to its next
timer; a workflow stuck in a busy loop is reported by the worker's deadlock detector and its run ended, see
``_environment``); ``ActivityEnvironment`` runs an activity function directly,
with a made-up ``activity.info()``, its heartbeats captured and cancellation at hand."""

from ._activity import ActivityEnvironment, default_activity_info
from ._environment import WorkflowEnvironment

__all__ = ["ActivityEnvironment", "WorkflowEnvironment", "default_activity_info"]
