"""The engine: the transition core (``_core``, ``_transition``) and the features it is made of
(``features``), put together; and what clients and workers call that is no feature's: starting
workflows, describing and listing them, their histories, waiting for results, task queues, and
worker sessions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from .._validation import describe_input_error, schema_error, schema_problem
from .._visibility._ast import STATUS_NAMES, VisibilityQuery
from ..api import models as m
from ..api.enums import (
    ActivityState,
    EventType,
    WorkflowStatus,
)
from ..errors import (
    InvalidArgumentError,
    NotFoundError,
    RPCError,
)
from ..storage import (
    ConditionFailedError,
    ExecutionAlreadyRunningError,
    ExecutionRecord,
    ExecutionWrite,
    ListQuery,
    StorageError,
    Store,
)
from ._audit import AuditLog
from ._auth import Authenticator
from ._config import ServerConfig
from ._core import EngineCore
from ._execution import Execution, iso, new_run_id
from ._history_pages import PAGE_EVENTS, read_page
from ._logs import about
from ._matching import Kind, Session
from ._state import ActivityInfo, ExecutionState
from ._timers import Clock
from ._transition import Transition
from .features import run_options, search_attributes, timers, workflow_timeouts
from .features.activity_tasks import ActivityTasks
from .features.async_completion import AsyncCompletion
from .features.batch import Batches
from .features.cancellation import Cancellation
from .features.child_workflows import ChildWorkflows
from .features.continue_as_new import next_run_id
from .features.cron_workflows import CronWorkflows, with_first_delay
from .features.deletion import Deletion
from .features.queries import Queries
from .features.reset import Reset, reset_from
from .features.schedules import Schedules
from .features.search_attributes import SearchAttributes
from .features.signal_with_start import SignalWithStart
from .features.signals import HandlerSchemas, Signals
from .features.start_policies import StartPolicies, refused_running
from .features.updates import Updates
from .features.versioning import describe_build, pinned_hint, queue_builds
from .features.workflow_tasks import WorkflowTasks

__all__ = ["Engine", "iso"]

log = logging.getLogger("mainspring.server")

T = TypeVar("T")

#: How long the server waits for a worker to say where a workflow waits.
STACK_TIMEOUT = 5.0
#: Backlogs longer than this are counted as they are, without checking each entry is still wanted.
_BACKLOG_CHECK_LIMIT = 10_000


class Engine(EngineCore):
    """The engine: the transition core and the features it is made of, over one ``Store``."""

    def __init__(self, store: Store, config: ServerConfig, clock: Clock | None = None) -> None:
        super().__init__(store, config, clock)
        # Each feature registers what it adds to the core (its effects, what it re-arms, what it lets
        # go of when a run closes); the order here is the order they are called in.
        self.handler_schemas = HandlerSchemas(store)
        self.updates = Updates(self, self.handler_schemas)
        self.workflow_tasks = WorkflowTasks(self, self.updates)
        self.activity_tasks = ActivityTasks(self)
        self.cancellation = Cancellation(self)
        self.signals = Signals(self, self.handler_schemas)
        self.queries = Queries(self, self.handler_schemas)
        self.signal_with_start = SignalWithStart(self, self.signals, self._start)
        timers.register(self)
        self.workflow_timeouts = workflow_timeouts.WorkflowTimeouts(self)
        self.cron_workflows = CronWorkflows(self)  # after workflow_timeouts: a retry comes before the next cron run
        self.child_workflows = ChildWorkflows(self)
        self.on_successor(run_options.inherit)
        self.start_policies = StartPolicies(self, self.cancellation)
        self.deletion = Deletion(self, self.cancellation)
        self.async_completion = AsyncCompletion(self, self.activity_tasks)
        self.reset = Reset(self)
        self.schedules = Schedules(self, self._start, self.cancellation)
        self.batches = Batches(self, self.cancellation, self.signals, self.reset)
        self.search_attributes = SearchAttributes(self)
        #: Who may call (``--auth``): the API keys and the UI's sessions (see ``_auth``).
        self.auth = Authenticator(store, config.auth, config.oidc)
        #: Who changed what (``_audit``): kept when the server checks who calls, else None (nothing paid).
        self.audit = AuditLog(store) if self.auth.enabled else None
        #: A first admin key made at this start (a store with no key at all, and auth on): to print once.
        self.first_api_key: str | None = None

    async def start(self) -> None:
        await self._load_token_key()
        self.first_api_key = await self.auth.start()
        for ns in self.config.namespaces:
            await self.store.create_namespace(ns)
        self._namespaces = {n.name for n in await self.store.list_namespaces()}
        await self.search_attributes.start(self.config.namespaces if self.config.dev_search_attributes else ())
        await self._recover()
        self.timers.start()
        await self.schedules.start()  # after the timers: each schedule's first look may start runs
        await self.batches.start()  # after recovery: a resumed job acts on the runs' stored states
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_sessions(), name="mainspring-sessions")
        self._watcher = asyncio.get_running_loop().create_task(self.admission.watch(), name="mainspring-load")

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
        await self.batches.stop()
        await self.auth.stop()
        if self.audit is not None:
            try:
                await self.audit.stop()
            except StorageError as e:
                log.warning("could not write the last audit entries: %s", e)
        await self._drain_behind()
        for task in (self._sweeper, self._watcher):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        await self.timers.stop()

    async def _recover(self) -> None:
        """Rebuild queues and timers from every open execution's stored state. A run whose state cannot
        be read is set aside (see ``_state_of``): the server starts, and runs every other one."""
        count = 0
        async for rec in self.store.open_executions():
            st = self._state_of(rec)
            if st is None:
                continue
            try:
                self._rearm(rec, st)
            except Exception as e:
                problem = f"its tasks and timers could not be re-armed ({type(e).__name__}: {e})"
                self.set_aside[rec.run_id] = problem
                log.error(
                    "workflow %s (run %s) is set aside: %s", rec.workflow_id, rec.run_id, problem, extra=about(rec)
                )
                continue
            count += 1
        if count:
            log.info("recovered %d open workflow executions", count)
        if self.set_aside:
            log.error(
                "%d workflow runs are set aside because their stored state cannot be read (see above); "
                "`mainspring workflow describe` shows why",
                len(self.set_aside),
            )

    async def create_namespace(self, name: str, description: str) -> bool:
        created = await self.store.create_namespace(name, description)
        self._namespaces.add(name)
        return created

    async def start_workflow(self, namespace: str, req: m.StartWorkflowRequest) -> tuple[str, bool]:
        """Start a run; returns (run_id, created). A repeated ``request_id`` returns the same run."""
        self.check_namespace(namespace)
        self._check_payload("the workflow input", req.input)
        req = with_first_delay(req, self.clock.now())  # a cron workflow's first run waits for its first time
        ticket = self.admission.admit("starts")
        try:
            return await self._start(namespace, req)
        finally:
            self.admission.done(ticket)

    async def _start(
        self,
        namespace: str,
        req: m.StartWorkflowRequest,
        also: Callable[[Transition], None] | None = None,
        *,
        start_attrs: dict[str, Any] | None = None,
        system_attributes: dict[str, list[Any]] | None = None,
    ) -> tuple[str, bool]:
        """Create the run (see ``start_workflow``). ``also(t)`` appends what the run is created with besides
        its start (signal-with-start's signal): written in the same creation, so no one sees the run without it.
        ``start_attrs`` are more attributes of its WorkflowExecutionStarted event (a child's parent).
        ``system_attributes`` are built-in search attributes the server gives it, in stored form (a scheduled
        run's ``TemporalScheduledById``). The run is created as its id policies allow
        (``features.start_policies``)."""
        schema = await self._workflow_schema(namespace, req.task_queue, req.workflow_type)
        if schema is not None:
            problem = schema_error(req.input, schema)
            if problem is not None:
                raise InvalidArgumentError(
                    describe_input_error(req.workflow_type, problem),
                    code="invalid_input",
                )
        if req.memo is not None:
            self._check_payload("the memo", req.memo)
        if req.header is not None:
            self._check_payload("the header", req.header)
        # Checked against the namespace's registry before anything is written (400 naming the attribute).
        sa_stored = await self.search_attributes.at_start(namespace, req.search_attributes)
        if system_attributes:
            sa_stored = {**(sa_stored or {}), **system_attributes}
        if sa_stored:  # typed in the start event, for the workflow code (ctx.typed_search_attributes)
            start_attrs = {**(start_attrs or {}), "search_attributes": search_attributes.typed(sa_stored)}

        def create(
            namespace: str,
            req: m.StartWorkflowRequest,
            also: Callable[[Transition], None] | None,
            if_current: str | None,
        ) -> Coroutine[Any, Any, tuple[str, bool]]:
            return self._create(namespace, req, also, if_current, start_attrs, sa_stored)

        return await self.start_policies.start(namespace, req, also, create)

    async def _create(
        self,
        namespace: str,
        req: m.StartWorkflowRequest,
        also: Callable[[Transition], None] | None,
        if_current: str | None,
        start_attrs: dict[str, Any] | None = None,
        sa_stored: dict[str, list[Any]] | None = None,
    ) -> tuple[str, bool]:
        """Write the new run; ``if_current``: the workflow id's newest run the creation is conditional on
        (``ExecutionWrite.if_current``: ``ConditionFailedError`` if it is no longer that one)."""
        now = self.clock.now()
        run_id = new_run_id()
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
        ex = Execution(rec, ExecutionState(), new=True)
        # Not under a TransitionScope: no one else knows the run yet, and its write is not a commit over
        # a stored version but the creation (see below).
        t = Transition(self, ex)
        t.now = now
        t.append_raw(
            EventType.WORKFLOW_EXECUTION_STARTED,
            {
                "workflow_type": req.workflow_type,
                "task_queue": req.task_queue,
                "input": req.input,
                "workflow_id": req.workflow_id,
                "run_id": run_id,
                "attempt": 1,
                **workflow_timeouts.start_attributes(req),
                **(start_attrs or {}),
                **run_options.started_attributes(req),
            },
        )
        if also is not None:
            also(t)
        workflow_timeouts.started(t, req)
        run_options.begin_run(t, req)  # its first workflow task: now, or after its start delay
        search_attributes.give(t, sa_stored)  # (checked by ``_start``)
        rec.state = ex.state.to_dict()
        puts, _, _ = ex.state.take_changes()  # none, unless ``also`` added a pending item
        events, ex.events = ex.events, []
        ex.remember(events)
        # The first workflow task is offered while the start is being written, so a worker runs it
        # during the commit instead of after it. That is safe: workflow code has no effects, and the
        # task's completion is committed only once the start is durable (``_commit`` waits for
        # ``creating``); if the start fails, the completion is refused and nothing happened.
        # A copy of the record: the first task's completion changes the live one (status, next event id,
        # version) as soon as it comes, which may be before the store's thread has written this create.
        creating = ex.creating = asyncio.ensure_future(
            self.store.write(
                ExecutionWrite(dataclasses.replace(rec), None, events, put_items=puts, if_current=if_current)
            )
        )

        def settled(f: asyncio.Future[None]) -> None:
            error = None if f.cancelled() else f.exception()
            if f.cancelled() or error is not None:
                if self._cache.get(run_id) is ex:
                    del self._cache[run_id]
                if isinstance(error, StorageError) and not isinstance(
                    error, (ExecutionAlreadyRunningError, ConditionFailedError)
                ):
                    self.health.failed()
            else:
                ex.creating = None
                if self.health.failures:
                    self.health.succeeded()
                if self.metrics is not None:
                    self.metrics.workflow_started(namespace, req.workflow_type)

        creating.add_done_callback(settled)
        self._cache[run_id] = ex
        self._trim_cache()
        self._act(ex, t.fx)
        try:
            await asyncio.shield(creating)
        except ExecutionAlreadyRunningError as e:
            if req.request_id is not None and e.request_id == req.request_id:
                return e.run_id, False
            raise refused_running(req.workflow_id, e.run_id) from None
        return run_id, True

    async def _workflow_schema(self, namespace: str, task_queue: str, workflow_type: str) -> dict[str, Any] | None:
        key = (namespace, task_queue, workflow_type)
        if key not in self._schemas:
            self._schemas[key] = await self.store.get_workflow_schema(*key)
        return self._schemas[key]

    async def _read(self, rec: ExecutionRecord, build: Callable[[ExecutionRecord, ExecutionState], T]) -> T:
        """``build`` from the run's committed state: a transition in progress changes the in-memory copy
        before its commit, so a cached run is read under its lock (after that transition is durable)."""
        ex = self._cache.get(rec.run_id)
        if ex is None:
            return build(rec, self._state_of(rec) or ExecutionState())
        await self._created(ex)
        async with ex.lock:
            await self._written(ex)
            return build(ex.record, ex.state)

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
        first = await self.store.read_history(rec.run_id, 1, 1)
        workflow_input = first[0].attributes.get("input") if first else None
        out, closed = await self._read(rec, lambda r, st: (self._description(r, st, workflow_input), _closed(r, st)))
        if closed is not None:  # a closed run no longer changes: its outcome can be read after the lock
            out["result"], out["failure"] = await self._outcome(*closed)
        # The runs before and after it in its chain (continue-as-new, retries).
        out["previous_run_id"] = first[0].attributes.get("continued_execution_run_id") if first else None
        out["next_run_id"] = await next_run_id(self, closed[0]) if closed is not None else None
        # Made by a reset: its first event says from which run and event (features.reset).
        out["reset_from"] = reset_from(first[0].attributes if first else None)
        out["handlers"] = await self._announced_handlers(namespace, rec)
        # The options it was started with: memo, start delay, task timeout (features.run_options).
        out.update(
            run_options.describe_options(first[0].attributes if first else None, rec.start_time, self.wt_timeout)
        )
        # The memo as workflow code upserted it, and the search attributes (features.search_attributes).
        out.update(search_attributes.describe(out.pop("_search_attributes"), out.pop("_memo"), out.get("memo")))
        return out

    async def _announced_handlers(self, namespace: str, rec: ExecutionRecord) -> list[dict[str, Any]] | None:
        """The signal, query and update handlers the run's workflow type announced on its task queue, in the
        order its worker announced them (None if none was announced: a function workflow, or no worker yet)."""
        table = await self.handler_schemas.of(namespace, rec.task_queue, rec.workflow_type)
        if table is None:
            return None
        return [{"kind": kind, "name": name, "input_schema": schema} for (kind, name), schema in table.items()]

    def _description(self, rec: ExecutionRecord, st: ExecutionState, workflow_input: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            # Read after the lock (``describe``): copies, so that a later transition changes neither.
            "_search_attributes": dict(st.search_attributes or {}),
            "_memo": dict(st.memo) if st.memo is not None else None,
            "execution": self._info(rec),
            "input": workflow_input,
            "result": None,  # filled from the closing event (see describe)
            "failure": None,
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
                    "cancel_requested": a.cancel_requested,
                    "completing_async": a.completing_async,
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
            "cancel_requested": st.cancel_request,
            "problem": self.set_aside.get(rec.run_id),
            **self.child_workflows.relationships(st),
            "reset_to": st.reset_links.get("to"),
            **describe_build(st),
        }
        wt = st.wt
        if wt is not None:
            out["pending_workflow_task"] = {
                "state": "STARTED" if wt.started else ("BACKOFF" if wt.ready_time > self.clock.now() else "SCHEDULED"),
                "attempt": wt.attempt,
                "scheduled_time": iso(wt.scheduled_time),
                "started_time": iso(wt.started_time) if wt.started else None,
                "last_failure": wt.last_failure,
                # A run pinned to a build no worker runs any more waits for one: say so (features.versioning).
                "hint": None if wt.started else pinned_hint(self.matching, rec.namespace, rec.task_queue, st),
            }
        return out

    async def history(
        self, namespace: str, workflow_id: str, run_id: str | None, first_event_id: int, limit: int
    ) -> dict[str, Any]:
        rec = await self._find(namespace, workflow_id, run_id)
        # A page is bounded (events and bytes), and a large one is read and built off the event loop:
        # a client reading a long history must not stall other workflows (see _history_pages).
        limit = max(1, min(limit, PAGE_EVENTS))
        page = await read_page(self.store, rec.run_id, first_event_id, rec.next_event_id - 1, most=limit)
        next_token = None
        if page.count and page.last_event_id < rec.next_event_id - 1:
            next_token = str(page.last_event_id + 1)
        return {"events": page.events, "next_page_token": next_token}

    async def wait_result(self, namespace: str, workflow_id: str, run_id: str | None, wait: float) -> dict[str, Any]:
        """Wait up to ``wait`` s for the run to close, following it to the runs that continued it (continue-as-new,
        a retry): the answer is the last run's (its ``run_id``), RUNNING if that one still runs."""
        deadline = time.monotonic() + wait
        while True:
            out, nxt = await self._wait_one(namespace, workflow_id, run_id, max(0.0, deadline - time.monotonic()))
            if nxt is None:
                return out
            run_id = nxt

    async def _wait_one(
        self, namespace: str, workflow_id: str, run_id: str | None, wait: float
    ) -> tuple[dict[str, Any], str | None]:
        rec = await self._find(namespace, workflow_id, run_id)
        if rec.status is WorkflowStatus.RUNNING and wait > 0:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._result_waiters.setdefault(rec.run_id, []).append(fut)
            try:
                await asyncio.wait_for(fut, timeout=min(wait, self.config.max_poll_wait.total_seconds()))
            except TimeoutError:
                pass
            finally:  # also when the waiting client went away
                waiters = self._result_waiters.get(rec.run_id)
                if waiters is not None and fut in waiters:
                    waiters.remove(fut)
                    if not waiters:
                        del self._result_waiters[rec.run_id]
            rec = await self._find(namespace, workflow_id, rec.run_id)
        out, closed = await self._read(
            rec,
            lambda r, st: (
                dict[str, Any](workflow_id=r.workflow_id, run_id=r.run_id, status=r.status.value),
                _closed(r, st),
            ),
        )
        out["result"], out["failure"] = await self._outcome(*closed) if closed is not None else (None, None)
        return out, await next_run_id(self, closed[0]) if closed is not None else None

    # --- where a workflow waits -------------------------------------------------------------------------

    async def workflow_stack(self, namespace: str, workflow_id: str, run_id: str | None) -> dict[str, Any]:
        """Ask the worker that holds the run in its cache where each of its coroutines waits."""
        rec = await self._find(namespace, workflow_id, run_id)
        out: dict[str, Any] = {
            "workflow_id": rec.workflow_id,
            "run_id": rec.run_id,
            "worker": None,
            "coroutines": [],
            "message": None,
        }
        if rec.status is not WorkflowStatus.RUNNING:
            out["message"] = f"the run is {rec.status.value}: none of its code is waiting any more"
            return out
        ex = self._cache.get(rec.run_id)
        session = self.workflow_tasks.sticky_session(ex) if ex is not None else None
        if session is None:
            out["message"] = (
                "no worker holds this workflow in memory right now; a worker rebuilds it from its history "
                "when its next workflow task runs"
            )
            return out
        out["worker"] = session.identity
        if session.link is None:
            out["message"] = f"worker {session.identity} holds it but polls over HTTP, so it cannot be asked"
            return out
        try:
            answer = await session.link.request("stack", {"run_id": rec.run_id}, STACK_TIMEOUT)
        except TimeoutError:
            out["message"] = f"worker {session.identity} did not answer within {STACK_TIMEOUT:g} s"
            return out
        except (RPCError, ConnectionError) as e:
            out["message"] = f"worker {session.identity} could not answer: {getattr(e, 'message', None) or e}"
            return out
        try:
            checked = m.WorkflowStackResponse.model_validate(
                {
                    **out,
                    "coroutines": answer.get("coroutines") or [],
                    "message": answer.get("message"),
                }
            )
        except (ValueError, AttributeError):
            out["message"] = f"worker {session.identity} gave an answer that could not be read"
            return out
        return checked.model_dump()

    # --- task queues ------------------------------------------------------------------------------------

    def task_queues(self, namespace: str, name: str | None = None) -> dict[str, Any]:
        """Every task queue of the namespace that has workers or ready tasks: its workers and backlog."""
        self.check_namespace(namespace)
        now = self.clock.now()
        queues: dict[str, dict[str, Any]] = {}

        def entry(queue: str) -> dict[str, Any]:
            e = queues.get(queue)
            if e is None:
                e = queues[queue] = {"name": queue, "workers": [], "backlog": {"workflow": 0, "activity": 0}}
            return e

        for s in sorted(self.matching.sessions.values(), key=lambda s: s.connected_since):
            if s.closed or s.namespace != namespace or (name and s.task_queue != name):
                continue
            e = entry(s.task_queue)
            e["workers"].append(
                {
                    "identity": s.identity,
                    "session_id": s.id,
                    # An open channel is a live worker: the server hears from it as long as it is open.
                    "last_seen": iso(now if s.on_channel else s.last_seen),
                    "connected_since": iso(s.connected_since),
                    "workflow_types": list(s.workflow_types),
                    "activity_types": list(s.activity_types),
                    "channel": s.on_channel,
                    "build_id": s.build_id,
                }
            )
            if s.sticky:
                e["backlog"]["workflow"] += self._backlog(s.sticky, "workflow")
        for (ns, queue, kind), q in list(self.matching.queues.items()):
            if ns != namespace or (name and queue != name):
                continue
            n = self._backlog(q.ready, kind)
            if n:
                entry(queue)["backlog"][kind] += n
        for ns, queue, _build, _kind in list(self.matching.build_queues):
            if ns == namespace and (not name or queue == name):
                entry(queue)
        for queue, e in queues.items():
            e["builds"] = queue_builds(self.matching, namespace, queue, lambda refs: self._backlog(refs, "workflow"))
            e["backlog"]["workflow"] += sum(b["pinned_backlog"] for b in e["builds"])
        return {"task_queues": [queues[k] for k in sorted(queues)]}

    def _backlog(self, refs: Iterable[Any], kind: Kind) -> int:
        """How many of ``refs`` are tasks still waiting (a queue may hold stale references)."""
        items = list(refs)
        if len(items) > _BACKLOG_CHECK_LIMIT:
            return len(items)
        count = 0
        for ref in set(items):
            if kind == "workflow":
                assert isinstance(ref, str)
                ex = self._cache.get(ref)
                if ex is None or (ex.running and ex.state.wt is not None and not ex.state.wt.started):
                    count += 1
            else:
                assert isinstance(ref, tuple)
                ex = self._cache.get(ref[0])
                if ex is None:
                    count += 1
                else:
                    act: ActivityInfo | None = ex.state.activities.get(ref[1])
                    if ex.running and act is not None and act.state is ActivityState.SCHEDULED:
                        count += 1
        return count

    async def list_workflows(self, namespace: str, query: ListQuery) -> dict[str, Any]:
        self.check_namespace(namespace)
        records, token = await self.store.list_executions(namespace, query)
        # As stored, i.e. committed (a cached copy may be ahead of its commit).
        executions = [self._info(r) for r in records]
        stored = await self.store.listed_search_attributes([r.run_id for r in records])
        for info in executions:
            raw = stored.get(info["run_id"])
            if raw is not None:
                info["search_attributes"] = search_attributes.listed(raw)
        return {"executions": executions, "next_page_token": token}

    async def count_workflows(
        self, namespace: str, filter: VisibilityQuery | None, group_by_status: bool = False
    ) -> dict[str, Any]:
        """How many runs the filter selects (Temporal's CountWorkflowExecutions): ``count``, and with
        ``group_by_status`` the count of each ExecutionStatus that has runs (Temporal's names)."""
        self.check_namespace(namespace)
        total, groups = await self.store.count_executions(namespace, filter, group_by_status)
        return {
            "count": total,
            "groups": [{"group_values": [STATUS_NAMES[status]], "count": n} for status, n in groups],
        }

    async def register_worker(self, namespace: str, req: m.RegisterWorkerRequest) -> Session:
        self.check_namespace(namespace)
        for wt in req.workflow_types:
            schemas = [(f"the input schema of workflow {wt.name!r}", wt.input_schema)]
            schemas += [
                (f"the payload schema of {h.kind} {h.name!r} of workflow {wt.name!r}", h.input_schema)
                for h in wt.handlers or ()
            ]
            for what, schema in schemas:
                self._check_payload(what, schema)
                problem = schema_problem(schema)
                if problem is not None:
                    raise InvalidArgumentError(f"{what} is refused: {problem}", code="invalid_argument")
        for wt in req.workflow_types:
            key = (namespace, req.task_queue, wt.name)
            handlers_news = self.handler_schemas.announced(namespace, req.task_queue, wt.name, wt.handlers)
            if self._schemas.get(key, "unset") != wt.input_schema or handlers_news:
                handlers = None if wt.handlers is None else [h.model_dump() for h in wt.handlers]
                await self.store.put_workflow_schema(namespace, req.task_queue, wt.name, wt.input_schema, handlers)
                self._schemas[key] = wt.input_schema
        if req.build_id is not None:
            started = self.clock.now() if req.started_at is None else req.started_at
            await self._note_build(namespace, req.task_queue, req.build_id, started)
        return self.matching.new_session(
            namespace,
            req.task_queue,
            req.identity,
            [w.name for w in req.workflow_types],
            list(req.activity_types),
            self.clock.now(),
            build_id=req.build_id,
            started_at=req.started_at,
            versioning={w.name: w.versioning_behavior.value for w in req.workflow_types if w.versioning_behavior},
        )

    async def _note_build(self, namespace: str, task_queue: str, build_id: str, started: float) -> None:
        """Learn when ``build_id`` was first seen on the queue from the store, which keeps the earliest start
        of its workers: which build is newest must not change when the server restarts and an old build's
        worker reconnects first. One write per build and server, or when an earlier start shows up."""
        key = (namespace, task_queue, build_id)
        known = self.matching.build_first_seen.get(key)
        if known is not None and known <= started:
            return
        try:
            first = await self.store.note_build(namespace, task_queue, build_id, started)
        except StorageError as e:  # the worker still registers: this server orders the build by memory alone
            log.warning("could not record build %r of task queue %r: %s", build_id, task_queue, e)
            return
        self.matching.build_first_seen[key] = first if known is None else min(known, first)

    def session(self, namespace: str, session_id: str) -> Session:
        s = self.matching.sessions.get(session_id)
        if s is None or s.namespace != namespace:
            raise NotFoundError(
                f"worker session {session_id!r} is not known (the server may have restarted); register again",
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
                if not s.on_channel and now - s.last_seen > self.session_timeout:
                    log.warning(
                        "worker %s (session %s) stopped heartbeating; handing its tasks to other workers",
                        s.identity,
                        s.id,
                        extra={"namespace": s.namespace, "task_queue": s.task_queue, "session_id": s.id},
                    )
                    try:
                        await self.session_lost(s, graceful=False)
                    except Exception:
                        log.exception("failed to recover tasks of session %s", s.id)

    async def session_lost(self, s: Session, *, graceful: bool) -> None:
        """The session ended: every task it holds goes back to be run by another worker."""
        self.matching.close_session(s)
        # Each task on its own: a write that fails (its run is then reloaded and its tasks re-armed from
        # the store, see _restore) must not leave the session's other tasks with nobody to run them.
        for run_id in list(s.inflight_workflows):
            await self._hand_over(s, self.workflow_tasks.session_lost(s, run_id))
        for run_id, sched_id in list(s.inflight_activities):
            await self._hand_over(s, self.activity_tasks.session_lost(s, run_id, sched_id, graceful=graceful))
        s.inflight_workflows.clear()
        s.inflight_activities.clear()

    async def _hand_over(self, s: Session, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except (StorageError, RPCError) as e:  # a failed write, or a run whose start failed
            self.repeats.error("session", "could not hand over a task of lost worker %s: %s", s.identity, e)
        except Exception:
            log.exception("could not hand over a task of lost worker %s", s.identity)


def _closed(rec: ExecutionRecord, st: ExecutionState) -> tuple[ExecutionRecord, ExecutionState] | None:
    """``(rec, st)`` if the run is closed (then neither changes any more), else None."""
    return None if rec.status is WorkflowStatus.RUNNING else (rec, st)
