"""Schedules (``server.features.schedules``, ``client._schedules``): Temporal's shapes; due times from intervals,
cron and calendars in a time zone; each due time started once, across a SIGKILLed server; overlap policies; the
catch-up window; specs refused at create; the CLI.

Schedules that fire every hour run on the time-skipping environment (the scheduler's reminders are on the
engine's timer wheel, so its clock skips to them); the restart and the downtime are real server processes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from mainspring import Client, InvalidArgumentError, NotFoundError, Worker, workflow
from mainspring.api.schedules import ScheduleSpecModel
from mainspring.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from mainspring.server.features.schedule_times import DueTimes, rfc3339
from mainspring.testing import WorkflowEnvironment
from support import ServerProcess, run_cli, wait_until

HOUR = timedelta(hours=1)


@workflow.defn
async def report(ctx: workflow.Context, minutes: int) -> int:
    await ctx.sleep(timedelta(minutes=minutes))
    return minutes


def _hourly(minutes: int = 1, **spec: Any) -> ScheduleActionStartWorkflow[int]:
    return ScheduleActionStartWorkflow(report, minutes, id="report", task_queue="tq")


async def _settled(
    env: WorkflowEnvironment, schedule_id: str, done: Callable[[ScheduleDescription], bool], timeout: float = 20.0
) -> ScheduleDescription:
    """Describe the schedule until ``done`` says it is as wanted (time skips meanwhile)."""
    handle = env.client.get_schedule_handle(schedule_id)
    deadline = time.monotonic() + timeout
    while True:
        d = await handle.describe()
        if done(d):
            return d
        if time.monotonic() > deadline:
            raise AssertionError(f"schedule {schedule_id} did not settle: {d.info}")
        await asyncio.sleep(0.01)


def _next_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0) + HOUR


# --- the client's calls ------------------------------------------------------------------------------------


async def test_create_describe_list_pause_unpause_trigger_update_backfill_delete() -> None:
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="tq", workflows=[report]),
    ):
        first = _next_hour(env.now())
        handle = await env.client.create_schedule(
            "hourly-report",
            Schedule(
                action=_hourly(),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=HOUR)]),
                state=ScheduleState(note="made by the test"),
            ),
        )
        with pytest.raises(ScheduleAlreadyRunningError):
            await env.client.create_schedule(
                "hourly-report", Schedule(action=_hourly(), spec=ScheduleSpec(cron_expressions=["@daily"]))
            )
        d = await _settled(env, "hourly-report", lambda d: d.info.num_actions >= 3)
        assert d.schedule.state.note == "made by the test"
        assert d.schedule.action.workflow == "report" and d.schedule.action.arg == 1
        # Each run is <action id>-<due time>, and the due times are the hours from the first on.
        names = [a.action.workflow_id for a in d.info.recent_actions]
        assert names[:3] == [f"report-{rfc3339((first + i * HOUR).timestamp())}" for i in range(3)]
        assert all(a.started_at >= a.scheduled_at for a in d.info.recent_actions)
        result = await env.client.get_workflow_handle(names[0], result_type=int).result()
        assert result == 1
        assert d.info.next_action_times[1] - d.info.next_action_times[0] == HOUR

        entries = [e async for e in env.client.list_schedules()]
        assert [e.id for e in entries] == ["hourly-report"]
        assert entries[0].schedule.action.workflow == "report" and entries[0].info.next_action_times

        # Paused, the spec's times pass without an action (so the counts below hold while time skips); a
        # trigger and a backfill still run.
        await handle.pause(note="maintenance")
        paused_at = env.now()
        paused = await handle.describe()
        assert paused.schedule.state.paused and paused.schedule.state.note == "maintenance"
        assert paused.info.next_action_times == []
        count = paused.info.num_actions
        await env.sleep(timedelta(hours=5))
        assert (await handle.describe()).info.num_actions == count

        before = env.now()
        await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
        d = await handle.describe()
        assert d.info.num_actions == count + 1
        triggered = d.info.recent_actions[-1]
        assert before - timedelta(seconds=1) <= triggered.scheduled_at <= env.now()

        def half_past(i: ScheduleUpdateInput) -> ScheduleUpdate:
            s = i.description.schedule
            s.action.arg = 2
            s.spec = ScheduleSpec(cron_expressions=["30 * * * *"])
            return ScheduleUpdate(schedule=s)

        await handle.update(half_past)
        d = await handle.describe()
        assert d.schedule.action.arg == 2 and d.schedule.spec.cron_expressions == ["30 * * * *"]
        assert d.schedule.spec.intervals == [] and d.info.last_updated_at is not None
        assert d.schedule.state.paused  # the update kept the rest as described
        await handle.update(lambda i: None)  # no change: nothing written
        assert (await handle.describe()).raw["conflict_token"] == d.raw["conflict_token"]

        # Backfill the 3 half-hours of a past span: they run now, whatever the catch-up window.
        start = datetime(2026, 1, 1, tzinfo=UTC)
        span = ScheduleBackfill(start, start + timedelta(hours=3), ScheduleOverlapPolicy.ALLOW_ALL)
        await handle.backfill(span)
        d = await handle.describe()
        assert d.info.num_actions == count + 4
        half_hours = [start + timedelta(minutes=30) + i * HOUR for i in range(3)]
        assert [a.scheduled_at for a in d.info.recent_actions[-3:]] == half_hours
        assert [a.action.workflow_id for a in d.info.recent_actions[-3:]] == [
            f"report-{rfc3339(t.timestamp())}" for t in half_hours
        ]

        unpausing = env.now()  # until the unpause, nothing of the spec runs (time skips on after it)
        await handle.unpause(note="back")
        d = await _settled(env, "hourly-report", lambda d: d.info.num_actions >= count + 6)
        assert all(t.minute == 30 for t in d.info.next_action_times)
        # Nothing of the paused hours was caught up: the runs are the first hours, the trigger, the backfill,
        # and half-hours after the unpause.
        started = [
            datetime.strptime(w.id[len("report-") :], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            async for w in env.client.list_workflows(workflow_id_prefix="report-", limit=1000)
        ]
        assert [t for t in started if paused_at < t < unpausing] == [triggered.scheduled_at]
        assert [t for t in started if t > unpausing] and all(t.minute == 30 for t in started if t > unpausing)

        await handle.delete()
        with pytest.raises(NotFoundError):
            await handle.describe()
        assert [e async for e in env.client.list_schedules()] == []


async def test_limited_actions_stop_after_remaining_actions() -> None:
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="tq", workflows=[report]),
    ):
        await env.client.create_schedule(
            "three",
            Schedule(
                action=_hourly(),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=HOUR)]),
                state=ScheduleState(limited_actions=True, remaining_actions=3),
            ),
        )
        d = await _settled(env, "three", lambda d: d.schedule.state.remaining_actions == 0)
        await env.sleep(timedelta(hours=3))
        d = await env.client.get_schedule_handle("three").describe()
        assert d.info.num_actions == 3 and d.info.next_action_times == []


# --- overlap -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overlap", "actions", "skipped"),
    [
        (ScheduleOverlapPolicy.SKIP, 1, 2),  # 1h starts (runs 2.5 h); 2h and 3h skipped
        (ScheduleOverlapPolicy.ALLOW_ALL, 3, 0),  # all three run side by side
        (ScheduleOverlapPolicy.BUFFER_ONE, 2, 1),  # 2h waits for 1h's run; 3h is skipped (one buffered at most)
        (ScheduleOverlapPolicy.BUFFER_ALL, 3, 0),  # each waits for the one before
        (ScheduleOverlapPolicy.CANCEL_OTHER, 3, 0),  # each cancels the one before, and starts once it has closed
    ],
)
async def test_overlap_policies(overlap: ScheduleOverlapPolicy, actions: int, skipped: int) -> None:
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="tq", workflows=[report]),
    ):
        first = _next_hour(env.now())
        await env.client.create_schedule(
            "overlap",
            Schedule(
                action=ScheduleActionStartWorkflow(report, 150, id="long", task_queue="tq"),
                spec=ScheduleSpec(
                    intervals=[ScheduleIntervalSpec(every=HOUR)], start_at=first, end_at=first + 2 * HOUR
                ),
                policy=SchedulePolicy(overlap=overlap),
            ),
        )

        def done(d: ScheduleDescription) -> bool:
            return (
                not d.info.next_action_times
                and not d.info.running_actions
                and not d.info.buffered_actions
                and d.info.num_actions > 0
            )

        d = await _settled(env, "overlap", done)
        assert (d.info.num_actions, d.info.num_actions_skipped_overlap) == (actions, skipped)
        due = [a.scheduled_at for a in d.info.recent_actions]
        started = [a.started_at for a in d.info.recent_actions]
        if overlap is ScheduleOverlapPolicy.BUFFER_ONE:
            assert due == [first, first + HOUR]
            assert started[1] >= first + timedelta(minutes=150)  # when the first run closed
        if overlap is ScheduleOverlapPolicy.BUFFER_ALL:
            assert due == [first, first + HOUR, first + 2 * HOUR]
            assert started[2] >= first + timedelta(minutes=300)
        if overlap is ScheduleOverlapPolicy.CANCEL_OTHER:
            statuses = [
                (await env.client.get_workflow_handle(a.action.workflow_id).describe()).status.value
                for a in d.info.recent_actions
            ]
            assert statuses == ["CANCELED", "CANCELED", "COMPLETED"]
            assert [s - t < timedelta(seconds=5) for s, t in zip(started, due, strict=True)] == [True] * 3
        if overlap is ScheduleOverlapPolicy.ALLOW_ALL:
            assert [s - t < timedelta(seconds=5) for s, t in zip(started, due, strict=True)] == [True] * 3


async def test_terminate_other_and_pause_on_failure() -> None:
    async with (
        WorkflowEnvironment.start_time_skipping() as env,
        Worker(env.client, task_queue="tq", workflows=[report]),
    ):
        first = _next_hour(env.now())
        await env.client.create_schedule(
            "term",
            Schedule(
                action=ScheduleActionStartWorkflow(report, 150, id="term", task_queue="tq"),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=HOUR)], start_at=first, end_at=first + HOUR),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.TERMINATE_OTHER),
            ),
        )
        d = await _settled(env, "term", lambda d: d.info.num_actions == 2 and not d.info.running_actions, 30)
        first_run = env.client.get_workflow_handle(d.info.recent_actions[0].action.workflow_id)
        assert (await first_run.describe()).status.value == "TERMINATED"
        # pause_on_failure: the terminated run is no failure; a run that times out is.
        await env.client.create_schedule(
            "fragile",
            Schedule(
                action=ScheduleActionStartWorkflow(
                    report, 120, id="fragile", task_queue="tq", run_timeout=timedelta(minutes=5)
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=HOUR)]),
                policy=SchedulePolicy(pause_on_failure=True),
            ),
        )
        d = await _settled(env, "fragile", lambda d: d.schedule.state.paused, 30)
        assert d.info.num_actions == 1 and "timed_out" in (d.schedule.state.note or "")


# --- specs -------------------------------------------------------------------------------------------------


def test_due_times_follow_europe_paris_across_both_2026_changes() -> None:
    paris = "Europe/Paris"
    at = datetime(2026, 3, 27, 12, tzinfo=UTC).timestamp()
    daily = DueTimes(ScheduleSpecModel(cron_expressions=["0 9 * * *"], time_zone_name=paris))
    assert [rfc3339(t) for t in daily.next_times(at, 4)] == [
        "2026-03-28T08:00:00Z",  # CET, UTC+1
        "2026-03-29T07:00:00Z",  # CEST from 02:00 that night, UTC+2
        "2026-03-30T07:00:00Z",
        "2026-03-31T07:00:00Z",
    ]
    at = datetime(2026, 10, 23, 12, tzinfo=UTC).timestamp()
    assert [rfc3339(t) for t in daily.next_times(at, 3)] == [
        "2026-10-24T07:00:00Z",
        "2026-10-25T08:00:00Z",  # back to CET
        "2026-10-26T08:00:00Z",
    ]
    # 02:30 does not exist on 29 March: it is due at the end of the gap (03:00 CEST); on 25 October 02:30 happens
    # twice (CEST, then CET), and is due both times.
    night = DueTimes(ScheduleSpecModel(cron_expressions=["30 2 * * *"], time_zone_name=paris))
    spring = [rfc3339(t) for t in night.next_times(datetime(2026, 3, 28, 12, tzinfo=UTC).timestamp(), 2)]
    assert spring == ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
    autumn = [rfc3339(t) for t in night.next_times(datetime(2026, 10, 24, 12, tzinfo=UTC).timestamp(), 3)]
    assert autumn == ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"]
    # A calendar (weekdays at 09:00 Paris) is evaluated in the zone too; intervals know no zone.
    weekdays = DueTimes(
        ScheduleSpecModel.model_validate(
            {
                "calendars": [{"hour": [{"start": 9}], "day_of_week": [{"start": 1, "end": 5}]}],
                "time_zone_name": paris,
            }
        )
    )
    friday = datetime(2026, 3, 27, 12, tzinfo=UTC).timestamp()
    assert [rfc3339(t) for t in weekdays.next_times(friday, 2)] == ["2026-03-30T07:00:00Z", "2026-03-31T07:00:00Z"]
    hourly = DueTimes(ScheduleSpecModel.model_validate({"intervals": [{"every": 3600, "offset": 300}]}))
    assert [rfc3339(t) for t in hourly.next_times(datetime(2026, 3, 29, 0, 30, tzinfo=UTC).timestamp(), 3)] == [
        "2026-03-29T01:05:00Z",
        "2026-03-29T02:05:00Z",
        "2026-03-29T03:05:00Z",
    ]


async def test_describe_next_times_follow_the_time_zone() -> None:
    # Real time: a skipping clock would jump to the first of these times at once.
    async with WorkflowEnvironment.start_local() as env:
        await env.client.create_schedule(
            "paris",
            Schedule(
                action=_hourly(),
                spec=ScheduleSpec(
                    cron_expressions=["0 9 * * *"],
                    time_zone_name="Europe/Paris",
                    start_at=datetime(2027, 3, 26, tzinfo=UTC),
                ),
            ),
        )
        d = await env.client.get_schedule_handle("paris").describe()
        # 2027's change is on 28 March.
        assert [t.hour for t in d.info.next_action_times[:4]] == [8, 8, 7, 7]
        assert d.info.next_action_times[2] == datetime(2027, 3, 28, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (ScheduleSpec(cron_expressions=["0 0 30 2 *"]), "never"),
        (ScheduleSpec(cron_expressions=["61 * * * *"]), "'61 * * * *' is not valid"),
        (ScheduleSpec(cron_expressions=["every day"]), "'every day' is not valid"),
        (
            ScheduleSpec(cron_expressions=["0 * * * *"], time_zone_name="Mars/Olympus"),
            "unknown time zone 'Mars/Olympus'",
        ),
        # A name too long for a file name (zoneinfo reads it as one): refused, not a 500.
        (ScheduleSpec(cron_expressions=["0 * * * *"], time_zone_name="0" * 300), "unknown time zone '000"),
        (ScheduleSpec(cron_expressions=["0 * * * *"], time_zone_name="../../../etc/passwd"), "unknown time zone"),
        (
            ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=HOUR)],
                start_at=datetime(2027, 2, 1, tzinfo=UTC),
                end_at=datetime(2027, 1, 1, tzinfo=UTC),
            ),
            "end_at (2027-01-01T00:00:00Z) is before start_at (2027-02-01T00:00:00Z)",
        ),
        (ScheduleSpec(intervals=[ScheduleIntervalSpec(every=HOUR)], end_at=datetime(2020, 1, 1, tzinfo=UTC)), "passed"),
        (ScheduleSpec(intervals=[ScheduleIntervalSpec(every=HOUR, offset=HOUR)]), "offset 3600s must be less"),
        (ScheduleSpec(), "no interval, cron expression or calendar"),
        (ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=(ScheduleRange(25),))]), "'hour'"),
    ],
)
async def test_bad_specs_are_refused_at_create_naming_the_problem(spec: ScheduleSpec, problem: str) -> None:
    async with WorkflowEnvironment.start_time_skipping() as env:
        with pytest.raises(InvalidArgumentError) as info:
            await env.client.create_schedule("bad", Schedule(action=_hourly(), spec=spec))
        assert problem in info.value.message and info.value.code == "invalid_schedule"
        assert [e async for e in env.client.list_schedules()] == []


# --- real servers: a restart, a downtime -------------------------------------------------------------------


def _runs(server: ServerProcess, prefix: str) -> list[dict[str, Any]]:
    r = httpx.get(
        server.url + "/api/v1/namespaces/default/workflows", params={"workflow_id_prefix": prefix, "limit": 1000}
    )
    r.raise_for_status()
    runs: list[dict[str, Any]] = r.json()["executions"]
    return runs


def _create(server: ServerProcess, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(server.url + "/api/v1/namespaces/default/schedules", json=body)
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _describe(server: ServerProcess, schedule_id: str) -> dict[str, Any]:
    r = httpx.get(server.url + "/api/v1/namespaces/default/schedules/describe", params={"schedule_id": schedule_id})
    r.raise_for_status()
    answer: dict[str, Any] = r.json()
    return answer


def _every_second(schedule_id: str, catchup: float = 365 * 86400.0) -> dict[str, Any]:
    # No worker: each run stays RUNNING, and ALLOW_ALL starts one per due time all the same.
    return {
        "schedule_id": schedule_id,
        "schedule": {
            "action": {"workflow_id": schedule_id, "workflow_type": "report", "task_queue": "nobody", "input": 1},
            "spec": {"intervals": [{"every": 1}]},
            "policy": {"overlap": "ALLOW_ALL", "catchup_window": catchup},
        },
    }


def _seconds(runs: list[dict[str, Any]], prefix: str) -> list[int]:
    return sorted(
        int(datetime.strptime(r["workflow_id"][len(prefix) :], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
        for r in runs
    )


def test_each_due_time_runs_exactly_once_across_a_sigkilled_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "s.db").start()
    try:
        _create(server, _every_second("tick"))
        wait_until(lambda: len(_runs(server, "tick-")) >= 3, 15, what="three runs")
        server.kill()  # mid-stride: maybe between a start and the write that records it
        server.start()
        before = len(_runs(server, "tick-"))
        wait_until(lambda: len(_runs(server, "tick-")) >= before + 3, 15, what="three runs after the restart")
        runs = _runs(server, "tick-")
        per_id = Counter(r["workflow_id"] for r in runs)
        assert max(per_id.values()) == 1, per_id  # no due time started twice
        seconds = _seconds(runs, "tick-")
        # And none is missing: the seconds the server was down were caught up (the catch-up window is a year).
        assert seconds == list(range(seconds[0], seconds[-1] + 1))
        d = _describe(server, "tick")
        assert d["info"]["num_actions"] >= len(runs) - 1  # (a look may be under way)
        assert d["info"]["num_actions_missed_catchup_window"] == 0
    finally:
        server.stop()


def test_missed_times_within_the_catchup_window_run_after_downtime_older_ones_are_counted(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "s.db").start()
    try:
        _create(server, _every_second("late", catchup=3.0))
        wait_until(lambda: len(_runs(server, "late-")) >= 2, 15, what="two runs")
        server.kill()
        down = time.time()
        time.sleep(7)
        launch = time.time()
        server.start()
        up = time.time()
        wait_until(lambda: max(_seconds(_runs(server, "late-"), "late-")) >= up, 10, what="a run after the restart")
        seconds = _seconds(_runs(server, "late-"), "late-")
        # The due times no server was up for: the downtime and the restart's own start-up (seconds on a loaded
        # machine), until the server answered.
        gap = [s for s in seconds if down + 1 < s < up]
        missed = _describe(server, "late")["info"]["num_actions_missed_catchup_window"]
        # Down 7 s, a window of 3 s: the due times of the last 3 s before the scheduler's first look (at or
        # after the launch) ran at the restart, the older did not (and are counted); the second the server was
        # killed in may have run before it.
        assert gap and min(gap) >= launch - 3.0 - 1.0, (gap, down, launch)
        assert missed >= 3
        assert len(set(seconds)) == len(seconds)
    finally:
        server.stop()


# --- the CLI -----------------------------------------------------------------------------------------------


def test_cli_create_describe_list_toggle_trigger_delete(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "s.db").start()
    try:
        a = server.address

        def cli(*args: str) -> Any:
            r = run_cli("schedule", *args, address=a)
            assert r.returncode == 0, r.stderr + r.stdout
            return r

        cli(
            "create",
            "--schedule-id",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--time-zone",
            "Europe/Paris",
            "--workflow-type",
            "report",
            "--task-queue",
            "tq",
            "--workflow-id",
            "nightly-report",
            "--input",
            "5",
            "--overlap-policy",
            "BufferOne",
        )
        cli(
            "create", "--schedule-id", "often", "--interval", "1h/5m", "--workflow-type", "report", "--task-queue", "tq"
        )
        again = run_cli("schedule", "create", "--schedule-id", "often", "--interval", "1h", "--workflow-type", "x",
                        "--task-queue", "tq", address=a)  # fmt: skip
        assert again.returncode != 0 and "already exists" in again.stderr
        bad = run_cli("schedule", "create", "--schedule-id", "bad", "--cron", "0 0 30 2 *", "--workflow-type", "x",
                      "--task-queue", "tq", address=a)  # fmt: skip
        assert bad.returncode != 0 and "never" in bad.stderr

        d = json.loads(cli("describe", "--schedule-id", "nightly", "-o", "json").stdout)
        assert d["schedule"]["spec"]["cron_expressions"] == ["0 3 * * *"]
        assert d["schedule"]["policy"]["overlap"] == "BUFFER_ONE"
        assert d["schedule"]["action"]["input"] == 5 and d["schedule"]["action"]["workflow_id"] == "nightly-report"
        often = json.loads(cli("describe", "--schedule-id", "often", "-o", "json").stdout)
        assert often["schedule"]["spec"]["intervals"] == [{"every": 3600.0, "offset": 300.0}]
        assert often["schedule"]["action"]["workflow_id"] == "often"  # the schedule id by default
        assert all(datetime.fromtimestamp(t, UTC).minute == 5 for t in often["info"]["next_action_times"])
        text = cli("describe", "--schedule-id", "nightly").stdout
        assert "nightly" in text and "0 3 * * *" in text and "Next" in text

        listed = json.loads(cli("list", "-o", "json").stdout)
        assert [s["schedule_id"] for s in listed] == ["nightly", "often"]
        assert "nightly" in cli("list").stdout

        cli("toggle", "--schedule-id", "nightly", "--pause", "--reason", "db migration")
        d = json.loads(cli("describe", "--schedule-id", "nightly", "-o", "json").stdout)
        assert d["schedule"]["state"] == {**d["schedule"]["state"], "paused": True, "note": "db migration"}
        cli("toggle", "--schedule-id", "nightly", "--unpause", "--reason", "done")
        assert not json.loads(cli("describe", "--schedule-id", "nightly", "-o", "json").stdout)["schedule"]["state"][
            "paused"
        ]

        cli("trigger", "--schedule-id", "nightly")
        wait_until(lambda: _runs(server, "nightly-report-"), 10, what="the triggered run")
        d = json.loads(cli("describe", "--schedule-id", "nightly", "-o", "json").stdout)
        assert d["info"]["num_actions"] == 1

        cli("delete", "--schedule-id", "often")
        assert [s["schedule_id"] for s in json.loads(cli("list", "-o", "json").stdout)] == ["nightly"]
        gone = run_cli("schedule", "describe", "--schedule-id", "often", address=a)
        assert gone.returncode != 0 and "not found" in gone.stderr
    finally:
        server.stop()


async def test_a_client_of_a_real_server_creates_and_lists(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "s.db").start()
    try:
        async with await Client.connect(server.address) as client:
            await client.create_schedule(
                "c", Schedule(action=_hourly(), spec=ScheduleSpec(cron_expressions=["*/5 * * * *"]))
            )
            assert [e.id async for e in client.list_schedules()] == ["c"]
            # Pages: by id, none repeated or missed, the last page without a token.
            for i in range(6):
                await client.create_schedule(
                    f"p-{i}", Schedule(action=_hourly(), spec=ScheduleSpec(cron_expressions=["0 * * * *"]))
                )
            ids = ["c", *(f"p-{i}" for i in range(6))]
            assert [e.id async for e in client.list_schedules(page_size=3)] == ids
            assert [e.id async for e in client.list_schedules(page_size=1)] == ids
            with pytest.raises(ValueError, match="page_size"):
                client.list_schedules(page_size=0)
        url = f"http://{server.address}/api/v1/namespaces/default/schedules"
        http = httpx.AsyncClient()
        first = (await http.get(url, params={"page_size": 3})).json()
        assert [d["schedule_id"] for d in first["schedules"]] == ids[:3] and first["next_page_token"]
        second = (await http.get(url, params={"page_size": 3, "page_token": first["next_page_token"]})).json()
        assert [d["schedule_id"] for d in second["schedules"]] == ids[3:6]
        last = (await http.get(url, params={"page_size": 3, "page_token": second["next_page_token"]})).json()
        assert [d["schedule_id"] for d in last["schedules"]] == ids[6:] and last["next_page_token"] is None
        bad = await http.get(url, params={"page_size": 5000})
        await http.aclose()
        assert bad.status_code == 400 and "page_size" in bad.json()["message"]
        listed = run_cli("schedule", "list", "-o", "json", address=server.address)
        assert [d["schedule_id"] for d in json.loads(listed.stdout)] == ids
    finally:
        server.stop()


# --- Temporal's older cron workflows ----------------------------------------------------------------------


@workflow.defn
async def quick(ctx: workflow.Context, n: int) -> int:
    return n * 2


async def test_cron_schedule_makes_a_chain_of_runs_of_one_workflow_id_at_the_cron_times() -> None:
    async with WorkflowEnvironment.start_time_skipping() as env, Worker(env.client, task_queue="tq", workflows=[quick]):
        handle = await env.client.start_workflow(quick, 21, id="cron-wf", task_queue="tq", cron_schedule="0 * * * *")
        first_run = handle.run_id

        async def runs() -> list[Any]:
            return [r async for r in env.client.list_workflows(workflow_id="cron-wf", limit=100)]

        deadline = time.monotonic() + 20
        while len(chain := await runs()) < 4:
            assert time.monotonic() < deadline, chain
            await asyncio.sleep(0.01)
        # Newest first: one waiting for its hour, the ones before completed, each with the same input.
        assert chain[-1].run_id == first_run
        assert [r.status.value for r in chain[1:]] == ["COMPLETED"] * (len(chain) - 1)
        assert chain[0].status.value in ("RUNNING", "COMPLETED")
        # Each run's first workflow task waited for its hour; each completed with its result and named the next run.
        history = await env.client.get_workflow_handle("cron-wf", run_id=chain[1].run_id).fetch_history()
        assert history[0]["attributes"]["first_workflow_task_backoff"] > 0
        assert history[0]["attributes"]["continued_execution_run_id"] == chain[2].run_id
        assert history[-1]["attributes"]["result"] == 42
        assert history[-1]["attributes"]["new_execution_run_id"] == chain[0].run_id
        await env.client.get_workflow_handle("cron-wf").terminate(reason="enough")  # ends the chain
        with pytest.raises(InvalidArgumentError, match="'61 \\* \\* \\* \\*' is not valid"):
            await env.client.start_workflow(quick, 1, id="cron-bad", task_queue="tq", cron_schedule="61 * * * *")


# --- skip calendars and --calendar ---------------------------------------------------------------------------


def test_skip_calendars_remove_their_times_from_the_spec() -> None:
    # Every day at 09:00 in Paris, except on weekends and on 25 December.
    spec = ScheduleSpecModel.model_validate(
        {
            "calendars": [{"hour": [{"start": 9}]}],
            "skip": [
                {"hour": [{"start": 0, "end": 23}], "minute": [{"start": 0, "end": 59}], "day_of_week": [
                    {"start": 0}, {"start": 6}]},
                {"hour": [{"start": 9}], "month": [{"start": 12}], "day_of_month": [{"start": 25}]},
            ],
            "time_zone_name": "Europe/Paris",
        }
    )  # fmt: skip
    due = DueTimes(spec)
    thursday = datetime(2026, 12, 24, 12, tzinfo=UTC).timestamp()
    # Fri 25 Dec skipped (a holiday), Sat 26 / Sun 27 skipped (the weekend), Mon 28 due.
    assert [rfc3339(t) for t in due.next_times(thursday, 2)] == ["2026-12-28T08:00:00Z", "2026-12-29T08:00:00Z"]
    # A skip that covers every time leaves nothing: refused at create as a spec that never fires.
    everything = ScheduleSpecModel.model_validate(
        {"intervals": [{"every": 86400}], "skip": [{"hour": [{"start": 0}], "minute": [{"start": 0}]}]}
    )
    with pytest.raises(InvalidArgumentError, match="never"):
        DueTimes(everything).check_fires(thursday)
    # A skip calendar is checked as a calendar is.
    with pytest.raises(InvalidArgumentError, match="hour"):
        DueTimes(ScheduleSpecModel.model_validate({"intervals": [{"every": 60}], "skip": [{"hour": [{"start": 30}]}]}))


async def test_a_spec_with_skip_round_trips_through_the_client() -> None:
    weekend = ScheduleCalendarSpec(
        hour=(ScheduleRange(0, 23),), day_of_week=(ScheduleRange(0), ScheduleRange(6)), comment="weekend"
    )
    async with WorkflowEnvironment.start_local() as env:
        handle = await env.client.create_schedule(
            "weekdays",
            Schedule(
                action=_hourly(),
                spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=(ScheduleRange(9),))], skip=[weekend]),
            ),
        )
        d = await handle.describe()
        assert list(d.schedule.spec.skip) == [weekend]
        assert d.info.next_action_times
        assert all(t.weekday() < 5 for t in d.info.next_action_times)  # Monday..Friday


def test_cli_calendar_takes_temporals_json_form(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "s.db").start()
    try:
        a = server.address
        made = run_cli("schedule", "create", "--schedule-id", "standup", "--calendar",
                       '{"dayOfWeek":"Mon-Fri","hour":"9","minute":"30","comment":"standup"}',
                       "--calendar", '{"day_of_month": "1", "hour": 6, "month": "jan,jul"}',
                       "--time-zone", "Europe/Paris", "--workflow-type", "report", "--task-queue", "tq",
                       address=a)  # fmt: skip
        assert made.returncode == 0, made.stderr
        d = json.loads(run_cli("schedule", "describe", "--schedule-id", "standup", "-o", "json", address=a).stdout)
        standup, twice_a_year = d["schedule"]["spec"]["calendars"]
        assert standup["day_of_week"] == [{"start": 1, "end": 5, "step": 0}]
        assert standup["hour"] == [{"start": 9, "end": 9, "step": 0}] and standup["comment"] == "standup"
        assert twice_a_year["month"] == [{"start": 1, "end": 1, "step": 0}, {"start": 7, "end": 7, "step": 0}]
        assert twice_a_year["minute"] == [{"start": 0, "end": 0, "step": 0}]  # Temporal's default
        paris = ZoneInfo("Europe/Paris")
        for t in d["info"]["next_action_times"]:
            local = datetime.fromtimestamp(t, paris)
            assert (local.weekday() < 5 and (local.hour, local.minute) == (9, 30)) or (
                local.day == 1 and local.month in (1, 7) and local.hour == 6
            ), local
        text = run_cli("schedule", "describe", "--schedule-id", "standup", address=a).stdout
        assert "Calendar: standup" in text and "day_of_month=1" in text
        for bad, said in (
            ('{"hour": "25"}', "hour: '25' is outside 0-23"),
            ('{"weekday": "Mon"}', "unknown field 'weekday'"),
            ('{"dayOfWeek": "Someday"}', "not a number or a name"),
            ("[1]", "takes a JSON object"),
            ('{"minute": "*/0"}', "step"),
        ):
            r = run_cli("schedule", "create", "--schedule-id", "bad", "--calendar", bad, "--workflow-type", "x",
                        "--task-queue", "tq", address=a)  # fmt: skip
            lines = [x for x in r.stderr.splitlines() if x.strip()]
            assert r.returncode != 0 and said in r.stderr and "Traceback" not in r.stderr, (bad, r.stderr)
            assert len(lines) == 1, r.stderr
    finally:
        server.stop()
