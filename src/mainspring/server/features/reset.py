"""Reset: a new run of a workflow id made from a workflow task of one of its runs (Temporal's
ResetWorkflowExecution), so that the code after that point runs again (a fixed bug, a lost step).

The new run's history is the base run's up to and including the WorkflowTaskStarted of the chosen task,
then a WorkflowTaskFailed (cause RESET_WORKFLOW, naming the base run, the new run and the reason), then
the signals the base run received after that point (unless excluded), then a new WorkflowTaskScheduled:
a worker replays the prefix and goes on with the new task. The updates the base run accepted after that
point (and any an earlier reset reapplied to it that it had yet to take), unless excluded, are requested of
the new run again, under their ids, and that task carries them:
the workflow validates and handles them anew (as Temporal reapplies them as admitted updates), and a caller
awaiting one by id gets the new run's outcome. Until the workflow accepts or rejects them they are items of
the new run (``REAPPLIED_UPDATE``), written with its create, so a restart does not lose them.

Its pending work at that point is rebuilt from the prefix alone (``rebuild_state``): an activity scheduled
and not closed by then is pending again (attempt 1, from now), a timer started and not fired or cancelled
is pending again (at its original fire time, at once if that has passed), a cancellation request is kept.
What cannot be rebuilt safely (a child workflow, a signal or cancellation sent to another workflow, an
update accepted, still open at that point; a run that is itself a child) refuses the reset, naming the
points that would work.

Safety across a crash: the whole reset is ONE store write of the base run (its termination if it still
runs, and the link to the new run, a pending item of kind ``RESET`` kept after its close) carrying the new
run's create as its ``follow_on`` (as continue-as-new does): the store applies both or neither, so a
server killed at any moment leaves either the base run as it was and no new run, or the base run closed
and linked and the new run created (then re-armed at start-up like any open run). The new run takes the
workflow id over, so the base run must be the id's current run.

The new run's search attributes and memo are those in effect at the reset point: the start's and the upserts
the prefix holds (``_carry_properties``), as Temporal keeps them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ... import _search_attributes as sa
from ...api import models as m
from ...api.enums import EventType, WorkflowStatus, WorkflowTaskFailedCause
from ...errors import InvalidArgumentError
from ...storage import ExecutionRecord, ExecutionWrite, HistoryEvent
from .._execution import Execution, FollowOn, iso, new_run_id, terminated_failure
from .._logs import about
from .._state import (
    LIFETIME,
    MEMO,
    REAPPLIED_UPDATE,
    RESET,
    SEARCH_ATTRIBUTES,
    ActivityInfo,
    ExecutionState,
    RequestedUpdate,
    TimerInfo,
)
from .search_attributes import SearchAttributes

if TYPE_CHECKING:
    from .._core import EngineCore

__all__ = ["Rebuilt", "Reset", "rebuild_state", "reset_from", "reset_points"]

log = logging.getLogger("mainspring.server")

#: The events that end a workflow task; the task's WorkflowTaskStarted id is their ``started_event_id``.
_TASK_ENDS = (EventType.WORKFLOW_TASK_COMPLETED, EventType.WORKFLOW_TASK_FAILED, EventType.WORKFLOW_TASK_TIMED_OUT)
_ACTIVITY_ENDS = (
    EventType.ACTIVITY_TASK_COMPLETED,
    EventType.ACTIVITY_TASK_FAILED,
    EventType.ACTIVITY_TASK_TIMED_OUT,
    EventType.ACTIVITY_TASK_CANCELED,
)
#: What opens something a reset cannot rebuild, and what closes it again (by its ``initiated_event_id``).
_UNSAFE_OPENS = {
    EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child workflow",
    EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signal to another workflow",
    EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "cancellation request to another workflow",
}
_UNSAFE_CLOSES = (
    EventType.START_CHILD_WORKFLOW_EXECUTION_FAILED,
    EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED,
    EventType.CHILD_WORKFLOW_EXECUTION_FAILED,
    EventType.CHILD_WORKFLOW_EXECUTION_CANCELED,
    EventType.CHILD_WORKFLOW_EXECUTION_TERMINATED,
    EventType.CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
    EventType.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
    EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
    EventType.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
)
#: How many valid reset points an error lists at most.
_SHOWN = 20


@dataclass(slots=True)
class Rebuilt:
    """What was pending at the end of a history prefix, as ``rebuild_state`` found it."""

    activities: dict[int, ActivityInfo] = field(default_factory=dict)
    timers: dict[str, TimerInfo] = field(default_factory=dict)
    cancel_request: dict[str, Any] | None = None
    #: Why this prefix cannot be rebuilt (what is still open in it), empty if it can.
    problems: list[str] = field(default_factory=list)


def rebuild_state(events: list[HistoryEvent], now: float) -> Rebuilt:
    """What was pending after ``events`` (a history prefix), from the attributes its events record: each
    activity scheduled and not closed (attempt 1, scheduled ``now``), each timer started and not fired or
    cancelled (its original fire time), the cancellation request; ``problems`` names what is open that
    cannot be rebuilt."""
    out = Rebuilt()
    unsafe: dict[int, str] = {}
    updates: dict[str, int] = {}
    for e in events:
        a = e.attributes
        et = e.event_type
        if et is EventType.ACTIVITY_TASK_SCHEDULED:
            out.activities[e.event_id] = ActivityInfo(
                scheduled_event_id=e.event_id,
                activity_id=a["activity_id"],
                activity_type=a["activity_type"],
                task_queue=a["task_queue"],
                input=a.get("input"),
                schedule_to_close=a.get("schedule_to_close_timeout"),
                start_to_close=a.get("start_to_close_timeout"),
                schedule_to_start=a.get("schedule_to_start_timeout"),
                heartbeat=a.get("heartbeat_timeout"),
                retry=a.get("retry_policy") or m.RetryPolicyModel().model_dump(),
                scheduled_time=now,
                attempt_scheduled_time=now,
            )
        elif et in _ACTIVITY_ENDS:
            out.activities.pop(a.get("scheduled_event_id", 0), None)
        elif et is EventType.ACTIVITY_TASK_CANCEL_REQUESTED:
            act = out.activities.get(a.get("scheduled_event_id", 0))
            if act is not None:
                act.cancel_requested_event_id = e.event_id
        elif et is EventType.TIMER_STARTED:
            out.timers[a["timer_id"]] = TimerInfo(a["timer_id"], e.event_id, e.event_time + float(a["duration"]))
        elif et in (EventType.TIMER_FIRED, EventType.TIMER_CANCELED):
            out.timers.pop(a.get("timer_id", ""), None)
        elif et is EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            if out.cancel_request is None:
                out.cancel_request = {
                    "event_id": e.event_id,
                    "time": iso(e.event_time),
                    "reason": a.get("reason", ""),
                    "identity": a.get("identity", ""),
                }
        elif et in _UNSAFE_OPENS:
            unsafe[e.event_id] = _UNSAFE_OPENS[et]
        elif et in _UNSAFE_CLOSES:
            unsafe.pop(a.get("initiated_event_id", 0), None)
        elif et is EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            updates[str(a.get("update_id"))] = e.event_id
        elif et is EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            updates.pop(str(a.get("update_id")), None)
    out.problems = [f"{what} (event {eid}) still open" for eid, what in sorted(unsafe.items())]
    out.problems += [f"update {uid!r} (event {eid}) accepted and not completed" for uid, eid in updates.items()]
    return out


def reset_points(events: list[HistoryEvent]) -> dict[int, int]:
    """Every event a reset may name in this history -> the WorkflowTaskStarted its prefix ends with: each
    WorkflowTaskCompleted, Failed or TimedOut, and the Started of a task that has one of those."""
    points: dict[int, int] = {}
    for e in events:
        if e.event_type in _TASK_ENDS:
            started = e.attributes.get("started_event_id")
            if isinstance(started, int) and 0 < started < e.event_id:
                points[e.event_id] = started
                points.setdefault(started, started)
    return points


def _safe_points(events: list[HistoryEvent]) -> list[int]:
    """The WorkflowTaskCompleted event ids a reset can go back to (nothing open it cannot rebuild)."""
    out: list[int] = []
    for e in events:
        if e.event_type is EventType.WORKFLOW_TASK_COMPLETED:
            started = e.attributes.get("started_event_id")
            if isinstance(started, int) and not rebuild_state(events[:started], 0.0).problems:
                out.append(e.event_id)
    return out


def _refused(message: str, events: list[HistoryEvent], *, code: str = "invalid_reset_point") -> InvalidArgumentError:
    valid = _safe_points(events)
    shown = valid[-_SHOWN:]
    hint = (
        f"; events a reset can go back to (WorkflowTaskCompleted): {', '.join(map(str, shown))}"
        + (f" (the last {_SHOWN} of {len(valid)})" if len(valid) > len(shown) else "")
        + ", or reset_type FirstWorkflowTask / LastWorkflowTask"
        if valid
        else "; this run has no workflow task a reset can go back to"
    )
    return InvalidArgumentError(
        message + hint,
        code=code,
        details={
            "valid_event_ids": shown,
            "reset_types": ["FirstWorkflowTask", "LastWorkflowTask"] if valid else [],
        },
    )


class Reset:
    """The reset operation of one engine."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        core.features[Reset] = self

    async def reset(self, namespace: str, req: m.ResetWorkflowRequest, identity: str) -> dict[str, Any]:
        core = self.core
        base_rec = await core._find(namespace, req.workflow_id, req.run_id)
        ex = await core._load(base_rec.run_id)
        if ex is None:
            problem = core.set_aside.get(base_rec.run_id)
            raise InvalidArgumentError(
                f"workflow {req.workflow_id!r} run {base_rec.run_id} cannot be reset"
                + (f": it is set aside ({problem})" if problem else ": it cannot be loaded"),
                code="invalid_argument",
            )
        async with core.transition(ex) as t:
            await core._written(ex)  # its history in the store is all of it
            rec = ex.record
            current = await core.store.get_execution(namespace, rec.workflow_id, None)
            if current is None or current.run_id != rec.run_id:
                raise InvalidArgumentError(
                    f"run {rec.run_id} of workflow {rec.workflow_id!r} is not its current run "
                    f"({current.run_id if current else 'none'} is): only the current run can be reset",
                    code="not_current_run",
                    details={"current_run_id": current.run_id if current else None},
                )
            if ex.state.parent is not None:
                raise InvalidArgumentError(
                    f"workflow {rec.workflow_id!r} is a child workflow: resetting a child is not supported",
                    code="invalid_argument",
                )
            events = await core.store.read_history(rec.run_id, 1, rec.next_event_id - 1)
            point, started = self._point(req, events)
            prefix = events[:started]
            rebuilt = rebuild_state(prefix, t.now)
            if rebuilt.problems:
                raise _refused(
                    f"event {point} cannot be reset to: {'; '.join(rebuilt.problems)} there, which a reset cannot "
                    "rebuild",
                    events,
                )
            signals, updates = _reapplied(ex.state, events[started:], set(req.reapply_exclude))
            new_id = new_run_id()
            reason = req.reason or "reset"
            terminated = ex.running
            lifetime = ex.state.lifetime  # (dropped with the base run's pending items if it closes now)
            if terminated:
                # As a termination (not append: a workflow task that is out will never complete).
                t.append_raw(
                    EventType.WORKFLOW_EXECUTION_TERMINATED,
                    {"reason": reason, "identity": identity, "reset_run_id": new_id},
                )
                ex.state.outcome = (None, terminated_failure(reason))
                t.close(WorkflowStatus.TERMINATED)
            link = {"run_id": new_id, "event_id": point, "reason": req.reason}
            ex.state.reset_links["to"] = link
            ex.state.dirty.add((RESET, "to"))
            t.write()
            new_ex = self._new_run(
                ex, new_id, prefix, started, point, signals, updates, rebuilt, lifetime, req.reason, identity, t.now
            )
            t.then(self._activate, new_ex)
        log.info(
            "workflow %s (run %s) reset to event %d by %s: new run %s",
            rec.workflow_id,
            rec.run_id,
            point,
            identity,
            new_id,
            extra=about(rec),
        )
        return {
            "workflow_id": rec.workflow_id,
            "run_id": new_id,
            "base_run_id": rec.run_id,
            "reset_event_id": point,
            "terminated": terminated,
        }

    @staticmethod
    def _point(req: m.ResetWorkflowRequest, events: list[HistoryEvent]) -> tuple[int, int]:
        """(the reset point's event id, the WorkflowTaskStarted id its prefix ends with)."""
        points = reset_points(events)
        if req.reset_type is not None:
            completed = [e.event_id for e in events if e.event_type is EventType.WORKFLOW_TASK_COMPLETED]
            if not completed:
                raise _refused("the run has no completed workflow task to reset to", events)
            point = completed[0] if req.reset_type == "FirstWorkflowTask" else completed[-1]
            return point, points[point]
        assert req.event_id is not None
        point = req.event_id
        if point > len(events):
            raise _refused(f"event {point} is beyond the run's history ({len(events)} events)", events)
        if point not in points:
            etype = events[point - 1].event_type.value
            raise _refused(
                f"event {point} is a {etype}, not a workflow task's WorkflowTaskCompleted, Failed or TimedOut",
                events,
            )
        return point, points[point]

    def _new_run(
        self,
        base: Execution,
        run_id: str,
        prefix: list[HistoryEvent],
        started: int,
        point: int,
        signals: list[HistoryEvent],
        updates: list[tuple[str, RequestedUpdate]],
        rebuilt: Rebuilt,
        lifetime: dict[str, Any] | None,
        reason: str,
        identity: str,
        now: float,
    ) -> Execution:
        """Build the new run and ride its create on the base run's write (``ExecutionWrite.follow_on``)."""
        from .._transition import Transition

        prev = base.record
        rec = ExecutionRecord(
            namespace=prev.namespace,
            workflow_id=prev.workflow_id,
            run_id=run_id,
            workflow_type=prev.workflow_type,
            task_queue=prev.task_queue,
            status=WorkflowStatus.RUNNING,
            start_time=now,
            close_time=None,
            next_event_id=1,
            version=1,
            request_id=prev.request_id,
        )
        st = ExecutionState(task_timeout=base.state.task_timeout, cancel_request=rebuilt.cancel_request)
        ex = Execution(rec, st, new=True)
        nt = Transition(self.core, ex)
        nt.now = now
        for e in prefix:
            attrs = e.attributes
            if e.event_type is EventType.WORKFLOW_EXECUTION_STARTED:
                # The new run's own id, and where it came from (describe's reset_from reads it here).
                attrs = {**attrs, "run_id": run_id, "reset_base_run_id": prev.run_id, "reset_event_id": point}
                if reason:
                    attrs["reset_reason"] = reason
            nt.append_raw(e.event_type, attrs, e.event_time)
        nt.append_raw(
            EventType.WORKFLOW_TASK_FAILED,
            {
                "scheduled_event_id": prefix[started - 1].attributes.get("scheduled_event_id"),
                "started_event_id": started,
                "identity": identity,
                "cause": WorkflowTaskFailedCause.RESET_WORKFLOW.value,
                "failure": {"message": reason or "reset", "type": "ResetWorkflow", "kind": "application"},
                "base_run_id": prev.run_id,
                "new_run_id": run_id,
                "reset_event_id": point,
                "reason": reason,
            },
        )
        for e in signals:
            nt.append_raw(e.event_type, dict(e.attributes))
        for uid, u in updates:
            # Sent again under its id, so a caller awaiting it by id gets the new run's outcome; durable (an
            # item of the run) until the workflow accepts or rejects it, as no caller will send it again.
            st.requested_updates[uid] = u
            st.dirty.add((REAPPLIED_UPDATE, uid))
        for act in rebuilt.activities.values():
            st.add_activity(act)
        for timer in rebuilt.timers.values():
            st.add_timer(timer)
        if lifetime is not None:  # its timeouts' deadlines and retry policy go on
            st.lifetime = dict(lifetime)
            st.dirty.add((LIFETIME, ""))
        self._carry_properties(st, prefix, prev.namespace)
        nt.wake()
        rec.state = st.to_dict()
        puts, _, _ = st.take_changes()
        events, ex.events = ex.events, []
        ex.remember(events)
        # Activated once the commit is durable (``_activate``, by ``t.then``), not as it is submitted.
        base.follow_on = FollowOn(ExecutionWrite(dataclasses.replace(rec), None, events, put_items=puts), _ignore)
        return ex

    def _carry_properties(self, st: ExecutionState, prefix: list[HistoryEvent], namespace: str) -> None:
        """The search attributes and memo in effect at the reset point: the start's, then each upsert the
        prefix holds (Temporal keeps those made before the reset point, and drops the later ones)."""
        registered = self.core.feature(SearchAttributes).registered(namespace)
        attrs: dict[str, list[Any]] = {}
        memo: dict[str, Any] | None = None
        started_memo: dict[str, Any] = {}
        for e in prefix:
            a = e.attributes
            if e.event_type is EventType.WORKFLOW_EXECUTION_STARTED:
                started_memo = a.get("memo") or (st.lifetime or {}).get("memo") or {}
                for name, tv in (a.get("search_attributes") or {}).items():
                    try:
                        attrs[name] = [tv["type"], sa.stored_value(name, tv["type"], tv["value"])]
                    except (ValueError, KeyError, TypeError):
                        log.warning("reset: search attribute %r of the start is unreadable; dropped", name)
            elif e.event_type is EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                for name, value in (a.get("search_attributes") or {}).items():
                    type_name = registered.get(name) or (attrs.get(name) or [None])[0]
                    if value is None:
                        attrs.pop(name, None)
                    elif type_name is not None:
                        try:
                            attrs[name] = [type_name, sa.stored_value(name, type_name, value)]
                        except ValueError:  # its type changed since: the value no longer fits it
                            log.warning("reset: upserted search attribute %r is not a %s now; dropped", name, type_name)
            elif e.event_type is EventType.WORKFLOW_PROPERTIES_MODIFIED:
                if memo is None:
                    memo = dict(started_memo)
                for key, value in (a.get("upserted_memo") or {}).items():
                    if value is None:
                        memo.pop(key, None)
                    else:
                        memo[key] = value
        if attrs:
            st.search_attributes = attrs
            st.dirty.add((SEARCH_ATTRIBUTES, ""))
        if memo is not None:
            st.memo = memo
            st.dirty.add((MEMO, ""))

    def _activate(self, ex: Execution) -> None:
        """The new run is durable: cache it, then offer its workflow task and activities and arm its timers,
        as for a run taken from the store."""
        core = self.core
        core._cache[ex.record.run_id] = ex
        core._trim_cache()
        core._rearm(ex.record, ex.state)


def _reapplied(
    base: ExecutionState, after: list[HistoryEvent], exclude: set[str]
) -> tuple[list[HistoryEvent], list[tuple[str, RequestedUpdate]]]:
    """What the new run gets again of what came after the reset point (Temporal's reapply), less the kinds
    ``exclude`` names ("Signal", "Update", "All"): the signals (WorkflowExecutionSignaled, copied), and the
    updates to request again, in order: those an earlier reset reapplied to the base run that it has yet
    to take (in no event of its history, they would be lost otherwise), then those it accepted."""
    if "All" in exclude:
        return [], []
    signals = [] if "Signal" in exclude else [e for e in after if e.event_type is EventType.WORKFLOW_EXECUTION_SIGNALED]
    if "Update" in exclude:
        return signals, []
    updates = [(uid, u.name, u.input) for uid, u in base.requested_updates.items() if u.reapplied]
    updates += [
        (str(e.attributes["update_id"]), e.attributes["name"], e.attributes.get("input"))
        for e in after
        if e.event_type is EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    return signals, [(uid, RequestedUpdate(name, arg, i)) for i, (uid, name, arg) in enumerate(updates, 1)]


def _ignore(writing: asyncio.Future[None]) -> None:
    """(The reset's new run waits for the commit to be durable: see ``Reset._activate``.)"""


def reset_from(started: dict[str, Any] | None) -> dict[str, Any] | None:
    """describe's ``reset_from``, from the attributes of the run's WorkflowExecutionStarted (None if it was not
    made by a reset). Its ``reset_to`` is the base run's link item (``ExecutionState.reset_links``)."""
    a = started or {}
    base = a.get("reset_base_run_id")
    if not isinstance(base, str):
        return None
    return {"run_id": base, "event_id": a.get("reset_event_id", 0), "reason": a.get("reset_reason", "")}
