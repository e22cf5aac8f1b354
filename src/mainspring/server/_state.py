"""An execution's mutable state: what is pending right now (the history says what happened).

The persisted form is the JSON in ``ExecutionRecord.state``. Fields marked "memory only" describe a
task handed to a worker; they are not written when they change (a dispatch costs no commit) and are
reset on load, so after a server restart every started task is simply handed out again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..api.enums import ActivityState

__all__ = ["ActivityInfo", "ExecutionState", "TimerInfo", "WorkflowTaskInfo"]


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
        return cls(
            attempt=d["a"],
            scheduled_time=d["st"],
            scheduled_event_id=d["se"],
            ready_time=d.get("rt", 0.0),
            last_failure=d.get("lf"),
        )


@dataclass(slots=True)
class ActivityInfo:
    """A scheduled activity, from ActivityTaskScheduled until it completes, fails or times out."""

    scheduled_event_id: int
    activity_id: str
    activity_type: str
    task_queue: str
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
            "in": self.input,
            "s2c": self.schedule_to_close,
            "st2c": self.start_to_close,
            "s2s": self.schedule_to_start,
            "hb": self.heartbeat,
            "retry": self.retry,
            "st": self.scheduled_time,
            "a": self.attempt,
            "ast": self.attempt_scheduled_time,
            # A started attempt is not persisted as started: after a restart it is handed out again.
            "state": ActivityState.SCHEDULED if self.state is ActivityState.STARTED else self.state,
            "nat": self.next_attempt_time,
            "lf": self.last_failure,
            "hd": self.heartbeat_details,
            "lht": self.last_heartbeat_time,
            "lst": self.last_started_time,
            "lid": self.last_identity,
            **({"cr": self.cancel_requested_event_id} if self.cancel_requested_event_id else {}),
        }

    @classmethod
    def from_dict(cls, sched_id: int, d: dict[str, Any]) -> ActivityInfo:
        return cls(
            scheduled_event_id=sched_id,
            activity_id=d["id"],
            activity_type=d["type"],
            task_queue=d["tq"],
            input=d["in"],
            schedule_to_close=d["s2c"],
            start_to_close=d["st2c"],
            schedule_to_start=d["s2s"],
            heartbeat=d["hb"],
            retry=d["retry"],
            scheduled_time=d["st"],
            attempt=d["a"],
            attempt_scheduled_time=d["ast"],
            state=ActivityState(d["state"]),
            next_attempt_time=d["nat"],
            last_failure=d["lf"],
            heartbeat_details=d["hd"],
            last_heartbeat_time=d["lht"],
            last_started_time=d["lst"],
            last_identity=d["lid"],
            cancel_requested_event_id=d.get("cr", 0),
        )


@dataclass(slots=True)
class TimerInfo:
    timer_id: str
    started_event_id: int
    fire_time: float


@dataclass(slots=True)
class ExecutionState:
    """Everything pending for one run."""

    wt: WorkflowTaskInfo | None = None
    activities: dict[int, ActivityInfo] = field(default_factory=dict)
    timers: dict[str, TimerInfo] = field(default_factory=dict)
    result: Any = None
    failure: dict[str, Any] | None = None
    #: The cancellation requested of the run: {"event_id", "time", "reason", "identity"}; None if none was.
    cancel_request: dict[str, Any] | None = None
    # --- memory only ---
    #: The worker session that ran the last workflow task and keeps the workflow cached.
    sticky_session: str | None = None
    #: The newest event that sticky worker has seen.
    sticky_event_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.wt is not None:
            d["wt"] = self.wt.to_dict()
        if self.activities:
            d["act"] = {str(k): a.to_dict() for k, a in self.activities.items()}
        if self.timers:
            d["tmr"] = {k: [t.started_event_id, t.fire_time] for k, t in self.timers.items()}
        if self.result is not None:
            d["res"] = self.result
        if self.failure is not None:
            d["fail"] = self.failure
        if self.cancel_request is not None:
            d["cr"] = self.cancel_request
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExecutionState:
        return cls(
            wt=WorkflowTaskInfo.from_dict(d["wt"]) if "wt" in d else None,
            activities={int(k): ActivityInfo.from_dict(int(k), v) for k, v in d.get("act", {}).items()},
            timers={k: TimerInfo(k, v[0], v[1]) for k, v in d.get("tmr", {}).items()},
            result=d.get("res"),
            failure=d.get("fail"),
            cancel_request=d.get("cr"),
        )
