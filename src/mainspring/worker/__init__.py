"""The worker: runs workflows and activities from a task queue."""

from .._gc import tune_gc
from ._worker import Worker

__all__ = ["Worker", "tune_gc"]
