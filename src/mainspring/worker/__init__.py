"""The worker: runs workflows and activities from a task queue."""

from .._gc import tune_gc
from ._processes import SharedStateManager
from ._worker import Worker

__all__ = ["SharedStateManager", "Worker", "tune_gc"]
