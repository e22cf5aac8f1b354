"""Batch operations: one cancel, terminate, signal or reset applied to every run a list filter selects, as a
durable job on the server (Temporal's batch operations).

A job is one row of the store (``Store.create_batch_job``...): the operation and its arguments, the query, how
fast it may go, its state and counts, and a cursor. Nothing big is snapshotted: the job walks the runs the query
selects page by page, newest first by start time and run id (a key no change to a run moves, so a run that stops
matching, a terminated one, moves no other run across a page boundary), and applies the operation to each run
through the same call a single request makes (``Cancellation.terminate``...), so its checks, its history events
and its log lines are the same, with the job as its identity. After each page the cursor (the listing's next
page token) and the counts are written in one conditional write on the row's version; a server restarted
mid-job resumes from there, so at most the page that was in flight is dealt with again. Each operation is
idempotent for a run: a closed run is not terminated again, a cancellation asked already is not asked again, a
signal carries a request id of the job and run (recorded once), and a reset run is no longer its workflow's
current run; those are counted as skipped.

The pace: runs are dealt with in steps of up to ``_STEP`` at a time (their transitions share group commits),
each step taking at least its share of a second at the job's rate. A page holds about two seconds' worth of runs
(10 to 1000), so progress is written that often and a restart repeats little.

Terminating a job is a conditional write of its row (TERMINATED, with who and why); the running job sees it at
its next step (in this server, through ``_stopped``) or when its own write of the page is refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from ..._visibility._ast import DEFAULT_ORDER, VisibilityQuery
from ...api import messages as msg
from ...api import models as m
from ...api.batch import DEFAULT_BATCH_RPS, BatchJobState, BatchOperation, StartBatchRequest, TerminateBatchRequest
from ...errors import AlreadyStartedError, InvalidArgumentError, InvalidQueryError, NotFoundError, RPCError
from ...storage import ExecutionRecord, ListQuery, StorageError, StoredBatchJob

if TYPE_CHECKING:
    from .._core import EngineCore
    from .cancellation import Cancellation
    from .reset import Reset
    from .signals import Signals

__all__ = ["Batches"]

log = logging.getLogger("mainspring.server.batch")

Key = tuple[str, str]
#: At most this many runs are dealt with at once.
_STEP = 200
#: A page is about this many seconds of the job's rate, within these bounds.
_PAGE_SECONDS = 2.0
_PAGE_MIN = 10
_PAGE_MAX = 1000
#: How long after a store failure the job tries its page again.
_RETRY = 2.0
#: The codes of a run's refusal that mean "nothing to do for this run" (counted as skipped, not failed).
_SKIP_CODES = frozenset({"not_running", "not_current_run", "workflow_not_found", "not_found"})


class _Counts:
    __slots__ = ("done", "failed", "skipped")

    def __init__(self) -> None:
        self.done = self.skipped = self.failed = 0


def _filter(query: str) -> VisibilityQuery:
    """The job's query, parsed, in the walk's order (its own ORDER BY aside: see the module's docstring)."""
    from ..._visibility._parser import parse_query  # the parser (lark) loads at the first query, not at start

    if not query.strip():
        raise InvalidQueryError(
            "a batch operation needs a query that selects its runs (e.g. WorkflowType = 'order' AND "
            "ExecutionStatus = 'Running'); an empty one would select every run",
            code="invalid_query",
            details={"query": query, "position": 0, "line": 1, "column": 1},
        )
    parsed = parse_query(query)
    return VisibilityQuery(parsed.where, DEFAULT_ORDER, parsed.text)


def _page_size(rps: float) -> int:
    return max(_PAGE_MIN, min(_PAGE_MAX, int(rps * _PAGE_SECONDS)))


class Batches:
    """The batch operations of one engine, and the jobs running in it."""

    def __init__(self, core: EngineCore, cancellation: Cancellation, signals: Signals, reset: Reset) -> None:
        self.core = core
        self.cancellation = cancellation
        self.signals = signals
        self.reset = reset
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        #: The jobs terminated by a call to this server: their task stops at its next step.
        self._stopped: set[Key] = set()
        #: The counts of each running job's page in flight (not yet written): describe adds them.
        self._live: dict[Key, _Counts] = {}
        #: Set when the server stops: a job's pause between steps ends at once.
        self._stopping = asyncio.Event()
        core.features[Batches] = self

    # --- start and stop ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume every job the store has running (a restart: each goes on from its cursor)."""
        jobs = await self.core.store.list_batch_jobs(None, running=True)
        for job in jobs:
            self._spawn((job.namespace, job.job_id))
        if jobs:
            log.info("resumed %d batch jobs", len(jobs))

    async def stop(self) -> None:
        """Let each job finish the step it is in (its page is dealt with again after the restart), then stop."""
        self._stopping.set()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=10)
        for task in late:
            task.cancel()
        for task in late:
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _spawn(self, key: Key) -> None:
        if key in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._run(key), name=f"mainspring-batch-{key[1]}")
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    # --- the operations ---------------------------------------------------------------------------------------

    async def start_batch(self, namespace: str, req: StartBatchRequest, identity: str) -> dict[str, Any]:
        core = self.core
        core.check_namespace(namespace)
        where = _filter(req.query)
        if req.operation is BatchOperation.SIGNAL:
            if not req.signal_name:
                raise InvalidArgumentError(
                    "a signal batch needs signal_name: the signal to send", code="invalid_argument"
                )
            core._check_payload(f"the payload of signal {req.signal_name!r}", req.input)
        elif req.signal_name is not None or req.input is not None:
            raise InvalidArgumentError(
                f"signal_name and input are for a signal batch, not a {req.operation.value} batch",
                code="invalid_argument",
            )
        if (req.reset_type is not None or req.reapply_exclude) and req.operation is not BatchOperation.RESET:
            raise InvalidArgumentError(
                f"reset_type and reapply_exclude are for a reset batch, not a {req.operation.value} batch",
                code="invalid_argument",
            )
        matched, _ = await core.store.count_executions(namespace, where)
        args = {
            "reason": req.reason,
            "signal_name": req.signal_name,
            "input": req.input,
            "reset_type": req.reset_type or "LastWorkflowTask",
            "reapply_exclude": req.reapply_exclude,
            "identity": identity,
        }
        job = StoredBatchJob(
            namespace=namespace,
            job_id=req.job_id or str(uuid.uuid4()),
            operation=req.operation.value,
            args=json.dumps(args),
            query=req.query,
            rps=req.rps or DEFAULT_BATCH_RPS,
            state=BatchJobState.RUNNING.value,
            matched=matched,
            done=0,
            skipped=0,
            failed=0,
            cursor=None,
            started_at=core.clock.now(),
            closed_at=None,
            note="",
        )
        if not await core.store.create_batch_job(job):
            raise AlreadyStartedError(
                f"batch job {job.job_id!r} already exists in namespace {namespace!r}: give another job id",
                code="batch_job_exists",
                details={"job_id": job.job_id},
            )
        log.info(
            "batch job %s started by %s: %s the %d runs of %r", job.job_id, identity, job.operation, matched, req.query
        )
        self._spawn((namespace, job.job_id))
        return self._view(job)

    async def describe(self, namespace: str, job_id: str) -> dict[str, Any]:
        return self._view(await self._job((namespace, job_id)))

    async def list_all(self, namespace: str) -> dict[str, Any]:
        self.core.check_namespace(namespace)
        return {"jobs": [self._view(j) for j in await self.core.store.list_batch_jobs(namespace)]}

    async def terminate(self, namespace: str, req: TerminateBatchRequest, identity: str) -> dict[str, Any]:
        key = (namespace, req.job_id)
        while True:
            job = await self._job(key)
            if job.state != BatchJobState.RUNNING:
                raise InvalidArgumentError(
                    f"batch job {req.job_id!r} is not running: it is {job.state}",
                    code="batch_job_not_running",
                    details={"state": job.state},
                )
            note = f"terminated by {identity}" + (f": {req.reason}" if req.reason else "")
            new = dataclasses.replace(
                job,
                state=BatchJobState.TERMINATED.value,
                closed_at=self.core.clock.now(),
                note=note,
                version=job.version + 1,
            )
            if await self.core.store.update_batch_job(new, job.version):
                self._stopped.add(key)
                log.info("batch job %s %s", req.job_id, note)
                return self._view(new)

    # --- reading ----------------------------------------------------------------------------------------------

    async def _job(self, key: Key) -> StoredBatchJob:
        self.core.check_namespace(key[0])
        job = await self.core.store.get_batch_job(*key)
        if job is None:
            raise NotFoundError(
                f"batch job {key[1]!r} not found in namespace {key[0]!r}",
                code="batch_job_not_found",
                details={"job_id": key[1]},
            )
        return job

    def _view(self, job: StoredBatchJob) -> dict[str, Any]:
        args = json.loads(job.args)
        live = self._live.get((job.namespace, job.job_id)) if job.state == BatchJobState.RUNNING else None
        return {
            "job_id": job.job_id,
            "operation": job.operation,
            "query": job.query,
            "state": job.state,
            "reason": args.get("reason", ""),
            "rps": job.rps,
            "matched": job.matched,
            "done": job.done + (live.done if live else 0),
            "skipped": job.skipped + (live.skipped if live else 0),
            "failed": job.failed + (live.failed if live else 0),
            "started_at": job.started_at,
            "closed_at": job.closed_at,
            "identity": args.get("identity", ""),
            "note": job.note,
        }

    # --- running a job ----------------------------------------------------------------------------------------

    def _halted(self) -> bool:
        return self._stopping.is_set() or self.core.stopping

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _run(self, key: Key) -> None:
        try:
            while not self._halted():
                try:
                    if not await self._page(key):
                        return
                except StorageError as e:
                    if self._halted():
                        return
                    log.warning(
                        "batch job %s: the store failed (the page is tried again in %gs): %s", key[1], _RETRY, e
                    )
                    await self._pause(_RETRY)
                except Exception as e:  # a bug: the job ends FAILED, saying why, instead of retrying forever
                    log.exception("batch job %s failed", key[1])
                    await self._close(key, BatchJobState.FAILED, f"failed: {type(e).__name__}: {e}", _Counts())
                    return
                finally:
                    self._live.pop(key, None)
        finally:
            self._stopped.discard(key)

    async def _page(self, key: Key) -> bool:
        """Deal with the job's next page and write how far it got; whether there is more to do."""
        store = self.core.store
        job = await store.get_batch_job(*key)
        if job is None or job.state != BatchJobState.RUNNING:
            return False
        filter = _filter(job.query)
        records, token = await store.list_executions(
            job.namespace, ListQuery(filter=filter, limit=_page_size(job.rps), page_token=job.cursor)
        )
        counts = self._live[key] = _Counts()
        args = json.loads(job.args)
        identity = f"batch {job.job_id}" + (f" ({args['identity']})" if args.get("identity") else "")
        loop = asyncio.get_running_loop()
        step = max(1, min(_STEP, int(job.rps)))
        due = loop.time()
        for i in range(0, len(records), step):
            if key in self._stopped or self._halted():
                break
            chunk = records[i : i + step]
            outcomes = await asyncio.gather(*(self._apply(job, args, identity, r) for r in chunk))
            for outcome in outcomes:
                setattr(counts, outcome, getattr(counts, outcome) + 1)
            due += len(chunk) / job.rps
            wait = due - loop.time()
            if wait > 0:
                await self._pause(wait)
        if key in self._stopped:
            await self._close(key, None, "", counts)  # terminated: its counts so far are kept
            return False
        if self._halted():
            return False  # the server stops: the page is dealt with again after the restart (its counts with it)
        more = token is not None
        new = dataclasses.replace(
            job,
            cursor=token,
            done=job.done + counts.done,
            skipped=job.skipped + counts.skipped,
            failed=job.failed + counts.failed,
            state=BatchJobState.RUNNING.value if more else BatchJobState.COMPLETED.value,
            closed_at=None if more else self.core.clock.now(),
            version=job.version + 1,
        )
        if await store.update_batch_job(new, job.version):
            if not more:
                log.info(
                    "batch job %s completed: %d done, %d skipped, %d failed", key[1], new.done, new.skipped, new.failed
                )
            return more
        # Changed meanwhile: terminated (by another server, or this one between the check and the write).
        await self._close(key, None, "", counts)
        return False

    async def _close(self, key: Key, state: BatchJobState | None, note: str, counts: _Counts) -> None:
        """Add ``counts`` to the stored job and, given a ``state``, end it so (if it is still running)."""
        store = self.core.store
        while True:
            job = await store.get_batch_job(*key)
            if job is None:
                return
            if state is not None and job.state != BatchJobState.RUNNING:
                state = None
            new = dataclasses.replace(
                job,
                done=job.done + counts.done,
                skipped=job.skipped + counts.skipped,
                failed=job.failed + counts.failed,
                version=job.version + 1,
            )
            if state is not None:
                new = dataclasses.replace(new, state=state.value, closed_at=self.core.clock.now(), note=note)
            if await store.update_batch_job(new, job.version):
                return

    async def _apply(self, job: StoredBatchJob, args: dict[str, Any], identity: str, rec: ExecutionRecord) -> str:
        """Apply the job's operation to one run: "done", "skipped" (nothing to do for it) or "failed"."""
        wid, rid, reason = rec.workflow_id, rec.run_id, args.get("reason", "")
        try:
            match BatchOperation(job.operation):
                case BatchOperation.TERMINATE:
                    await self.cancellation.terminate(
                        job.namespace, m.TerminateWorkflowRequest(workflow_id=wid, run_id=rid, reason=reason), identity
                    )
                case BatchOperation.CANCEL:
                    answer = await self.cancellation.request_cancel(
                        job.namespace, m.CancelWorkflowRequest(workflow_id=wid, run_id=rid, reason=reason), identity
                    )
                    if answer.get("already_requested"):
                        return "skipped"
                case BatchOperation.SIGNAL:
                    req = msg.SignalWorkflowRequest(
                        workflow_id=wid,
                        run_id=rid,
                        signal_name=args["signal_name"],
                        input=args.get("input"),
                        request_id=f"batch/{job.job_id}/{rid}",
                    )
                    if (await self.signals.signal(job.namespace, req, identity)).get("duplicate"):
                        return "skipped"
                case BatchOperation.RESET:
                    await self.reset.reset(
                        job.namespace,
                        m.ResetWorkflowRequest(
                            workflow_id=wid,
                            run_id=rid,
                            reason=reason,
                            reset_type=args.get("reset_type"),
                            reapply_exclude=args.get("reapply_exclude", []),
                        ),
                        identity,
                    )
        except RPCError as e:
            if e.code in _SKIP_CODES:
                return "skipped"
            log.warning("batch job %s: %s of workflow %s (run %s) refused: %s", job.job_id, job.operation, wid, rid, e)
            return "failed"
        return "done"
