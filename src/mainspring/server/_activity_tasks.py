"""Activity tasks: handing them out, completion, failure with retries, heartbeats and the four timeouts.

The started state of an attempt lives in memory only (handing out a task costs no commit); an
activity's ActivityTaskStarted event is written when it closes, with the attempt that closed it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime
from typing import Any

from ..api import models as m
from ..api.enums import (
    ActivityState,
    EventType,
    TimeoutType,
)
from ..errors import (
    NotFoundError,
)
from ._commands import Commands
from ._core import Effects, Execution, iso, own_event_json, retry_interval
from ._matching import Session
from ._state import INPUT_NOT_LOADED, ActivityInfo

__all__ = ["ActivityTasks"]

#: Timeouts that concern a started attempt: they need nothing from the store once the run left the cache.
_WHILE_STARTED = (TimeoutType.START_TO_CLOSE, TimeoutType.HEARTBEAT)

log = logging.getLogger("mainspring.server")


class ActivityTasks(Commands):
    async def poll_activity_task(self, session: Session, wait: float) -> dict[str, Any] | None:
        return await self._poll(session, "activity", self.matching.take_activity_task, self._start_activity_task, wait)

    async def poll_activity_tasks(self, session: Session, wait: float, most: int) -> list[dict[str, Any]]:
        return await self._poll_many(
            session, "activity", self.matching.take_activity_task, self._start_activity_task, wait, most
        )

    async def _start_activity_task(self, ref: tuple[str, int], session: Session) -> dict[str, Any] | None:
        run_id, sched_id = ref
        ex = await self._load(run_id)
        if ex is None:
            return None
        async with ex.lock:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None or act.state is not ActivityState.SCHEDULED or session.closed:
                return None
            if act.cancel_requested:  # cancelled while it ran, before a server restart: not again
                self._activity_canceled(ex, act, self.clock.now())
                await self._commit(ex)
                return None
            if act.input is INPUT_NOT_LOADED:
                # Loaded from the store, whose one copy of the input is in the Scheduled event: one
                # indexed read, then kept while the run is cached. (Under the lock: nothing changes.)
                events = await self.store.read_history(ex.record.run_id, sched_id, sched_id)
                act.input = events[0].attributes.get("input") if events else None
                if session.id not in self.matching.sessions:  # it ended meanwhile: _poll requeues the task
                    return None
            return self._begin_activity(ex, act, session, self.clock.now())

    async def _on_cancel_due(self, run_id: str, sched_id: int) -> None:
        """An activity cancelled while it ran, found not running after a server restart: it ends now."""
        ex = await self._load(run_id)
        if ex is None:
            return
        async with ex.lock:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None or not act.cancel_requested or act.state is ActivityState.STARTED:
                return
            self._activity_canceled(ex, act, self.clock.now())
            await self._commit(ex)

    def _begin_activity(self, ex: Execution, act: ActivityInfo, session: Session, now: float) -> dict[str, Any]:
        """Hand a scheduled activity to ``session`` (the caller holds the lock)."""
        run_id = ex.record.run_id
        sched_id = act.scheduled_event_id
        ref = (run_id, sched_id)
        rec = ex.record
        ex.state.set_activity_state(act, ActivityState.STARTED)
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
            "task_token": self._activity_token(rec, act, session.id),
            "namespace": rec.namespace,
            "workflow_id": rec.workflow_id,
            "run_id": run_id,
            "workflow_type": rec.workflow_type,
            "activity_id": act.activity_id,
            "activity_type": act.activity_type,
            "scheduled_event_id": sched_id,
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

    async def _current_activity(self, namespace: str, token: str) -> tuple[Execution, int, int, str]:
        """The execution an activity task token of ``namespace`` names, with the token's scheduled
        event id, attempt and session."""
        run_id, sched_id, attempt, session_id = self.tokens.open(token, "a", namespace)
        ex = await self._load(run_id)
        if ex is None:
            raise NotFoundError("activity task not found", code="task_not_found")
        return ex, sched_id, attempt, session_id

    def _check_activity(
        self, ex: Execution, sched_id: int, attempt: int, token_session: str, caller: Session | None
    ) -> ActivityInfo:
        """The attempt a genuine token names, if it is current and ``caller`` may report on it.

        An attempt found scheduled, not started, was handed out before a restart (or a failed
        write): its worker's report is still good."""
        act = ex.state.activities.get(sched_id)
        if not ex.running or act is None or act.attempt != attempt or act.state is ActivityState.BACKOFF:
            raise NotFoundError(
                "this activity task is no longer current (it timed out and was retried, or the workflow closed)",
                code="task_not_found",
            )
        holder = act.session_id if act.state is ActivityState.STARTED else None
        self._check_holder(holder, token_session, caller, "activity")
        return act

    async def complete_activity_task(
        self, namespace: str, req: m.CompleteActivityTaskRequest, caller: Session | None = None
    ) -> dict[str, Any]:
        """Record an activity's result; with a continuation, also the workflow task it caused.

        A worker that keeps the workflow cached can run the workflow code on the result at once and
        send the commands along (``continuation``). If the history is still as the worker saw it, the
        activity's completion and that whole workflow task go into one commit, and the answer hands the
        worker the activities it scheduled: one round trip and one commit per step instead of four and
        two. If not, the continuation is refused, the result is recorded as usual, and the worker drops
        its cached copy. Without a continuation, a sticky worker may ask for the workflow task that the
        result causes to be handed back in the answer (``want_workflow_task``).

        ``namespace`` is the caller's; ``caller`` its session, if the call came on its channel.
        """
        self._check_payload("the activity result", req.result)
        ex, sched_id, attempt, token_session = await self._current_activity(namespace, req.task_token)
        await ex.lock.acquire()
        # The lock goes to the commit if the answer goes out ahead of it (see _complete_and_continue),
        # or is released before the write is done (a plain completion, see below).
        handed_over = False
        try:
            act = self._check_activity(ex, sched_id, attempt, token_session, caller)
            session = self.matching.sessions.get(act.session_id) if act.session_id else None
            now = self.clock.now()
            if act.cancel_requested:
                # The workflow cancelled it and stopped waiting for it: however it ended, it ends cancelled.
                self._activity_canceled(ex, act, now)
                await self._commit(ex)
                return {
                    "accepted": True,
                    "continuation": None
                    if req.continuation is None
                    else {"accepted": False, "reason": "the workflow cancelled this activity"},
                    "workflow_task": None,
                }
            refused: str | None = None
            if req.continuation is not None:
                refused = self._continuation_problem(ex, act, req.continuation, session, now)
                if refused is None:
                    assert session is not None
                    answer, handed_over = await self._complete_and_continue(ex, act, req, session, now)
                    return answer
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
            ex.state.remove_activity(sched_id)
            fx = Effects()
            self._schedule_wt(ex, now, fx)
            if not req.want_workflow_task and ex.creating is None:
                # The lock is released while the write is done: the run's other completions, arriving
                # meanwhile, are recorded in the same group commit, not one fsync after another. (The
                # workflow task they cause is handed out once they are all written.)
                durable = self._submit_commit(ex, snapshot=True)
                ex.lock.release()
                handed_over = True
                # The effects follow the write whatever becomes of this call (its caller may go away).
                durable.add_done_callback(functools.partial(self._after_durable, ex, fx))
                await asyncio.shield(durable)
                return {
                    "accepted": True,
                    "continuation": None if req.continuation is None else {"accepted": False, "reason": refused},
                    "workflow_task": None,
                }
            await self._commit(ex)
            inline = None
            wt = ex.state.wt
            if (
                req.want_workflow_task
                and fx.offer_wt
                and session is not None
                and not session.closed
                and ex.state.sticky_session == session.id
                and wt is not None
                and not wt.started
            ):
                inline = await self._begin_workflow_task(ex, session, now)
                fx.offer_wt = False
            self._after_commit(ex, fx)
            return {
                "accepted": True,
                "continuation": None if req.continuation is None else {"accepted": False, "reason": refused},
                "workflow_task": inline,
            }
        finally:
            if not handed_over:
                ex.lock.release()

    def _after_durable(self, ex: Execution, fx: Effects, fut: asyncio.Future[None]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self._after_commit(ex, fx)

    def _continuation_problem(
        self, ex: Execution, act: ActivityInfo, cont: m.Continuation, session: Session | None, now: float
    ) -> str | None:
        """Why the workflow task the worker ran on this result cannot be recorded as it is, or None."""
        if session is None or session.closed:
            return "the worker's session is not known"
        if ex.state.wt is not None:
            return "a workflow task is already scheduled"
        if ex.record.next_event_id != cont.base_event_id + 1:
            return "the history changed since the worker saw it"
        try:
            started = datetime.fromisoformat(cont.started_time).timestamp()
        except ValueError:
            return "started_time is not an RFC 3339 time"
        if abs(started - now) > 5.0:
            return "the worker's clock is too far from the server's"
        over = self.limits.check(ex, cont.commands, self.command_kinds, closing_activity=act.scheduled_event_id)
        if over is not None:
            return over.message  # the workflow task that follows the usual way fails with it
        if self.limits.suggest_continue_as_new(ex) and not ex.started_extra.get("suggest_continue_as_new"):
            return "the workflow is to be told that continuing as new is suggested"  # in the next task
        return self._validate_commands(ex, cont.commands, closing_activity=act.scheduled_event_id)

    async def _complete_and_continue(
        self, ex: Execution, act: ActivityInfo, req: m.CompleteActivityTaskRequest, session: Session, now: float
    ) -> tuple[dict[str, Any], bool]:
        """The step, and whether its commit was left running behind the answer (holding the lock)."""
        cont = req.continuation
        assert cont is not None
        rec = ex.record
        st = ex.state
        # The worker ran the workflow at `started`, on its clock; that is the time the code saw
        # (ctx.now()), so it is the time recorded, and replay sees the same.
        started = datetime.fromisoformat(cont.started_time).timestamp()
        before = min(started, now)
        started_id = self._activity_started_event(ex, act, before)
        self._append(
            ex,
            EventType.ACTIVITY_TASK_COMPLETED,
            {
                "scheduled_event_id": act.scheduled_event_id,
                "started_event_id": started_id,
                "result": req.result,
                "identity": act.last_identity,
            },
            before,
        )
        self._session_done_activity(ex, act)
        st.remove_activity(act.scheduled_event_id)
        scheduled = self._raw_append(
            ex, EventType.WORKFLOW_TASK_SCHEDULED, {"task_queue": rec.task_queue, "attempt": 1}, before
        )
        wt_started = self._raw_append(
            ex,
            EventType.WORKFLOW_TASK_STARTED,
            {"scheduled_event_id": scheduled.event_id, "identity": session.identity, "attempt": 1},
            started,
        )
        completed = self._raw_append(
            ex,
            EventType.WORKFLOW_TASK_COMPLETED,
            {
                "scheduled_event_id": scheduled.event_id,
                "started_event_id": wt_started.event_id,
                "identity": session.identity,
            },
            now,
        )
        fx = Effects()
        self._apply_commands(ex, cont.commands, completed.event_id, now, fx)
        written = [own_event_json(e) for e in ex.events if e.event_id >= completed.event_id]
        if ex.running:
            st.sticky_session = session.id
            st.sticky_event_id = rec.next_event_id - 1
        eager = self._take_eager(ex, fx, session, req.eager_activity_slots, now)
        behind = bool(eager) and fx.may_answer_first()
        if behind:
            self._commit_behind(ex, fx)
        else:
            await self._commit(ex)
            self._after_commit(ex, fx)
        answer = {"accepted": True, "continuation": {"accepted": True, "events": written}, "activity_tasks": eager}
        return answer, behind

    async def fail_activity_task(
        self, namespace: str, req: m.FailActivityTaskRequest, caller: Session | None = None
    ) -> None:
        failure = req.failure.model_dump(exclude_none=True)
        self._check_payload("the activity failure", failure)
        ex, sched_id, attempt, token_session = await self._current_activity(namespace, req.task_token)
        async with ex.lock:
            act = self._check_activity(ex, sched_id, attempt, token_session, caller)
            await self._activity_attempt_failed(ex, act, failure, immediate=False, timeout_type=None)

    async def heartbeat_activity_task(
        self, namespace: str, req: m.HeartbeatActivityTaskRequest, caller: Session | None = None
    ) -> dict[str, Any]:
        self._check_payload("the heartbeat details", req.details)
        ex, sched_id, attempt, token_session = await self._current_activity(namespace, req.task_token)
        async with ex.lock:
            act = self._check_activity(ex, sched_id, attempt, token_session, caller)
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
                ex.state.touch_activity(act)
                await self._commit(ex)
            return {"cancel_requested": act.cancel_requested}

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
        if act.cancel_requested:
            # Cancelled by the workflow: however the attempt ended (stopped, failed, timed out, its
            # worker lost), the activity ends cancelled, without a retry.
            self._activity_canceled(ex, act, now)
            await self._commit(ex)
            return
        retry = act.retry
        # A timeout can fire while no attempt is running (waiting in the queue, or between retries).
        was_started = act.state is ActivityState.STARTED
        self._session_done_activity(ex, act)
        # The time budget of the whole activity is spent: that is a timeout, whatever the error says.
        retry_state = "TIMEOUT" if timeout_type is TimeoutType.SCHEDULE_TO_CLOSE else None
        if retry_state is not None:
            pass
        elif failure.get("non_retryable") or failure.get("type") in (retry.get("non_retryable_error_types") or []):
            retry_state = "NON_RETRYABLE_FAILURE"
        elif retry.get("maximum_attempts") and act.attempt >= int(retry["maximum_attempts"]):
            retry_state = "MAXIMUM_ATTEMPTS_REACHED"
        delay = 0.0 if immediate else retry_interval(retry, act.attempt)
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
                ex.state.set_activity_state(act, ActivityState.SCHEDULED)
                act.attempt_scheduled_time = now
            else:
                ex.state.set_activity_state(act, ActivityState.BACKOFF)
            ex.state.touch_activity(act)
            await self._commit(ex)
            rec = ex.record
            if act.state is ActivityState.SCHEDULED:
                self.matching.offer_activity_task(rec.namespace, act.task_queue, (rec.run_id, act.scheduled_event_id))
                self._arm_activity_schedule_timers(rec.run_id, act)
            else:
                self.timers.schedule(now + delay, self._on_retry_due, rec.run_id, act.scheduled_event_id, act.attempt)
            return
        # ActivityTaskStarted carries the previous attempt's failure, so it is written first; it is
        # not written at all if the closing attempt never started (started_event_id 0, as in Temporal).
        started_id = self._activity_started_event(ex, act, now) if was_started else 0
        act.last_failure = failure
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
        ex.state.remove_activity(act.scheduled_event_id)
        fx = Effects()
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
            ex.state.set_activity_state(act, ActivityState.SCHEDULED)
            act.attempt_scheduled_time = self.clock.now()
            # Not committed: a restart finds BACKOFF with a past time and hands it out at once.
            self.matching.offer_activity_task(ex.record.namespace, act.task_queue, (run_id, sched_id))
            self._arm_activity_schedule_timers(run_id, act)

    async def _on_activity_timeout(self, run_id: str, sched_id: int, attempt: int, kind: TimeoutType) -> None:
        if kind in _WHILE_STARTED and run_id not in self._cache:
            return  # a started attempt pins its run in the cache: this one has ended (no store read)
        ex = await self._load(run_id)
        if ex is None:
            return
        async with ex.lock:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None:
                return
            now = self.clock.now()
            if kind is TimeoutType.SCHEDULE_TO_CLOSE:
                # Applies across attempts; but an attempt never started whose schedule-to-start is up
                # too (it defaults to schedule-to-close) waited in vain for a worker: say that.
                s2s = act.schedule_to_start
                if act.state is ActivityState.SCHEDULED and s2s and now >= act.attempt_scheduled_time + s2s - 0.001:
                    kind = TimeoutType.SCHEDULE_TO_START
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
            if (
                kind in (TimeoutType.START_TO_CLOSE, TimeoutType.HEARTBEAT)
                and act.schedule_to_close is not None
                and now >= act.scheduled_time + act.schedule_to_close
            ):
                # Both limits are up: the activity's overall one is what ended it.
                kind = TimeoutType.SCHEDULE_TO_CLOSE
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
