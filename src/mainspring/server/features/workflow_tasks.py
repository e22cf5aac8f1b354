"""Workflow tasks: handing them out, their completion with commands, failures, timeouts, being lost.

A task is scheduled when the workflow has something new to see (``Transition.wake``); a worker polls
it and gets the newest page of the history; its completion carries commands (schedule an activity,
start a timer, complete the workflow...) that become events. To keep one step to one commit, a task's
WorkflowTaskStarted event is not written when it is handed out, but with its outcome (or earlier, if
another event must be appended while the task is out). A task can be sticky: offered first to the
worker that ran the workflow's previous task, which keeps it cached and is sent only the new events.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import EventType, TimeoutType, WorkflowTaskFailedCause
from ...errors import InvalidArgumentError, NotFoundError
from ...storage import ExecutionRecord
from .._execution import Effects, Execution, iso, own_event_json, wt_retry_delay
from .._history_pages import PAGE_EVENTS, newest_json, read_page
from .._logs import about
from .._matching import Session
from .._state import ExecutionState, WorkflowTaskInfo
from .versioning import note_build, pin_of

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._transition import Transition
    from .updates import Updates

__all__ = ["WorkflowTasks"]

log = logging.getLogger("mainspring.server")


class WorkflowTasks:
    """The workflow-task feature of one engine: its operations, timer callbacks and effects."""

    def __init__(self, core: EngineCore, updates: Updates) -> None:
        self.core = core
        #: The updates a task carries, and what its completion says of them.
        self.updates = updates
        core.on_commit(self._act)
        core.on_rearm(self._rearm)
        core.on_close(self._closing)

    # --- handing tasks out ------------------------------------------------------------------------------

    async def poll(self, session: Session, wait: float) -> dict[str, Any] | None:
        core = self.core
        return await core._poll(session, "workflow", core.matching.take_workflow_task, self._start, wait)

    async def poll_many(self, session: Session, wait: float, most: int) -> list[dict[str, Any]]:
        core = self.core
        return await core._poll_many(session, "workflow", core.matching.take_workflow_task, self._start, wait, most)

    async def _start(self, run_id: str, session: Session) -> dict[str, Any] | None:
        core = self.core
        ex = await core._load(run_id)
        if ex is None:
            return None
        async with ex.lock:
            await core._written(ex)  # the task's history includes what is still being written
            wt = ex.state.wt
            now = core.clock.now()
            if not ex.running or wt is None or wt.started or wt.ready_time > now or session.closed:
                return None
            pin = pin_of(ex.state)
            if not core.matching.eligible(session, pin):
                # A worker of another build took it (a pinned run's task requeued on the shared queue, or
                # the current build changed meanwhile): send it on to where it belongs.
                core.matching.offer_workflow_task(ex.record.namespace, ex.record.task_queue, run_id, None, pin)
                return None
            return await self.begin(ex, session, now)

    async def begin(self, ex: Execution, session: Session, now: float) -> dict[str, Any]:
        """Hand the execution's scheduled workflow task to ``session`` (the caller holds the lock).
        Nothing is written: the task's Started event is written with its outcome."""
        core = self.core
        wt = ex.state.wt
        assert wt is not None
        rec = ex.record
        st = ex.state
        run_id = rec.run_id
        if core.touched is not None:
            core.touched.add(ex)
        wt.started = True
        wt.started_time = now
        if core.metrics is not None:
            core.metrics.workflow_task_started(rec.namespace, now - max(wt.scheduled_time, wt.ready_time))
        wt.session_id = session.id
        wt.identity = session.identity
        wt.started_written = False
        wt.new_events = False
        wt.started_event_id = rec.next_event_id + (1 if wt.transient else 0)
        # Before the history is read: a long read waits for a thread, and a session lost meanwhile must
        # find the task among its own to hand it on.
        session.inflight_workflows.add(run_id)
        timeout = st.task_timeout or core.wt_timeout  # the run's own, if its start set one (run_options)
        core.timers.schedule(now + timeout, self._on_timeout, run_id, wt.attempt, wt.started_event_id)
        sticky = st.sticky_session == session.id and st.sticky_event_id > 0
        first = st.sticky_event_id + 1 if sticky else 1
        # At most a page of the newest events: the worker fetches any older ones it lacks a page at a
        # time (history), so a long history is never one giant message.
        first = max(first, rec.next_event_id - PAGE_EVENTS + 2)
        held = ex.history_from_tail(first)
        if held is None:
            held = await core.store.read_history(run_id, first, rec.next_event_id - 1)
        events = await newest_json(held)
        if events:
            first = events[0]["event_id"]
        if wt.transient:
            events.append(
                {
                    "event_id": rec.next_event_id,
                    "event_time": iso(wt.scheduled_time),
                    "event_type": EventType.WORKFLOW_TASK_SCHEDULED.value,
                    "attributes": {"task_queue": rec.task_queue, "attempt": wt.attempt},
                }
            )
        extra = ex.started_extra = core.limits.started_attributes(ex)
        events.append(
            {
                "event_id": wt.started_event_id,
                "event_time": iso(now),
                "event_type": EventType.WORKFLOW_TASK_STARTED.value,
                "attributes": {
                    "scheduled_event_id": wt.scheduled_event_id or rec.next_event_id,
                    "identity": session.identity,
                    "attempt": wt.attempt,
                    **extra,
                },
            }
        )
        task = {
            "task_token": core._wt_token(rec, wt, session.id),
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
        if st.requested_updates:
            task["updates"] = self.updates.handed_out(ex, wt)
        task["task_timeout"] = timeout  # the worker heartbeats a task its local activities keep open
        return task

    async def history(self, namespace: str, req: m.WorkflowTaskHistoryRequest) -> dict[str, Any]:
        """A page of the history of the run a workflow task token names: what a worker that got only
        the task's newest events fetches to rebuild the workflow. Any genuine token of the namespace
        will do, current or not: stored events never change, and the namespace may read them anyway."""
        run_id = self.core.tokens.open(req.task_token, "w", namespace)[0]
        if req.last_event_id < req.first_event_id:
            raise InvalidArgumentError(
                f"last_event_id ({req.last_event_id}) is before first_event_id ({req.first_event_id})",
                code="invalid_argument",
            )
        ex = self.core._cache.get(run_id)
        if ex is not None:
            # The task (or a query's replay) may name events whose write was submitted but is not yet
            # committed (a query answered at the transition's end, before its commit): read after it.
            await self.core._written(ex)
        page = await read_page(self.core.store, run_id, req.first_event_id, req.last_event_id)
        after = page.last_event_id + 1 if page.count else None
        return {
            "events": page.events,
            "next_event_id": after if after is not None and after <= req.last_event_id else None,
        }

    # --- reports on a task --------------------------------------------------------------------------------

    def _check(
        self, ex: Execution, attempt: int, started_event_id: int, token_session: str, caller: Session | None
    ) -> WorkflowTaskInfo:
        """The task a genuine token names, if it is current and ``caller`` may report on it."""
        wt = ex.state.wt
        ok = ex.running and wt is not None and wt.attempt == attempt
        if ok and wt is not None:
            if wt.started:
                ok = wt.started_event_id == started_event_id
            else:
                # The server restarted (or forgot the task) after handing it out. The answer is still
                # good if nothing was appended since the worker saw the history.
                ok = started_event_id == ex.record.next_event_id + (1 if wt.transient else 0)
        if not ok or wt is None:
            raise NotFoundError(
                "this workflow task is no longer current (it timed out, was handed to another worker, "
                "or the workflow closed)",
                code="task_not_found",
            )
        self.core._check_holder(wt.session_id if wt.started else None, token_session, caller, "workflow")
        if not wt.started:
            wt.started = True
            wt.started_time = self.core.clock.now()
            wt.started_event_id = started_event_id
            wt.started_written = False
            wt.new_events = False
        return wt

    def _session_done(self, ex: Execution, wt: WorkflowTaskInfo) -> None:
        if wt.session_id is not None:
            s = self.core.matching.sessions.get(wt.session_id)
            if s is not None:
                s.inflight_workflows.discard(ex.record.run_id)

    async def _execution_of(self, namespace: str, token: str) -> tuple[Execution, int, int, str]:
        """The execution a workflow task token of ``namespace`` names, with the token's attempt,
        started event id and session."""
        run_id, attempt, started_event_id, session_id = self.core.tokens.open(token, "w", namespace)
        ex = await self.core._load(run_id)
        if ex is None:
            raise NotFoundError("workflow task not found", code="task_not_found")
        return ex, attempt, started_event_id, session_id

    async def complete(
        self, namespace: str, req: m.CompleteWorkflowTaskRequest, caller: Session | None = None
    ) -> dict[str, Any]:
        """Record the task's commands. The answer carries the events written (so a sticky worker's
        cached workflow stays current without waiting for its next task) and, if the worker has room,
        the activities it just scheduled, handed to it directly.

        ``namespace`` is the caller's; ``caller`` its session, if the call came on its channel."""
        core = self.core
        ex, attempt, started_event_id, token_session = await self._execution_of(namespace, req.task_token)
        async with core.transition(ex) as t:
            wt = self._check(ex, attempt, started_event_id, token_session, caller)
            over = core.limits.check(ex, req.commands, core.command_kinds)
            if over is not None:
                await self._failed(t, wt, over.cause, over.failure())
                raise over.error()
            problem = t.validate_commands(req.commands)
            if problem is not None:
                failure = {"message": problem, "type": "BadCommand", "kind": "server", "non_retryable": False}
                await self._failed(t, wt, WorkflowTaskFailedCause.BAD_COMMAND, failure)
                raise InvalidArgumentError(problem, code="bad_command")
            st = ex.state
            if self.updates.may_drop(ex, wt, req):
                # It only carried updates, and rejected them all: nothing of it is written.
                st.wt = None
                self._session_done(ex, wt)
                st.sticky_session = None
                st.sticky_event_id = 0
                self.updates.answered(t, wt, req.rejected_updates)
                return {"accepted": True, "events": [], "activity_tasks": []}
            if not wt.started_written:
                t.write_wt_started(wt)
            session = core.matching.sessions.get(wt.session_id) if wt.session_id else None
            attributes: dict[str, Any] = {
                "scheduled_event_id": wt.scheduled_event_id,
                "started_event_id": wt.started_event_id,
                "identity": wt.identity,
            }
            version = note_build(st, session, ex.record.workflow_type)
            if version is not None:
                attributes["worker_version"] = version
            completed = t.append_raw(EventType.WORKFLOW_TASK_COMPLETED, attributes)
            st.wt = None
            self._session_done(ex, wt)
            t.apply_commands(req.commands, completed.event_id)
            if wt.update_ids or req.rejected_updates:
                self.updates.answered(t, wt, req.rejected_updates)
            sticky = req.sticky and ex.running and session is not None
            # If nothing came in while the task was out, the answer gives the worker every event
            # after the history it saw, so its cached workflow is current and its next task (or the
            # workflow task it runs itself, see Transition.deliver) starts after them.
            contiguous = completed.event_id == wt.started_event_id + 1
            written = [own_event_json(e) for e in ex.events if e.event_id >= completed.event_id] if contiguous else []
            if sticky and session is not None:
                st.sticky_session = session.id
                st.sticky_event_id = ex.record.next_event_id - 1 if contiguous else wt.started_event_id
            else:
                st.sticky_session = None
                st.sticky_event_id = 0
            if (wt.new_events or req.force_new_task) and ex.running:
                # force_new_task: the worker still runs local activities and goes on in the next task.
                t.wake()
            eager = await t.take_eager(session, req.eager_activity_slots) if sticky else []
            answer: dict[str, Any] = {"accepted": True, "events": written if sticky else [], "activity_tasks": eager}
            # (The next run is a new run: it goes to the queue's current build, like any new run.)
            nxt = (
                self._next_run_for(ex, session, t.now)
                if req.want_next_run_task and session is not None and core.matching.eligible(session, None)
                else None
            )
            if nxt is not None and session is not None:
                # Handed out before the commit that creates it is submitted, so that this commit's effects
                # (``_submitted``) do not offer it to a poll as well (no one else can reach the run before
                # then: it is not in the cache); the answer goes out at once.
                async with nxt.lock:
                    answer["next_run_task"] = await self.begin(nxt, session, t.now)
                    t.submit_now()
            return answer

    @staticmethod
    def _next_run_for(ex: Execution, session: Session | None, now: float) -> Execution | None:
        """The run this transition's continue-as-new is creating, if its first task may go to ``session`` now,
        in the answer: the worker runs its type on its queue, the task is due, and ``ex`` may be answered
        once its write is submitted (``Transition.submit_now``)."""
        nxt = ex.successor
        if nxt is None or ex.follow_on is None or session is None or session.closed:
            return None
        if ex.creating is not None and (not ex.chained or ex.creating.done()):
            # Its own start is still being written (its answer waits for that anyway), or was refused.
            return None
        rec = nxt.record
        wt = nxt.state.wt
        if wt is None or wt.started or wt.ready_time > now:
            return None
        if rec.task_queue != session.task_queue or rec.workflow_type not in session.workflow_types:
            return None
        return nxt

    async def fail(self, namespace: str, req: m.FailWorkflowTaskRequest, caller: Session | None = None) -> None:
        failure = req.failure.model_dump(exclude_none=True)
        self.core._check_payload("the workflow task failure", failure)
        ex, attempt, started_event_id, token_session = await self._execution_of(namespace, req.task_token)
        async with self.core.transition(ex) as t:
            wt = self._check(ex, attempt, started_event_id, token_session, caller)
            await self._failed(t, wt, req.cause, failure)
        hook = self.core.on_workflow_task_failure
        if hook is not None:
            hook(ex.record, failure)

    async def _failed(
        self,
        t: Transition,
        wt: WorkflowTaskInfo,
        cause: WorkflowTaskFailedCause,
        failure: dict[str, Any],
        *,
        event_type: EventType = EventType.WORKFLOW_TASK_FAILED,
        immediate: bool = False,
    ) -> None:
        """Record a failed (or timed out) attempt and schedule the next one, after a backoff; committed
        at once (the caller may go on to raise)."""
        ex = t.ex
        now = t.now
        st = ex.state
        if not wt.transient or wt.started_written or (wt.attempt == 1 and wt.ready_time > 0):
            # First failure of this task (or events were written): leave a trace in history. Later
            # attempts of a failing task are transient, so a lasting bug doesn't flood the history.
            # (A run's delayed first task is transient too, and has a ready time: see run_options. A
            # speculative one, which carries updates, has none and leaves no trace.)
            if not wt.started_written:
                t.write_wt_started(wt)
            attrs: dict[str, Any] = {
                "scheduled_event_id": wt.scheduled_event_id,
                "started_event_id": wt.started_event_id,
                "identity": wt.identity,
            }
            if event_type is EventType.WORKFLOW_TASK_FAILED:
                attrs.update(cause=cause.value, failure=failure)
            else:
                attrs.update(timeout_type=TimeoutType.START_TO_CLOSE.value)
            t.append_raw(event_type, attrs)
        self._session_done(ex, wt)
        next_attempt = wt.attempt + 1
        st.wt = WorkflowTaskInfo(
            attempt=next_attempt,
            scheduled_time=now,
            ready_time=0.0 if immediate else now + wt_retry_delay(next_attempt),
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
                extra=about(ex.record),
            )
        t.write()  # a transient attempt appends nothing: its core state (the next attempt) is written
        t.fx.offer_wt = True
        await t.commit()

    async def session_lost(self, s: Session, run_id: str) -> None:
        """``s`` ended while it held this run's workflow task: it goes to another worker."""
        core = self.core
        ex = await core._load(run_id)
        if ex is None:
            return
        async with core.transition(ex) as t:
            wt = ex.state.wt
            if wt is None or not wt.started or wt.session_id != s.id:
                return
            message = f"worker {s.identity} was lost while running this workflow task"
            if wt.started_written:
                failure = {"message": message, "type": "WorkerLost", "kind": "server"}
                await self._failed(t, wt, WorkflowTaskFailedCause.WORKER_LOST, failure, immediate=True)
                return
            self._session_done(ex, wt)
            wt.started = False
            wt.session_id = None
            ex.state.sticky_session = None
            ex.state.sticky_event_id = 0
            t.fx.offer_wt = True

    # --- timers -------------------------------------------------------------------------------------------

    async def _on_timeout(self, run_id: str, attempt: int, started_event_id: int) -> None:
        core = self.core
        ex = core._cache.get(run_id)
        if ex is None:
            return  # a started task pins its run in the cache: this one has ended (no store read)
        wt = ex.state.wt
        if wt is None or not wt.started or wt.attempt != attempt or wt.started_event_id != started_event_id:
            # Done (or handed out again) since, as nearly every task is when its timeout comes: no lock, no
            # transition, and the run is not made the cache's most recently used. (Checked again under the
            # lock: a task that is no longer current never becomes current again.)
            return
        async with core.transition(ex) as t:
            wt = ex.state.wt
            if wt is None or not wt.started or wt.attempt != attempt or wt.started_event_id != started_event_id:
                return
            failure = {
                "message": f"workflow task timed out after {ex.state.task_timeout or core.wt_timeout:g}s",
                "type": "TimeoutError",
                "kind": "timeout",
                "timeout_type": "START_TO_CLOSE",
            }
            await self._failed(
                t,
                wt,
                WorkflowTaskFailedCause.WORKFLOW_CODE_ERROR,
                failure,
                event_type=EventType.WORKFLOW_TASK_TIMED_OUT,
            )

    async def _on_ready(self, run_id: str, attempt: int) -> None:
        core = self.core
        ex = await core._load(run_id)
        if ex is None:
            return
        wt = ex.state.wt
        if ex.running and wt is not None and wt.attempt == attempt and not wt.started:
            core.matching.offer_workflow_task(ex.record.namespace, ex.record.task_queue, run_id, None, pin_of(ex.state))

    async def _on_sticky_timeout(self, session_id: str, run_id: str) -> None:
        core = self.core
        s = core.matching.sessions.get(session_id)
        if s is not None and core.matching.unstick(s, run_id):
            ex = core._cache.get(run_id)
            if ex is not None and ex.state.sticky_session == session_id:
                ex.state.sticky_session = None
                ex.state.sticky_event_id = 0

    # --- what the core calls ------------------------------------------------------------------------------

    def arm(
        self, rec: ExecutionRecord, st: ExecutionState, wt: WorkflowTaskInfo, sticky: Session | None = None
    ) -> None:
        """Offer the task (to ``sticky`` first, if given), or arm its retry timer."""
        core = self.core
        now = core.clock.now()
        if wt.ready_time > now:
            core.timers.schedule(wt.ready_time, self._on_ready, rec.run_id, wt.attempt)
            return
        core.matching.offer_workflow_task(rec.namespace, rec.task_queue, rec.run_id, sticky, pin_of(st))
        if sticky is not None:
            core.timers.schedule(now + core.sticky_timeout, self._on_sticky_timeout, sticky.id, rec.run_id)

    def _act(self, ex: Execution, fx: Effects) -> None:
        wt = ex.state.wt
        if fx.offer_wt and wt is not None and not wt.started:  # (started: handed out in an answer already)
            self.arm(ex.record, ex.state, wt, sticky=self.sticky_session(ex))

    def sticky_session(self, ex: Execution) -> Session | None:
        """The worker that keeps the run cached, if it is still connected."""
        sid = ex.state.sticky_session
        if sid is None:
            return None
        s = self.core.matching.sessions.get(sid)
        if s is None:
            ex.state.sticky_session = None
        return s

    def _rearm(self, rec: ExecutionRecord, st: ExecutionState) -> None:
        if st.wt is not None:
            self.arm(rec, st, st.wt)

    def _closing(self, t: Transition) -> None:
        wt = t.ex.state.wt
        if wt is not None and wt.started:
            self._session_done(t.ex, wt)
