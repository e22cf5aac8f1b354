"""``store copy``: move everything a store holds into another one (SQLite to PostgreSQL, and back).

What moves: namespaces, the server's secret keys (so that task tokens handed to workers, and links signed
with them, stay good), the workflow types' announced schemas and handlers, the schedules (with what they
have done, so none fires a time again), and every run, closed or open, with its row as stored (run id,
version, state), its workflow id's current-run entry, its pending items (activities, timers with their fire
times) and its whole history. API keys and the audit log stay behind (see ``_copy_schedules``). A server
started on the destination then carries on where one on the source stopped, as it would after a restart:
it rebuilds its timers and task queues from the open runs, and closed runs list and describe as before.

Only through the ``Store`` interface (``export_*``, ``import_*``, ``count_contents``), in pages: a page of
runs by run id, their histories read in batches of about ``EVENTS_PER_BATCH`` events (a run with more is read
alone, in pages), each batch written to the destination as one transaction while the next is read.

Both stores are opened as a server opens them, so each is held for the copy's whole length: a server holding
the source (its SQLite file lock, its PostgreSQL lease) makes the copy refuse, and no server can start on
either side until the copy is done. The destination must hold no runs: a copy is not a merge. At the end the
destination's counts are checked against the source's (``CopyReport``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields

from ._base import StorageError, Store, StoreCounts, StoredRun, StoreOwnershipError

__all__ = ["CopyError", "CopyProgress", "CopyReport", "copy_store", "copy_urls"]

#: Runs read from the source per page.
RUNS_PER_PAGE = 200
#: About this many events per batch written to the destination (a longer history is one batch of its own).
EVENTS_PER_BATCH = 5000


class CopyError(StorageError):
    """A copy was refused (a store in use, a destination that holds runs) or failed, said in one line."""


@dataclass(frozen=True, slots=True)
class CopyProgress:
    """How far a copy is: runs and events written to the destination so far."""

    runs: int
    total_runs: int
    events: int
    total_events: int


@dataclass(frozen=True, slots=True)
class CopyReport:
    """What a finished copy found on each side: the source's counts, the destination's before and after."""

    source: StoreCounts
    destination_before: StoreCounts
    destination: StoreCounts
    seconds: float
    #: Schedules copied (the destination's own, if it had any, are kept beside them).
    schedules: int = 0


async def copy_store(src: Store, dst: Store, *, progress: Callable[[CopyProgress], None] | None = None) -> CopyReport:
    """Copy everything ``src`` holds into ``dst`` (both open, ``dst`` holding no runs) and check the counts.

    ``CopyError`` if ``dst`` holds runs, or if writing to it failed (it then holds part of the copy), or if
    its counts do not add up at the end."""
    started = time.monotonic()
    before = await dst.count_contents()
    if before.executions:
        raise CopyError(
            f"the destination {dst.description} already holds {before.executions:,} workflow runs: "
            "copy into an empty database"
        )
    source = await src.count_contents()
    namespaces = await src.list_namespaces()
    keys = await src.export_server_keys()
    schemas = await src.export_workflow_schemas()
    builds = await src.export_worker_builds()
    # What the destination had (a server started on it once made its default namespace and its keys): the
    # source's replace them, and the counts at the end add only the new ones.
    had_namespaces = {n.name for n in await dst.list_namespaces()}
    had_keys = {k.name for k in await dst.export_server_keys()}
    had_schemas = {(s.namespace, s.task_queue, s.workflow_type) for s in await dst.export_workflow_schemas()}
    had_builds = {(b.namespace, b.task_queue, b.build_id) for b in await dst.export_worker_builds()}
    await _written(dst.import_metadata(namespaces, keys, schemas, builds), dst, 0)
    schedules = await _copy_schedules(src, dst)
    # The custom search attributes each namespace registered (the runs' values come with their pending items:
    # the destination's trigger indexes them as they are written).
    await _written(_register(dst, await src.list_search_attributes(None)), dst, 0)

    runs = events = 0
    writing: asyncio.Future[None] | None = None
    try:
        after = ""
        while page := await src.export_runs(after, RUNS_PER_PAGE):
            after = page[-1].record.run_id
            for batch in _batches(page):
                await _read_events(src, batch)
                if writing is not None:
                    await writing
                # Written while the next batch is read from the source.
                writing = asyncio.ensure_future(_written(dst.import_runs(batch), dst, runs))
                runs += len(batch)
                events += sum(len(r.events) for r in batch)
                if progress is not None:
                    progress(CopyProgress(runs, source.executions, events, source.events))
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
            await asyncio.gather(writing, return_exceptions=True)

    after_counts = await dst.count_contents()
    expected = StoreCounts(
        namespaces=before.namespaces + len({n.name for n in namespaces} - had_namespaces),
        executions=before.executions + source.executions,
        open_executions=before.open_executions + source.open_executions,
        events=before.events + source.events,
        pending=before.pending + source.pending,
        server_keys=before.server_keys + len({k.name for k in keys} - had_keys),
        workflow_schemas=before.workflow_schemas
        + len({(s.namespace, s.task_queue, s.workflow_type) for s in schemas} - had_schemas),
        worker_builds=before.worker_builds
        + len({(b.namespace, b.task_queue, b.build_id) for b in builds} - had_builds),
    )
    if after_counts != expected or runs != source.executions:
        wrong = ", ".join(
            f"{f.name} {getattr(after_counts, f.name):,} (expected {getattr(expected, f.name):,})"
            for f in fields(StoreCounts)
            if getattr(after_counts, f.name) != getattr(expected, f.name)
        )
        what = f"the destination holds {wrong}" if wrong else f"{runs:,} runs were read, not {source.executions:,}"
        raise CopyError(f"the copy does not add up: {what}")
    return CopyReport(source, before, after_counts, time.monotonic() - started, schedules)


async def _copy_schedules(src: Store, dst: Store) -> int:
    """Copy the schedules (few rows, each written alone); how many. One the destination already has under the
    same id is a conflict a copy does not settle: ``CopyError`` naming it. (API keys stay behind: keys made
    for a dev store, often pasted into terminals and scripts, must not open a production one.)"""
    schedules = await src.list_schedules(None)
    for schedule in schedules:
        try:
            made = await dst.create_schedule(schedule)
        except StorageError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CopyError(f"writing schedule {schedule.schedule_id!r} to {dst.description} failed: {first}") from None
        if not made:
            raise CopyError(
                f"the destination {dst.description} already has a schedule {schedule.schedule_id!r} in namespace "
                f"{schedule.namespace!r}: delete it there, or copy into an empty database"
            )
    return len(schedules)


def _batches(page: Sequence[StoredRun]) -> list[list[StoredRun]]:
    """``page`` cut into batches of about ``EVENTS_PER_BATCH`` events, by the runs' event counts."""
    batches: list[list[StoredRun]] = []
    batch: list[StoredRun] = []
    size = 0
    for run in page:
        n = run.record.next_event_id - 1
        if batch and size + n > EVENTS_PER_BATCH:
            batches.append(batch)
            batch, size = [], 0
        batch.append(run)
        size += n
    if batch:
        batches.append(batch)
    return batches


async def _read_events(src: Store, batch: list[StoredRun]) -> None:
    """Fill in the histories of ``batch``: in one read, or for one long history, in pages."""
    if len(batch) == 1 and batch[0].record.next_event_id - 1 > EVENTS_PER_BATCH:
        run = batch[0]
        first = 1
        while first < run.record.next_event_id:
            run.events += await src.export_events([run.record.run_id], first, first + EVENTS_PER_BATCH - 1)
            first += EVENTS_PER_BATCH
        return
    by_run = {r.record.run_id: r for r in batch}
    for event in await src.export_events(list(by_run)):
        by_run[event[0]].events.append(event)


async def _register(dst: Store, attributes: Sequence[tuple[str, str, str]]) -> None:
    for namespace, name, type_name in attributes:
        await dst.add_search_attribute(namespace, name, type_name, time.time())


async def _written(write: Awaitable[None], dst: Store, runs_before: int) -> None:
    """Await a write to the destination, saying in one line what failed and what it leaves behind."""
    try:
        await write
    except StorageError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CopyError(
            f"writing to the destination {dst.description} failed after {runs_before:,} runs: {first}; it holds "
            "part of the copy: empty it before copying again"
        ) from None


async def copy_urls(
    from_url: str, to_url: str, *, progress: Callable[[CopyProgress], None] | None = None
) -> tuple[CopyReport, str, str]:
    """Open the stores ``from_url`` and ``to_url`` name (the destination's schema migrated to the current one),
    copy, close them; the report and both stores' descriptions. ``StorageError`` (one line) if a URL is bad,
    a database cannot be reached or is in use, or the copy is refused or fails."""
    from . import store_from_url
    from .sqlite import SQLiteStore

    src = store_from_url(from_url, migrate=False)
    dst = store_from_url(to_url)
    for store, side in ((src, "--from"), (dst, "--to")):
        if isinstance(store, SQLiteStore) and store.memory:
            raise CopyError(
                f"{side}: an in-memory database is gone when its server stops: give a file "
                "(sqlite:////path/to/file.db or a path) or a postgresql:// URL"
            )
    if isinstance(src, SQLiteStore) and not os.path.isfile(src.path):
        raise CopyError(f"--from: there is no database file at {src.path!r}")
    if src.description == dst.description:
        raise CopyError(f"--from and --to both name {src.description}: copy to another database")
    try:
        await src.open()
    except StoreOwnershipError as e:
        raise CopyError(
            f"the source {src.description} is in use by a running server ({e.holder}): stop it first, a copy "
            "must not run while a server writes to its source"
        ) from None
    try:
        try:
            await dst.open()
        except StoreOwnershipError as e:
            raise CopyError(
                f"the destination {dst.description} is in use by a running server ({e.holder}): stop it first"
            ) from None
        try:
            report = await copy_store(src, dst, progress=progress)
        finally:
            await dst.close()
    finally:
        await src.close()
    return report, src.description, dst.description
