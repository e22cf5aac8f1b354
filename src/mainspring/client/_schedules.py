"""Schedules, in Temporal's shapes (``temporalio.client``): ``client.create_schedule(id, Schedule(...))``,
``client.get_schedule_handle(id)`` and ``client.list_schedules()``.

The server fires them (``server.features.schedules``): each due time of the spec starts the action's workflow
once, as ``<action id>-<due time>`` (``report-2026-12-03T10:00:00Z``), across server restarts.

``Schedule``, ``ScheduleSpec``, ``SchedulePolicy``, ``ScheduleState`` and the action are plain (not frozen)
dataclasses, as Temporal's are: an update function changes ``input.description.schedule`` in place and returns
it in a ``ScheduleUpdate``, and code written that way for Temporal ports as it is. The small value types
(``ScheduleRange``, ``ScheduleIntervalSpec``, ``ScheduleCalendarSpec``) are frozen.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Required, TypedDict, TypeVar, Unpack, overload

from .._start_options import lifetime_body as _lifetime_body
from .._start_options import start_options_body as _start_options_body
from ..api.schedules import ScheduleOverlapPolicy
from ..common import TypedSearchAttributes as _SearchAttributes
from ..common import _to_wire
from ..converter import PayloadError as _PayloadError
from ..converter import encode as _encode
from ..errors import AlreadyStartedError as _AlreadyStartedError
from ..errors import InvalidArgumentError as _InvalidArgumentError
from ..options import RetryPolicy as _RetryPolicy
from ..workflow import get_definition as _get_definition

if TYPE_CHECKING:
    from ..workflow import Context
    from ..workflow._definition import WorkflowFunction
    from ..workflow._handlers import RunMethod

__all__ = [
    "Schedule",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleAlreadyRunningError",
    "ScheduleAsyncIterator",
    "ScheduleBackfill",
    "ScheduleCalendarSpec",
    "ScheduleClient",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListActionStartWorkflow",
    "ScheduleListDescription",
    "ScheduleListInfo",
    "ScheduleListSchedule",
    "ScheduleListState",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
]

A = TypeVar("A")
R = TypeVar("R")
S = TypeVar("S")


class ScheduleAlreadyRunningError(_AlreadyStartedError):
    """``create_schedule`` with an id the namespace has a schedule of already (HTTP 409)."""


# --- the schedule -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRange:
    """``start`` to ``end`` inclusive (0: just ``start``), every ``step`` (0: 1)."""

    start: int
    end: int = 0
    step: int = 0


@dataclass(frozen=True)
class ScheduleIntervalSpec:
    """Every ``every`` since the Unix epoch, shifted by ``offset``: ``every=timedelta(hours=1),
    offset=timedelta(minutes=5)`` is five past each hour (in UTC: intervals know no time zone)."""

    #: At least a second.
    every: timedelta
    #: Less than ``every``.
    offset: timedelta | None = None


@dataclass(frozen=True)
class ScheduleCalendarSpec:
    """Calendar times, in the spec's time zone: every combination of the fields' ranges (the defaults are
    midnight, every day). ``day_of_week`` 0 is Sunday; an empty ``year`` is every year."""

    second: Sequence[ScheduleRange] = (ScheduleRange(0),)
    minute: Sequence[ScheduleRange] = (ScheduleRange(0),)
    hour: Sequence[ScheduleRange] = (ScheduleRange(0),)
    day_of_month: Sequence[ScheduleRange] = (ScheduleRange(1, 31),)
    month: Sequence[ScheduleRange] = (ScheduleRange(1, 12),)
    year: Sequence[ScheduleRange] = ()
    day_of_week: Sequence[ScheduleRange] = (ScheduleRange(0, 6),)
    #: Shown back by describe.
    comment: str | None = None


@dataclass
class ScheduleSpec:
    """When the action is due: the union of the intervals, cron expressions and calendars, from ``start_at`` to
    ``end_at``. A spec that never fires, invalid cron text and an unknown time zone are refused at create."""

    calendars: Sequence[ScheduleCalendarSpec] = ()
    intervals: Sequence[ScheduleIntervalSpec] = ()
    #: Cron text (5 fields, or 6 with seconds last; ``@hourly``...), read by croniter in ``time_zone_name``.
    cron_expressions: Sequence[str] = ()
    #: Calendar times on which nothing is due even if the rest of the spec says so (holidays, weekends).
    skip: Sequence[ScheduleCalendarSpec] = ()
    start_at: datetime | None = None
    end_at: datetime | None = None
    #: Each action starts up to this long after its due time (the same delay for a time on every server).
    jitter: timedelta | None = None
    #: An IANA time zone for the cron expressions and calendars (default UTC); DST changes follow it.
    time_zone_name: str | None = None


@dataclass
class SchedulePolicy:
    """What to do when runs overlap or were missed."""

    #: When an action is due while the schedule's previous run still runs.
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    #: How late an action may still start after the server was down; older ones are skipped (and counted).
    catchup_window: timedelta = timedelta(days=365)
    #: Pause the schedule when one of its runs fails or times out.
    pause_on_failure: bool = False


@dataclass
class ScheduleState:
    """Whether the schedule runs now."""

    #: Why it is as it is (set by pause and unpause too).
    note: str | None = None
    paused: bool = False
    #: Stop after ``remaining_actions`` more actions.
    limited_actions: bool = False
    remaining_actions: int = 0


class _ActionOptions(TypedDict, total=False):
    id: Required[str]
    task_queue: Required[str]
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    retry_policy: _RetryPolicy | None
    memo: Mapping[str, Any] | None
    search_attributes: _SearchAttributes | Mapping[str, Any] | None
    #: Temporal's name for the typed form (``TypedSearchAttributes``); give one of the two.
    typed_search_attributes: _SearchAttributes | None


class ScheduleActionStartWorkflow(Generic[R]):
    """The action: start a workflow, typed like ``start_workflow`` (the workflow function or ``run`` method and
    a matching input, or a type name and any JSON input). Each run's workflow id is ``id`` followed by ``-`` and
    its due time in RFC 3339 (``id-2026-12-03T10:00:00Z``)."""

    @overload
    def __init__(
        self: ScheduleActionStartWorkflow[R], workflow: RunMethod[S, [], R], /, **options: Unpack[_ActionOptions]
    ) -> None: ...

    @overload
    def __init__(
        self: ScheduleActionStartWorkflow[R],
        workflow: RunMethod[S, [A], R],
        arg: A,
        /,
        **options: Unpack[_ActionOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: ScheduleActionStartWorkflow[R],
        workflow: WorkflowFunction[[Context], Awaitable[R]],
        /,
        **options: Unpack[_ActionOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: ScheduleActionStartWorkflow[R],
        workflow: WorkflowFunction[[Context, A], Awaitable[R]],
        arg: A,
        /,
        **options: Unpack[_ActionOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: ScheduleActionStartWorkflow[Any], workflow: str, arg: Any = ..., /, **options: Unpack[_ActionOptions]
    ) -> None: ...

    def __init__(
        self,
        workflow: Any,
        arg: Any = None,
        /,
        **options: Unpack[_ActionOptions],
    ) -> None:
        if isinstance(workflow, str):
            #: The workflow type's name.
            self.workflow: str = workflow
            self._takes_input = True
        else:
            d = _get_definition(workflow)
            self.workflow, self._takes_input = d.name, d.takes_input
        #: The input (as described: plain JSON).
        self.arg = arg
        unknown = set(options) - set(_ActionOptions.__annotations__)
        if unknown:
            raise TypeError(f"ScheduleActionStartWorkflow() got unknown options: {', '.join(sorted(unknown))}")
        #: The base of each run's workflow id.
        self.id: str = options["id"]
        #: The task queue its workers poll.
        self.task_queue: str = options["task_queue"]
        self.execution_timeout = options.get("execution_timeout")
        self.run_timeout = options.get("run_timeout")
        self.task_timeout = options.get("task_timeout")
        self.retry_policy = options.get("retry_policy")
        self.memo = options.get("memo")
        if options.get("search_attributes") is not None and options.get("typed_search_attributes") is not None:
            raise TypeError(
                "ScheduleActionStartWorkflow() takes search_attributes or typed_search_attributes, not both"
            )
        #: The search attributes of each run it starts (typed, or a mapping of name to value), checked against
        #: the namespace's registry when the schedule is saved. Each run also has the built-ins
        #: ``TemporalScheduledById`` and ``TemporalScheduledStartTime``.
        self.search_attributes: _SearchAttributes | Mapping[str, Any] | None = options.get(
            "search_attributes"
        ) or options.get("typed_search_attributes")

    def __repr__(self) -> str:
        return (
            f"ScheduleActionStartWorkflow({self.workflow!r}, {self.arg!r}, id={self.id!r}, "
            f"task_queue={self.task_queue!r})"
        )

    def _to_json(self) -> dict[str, Any]:
        try:
            payload = _encode(self.arg) if self._takes_input else None
        except _PayloadError as e:
            raise _InvalidArgumentError(f"the input of workflow {self.workflow!r} cannot be sent: {e}") from None
        options = {
            "execution_timeout": self.execution_timeout,
            "run_timeout": self.run_timeout,
            "task_timeout": self.task_timeout,
            "retry_policy": self.retry_policy,
            "memo": self.memo,
        }
        return {
            "workflow_id": self.id,
            "workflow_type": self.workflow,
            "task_queue": self.task_queue,
            "input": payload,
            **_start_options_body(options),
            **_lifetime_body(options),
            **({} if self.search_attributes is None else {"search_attributes": _to_wire(self.search_attributes)}),
        }

    @staticmethod
    def _from_json(d: Mapping[str, Any]) -> ScheduleActionStartWorkflow[Any]:
        def seconds(name: str) -> timedelta | None:
            value = d.get(name)
            return None if value is None else timedelta(seconds=value)

        policy = d.get("retry_policy")
        return ScheduleActionStartWorkflow(
            d["workflow_type"],
            d.get("input"),
            id=d["workflow_id"],
            task_queue=d["task_queue"],
            execution_timeout=seconds("execution_timeout"),
            run_timeout=seconds("run_timeout"),
            task_timeout=seconds("task_timeout"),
            retry_policy=_retry_policy(policy) if policy else None,
            memo=d.get("memo"),
            search_attributes=d.get("search_attributes"),
        )


def _retry_policy(d: Mapping[str, Any]) -> _RetryPolicy:
    maximum = d.get("maximum_interval")
    return _RetryPolicy(
        initial_interval=timedelta(seconds=d["initial_interval"]),
        backoff_coefficient=d["backoff_coefficient"],
        maximum_interval=timedelta(seconds=maximum) if maximum is not None else None,
        maximum_attempts=d.get("maximum_attempts", 0),
        non_retryable_error_types=tuple(d.get("non_retryable_error_types", ())),
    )


@dataclass
class Schedule:
    """A schedule: what it starts, when, and how."""

    action: ScheduleActionStartWorkflow[Any]
    spec: ScheduleSpec
    policy: SchedulePolicy = field(default_factory=SchedulePolicy)
    state: ScheduleState = field(default_factory=ScheduleState)


# --- what describe says -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleActionExecutionStartWorkflow:
    """A run the schedule started."""

    workflow_id: str
    first_execution_run_id: str


@dataclass(frozen=True)
class ScheduleActionResult:
    """One action: when it was due, when it started, and its run."""

    scheduled_at: datetime
    started_at: datetime
    action: ScheduleActionExecutionStartWorkflow


@dataclass(frozen=True)
class ScheduleInfo:
    """What the schedule has done."""

    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running_actions: Sequence[ScheduleActionExecutionStartWorkflow]
    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]
    created_at: datetime
    last_updated_at: datetime | None
    #: Due times waiting for the running run to close (BUFFER_ONE, BUFFER_ALL, CANCEL_OTHER).
    buffered_actions: int = 0


@dataclass(frozen=True)
class ScheduleDescription:
    """``ScheduleHandle.describe()``: the schedule and what it has done."""

    id: str
    schedule: Schedule
    info: ScheduleInfo
    #: The server's answer as it came.
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class ScheduleUpdateInput:
    """What an update function is given: the schedule as described."""

    description: ScheduleDescription


@dataclass(frozen=True)
class ScheduleUpdate:
    """What an update function returns: the schedule to put in place."""

    schedule: Schedule


@dataclass(frozen=True)
class ScheduleBackfill:
    """Run the due times from ``start_at`` to ``end_at`` now, whatever the catch-up window."""

    start_at: datetime
    end_at: datetime
    #: Default: the schedule's policy.
    overlap: ScheduleOverlapPolicy | None = None


@dataclass(frozen=True)
class ScheduleListActionStartWorkflow:
    """A listed schedule's action: the workflow type it starts."""

    workflow: str


@dataclass(frozen=True)
class ScheduleListState:
    """A listed schedule's state."""

    note: str | None
    paused: bool


@dataclass(frozen=True)
class ScheduleListSchedule:
    """A listed schedule."""

    action: ScheduleListActionStartWorkflow
    spec: ScheduleSpec
    state: ScheduleListState


@dataclass(frozen=True)
class ScheduleListInfo:
    """What a listed schedule has done lately, and will do."""

    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]


@dataclass(frozen=True)
class ScheduleListDescription:
    """One entry of ``list_schedules()``."""

    id: str
    schedule: ScheduleListSchedule
    info: ScheduleListInfo
    raw: Mapping[str, Any]


# --- to and from the wire ---------------------------------------------------------------------------------


def _unix(t: datetime | None) -> float | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise ValueError(f"give times with a time zone (datetime(..., tzinfo=UTC)), got {t!r}")
    return t.timestamp()


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _ranges(rs: Sequence[ScheduleRange]) -> list[dict[str, int]]:
    return [{"start": r.start, "end": r.end, "step": r.step} for r in rs]


def _calendar_json(c: ScheduleCalendarSpec) -> dict[str, Any]:
    return {
        "second": _ranges(c.second),
        "minute": _ranges(c.minute),
        "hour": _ranges(c.hour),
        "day_of_month": _ranges(c.day_of_month),
        "month": _ranges(c.month),
        "year": _ranges(c.year),
        "day_of_week": _ranges(c.day_of_week),
        "comment": c.comment,
    }


def _spec_json(spec: ScheduleSpec) -> dict[str, Any]:
    if isinstance(spec.cron_expressions, str):
        raise TypeError("cron_expressions is a list of cron texts: cron_expressions=[...]")
    return {
        "intervals": [
            {"every": i.every.total_seconds(), "offset": i.offset.total_seconds() if i.offset else 0.0}
            for i in spec.intervals
        ],
        "cron_expressions": list(spec.cron_expressions),
        "calendars": [_calendar_json(c) for c in spec.calendars],
        "skip": [_calendar_json(c) for c in spec.skip],
        "time_zone_name": spec.time_zone_name,
        "start_at": _unix(spec.start_at),
        "end_at": _unix(spec.end_at),
        "jitter": spec.jitter.total_seconds() if spec.jitter is not None else None,
    }


def _schedule_json(s: Schedule) -> dict[str, Any]:
    return {
        "action": s.action._to_json(),
        "spec": _spec_json(s.spec),
        "policy": {
            "overlap": ScheduleOverlapPolicy(s.policy.overlap).value,
            "catchup_window": s.policy.catchup_window.total_seconds(),
            "pause_on_failure": s.policy.pause_on_failure,
        },
        "state": {
            "note": s.state.note,
            "paused": s.state.paused,
            "limited_actions": s.state.limited_actions,
            "remaining_actions": s.state.remaining_actions,
        },
    }


def _range_objs(rs: Sequence[Mapping[str, int]]) -> tuple[ScheduleRange, ...]:
    return tuple(ScheduleRange(r["start"], r.get("end", 0), r.get("step", 0)) for r in rs)


def _calendar_from(c: Mapping[str, Any]) -> ScheduleCalendarSpec:
    return ScheduleCalendarSpec(
        second=_range_objs(c["second"]),
        minute=_range_objs(c["minute"]),
        hour=_range_objs(c["hour"]),
        day_of_month=_range_objs(c["day_of_month"]),
        month=_range_objs(c["month"]),
        year=_range_objs(c["year"]),
        day_of_week=_range_objs(c["day_of_week"]),
        comment=c.get("comment"),
    )


def _spec_from(d: Mapping[str, Any]) -> ScheduleSpec:
    return ScheduleSpec(
        calendars=[_calendar_from(c) for c in d.get("calendars", ())],
        skip=[_calendar_from(c) for c in d.get("skip", ())],
        intervals=[
            ScheduleIntervalSpec(timedelta(seconds=i["every"]), timedelta(seconds=i["offset"]) if i["offset"] else None)
            for i in d.get("intervals", ())
        ],
        cron_expressions=list(d.get("cron_expressions", ())),
        start_at=_time(d["start_at"]) if d.get("start_at") is not None else None,
        end_at=_time(d["end_at"]) if d.get("end_at") is not None else None,
        jitter=timedelta(seconds=d["jitter"]) if d.get("jitter") is not None else None,
        time_zone_name=d.get("time_zone_name"),
    )


def _schedule_from(d: Mapping[str, Any]) -> Schedule:
    p, st = d["policy"], d["state"]
    return Schedule(
        action=ScheduleActionStartWorkflow._from_json(d["action"]),
        spec=_spec_from(d["spec"]),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy(p["overlap"]),
            catchup_window=timedelta(seconds=p["catchup_window"]),
            pause_on_failure=p["pause_on_failure"],
        ),
        state=ScheduleState(
            note=st.get("note"),
            paused=st["paused"],
            limited_actions=st["limited_actions"],
            remaining_actions=st["remaining_actions"],
        ),
    )


def _recent(d: Mapping[str, Any]) -> list[ScheduleActionResult]:
    return [
        ScheduleActionResult(
            _time(a["scheduled_at"]),
            _time(a["started_at"]),
            ScheduleActionExecutionStartWorkflow(a["workflow_id"], a["run_id"]),
        )
        for a in d["recent_actions"]
    ]


def _description(d: Mapping[str, Any]) -> ScheduleDescription:
    i = d["info"]
    info = ScheduleInfo(
        num_actions=i["num_actions"],
        num_actions_missed_catchup_window=i["num_actions_missed_catchup_window"],
        num_actions_skipped_overlap=i["num_actions_skipped_overlap"],
        running_actions=[
            ScheduleActionExecutionStartWorkflow(r["workflow_id"], r["run_id"]) for r in i["running_actions"]
        ],
        recent_actions=_recent(i),
        next_action_times=[_time(t) for t in i["next_action_times"]],
        created_at=_time(i["created_at"]),
        last_updated_at=_time(i["last_updated_at"]) if i.get("last_updated_at") is not None else None,
        buffered_actions=i.get("buffered_actions", 0),
    )
    return ScheduleDescription(d["schedule_id"], _schedule_from(d["schedule"]), info, d)


def _list_entry(d: Mapping[str, Any]) -> ScheduleListDescription:
    s = d["schedule"]
    return ScheduleListDescription(
        id=d["schedule_id"],
        schedule=ScheduleListSchedule(
            action=ScheduleListActionStartWorkflow(s["action"]["workflow_type"]),
            spec=_spec_from(s["spec"]),
            state=ScheduleListState(s["state"].get("note"), s["state"]["paused"]),
        ),
        info=ScheduleListInfo(_recent(d["info"]), [_time(t) for t in d["info"]["next_action_times"]]),
        raw=d,
    )


# --- the handle and the client's methods ------------------------------------------------------------------

Call = Callable[..., Awaitable[Any]]


class ScheduleHandle:
    """A schedule by its id (``client.get_schedule_handle(id)``); nothing is asked of the server until a call."""

    def __init__(self, call: Call, id: str) -> None:
        self._call = call
        #: The schedule's id.
        self.id = id

    async def describe(self) -> ScheduleDescription:
        """The schedule and what it has done (``NotFoundError`` if there is no such schedule)."""
        data = await self._call("GET", "/schedules/describe", params={"schedule_id": self.id})
        return _description(data)

    async def update(
        self, updater: Callable[[ScheduleUpdateInput], ScheduleUpdate | Awaitable[ScheduleUpdate | None] | None]
    ) -> None:
        """Describe the schedule, give the description to ``updater`` (plain or async) and put in place the
        schedule it returns (None: leave it as it is). Refused (``AlreadyStartedError``, code schedule_conflict)
        if the schedule changed between the describe and the update."""
        data = await self._call("GET", "/schedules/describe", params={"schedule_id": self.id})
        out = updater(ScheduleUpdateInput(_description(data)))
        if inspect.isawaitable(out):
            out = await out
        if out is None:
            return
        body = {
            "schedule_id": self.id,
            "schedule": _schedule_json(out.schedule),
            "conflict_token": data["conflict_token"],
        }
        await self._call("POST", "/schedules/update", body=body)

    async def pause(self, *, note: str | None = None) -> None:
        """Pause: no action starts until unpaused (the times that pass meanwhile are not caught up)."""
        await self._patch(pause=note or "Paused via Python SDK")

    async def unpause(self, *, note: str | None = None) -> None:
        """Unpause: actions start again from the next due time."""
        await self._patch(unpause=note or "Unpaused via Python SDK")

    async def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None) -> None:
        """Start the action now (its due time is now, to the second), under ``overlap`` (default the policy's)."""
        await self._patch(trigger=True, trigger_overlap=overlap.value if overlap else None)

    async def backfill(self, *backfill: ScheduleBackfill) -> None:
        """Run the due times of each span now (whatever the catch-up window)."""
        if not backfill:
            raise ValueError("give at least one ScheduleBackfill")
        spans = [
            {
                "start_at": _unix(b.start_at),
                "end_at": _unix(b.end_at),
                "overlap": b.overlap.value if b.overlap else None,
            }
            for b in backfill
        ]
        await self._patch(backfill=spans)

    async def delete(self) -> None:
        """Delete the schedule; the runs it started are left as they are."""
        await self._call("POST", "/schedules/delete", body={"schedule_id": self.id})

    async def _patch(self, **fields: Any) -> None:
        await self._call("POST", "/schedules/patch", body={"schedule_id": self.id, **fields})


class ScheduleAsyncIterator:
    """``async for entry in client.list_schedules()``: each schedule of the namespace, by id, read a page at a
    time (``page_size``) as the loop goes."""

    def __init__(self, call: Call, page_size: int = 1000) -> None:
        if not 1 <= page_size <= 1000:
            raise ValueError(f"page_size must be between 1 and 1000, not {page_size}")
        self._call = call
        self._page_size = page_size
        self._entries: list[ScheduleListDescription] = []
        self._at = 0
        self._token: str | None = None
        self._done = False

    def __aiter__(self) -> ScheduleAsyncIterator:
        return self

    async def __anext__(self) -> ScheduleListDescription:
        while self._at >= len(self._entries):
            if self._done:
                raise StopAsyncIteration
            params: dict[str, Any] = {"page_size": self._page_size}
            if self._token is not None:
                params["page_token"] = self._token
            data = await self._call("GET", "/schedules", params=params)
            self._entries = [_list_entry(d) for d in data["schedules"]]
            self._at = 0
            self._token = data.get("next_page_token")
            self._done = self._token is None
        self._at += 1
        return self._entries[self._at - 1]


class ScheduleClient:
    """The schedule methods of ``Client`` (its base class)."""

    if TYPE_CHECKING:

        async def _call(self, method: str, suffix: str, **kwargs: Any) -> Any: ...

    async def create_schedule(
        self, id: str, schedule: Schedule, *, trigger_immediately: bool = False
    ) -> ScheduleHandle:
        """Create the schedule ``id``; ``ScheduleAlreadyRunningError`` if the namespace has one of that id,
        ``InvalidArgumentError`` naming the problem for a spec that is refused (invalid cron text, an unknown time
        zone, a spec that never fires). ``trigger_immediately`` also starts its action now."""
        try:
            await self._call("POST", "/schedules", body={"schedule_id": id, "schedule": _schedule_json(schedule)})
        except _AlreadyStartedError as e:
            if e.code != "schedule_already_running":
                raise
            raise ScheduleAlreadyRunningError(e.message, status=e.status, code=e.code, details=e.details) from None
        handle = self.get_schedule_handle(id)
        if trigger_immediately:
            await handle.trigger()
        return handle

    def get_schedule_handle(self, id: str) -> ScheduleHandle:
        """A handle to the schedule ``id``."""
        return ScheduleHandle(self._call, id)

    def list_schedules(self, *, page_size: int = 1000) -> ScheduleAsyncIterator:
        """Every schedule of the namespace: ``async for s in client.list_schedules()``, fetched ``page_size`` at a
        time."""
        return ScheduleAsyncIterator(self._call, page_size)
