"""Commands: what a completed workflow task asks for, checked and turned into history events.

Each command type is a ``CommandKind`` registered by a feature module (``features``): this module
only runs them, validating every command of a task before applying any. Shared by the two ways a
workflow task completes: on its own (``WorkflowTasks``) and together with the activity completion
that caused it (``ActivityTasks``, when the worker ran the workflow at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..api import models as m
from ..api.enums import ActivityState, EventType
from ._core import Effects, EngineCore, Execution
from ._matching import Session
from ._state import ActivityInfo
from .features import COMMAND_KINDS, CommandCheck, CommandKind, CommandKinds

__all__ = ["Commands"]


class Commands(EngineCore):
    #: The command kinds this engine accepts (``features``). One table for every engine; a test may
    #: give one engine a table of its own.
    command_kinds: CommandKinds = COMMAND_KINDS

    def _validate_commands(
        self, ex: Execution, commands: Iterable[m.Command], closing_activity: int | None = None
    ) -> str | None:
        """Why these commands cannot be applied, or None. ``closing_activity`` is about to close."""
        by_model = self.command_kinds.by_model
        check = CommandCheck(self, ex, closing_activity)
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

    def _apply_commands(
        self, ex: Execution, commands: Iterable[m.Command], completed_id: int, now: float, fx: Effects
    ) -> None:
        """Record validated commands, in order; then what must follow all of their events."""
        by_model = self.command_kinds.by_model
        finishing: list[CommandKind[Any]] = []
        for cmd in commands:
            kind = by_model[type(cmd)]
            kind.apply(self, ex, cmd, completed_id, now, fx)
            if kind.finish is not None and kind not in finishing:
                finishing.append(kind)
        for kind in finishing:
            assert kind.finish is not None
            kind.finish(self, ex, now, fx)

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

    def _activity_canceled(self, ex: Execution, act: ActivityInfo, now: float, details: Any = None) -> None:
        """A cancelled activity ends: its running attempt stopped (or ended anyway), or it never started.

        No workflow task follows: the workflow stopped waiting for it when it asked to cancel it.
        """
        started = act.state is ActivityState.STARTED
        self._session_done_activity(ex, act)
        started_id = self._activity_started_event(ex, act, now) if started else 0
        self._append(
            ex,
            EventType.ACTIVITY_TASK_CANCELED,
            {
                "scheduled_event_id": act.scheduled_event_id,
                "started_event_id": started_id,
                "latest_cancel_requested_event_id": act.cancel_requested_event_id,
                "details": details,
                "identity": act.last_identity if started else None,
            },
            now,
        )
        ex.state.remove_activity(act.scheduled_event_id)

    def _take_eager(
        self, ex: Execution, fx: Effects, session: Session | None, slots: int, now: float
    ) -> list[dict[str, Any]]:
        """Hand newly scheduled activities straight to the worker that scheduled them (it has room).

        Called after the commit; saves that worker a poll and the server a queue round trip.
        """
        tasks: list[dict[str, Any]] = []
        if slots <= 0 or not fx.activities or session is None or session.closed or not ex.running:
            return tasks
        for act in fx.activities:
            if len(tasks) >= slots:
                break
            if (
                act.task_queue == session.task_queue
                and act.state is ActivityState.SCHEDULED
                and act.activity_type in session.activity_types
            ):
                tasks.append(self._begin_activity(ex, act, session, now))
        return tasks
