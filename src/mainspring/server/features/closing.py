"""The commands that close a workflow: CompleteWorkflow, FailWorkflow and CancelWorkflow.

Each writes the run's closing event (the one stored copy of its result or failure) and closes the
run (``EngineCore._close``: pending work is abandoned, waiters are answered after the commit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import CommandType, EventType, WorkflowStatus
from .._core import cancelled_failure
from .kinds import CommandCheck, CommandKind

if TYPE_CHECKING:
    from .._commands import Commands
    from .._core import Effects, Execution

__all__ = ["KINDS"]


def _validate_complete(check: CommandCheck, cmd: m.CompleteWorkflowCommand) -> str | None:
    return check.engine._payload_problem("the workflow result", cmd.result)


def _apply_complete(
    engine: Commands, ex: Execution, cmd: m.CompleteWorkflowCommand, completed_id: int, now: float, fx: Effects
) -> None:
    engine._append(
        ex,
        EventType.WORKFLOW_EXECUTION_COMPLETED,
        {"result": cmd.result, "workflow_task_completed_event_id": completed_id},
        now,
    )
    ex.state.outcome = (cmd.result, None)
    engine._close(ex, WorkflowStatus.COMPLETED, now, fx)


def _validate_fail(check: CommandCheck, cmd: m.FailWorkflowCommand) -> str | None:
    return check.engine._payload_problem("the workflow failure", cmd.failure.model_dump(exclude_none=True))


def _apply_fail(
    engine: Commands, ex: Execution, cmd: m.FailWorkflowCommand, completed_id: int, now: float, fx: Effects
) -> None:
    failure = cmd.failure.model_dump(exclude_none=True)
    engine._append(
        ex,
        EventType.WORKFLOW_EXECUTION_FAILED,
        {"failure": failure, "workflow_task_completed_event_id": completed_id},
        now,
    )
    ex.state.outcome = (None, failure)
    engine._close(ex, WorkflowStatus.FAILED, now, fx)


def _validate_cancel(check: CommandCheck, cmd: m.CancelWorkflowCommand) -> str | None:
    if check.ex.state.cancel_request is None:
        return "a workflow can only end as cancelled after a cancellation was requested"
    return check.engine._payload_problem("the cancellation details", cmd.details)


def _apply_cancel(
    engine: Commands, ex: Execution, cmd: m.CancelWorkflowCommand, completed_id: int, now: float, fx: Effects
) -> None:
    engine._append(
        ex,
        EventType.WORKFLOW_EXECUTION_CANCELED,
        {"details": cmd.details, "workflow_task_completed_event_id": completed_id},
        now,
    )
    ex.state.outcome = (None, cancelled_failure(ex.state.cancel_request))
    engine._close(ex, WorkflowStatus.CANCELED, now, fx)


KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(
        CommandType.COMPLETE_WORKFLOW, m.CompleteWorkflowCommand, _validate_complete, _apply_complete, closes=True
    ),
    CommandKind(CommandType.FAIL_WORKFLOW, m.FailWorkflowCommand, _validate_fail, _apply_fail, closes=True),
    CommandKind(CommandType.CANCEL_WORKFLOW, m.CancelWorkflowCommand, _validate_cancel, _apply_cancel, closes=True),
)
