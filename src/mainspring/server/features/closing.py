"""The commands that close a workflow: CompleteWorkflow, FailWorkflow and CancelWorkflow.

Each writes the run's closing event (the one stored copy of its result or failure) and closes the
run (``Transition.close``: pending work is abandoned, waiters are answered after the commit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import CommandType, EventType, WorkflowStatus
from .._execution import cancelled_failure
from .kinds import CommandCheck, CommandKind

if TYPE_CHECKING:
    from .._transition import Transition

__all__ = ["KINDS"]


def _validate_complete(check: CommandCheck, cmd: m.CompleteWorkflowCommand) -> str | None:
    return check.core._payload_problem("the workflow result", cmd.result)


def _apply_complete(t: Transition, cmd: m.CompleteWorkflowCommand, completed_id: int) -> None:
    t.append(
        EventType.WORKFLOW_EXECUTION_COMPLETED,
        {"result": cmd.result, "workflow_task_completed_event_id": completed_id},
    )
    t.ex.state.outcome = (cmd.result, None)
    t.close(WorkflowStatus.COMPLETED)


def _validate_fail(check: CommandCheck, cmd: m.FailWorkflowCommand) -> str | None:
    return check.core._payload_problem("the workflow failure", cmd.failure.model_dump(exclude_none=True))


def _apply_fail(t: Transition, cmd: m.FailWorkflowCommand, completed_id: int) -> None:
    failure = cmd.failure.model_dump(exclude_none=True)
    t.append(
        EventType.WORKFLOW_EXECUTION_FAILED,
        {"failure": failure, "workflow_task_completed_event_id": completed_id},
    )
    t.ex.state.outcome = (None, failure)
    t.close(WorkflowStatus.FAILED)


def _validate_cancel(check: CommandCheck, cmd: m.CancelWorkflowCommand) -> str | None:
    if check.ex.state.cancel_request is None:
        return "a workflow can only end as cancelled after a cancellation was requested"
    return check.core._payload_problem("the cancellation details", cmd.details)


def _apply_cancel(t: Transition, cmd: m.CancelWorkflowCommand, completed_id: int) -> None:
    t.append(
        EventType.WORKFLOW_EXECUTION_CANCELED,
        {"details": cmd.details, "workflow_task_completed_event_id": completed_id},
    )
    t.ex.state.outcome = (None, cancelled_failure(t.ex.state.cancel_request))
    t.close(WorkflowStatus.CANCELED)


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(
        CommandType.COMPLETE_WORKFLOW, m.CompleteWorkflowCommand, _validate_complete, _apply_complete, closes=True
    ),
    CommandKind(CommandType.FAIL_WORKFLOW, m.FailWorkflowCommand, _validate_fail, _apply_fail, closes=True),
    CommandKind(CommandType.CANCEL_WORKFLOW, m.CancelWorkflowCommand, _validate_cancel, _apply_cancel, closes=True),
)
