"""The worker: runs workflows and activities from a task queue."""

from ._worker import Worker

__all__ = ["Worker"]
