"""One workflow run inside a worker: a deterministic event loop that replays history.

The workflow's coroutines run on this loop, never on the worker's. The loop only moves when the
worker feeds it history: each event resolves a future (an activity's result, a timer firing), and at
each WorkflowTaskStarted the loop runs every ready callback until the code is blocked again. The
commands the code issues are matched, in order, against the command events the history recorded
after that workflow task; any difference is a non-determinism error. Commands issued at the newest
WorkflowTaskStarted are new: they go back to the server.

Time on this loop is the time of the current WorkflowTaskStarted event, and ``call_later`` (hence
``asyncio.sleep`` and ``asyncio.wait_for``) becomes a durable timer.

What each event means, and which events record which commands, is registered by feature modules
(``_features``: ``_lifecycle``, ``_activities``, ``_timers``, ``_cancellation``); this module is the
loop, the replay's workflow-task structure, and the matching of commands.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import linecache
import logging
import os
import random
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..api.enums import EventType
from ..api.fields import MAX_SECONDS
from ..errors import FailureError, NondeterminismError, WorkflowCodeError
from ..interceptors import Call, CallKind, WorkflowInterceptor
from . import _activities, _children, _guard, _local_activities, _patches, _timers, _updates
from ._children import ParentInfo
from ._deadlock import Activation, DeadlockWatchdog, Interrupt
from ._definition import WorkflowDefinition
from ._features import CLOSING_COMMANDS, COMMAND_EVENTS, EVENT_HANDLERS
from ._handlers import HandlerDefinition
from ._kinds import NAMING_FIELDS, CommandEvent, describe_event
from ._lifecycle import failure_payload

__all__ = ["ActivityCall", "WorkflowInfo", "WorkflowInstance", "failure_payload"]

# Plain strings for the hot path: an enum member's ``.value`` is a Python-level property call,
# and replaying or continuing a workflow compares event types many times per step.
_EV_WORKFLOW_TASK_COMPLETED = EventType.WORKFLOW_TASK_COMPLETED.value
_EV_WORKFLOW_TASK_FAILED = EventType.WORKFLOW_TASK_FAILED.value
_EV_WORKFLOW_TASK_STARTED = EventType.WORKFLOW_TASK_STARTED.value
_EV_WORKFLOW_TASK_TIMED_OUT = EventType.WORKFLOW_TASK_TIMED_OUT.value

log = logging.getLogger("mainspring.workflow")

#: Frames of asyncio and of Mainspring are left out of a workflow's stack: the innermost frame left is
#: the workflow code's own awaiting call.
_HIDDEN_DIRS = (
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
)
_WT_STARTED = _EV_WORKFLOW_TASK_STARTED
_EV_UPDATE_ACCEPTED = EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED.value
_WT_OUTCOMES = {
    _EV_WORKFLOW_TASK_COMPLETED,
    _EV_WORKFLOW_TASK_FAILED,
    _EV_WORKFLOW_TASK_TIMED_OUT,
}


class _HistoryProgress:
    """What the server said of the history in the WorkflowTaskStarted event the code runs after."""

    __slots__ = ("length", "size", "suggested")

    def __init__(self) -> None:
        self.length = 0
        self.size = 0
        self.suggested = False

    def task_started(self, event: dict[str, Any]) -> None:
        self.length = event["event_id"]
        attrs = event.get("attributes") or {}
        # Absent from the task a worker ran ahead of the server (a continuation): as before it.
        if "history_size_bytes" in attrs:
            self.size = int(attrs["history_size_bytes"])
            self.suggested = bool(attrs.get("suggest_continue_as_new"))


@dataclass(frozen=True)
class WorkflowInfo:
    """About the running workflow."""

    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    start_time: datetime
    _history: _HistoryProgress = field(default_factory=_HistoryProgress, repr=False, compare=False)
    #: The run this one continued (``ctx.continue_as_new``) or retried, if any.
    continued_run_id: str | None = None
    #: The run's attempt: 1, then one more for each retry of the workflow (its ``retry_policy``).
    attempt: int = 1
    #: The workflow that started this one as its child (``ctx.start_child_workflow``); None if a client did.
    parent: ParentInfo | None = None

    @property
    def history_length(self) -> int:
        """Events in the history when the current workflow task started (its WorkflowTaskStarted
        event's id): the same when the workflow is replayed, so code may depend on it."""
        return self._history.length

    @property
    def history_size(self) -> int:
        """The history's size in bytes (the JSON of its events) when the current workflow task started."""
        return self._history.size

    def get_current_history_length(self) -> int:
        """``history_length`` (Temporal's name)."""
        return self._history.length

    def get_current_history_size(self) -> int:
        """``history_size`` (Temporal's name)."""
        return self._history.size

    def is_continue_as_new_suggested(self) -> bool:
        """True once the history is past the server's warn thresholds (``--warn-history-events``,
        ``--warn-history-bytes``): continue as new before it reaches the limits, past which the
        workflow's tasks fail."""
        return self._history.suggested


# Not frozen: one is made per activity call, and a frozen dataclass sets each field through
# ``object.__setattr__`` (3x the time to make: ~8% of a long replay, W17). Nothing changes one once made.
@dataclass(slots=True)
class ActivityCall:
    """Everything needed to schedule one activity (built by ``Context.execute_activity``)."""

    activity_type: str
    activity_id: str | None
    input: Any
    result_type: Any
    task_queue: str | None
    schedule_to_close_timeout: float | None
    start_to_close_timeout: float | None
    schedule_to_start_timeout: float | None
    heartbeat_timeout: float | None
    retry_policy: dict[str, Any] | None


class _Command:
    __slots__ = ("body", "key", "on_match")

    def __init__(self, body: dict[str, Any], key: tuple[str, ...], on_match: Callable[[int], None] | None = None):
        self.body = body
        self.key = key
        self.on_match = on_match

    def describe(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.body.items() if k in NAMING_FIELDS)
        return f"{self.body['type']}({fields})"


def _accepted_after(events: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    """The updates a past task accepted: the UpdateAccepted events among its command events (those from ``at``
    on, up to the first event that records no command), as the server sent them. They come first, but a plain
    handler's CompleteUpdate follows its AcceptUpdate at once: several updates are interleaved with those."""
    out = []
    while at < len(events) and events[at]["event_type"] in COMMAND_EVENTS:
        if events[at]["event_type"] == _EV_UPDATE_ACCEPTED:
            attrs = events[at]["attributes"]
            out.append({"update_id": attrs["update_id"], "name": attrs["name"], "input": attrs.get("input")})
        at += 1
    return out


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class WorkflowInstance(asyncio.AbstractEventLoop):
    """A workflow run's deterministic event loop and replay state."""

    def __init__(self, definition: WorkflowDefinition, info: WorkflowInfo, *, guard: bool = True) -> None:
        from ._context import Context

        self.definition = definition
        self.info = info
        self.guard = guard
        #: The worker's deadlock detector (``_deadlock``), which interrupts code that does not yield; None: none.
        self.watchdog: DeadlockWatchdog | None = None
        self.context = Context(self)
        self._random: random.Random | None = None
        #: The run's search attributes ({name: {"type", "value"}}) and memo, as the code last set them
        #: (``_search_attributes``).
        self._search_attributes: dict[str, dict[str, Any]] = {}
        self._memo: dict[str, Any] = {}
        self.last_event_id = 0
        self.replaying = True
        self.finished = False
        self._time = info.start_time.timestamp()
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._seq = 0
        #: Commands the code issued that history has not yet confirmed, oldest first.
        self._pending: collections.deque[_Command] = collections.deque()
        #: True right after a WorkflowTaskCompleted: command events are being matched.
        self._matching = False
        #: Feature state (see ``_features``): activities by ActivityTaskScheduled event id; timers
        #: by id and by their handle's id.
        self._activities: dict[int, _activities.Activity] = {}
        self._timers: dict[str, _timers.Timer] = {}
        self._handle_timers: dict[int, _timers.Timer] = {}
        #: Child workflows, and signals and cancellation requests sent to other workflows, by their
        #: Initiated event id (see ``_children``).
        self._children: dict[int, _children._Child] = {}
        self._externals: dict[int, _children._External] = {}
        self._main: asyncio.Task[None] | None = None
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._code_error: BaseException | None = None
        self._closed = False
        #: The WorkflowExecutionCancelRequested event's attributes, once one is in history.
        self.cancel_request: dict[str, Any] | None = None
        #: A class workflow's instance, once ``_lifecycle`` made it (None for a function workflow).
        self.workflow_object: Any = None
        #: Signals (name, payload) recorded before the instance existed, and signals waiting for a
        #: handler of their name (see ``_signals``).
        self._early_signals: list[tuple[str, Any]] = []
        #: Updates delivered before the instance existed (see ``_updates``), and the updates this task
        #: rejected, for the server.
        self._early_updates: list[tuple[dict[str, Any], bool]] = []
        self._rejected_updates: list[dict[str, Any]] = []
        self._signal_buffer: dict[str, list[Any]] = {}
        #: Handlers set by the code while it runs, by kind and name (see ``_runtime_handlers``).
        self.runtime_handlers: dict[str, dict[str | None, HandlerDefinition]] = {}
        #: ``ctx.patched`` answers so far, by patch id (see ``_patches``).
        self._patches: dict[str, bool] = {}
        #: ``ctx.wait_condition`` waiters: (condition, future), checked each time the code is blocked.
        self._conditions: list[tuple[Callable[[], bool], asyncio.Future[bool]]] = []
        #: Async signal and update handlers that have started and not finished.
        self.running_handlers = 0
        #: Set while a query runs: a command it issues is refused.
        self._querying: str | None = None
        #: Local activities asked for and not resolved yet, by id (see ``_local_activities``); the events
        #: being applied and the local activity markers among them (read only if there are local
        #: activities); the WorkflowTaskCompleted id of the past task the code runs in (0 when live).
        self._local: dict[str, _local_activities.LocalActivity] = {}
        self._events: list[dict[str, Any]] = []
        self._local_markers: tuple[list[dict[str, Any]], dict[str, tuple[int, dict[str, Any]]]] | None = None
        self._task_completed_id = 0
        #: What fails the workflow when its code raises it (see ``is_failure``; a worker's
        #: ``workflow_failure_exception_types`` are in its definitions' already).
        self._failure_types: tuple[type[BaseException], ...] = (FailureError, *definition.failure_exception_types)
        #: The worker's interceptors of this run (``mainspring.interceptors``; none by default), the header of
        #: its start, and the calls its code made live in this activation that they are to be told of, each with
        #: the command it goes with (None: none), told once the code is blocked (``_tell_interceptors``).
        self.interceptors: list[WorkflowInterceptor] = []
        self.start_header: dict[str, Any] | None = None
        self._calls: list[tuple[Call, dict[str, Any] | None]] = []

    @property
    def random(self) -> random.Random:
        """The run's random generator, seeded by its run id (made on first use: seeding costs more
        than a whole workflow step, and most workflows never draw a number)."""
        r = self._random
        if r is None:
            r = self._random = random.Random(self.info.run_id)
        return r

    # ================================================================================================
    # Feeding history
    # ================================================================================================

    def activate(
        self, events: list[dict[str, Any]], updates: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Apply new history events; return the commands for the server. ``updates``: the updates the
        server sent with the task, delivered at its start (see ``_updates``; rejections are taken with
        ``take_rejected_updates``).

        Raises ``NondeterminismError`` if the code disagrees with the history, and
        ``WorkflowCodeError`` (with the original exception as cause) if the code raised something
        other than a ``FailureError``. Either way this instance must be discarded.
        """
        n = len(events)
        # Where the next workflow task outcome (completed, failed, timed out) is, at or after the
        # event being applied; n if there is none. It only moves forward, so looking ahead costs one
        # pass over the events in all (looking ahead from each WorkflowTaskStarted made replay
        # quadratic: 150,000 events took 18-38 s).
        outcome_at = 0
        # Each event is one dict lookup: a command event to match, or a feature's handler (``_features``).
        command_events = COMMAND_EVENTS
        handlers = EVENT_HANDLERS
        self._events = events
        for i, ev in enumerate(events):
            etype = ev["event_type"]
            event_id = ev["event_id"]
            if event_id <= self.last_event_id:
                continue
            command_event = command_events.get(etype)
            if command_event is not None:
                self._match(ev, command_event)
                self.last_event_id = event_id
                continue
            if self._matching:
                self._end_matching(ev)
            if etype == _WT_STARTED:
                self.info._history.task_started(ev)
                if outcome_at <= i:
                    outcome_at = i + 1
                    while outcome_at < n and events[outcome_at]["event_type"] not in _WT_OUTCOMES:
                        outcome_at += 1
                outcome = events[outcome_at]["event_type"] if outcome_at < n else None
                if outcome is None or outcome == _EV_WORKFLOW_TASK_COMPLETED:
                    # A task that failed or timed out is skipped: its code run left no commands.
                    self.replaying = outcome is not None
                    self._task_completed_id = events[outcome_at]["event_id"] if outcome is not None else 0
                    self._time = _parse_time(ev["event_time"])
                    if outcome is None:
                        if updates:
                            self._deliver_updates(updates, validate=True)
                    elif outcome_at + 1 < n and events[outcome_at + 1]["event_type"] == _EV_UPDATE_ACCEPTED:
                        # (The task's AcceptUpdate commands come before its others: its first command event.)
                        self._deliver_updates(_accepted_after(events, outcome_at + 1), validate=False)
                    self._run_ready()
            elif etype == _EV_WORKFLOW_TASK_COMPLETED:
                self._matching = True
            else:
                handler = handlers.get(etype)
                if handler is not None:
                    handler(self, ev)
            self.last_event_id = event_id
        if self._calls:
            self._tell_interceptors()
        return [c.body for c in self._pending]

    def note_call(
        self,
        kind: CallKind,
        name: str,
        header: dict[str, Any] | None,
        command: dict[str, Any] | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Keep a call the code made for the interceptors, if it runs live (a replay tells them nothing: its
        calls were told when they were made). ``command``: its command's body, which gets their header;
        ``extra``: more for ``Call.extra`` (an update's id)."""
        if self.replaying:
            return
        info = self.info
        call = Call(kind, name, info.workflow_id, info.run_id, header=dict(header or {}), extra=extra or {})
        self._calls.append((call, command))

    def tell_query(self, name: str, header: dict[str, Any]) -> None:
        """Tell the interceptors of a query this copy answers (between tasks, or after a replay made for it)."""
        info = self.info
        self._calls.append(
            (Call(CallKind.HANDLE_QUERY, name, info.workflow_id, info.run_id, header=dict(header)), None)
        )
        self._tell_interceptors()

    def _tell_interceptors(self) -> None:
        """Tell the interceptors of the calls kept, the run's start first, and put the headers they made on the
        commands. Outside the workflow's code (and its guard): they may read clocks and draw random ids."""
        calls, self._calls = self._calls, []
        calls.sort(key=lambda c: c[0].kind is not CallKind.RUN_WORKFLOW)  # stable: the rest in order
        for call, command in calls:
            call.extra = {**call.extra, "start_header": self.start_header or {}}
            for interceptor in self.interceptors:
                try:
                    interceptor.workflow_call(call)
                except Exception:  # an interceptor's bug must not fail the workflow task
                    log.exception("interceptor %r failed on %s:%s", interceptor, call.kind.value, call.name)
            if command is not None and call.header:
                command["header"] = call.header

    def _deliver_updates(self, updates: list[dict[str, Any]], *, validate: bool) -> None:
        # First in the ready queue, so that the task's AcceptUpdate commands come before any other (the
        # replay finds them right after the task's WorkflowTaskCompleted), and under the loop and guard.
        deliver = functools.partial(_updates.deliver, validate=validate)
        self._ready.appendleft(asyncio.Handle(deliver, (self, updates), self, None))

    def take_rejected_updates(self) -> list[dict[str, Any]]:
        """The updates rejected since the last call: ``{"update_id", "failure"}`` each, for the server."""
        rejected = self._rejected_updates
        self._rejected_updates = []
        return rejected

    @property
    def pending_activities(self) -> int:
        """How many activities the code has scheduled that have not closed yet."""
        return len(self._activities)

    def can_resume_with(self, scheduled_event_id: int) -> bool:
        """True if the code waits on the activity scheduled at ``scheduled_event_id`` alone and has no
        commands the history has yet to confirm: its result may then be fed in ahead of the server.

        Not while other activities are pending: their results, arriving together, are best seen in one
        workflow task (the server's next one carries every result that came meanwhile), rather than
        one workflow task each, run here one at a time."""
        act = self._activities.get(scheduled_event_id)
        return (
            act is not None
            and len(self._activities) == 1
            and not act.future.done()
            and not self._pending
            and self._code_error is None
            and not self._local
        )

    def _end_matching(self, ev: dict[str, Any]) -> None:
        self._matching = False
        if self._pending:
            extra = self._pending[0]
            raise NondeterminismError(
                f"{self._where()}: the workflow code issued {extra.describe()}, but the history has no such "
                f"command at that point (next is {describe_event(ev)}). {self._hint()}"
            )

    def _match(self, ev: dict[str, Any], command_event: CommandEvent) -> None:
        key = command_event.key(ev["attributes"])
        if (not self._pending or self._pending[0].key != key) and _patches.skippable(ev):
            return  # a deprecated patch the code no longer marks (see ``_patches``)
        if not self._pending:
            raise NondeterminismError(
                f"{self._where()}: history {describe_event(ev)} was recorded here, but the workflow code "
                f"did not issue a {command_event.command_type} command at that point. {self._hint()}"
            )
        cmd = self._pending[0]
        if cmd.key != key:
            raise NondeterminismError(
                f"{self._where()}: history {describe_event(ev)} does not match the command the workflow "
                f"code issued, {cmd.describe()}. {self._hint()}"
            )
        self._pending.popleft()
        if cmd.on_match is not None:
            cmd.on_match(ev["event_id"])

    def _where(self) -> str:
        return f"non-determinism in workflow {self.info.workflow_type!r} (id {self.info.workflow_id!r})"

    @staticmethod
    def _hint() -> str:
        return (
            "Was the workflow code changed while this execution was running, or does it depend on "
            "something other than its input and history?"
        )

    # ================================================================================================
    # Running the code, and the commands it issues
    # ================================================================================================

    def _run_ready(self) -> None:
        watchdog = self.watchdog
        if watchdog is None:
            self._run_ready_code()
            return
        # Everything from begin() to the end of end() is inside this try: the watchdog's interrupt,
        # whenever it arrives, is taken here (see _deadlock for why it cannot arrive anywhere else).
        act = Activation(self)
        try:
            watchdog.begin(act)
            try:
                self._run_ready_code(act)
            finally:
                watchdog.end(act)
                if act.interrupted:
                    watchdog.take_pending()
        except Interrupt:
            watchdog.end(act)  # (it may have come before end() was done; only one comes)
        except WorkflowCodeError:
            if not act.interrupted:
                raise
            # The interrupt landed in a coroutine, which failed with it: what it says is said below.
        if act.interrupted:
            self._ready.clear()  # what was left to run: the instance is dropped
            raise watchdog.error(act)

    def _run_ready_code(self, act: Activation | None = None) -> None:
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        ready = self._ready
        # Not while replaying a task that history says completed: that code ran live under the guard
        # already, and its commands are checked against the history. The guard's profile hook runs on
        # every call the code makes and took ~45% of a replay's time (125k instead of 220k events/s).
        guard = self.guard and not self.replaying
        try:
            while True:
                while ready:
                    handle = ready.popleft()
                    if handle._cancelled:
                        continue
                    self._run_guarded(handle._run, guard)
                    if self._code_error is not None or (act is not None and act.interrupted):
                        break
                # The code is blocked: a ``wait_condition`` whose condition now holds wakes its waiter,
                # and the code runs on (the conditions are checked again once it is blocked again).
                if self._code_error is not None or (act is not None and act.interrupted):
                    break
                if self._conditions:
                    self._run_guarded(self._check_conditions, guard)
                    if ready:
                        continue
                # Blocked for good: replayed, the local activities the task resolved at this point are
                # resolved again from their markers (live, the worker runs them, then ``resolve_local``).
                if not (self._local and self._task_completed_id and _local_activities.replay_recorded(self)):
                    break
        finally:
            asyncio.events._set_running_loop(previous)
        err = self._code_error
        if err is not None:
            if isinstance(err, WorkflowCodeError):
                raise err
            raise WorkflowCodeError(f"workflow {self.info.workflow_type!r} raised {type(err).__name__}: {err}") from err

    def _run_guarded(self, step: Callable[[], object], guard: bool) -> None:
        if guard:
            _guard.install()
        try:
            step()
        except BaseException as e:  # a condition that raised (a handle's own errors go to the exception handler)
            if self._code_error is None:
                self._code_error = e
        finally:
            if guard:
                _guard.uninstall()
        if guard:
            violation = _guard.take_violation()
            if violation is not None and self._code_error is None:
                # A forbidden call fails the task even if the code caught the error.
                self._code_error = violation

    def _check_conditions(self) -> None:
        waiting = []
        for condition, future in self._conditions:
            if future.done():
                continue  # its waiter gave up (a timeout, a cancellation)
            if condition():
                future.set_result(True)
            else:
                waiting.append((condition, future))
        self._conditions = waiting

    def add_condition(self, condition: Callable[[], bool]) -> asyncio.Future[bool]:
        """A future that resolves once ``condition()`` is true, checked whenever the code is blocked."""
        future: asyncio.Future[bool] = self.create_future()
        self._conditions.append((condition, future))
        return future

    def run_handler(self, h: HandlerDefinition, args: list[Any], what: str) -> None:
        """Run a signal or update handler on the instance: a plain one at once, an async one as a task of its
        own. A ``FailureError`` it raises fails the workflow (as Temporal does); another error fails the task."""
        obj = self.workflow_object
        if not h.is_async:
            try:
                h.fn(obj, *args)
            except BaseException as e:
                if self.is_failure(e):
                    self.fail_workflow(e)
                elif self._code_error is None:
                    self._code_error = e
            return
        self.running_handlers += 1
        task = self.create_task(h.fn(obj, *args), name=what)
        task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[Any]) -> None:
        self.running_handlers -= 1
        if task.cancelled():
            return
        err = task.exception()
        if err is None:
            return
        if self.is_failure(err):
            self.fail_workflow(err)
        elif self._code_error is None:
            self._code_error = err

    def is_failure(self, err: BaseException) -> bool:
        """True if ``err``, raised by the workflow's code, is a failure (it fails the workflow, or the update
        whose handler raised it) rather than a bug (which fails the workflow task, retried): a
        ``FailureError``, or one of the workflow's ``failure_exception_types`` (and the worker's). Never
        an error the engine raised about the code (non-determinism, a forbidden call)."""
        return isinstance(err, self._failure_types) and not isinstance(err, WorkflowCodeError)

    def fail_workflow(self, err: BaseException) -> None:
        """Close the run as failed with ``err`` (an error a handler raised); later commands are dropped."""
        from ._lifecycle import fail_command

        self._add_command(*fail_command(err))
        self.finished = True

    def warn_unfinished_handlers(self) -> None:
        """Log, once, that the run completes while signal or update handlers still run (they are dropped)."""
        if self.running_handlers and not self.replaying:
            log.warning(
                "workflow %s (%s) completes while %d signal or update handler(s) still run: their work is "
                "dropped. Wait for them first: `await ctx.wait_condition(ctx.all_handlers_finished)`",
                self.info.workflow_id,
                self.info.workflow_type,
                self.running_handlers,
            )

    def query(self, name: str, raw: Any) -> Any:
        """Run the query handler ``name`` on the workflow's current state; its answer as JSON.

        Raises ``QueryError`` (unknown name, a payload that does not fit, a handler that raised or that
        tried to issue a command)."""
        from ._queries import run_query

        return run_query(self, name, raw)

    def _add_command(
        self, body: dict[str, Any], key: tuple[str, ...], on_match: Callable[[int], None] | None = None
    ) -> _Command:
        if self._querying is not None:
            raise WorkflowCodeError(
                f"query {self._querying!r} tried to issue a {body['type']} command: a query only reads the "
                "workflow's state (start activities and timers from run, signals or updates)"
            )
        cmd = _Command(body, key, on_match)
        if self._closed:
            return cmd  # the workflow already closed: later commands are dropped
        if body["type"] in CLOSING_COMMANDS:
            self._closed = True
        self._pending.append(cmd)
        return cmd

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ================================================================================================
    # The features' entry points (the rest of each feature is in its module, see ``_features``)
    # ================================================================================================

    def schedule_activity(self, call: ActivityCall) -> asyncio.Future[Any]:
        """Issue a ScheduleActivity command (see ``_activities``)."""
        return _activities.schedule(self, call)

    def schedule_local_activity(self, call: _local_activities.LocalActivityCall) -> asyncio.Future[Any]:
        """Ask for a local activity (see ``_local_activities``): the worker runs it once the code is blocked."""
        return _local_activities.schedule(self, call)

    @property
    def local_activities(self) -> list[_local_activities.LocalActivity]:
        """The local activities asked for whose outcome is not recorded yet, oldest first (for the worker)."""
        return list(self._local.values())

    def resolve_local(self, outcomes: dict[str, dict[str, Any]]) -> None:
        """The worker ran local activities: record each outcome (a marker's details, by local activity id)
        and run the code on. Raises as ``activate`` does. The commands are then ``pending_commands()``
        (not returned here: a task of many local activities in a row would copy them all each time)."""
        _local_activities.resolve(self, outcomes)
        self._run_ready()
        if self._calls:
            self._tell_interceptors()

    def pending_commands(self) -> list[dict[str, Any]]:
        """The commands the code issued that history has not confirmed yet: this task's, for the server."""
        return [c.body for c in self._pending]

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        # Called by asyncio when the code cancels a timer's handle (see ``_timers``).
        _timers.handle_cancelled(self, handle)

    # ================================================================================================
    # Introspection
    # ================================================================================================

    def stack(self) -> list[dict[str, Any]]:
        """Where each of the workflow's unfinished coroutines waits: its chain of awaits, outermost
        first. Read from the suspended frames; nothing runs."""
        tasks = [t for t in list(self._tasks) if not t.done()]
        tasks.sort(key=lambda t: (t is not self._main, t.get_name()))
        out: list[dict[str, Any]] = []
        for task in tasks:
            frames: list[dict[str, Any]] = []
            node: Any = task.get_coro()
            while node is not None:
                frame = getattr(node, "cr_frame", None) or getattr(node, "gi_frame", None)
                if frame is None:
                    break
                code = frame.f_code
                if not code.co_filename.startswith(_HIDDEN_DIRS):
                    frames.append(
                        {
                            "file": code.co_filename,
                            "line": frame.f_lineno,
                            "function": code.co_name,
                            "code": linecache.getline(code.co_filename, frame.f_lineno).strip(),
                        }
                    )
                node = getattr(node, "cr_await", None) or getattr(node, "gi_yieldfrom", None)
            out.append({"name": task.get_name(), "frames": frames})
        return out

    # ================================================================================================
    # The asyncio event loop interface
    # ================================================================================================

    def time(self) -> float:
        return self._time

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(  # type: ignore[override]
        self,
        delay: float,
        callback: Callable[..., Any],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        if not delay <= MAX_SECONDS:  # a durable timer the server would refuse (or NaN): say so here
            raise ValueError(f"a workflow timer can wait at most 100 years ({MAX_SECONDS:g} s), got {delay!r} s")
        handle = asyncio.TimerHandle(self._time + delay, callback, args, self, context)
        _timers.start(self, delay, handle)
        return handle

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., Any],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        return self.call_later(when - self._time, callback, *args, context=context)

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, Any] | Any,
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=self, name=name, context=context)
        self._tasks.add(task)
        return task

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return True

    def is_closed(self) -> bool:
        return False

    def get_exception_handler(self) -> None:
        return None

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is not None and self._code_error is None and not isinstance(exc, asyncio.CancelledError):
            self._code_error = exc
        elif exc is None:
            log.debug("workflow %s: %s", self.info.workflow_id, context.get("message"))

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.call_exception_handler(context)

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> Any:  # type: ignore[override]
        raise WorkflowCodeError("run_in_executor is not allowed in workflow code; do blocking work in an activity")

    def dispose(self) -> None:
        """Drop the instance: its coroutines are abandoned where they wait, never run further."""
        self._ready.clear()
        for la in self._local.values():  # local activities running for it are of no use any more
            if la.task is not None:
                la.task.cancel()
        # Its own tasks only: asyncio.all_tasks() would scan every task of every cached workflow.
        for task in self._tasks:
            if not task.done():
                # A workflow evicted from the cache is not an error: don't let asyncio warn about it.
                task._log_destroy_pending = False  # type: ignore[attr-defined]
