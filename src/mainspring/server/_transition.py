"""The transition core: every change to a run goes through one ``Transition``.

    async with core.transition(ex) as t:   # load (the caller) and lock
        ...                                # change: t.append(...), the state's methods, t.fx
    # commit (one conditional write of the run's row, its changed items and its new events), then act

A feature says what happened (the events, the state, what to do once it is durable in ``t.fx``) and
never how it is written: the scope's exit picks the path, and it alone knows the fast ones:

- **Answer before the commit.** When the answer hands the worker activities its workflow task just
  scheduled (``take_eager``), the worker runs them while the step is written (``_commit_behind``).
- **Release before the write is done.** A worker's plain report that wakes the workflow (an activity
  result, see ``deliver``) lets go of the lock as soon as its write is submitted: the run's other
  reports, arriving meanwhile, join the same group commit.
- **A report and the workflow task it causes, in one commit.** A worker that keeps the workflow cached
  may run it on its own report and send the commands along (a continuation, see ``deliver``).
- **Answer once submitted.** A workflow task that continued as new may be answered with the next run's
  first task as soon as its commit is submitted (``submit_now``): the worker runs that task while the
  close and the create are written, and a continue-as-new loop moves one frame each way a run.

A transition that raises before it committed what it changed leaves a copy that memory alone holds:
it is forgotten and the run reloaded from the store (``EngineCore._lose``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Iterable
from contextvars import Token
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._json import dumps
from ..api import models as m
from ..api.enums import ActivityState, EventType, WorkflowStatus
from ..storage import HistoryEvent
from ._execution import Effects, Execution, own_event_json
from ._logs import RUN
from ._matching import Session
from ._state import WorkflowTaskInfo
from .features.kinds import CommandCheck, CommandKind
from .features.versioning import note_build, pin_of

if TYPE_CHECKING:
    from ..storage import ExecutionRecord
    from ._core import EngineCore

__all__ = ["Transition", "TransitionScope"]


class Transition:
    """One change to one run, under its lock: what it appends and changes, and what follows its commit."""

    __slots__ = ("_answer_first", "_handed_on", "_release_early", "_submitted", "_write", "core", "ex", "fx", "now")

    def __init__(self, core: EngineCore, ex: Execution) -> None:
        self.core = core
        self.ex = ex
        #: The transition's time: every event it appends carries it, unless it says otherwise.
        self.now = core.clock.now()
        #: What to do once it is durable (``EngineCore._act``).
        self.fx = Effects()
        self._answer_first = False
        self._release_early = False
        self._write = False
        #: The lock went on with the commit (behind the answer) or was released before the write was done.
        self._handed_on = False
        #: The commit was submitted already (``submit_now``): nothing is left for the scope's exit.
        self._submitted = False

    # --- what a feature changes ----------------------------------------------------------------------

    def append(self, etype: EventType, attrs: dict[str, Any], at: float | None = None) -> HistoryEvent:
        """Append an event. If a workflow task is out, its Started event goes first (at the place the
        worker saw the history), and another task must follow: the worker has not seen this one."""
        wt = self.ex.state.wt
        if wt is not None and wt.started:
            wt.new_events = True
            if not wt.started_written:
                self.write_wt_started(wt)
        return self.append_raw(etype, attrs, self.now if at is None else at)

    def append_raw(self, etype: EventType, attrs: dict[str, Any], at: float | None = None) -> HistoryEvent:
        """Append an event as it is (no Started event of a task that is out goes first)."""
        ex = self.ex
        rec = ex.record
        # Encoded once, here: for the history's size (--limit-history-bytes), and as what the store
        # writes (it encoded them again before, ~1 ms per MB of ordinary text; see HistoryEvent.encoded).
        encoded = dumps(attrs)
        e = HistoryEvent(rec.next_event_id, etype, self.now if at is None else at, attrs, encoded)
        rec.next_event_id += 1
        ex.events.append(e)
        ex.state.history_bytes += len(encoded)
        return e

    def write_wt_started(self, wt: WorkflowTaskInfo) -> None:
        """Write the Started event of the task that is out (and, for a transient task, its Scheduled)."""
        ex = self.ex
        if wt.transient:
            e = self.append_raw(
                EventType.WORKFLOW_TASK_SCHEDULED,
                {"task_queue": ex.record.task_queue, "attempt": wt.attempt},
                wt.scheduled_time,
            )
            wt.scheduled_event_id = e.event_id
        self.append_raw(
            EventType.WORKFLOW_TASK_STARTED,
            {
                "scheduled_event_id": wt.scheduled_event_id,
                "identity": wt.identity,
                "attempt": wt.attempt,
                **ex.started_extra,
            },
            wt.started_time,
        )
        wt.started_written = True

    def wake(self) -> None:
        """The workflow has something new to see: make sure a workflow task will show it."""
        ex = self.ex
        st = ex.state
        if not ex.running:
            return
        if st.wt is not None:
            if st.wt.started:
                st.wt.new_events = True
            return
        e = self.append(EventType.WORKFLOW_TASK_SCHEDULED, {"task_queue": ex.record.task_queue, "attempt": 1})
        st.wt = WorkflowTaskInfo(attempt=1, scheduled_time=self.now, scheduled_event_id=e.event_id)
        self.fx.offer_wt = True

    def close(self, status: WorkflowStatus) -> None:
        """Close the run (its closing event is appended already). Its pending work is abandoned: each
        feature lets go of its part (``EngineCore.on_close``), and the waiters are answered once durable."""
        ex = self.ex
        rec = ex.record
        rec.status = status
        rec.close_time = self.now
        for closing in self.core.closers:
            closing(self)
        ex.state.clear_pending()
        ex.state.wt = None
        ex.state.sticky_session = None
        self.fx.closed = True
        self.fx.activities = None

    def write(self) -> None:
        """Commit this transition even if it appended nothing and changed no pending item (a change of
        the run's core state alone)."""
        self._write = True

    def release_before_durable(self) -> None:
        """Let go of the lock as soon as this transition's write is submitted; its caller is still answered
        once the write is durable, and what it registered in ``fx`` waits for that too. The run's next
        transitions, arriving meanwhile, then join the same group commit instead of each waiting out the
        one before (a burst of signals to one run; a worker's plain report does the same, see ``deliver``)."""
        self._release_early = True

    def then(self, action: Callable[..., None], *args: Any) -> None:
        """Call ``action(*args)`` once the transition is durable (after the registered effects)."""
        fx = self.fx
        if fx.then is None:
            fx.then = []
        fx.then.append(functools.partial(action, *args))

    # --- commands ------------------------------------------------------------------------------------

    def validate_commands(self, commands: Iterable[m.Command], closing_activity: int | None = None) -> str | None:
        """Why these commands cannot be applied, or None. ``closing_activity`` is about to close."""
        by_model = self.core.command_kinds.by_model
        check = CommandCheck(self.core, self.ex, closing_activity)
        closed = False
        for i, cmd in enumerate(commands):
            if closed:
                return f"command {i + 1} ({cmd.type}) comes after the command that closed the workflow"
            kind = by_model[type(cmd)]
            closed = kind.closes
            problem = kind.validate(check, cmd)
            if problem is not None:
                return f"command {i + 1} ({cmd.type}): {problem}"
        return None

    def apply_commands(self, commands: Iterable[m.Command], completed_id: int) -> None:
        """Record validated commands, in order; then what must follow all of their events."""
        by_model = self.core.command_kinds.by_model
        finishing: list[CommandKind[Any]] = []
        for cmd in commands:
            kind = by_model[type(cmd)]
            kind.apply(self, cmd, completed_id)
            if kind.finish is not None and kind not in finishing:
                finishing.append(kind)
        for kind in finishing:
            assert kind.finish is not None
            kind.finish(self)

    async def take_eager(self, session: Session | None, slots: int) -> list[dict[str, Any]]:
        """Hand the activities this transition scheduled straight to the worker whose workflow task
        scheduled them (it has room): it saves that worker a poll and the server a queue round trip.
        The answer then goes out before the commit (see the module's docstring).

        Such a task leaves out the activity's input (``input_from_command``): the worker takes it from
        the ScheduleActivity command it just sent, so a 1 MB input does not travel back to where it
        came from. A task handed out any other way (a poll, a retry) carries its input."""
        fx = self.fx
        ex = self.ex
        tasks: list[dict[str, Any]] = []
        if slots <= 0 or not fx.activities or session is None or session.closed or not ex.running:
            return tasks
        if ex.creating is not None:
            # No activity may run for a run whose start can still be refused.
            await self.core._created(ex)
        begin = self.core.activity_tasks.begin
        # The events this transition appended: an activity scheduled among them was scheduled by the
        # commands of the worker being answered (only they schedule activities in such a transition).
        first_new = ex.events[0].event_id if ex.events else ex.record.next_event_id
        for act in fx.activities:
            if len(tasks) >= slots:
                break
            if (
                act.task_queue == session.task_queue
                and act.state is ActivityState.SCHEDULED
                and act.activity_type in session.activity_types
            ):
                own = act.scheduled_event_id >= first_new
                tasks.append(begin(self.ex, act, session, self.now, input_from_command=own))
        self._answer_first = bool(tasks)
        return tasks

    # --- a worker's report that wakes the workflow ---------------------------------------------------

    async def deliver(
        self,
        record: Callable[[float], None],
        *,
        session: Session | None,
        continuation: m.Continuation | None,
        want_workflow_task: bool,
        eager_slots: int,
        closing_activity: int | None = None,
    ) -> dict[str, Any]:
        """Record a worker's report that the workflow must see (``record(at)`` appends its events at
        time ``at``), by the fastest path the run allows; the answer's ``continuation`` and
        ``workflow_task`` say which was taken.

        With a ``continuation`` (the commands the worker's cached workflow issued on this report), if
        the history is still as the worker saw it, the report and that whole workflow task go into one
        commit, and the answer hands the worker the activities it scheduled: one round trip and one
        commit per step instead of four and two. If not, the continuation is refused (the worker drops
        its cached copy) and the report is recorded as usual. Without one, a sticky worker may ask for
        the workflow task the report causes to be handed back in the answer (``want_workflow_task``).
        """
        refused: str | None = None
        if continuation is not None:
            refused = self._continuation_problem(continuation, session, closing_activity)
            if refused is None:
                assert session is not None
                return await self._continue(record, continuation, session, eager_slots)
        record(self.now)
        self.wake()
        refusal = None if continuation is None else {"accepted": False, "reason": refused}
        ex = self.ex
        if not want_workflow_task:
            # The workflow task it causes is handed out once the report is written, with the reports
            # that join it in the same group commit.
            self._release_early = ex.creating is None
            return {"accepted": True, "continuation": refusal, "workflow_task": None}
        # Written now, acted on at the end: the task handed back in the answer is then offered to no one.
        await self._write_now()
        inline = None
        wt = ex.state.wt
        if (
            self.fx.offer_wt
            and session is not None
            and not session.closed
            and ex.state.sticky_session == session.id
            and wt is not None
            and not wt.started
            and self.core.matching.eligible(session, pin_of(ex.state))
        ):
            inline = await self.core.workflow_tasks.begin(ex, session, self.now)
            self.fx.offer_wt = False
        return {"accepted": True, "continuation": refusal, "workflow_task": inline}

    def _continuation_problem(
        self, cont: m.Continuation, session: Session | None, closing_activity: int | None
    ) -> str | None:
        """Why the workflow task the worker ran on this report cannot be recorded as it is, or None."""
        ex = self.ex
        limits = self.core.limits
        if session is None or session.closed:
            return "the worker's session is not known"
        if not self.core.matching.eligible(session, pin_of(ex.state)):
            return "the run is on another build than the worker's"
        if ex.state.wt is not None:
            return "a workflow task is already scheduled"
        if ex.record.next_event_id != cont.base_event_id + 1:
            return "the history changed since the worker saw it"
        try:
            started = datetime.fromisoformat(cont.started_time).timestamp()
        except ValueError:
            return "started_time is not an RFC 3339 time"
        if abs(started - self.now) > 5.0:
            return "the worker's clock is too far from the server's"
        over = limits.check(ex, cont.commands, self.core.command_kinds, closing_activity=closing_activity)
        if over is not None:
            return over.message  # the workflow task that follows the usual way fails with it
        if limits.suggest_continue_as_new(ex) and not ex.started_extra.get("suggest_continue_as_new"):
            return "the workflow is to be told that continuing as new is suggested"  # in the next task
        return self.validate_commands(cont.commands, closing_activity=closing_activity)

    async def _continue(
        self, record: Callable[[float], None], cont: m.Continuation, session: Session, eager_slots: int
    ) -> dict[str, Any]:
        ex = self.ex
        rec = ex.record
        st = ex.state
        # The worker ran the workflow at `started`, on its clock; that is the time the code saw
        # (ctx.now()), so it is the time recorded, and replay sees the same.
        started = datetime.fromisoformat(cont.started_time).timestamp()
        before = min(started, self.now)
        record(before)
        scheduled = self.append_raw(
            EventType.WORKFLOW_TASK_SCHEDULED, {"task_queue": rec.task_queue, "attempt": 1}, before
        )
        wt_started = self.append_raw(
            EventType.WORKFLOW_TASK_STARTED,
            {"scheduled_event_id": scheduled.event_id, "identity": session.identity, "attempt": 1},
            started,
        )
        attributes: dict[str, Any] = {
            "scheduled_event_id": scheduled.event_id,
            "started_event_id": wt_started.event_id,
            "identity": session.identity,
        }
        version = note_build(st, session, rec.workflow_type)
        if version is not None:
            attributes["worker_version"] = version
        completed = self.append_raw(EventType.WORKFLOW_TASK_COMPLETED, attributes)
        self.apply_commands(cont.commands, completed.event_id)
        written = [own_event_json(e) for e in ex.events if e.event_id >= completed.event_id]
        if ex.running:
            st.sticky_session = session.id
            st.sticky_event_id = rec.next_event_id - 1
        eager = await self.take_eager(session, eager_slots)
        return {"accepted": True, "continuation": {"accepted": True, "events": written}, "activity_tasks": eager}

    # --- commit, then act ----------------------------------------------------------------------------

    def _changed(self) -> bool:
        st = self.ex.state
        return bool(self.ex.events or st.dirty or st.cleared or self._write)

    async def commit(self) -> None:
        """Commit what the transition changed so far, then act on it; the transition goes on after
        (what it changes next is committed at its end)."""
        await self._write_now()
        fx, self.fx = self.fx, Effects()
        self.core._act(self.ex, fx)

    async def _write_now(self) -> None:
        if self._changed():
            await self.core._commit(self.ex)
            self._write = False

    def submit_now(self) -> None:
        """Submit the commit now, and let the caller answer before it is durable: the effects are acted
        on, and the lock released, once it is. Nothing may change after this. Only for a run that is not
        waiting for its own create (or whose create this write queues behind, ``Execution.chained``):
        the caller checks. Used to hand a worker the next run's first task (``WorkflowTasks.complete``)
        while the close and the create are written; if they fail, that task is refused, as any task
        of a run whose create failed is."""
        core = self.core
        ex = self.ex
        assert ex.creating is None or ex.chained
        for finish in core.finishers:
            finish(self)
        fx, self.fx = self.fx, Effects()
        self._submitted = self._handed_on = True
        durable = core._submit_commit(ex)
        durable.add_done_callback(functools.partial(self._durable, fx))

    def _durable(self, fx: Effects, fut: asyncio.Future[None]) -> None:
        try:
            self.core._act_when_durable(self.ex, fx, fut)
        finally:
            self.ex.lock.release()

    async def _finish(self) -> None:
        """Commit and act by the path this transition allows (``_handed_on`` says if the lock went
        on with the commit, or was released already)."""
        core = self.core
        ex = self.ex
        if self._submitted:
            return
        for finish in core.finishers:
            finish(self)
        if not self._changed():
            core._act(ex, self.fx)
            return
        if self._answer_first and self.fx.may_answer_first():
            self._handed_on = True
            core._commit_behind(ex, self.fx)
            return
        if self._release_early and ex.creating is None:
            durable = core._submit_commit(ex, snapshot=True)
            self._handed_on = True
            ex.lock.release()
            # The effects follow the write whatever becomes of this call (its caller may go away).
            durable.add_done_callback(functools.partial(core._act_when_durable, ex, self.fx))
            await asyncio.shield(durable)
            return
        await core._commit(ex)
        core._act(ex, self.fx)


class TransitionScope:
    """``async with core.transition(ex) as t``: the lock is held from entry to the commit, and the
    transition is committed and acted on at the exit (see ``Transition``)."""

    __slots__ = ("_core", "_ex", "_run", "_t")

    def __init__(self, core: EngineCore, ex: Execution) -> None:
        self._core = core
        self._ex = ex
        self._t: Transition | None = None
        self._run: Token[ExecutionRecord | None] | None = None

    async def __aenter__(self) -> Transition:
        await self._ex.lock.acquire()
        self._run = RUN.set(self._ex.record)  # what the logs say a line is about (see _logs)
        touched = self._core.touched
        if touched is not None:
            touched.add(self._ex)
        t = self._t = Transition(self._core, self._ex)
        return t

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        t = self._t
        assert t is not None
        try:
            if exc is None:
                await t._finish()
            elif t._changed():
                # Changed in memory and never committed: this copy is no longer the run's.
                self._core._lose(self._ex)
        finally:
            if self._run is not None:
                with contextlib.suppress(ValueError):  # left in another context than entered: nothing to undo
                    RUN.reset(self._run)
            if not t._handed_on:
                self._ex.lock.release()
