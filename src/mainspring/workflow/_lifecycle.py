"""A run's main coroutine: WorkflowExecutionStarted starts it, and how it ends becomes the command
that closes the workflow (CompleteWorkflow, FailWorkflow, or CancelWorkflow after a requested
cancellation).

Registered with the replay (``_features``): WorkflowExecutionStarted, and the closing events
(WorkflowExecutionCompleted, -Failed, -Canceled) as the closing commands' events.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .._validation import describe_input_error, schema_error
from ..api.enums import CommandType, EventType
from ..converter import PayloadError, decode, encode
from ..errors import ApplicationError, CancelledError, failure_to_dict
from ..interceptors import CallKind
from . import _continue_as_new, _search_attributes, _signals, _updates
from ._kinds import CommandEvent, EventHandler

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["COMMAND_EVENTS", "EVENTS", "fail_command", "failure_payload"]

_CMD_COMPLETE = CommandType.COMPLETE_WORKFLOW.value
_CMD_FAIL = CommandType.FAIL_WORKFLOW.value
_CMD_CANCEL = CommandType.CANCEL_WORKFLOW.value


def failure_payload(err: BaseException, *, with_stack: bool = True) -> dict[str, Any]:
    """The failure JSON of ``err``, with its details (and its causes') converted to JSON.

    Details may be dataclasses or pydantic models, as payloads may; details that cannot be converted
    are replaced by their ``repr`` rather than making the failure impossible to report.
    """
    failure = failure_to_dict(err, with_stack=with_stack)
    try:
        converted: dict[str, Any] = encode(failure)
        return converted
    except PayloadError:
        pass
    f: dict[str, Any] | None = failure
    while f is not None:
        if f.get("details"):
            f["details"] = [_json_or_repr(d) for d in f["details"]]
        if "last_heartbeat_details" in f:
            f["last_heartbeat_details"] = _json_or_repr(f["last_heartbeat_details"])
        f = f.get("cause")
    return failure


def fail_command(err: BaseException) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The FailWorkflow command (body and key) that closes the run with ``err``."""
    return {"type": _CMD_FAIL, "failure": failure_payload(err)}, (_CMD_FAIL,)


def _json_or_repr(value: Any) -> Any:
    try:
        return encode(value)
    except PayloadError:
        return repr(value)


def _started(inst: WorkflowInstance, ev: dict[str, Any]) -> None:
    raw_input = ev["attributes"].get("input")
    _search_attributes.started(inst, ev["attributes"])
    if inst.interceptors:
        inst.start_header = ev["attributes"].get("header")
    inst._main = inst.create_task(_run_main(inst, raw_input), name=f"workflow {inst.info.workflow_type}")


async def _run_main(inst: WorkflowInstance, raw_input: Any) -> None:
    d = inst.definition
    if inst.interceptors:  # told once: only the run's first workflow task runs this live
        inst.note_call(CallKind.RUN_WORKFLOW, d.name, inst.start_header, None)
    try:
        args: list[Any] = [inst.context]
        if d.takes_input:
            try:
                args.append(decode(raw_input, d.input_type))
            except PayloadError as e:
                schema = d.input_schema()
                problem = (schema_error(raw_input, schema) if schema else None) or str(e)
                raise ApplicationError(
                    describe_input_error(d.name, problem), type="InvalidInput", non_retryable=True
                ) from None
        elif raw_input is not None:
            raise ApplicationError(
                describe_input_error(d.name, schema_error(raw_input, {"type": "null"}) or ""),
                type="InvalidInput",
                non_retryable=True,
            )
        if d.cls is not None:
            # A class workflow: one instance per run, made here (its __init__ is workflow code, and runs
            # under the same rules), then the signals that came before it, then ``run``.
            cls: Any = d.cls
            obj = cls.__new__(cls)
            if d.init_takes_input:
                obj.__init__(*args[1:])
            else:
                obj.__init__()
            inst.workflow_object = obj
            _signals.deliver_early(inst)
            _updates.deliver_early(inst)
            result = await d.fn(obj, *args)
        else:
            result = await d.fn(*args)
    except (asyncio.CancelledError, CancelledError) as e:
        if inst.cancel_request is not None:
            # The code let the cancellation end it: the run closes as cancelled.
            inst._add_command({"type": _CMD_CANCEL, "details": None}, (_CMD_CANCEL,))
        else:
            # Cancelled by the workflow's own code, not by a request: that is a failure.
            err = e if isinstance(e, CancelledError) else CancelledError(str(e) or "the workflow was cancelled")
            inst._add_command({"type": _CMD_FAIL, "failure": failure_payload(err)}, (_CMD_FAIL,))
    except _continue_as_new.ContinueAsNewError as e:
        _continue_as_new.issue(inst, e)
    except BaseException as e:
        if inst.is_failure(e):  # a FailureError, or one of the workflow's failure_exception_types
            inst._add_command(*fail_command(e))
        else:
            inst._code_error = e
    else:
        try:
            payload = encode(result)
        except PayloadError as e:
            inst._code_error = e
            return
        inst.warn_unfinished_handlers()
        inst._add_command({"type": _CMD_COMPLETE, "result": payload}, (_CMD_COMPLETE,))
    finally:
        inst.finished = True


EVENTS: dict[str, EventHandler] = {EventType.WORKFLOW_EXECUTION_STARTED.value: _started}

COMMAND_EVENTS = (
    CommandEvent(EventType.WORKFLOW_EXECUTION_COMPLETED.value, _CMD_COMPLETE, lambda _: (_CMD_COMPLETE,), closes=True),
    CommandEvent(EventType.WORKFLOW_EXECUTION_FAILED.value, _CMD_FAIL, lambda _: (_CMD_FAIL,), closes=True),
    CommandEvent(EventType.WORKFLOW_EXECUTION_CANCELED.value, _CMD_CANCEL, lambda _: (_CMD_CANCEL,), closes=True),
)
