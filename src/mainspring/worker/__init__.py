"""The worker: runs workflows and activities from a task queue."""

from .._gc import tune_gc
from ..api.enums import VersioningBehavior
from ._processes import SharedStateManager
from ._replayer import Replayer, WorkflowHistory, WorkflowReplayResult, WorkflowReplayResults
from ._worker import Worker

__all__ = [
    "Replayer",
    "SharedStateManager",
    "VersioningBehavior",
    "Worker",
    "WorkflowHistory",
    "WorkflowReplayResult",
    "WorkflowReplayResults",
    "tune_gc",
]
