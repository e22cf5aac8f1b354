"""Running workflow tasks: the sticky cache of workflow instances and one task's processing."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .._time import rfc3339
from ..api.enums import EventType, WorkflowTaskFailedCause
from ..errors import NondeterminismError, WorkflowCodeError, failure_to_dict
from ..interceptors import Interceptor
from ..workflow import WorkflowDefinition
from ..workflow._children import parent_info
from ..workflow._continue_as_new import chain_info
from ..workflow._deadlock import DeadlockWatchdog
from ..workflow._instance import WorkflowInfo, WorkflowInstance

__all__ = [
    "FailureLog",
    "TaskOutcome",
    "WorkflowCache",
    "continue_workflow",
    "process_workflow_task",
    "replay_instance",
    "resume_local",
]

# Plain strings for the hot path: an enum member's ``.value`` is a Python-level property call,
# and replaying or continuing a workflow compares event and command types many times per step.
_EV_ACTIVITY_TASK_COMPLETED = EventType.ACTIVITY_TASK_COMPLETED.value
_EV_ACTIVITY_TASK_STARTED = EventType.ACTIVITY_TASK_STARTED.value
_EV_WORKFLOW_TASK_SCHEDULED = EventType.WORKFLOW_TASK_SCHEDULED.value
_EV_WORKFLOW_TASK_STARTED = EventType.WORKFLOW_TASK_STARTED.value

log = logging.getLogger("mainspring.worker")


class WorkflowCache:
    """Recently run workflow instances, so the next task needs only the new events (bounded LRU)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, WorkflowInstance] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, run_id: str) -> WorkflowInstance | None:
        inst = self._items.get(run_id)
        if inst is not None:
            self._items.move_to_end(run_id)
        return inst

    def peek(self, run_id: str) -> WorkflowInstance | None:
        """The cached instance, without counting it as used (for looking at it from outside)."""
        return self._items.get(run_id)

    def put(self, run_id: str, inst: WorkflowInstance) -> None:
        self._items[run_id] = inst
        self._items.move_to_end(run_id)
        while len(self._items) > self.size:
            _, old = self._items.popitem(last=False)
            old.dispose()

    def evict(self, run_id: str) -> None:
        inst = self._items.pop(run_id, None)
        if inst is not None:
            inst.dispose()


class FailureLog:
    """The runs whose workflow task failure this worker has logged with its traceback.

    A bug in workflow code fails the task, and the server retries it (with backoff) until a deploy
    fixes the code: a traceback per retry buried everything else (52 in 4 minutes for two stuck runs).
    The first is logged in full, each retry as one line with its attempt; a run whose task succeeds
    again is forgotten, so a later bug gets its traceback too.
    """

    def __init__(self, size: int = 1000) -> None:
        self._size = size
        self._runs: OrderedDict[str, None] = OrderedDict()

    def first(self, run_id: str) -> bool:
        """Whether this is the first failure of ``run_id`` to log (and remember that it was logged)."""
        if run_id in self._runs:
            return False
        self._runs[run_id] = None
        if len(self._runs) > self._size:
            self._runs.popitem(last=False)
        return True

    def forget(self, run_id: str) -> None:
        if self._runs:  # usually empty: one check on the hot path
            self._runs.pop(run_id, None)


class TaskOutcome:
    """What to tell the server about one workflow task: commands, or a failure."""

    __slots__ = ("cause", "commands", "failure", "force_new_task", "keep", "local", "rejected_updates")

    def __init__(
        self,
        commands: list[dict[str, Any]] | None = None,
        *,
        keep: bool = True,
        cause: WorkflowTaskFailedCause | None = None,
        failure: dict[str, Any] | None = None,
        rejected_updates: list[dict[str, Any]] | None = None,
    ) -> None:
        self.commands = commands
        self.keep = keep
        self.cause = cause
        self.failure = failure
        #: Updates the workflow refused: ``{"update_id", "failure"}`` each.
        self.rejected_updates = rejected_updates
        #: The workflow, if its code waits for local activities: run them, then ``resume_local``.
        self.local: WorkflowInstance | None = None
        #: Ask the server for the next task at once (local activities still run: see ``_local_activities``).
        self.force_new_task = False


def replay_instance(
    task: dict[str, Any],
    first_event: dict[str, Any],
    definitions: dict[str, WorkflowDefinition],
    *,
    guard: bool,
    watchdog: DeadlockWatchdog | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> WorkflowInstance | None:
    """A new instance of the task's workflow, to feed its history from ``first_event`` (its
    WorkflowExecutionStarted) a piece at a time; None if this worker does not run that type."""
    d = definitions.get(task["workflow_type"])
    if d is None:
        return None
    info = WorkflowInfo(
        namespace=task["namespace"],
        workflow_id=task["workflow_id"],
        run_id=task["run_id"],
        workflow_type=task["workflow_type"],
        task_queue=task["task_queue"],
        start_time=datetime.fromisoformat(first_event["event_time"]),
        **chain_info(first_event),
        parent=parent_info(first_event, task["namespace"]),
    )
    inst = WorkflowInstance(d, info, guard=guard)  # type: ignore[abstract]
    inst.watchdog = watchdog
    if interceptors:
        _intercept(inst, interceptors)
    return inst


def _intercept(inst: WorkflowInstance, interceptors: Sequence[Interceptor]) -> None:
    """Give a new instance its run's workflow interceptors (``mainspring.interceptors``)."""
    made = (i.workflow_interceptor(inst.info) for i in interceptors)
    inst.interceptors = [w for w in made if w is not None]


def process_workflow_task(
    task: dict[str, Any],
    history: list[dict[str, Any]],
    definitions: dict[str, WorkflowDefinition],
    cache: WorkflowCache,
    *,
    guard: bool,
    task_queue: str,
    watchdog: DeadlockWatchdog | None = None,
    replayed: WorkflowInstance | None = None,
    replay_error: Exception | None = None,
    failures: FailureLog | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> TaskOutcome:
    """Advance the workflow with the task's events; never raises for workflow code problems.

    ``replayed``: the instance already fed the events before ``history`` (a long history replayed a
    page at a time as it was fetched); ``replay_error``: what feeding it raised, if it did;
    ``failures``: whose failures were logged in full already; ``interceptors``: the worker's, for a new instance."""
    run_id = task["run_id"]
    wtype = task["workflow_type"]
    d = definitions.get(wtype)
    if d is None:
        known = ", ".join(sorted(definitions)) or "none"
        message = (
            f"workflow type {wtype!r} is not registered on this worker (task queue {task_queue!r}); it runs: "
            f"{known}. The workflow waits for a worker that knows it."
        )
        return TaskOutcome(
            keep=False,
            cause=WorkflowTaskFailedCause.UNKNOWN_WORKFLOW_TYPE,
            failure={"message": message, "type": "UnknownWorkflowType", "kind": "application"},
        )
    inst = replayed or (cache.get(run_id) if task["first_event_id"] > 1 else None)
    if inst is None:
        cache.evict(run_id)
        started = history[0]
        info = WorkflowInfo(
            namespace=task["namespace"],
            workflow_id=task["workflow_id"],
            run_id=run_id,
            workflow_type=wtype,
            task_queue=task["task_queue"],
            start_time=datetime.fromisoformat(started["event_time"]),
            **chain_info(started),
            parent=parent_info(started, task["namespace"]),
        )
        inst = WorkflowInstance(d, info, guard=guard)  # type: ignore[abstract]
        inst.watchdog = watchdog
        if interceptors:
            _intercept(inst, interceptors)
    try:
        if replay_error is not None:
            raise replay_error
        updates = task.get("updates")
        commands = inst.activate(history, updates)
        rejected = inst.take_rejected_updates() if updates else None
    except (NondeterminismError, WorkflowCodeError) as e:
        return _code_failed(e, task, inst, cache, failures)
    if failures is not None:
        failures.forget(run_id)
    if inst.finished:
        cache.evict(run_id)
        return TaskOutcome(commands, keep=False, rejected_updates=rejected)
    if inst._local:
        # The code waits for local activities: the worker runs them within this task (``resume_local``).
        if cache.size > 0:
            cache.put(run_id, inst)
        outcome = TaskOutcome(commands, keep=cache.size > 0, rejected_updates=rejected)
        outcome.local = inst
        return outcome
    if cache.size <= 0 or (updates and not commands):
        # A task that only rejected updates may be dropped by the server, Scheduled and Started events
        # and all (a rejected update leaves no trace): the instance has seen events that will not be.
        inst.dispose()
        cache.evict(run_id)
        return TaskOutcome(commands, keep=False, rejected_updates=rejected)  # not cached: whole histories
    cache.put(run_id, inst)
    return TaskOutcome(commands, keep=True, rejected_updates=rejected)


def _code_failed(
    e: Exception, task: dict[str, Any], inst: WorkflowInstance, cache: WorkflowCache, failures: FailureLog | None
) -> TaskOutcome:
    """The task's outcome when feeding the workflow raised ``e`` (non-determinism, or a bug in its code)."""
    run_id = task["run_id"]
    cache.evict(run_id)
    inst.dispose()
    if isinstance(e, NondeterminismError):
        log.error("%s", e)
        return TaskOutcome(
            keep=False,
            cause=WorkflowTaskFailedCause.NON_DETERMINISTIC,
            failure={**failure_to_dict(e), "type": "NondeterminismError"},
        )
    original = e.__cause__ or e
    if failures is None or failures.first(run_id):
        log.error("workflow task failed (it will be retried): %s", e, exc_info=original)
    else:
        log.error(
            "workflow task of %s failed again (attempt %s; the traceback is above, it will be retried): %s",
            task["workflow_id"],
            task.get("attempt", "?"),
            e,
        )
    failure = failure_to_dict(original)
    failure["message"] = str(e)
    return TaskOutcome(keep=False, cause=WorkflowTaskFailedCause.WORKFLOW_CODE_ERROR, failure=failure)


def resume_local(
    outcome: TaskOutcome,
    results: dict[str, dict[str, Any]] | None,
    task: dict[str, Any],
    cache: WorkflowCache,
    failures: FailureLog | None = None,
) -> TaskOutcome:
    """Hand the outcomes of the local activities (``results``: by id; None if the task must be completed
    before they finished) to the workflow of ``outcome.local`` and run its code on. The outcome to report,
    with ``local`` set again if the code now waits for more."""
    inst = outcome.local
    assert inst is not None
    outcome.local = None
    if results is None:
        # Complete the task with what it has, and go on in the next one (the worker's heartbeat).
        outcome.force_new_task = True
        outcome.commands = inst.pending_commands()
        return outcome
    try:
        inst.resolve_local(results)
    except (NondeterminismError, WorkflowCodeError) as e:
        return _code_failed(e, task, inst, cache, failures)
    if inst._local and not inst.finished:
        outcome.local = inst  # it waits for more: the commands are taken once it waits for something else
        return outcome
    outcome.commands = inst.pending_commands()
    if inst.finished:
        cache.evict(task["run_id"])
        outcome.keep = False
    elif cache.size <= 0:
        inst.dispose()
    return outcome


def server_lead(task: dict[str, Any]) -> float:
    """How many seconds the server's clock is ahead of this process's, as a task it just handed out
    says (its ``started_time``, the server's time then); 0 if the task does not say."""
    started = task.get("started_time")
    if not isinstance(started, str):
        return 0.0
    try:
        return datetime.fromisoformat(started).timestamp() - time.time()
    except ValueError:
        return 0.0


def continue_workflow(
    cache: WorkflowCache, task: dict[str, Any], result: Any, *, server_lead: float = 0.0
) -> dict[str, Any] | None:
    """Run the cached workflow on an activity's result, ahead of the server; the continuation to send.

    The events fed to the workflow are the ones the server will write if it accepts the continuation
    (activity started and completed, then a workflow task scheduled and started); their ids follow the
    last event the workflow has seen, which the server checks. None when this is not possible here, in
    which case the result is reported on its own and the workflow task follows the usual way.

    Their time is the server's clock as the activity task showed it (``server_lead``: how far the
    server's clock is ahead of this process's, see ``server_lead``), not this process's: the server
    refuses a continuation more than a few seconds off its clock, and a time-skipping test server's
    clock is days ahead (every continuation was refused, and each run replayed from its history).
    """
    run_id = task["run_id"]
    inst = cache.get(run_id)
    sched_id = task.get("scheduled_event_id")
    if inst is None or sched_id is None or inst.finished or not inst.can_resume_with(sched_id):
        return None
    base = inst.last_event_id
    now = rfc3339(time.time() + server_lead)
    events = [
        {
            "event_id": base + 1,
            "event_time": now,
            "event_type": _EV_ACTIVITY_TASK_STARTED,
            "attributes": {"scheduled_event_id": sched_id, "attempt": task["attempt"]},
        },
        {
            "event_id": base + 2,
            "event_time": now,
            "event_type": _EV_ACTIVITY_TASK_COMPLETED,
            "attributes": {"scheduled_event_id": sched_id, "started_event_id": base + 1, "result": result},
        },
        {
            "event_id": base + 3,
            "event_time": now,
            "event_type": _EV_WORKFLOW_TASK_SCHEDULED,
            "attributes": {},
        },
        {
            "event_id": base + 4,
            "event_time": now,
            "event_type": _EV_WORKFLOW_TASK_STARTED,
            "attributes": {},
        },
    ]
    try:
        commands = inst.activate(events)
    except (NondeterminismError, WorkflowCodeError):
        # Let the workflow task fail the usual way, from the server's history.
        cache.evict(run_id)
        return None
    if inst._local:
        # The code now waits for local activities, which run within a workflow task: the server's.
        cache.evict(run_id)
        return None
    return {"base_event_id": base, "started_time": now, "commands": commands}
