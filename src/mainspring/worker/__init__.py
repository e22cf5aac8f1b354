"""The worker: runs workflows and activities from a task queue."""

from .._gc import tune_gc
from ._processes import SharedStateManager
from ._replayer import Replayer, WorkflowHistory, WorkflowReplayResult, WorkflowReplayResults
from ._worker import Worker

__all__ = [
    "Replayer",
    "SharedStateManager",
    "Worker",
    "WorkflowHistory",
    "WorkflowReplayResult",
    "WorkflowReplayResults",
    "tune_gc",
]
