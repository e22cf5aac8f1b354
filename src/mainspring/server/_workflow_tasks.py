"""Workflow tasks: handing them out, their completion with commands, failures, timeouts and timers.

A task is scheduled when the workflow has something new to see; a worker polls it and gets the
history; its completion carries commands (schedule an activity, start a timer, complete the
workflow...) that become events. To keep one step to one commit, a task's WorkflowTaskStarted event
is not written when it is handed out, but with its outcome (or earlier, if another event must be
appended while the task is out). A task can be sticky: offered first to the worker that ran the
workflow's previous task, which keeps it cached and is sent only the new events.
"""

from __future__ import annotations

import logging
from typing import Any

from ..api import models as m
from ..api.enums import (
    EventType,
    TimeoutType,
    WorkflowTaskFailedCause,
)
from ..errors import (
    InvalidArgumentError,
    NotFoundError,
)
from ..storage import (
    ExecutionRecord,
)
from ._commands import Commands
from ._core import (
    Effects,
    Execution,
    iso,
    own_event_json,
    wt_retry_delay,
)
from ._history_pages import PAGE_EVENTS, newest_json, read_page
from ._matching import Session
from ._state import WorkflowTaskInfo

__all__ = ["WorkflowTasks"]

log = logging.getLogger("mainspring.server")


class WorkflowTasks(Commands):
    async def poll_workflow_task(self, session: Session, wait: float) -> dict[str, Any] | None:
        return await self._poll(session, "workflow", self.matching.take_workflow_task, self._start_workflow_task, wait)

    async def poll_workflow_tasks(self, session: Session, wait: float, most: int) -> list[dict[str, Any]]:
        return await self._poll_many(
            session, "workflow", self.matching.take_workflow_task, self._start_workflow_task, wait, most
        )

    async def _start_workflow_task(self, run_id: str, session: Session) -> dict[str, Any] | None:
        ex = await self._load(run_id)
        if ex is None:
            return None
        async with ex.lock:
            await self._written(ex)  # the task's history includes what is still being written
            wt = ex.state.wt
            now = self.clock.now()
            if not ex.running or wt is None or wt.started or wt.ready_time > now or session.closed:
                return None
            return await self._begin_workflow_task(ex, session, now)

    async def _begin_workflow_task(self, ex: Execution, session: Session, now: float) -> dict[str, Any]:
        """Hand the execution's scheduled workflow task to ``session`` (the caller holds the lock)."""
        wt = ex.state.wt
        assert wt is not None
        rec = ex.record
        st = ex.state
        run_id = rec.run_id
        wt.started = True
        wt.started_time = now
        wt.session_id = session.id
        wt.identity = session.identity
        wt.started_written = False
        wt.new_events = False
        wt.started_event_id = rec.next_event_id + (1 if wt.transient else 0)
        # Before the history is read: a long read waits for a thread, and a session lost meanwhile must
        # find the task among its own to hand it on.
        session.inflight_workflows.add(run_id)
        self.timers.schedule(now + self.wt_timeout, self._on_wt_timeout, run_id, wt.attempt, wt.started_event_id)
        sticky = st.sticky_session == session.id and st.sticky_event_id > 0
        first = st.sticky_event_id + 1 if sticky else 1
        # At most a page of the newest events: the worker fetches any older ones it lacks a page at a
        # time (workflow_task_history), so a long history is never one giant message.
        first = max(first, rec.next_event_id - PAGE_EVENTS + 2)
        held = ex.history_from_tail(first)
        if held is None:
            held = await self.store.read_history(run_id, first, rec.next_event_id - 1)
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
        extra = ex.started_extra = self.limits.started_attributes(ex)
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
        return {
            "task_token": self._wt_token(rec, wt, session.id),
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

    async def workflow_task_history(self, namespace: str, req: m.WorkflowTaskHistoryRequest) -> dict[str, Any]:
        """A page of the history of the run a workflow task token names: what a worker that got only
        the task's newest events fetches to rebuild the workflow. Any genuine token of the namespace
        will do, current or not: stored events never change, and the namespace may read them anyway."""
        run_id = self.tokens.open(req.task_token, "w", namespace)[0]
        if req.last_event_id < req.first_event_id:
            raise InvalidArgumentError(
                f"last_event_id ({req.last_event_id}) is before first_event_id ({req.first_event_id})",
                code="invalid_argument",
            )
        page = await read_page(self.store, run_id, req.first_event_id, req.last_event_id)
        after = page.last_event_id + 1 if page.count else None
        return {
            "events": page.events,
            "next_event_id": after if after is not None and after <= req.last_event_id else None,
        }

    def _check_wt(
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
        self._check_holder(wt.session_id if wt.started else None, token_session, caller, "workflow")
        if not wt.started:
            wt.started = True
            wt.started_time = self.clock.now()
            wt.started_event_id = started_event_id
            wt.started_written = False
            wt.new_events = False
        return wt

    def _session_done_wt(self, ex: Execution, wt: WorkflowTaskInfo) -> None:
        if wt.session_id is not None:
            s = self.matching.sessions.get(wt.session_id)
            if s is not None:
                s.inflight_workflows.discard(ex.record.run_id)

    async def _execution_of_wt(self, namespace: str, token: str) -> tuple[Execution, int, int, str]:
        """The execution a workflow task token of ``namespace`` names, with the token's attempt,
        started event id and session."""
        run_id, attempt, started_event_id, session_id = self.tokens.open(token, "w", namespace)
        ex = await self._load(run_id)
        if ex is None:
            raise NotFoundError("workflow task not found", code="task_not_found")
        return ex, attempt, started_event_id, session_id

    async def complete_workflow_task(
        self, namespace: str, req: m.CompleteWorkflowTaskRequest, caller: Session | None = None
    ) -> dict[str, Any]:
        """Record the task's commands. The answer carries the events written (so a sticky worker's
        cached workflow stays current without waiting for its next task) and, if the worker has room,
        the activities it just scheduled, handed to it directly.

        ``namespace`` is the caller's; ``caller`` its session, if the call came on its channel."""
        ex, attempt, started_event_id, token_session = await self._execution_of_wt(namespace, req.task_token)
        await ex.lock.acquire()
        behind = False
        try:
            wt = self._check_wt(ex, attempt, started_event_id, token_session, caller)
            over = self.limits.check(ex, req.commands, self.command_kinds)
            if over is not None:
                await self._wt_failed(ex, wt, over.cause, over.failure())
                raise over.error()
            problem = self._validate_commands(ex, req.commands)
            if problem is not None:
                failure = {"message": problem, "type": "BadCommand", "kind": "server", "non_retryable": False}
                await self._wt_failed(ex, wt, WorkflowTaskFailedCause.BAD_COMMAND, failure)
                raise InvalidArgumentError(problem, code="bad_command")
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
            fx = Effects()
            self._apply_commands(ex, req.commands, completed.event_id, now, fx)
            session = self.matching.sessions.get(wt.session_id) if wt.session_id else None
            sticky = req.sticky and ex.running and session is not None
            # If nothing came in while the task was out, the answer gives the worker every event
            # after the history it saw, so its cached workflow is current and its next task (or the
            # workflow task it runs itself, see ActivityTasks) starts after them.
            contiguous = completed.event_id == wt.started_event_id + 1
            written = [own_event_json(e) for e in ex.events if e.event_id >= completed.event_id] if contiguous else []
            if sticky and session is not None:
                st.sticky_session = session.id
                st.sticky_event_id = ex.record.next_event_id - 1 if contiguous else wt.started_event_id
            else:
                st.sticky_session = None
                st.sticky_event_id = 0
            if wt.new_events and ex.running:
                self._schedule_wt(ex, now, fx)
            if ex.creating is not None:
                # No activity may run for a run whose start can still be refused (see _commit_behind).
                await self._created(ex)
            eager = self._take_eager(ex, fx, session, req.eager_activity_slots, now) if sticky else []
            if eager and fx.may_answer_first():
                self._commit_behind(ex, fx)
                behind = True
            else:
                await self._commit(ex)
                self._after_commit(ex, fx)
            return {"accepted": True, "events": written if sticky else [], "activity_tasks": eager}
        finally:
            if not behind:
                ex.lock.release()

    async def fail_workflow_task(
        self, namespace: str, req: m.FailWorkflowTaskRequest, caller: Session | None = None
    ) -> None:
        failure = req.failure.model_dump(exclude_none=True)
        self._check_payload("the workflow task failure", failure)
        ex, attempt, started_event_id, token_session = await self._execution_of_wt(namespace, req.task_token)
        async with ex.lock:
            wt = self._check_wt(ex, attempt, started_event_id, token_session, caller)
            await self._wt_failed(ex, wt, req.cause, failure)

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
        if run_id not in self._cache:
            return  # a started task pins its run in the cache: this one has ended (no store read)
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

    def _arm_wt(self, rec: ExecutionRecord, wt: WorkflowTaskInfo, sticky: Session | None = None) -> None:
        now = self.clock.now()
        if wt.ready_time > now:
            self.timers.schedule(wt.ready_time, self._on_wt_ready, rec.run_id, wt.attempt)
            return
        self.matching.offer_workflow_task(rec.namespace, rec.task_queue, rec.run_id, sticky)
        if sticky is not None:
            self.timers.schedule(now + self.sticky_timeout, self._on_sticky_timeout, sticky.id, rec.run_id)

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
            ex.state.remove_timer(timer_id)
            self._append(ex, EventType.TIMER_FIRED, {"timer_id": timer_id, "started_event_id": started_event_id}, now)
            fx = Effects()
            self._schedule_wt(ex, now, fx)
            await self._commit(ex)
            self._after_commit(ex, fx)
