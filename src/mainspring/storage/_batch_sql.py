"""The SQL both stores share for batch jobs (``Store.create_batch_job``...): the columns in
``StoredBatchJob``'s order, and the SET list of a rewrite (every column but the key), with PostgreSQL's
placeholder (SQLite's store swaps it for its own)."""

from __future__ import annotations

from typing import Any

__all__ = ["BATCH_COLUMNS", "BATCH_SET", "batch_where"]

BATCH_COLUMNS = (
    "namespace, job_id, operation, args, query, rps, state, matched, done, skipped, failed, cursor, "
    "started_at, closed_at, note, version"
)
BATCH_SET = ", ".join(f"{c.strip()}=%s" for c in BATCH_COLUMNS.split(",")[2:])


def batch_where(namespace: str | None, running: bool, p: str) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (with its leading space, or "") of a listing, and its parameters."""
    where: list[str] = []
    params: list[Any] = []
    if namespace is not None:
        where.append(f"namespace={p}")
        params.append(namespace)
    if running:
        where.append("state='RUNNING'")
    return (" WHERE " + " AND ".join(where) if where else ""), tuple(params)
