"""Durable storage behind one interface (``Store``), chosen from a URL by ``open_store``.

``sqlite:///path/to/file.db`` (or a bare path, or ``:memory:``) selects the embedded SQLite store.
A PostgreSQL store will plug in here under ``postgresql://`` without touching the engine.
"""

from ._base import (
    ConditionFailedError,
    ExecutionAlreadyRunningError,
    ExecutionRecord,
    ExecutionWrite,
    HistoryEvent,
    ListQuery,
    NamespaceRecord,
    PendingItem,
    StorageError,
    Store,
    StoreOwnershipError,
)
from .sqlite import SQLiteStore

__all__ = [
    "ConditionFailedError",
    "ExecutionAlreadyRunningError",
    "ExecutionRecord",
    "ExecutionWrite",
    "HistoryEvent",
    "ListQuery",
    "NamespaceRecord",
    "PendingItem",
    "SQLiteStore",
    "StorageError",
    "Store",
    "StoreOwnershipError",
    "store_from_url",
]


def store_from_url(url: str) -> Store:
    """Build (not open) the store that ``url`` names."""
    if url.startswith(("postgresql://", "postgres://")):
        raise StorageError("PostgreSQL storage is not available yet; use a SQLite file")
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        path = path[1:] if path.startswith("/") and not path.startswith("//") else path
        return SQLiteStore(path or ":memory:")
    return SQLiteStore(url)
