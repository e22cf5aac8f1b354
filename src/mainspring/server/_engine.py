"""The engine: every state transition of every workflow execution.

Each transition follows one pattern: take the execution's lock, change its in-memory state and
collect new history events, commit both in one conditional write, and only then act on the outside
world (hand out tasks, arm timers, answer waiters). Nothing is acknowledged before it is durable.

Workflow tasks follow Temporal's model. A task is scheduled when the workflow has something new to
see; a worker polls it and gets the history; its completion carries commands (schedule an activity,
start a timer, complete the workflow...) that become events. To keep one step to one commit, a
task's WorkflowTaskStarted event is not written when it is handed out, but with its outcome (or
earlier, if another event must be appended while the task is out).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .._validation import describe_input_error, schema_error
from ..api import models as m
from ..api.enums import (
    ActivityState,
    EventType,
    TimeoutType,
    WorkflowStatus,
    WorkflowTaskFailedCause,
)
from ..api.names import check_id
from ..errors import (
    AlreadyStartedError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
)
from ..storage import (
    ExecutionAlreadyRunningError,
    ExecutionRecord,
    ExecutionWrite,
    HistoryEvent,
    ListQuery,
    Store,
)
from ._config import ServerConfig
from ._matching import Matching, Session
from ._state import ActivityInfo, ExecutionState, TimerInfo, WorkflowTaskInfo
from ._timers import Clock, SystemClock, TimerWheel

__all__ = ["Engine", "iso"]

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def iso(t: float | None) -> str | None:
    """Unix seconds as an RFC 3339 UTC string with microseconds."""
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{round(t % 1 * 1e6) % 1000000:06d}Z"


def _event_json(e: HistoryEvent) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "event_time": iso(e.event_time),
        "event_type": e.event_type.value,
        "attributes": e.attributes,
    }


class Execution:
    """One run's in-memory working copy: the stored record, its parsed state, and its lock."""

    __slots__ = ("events", "lock", "record", "state")

    def __init__(self, record: ExecutionRecord, state: ExecutionState) -> None:
        self.record = record
        self.state = state
        self.lock = asyncio.Lock()
        #: Events collected by the transition in progress, written by ``Engine._commit``.
        self.events: list[HistoryEvent] = []

    @property
    def running(self) -> bool:
        return self.record.status is WorkflowStatus.RUNNING

    def pinned(self) -> bool:
        """True while forgetting it would lose memory-only facts (a task is out) or a waiter."""
        st = self.state
        if self.lock.locked() or (st.wt is not None and st.wt.started):
            return True
        return any(a.state is ActivityState.STARTED for a in st.activities.values())


@dataclass(slots=True)
class _Effects:
    """What to do once a transition is durable."""

    offer_wt: bool = False
    activities: list[ActivityInfo] | None = None
    closed: bool = False


def _wt_token(run_id: str, wt: WorkflowTaskInfo) -> str:
    return f"w|{run_id}|{wt.attempt}|{wt.started_event_id}"


def _act_token(run_id: str, sched_id: int, attempt: int) -> str:
    return f"a|{run_id}|{sched_id}|{attempt}"


def _parse_token(token: str, kind: str) -> tuple[str, int, int]:
    parts = token.split("|")
    if len(parts) != 4 or parts[0] != kind:
        raise InvalidArgumentError(f"malformed task token {token!r}", code="invalid_argument")
    try:
        return parts[1], int(parts[2]), int(parts[3])
    except ValueError:
        raise InvalidArgumentError(f"malformed task token {token!r}", code="invalid_argument") from None


def _retry_interval(retry: dict[str, Any], failed_attempt: int) -> float:
    initial = float(retry.get("initial_interval") or 1.0)
    coefficient = float(retry.get("backoff_coefficient") or 2.0)
    maximum = retry.get("maximum_interval")
    cap = float(maximum) if maximum else initial * 100
    return float(min(initial * coefficient ** (failed_attempt - 1), cap))


def _wt_retry_delay(attempt: int) -> float:
    # The first retry is quick (another worker may know the code); then back off to at most 10 s.
    return float(min(0.2 * 2 ** (attempt - 2), 10.0))


def _payload_size(value: Any) -> int:
    return len(_dumps(value).encode())


class Engine:
    """The workflow state machine, its queues and its timers, over one ``Store``."""

    def __init__(self, store: Store, config: ServerConfig, clock: Clock | None = None) -> None:
        self.store = store
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.matching = Matching()
        self.timers = TimerWheel(self.clock)
        self._cache: OrderedDict[str, Execution] = OrderedDict()
        self._result_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._schemas: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self._namespaces: set[str] = set()
        self._start_requests: dict[tuple[str, str, str], str] = {}
        self.wt_timeout = config.workflow_task_timeout.total_seconds()
        self.sticky_timeout = config.sticky_schedule_to_start_timeout.total_seconds()
        self.session_timeout = config.worker_session_timeout.total_seconds()
        self.max_payload = config.max_payload_bytes
        self.stopping = False

    # ================================================================================================
    # Lifecycle
    # ================================================================================================

    async def start(self) -> None:
        for ns in self.config.namespaces:
            await self.store.create_namespace(ns)
        self._namespaces = {n.name for n in await self.store.list_namespaces()}
        await self._recover()
        self.timers.start()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_sessions(), name="mainspring-sessions")

    def release_waiters(self) -> None:
        """Answer every waiting poll and result request now (the server is shutting down)."""
        self.stopping = True
        for q in self.matching.queues.values():
            for w in q.waiters:
                if not w.future.done():
                    w.future.set_result(None)
            q.waiters.clear()
        for futures in self._result_waiters.values():
            for f in futures:
                if not f.done():
                    f.set_result(None)

    async def stop(self) -> None:
        self.release_waiters()
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
        await self.timers.stop()

    async def _recover(self) -> None:
        """Rebuild queues and timers from every open execution's stored state."""
        count = 0
        async for rec in self.store.open_executions():
            count += 1
            st = ExecutionState.from_dict(rec.state)
            wt = st.wt
            if wt is not None:
                self._arm_wt(rec, wt)
            for act in st.activities.values():
                if act.state is ActivityState.BACKOFF and act.next_attempt_time is not None:
                    self.timers.schedule(
                        act.next_attempt_time,
                        self._on_retry_due,
                        rec.run_id,
                        act.scheduled_event_id,
                        act.attempt,
                    )
                else:
                    self.matching.offer_activity_task(
                        rec.namespace, act.task_queue, (rec.run_id, act.scheduled_event_id)
                    )
                self._arm_activity_schedule_timers(rec.run_id, act)
            for t in st.timers.values():
                self.timers.schedule(t.fire_time, self._on_user_timer, rec.run_id, t.timer_id, t.started_event_id)
        if count:
            log.info("recovered %d open workflow executions", count)

    # ================================================================================================
    # Loading and committing executions
    # ================================================================================================

    async def _load(self, run_id: str) -> Execution | None:
        ex = self._cache.get(run_id)
        if ex is not None:
            self._cache.move_to_end(run_id)
            return ex
        rec = await self.store.get_run(run_id)
        if rec is None:
            return None
        ex = self._cache.get(run_id)  # another coroutine may have loaded it meanwhile
        if ex is not None:
            return ex
        ex = Execution(rec, ExecutionState.from_dict(rec.state))
        self._cache[run_id] = ex
        self._trim_cache()
        return ex

    def _trim_cache(self) -> None:
        excess = len(self._cache) - self.config.execution_cache_size
        if excess <= 0:
            return
        for run_id in list(itertools.islice(self._cache, excess * 4)):
            if excess <= 0:
                break
            ex = self._cache[run_id]
            if not ex.pinned() and run_id not in self._result_waiters:
                del self._cache[run_id]
                excess -= 1

    def _append(self, ex: Execution, etype: EventType, attrs: dict[str, Any], now: float) -> HistoryEvent:
        wt = ex.state.wt
        if wt is not None and wt.started:
            # An event arrives while the task is out: the worker has not seen it, so another task
            # must follow. The task's Started event goes first, at the place the worker saw it.
            wt.new_events = True
            if not wt.started_written:
                self._write_wt_started(ex, wt, now)
        return self._raw_append(ex, etype, attrs, now)

    @staticmethod
    def _raw_append(ex: Execution, etype: EventType, attrs: dict[str, Any], now: float) -> HistoryEvent:
        rec = ex.record
        e = HistoryEvent(rec.next_event_id, etype, now, attrs)
        rec.next_event_id += 1
        ex.events.append(e)
        return e

    def _write_wt_started(self, ex: Execution, wt: WorkflowTaskInfo, now: float) -> None:
        if wt.transient:
            e = self._raw_append(
                ex,
                EventType.WORKFLOW_TASK_SCHEDULED,
                {"task_queue": ex.record.task_queue, "attempt": wt.attempt},
                wt.scheduled_time,
            )
            wt.scheduled_event_id = e.event_id
        self._raw_append(
            ex,
            EventType.WORKFLOW_TASK_STARTED,
            {"scheduled_event_id": wt.scheduled_event_id, "identity": wt.identity, "attempt": wt.attempt},
            wt.started_time,
        )
        wt.started_written = True

    async def _commit(self, ex: Execution) -> None:
        """Write the transition in progress; on failure forget the execution (memory is now wrong)."""
        rec = ex.record
        expected = rec.version
        rec.version = expected + 1
        rec.state = ex.state.to_dict()
        events, ex.events = ex.events, []
        try:
            await self.store.write(ExecutionWrite(rec, expected, events))
        except BaseException:
            self._cache.pop(rec.run_id, None)
            raise

    def _after_commit(self, ex: Execution, fx: _Effects) -> None:
        rec = ex.record
        if fx.offer_wt and ex.state.wt is not None:
            self._arm_wt(rec, ex.state.wt, sticky=self._sticky_session(ex))
        if fx.activities:
            for act in fx.activities:
                self.matching.offer_activity_task(rec.namespace, act.task_queue, (rec.run_id, act.scheduled_event_id))
                self._arm_activity_schedule_timers(rec.run_id, act)
        if fx.closed:
            for f in self._result_waiters.pop(rec.run_id, []):
                if not f.done():
                    f.set_result(None)

    def _sticky_session(self, ex: Execution) -> Session | None:
        sid = ex.state.sticky_session
        if sid is None:
            return None
        s = self.matching.sessions.get(sid)
        if s is None:
            ex.state.sticky_session = None
        return s

    def _arm_wt(self, rec: ExecutionRecord, wt: WorkflowTaskInfo, sticky: Session | None = None) -> None:
        now = self.clock.now()
        if wt.ready_time > now:
            self.timers.schedule(wt.ready_time, self._on_wt_ready, rec.run_id, wt.attempt)
            return
        self.matching.offer_workflow_task(rec.namespace, rec.task_queue, rec.run_id, sticky)
        if sticky is not None:
            self.timers.schedule(now + self.sticky_timeout, self._on_sticky_timeout, sticky.id, rec.run_id)

    def _arm_activity_schedule_timers(self, run_id: str, act: ActivityInfo) -> None:
        if act.schedule_to_close is not None:
            self.timers.schedule(
                act.scheduled_time + act.schedule_to_close,
                self._on_activity_timeout,
                run_id,
                act.scheduled_event_id,
                0,
                TimeoutType.SCHEDULE_TO_CLOSE,
            )
        if act.schedule_to_start is not None and act.state is ActivityState.SCHEDULED:
            self.timers.schedule(
                act.attempt_scheduled_time + act.schedule_to_start,
                self._on_activity_timeout,
                run_id,
                act.scheduled_event_id,
                act.attempt,
                TimeoutType.SCHEDULE_TO_START,
            )

    def _schedule_wt(self, ex: Execution, now: float, fx: _Effects) -> None:
        """The workflow has something new to see: make sure a workflow task will show it."""
        st = ex.state
        if not ex.running:
            return
        if st.wt is not None:
            if st.wt.started:
                st.wt.new_events = True
            return
        e = self._append(ex, EventType.WORKFLOW_TASK_SCHEDULED, {"task_queue": ex.record.task_queue, "attempt": 1}, now)
        st.wt = WorkflowTaskInfo(attempt=1, scheduled_time=now, scheduled_event_id=e.event_id)
        fx.offer_wt = True

    # ================================================================================================
    # Namespaces
    # ================================================================================================

    def check_namespace(self, namespace: str) -> None:
        if namespace not in self._namespaces:
            raise NotFoundError(
                f"namespace {namespace!r} does not exist; known: {', '.join(sorted(self._namespaces))} "
                f"(create it with `mainspring namespace create {namespace}`)",
                status=404,
                code="namespace_not_found",
            )

    async def create_namespace(self, name: str, description: str) -> bool:
        created = await self.store.create_namespace(name, description)
        self._namespaces.add(name)
        return created

    # ================================================================================================
    # Starting workflows
    # ================================================================================================

    def _check_payload(self, what: str, value: Any) -> None:
        size = _payload_size(value)
        if size > self.max_payload:
            raise PayloadTooLargeError(
                f"{what} is {size:,} bytes, over the server's limit of {self.max_payload:,} bytes "
                "(--max-payload-size); store large data elsewhere and pass a reference",
                status=413,
                code="payload_too_large",
            )

    async def start_workflow(self, namespace: str, req: m.StartWorkflowRequest) -> tuple[str, bool]:
        """Start a run; returns (run_id, created). A repeated ``request_id`` returns the same run."""
        self.check_namespace(namespace)
        for kind, value in (
            ("workflow id", req.workflow_id),
            ("workflow type", req.workflow_type),
            ("task queue", req.task_queue),
        ):
            problem = check_id(kind, value)
            if problem:
                raise InvalidArgumentError(problem, status=400, code="invalid_argument")
        self._check_payload("the workflow input", req.input)
        schema = await self._workflow_schema(namespace, req.task_queue, req.workflow_type)
        if schema is not None:
            problem = schema_error(req.input, schema)
            if problem is not None:
                raise InvalidArgumentError(
                    describe_input_error(req.workflow_type, problem),
                    status=400,
                    code="invalid_input",
                )
        now = self.clock.now()
        run_id = str(uuid.uuid4())
        rec = ExecutionRecord(
            namespace=namespace,
            workflow_id=req.workflow_id,
            run_id=run_id,
            workflow_type=req.workflow_type,
            task_queue=req.task_queue,
            status=WorkflowStatus.RUNNING,
            start_time=now,
            close_time=None,
            next_event_id=1,
            version=1,
            request_id=req.request_id,
        )
        ex = Execution(rec, ExecutionState())
        self._raw_append(
            ex,
            EventType.WORKFLOW_EXECUTION_STARTED,
            {
                "workflow_type": req.workflow_type,
                "task_queue": req.task_queue,
                "input": req.input,
                "workflow_id": req.workflow_id,
                "run_id": run_id,
                "attempt": 1,
            },
            now,
        )
        fx = _Effects()
        self._schedule_wt(ex, now, fx)
        rec.state = ex.state.to_dict()
        events, ex.events = ex.events, []
        try:
            await self.store.write(ExecutionWrite(rec, None, events))
        except ExecutionAlreadyRunningError as e:
            if req.request_id is not None and e.request_id == req.request_id:
                return e.run_id, False
            raise AlreadyStartedError(
                f"workflow {req.workflow_id!r} is already running (run id {e.run_id}); "
                "choose another --workflow-id or wait for that run to close",
                status=409,
                code="already_started",
                details={"run_id": e.run_id},
            ) from None
        self._cache[run_id] = ex
        self._trim_cache()
        self._after_commit(ex, fx)
        return run_id, True

    async def _workflow_schema(self, namespace: str, task_queue: str, workflow_type: str) -> dict[str, Any] | None:
        key = (namespace, task_queue, workflow_type)
        if key not in self._schemas:
            self._schemas[key] = await self.store.get_workflow_schema(*key)
        return self._schemas[key]

    # ================================================================================================
    # Reading workflows
    # ================================================================================================

    async def _find(self, namespace: str, workflow_id: str, run_id: str | None) -> ExecutionRecord:
        self.check_namespace(namespace)
        if run_id:
            ex = self._cache.get(run_id)
            if ex is not None and ex.record.namespace == namespace and ex.record.workflow_id == workflow_id:
                return ex.record
        rec = await self.store.get_execution(namespace, workflow_id, run_id or None)
        if rec is None:
            what = f"workflow {workflow_id!r}" + (f" run {run_id}" if run_id else "")
            raise NotFoundError(f"{what} not found in namespace {namespace!r}", status=404, code="not_found")
        ex = self._cache.get(rec.run_id)
        return ex.record if ex is not None else rec

    def _state_of(self, rec: ExecutionRecord) -> ExecutionState:
        ex = self._cache.get(rec.run_id)
        return ex.state if ex is not None else ExecutionState.from_dict(rec.state)

    @staticmethod
    def _info(rec: ExecutionRecord) -> dict[str, Any]:
        return {
            "namespace": rec.namespace,
            "workflow_id": rec.workflow_id,
            "run_id": rec.run_id,
            "workflow_type": rec.workflow_type,
            "task_queue": rec.task_queue,
            "status": rec.status.value,
            "start_time": iso(rec.start_time),
            "close_time": iso(rec.close_time),
            "history_length": rec.next_event_id - 1,
        }

    async def describe(self, namespace: str, workflow_id: str, run_id: str | None) -> dict[str, Any]:
        rec = await self._find(namespace, workflow_id, run_id)
        st = self._state_of(rec)
        first = await self.store.read_history(rec.run_id, 1, 1)
        out: dict[str, Any] = {
            "execution": self._info(rec),
            "input": first[0].attributes.get("input") if first else None,
            "result": st.result,
            "failure": st.failure,
            "pending_activities": [
                {
                    "activity_id": a.activity_id,
                    "activity_type": a.activity_type,
                    "scheduled_event_id": a.scheduled_event_id,
                    "state": a.state.value,
                    "attempt": a.attempt,
                    "scheduled_time": iso(a.scheduled_time),
                    "last_started_time": iso(a.last_started_time),
                    "last_heartbeat_time": iso(a.last_heartbeat_time),
                    "heartbeat_details": a.heartbeat_details,
                    "last_failure": a.last_failure,
                    "next_attempt_time": iso(a.next_attempt_time),
                    "last_worker_identity": a.last_identity,
                }
                for a in st.activities.values()
            ],
            "pending_timers": [
                {
                    "timer_id": t.timer_id,
                    "started_event_id": t.started_event_id,
                    "fire_time": iso(t.fire_time),
                }
                for t in st.timers.values()
            ],
            "pending_workflow_task": None,
        }
        wt = st.wt
        if wt is not None:
            out["pending_workflow_task"] = {
                "state": "STARTED" if wt.started else ("BACKOFF" if wt.ready_time > self.clock.now() else "SCHEDULED"),
                "attempt": wt.attempt,
                "scheduled_time": iso(wt.scheduled_time),
                "started_time": iso(wt.started_time) if wt.started else None,
                "last_failure": wt.last_failure,
            }
        return out

    async def history(
        self, namespace: str, workflow_id: str, run_id: str | None, first_event_id: int, limit: int
    ) -> dict[str, Any]:
        rec = await self._find(namespace, workflow_id, run_id)
        limit = max(1, min(limit, 10_000))
        events = await self.store.read_history(rec.run_id, first_event_id, first_event_id + limit - 1)
        next_token = None
        if len(events) == limit and events[-1].event_id < rec.next_event_id - 1:
            next_token = str(events[-1].event_id + 1)
        return {"events": [_event_json(e) for e in events], "next_page_token": next_token}

    async def wait_result(self, namespace: str, workflow_id: str, run_id: str | None, wait: float) -> dict[str, Any]:
        rec = await self._find(namespace, workflow_id, run_id)
        if rec.status is WorkflowStatus.RUNNING and wait > 0:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._result_waiters.setdefault(rec.run_id, []).append(fut)
            try:
                await asyncio.wait_for(fut, timeout=min(wait, self.config.max_poll_wait.total_seconds()))
            except TimeoutError:
                waiters = self._result_waiters.get(rec.run_id)
                if waiters is not None and fut in waiters:
                    waiters.remove(fut)
                    if not waiters:
                        del self._result_waiters[rec.run_id]
            rec = await self._find(namespace, workflow_id, rec.run_id)
        st = self._state_of(rec)
        return {
            "workflow_id": rec.workflow_id,
            "run_id": rec.run_id,
            "status": rec.status.value,
            "result": st.result,
            "failure": st.failure,
        }

    async def list_workflows(self, namespace: str, query: ListQuery) -> dict[str, Any]:
        self.check_namespace(namespace)
        records, token = await self.store.list_executions(namespace, query)
        return {
            "executions": [self._info(self._cache[r.run_id].record if r.run_id in self._cache else r) for r in records],
            "next_page_token": token,
        }

    # ================================================================================================
    # Worker sessions
    # ================================================================================================

    async def register_worker(self, namespace: str, req: m.RegisterWorkerRequest) -> Session:
        self.check_namespace(namespace)
        problem = check_id("task queue", req.task_queue)
        if problem:
            raise InvalidArgumentError(problem, status=400, code="invalid_argument")
        for wt in req.workflow_types:
            key = (namespace, req.task_queue, wt.name)
            if self._schemas.get(key, "unset") != wt.input_schema:
                await self.store.put_workflow_schema(namespace, req.task_queue, wt.name, wt.input_schema)
                self._schemas[key] = wt.input_schema
        return self.matching.new_session(
            namespace,
            req.task_queue,
            req.identity,
            [w.name for w in req.workflow_types],
            list(req.activity_types),
            self.clock.now(),
        )

    def session(self, namespace: str, session_id: str) -> Session:
        s = self.matching.sessions.get(session_id)
        if s is None or s.namespace != namespace:
            raise NotFoundError(
                f"worker session {session_id!r} is not known (the server may have restarted); register again",
                status=404,
                code="session_not_found",
            )
        s.last_seen = self.clock.now()
        return s

    async def end_session(self, namespace: str, session_id: str) -> None:
        s = self.session(namespace, session_id)
        await self.session_lost(s, graceful=True)

    async def _sweep_sessions(self) -> None:
        while True:
            await asyncio.sleep(min(0.5, self.session_timeout / 4))
            now = self.clock.now()
            for s in list(self.matching.sessions.values()):
                if now - s.last_seen > self.session_timeout:
                    log.warning(
                        "worker %s (session %s) stopped heartbeating; handing its tasks to other workers",
                        s.identity,
                        s.id,
                    )
                    try:
                        await self.session_lost(s, graceful=False)
                    except Exception:
                        log.exception("failed to recover tasks of session %s", s.id)

    async def session_lost(self, s: Session, *, graceful: bool) -> None:
        """The session ended: every task it holds goes back to be run by another worker."""
        self.matching.close_session(s)
        for run_id in list(s.inflight_workflows):
            ex = await self._load(run_id)
            if ex is None:
                continue
            async with ex.lock:
                wt = ex.state.wt
                if wt is None or not wt.started or wt.session_id != s.id:
                    continue
                await self._wt_lost(ex, wt, f"worker {s.identity} was lost while running this workflow task")
        for run_id, sched_id in list(s.inflight_activities):
            ex = await self._load(run_id)
            if ex is None:
                continue
            async with ex.lock:
                act = ex.state.activities.get(sched_id)
                if act is None or act.state is not ActivityState.STARTED or act.session_id != s.id:
                    continue
                reason = "stopped" if graceful else "was lost"
                failure = {
                    "message": f"worker {s.identity} {reason} while running this activity",
                    "type": "WorkerLost",
                    "kind": "server",
                    "non_retryable": False,
                }
                await self._activity_attempt_failed(ex, act, failure, immediate=True, timeout_type=None)
        s.inflight_workflows.clear()
        s.inflight_activities.clear()

    # ================================================================================================
    # Workflow tasks
    # ================================================================================================

    async def poll_workflow_task(self, session: Session, wait: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + min(wait, self.config.max_poll_wait.total_seconds())
        while not session.closed and not self.stopping:
            run_id = self.matching.take_workflow_task(session)
            if run_id is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                waiter = self.matching.wait(session, "workflow")
                try:
                    got = await asyncio.wait_for(asyncio.shield(waiter.future), timeout=remaining)
                except TimeoutError:
                    if not waiter.future.done():
                        waiter.future.set_result(None)
                    else:
                        self.matching.give_back(waiter, "workflow")
                    return None
                except asyncio.CancelledError:
                    if not waiter.future.done():
                        waiter.future.set_result(None)
                    else:
                        self.matching.give_back(waiter, "workflow")
                    raise
                if not isinstance(got, str):
                    continue
                run_id = got
            task = await self._start_workflow_task(run_id, session)
            if task is not None:
                return task
        return None

    async def _start_workflow_task(self, run_id: str, session: Session) -> dict[str, Any] | None:
        ex = await self._load(run_id)
        if ex is None:
            return None
        async with ex.lock:
            wt = ex.state.wt
            now = self.clock.now()
            if not ex.running or wt is None or wt.started or wt.ready_time > now or session.closed:
                return None
            rec = ex.record
            st = ex.state
            wt.started = True
            wt.started_time = now
            wt.session_id = session.id
            wt.identity = session.identity
            wt.started_written = False
            wt.new_events = False
            wt.started_event_id = rec.next_event_id + (1 if wt.transient else 0)
            sticky = st.sticky_session == session.id and st.sticky_event_id > 0
            first = st.sticky_event_id + 1 if sticky else 1
            events = [_event_json(e) for e in await self.store.read_history(run_id, first, rec.next_event_id - 1)]
            if wt.transient:
                events.append(
                    {
                        "event_id": rec.next_event_id,
                        "event_time": iso(wt.scheduled_time),
                        "event_type": EventType.WORKFLOW_TASK_SCHEDULED.value,
                        "attributes": {"task_queue": rec.task_queue, "attempt": wt.attempt},
                    }
                )
            events.append(
                {
                    "event_id": wt.started_event_id,
                    "event_time": iso(now),
                    "event_type": EventType.WORKFLOW_TASK_STARTED.value,
                    "attributes": {
                        "scheduled_event_id": wt.scheduled_event_id or rec.next_event_id,
                        "identity": session.identity,
                        "attempt": wt.attempt,
                    },
                }
            )
            session.inflight_workflows.add(run_id)
            self.timers.schedule(now + self.wt_timeout, self._on_wt_timeout, run_id, wt.attempt, wt.started_event_id)
            return {
                "task_token": _wt_token(run_id, wt),
                "namespace": rec.namespace,
                "workflow_id": rec.workflow_id,
                "run_id": run_id,
                "workflow_type": rec.workflow_type,
                "task_queue": rec.task_queue,
                "attempt": wt.attempt,
                "started_event_id": wt.started_event_id,
                "history": events,
                "first_event_id": first,
            }

    def _check_wt(self, ex: Execution, attempt: int, started_event_id: int) -> WorkflowTaskInfo:
        wt = ex.state.wt
        ok = ex.running and wt is not None and wt.attempt == attempt
        if ok and wt is not None:
            if wt.started:
                ok = wt.started_event_id == started_event_id
            else:
                # The server restarted (or forgot the task) after handing it out. The answer is still
                # good if nothing was appended since the worker saw the history.
                ok = started_event_id == ex.record.next_event_id + (1 if wt.transient else 0)
                if ok:
                    wt.started = True
                    wt.started_time = self.clock.now()
                    wt.started_event_id = started_event_id
                    wt.started_written = False
                    wt.new_events = False
        if not ok or wt is None:
            raise NotFoundError(
                "this workflow task is no longer current (it timed out, was handed to another worker, "
                "or the workflow closed)",
                status=404,
                code="task_not_found",
            )
        return wt

    def _session_done_wt(self, ex: Execution, wt: WorkflowTaskInfo) -> None:
        if wt.session_id is not None:
            s = self.matching.sessions.get(wt.session_id)
            if s is not None:
                s.inflight_workflows.discard(ex.record.run_id)

    async def complete_workflow_task(self, req: m.CompleteWorkflowTaskRequest) -> None:
        run_id, attempt, started_event_id = _parse_token(req.task_token, "w")
        ex = await self._load(run_id)
        if ex is None:
            raise NotFoundError("workflow task not found", status=404, code="task_not_found")
        async with ex.lock:
            wt = self._check_wt(ex, attempt, started_event_id)
            problem = self._validate_commands(ex, req.commands)
            if problem is not None:
                failure = {"message": problem, "type": "BadCommand", "kind": "server", "non_retryable": False}
                await self._wt_failed(ex, wt, WorkflowTaskFailedCause.BAD_COMMAND, failure)
                raise InvalidArgumentError(problem, status=400, code="bad_command")
            now = self.clock.now()
            st = ex.state
            if not wt.started_written:
                self._write_wt_started(ex, wt, now)
            completed = self._raw_append(
                ex,
                EventType.WORKFLOW_TASK_COMPLETED,
                {
                    "scheduled_event_id": wt.scheduled_event_id,
                    "started_event_id": wt.started_event_id,
                    "identity": wt.identity,
                },
                now,
            )
            st.wt = None
            self._session_done_wt(ex, wt)
            fx = _Effects()
            new_activities: list[ActivityInfo] = []
            for cmd in req.commands:
                self._apply_command(ex, cmd, completed.event_id, now, new_activities, fx)
            if new_activities:
                fx.activities = new_activities
            if wt.new_events and ex.running:
                self._schedule_wt(ex, now, fx)
            if req.sticky and ex.running and wt.session_id is not None:
                st.sticky_session = wt.session_id
                st.sticky_event_id = wt.started_event_id
            else:
                st.sticky_session = None
                st.sticky_event_id = 0
            await self._commit(ex)
            self._after_commit(ex, fx)

    def _validate_commands(self, ex: Execution, commands: Iterable[m.Command]) -> str | None:
        pending_ids = {a.activity_id for a in ex.state.activities.values()}
        timer_ids = set(ex.state.timers)
        closed = False
        for i, cmd in enumerate(commands):
            where = f"command {i + 1} ({cmd.type})"
            if closed:
                return f"{where} comes after the command that closed the workflow"
            if isinstance(cmd, m.ScheduleActivityCommand):
                for kind, value in (("activity id", cmd.activity_id), ("activity type", cmd.activity_type)):
                    problem = check_id(kind, value)
                    if problem:
                        return f"{where}: {problem}"
                if cmd.task_queue is not None:
                    problem = check_id("task queue", cmd.task_queue)
                    if problem:
                        return f"{where}: {problem}"
                if cmd.activity_id in pending_ids:
                    return f"{where}: activity id {cmd.activity_id!r} is already in use by a pending activity"
                pending_ids.add(cmd.activity_id)
                if cmd.schedule_to_close_timeout is None and cmd.start_to_close_timeout is None:
                    return (
                        f"{where}: activity {cmd.activity_type!r} needs a schedule_to_close_timeout or a "
                        "start_to_close_timeout"
                    )
                for name in (
                    "schedule_to_close_timeout",
                    "start_to_close_timeout",
                    "schedule_to_start_timeout",
                    "heartbeat_timeout",
                ):
                    v = getattr(cmd, name)
                    if v is not None and v <= 0:
                        return f"{where}: {name} must be positive, got {v}"
                if _payload_size(cmd.input) > self.max_payload:
                    return f"{where}: the input of activity {cmd.activity_type!r} is over the payload limit"
            elif isinstance(cmd, m.StartTimerCommand):
                if cmd.duration < 0:
                    return f"{where}: timer duration must not be negative, got {cmd.duration}"
                if cmd.timer_id in timer_ids:
                    return f"{where}: timer id {cmd.timer_id!r} is already in use"
                timer_ids.add(cmd.timer_id)
            elif isinstance(cmd, m.CancelTimerCommand):
                pass
            elif isinstance(cmd, m.CompleteWorkflowCommand):
                closed = True
                if _payload_size(cmd.result) > self.max_payload:
                    return f"{where}: the workflow result is over the payload limit"
            elif isinstance(cmd, m.FailWorkflowCommand):
                closed = True
        return None

    def _apply_command(
        self,
        ex: Execution,
        cmd: m.Command,
        completed_id: int,
        now: float,
        new_activities: list[ActivityInfo],
        fx: _Effects,
    ) -> None:
        st = ex.state
        rec = ex.record
        if isinstance(cmd, m.ScheduleActivityCommand):
            s2c = cmd.schedule_to_close_timeout
            st2c = cmd.start_to_close_timeout if cmd.start_to_close_timeout is not None else s2c
            retry = (cmd.retry_policy or m.RetryPolicyModel()).model_dump()
            task_queue = cmd.task_queue or rec.task_queue
            e = self._append(
                ex,
                EventType.ACTIVITY_TASK_SCHEDULED,
                {
                    "activity_id": cmd.activity_id,
                    "activity_type": cmd.activity_type,
                    "task_queue": task_queue,
                    "input": cmd.input,
                    "schedule_to_close_timeout": s2c,
                    "start_to_close_timeout": st2c,
                    "schedule_to_start_timeout": cmd.schedule_to_start_timeout,
                    "heartbeat_timeout": cmd.heartbeat_timeout,
                    "retry_policy": retry,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            act = ActivityInfo(
                scheduled_event_id=e.event_id,
                activity_id=cmd.activity_id,
                activity_type=cmd.activity_type,
                task_queue=task_queue,
                input=cmd.input,
                schedule_to_close=s2c,
                start_to_close=st2c,
                schedule_to_start=cmd.schedule_to_start_timeout,
                heartbeat=cmd.heartbeat_timeout,
                retry=retry,
                scheduled_time=now,
                attempt_scheduled_time=now,
            )
            st.activities[e.event_id] = act
            new_activities.append(act)
        elif isinstance(cmd, m.StartTimerCommand):
            e = self._append(
                ex,
                EventType.TIMER_STARTED,
                {
                    "timer_id": cmd.timer_id,
                    "duration": cmd.duration,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            timer = TimerInfo(cmd.timer_id, e.event_id, now + cmd.duration)
            st.timers[cmd.timer_id] = timer
            self.timers.schedule(timer.fire_time, self._on_user_timer, rec.run_id, timer.timer_id, e.event_id)
        elif isinstance(cmd, m.CancelTimerCommand):
            t = st.timers.pop(cmd.timer_id, None)
            # Written even if the timer fired meanwhile: the workflow code issued this command, and
            # replaying it must find the matching event.
            self._append(
                ex,
                EventType.TIMER_CANCELED,
                {
                    "timer_id": cmd.timer_id,
                    "started_event_id": t.started_event_id if t else None,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
        elif isinstance(cmd, m.CompleteWorkflowCommand):
            self._append(
                ex,
                EventType.WORKFLOW_EXECUTION_COMPLETED,
                {
                    "result": cmd.result,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            st.result = cmd.result
            self._close(ex, WorkflowStatus.COMPLETED, now, fx)
        elif isinstance(cmd, m.FailWorkflowCommand):
            failure = cmd.failure.model_dump(exclude_none=True)
            self._append(
                ex,
                EventType.WORKFLOW_EXECUTION_FAILED,
                {
                    "failure": failure,
                    "workflow_task_completed_event_id": completed_id,
                },
                now,
            )
            st.failure = failure
            self._close(ex, WorkflowStatus.FAILED, now, fx)

    def _close(self, ex: Execution, status: WorkflowStatus, now: float, fx: _Effects) -> None:
        rec = ex.record
        st = ex.state
        rec.status = status
        rec.close_time = now
        # Pending work of a closed run is abandoned: its tasks are refused when they come back.
        for act in st.activities.values():
            if act.session_id:
                s = self.matching.sessions.get(act.session_id)
                if s is not None:
                    s.inflight_activities.discard((rec.run_id, act.scheduled_event_id))
        st.activities.clear()
        st.timers.clear()
        st.wt = None
        st.sticky_session = None
        fx.closed = True
        fx.activities = None

    async def fail_workflow_task(self, req: m.FailWorkflowTaskRequest) -> None:
        run_id, attempt, started_event_id = _parse_token(req.task_token, "w")
        ex = await self._load(run_id)
        if ex is None:
            raise NotFoundError("workflow task not found", status=404, code="task_not_found")
        async with ex.lock:
            wt = self._check_wt(ex, attempt, started_event_id)
            await self._wt_failed(ex, wt, req.cause, req.failure.model_dump(exclude_none=True))

    async def _wt_failed(
        self,
        ex: Execution,
        wt: WorkflowTaskInfo,
        cause: WorkflowTaskFailedCause,
        failure: dict[str, Any],
        *,
        event_type: EventType = EventType.WORKFLOW_TASK_FAILED,
        immediate: bool = False,
    ) -> None:
        """Record a failed (or timed out) attempt and schedule the next one, after a backoff."""
        now = self.clock.now()
        st = ex.state
        if not wt.transient or wt.started_written:
            # First failure of this task (or events were written): leave a trace in history. Later
            # attempts of a failing task are transient, so a lasting bug doesn't flood the history.
            if not wt.started_written:
                self._write_wt_started(ex, wt, now)
            attrs: dict[str, Any] = {
                "scheduled_event_id": wt.scheduled_event_id,
                "started_event_id": wt.started_event_id,
                "identity": wt.identity,
            }
            if event_type is EventType.WORKFLOW_TASK_FAILED:
                attrs.update(cause=cause.value, failure=failure)
            else:
                attrs.update(timeout_type=TimeoutType.START_TO_CLOSE.value)
            self._raw_append(ex, event_type, attrs, now)
        self._session_done_wt(ex, wt)
        next_attempt = wt.attempt + 1
        st.wt = WorkflowTaskInfo(
            attempt=next_attempt,
            scheduled_time=now,
            ready_time=0.0 if immediate else now + _wt_retry_delay(next_attempt),
            last_failure=failure,
        )
        st.sticky_session = None
        st.sticky_event_id = 0
        if cause is WorkflowTaskFailedCause.UNKNOWN_WORKFLOW_TYPE or next_attempt in (2, 3) or next_attempt % 10 == 0:
            log.warning(
                "workflow task of %s (run %s) failed, attempt %d: %s",
                ex.record.workflow_id,
                ex.record.run_id,
                wt.attempt,
                failure.get("message"),
            )
        await self._commit(ex)
        self._arm_wt(ex.record, st.wt)

    async def _wt_lost(self, ex: Execution, wt: WorkflowTaskInfo, message: str) -> None:
        """The worker holding the task is gone: hand the same task to another worker at once."""
        if wt.started_written:
            failure = {"message": message, "type": "WorkerLost", "kind": "server"}
            await self._wt_failed(ex, wt, WorkflowTaskFailedCause.WORKER_LOST, failure, immediate=True)
            return
        self._session_done_wt(ex, wt)
        wt.started = False
        wt.session_id = None
        ex.state.sticky_session = None
        ex.state.sticky_event_id = 0
        self._arm_wt(ex.record, wt)

    async def _on_wt_timeout(self, run_id: str, attempt: int, started_event_id: int) -> None:
        ex = await self._load(run_id)
        if ex is None:
            return
        async with ex.lock:
            wt = ex.state.wt
            if wt is None or not wt.started or wt.attempt != attempt or wt.started_event_id != started_event_id:
                return
            failure = {
                "message": f"workflow task timed out after {self.wt_timeout:g}s",
                "type": "TimeoutError",
                "kind": "timeout",
                "timeout_type": "START_TO_CLOSE",
            }
            await self._wt_failed(
                ex,
                wt,
                WorkflowTaskFailedCause.WORKFLOW_CODE_ERROR,
                failure,
                event_type=EventType.WORKFLOW_TASK_TIMED_OUT,
            )

    async def _on_wt_ready(self, run_id: str, attempt: int) -> None:
        ex = await self._load(run_id)
        if ex is None:
            return
        wt = ex.state.wt
        if ex.running and wt is not None and wt.attempt == attempt and not wt.started:
            self.matching.offer_workflow_task(ex.record.namespace, ex.record.task_queue, run_id, None)

    async def _on_sticky_timeout(self, session_id: str, run_id: str) -> None:
        s = self.matching.sessions.get(session_id)
        if s is not None and self.matching.unstick(s, run_id):
            ex = self._cache.get(run_id)
            if ex is not None and ex.state.sticky_session == session_id:
                ex.state.sticky_session = None
                ex.state.sticky_event_id = 0

    # ================================================================================================
    # Activity tasks
    # ================================================================================================

    async def poll_activity_task(self, session: Session, wait: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + min(wait, self.config.max_poll_wait.total_seconds())
        while not session.closed and not self.stopping:
            ref = self.matching.take_activity_task(session)
            if ref is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                waiter = self.matching.wait(session, "activity")
                try:
                    got = await asyncio.wait_for(asyncio.shield(waiter.future), timeout=remaining)
                except TimeoutError:
                    if not waiter.future.done():
                        waiter.future.set_result(None)
                    else:
                        self.matching.give_back(waiter, "activity")
                    return None
                except asyncio.CancelledError:
                    if not waiter.future.done():
                        waiter.future.set_result(None)
                    else:
                        self.matching.give_back(waiter, "activity")
                    raise
                if got is None:
                    continue
                assert isinstance(got, tuple)
                ref = got
            task = await self._start_activity_task(ref, session)
            if task is not None:
                return task
        return None

    async def _start_activity_task(self, ref: tuple[str, int], session: Session) -> dict[str, Any] | None:
        run_id, sched_id = ref
        ex = await self._load(run_id)
        if ex is None:
            return None
        async with ex.lock:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None or act.state is not ActivityState.SCHEDULED or session.closed:
                return None
            now = self.clock.now()
            rec = ex.record
            act.state = ActivityState.STARTED
            act.last_started_time = now
            act.session_id = session.id
            act.last_identity = session.identity
            session.inflight_activities.add(ref)
            if act.start_to_close is not None:
                self.timers.schedule(
                    now + act.start_to_close,
                    self._on_activity_timeout,
                    run_id,
                    sched_id,
                    act.attempt,
                    TimeoutType.START_TO_CLOSE,
                )
            if act.heartbeat is not None:
                self.timers.schedule(
                    now + act.heartbeat,
                    self._on_activity_timeout,
                    run_id,
                    sched_id,
                    act.attempt,
                    TimeoutType.HEARTBEAT,
                )
            return {
                "task_token": _act_token(run_id, sched_id, act.attempt),
                "namespace": rec.namespace,
                "workflow_id": rec.workflow_id,
                "run_id": run_id,
                "workflow_type": rec.workflow_type,
                "activity_id": act.activity_id,
                "activity_type": act.activity_type,
                "task_queue": act.task_queue,
                "input": act.input,
                "attempt": act.attempt,
                "scheduled_time": iso(act.scheduled_time),
                "started_time": iso(now),
                "heartbeat_details": act.heartbeat_details,
                "schedule_to_close_timeout": act.schedule_to_close,
                "start_to_close_timeout": act.start_to_close,
                "heartbeat_timeout": act.heartbeat,
            }

    async def _current_activity(self, token: str) -> tuple[Execution, int, int]:
        run_id, sched_id, attempt = _parse_token(token, "a")
        ex = await self._load(run_id)
        if ex is None:
            raise NotFoundError("activity task not found", status=404, code="task_not_found")
        return ex, sched_id, attempt

    @staticmethod
    def _check_activity(ex: Execution, sched_id: int, attempt: int) -> ActivityInfo:
        act = ex.state.activities.get(sched_id)
        if not ex.running or act is None or act.attempt != attempt or act.state is ActivityState.BACKOFF:
            raise NotFoundError(
                "this activity task is no longer current (it timed out and was retried, or the workflow closed)",
                status=404,
                code="task_not_found",
            )
        return act

    def _session_done_activity(self, ex: Execution, act: ActivityInfo) -> None:
        if act.session_id is not None:
            s = self.matching.sessions.get(act.session_id)
            if s is not None:
                s.inflight_activities.discard((ex.record.run_id, act.scheduled_event_id))
            act.session_id = None

    def _activity_started_event(self, ex: Execution, act: ActivityInfo, now: float) -> int:
        # ActivityTaskStarted is written when the activity closes, with the attempt that closed it, so
        # retries don't add an event each (as in Temporal).
        e = self._append(
            ex,
            EventType.ACTIVITY_TASK_STARTED,
            {
                "scheduled_event_id": act.scheduled_event_id,
                "attempt": act.attempt,
                "identity": act.last_identity,
                "last_failure": act.last_failure,
            },
            act.last_started_time or now,
        )
        return e.event_id

    async def complete_activity_task(self, req: m.CompleteActivityTaskRequest) -> None:
        ex, sched_id, attempt = await self._current_activity(req.task_token)
        async with ex.lock:
            act = self._check_activity(ex, sched_id, attempt)
            now = self.clock.now()
            started_id = self._activity_started_event(ex, act, now)
            self._append(
                ex,
                EventType.ACTIVITY_TASK_COMPLETED,
                {
                    "scheduled_event_id": sched_id,
                    "started_event_id": started_id,
                    "result": req.result,
                    "identity": act.last_identity,
                },
                now,
            )
            self._session_done_activity(ex, act)
            del ex.state.activities[sched_id]
            fx = _Effects()
            self._schedule_wt(ex, now, fx)
            await self._commit(ex)
            self._after_commit(ex, fx)

    async def fail_activity_task(self, req: m.FailActivityTaskRequest) -> None:
        ex, sched_id, attempt = await self._current_activity(req.task_token)
        async with ex.lock:
            act = self._check_activity(ex, sched_id, attempt)
            await self._activity_attempt_failed(
                ex, act, req.failure.model_dump(exclude_none=True), immediate=False, timeout_type=None
            )

    async def heartbeat_activity_task(self, req: m.HeartbeatActivityTaskRequest) -> dict[str, Any]:
        ex, sched_id, attempt = await self._current_activity(req.task_token)
        async with ex.lock:
            act = self._check_activity(ex, sched_id, attempt)
            now = self.clock.now()
            act.last_heartbeat_time = now
            changed = req.details is not None and req.details != act.heartbeat_details
            if req.details is not None:
                act.heartbeat_details = req.details
            if act.heartbeat is not None:
                self.timers.schedule(
                    now + act.heartbeat,
                    self._on_activity_timeout,
                    ex.record.run_id,
                    sched_id,
                    act.attempt,
                    TimeoutType.HEARTBEAT,
                )
            if changed:
                # Details survive a retry and a server restart, so they are committed.
                await self._commit(ex)
        return {"cancel_requested": False}

    async def _activity_attempt_failed(
        self,
        ex: Execution,
        act: ActivityInfo,
        failure: dict[str, Any],
        *,
        immediate: bool,
        timeout_type: TimeoutType | None,
    ) -> None:
        """One attempt failed: retry it per its policy, or fail the activity for good."""
        now = self.clock.now()
        retry = act.retry
        self._session_done_activity(ex, act)
        retry_state = None
        if failure.get("non_retryable") or failure.get("type") in (retry.get("non_retryable_error_types") or []):
            retry_state = "NON_RETRYABLE_FAILURE"
        elif retry.get("maximum_attempts") and act.attempt >= int(retry["maximum_attempts"]):
            retry_state = "MAXIMUM_ATTEMPTS_REACHED"
        delay = 0.0 if immediate else _retry_interval(retry, act.attempt)
        if (
            retry_state is None
            and act.schedule_to_close is not None
            and now + delay >= act.scheduled_time + act.schedule_to_close
        ):
            retry_state = "TIMEOUT"
        if retry_state is None:
            act.attempt += 1
            act.last_failure = failure
            act.next_attempt_time = now + delay
            if delay <= 0:
                act.state = ActivityState.SCHEDULED
                act.attempt_scheduled_time = now
            else:
                act.state = ActivityState.BACKOFF
            await self._commit(ex)
            rec = ex.record
            if act.state is ActivityState.SCHEDULED:
                self.matching.offer_activity_task(rec.namespace, act.task_queue, (rec.run_id, act.scheduled_event_id))
                self._arm_activity_schedule_timers(rec.run_id, act)
            else:
                self.timers.schedule(now + delay, self._on_retry_due, rec.run_id, act.scheduled_event_id, act.attempt)
            return
        act.last_failure = failure
        started_id = self._activity_started_event(ex, act, now)
        if timeout_type is None:
            self._append(
                ex,
                EventType.ACTIVITY_TASK_FAILED,
                {
                    "scheduled_event_id": act.scheduled_event_id,
                    "started_event_id": started_id,
                    "failure": failure,
                    "retry_state": retry_state,
                    "attempt": act.attempt,
                    "identity": act.last_identity,
                },
                now,
            )
        else:
            self._append(
                ex,
                EventType.ACTIVITY_TASK_TIMED_OUT,
                {
                    "scheduled_event_id": act.scheduled_event_id,
                    "started_event_id": started_id,
                    "failure": failure,
                    "retry_state": retry_state,
                    "attempt": act.attempt,
                },
                now,
            )
        del ex.state.activities[act.scheduled_event_id]
        fx = _Effects()
        self._schedule_wt(ex, now, fx)
        await self._commit(ex)
        self._after_commit(ex, fx)

    async def _on_retry_due(self, run_id: str, sched_id: int, attempt: int) -> None:
        ex = await self._load(run_id)
        if ex is None:
            return
        async with ex.lock:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None or act.attempt != attempt or act.state is not ActivityState.BACKOFF:
                return
            act.state = ActivityState.SCHEDULED
            act.attempt_scheduled_time = self.clock.now()
            # Not committed: a restart finds BACKOFF with a past time and hands it out at once.
            self.matching.offer_activity_task(ex.record.namespace, act.task_queue, (run_id, sched_id))
            self._arm_activity_schedule_timers(run_id, act)

    async def _on_activity_timeout(self, run_id: str, sched_id: int, attempt: int, kind: TimeoutType) -> None:
        ex = await self._load(run_id)
        if ex is None:
            return
        async with ex.lock:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None:
                return
            now = self.clock.now()
            if kind is TimeoutType.SCHEDULE_TO_CLOSE:
                pass  # applies across attempts
            elif act.attempt != attempt:
                return
            elif kind is TimeoutType.SCHEDULE_TO_START:
                if act.state is not ActivityState.SCHEDULED:
                    return
            elif kind is TimeoutType.START_TO_CLOSE:
                if act.state is not ActivityState.STARTED:
                    return
            elif kind is TimeoutType.HEARTBEAT:
                if act.state is not ActivityState.STARTED or act.heartbeat is None:
                    return
                last = max(act.last_heartbeat_time or 0.0, act.last_started_time or 0.0)
                if now < last + act.heartbeat - 0.001:
                    return  # a later heartbeat re-armed it
            seconds = {
                TimeoutType.SCHEDULE_TO_CLOSE: act.schedule_to_close,
                TimeoutType.START_TO_CLOSE: act.start_to_close,
                TimeoutType.SCHEDULE_TO_START: act.schedule_to_start,
                TimeoutType.HEARTBEAT: act.heartbeat,
            }[kind]
            failure: dict[str, Any] = {
                "message": f"activity {kind.value} timeout ({seconds:g}s) elapsed",
                "type": "TimeoutError",
                "kind": "timeout",
                "timeout_type": kind.value,
                "non_retryable": False,
            }
            if act.heartbeat_details is not None:
                failure["last_heartbeat_details"] = act.heartbeat_details
            if kind in (TimeoutType.SCHEDULE_TO_CLOSE, TimeoutType.SCHEDULE_TO_START):
                # Not retried: the time budget is spent (schedule-to-close) or nobody is polling
                # (schedule-to-start), so another attempt would fare no better.
                failure["non_retryable"] = True
            if kind is TimeoutType.SCHEDULE_TO_CLOSE and act.last_failure is not None:
                failure["cause"] = act.last_failure
            await self._activity_attempt_failed(ex, act, failure, immediate=False, timeout_type=kind)

    # ================================================================================================
    # Durable timers
    # ================================================================================================

    async def _on_user_timer(self, run_id: str, timer_id: str, started_event_id: int) -> None:
        ex = await self._load(run_id)
        if ex is None:
            return
        async with ex.lock:
            t = ex.state.timers.get(timer_id)
            if not ex.running or t is None or t.started_event_id != started_event_id:
                return
            now = self.clock.now()
            if now < t.fire_time:  # woken early (e.g. clock adjusted): try again at the right time
                self.timers.schedule(t.fire_time, self._on_user_timer, run_id, timer_id, started_event_id)
                return
            del ex.state.timers[timer_id]
            self._append(ex, EventType.TIMER_FIRED, {"timer_id": timer_id, "started_event_id": started_event_id}, now)
            fx = _Effects()
            self._schedule_wt(ex, now, fx)
            await self._commit(ex)
            self._after_commit(ex, fx)
