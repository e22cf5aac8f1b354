"""Continue-as-new in workflow code: ``ctx.continue_as_new(input)`` ends the run, and the server starts the next
run of the same workflow id with ``input``, in the same commit (``server.features.continue_as_new``).

The call raises ``ContinueAsNewError``, a ``BaseException`` (as Temporal's is), so that an ``except Exception``
in the workflow's code does not swallow it; the main coroutine's end (``_lifecycle``) turns it into the
ContinueAsNewWorkflow command, which closes the workflow. The input is checked where the call is made: it must
have a JSON form that decodes to the next run's input type (with ``workflow=``, the type checkers check it too).

Registered with the replay (``_features``): WorkflowExecutionContinuedAsNew, the command's closing event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..api.enums import CommandType, EventType
from ..converter import PayloadError, decode, encode
from ..interceptors import CallKind
from ._definition import WorkflowDefinition, get_definition
from ._kinds import CommandEvent, EventHandler

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["COMMAND_EVENTS", "EVENTS", "ContinueAsNewError", "chain_info", "command", "issue"]

_CMD = CommandType.CONTINUE_AS_NEW_WORKFLOW.value


class ContinueAsNewError(BaseException):
    """Raised by ``ctx.continue_as_new``: the run ends here and the next one starts. Let it propagate (it is not
    an ``Exception``, so ``except Exception`` lets it through)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(f"continue as new ({body.get('workflow_type') or 'the same workflow'})")
        #: The ContinueAsNewWorkflow command it becomes.
        self.body = body


def command(
    current: WorkflowDefinition, workflow: Any, arg: Any, has_arg: bool, task_queue: str | None
) -> dict[str, Any]:
    """The ContinueAsNewWorkflow command for ``arg``; TypeError if it does not fit the next run's input type."""
    d = current if workflow is None else get_definition(workflow)
    if not d.takes_input:
        if has_arg and arg is not None:
            raise TypeError(f"ctx.continue_as_new: workflow {d.name!r} takes no input, got {type(arg).__name__}")
        payload = None
    else:
        if not has_arg:
            raise TypeError(f"ctx.continue_as_new: workflow {d.name!r} takes an input; pass the next run's input")
        try:
            payload = encode(arg)
            # The next run decodes it to its input type: a value that would not fit fails here, in the run that
            # made it, rather than as the next run's first failure.
            decode(payload, d.input_type)
        except PayloadError as e:
            raise TypeError(
                f"ctx.continue_as_new: the input does not fit workflow {d.name!r}'s input type: {e}"
            ) from None
    body: dict[str, Any] = {"type": _CMD, "input": payload}
    if d.name != current.name:
        body["workflow_type"] = d.name
    if task_queue is not None:
        body["task_queue"] = task_queue
    return body


def chain_info(started: dict[str, Any]) -> dict[str, Any]:
    """``WorkflowInfo``'s chain fields, from the run's WorkflowExecutionStarted event."""
    attrs = started.get("attributes") or {}
    attempt = attrs.get("attempt")
    return {
        "continued_run_id": attrs.get("continued_execution_run_id"),
        "attempt": attempt if isinstance(attempt, int) and attempt > 0 else 1,
    }


def issue(inst: WorkflowInstance, err: ContinueAsNewError) -> None:
    """The main coroutine ended with ``err``: issue the command that closes the run."""
    inst.warn_unfinished_handlers()
    body = err.body
    if inst.interceptors:  # their header (a trace's context) becomes the next run's start header
        body = dict(body)
        inst.note_call(CallKind.CONTINUE_AS_NEW, body.get("workflow_type") or inst.definition.name, None, body)
    inst._add_command(body, (_CMD,))


EVENTS: dict[str, EventHandler] = {}

COMMAND_EVENTS = (
    CommandEvent(EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW.value, _CMD, lambda _: (_CMD,), closes=True),
)
