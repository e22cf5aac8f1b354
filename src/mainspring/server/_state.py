"""An execution's mutable state: what is pending right now (the history says what happened).

The persisted form is the small JSON core in ``ExecutionRecord.state`` plus one ``PendingItem`` per
pending activity or timer (see ``ExecutionState``). Fields marked "memory only" describe a task handed
to a worker, or repeat what the history holds; they are not written when they change (a dispatch
costs no commit) and are reset on load, so after a server restart every started task is simply
handed out again. A payload is stored once, in the history: an activity's input is read from its
ActivityTaskScheduled event when a run loaded from the store hands it out, a workflow's result or
failure from its closing event.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from .._json import dumps_str
from ..api.enums import ActivityState
from ..storage import PendingItem

__all__ = [
    "ACTIVITY",
    "CHILD",
    "EXTERNAL",
    "INPUT_NOT_LOADED",
    "LIFETIME",
    "PARENT",
    "PENDING_KINDS",
    "REAPPLIED_UPDATE",
    "RESET",
    "SIGNAL_REQUEST",
    "TIMER",
    "UPDATE",
    "ActivityInfo",
    "ChildItem",
    "ExecutionState",
    "ExternalItem",
    "ParentLink",
    "PendingKind",
    "RequestedUpdate",
    "TimerInfo",
    "UnreadableStateError",
    "UpdateItem",
    "WorkflowTaskInfo",
]


class _NotLoaded:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INPUT_NOT_LOADED"


#: ``ActivityInfo.input`` of an activity loaded from the store: its input is in its Scheduled event.
INPUT_NOT_LOADED: Final[Any] = _NotLoaded()


class UnreadableStateError(ValueError):
    """A run's stored state is not what a server writes (a field missing, of the wrong type, not a
    finite number): the run is set aside rather than run on guesses (see ``EngineCore._state_of``)."""


def _show(value: Any) -> str:
    text = "null" if value is None else dumps_str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(d: dict[str, Any], key: str, what: str) -> float:
    v = d[key]
    if type(v) not in (int, float) or not math.isfinite(v):
        raise UnreadableStateError(f"{what} is {_show(v)}, not a finite number")
    return v  # type: ignore[no-any-return]


def _optional_number(d: dict[str, Any], key: str, what: str) -> float | None:
    return None if d.get(key) is None else _number(d, key, what)


def _integer(d: dict[str, Any], key: str, what: str) -> int:
    v = d[key]
    if type(v) is not int:
        raise UnreadableStateError(f"{what} is {_show(v)}, not an integer")
    return v


def _text(d: dict[str, Any], key: str, what: str) -> str:
    v = d[key]
    if type(v) is not str:
        raise UnreadableStateError(f"{what} is {_show(v)}, not a string")
    return v


def _object(v: Any, what: str, *, optional: bool = True) -> Any:
    if not (isinstance(v, dict) or (optional and v is None)):
        raise UnreadableStateError(f"{what} is {_show(v)}, not an object")
    return v


@dataclass(slots=True)
class WorkflowTaskInfo:
    """The one workflow task an execution can have at a time."""

    attempt: int
    scheduled_time: float
    #: Event id of WorkflowTaskScheduled; 0 while the task is transient (a retry whose Scheduled and
    #: Started events are only written when it completes, so a failing bug doesn't flood the history).
    scheduled_event_id: int = 0
    #: Not before this time (backoff between retries).
    ready_time: float = 0.0
    last_failure: dict[str, Any] | None = None
    # --- memory only ---
    started: bool = False
    started_time: float = 0.0
    #: The id reserved for WorkflowTaskStarted at dispatch.
    started_event_id: int = 0
    #: True once WorkflowTaskStarted (and Scheduled, if transient) have been written because another
    #: event had to be appended while the task was out.
    started_written: bool = False
    #: An event the workflow must see arrived while the task was out: schedule another task after.
    new_events: bool = False
    session_id: str | None = None
    identity: str = ""
    #: Scheduled only to carry updates: if it ends with no command (its updates all rejected), nothing of it
    #: is written, not even its Scheduled and Started events (a rejected update leaves no trace).
    speculative: bool = False
    #: The run's next event id when the speculative task was made: it may be dropped only if nothing was
    #: appended since (a signal that came meanwhile is in the task's history, and needs it).
    speculative_from: int = 0
    #: The updates handed out with it (their ids).
    update_ids: tuple[str, ...] = ()

    @property
    def transient(self) -> bool:
        return self.scheduled_event_id == 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"a": self.attempt, "st": self.scheduled_time, "se": self.scheduled_event_id}
        if self.ready_time:
            d["rt"] = self.ready_time
        if self.last_failure is not None:
            d["lf"] = self.last_failure
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorkflowTaskInfo:
        try:
            return cls._from_dict(d)
        except KeyError as e:
            raise UnreadableStateError(f"the workflow task has no field {e}") from None

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> WorkflowTaskInfo:
        return cls(
            attempt=_integer(d, "a", "the workflow task's attempt"),
            scheduled_time=_number(d, "st", "the workflow task's scheduled time"),
            scheduled_event_id=_integer(d, "se", "the workflow task's scheduled event id"),
            ready_time=_optional_number(d, "rt", "the workflow task's ready time") or 0.0,
            last_failure=_object(d.get("lf"), "the workflow task's last failure"),
        )


@dataclass(slots=True)
class ActivityInfo:
    """A scheduled activity, from ActivityTaskScheduled until it completes, fails or times out."""

    scheduled_event_id: int
    activity_id: str
    activity_type: str
    task_queue: str
    #: Memory only: the input as scheduled, or INPUT_NOT_LOADED (the history's copy is the stored one).
    input: Any
    #: Timeouts in seconds (None: not set).
    schedule_to_close: float | None
    start_to_close: float | None
    schedule_to_start: float | None
    heartbeat: float | None
    retry: dict[str, Any]
    scheduled_time: float
    attempt: int = 1
    #: When the current attempt became ready to hand out.
    attempt_scheduled_time: float = 0.0
    state: ActivityState = ActivityState.SCHEDULED
    next_attempt_time: float | None = None
    last_failure: dict[str, Any] | None = None
    heartbeat_details: Any = None
    last_heartbeat_time: float | None = None
    last_started_time: float | None = None
    last_identity: str | None = None
    #: Event id of ActivityTaskCancelRequested: the workflow cancelled it while it ran (0: not cancelled).
    cancel_requested_event_id: int = 0
    #: Its worker let go of the started attempt: it is completed from elsewhere (async completion).
    #: Stored as started, so a restart neither hands it out again nor forgets its timeouts.
    completing_async: bool = False
    #: The ScheduleActivity command's header (``api.headers``), handed out with each attempt; None: it had none.
    header: dict[str, Any] | None = None
    # --- memory only ---
    session_id: str | None = None

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_requested_event_id > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.activity_id,
            "type": self.activity_type,
            "tq": self.task_queue,
            "s2c": self.schedule_to_close,
            "st2c": self.start_to_close,
            "s2s": self.schedule_to_start,
            "hb": self.heartbeat,
            "retry": self.retry,
            "st": self.scheduled_time,
            "a": self.attempt,
            "ast": self.attempt_scheduled_time,
            # A started attempt is not persisted as started: after a restart it is handed out again
            # (unless it is completed from elsewhere: nobody would run it).
            "state": ActivityState.SCHEDULED
            if self.state is ActivityState.STARTED and not self.completing_async
            else self.state,
            "nat": self.next_attempt_time,
            "lf": self.last_failure,
            "hd": self.heartbeat_details,
            "lht": self.last_heartbeat_time,
            "lst": self.last_started_time,
            "lid": self.last_identity,
            **({"cr": self.cancel_requested_event_id} if self.cancel_requested_event_id else {}),
            **({"ac": True} if self.completing_async else {}),
            **({"hdr": self.header} if self.header is not None else {}),
        }

    @classmethod
    def from_dict(cls, sched_id: int, d: dict[str, Any]) -> ActivityInfo:
        try:
            return cls._from_dict(sched_id, d)
        except UnreadableStateError as e:  # the context, added only when something is wrong
            raise UnreadableStateError(f"activity {sched_id}'s {e}") from None
        except KeyError as e:
            raise UnreadableStateError(f"activity {sched_id} has no field {e}") from None

    @classmethod
    def _from_dict(cls, sched_id: int, d: dict[str, Any]) -> ActivityInfo:
        retry = _object(d["retry"], "retry policy", optional=False)
        for key in ("initial_interval", "backoff_coefficient", "maximum_interval", "maximum_attempts"):
            if retry.get(key) is not None:  # null: the default (see retry_interval)
                _number(retry, key, "retry policy's " + key)
        if not isinstance(retry.get("non_retryable_error_types") or [], list):
            raise UnreadableStateError("retry policy's non_retryable_error_types is not a list")
        lid = d["lid"]
        if lid is not None and type(lid) is not str:
            raise UnreadableStateError(f"last worker identity is {_show(lid)}, not a string")
        try:
            state = ActivityState(d["state"])
        except ValueError:
            raise UnreadableStateError(f"state is {_show(d['state'])}, not an activity state") from None
        return cls(
            scheduled_event_id=sched_id,
            activity_id=_text(d, "id", "id"),
            activity_type=_text(d, "type", "type"),
            task_queue=_text(d, "tq", "task queue"),
            input=d.get("in", INPUT_NOT_LOADED),
            schedule_to_close=_optional_number(d, "s2c", "schedule-to-close timeout"),
            start_to_close=_optional_number(d, "st2c", "start-to-close timeout"),
            schedule_to_start=_optional_number(d, "s2s", "schedule-to-start timeout"),
            heartbeat=_optional_number(d, "hb", "heartbeat timeout"),
            retry=retry,
            scheduled_time=_number(d, "st", "scheduled time"),
            attempt=_integer(d, "a", "attempt"),
            attempt_scheduled_time=_number(d, "ast", "attempt's scheduled time"),
            state=state,
            next_attempt_time=_optional_number(d, "nat", "next attempt time"),
            last_failure=_object(d["lf"], "last failure"),
            heartbeat_details=d["hd"],
            last_heartbeat_time=_optional_number(d, "lht", "last heartbeat time"),
            last_started_time=_optional_number(d, "lst", "last started time"),
            last_identity=lid,
            cancel_requested_event_id=_integer(d, "cr", "cancel request event id") if "cr" in d else 0,
            completing_async=d.get("ac") is True,
            header=_object(d["hdr"], "header") if "hdr" in d else None,
        )


@dataclass(slots=True)
class TimerInfo:
    timer_id: str
    started_event_id: int
    fire_time: float

    def to_item(self) -> list[Any]:
        return [self.started_event_id, self.fire_time]

    @classmethod
    def from_item(cls, k: str, v: Any) -> TimerInfo:
        if not isinstance(v, list) or len(v) != 2:
            raise UnreadableStateError(f"timer {k!r} is {_show(v)}, not [started event id, fire time]")
        started, fire = v
        if type(started) is not int:
            raise UnreadableStateError(f"the started event id of timer {k!r} is {_show(started)}, not an integer")
        if type(fire) not in (int, float) or not math.isfinite(fire):
            raise UnreadableStateError(f"the fire time of timer {k!r} is {_show(fire)}, not a finite number")
        return cls(k, started, fire)


#: The kinds of pending items (``PendingItem.kind``): one per thing a run can have many of at once.
ACTIVITY = "a"
TIMER = "t"
#: The request id of a signal recorded for the run (so that a retried signal is recorded once).
SIGNAL_REQUEST = "sr"
#: An update the run accepted: [accepted event id, completed event id (0 until it completes)].
UPDATE = "u"
#: An update a reset reapplied to the run, until the workflow accepts or rejects it: {"name", "input", "order"}.
REAPPLIED_UPDATE = "ru"
#: The run's lifetime (its timeouts' deadlines, its retry policy and attempt; see
#: ``features.workflow_timeouts``): one item, written when the run starts, only for a run started with them.
LIFETIME = "l"


@dataclass(frozen=True, slots=True)
class PendingKind:
    """One kind of pending item: where the state keeps its items, and how one is stored and read back.

    A feature that adds one (signals to deliver, child workflows, updates) adds its dict to
    ``ExecutionState``, a class for its items, and one ``PendingKind`` in ``PENDING_KINDS``: the state's
    changes, its write and its reading back know every kind from this table alone.
    """

    #: Its ``PendingItem.kind`` (one or two letters: it is in every stored row's key).
    code: str
    #: The item of a state stored under ``key``, or None if it is gone (its row is then deleted).
    find: Callable[[ExecutionState, str], Any]
    #: What is stored for an item (JSON data).
    value: Callable[[Any], Any]
    #: Read one stored item back into a state (``UnreadableStateError`` if a server did not write it).
    load: Callable[[ExecutionState, str, Any], None]
    #: Forget every item of a state (the run closed).
    clear: Callable[[ExecutionState], None]
    #: Called once all of a state's stored items are loaded (to order or index them), if given.
    loaded: Callable[[ExecutionState], None] | None = None


def _load_activity(st: ExecutionState, key: str, value: Any) -> None:
    try:
        sched_id = int(key)
    except ValueError:
        raise UnreadableStateError(f"activity {key!r} is not keyed by an event id") from None
    st.activities[sched_id] = ActivityInfo.from_dict(sched_id, _object(value, f"activity {sched_id}", optional=False))


def _activities_loaded(st: ExecutionState) -> None:
    # In the order they were scheduled in (stored rows come back in any order), with their id index.
    st.activities = dict(sorted(st.activities.items()))
    st.activity_ids = {act.activity_id: sched_id for sched_id, act in st.activities.items()}
    # Only an attempt completed from elsewhere is stored as started (see ActivityInfo.to_dict).
    st.started_activities = sum(1 for act in st.activities.values() if act.state is ActivityState.STARTED)


def _clear_activities(st: ExecutionState) -> None:
    st.activities.clear()
    st.activity_ids.clear()
    st.started_activities = 0


def _load_timer(st: ExecutionState, key: str, value: Any) -> None:
    st.timers[key] = TimerInfo.from_item(key, value)


def _find_activity(st: ExecutionState, key: str) -> ActivityInfo | None:
    return st.activities.get(int(key))


def _find_timer(st: ExecutionState, key: str) -> TimerInfo | None:
    return st.timers.get(key)


def _activity_value(act: ActivityInfo) -> Any:
    return act.to_dict()


def _timer_value(timer: TimerInfo) -> Any:
    return timer.to_item()


def _clear_timers(st: ExecutionState) -> None:
    st.timers.clear()


def _load_signal_request(st: ExecutionState, key: str, value: Any) -> None:
    if type(value) is not int:
        raise UnreadableStateError(f"signal request {key!r} is {_show(value)}, not an event id")
    st.signal_requests[key] = value


def _find_signal_request(st: ExecutionState, key: str) -> int | None:
    return st.signal_requests.get(key)


def _clear_signal_requests(st: ExecutionState) -> None:
    st.signal_requests.clear()


@dataclass(slots=True)
class UpdateItem:
    """An update the run accepted (its WorkflowExecutionUpdateAccepted event), and its completion, once any."""

    accepted_event_id: int
    completed_event_id: int = 0


@dataclass(slots=True)
class RequestedUpdate:
    """An update sent to the run and not yet accepted or rejected by the workflow. Memory only (a caller whose
    update a restart lost sends it again), except one a reset reapplied (``reapplied``): no caller is there to
    send that one again, so it is a pending item (``REAPPLIED_UPDATE``) until the workflow answers it."""

    name: str
    input: Any
    #: Reapplied by a reset: its place among those reapplied (1, 2, ...); 0 for an update a caller sent.
    reapplied: int = 0
    #: The header the caller sent with it (``api.headers``), handed to the worker with it; memory only, as the
    #: update is (a reapplied one has none).
    header: dict[str, Any] | None = None


def _find_reapplied_update(st: ExecutionState, key: str) -> RequestedUpdate | None:
    u = st.requested_updates.get(key)
    return u if u is not None and u.reapplied else None


def _load_reapplied_update(st: ExecutionState, key: str, value: Any) -> None:
    d = _object(value, f"reapplied update {key!r}", optional=False)
    st.requested_updates[key] = RequestedUpdate(
        _text(d, "name", f"reapplied update {key!r}'s name"),
        d.get("input"),
        _integer(d, "order", f"reapplied update {key!r}'s order"),
    )


def _reapplied_updates_loaded(st: ExecutionState) -> None:
    # Handed to the workflow in the order the base run accepted them (items come back in key order).
    st.requested_updates = dict(sorted(st.requested_updates.items(), key=lambda kv: kv[1].reapplied))


def _load_update(st: ExecutionState, key: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) != 2 or not all(type(v) is int for v in value):
        raise UnreadableStateError(f"update {key!r} is {_show(value)}, not [accepted event id, completed event id]")
    st.updates[key] = UpdateItem(value[0], value[1])


def _find_update(st: ExecutionState, key: str) -> UpdateItem | None:
    return st.updates.get(key)


def _clear_updates(st: ExecutionState) -> None:
    st.updates.clear()
    st.requested_updates.clear()


def _load_lifetime(st: ExecutionState, key: str, value: Any) -> None:
    st.lifetime = _object(value, "the run's lifetime", optional=False)


def _clear_lifetime(st: ExecutionState) -> None:
    st.lifetime = None


# --- child workflows and external workflows (``features.child_workflows``) -----------------------------

#: A child workflow the run started, keyed by its StartChildWorkflowExecutionInitiated event id. Kept after
#: the child closes, and after the run itself closes (see ``ChildWorkflows``), so describe can list them.
CHILD = "c"
#: The run's parent, if it is a child workflow (one item, key "parent").
PARENT = "p"
#: A signal or cancellation request the run sent another workflow, until its outcome is recorded.
EXTERNAL = "x"


@dataclass(slots=True)
class ChildItem:
    """A child workflow of the run, from its Initiated event on."""

    initiated_event_id: int
    workflow_id: str
    workflow_type: str
    task_queue: str
    parent_close_policy: str
    #: "INITIATED", "START_FAILED", "RUNNING", or the status the child closed with.
    status: str = "INITIATED"
    run_id: str | None = None

    @property
    def open(self) -> bool:
        """Started or being started: the parent close policy applies to it."""
        return self.status in ("INITIATED", "RUNNING")

    def to_item(self) -> dict[str, Any]:
        return {
            "id": self.workflow_id,
            "type": self.workflow_type,
            "tq": self.task_queue,
            "pcp": self.parent_close_policy,
            "s": self.status,
            "run": self.run_id,
        }


@dataclass(slots=True)
class ParentLink:
    """The run's parent: where the child's outcome is reported, and its close policy for the child."""

    namespace: str
    workflow_id: str
    run_id: str
    initiated_event_id: int
    parent_close_policy: str

    def to_item(self) -> list[Any]:
        return [self.namespace, self.workflow_id, self.run_id, self.initiated_event_id, self.parent_close_policy]


@dataclass(slots=True)
class ExternalItem:
    """A signal ("signal") or cancellation request ("cancel") the run sent another workflow, in flight."""

    initiated_event_id: int
    op: str
    workflow_id: str
    run_id: str | None

    def to_item(self) -> list[Any]:
        return [self.op, self.workflow_id, self.run_id]


def _load_child(st: ExecutionState, key: str, value: Any) -> None:
    try:
        initiated = int(key)
        v = _object(value, f"child workflow {key!r}", optional=False)
        run = v.get("run")
        if run is not None and type(run) is not str:
            raise UnreadableStateError(f"child workflow {key!r}'s run id is {_show(run)}, not a string")
        st.children[initiated] = ChildItem(
            initiated,
            _text(v, "id", f"child workflow {key!r}'s id"),
            _text(v, "type", f"child workflow {key!r}'s type"),
            _text(v, "tq", f"child workflow {key!r}'s task queue"),
            _text(v, "pcp", f"child workflow {key!r}'s parent close policy"),
            _text(v, "s", f"child workflow {key!r}'s status"),
            run,
        )
    except (ValueError, KeyError) as e:
        if isinstance(e, UnreadableStateError):
            raise
        raise UnreadableStateError(f"child workflow {key!r} is {_show(value)}, not what a server writes") from None


def _children_loaded(st: ExecutionState) -> None:
    st.children = dict(sorted(st.children.items()))


def _load_parent(st: ExecutionState, key: str, value: Any) -> None:
    if (
        not isinstance(value, list)
        or len(value) != 5
        or not all(type(v) is str for v in (*value[:3], value[4]))
        or type(value[3]) is not int
    ):
        raise UnreadableStateError(f"the parent link is {_show(value)}, not what a server writes")
    st.parent = ParentLink(value[0], value[1], value[2], value[3], value[4])


def _load_external(st: ExecutionState, key: str, value: Any) -> None:
    if (
        not key.isdigit()
        or not isinstance(value, list)
        or len(value) != 3
        or value[0] not in ("signal", "cancel")
        or type(value[1]) is not str
        or (value[2] is not None and type(value[2]) is not str)
    ):
        raise UnreadableStateError(f"external request {key!r} is {_show(value)}, not what a server writes")
    st.externals[int(key)] = ExternalItem(int(key), value[0], value[1], value[2])


def _keep(st: ExecutionState) -> None:
    """Children and the parent link outlive the run's close: describe shows them (the rows are written
    again after the close's delete, see ``ChildWorkflows``)."""


def _clear_externals(st: ExecutionState) -> None:
    st.externals.clear()


@dataclass(slots=True)
class ExecutionState:
    """Everything pending for one run.

    Stored in two parts, so that a transition writes what it changed and not everything pending (a
    workflow waiting on 10,000 activities would otherwise rewrite them all at each completion): the
    small core (``to_dict``: the workflow task, the cancellation request) with the run's row, and each
    pending activity or timer as an item of its own (``PendingItem``), written only when it changes.
    Changes go through the methods below, which note what to write (``take_changes``).
    """

    wt: WorkflowTaskInfo | None = None
    #: Read them here; change them only with add_/remove_/touch_activity (which keep the indexes).
    activities: dict[int, ActivityInfo] = field(default_factory=dict)
    timers: dict[str, TimerInfo] = field(default_factory=dict)
    #: The request id of each signal recorded -> its WorkflowExecutionSignaled event id.
    signal_requests: dict[str, int] = field(default_factory=dict)
    #: The updates the run accepted, by update id.
    updates: dict[str, UpdateItem] = field(default_factory=dict)
    #: The child workflows the run started, by Initiated event id; its parent, if it is a child; the
    #: signals and cancellation requests it sent other workflows, in flight (``features.child_workflows``).
    children: dict[int, ChildItem] = field(default_factory=dict)
    parent: ParentLink | None = None
    externals: dict[int, ExternalItem] = field(default_factory=dict)
    #: The run's reset links (``features.reset``): key "to", the run it was reset to ({"run_id", "event_id",
    #: "reason"}); kept after the run closes (it is written to closed runs).
    reset_links: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The cancellation requested of the run: {"event_id", "time", "reason", "identity"}; None if none was.
    cancel_request: dict[str, Any] | None = None
    #: The size of the run's history so far: the JSON of its events' attributes, in bytes (see _limits).
    history_bytes: int = 0
    #: The run's lifetime (``features.workflow_timeouts``), a pending item of its own; None for most runs.
    lifetime: dict[str, Any] | None = None
    #: The run's workflow task timeout in seconds, if its start set one (None: the server's; see
    #: features.run_options).
    task_timeout: float | None = None
    #: The run's build (``features.versioning``): {"b": the build that started it, "c": the build of its
    #: latest workflow task, "v": its versioning behavior}; None for a run no worker with a build has run.
    build: dict[str, str] | None = None
    #: The run's custom search attributes, stored form (``{"Name": ["Type", value]}``, see
    #: ``features.search_attributes``), an item of its own (kind "sa"; the store indexes it for list filters);
    #: None until set. Kept after the run closes.
    search_attributes: dict[str, list[Any]] | None = None
    #: The run's memo once workflow code changed it (``ctx.upsert_memo``): the whole memo; None: the start's.
    memo: dict[str, Any] | None = None
    # --- memory only ---
    #: The outcome of a closed run, while it is cached: (result, failure). None: read it from the closing
    #: event (the history holds the one stored copy; see ``EngineCore._outcome``).
    outcome: tuple[Any, dict[str, Any] | None] | None = None
    #: activity_id -> scheduled event id of each pending activity (ids are unique among pending ones).
    activity_ids: dict[str, int] = field(default_factory=dict)
    #: How many pending activities have an attempt handed out (``ActivityState.STARTED``).
    started_activities: int = 0
    #: (kind, key) of the items changed since the last commit: written, or deleted if gone.
    dirty: set[tuple[str, str]] = field(default_factory=set)
    #: Every item of the run is to be deleted (it closed); then ``dirty`` holds only what came after.
    cleared: bool = False
    #: Updates sent and not yet accepted or rejected, by update id, oldest first.
    requested_updates: dict[str, RequestedUpdate] = field(default_factory=dict)
    #: The worker session that ran the last workflow task and keeps the workflow cached.
    sticky_session: str | None = None
    #: The newest event that sticky worker has seen.
    sticky_event_id: int = 0

    # --- changes -------------------------------------------------------------------------------------

    def add_activity(self, act: ActivityInfo) -> None:
        self.activities[act.scheduled_event_id] = act
        self.activity_ids[act.activity_id] = act.scheduled_event_id
        if act.state is ActivityState.STARTED:
            self.started_activities += 1
        self.dirty.add((ACTIVITY, str(act.scheduled_event_id)))

    def remove_activity(self, sched_id: int) -> ActivityInfo | None:
        act = self.activities.pop(sched_id, None)
        if act is not None:
            if self.activity_ids.get(act.activity_id) == sched_id:
                del self.activity_ids[act.activity_id]
            if act.state is ActivityState.STARTED:
                self.started_activities -= 1
            self.dirty.add((ACTIVITY, str(sched_id)))
        return act

    def touch_activity(self, act: ActivityInfo) -> None:
        """``act`` changed in a way that must survive a restart: write it with the next commit."""
        self.dirty.add((ACTIVITY, str(act.scheduled_event_id)))

    def set_activity_state(self, act: ActivityInfo, state: ActivityState) -> None:
        """Change ``act.state`` (not written by itself: call ``touch_activity`` if it must be)."""
        if act.scheduled_event_id in self.activities:
            self.started_activities += (state is ActivityState.STARTED) - (act.state is ActivityState.STARTED)
        act.state = state

    def add_timer(self, timer: TimerInfo) -> None:
        self.timers[timer.timer_id] = timer
        self.dirty.add((TIMER, timer.timer_id))

    def remove_timer(self, timer_id: str) -> TimerInfo | None:
        timer = self.timers.pop(timer_id, None)
        if timer is not None:
            self.dirty.add((TIMER, timer_id))
        return timer

    def add_signal_request(self, request_id: str, event_id: int) -> None:
        self.signal_requests[request_id] = event_id
        self.dirty.add((SIGNAL_REQUEST, request_id))

    def drop_requested_update(self, update_id: str) -> RequestedUpdate | None:
        """The workflow accepted or rejected a requested update: forget it (and its item, if a reset reapplied it)."""
        u = self.requested_updates.pop(update_id, None)
        if u is not None and u.reapplied:
            self.dirty.add((REAPPLIED_UPDATE, update_id))
        return u

    def touch_update(self, update_id: str) -> None:
        """An update item was added or changed: write it with the next commit."""
        self.dirty.add((UPDATE, update_id))

    def clear_pending(self) -> None:
        """Drop every pending item (the run closed): one delete of all its items, however many."""
        for kind in PENDING_KINDS.values():
            kind.clear(self)
        self.dirty.clear()
        self.cleared = True

    def take_changes(self) -> tuple[list[PendingItem], list[tuple[str, str]], bool]:
        """What the next write must do to the stored items: (upserts, deletes, delete all first)."""
        upserts: list[PendingItem] = []
        deletes: list[tuple[str, str]] = []
        kinds = PENDING_KINDS
        for code, key in self.dirty:
            kind = kinds[code]
            item = kind.find(self, key)
            if item is None:
                deletes.append((code, key))
            else:
                upserts.append(PendingItem(code, key, kind.value(item)))
        cleared = self.cleared
        self.dirty = set()
        self.cleared = False
        return upserts, deletes, cleared

    # --- stored form ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The core, stored with the run's row: small whatever is pending."""
        d: dict[str, Any] = {}
        if self.wt is not None:
            d["wt"] = self.wt.to_dict()
        if self.cancel_request is not None:
            d["cr"] = self.cancel_request
        if self.history_bytes:
            d["hsize"] = self.history_bytes
        if self.task_timeout is not None:
            d["wtt"] = self.task_timeout
        if self.build is not None:
            d["bld"] = self.build
        return d

    @classmethod
    def from_stored(cls, d: dict[str, Any], items: Iterable[PendingItem] = ()) -> ExecutionState:
        """The state as stored (the core and the run's items); ``UnreadableStateError`` saying what is
        wrong if it is not what a server writes (a server that went on with such a state failed later,
        at start-up or in a timer)."""
        try:
            return cls._from_stored(d, items)
        except UnreadableStateError:
            raise
        except KeyError as e:
            raise UnreadableStateError(f"it has no field {e}") from None
        except (TypeError, ValueError, AttributeError, IndexError) as e:
            raise UnreadableStateError(f"it is not shaped as a server writes it ({type(e).__name__}: {e})") from None

    @classmethod
    def _from_stored(cls, d: dict[str, Any], items: Iterable[PendingItem]) -> ExecutionState:
        _object(d, "the state", optional=False)
        for old in ("act", "tmr"):
            if old in d:  # moved to items by migration 4; one left here was not a server's
                raise UnreadableStateError(f"it holds {old!r}, which this version keeps as items of their own")
        st = cls(
            wt=WorkflowTaskInfo.from_dict(_object(d["wt"], "the workflow task", optional=False)) if "wt" in d else None,
            cancel_request=_object(d.get("cr"), "the cancel request"),
            # Runs written before the count existed start from 0.
            history_bytes=_integer(d, "hsize", "the history size") if "hsize" in d else 0,
            task_timeout=_optional_number(d, "wtt", "the workflow task timeout"),
            build=_build(d.get("bld")),
        )
        kinds = PENDING_KINDS
        for item in items:
            kind = kinds.get(item.kind)
            if kind is None:
                raise UnreadableStateError(f"it has a pending item of unknown kind {item.kind!r}")
            kind.load(st, item.key, item.value)
        for kind in kinds.values():
            if kind.loaded is not None:
                kind.loaded(st)
        return st


def _build(value: Any) -> dict[str, str] | None:
    b = _object(value, "the run's build")
    if b is None:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in b.items()):
        raise UnreadableStateError("its build is not an object of strings")
    return {str(k): str(v) for k, v in b.items()}


# --- reset links (``features.reset``) ---------------------------------------------------------------------

#: A link of a run to the run it was reset to (key "to"): written to the run, closed or closing, with the reset.
RESET = "rs"


def _load_reset_link(st: ExecutionState, key: str, value: Any) -> None:
    link = _object(value, f"reset link {key!r}", optional=False)
    _text(link, "run_id", f"reset link {key!r}'s run id")
    st.reset_links[key] = link


# --- search attributes and memo (``features.search_attributes``) ----------------------------------------------

SEARCH_ATTRIBUTES = "sa"
MEMO = "mo"


def _load_search_attributes(st: ExecutionState, key: str, value: Any) -> None:
    sa = _object(value, "the search attributes", optional=False)
    for name, pair in sa.items():
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise UnreadableStateError(f"its search attribute {name!r} is not [type, value]")
    st.search_attributes = sa


def _load_memo(st: ExecutionState, key: str, value: Any) -> None:
    st.memo = _object(value, "the memo", optional=False)


#: Every kind of pending item, by its code.
PENDING_KINDS: dict[str, PendingKind] = {
    ACTIVITY: PendingKind(
        ACTIVITY, _find_activity, _activity_value, _load_activity, _clear_activities, _activities_loaded
    ),
    TIMER: PendingKind(TIMER, _find_timer, _timer_value, _load_timer, _clear_timers),
    SIGNAL_REQUEST: PendingKind(
        SIGNAL_REQUEST, _find_signal_request, lambda event_id: event_id, _load_signal_request, _clear_signal_requests
    ),
    UPDATE: PendingKind(
        UPDATE,
        _find_update,
        lambda item: [item.accepted_event_id, item.completed_event_id],
        _load_update,
        _clear_updates,
    ),
    REAPPLIED_UPDATE: PendingKind(
        REAPPLIED_UPDATE,
        _find_reapplied_update,
        lambda u: {"name": u.name, "input": u.input, "order": u.reapplied},
        _load_reapplied_update,
        _clear_updates,
        _reapplied_updates_loaded,
    ),
    LIFETIME: PendingKind(LIFETIME, lambda st, key: st.lifetime, lambda value: value, _load_lifetime, _clear_lifetime),
    CHILD: PendingKind(
        CHILD, lambda st, k: st.children.get(int(k)), ChildItem.to_item, _load_child, _keep, _children_loaded
    ),
    PARENT: PendingKind(PARENT, lambda st, k: st.parent, ParentLink.to_item, _load_parent, _keep),
    EXTERNAL: PendingKind(
        EXTERNAL, lambda st, k: st.externals.get(int(k)), ExternalItem.to_item, _load_external, _clear_externals
    ),
    RESET: PendingKind(RESET, lambda st, k: st.reset_links.get(k), lambda link: link, _load_reset_link, _keep),
    SEARCH_ATTRIBUTES: PendingKind(
        SEARCH_ATTRIBUTES, lambda st, k: st.search_attributes, lambda v: v, _load_search_attributes, _keep
    ),
    MEMO: PendingKind(MEMO, lambda st, k: st.memo, lambda v: v, _load_memo, _keep),
}
