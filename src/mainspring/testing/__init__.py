"""Testing workflows and activities: ``ActivityEnvironment`` runs an activity function directly, with a
made-up ``activity.info()``, its heartbeats captured and cancellation at hand (Temporal's
``temporalio.testing.ActivityEnvironment``)."""

from ._activity import ActivityEnvironment, default_activity_info

__all__ = ["ActivityEnvironment", "default_activity_info"]
