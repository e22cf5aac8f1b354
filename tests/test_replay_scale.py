"""Replay cost is linear in the number of events.

A history of 400,000 events (a workflow of 66,000 sequential activities) is built in memory, as the
server would have written it, and replayed from scratch by a ``WorkflowInstance``: the code must reach
the same decision it would on a live worker. No server is involved, and nothing is timed: the replay
just has to finish. It used to copy the rest of the history at every WorkflowTaskStarted (quadratic:
18-38 s for 150,000 events), which at this size runs far past the test's 180 s timeout; linear replay
takes a few seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mainspring import activity, workflow
from mainspring.api.enums import CommandType, EventType
from mainspring.workflow import WorkflowInfo, get_definition
from mainspring.workflow._instance import WorkflowInstance

START_TO_CLOSE = timedelta(seconds=5)
#: 6 events a step, so this many steps make a history of just over 400,000 events.
STEPS = 66_700


@activity.defn
async def add_one(value: int) -> int:
    return value + 1


@workflow.defn
async def counting(ctx: workflow.Context, steps: int) -> int:
    value = 0
    for _ in range(steps):
        value = await ctx.execute_activity(add_one, value, start_to_close_timeout=START_TO_CLOSE)
    return value


def counting_history(steps: int, *, done: int) -> list[dict[str, Any]]:
    """The history of ``counting(steps)`` after ``done`` activities completed, ending with the
    WorkflowTaskStarted of the task the worker is to run now (the one that sees the last result)."""
    t = "2026-12-01T12:00:00.000000Z"
    events: list[dict[str, Any]] = []

    def add(event_type: EventType, attributes: dict[str, Any]) -> int:
        event_id = len(events) + 1
        events.append({"event_id": event_id, "event_time": t, "event_type": event_type.value, "attributes": attributes})
        return event_id

    def workflow_task(*, completed: bool = True) -> int:
        scheduled = add(EventType.WORKFLOW_TASK_SCHEDULED, {"task_queue": "q", "attempt": 1})
        started = add(EventType.WORKFLOW_TASK_STARTED, {"scheduled_event_id": scheduled, "attempt": 1})
        if not completed:
            return 0
        return add(
            EventType.WORKFLOW_TASK_COMPLETED,
            {"scheduled_event_id": scheduled, "started_event_id": started, "identity": "w"},
        )

    add(EventType.WORKFLOW_EXECUTION_STARTED, {"workflow_type": "counting", "task_queue": "q", "input": steps})
    completed = workflow_task()
    for k in range(done):
        sched = add(
            EventType.ACTIVITY_TASK_SCHEDULED,
            {
                "activity_id": str(k + 1),
                "activity_type": "add_one",
                "input": k,
                "task_queue": "q",
                "workflow_task_completed_event_id": completed,
            },
        )
        started = add(EventType.ACTIVITY_TASK_STARTED, {"scheduled_event_id": sched, "attempt": 1})
        add(
            EventType.ACTIVITY_TASK_COMPLETED,
            {"scheduled_event_id": sched, "started_event_id": started, "result": k + 1},
        )
        completed = workflow_task(completed=k + 1 < done)
    return events


def new_instance() -> WorkflowInstance:
    info = WorkflowInfo("default", "long", "run-long", "counting", "q", datetime(2026, 12, 1, 12, tzinfo=UTC))
    return WorkflowInstance(get_definition(counting), info)  # type: ignore[abstract]


def test_a_long_history_replays_in_linear_time() -> None:
    history = counting_history(STEPS, done=STEPS)
    assert len(history) > 400_000
    inst = new_instance()
    commands = inst.activate(history)
    # Every activity matched its recorded command; at the newest task the code returns.
    assert commands == [{"type": CommandType.COMPLETE_WORKFLOW.value, "result": STEPS}]
    assert inst.finished
    assert inst.last_event_id == len(history)
    inst.dispose()


def test_a_long_history_cut_mid_run_asks_for_the_next_activity() -> None:
    # A shorter run, stopped half way: the replayed code asks for exactly the next activity.
    history = counting_history(1_000, done=400)
    inst = new_instance()
    commands = inst.activate(history)
    assert [(c["type"], c["activity_id"], c["input"]) for c in commands] == [
        (CommandType.SCHEDULE_ACTIVITY.value, "401", 400)
    ]
    assert not inst.finished
    # Fed in two pieces, the same history gives the same answer (a cached instance's later tasks).
    again = new_instance()
    cut = 1_200
    assert again.activate(history[:cut]) == []  # the task at the cut is old: it completed
    assert [c["activity_id"] for c in again.activate(history[cut:])] == ["401"]
    inst.dispose()
    again.dispose()
