"""Activity tasks: handing them out, completion, failure with retries, heartbeats and the four timeouts.

The started state of an attempt lives in memory only (handing out a task costs no commit); an
activity's ActivityTaskStarted event is written when it closes, with the attempt that closed it.
The commands that schedule and cancel activities are in ``activities``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.activity_completion import ReleaseActivityTaskRequest
from ...api.enums import ActivityState, EventType, TimeoutType
from ...errors import NotFoundError
from ...storage import ExecutionRecord
from .._execution import Effects, Execution, iso, retry_interval
from .._matching import Session
from .._state import INPUT_NOT_LOADED, ActivityInfo, ExecutionState
from .versioning import activity_pin

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._transition import Transition

__all__ = ["ActivityTasks"]

#: Timeouts that concern a started attempt: they need nothing from the store once the run left the cache.
_WHILE_STARTED = (TimeoutType.START_TO_CLOSE, TimeoutType.HEARTBEAT)

log = logging.getLogger("mainspring.server")


def _retry_delay(retry: dict[str, Any], attempt: int, failure: dict[str, Any]) -> float:
    """The wait before the next attempt: the failure's own ``next_retry_delay`` (an activity raised
    ``ApplicationError(next_retry_delay=...)``, validated with the request) over the policy's backoff."""
    asked = failure.get("next_retry_delay")
    if isinstance(asked, (int, float)) and not isinstance(asked, bool) and asked >= 0:
        return float(asked)
    return retry_interval(retry, attempt)


class ActivityTasks:
    """The activity-task feature of one engine: its operations, timer callbacks and effects."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        core.on_commit(self._act)
        core.on_rearm(self._rearm)
        core.on_close(self._closing)

    # --- handing tasks out ------------------------------------------------------------------------------

    async def poll(self, session: Session, wait: float) -> dict[str, Any] | None:
        core = self.core
        return await core._poll(session, "activity", core.matching.take_activity_task, self._start, wait)

    async def poll_many(self, session: Session, wait: float, most: int) -> list[dict[str, Any]]:
        core = self.core
        return await core._poll_many(session, "activity", core.matching.take_activity_task, self._start, wait, most)

    async def _start(self, ref: tuple[str, int], session: Session) -> dict[str, Any] | None:
        core = self.core
        run_id, sched_id = ref
        ex = await core._load(run_id)
        if ex is None:
            return None
        async with core.transition(ex) as t:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None or act.state is not ActivityState.SCHEDULED or session.closed:
                return None
            if act.cancel_requested:  # cancelled while it ran, before a server restart: not again
                self.canceled(t, act)
                return None
            pin = activity_pin(ex.state, ex.record.task_queue, act.task_queue)
            if pin is not None and session.build_id != pin:
                # Its run is pinned to another build than the worker's (it was requeued on the shared queue).
                core.matching.offer_activity_task(ex.record.namespace, act.task_queue, ref, pin)
                return None
            if act.input is INPUT_NOT_LOADED:
                # Loaded from the store, whose one copy of the input is in the Scheduled event: one
                # indexed read, then kept while the run is cached. (Under the lock: nothing changes.)
                events = await core.store.read_history(ex.record.run_id, sched_id, sched_id)
                act.input = events[0].attributes.get("input") if events else None
                if session.id not in core.matching.sessions:  # it ended meanwhile: _poll requeues the task
                    return None
            return self.begin(ex, act, session, core.clock.now())

    def begin(
        self, ex: Execution, act: ActivityInfo, session: Session, now: float, *, input_from_command: bool = False
    ) -> dict[str, Any]:
        """Hand a scheduled activity to ``session`` (the caller holds the lock). Nothing is written.

        ``input_from_command``: the task leaves the input out, for the worker to take from the command
        that scheduled the activity (an eager task answering that command: see ``Transition.take_eager``)."""
        core = self.core
        run_id = ex.record.run_id
        sched_id = act.scheduled_event_id
        rec = ex.record
        ex.state.set_activity_state(act, ActivityState.STARTED)
        act.last_started_time = now
        act.completing_async = False
        act.session_id = session.id
        act.last_identity = session.identity
        session.inflight_activities.add((run_id, sched_id))
        if core.metrics is not None:
            core.metrics.activity_started(rec.namespace, act.activity_type, now - act.attempt_scheduled_time)
        if act.start_to_close is not None:
            core.timers.schedule(
                now + act.start_to_close, self._on_timeout, run_id, sched_id, act.attempt, TimeoutType.START_TO_CLOSE
            )
        if act.heartbeat is not None:
            core.timers.schedule(
                now + act.heartbeat, self._on_timeout, run_id, sched_id, act.attempt, TimeoutType.HEARTBEAT
            )
        task = {
            "task_token": core._activity_token(rec, act, session.id),
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
        if act.header is not None:
            task["header"] = act.header
        if input_from_command:
            del task["input"]
            task["input_from_command"] = True
        return task

    # --- reports on an attempt ----------------------------------------------------------------------------

    async def _current(self, namespace: str, token: str) -> tuple[Execution, int, int, str]:
        """The execution an activity task token of ``namespace`` names, with the token's scheduled
        event id, attempt and session."""
        run_id, sched_id, attempt, session_id = self.core.tokens.open(token, "a", namespace)
        ex = await self.core._load(run_id)
        if ex is None:
            raise NotFoundError("activity task not found", code="task_not_found")
        return ex, sched_id, attempt, session_id

    def _check(
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
        self.core._check_holder(holder, token_session, caller, "activity")
        return act

    async def complete(
        self, namespace: str, req: m.CompleteActivityTaskRequest, caller: Session | None = None
    ) -> dict[str, Any]:
        """Record an activity's result, and wake the workflow (``Transition.deliver``: with a
        continuation, the workflow task the worker ran on the result goes into the same commit).

        ``namespace`` is the caller's; ``caller`` its session, if the call came on its channel.
        """
        core = self.core
        core._check_payload("the activity result", req.result)
        ex, sched_id, attempt, token_session = await self._current(namespace, req.task_token)
        async with core.transition(ex) as t:
            act = self._check(ex, sched_id, attempt, token_session, caller)
            return await self.completed(
                t,
                act,
                req.result,
                continuation=req.continuation,
                want_workflow_task=req.want_workflow_task,
                eager_slots=req.eager_activity_slots,
            )

    async def completed(
        self,
        t: Transition,
        act: ActivityInfo,
        result: Any,
        *,
        continuation: m.Continuation | None = None,
        want_workflow_task: bool = False,
        eager_slots: int = 0,
    ) -> dict[str, Any]:
        """The current attempt of ``act`` (checked, under the lock) completed with ``result``."""
        core = self.core
        ex = t.ex
        sched_id = act.scheduled_event_id
        if act.cancel_requested:
            # The workflow cancelled it and stopped waiting for it: however it ended, it ends cancelled.
            self.canceled(t, act)
            return {
                "accepted": True,
                "continuation": None
                if continuation is None
                else {"accepted": False, "reason": "the workflow cancelled this activity"},
                "workflow_task": None,
            }

        def record(at: float) -> None:
            started_id = self._started_event(t, act, at)
            t.append(
                EventType.ACTIVITY_TASK_COMPLETED,
                {
                    "scheduled_event_id": sched_id,
                    "started_event_id": started_id,
                    "result": result,
                    "identity": act.last_identity,
                },
                at,
            )
            self._session_done(ex, act)
            ex.state.remove_activity(sched_id)

        return await t.deliver(
            record,
            session=core.matching.sessions.get(act.session_id) if act.session_id else None,
            continuation=continuation,
            want_workflow_task=want_workflow_task,
            eager_slots=eager_slots,
            closing_activity=sched_id,
        )

    async def fail(self, namespace: str, req: m.FailActivityTaskRequest, caller: Session | None = None) -> None:
        failure = req.failure.model_dump(exclude_none=True)
        self.core._check_payload("the activity failure", failure)
        ex, sched_id, attempt, token_session = await self._current(namespace, req.task_token)
        async with self.core.transition(ex) as t:
            act = self._check(ex, sched_id, attempt, token_session, caller)
            self.failed(t, act, failure)

    def failed(self, t: Transition, act: ActivityInfo, failure: dict[str, Any]) -> None:
        """The current attempt of ``act`` (checked, under the lock) failed: retried per its policy."""
        self._attempt_failed(t, act, failure, immediate=False, timeout_type=None)

    async def heartbeat(
        self, namespace: str, req: m.HeartbeatActivityTaskRequest, caller: Session | None = None
    ) -> dict[str, Any]:
        core = self.core
        core._check_payload("the heartbeat details", req.details)
        ex, sched_id, attempt, token_session = await self._current(namespace, req.task_token)
        async with core.transition(ex) as t:
            act = self._check(ex, sched_id, attempt, token_session, caller)
            return self.beat(t, act, req.details)

    def beat(self, t: Transition, act: ActivityInfo, details: Any) -> dict[str, Any]:
        """A heartbeat of the current attempt of ``act`` (checked, under the lock)."""
        ex = t.ex
        now = t.now
        act.last_heartbeat_time = now
        changed = details is not None and details != act.heartbeat_details
        if details is not None:
            act.heartbeat_details = details
        if act.heartbeat is not None:
            self.core.timers.schedule(
                now + act.heartbeat,
                self._on_timeout,
                ex.record.run_id,
                act.scheduled_event_id,
                act.attempt,
                TimeoutType.HEARTBEAT,
            )
        if changed:
            # Details survive a retry and a server restart, so they are committed.
            ex.state.touch_activity(act)
        return {"cancel_requested": act.cancel_requested}

    async def release(self, namespace: str, req: ReleaseActivityTaskRequest, caller: Session | None = None) -> None:
        """The worker will not report on this attempt: it is completed from elsewhere (the activity
        called ``activity.raise_complete_async()``). It stays started, under its timeouts, held by no
        session (so it outlives the worker's), and says so in the store (so it outlives a restart)."""
        ex, sched_id, attempt, token_session = await self._current(namespace, req.task_token)
        async with self.core.transition(ex) as t:
            act = self._check(ex, sched_id, attempt, token_session, caller)
            if act.state is not ActivityState.STARTED:
                return  # handed out before a restart: it is offered again (completing it still works)
            self._session_done(t.ex, act)
            act.completing_async = True
            t.ex.state.touch_activity(act)

    async def session_lost(self, s: Session, run_id: str, sched_id: int, *, graceful: bool) -> None:
        """``s`` ended while it ran this attempt: the attempt failed, and is retried at once."""
        core = self.core
        ex = await core._load(run_id)
        if ex is None:
            return
        async with core.transition(ex) as t:
            act = ex.state.activities.get(sched_id)
            if act is None or act.state is not ActivityState.STARTED or act.session_id != s.id:
                return
            reason = "stopped" if graceful else "was lost"
            failure = {
                "message": f"worker {s.identity} {reason} while running this activity",
                "type": "WorkerLost",
                "kind": "server",
                "non_retryable": False,
            }
            self._attempt_failed(t, act, failure, immediate=True, timeout_type=None)

    # --- what an attempt's end writes ---------------------------------------------------------------------

    def _session_done(self, ex: Execution, act: ActivityInfo) -> None:
        if act.session_id is not None:
            s = self.core.matching.sessions.get(act.session_id)
            if s is not None:
                s.inflight_activities.discard((ex.record.run_id, act.scheduled_event_id))
            act.session_id = None

    def _started_event(self, t: Transition, act: ActivityInfo, now: float) -> int:
        # ActivityTaskStarted is written when the activity closes, with the attempt that closed it, so
        # retries don't add an event each (as in Temporal).
        e = t.append(
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

    def canceled(self, t: Transition, act: ActivityInfo, details: Any = None) -> None:
        """A cancelled activity ends: its running attempt stopped (or ended anyway), or it never started.

        No workflow task follows: the workflow stopped waiting for it when it asked to cancel it.
        """
        started = act.state is ActivityState.STARTED
        self._session_done(t.ex, act)
        started_id = self._started_event(t, act, t.now) if started else 0
        t.append(
            EventType.ACTIVITY_TASK_CANCELED,
            {
                "scheduled_event_id": act.scheduled_event_id,
                "started_event_id": started_id,
                "latest_cancel_requested_event_id": act.cancel_requested_event_id,
                "details": details,
                "identity": act.last_identity if started else None,
            },
        )
        t.ex.state.remove_activity(act.scheduled_event_id)

    def _attempt_failed(
        self,
        t: Transition,
        act: ActivityInfo,
        failure: dict[str, Any],
        *,
        immediate: bool,
        timeout_type: TimeoutType | None,
    ) -> None:
        """One attempt failed: retry it per its policy, or fail the activity for good."""
        ex = t.ex
        now = t.now
        if act.cancel_requested:
            # Cancelled by the workflow: however the attempt ended (stopped, failed, timed out, its
            # worker lost), the activity ends cancelled, without a retry.
            self.canceled(t, act)
            return
        retry = act.retry
        # A timeout can fire while no attempt is running (waiting in the queue, or between retries).
        was_started = act.state is ActivityState.STARTED
        self._session_done(ex, act)
        # The time budget of the whole activity is spent: that is a timeout, whatever the error says.
        retry_state = "TIMEOUT" if timeout_type is TimeoutType.SCHEDULE_TO_CLOSE else None
        if retry_state is not None:
            pass
        elif failure.get("non_retryable") or failure.get("type") in (retry.get("non_retryable_error_types") or []):
            retry_state = "NON_RETRYABLE_FAILURE"
        elif retry.get("maximum_attempts") and act.attempt >= int(retry["maximum_attempts"]):
            retry_state = "MAXIMUM_ATTEMPTS_REACHED"
        delay = 0.0 if immediate else _retry_delay(retry, act.attempt, failure)
        if (
            retry_state is None
            and act.schedule_to_close is not None
            and now + delay >= act.scheduled_time + act.schedule_to_close
        ):
            retry_state = "TIMEOUT"
        if self.core.metrics is not None:
            self.core.metrics.activity_failed(ex.record.namespace, act.activity_type, retry_state or "RETRIED")
        if retry_state is None:
            act.attempt += 1
            act.completing_async = False
            act.last_failure = failure
            act.next_attempt_time = now + delay
            if delay <= 0:
                ex.state.set_activity_state(act, ActivityState.SCHEDULED)
                act.attempt_scheduled_time = now
                t.fx.activities = [act]  # offered again once the retry is written
            else:
                ex.state.set_activity_state(act, ActivityState.BACKOFF)
                t.then(
                    self.core.timers.schedule,
                    now + delay,
                    self._on_retry_due,
                    ex.record.run_id,
                    act.scheduled_event_id,
                    act.attempt,
                )
            ex.state.touch_activity(act)
            return
        # ActivityTaskStarted carries the previous attempt's failure, so it is written first; it is
        # not written at all if the closing attempt never started (started_event_id 0, as in Temporal).
        started_id = self._started_event(t, act, now) if was_started else 0
        act.last_failure = failure
        attrs: dict[str, Any] = {
            "scheduled_event_id": act.scheduled_event_id,
            "started_event_id": started_id,
            "failure": failure,
            "retry_state": retry_state,
            "attempt": act.attempt,
        }
        if timeout_type is None:
            attrs["identity"] = act.last_identity
            t.append(EventType.ACTIVITY_TASK_FAILED, attrs)
        else:
            t.append(EventType.ACTIVITY_TASK_TIMED_OUT, attrs)
        ex.state.remove_activity(act.scheduled_event_id)
        t.wake()

    # --- timers -------------------------------------------------------------------------------------------

    async def _on_retry_due(self, run_id: str, sched_id: int, attempt: int) -> None:
        core = self.core
        ex = await core._load(run_id)
        if ex is None:
            return
        async with core.transition(ex) as t:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None or act.attempt != attempt or act.state is not ActivityState.BACKOFF:
                return
            ex.state.set_activity_state(act, ActivityState.SCHEDULED)
            act.attempt_scheduled_time = t.now
            # Not written: a restart finds BACKOFF with a past time and hands it out at once.
            t.fx.activities = [act]

    async def _on_cancel_due(self, run_id: str, sched_id: int) -> None:
        """An activity cancelled while it ran, found not running after a server restart: it ends now."""
        core = self.core
        ex = await core._load(run_id)
        if ex is None:
            return
        async with core.transition(ex) as t:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None or not act.cancel_requested or act.state is ActivityState.STARTED:
                return
            self.canceled(t, act)

    async def _on_timeout(self, run_id: str, sched_id: int, attempt: int, kind: TimeoutType) -> None:
        core = self.core
        if kind in _WHILE_STARTED and run_id not in core._cache:
            return  # a started attempt pins its run in the cache: this one has ended (no store read)
        ex = await core._load(run_id)
        if ex is None:
            return
        async with core.transition(ex) as t:
            act = ex.state.activities.get(sched_id)
            if not ex.running or act is None:
                return
            now = t.now
            if kind is TimeoutType.SCHEDULE_TO_CLOSE:
                # Applies across attempts. An attempt never started whose schedule-to-start timeout is up
                # too (it defaults to schedule-to-close, as in Temporal) timed out waiting to start.
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
                kind in _WHILE_STARTED
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
            self._attempt_failed(t, act, failure, immediate=False, timeout_type=kind)

    def _arm_schedule_timers(self, run_id: str, act: ActivityInfo) -> None:
        timers = self.core.timers
        if act.schedule_to_close is not None:
            timers.schedule(
                act.scheduled_time + act.schedule_to_close,
                self._on_timeout,
                run_id,
                act.scheduled_event_id,
                0,
                TimeoutType.SCHEDULE_TO_CLOSE,
            )
        if act.schedule_to_start is not None and act.state is ActivityState.SCHEDULED:
            timers.schedule(
                act.attempt_scheduled_time + act.schedule_to_start,
                self._on_timeout,
                run_id,
                act.scheduled_event_id,
                act.attempt,
                TimeoutType.SCHEDULE_TO_START,
            )

    # --- what the core calls ------------------------------------------------------------------------------

    def _act(self, ex: Execution, fx: Effects) -> None:
        rec = ex.record
        if fx.activities:
            offer = self.core.matching.offer_activity_task
            st = ex.state
            for act in fx.activities:
                if act.state is ActivityState.SCHEDULED:  # not handed out eagerly already
                    pin = activity_pin(st, rec.task_queue, act.task_queue) if st.build is not None else None
                    offer(rec.namespace, act.task_queue, (rec.run_id, act.scheduled_event_id), pin)
                self._arm_schedule_timers(rec.run_id, act)
        if fx.stop_activities:
            for session, token in fx.stop_activities:
                if session.link is not None and not session.closed:
                    session.link.notify("cancel_activity", {"task_token": token})

    def _rearm(self, rec: ExecutionRecord, st: ExecutionState) -> None:
        core = self.core
        for act in st.activities.values():
            if act.completing_async and act.state is ActivityState.STARTED:
                self._rearm_completing(rec, act)
                continue
            if act.cancel_requested:
                # It was running when the workflow cancelled it; nothing runs it now.
                core.timers.schedule(core.clock.now(), self._on_cancel_due, rec.run_id, act.scheduled_event_id)
                continue
            if act.state is ActivityState.BACKOFF and act.next_attempt_time is not None:
                core.timers.schedule(
                    act.next_attempt_time, self._on_retry_due, rec.run_id, act.scheduled_event_id, act.attempt
                )
            else:
                ref = (rec.run_id, act.scheduled_event_id)
                core.matching.offer_activity_task(
                    rec.namespace, act.task_queue, ref, activity_pin(st, rec.task_queue, act.task_queue)
                )
            self._arm_schedule_timers(rec.run_id, act)

    def _rearm_completing(self, rec: ExecutionRecord, act: ActivityInfo) -> None:
        """A started attempt to be completed from elsewhere, taken from the store: nobody is handed it
        again; its timeouts go on from when it started and last heartbeated."""
        timers = self.core.timers
        started = act.last_started_time or act.attempt_scheduled_time
        for kind, seconds, since in (
            (TimeoutType.START_TO_CLOSE, act.start_to_close, started),
            (TimeoutType.HEARTBEAT, act.heartbeat, max(act.last_heartbeat_time or 0.0, started)),
        ):
            if seconds is not None:
                timers.schedule(
                    since + seconds, self._on_stored_timeout, rec.run_id, act.scheduled_event_id, act.attempt, kind
                )
        self._arm_schedule_timers(rec.run_id, act)

    async def _on_stored_timeout(self, run_id: str, sched_id: int, attempt: int, kind: TimeoutType) -> None:
        # ``_on_timeout`` takes a started attempt's run missing from the cache for one that ended; this
        # one's may simply not be loaded yet since the restart.
        await self.core._load(run_id)
        await self._on_timeout(run_id, sched_id, attempt, kind)

    def _closing(self, t: Transition) -> None:
        """The run closes: the workers running its activities are told to stop them (their reports are
        refused when they come back)."""
        core = self.core
        rec = t.ex.record
        for act in t.ex.state.activities.values():
            if act.session_id:
                s = core.matching.sessions.get(act.session_id)
                if s is not None:
                    s.inflight_activities.discard((rec.run_id, act.scheduled_event_id))
                    if act.state is ActivityState.STARTED:
                        t.fx.stop_activity(s, core._activity_token(rec, act, s.id))
