"""The request and answer models of schedules (``server.features.schedules``): Temporal's shapes, with durations
in seconds and instants in Unix seconds on the wire (the client turns them into ``timedelta`` and ``datetime``).

A schedule is what starts (``ScheduleAction``), when (``ScheduleSpec``), what to do when runs overlap or were
missed (``SchedulePolicy``), and whether it runs now (``ScheduleState``). What it has done (``ScheduleInfo``) is
the server's, answered by describe and never sent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from .fields import PositiveSeconds, Seconds, ShortText, TaskQueue, Text, Token, UnixTime, WorkflowId, WorkflowType
from .models import ExecutionTimeoutField, RunTimeoutField, SearchAttributesField, WorkflowRetryPolicyField, _Model
from .start_options import MemoField, TaskTimeoutField

__all__ = [
    "DEFAULT_CATCHUP_WINDOW",
    "BackfillModel",
    "CreateScheduleRequest",
    "DeleteScheduleRequest",
    "ListSchedulesResponse",
    "PatchScheduleRequest",
    "ScheduleActionModel",
    "ScheduleActionResultModel",
    "ScheduleCalendarModel",
    "ScheduleDescriptionModel",
    "ScheduleInfoModel",
    "ScheduleIntervalModel",
    "ScheduleModel",
    "ScheduleOverlapPolicy",
    "SchedulePolicyModel",
    "ScheduleRangeModel",
    "ScheduleRunModel",
    "ScheduleSpecModel",
    "ScheduleStateModel",
    "UpdateScheduleRequest",
]

#: Temporal's default catch-up window: a year.
DEFAULT_CATCHUP_WINDOW = 365 * 24 * 3600.0


class ScheduleOverlapPolicy(StrEnum):
    """What a schedule does when an action is due while its previous run is still running (Temporal's names)."""

    #: Do not start it (counted in ``num_actions_skipped_overlap``).
    SKIP = "SKIP"
    #: Start it once the running one closes; at most one waits (a later one replaces nothing, it is skipped).
    BUFFER_ONE = "BUFFER_ONE"
    #: Start each, one after another, as the one before closes.
    BUFFER_ALL = "BUFFER_ALL"
    #: Ask the running one to cancel, and start this one once it has closed.
    CANCEL_OTHER = "CANCEL_OTHER"
    #: Terminate the running one and start this one at once.
    TERMINATE_OTHER = "TERMINATE_OTHER"
    #: Start it at once, whatever runs.
    ALLOW_ALL = "ALLOW_ALL"


class ScheduleRangeModel(_Model):
    """``start`` to ``end`` (inclusive; 0: just ``start``) every ``step`` (0: 1)."""

    start: int = Field(ge=0, le=9999)
    end: int = Field(default=0, ge=0, le=9999)
    step: int = Field(default=0, ge=0, le=9999)


def _ranges(start: int, end: int = 0) -> list[ScheduleRangeModel]:
    return [ScheduleRangeModel(start=start, end=end)]


class ScheduleCalendarModel(_Model):
    """Calendar times: every combination of the fields' values, in the spec's time zone (Temporal's
    ScheduleCalendarSpec; ``day_of_week`` 0 is Sunday; an empty ``year`` is every year)."""

    second: list[ScheduleRangeModel] = Field(default_factory=lambda: _ranges(0), max_length=60)
    minute: list[ScheduleRangeModel] = Field(default_factory=lambda: _ranges(0), max_length=60)
    hour: list[ScheduleRangeModel] = Field(default_factory=lambda: _ranges(0), max_length=24)
    day_of_month: list[ScheduleRangeModel] = Field(default_factory=lambda: _ranges(1, 31), max_length=31)
    month: list[ScheduleRangeModel] = Field(default_factory=lambda: _ranges(1, 12), max_length=12)
    year: list[ScheduleRangeModel] = Field(default_factory=list, max_length=100)
    day_of_week: list[ScheduleRangeModel] = Field(default_factory=lambda: _ranges(0, 6), max_length=7)
    comment: ShortText | None = None


class ScheduleIntervalModel(_Model):
    """Every ``every`` seconds since the Unix epoch, shifted by ``offset`` (less than ``every``)."""

    every: PositiveSeconds
    offset: Seconds = 0.0


class ScheduleSpecModel(_Model):
    """When a schedule's actions are due: the union of its intervals, cron expressions and calendars, less the
    times a ``skip`` calendar matches, from ``start_at`` to ``end_at``, each delayed by up to ``jitter``."""

    intervals: list[ScheduleIntervalModel] = Field(default_factory=list, max_length=100)
    cron_expressions: list[ShortText] = Field(default_factory=list, max_length=100)
    calendars: list[ScheduleCalendarModel] = Field(default_factory=list, max_length=100)
    skip: list[ScheduleCalendarModel] = Field(
        default_factory=list,
        max_length=100,
        description="Calendar times on which no action is due, even if the rest of the spec says one is.",
    )
    time_zone_name: ShortText | None = Field(default=None, description="An IANA time zone (default UTC).")
    start_at: UnixTime | None = None
    end_at: UnixTime | None = None
    jitter: Seconds | None = None


class SchedulePolicyModel(_Model):
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    catchup_window: PositiveSeconds = Field(
        default=DEFAULT_CATCHUP_WINDOW,
        description="How late an action may still run after the server was down (older ones are skipped).",
    )
    pause_on_failure: bool = False


class ScheduleStateModel(_Model):
    note: Text | None = None
    paused: bool = False
    limited_actions: bool = False
    remaining_actions: int = Field(default=0, ge=0, le=2**31 - 1)


class ScheduleActionModel(_Model):
    """Start a workflow: each run's id is ``workflow_id`` followed by ``-`` and its due time (RFC 3339)."""

    workflow_id: WorkflowId
    workflow_type: WorkflowType
    task_queue: TaskQueue
    input: Any = None
    execution_timeout: ExecutionTimeoutField = None
    run_timeout: RunTimeoutField = None
    retry_policy: WorkflowRetryPolicyField = None
    memo: MemoField = None
    task_timeout: TaskTimeoutField = None
    search_attributes: SearchAttributesField = None


class ScheduleModel(_Model):
    action: ScheduleActionModel
    spec: ScheduleSpecModel
    policy: SchedulePolicyModel = Field(default_factory=SchedulePolicyModel)
    state: ScheduleStateModel = Field(default_factory=ScheduleStateModel)


class ScheduleRunModel(_Model):
    """A run a schedule started."""

    workflow_id: str
    run_id: str


class ScheduleActionResultModel(_Model):
    """One action: when it was due, when it started, and its run."""

    scheduled_at: float
    started_at: float
    workflow_id: str
    run_id: str


class ScheduleInfoModel(_Model):
    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running_actions: list[ScheduleRunModel]
    recent_actions: list[ScheduleActionResultModel]
    next_action_times: list[float]
    #: Due times waiting for the running run to close (BUFFER_ONE, BUFFER_ALL, CANCEL_OTHER).
    buffered_actions: int
    created_at: float
    last_updated_at: float | None


class ScheduleDescriptionModel(_Model):
    schedule_id: str
    schedule: ScheduleModel
    info: ScheduleInfoModel
    #: What ``update`` passes back, so that two updates made from one describe cannot both apply.
    conflict_token: int


class ListSchedulesResponse(_Model):
    schedules: list[ScheduleDescriptionModel]
    next_page_token: str | None = Field(
        default=None, description="Give it as page_token for the next page; null on the last page."
    )


class CreateScheduleRequest(_Model):
    schedule_id: WorkflowId
    schedule: ScheduleModel


class UpdateScheduleRequest(_Model):
    schedule_id: WorkflowId
    schedule: ScheduleModel
    conflict_token: int | None = Field(default=None, description="describe's; refused (409) if it changed since.")


class BackfillModel(_Model):
    """Run the actions due from ``start_at`` to ``end_at`` now (whatever the catch-up window)."""

    start_at: UnixTime
    end_at: UnixTime
    overlap: ScheduleOverlapPolicy | None = None


class PatchScheduleRequest(_Model):
    """Pause, unpause, trigger or backfill a schedule (one or more, in that order)."""

    schedule_id: WorkflowId
    pause: Text | None = Field(default=None, description="Pause, with this note.")
    unpause: Text | None = Field(default=None, description="Unpause, with this note.")
    trigger: bool = False
    trigger_overlap: ScheduleOverlapPolicy | None = None
    backfill: list[BackfillModel] = Field(default_factory=list, max_length=100)
    request_id: Token | None = None


class DeleteScheduleRequest(_Model):
    schedule_id: WorkflowId
