"""The hello example's workflow and activity (shared by worker.py and starter.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from mainspring import activity, workflow

#: The hello example's own task queue: its worker polls it and its starter starts workflows on it. Each
#: example has its own, so both workers can run at once against one server without taking each other's tasks.
TASK_QUEUE = "hello-task-queue"


@dataclass
class ActivityInput:
    language: str
    kind: str


@dataclass
class ActivityOutput:
    kind: str
    platform: str
    features: list[str] = field(default_factory=list)


@dataclass
class WorkflowInput:
    code: str
    kind: str


@activity.defn(name="sdk_example_activity")
async def sdk_example_activity(input: ActivityInput) -> tuple[str, ActivityOutput]:
    sentence = f"Workflow written in {input.kind} {input.language}"
    output = ActivityOutput(
        kind="worker",
        platform="mainspring",
        features=["performance", "async", "type-safe", "resource-efficient"],
    )
    return sentence, output


@workflow.defn(name="sdk_example_workflow")
async def sdk_example_workflow(ctx: workflow.Context, input: WorkflowInput) -> ActivityOutput:
    sentence, output = await ctx.execute_activity(
        sdk_example_activity,
        ActivityInput(language=input.code, kind=input.kind),
        activity_id="sdk_example_activity",
        schedule_to_close_timeout=timedelta(seconds=5),
    )
    ctx.logger.info("activity said: %s", sentence)
    return output
