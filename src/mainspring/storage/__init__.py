"""Durable storage behind one interface (``Store``), chosen from a URL by ``open_store``.

``sqlite:///path/to/file.db`` (or a bare path, or ``:memory:``) selects the embedded SQLite store;
``postgresql://user:password@host:5432/dbname`` (or ``postgres://``) the PostgreSQL store.
"""

from ._base import (
    AuditEntry,
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
    StoreCounts,
    StoredApiKey,
    StoredBatchJob,
    StoredBuild,
    StoredEvent,
    StoredKey,
    StoredRun,
    StoredSchedule,
    StoredSchema,
    StoredUiSession,
    StoreOwnershipError,
)
from ._copy import CopyError, CopyProgress, CopyReport, copy_store, copy_urls
from .sqlite import SQLiteStore

__all__ = [
    "AuditEntry",
    "ConditionFailedError",
    "CopyError",
    "CopyProgress",
    "CopyReport",
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
    "StoreCounts",
    "StoreOwnershipError",
    "StoredApiKey",
    "StoredBatchJob",
    "StoredBuild",
    "StoredEvent",
    "StoredKey",
    "StoredRun",
    "StoredSchedule",
    "StoredSchema",
    "StoredUiSession",
    "copy_store",
    "copy_urls",
    "store_from_url",
]


def store_from_url(url: str, *, migrate: bool = True, standby: bool = False) -> Store:
    """Build (not open) the store that ``url`` names. ``migrate``: bring its schema up to date when it is
    opened (else refuse a schema that is behind); ``standby``: wait for a store held by another server
    (PostgreSQL) instead of refusing it."""
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, migrate=migrate, standby=standby)
    scheme = url.split("://", 1)[0] if "://" in url else None
    if scheme is not None and scheme != "sqlite":
        raise StorageError(
            f"unknown database URL scheme {scheme!r} in {url.split('@')[-1]!r}: use sqlite:///path/to/file.db "
            "or postgresql://user:password@host:5432/dbname"
        )
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        # sqlite:///x.db is x.db (relative), sqlite:////abs/x.db is /abs/x.db (as SQLAlchemy reads them).
        path = path[1:] if path.startswith("/") else path
        return SQLiteStore(path or ":memory:", migrate=migrate)
    return SQLiteStore(url, migrate=migrate)
