"""Updates in workflow code: validate, accept or reject, run the handler, report its outcome.

A workflow task may carry updates (``WorkflowInstance.activate(..., updates=)``). At its start, before the
code runs on, each one's validator runs (read-only, like a query); a rejected update goes back to the
server as a rejection and leaves no trace in history; an accepted one becomes an AcceptUpdate command
(WorkflowExecutionUpdateAccepted) and its handler starts; when the handler returns or raises a
``FailureError``, a CompleteUpdate command records the outcome (WorkflowExecutionUpdateCompleted).

Replay: the updates a past workflow task accepted are the WorkflowExecutionUpdateAccepted events right
after its WorkflowTaskCompleted (their commands come first in the task), so at that task's start the
replay delivers them again, without their validators, and the commands match the events as any other.
Like signals, updates that come before a class's instance exists wait until ``_lifecycle`` made it.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..api.enums import CommandType, EventType
from ..converter import PayloadError, decode, encode
from ..errors import ApplicationError, FailureError
from ..interceptors import CallKind
from ._handlers import UPDATE, HandlerDefinition
from ._kinds import CommandEvent, EventHandler
from ._runtime_handlers import lookup, names

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["COMMAND_EVENTS", "EVENTS", "UpdateInfo", "current_update", "deliver", "deliver_early"]

log = logging.getLogger("mainspring.workflow")

_CMD_ACCEPT = CommandType.ACCEPT_UPDATE.value
_CMD_COMPLETE = CommandType.COMPLETE_UPDATE.value
EV_ACCEPTED = EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED.value
EV_COMPLETED = EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED.value


@dataclass(frozen=True)
class UpdateInfo:
    """The update a handler is running for (``ctx.current_update_info()``)."""

    id: str
    name: str


#: The update whose handler (or validator) is running in the current task, if any.
current_update: contextvars.ContextVar[UpdateInfo | None] = contextvars.ContextVar(
    "mainspring_current_update", default=None
)


def deliver(inst: WorkflowInstance, updates: list[dict[str, Any]], *, validate: bool) -> None:
    """Deliver updates at the start of a workflow task: live ones (``validate``) run their validators first;
    replayed ones were accepted already."""
    for u in updates:
        if inst.workflow_object is None and inst.definition.cls is not None and not inst.finished:
            inst._early_updates.append((u, validate))
        else:
            _admit(inst, u, validate)


def deliver_early(inst: WorkflowInstance) -> None:
    """Deliver the updates that came before the instance was made (called once it is, before ``run``)."""
    early = inst._early_updates
    inst._early_updates = []
    for u, validate in early:
        _admit(inst, u, validate)


def _reject(inst: WorkflowInstance, update_id: str, err: BaseException) -> None:
    from ._lifecycle import failure_payload

    if not isinstance(err, FailureError):
        err = ApplicationError(str(err) or type(err).__name__, type=type(err).__name__, non_retryable=True)
    inst._rejected_updates.append({"update_id": update_id, "failure": failure_payload(err, with_stack=False)})


def _admit(inst: WorkflowInstance, u: dict[str, Any], validate: bool) -> None:
    update_id: str = u["update_id"]
    name: str = u["name"]
    raw = u.get("input")
    d = inst.definition
    h = lookup(inst, UPDATE, name)
    if h is None or (inst.workflow_object is None and d.cls is not None):
        known = names(inst, UPDATE)
        listed = ", ".join(known) if known else "none"
        _reject(
            inst,
            update_id,
            ApplicationError(
                f"workflow {d.name!r} has no update named {name!r}; its updates: {listed}",
                type="UnknownUpdate",
                non_retryable=True,
            ),
        )
        return
    try:
        payload = _payload(h, name, raw)
    except ApplicationError as e:
        _reject(inst, update_id, e)
        return
    info = UpdateInfo(update_id, name)
    if inst.interceptors:  # (told live only: a replayed update's validator does not run, its handler's note is
        # dropped by ``note_call``)
        told = {"update_id": update_id}
        if validate and h.validator is not None:
            inst.note_call(CallKind.VALIDATE_UPDATE, name, u.get("header"), None, told)
    if validate and h.validator is not None:
        args: list[Any] = [inst.context] if h.validator_takes_context else []
        token = current_update.set(info)
        inst._querying = f"validator of update {name!r}"
        try:
            h.validator(inst.workflow_object, *args, *payload)
        except Exception as e:
            _reject(inst, update_id, e)
            return
        finally:
            inst._querying = None
            current_update.reset(token)
    inst._add_command(
        {"type": _CMD_ACCEPT, "update_id": update_id, "name": name, "input": raw}, (_CMD_ACCEPT, update_id)
    )
    if inst.interceptors:
        inst.note_call(CallKind.HANDLE_UPDATE, name, u.get("header"), None, {"update_id": update_id})
    _run(inst, h, info, payload)


def _payload(h: HandlerDefinition, name: str, raw: Any) -> list[Any]:
    if h.dynamic:
        return [name, raw]
    if not h.takes_input:
        return []
    try:
        return [decode(raw, h.input_type)]
    except PayloadError as e:
        raise ApplicationError(
            f"the payload of update {name!r} does not fit: {e}", type="InvalidInput", non_retryable=True
        ) from None


def _run(inst: WorkflowInstance, h: HandlerDefinition, info: UpdateInfo, payload: list[Any]) -> None:
    args: list[Any] = [inst.context] if h.takes_context else []
    args += payload
    obj = inst.workflow_object
    token = current_update.set(info)
    try:
        if not h.is_async:
            try:
                result = h.fn(obj, *args)
            except BaseException as e:
                # A FailureError, or one of the workflow's failure_exception_types: the update fails.
                if inst.is_failure(e):
                    _complete(inst, info, failure=e)
                elif inst._code_error is None:
                    inst._code_error = e
            else:
                _complete(inst, info, result=result)
            return
        inst.running_handlers += 1
        # The task copies the context as it is now: its code sees this update as the current one.
        task = inst.create_task(h.fn(obj, *args), name=f"update {info.name!r}")
    finally:
        current_update.reset(token)

    def done(t: Any) -> None:
        inst.running_handlers -= 1
        if t.cancelled():
            return
        err = t.exception()
        if err is None:
            _complete(inst, info, result=t.result())
        elif inst.is_failure(err):
            _complete(inst, info, failure=err)
        elif inst._code_error is None:
            inst._code_error = err

    task.add_done_callback(done)


def _complete(
    inst: WorkflowInstance, info: UpdateInfo, *, result: Any = None, failure: BaseException | None = None
) -> None:
    from ._lifecycle import failure_payload

    body: dict[str, Any] = {"type": _CMD_COMPLETE, "update_id": info.id}
    if failure is not None:
        body["failure"] = failure_payload(failure)
    else:
        try:
            body["result"] = encode(result)
        except PayloadError as e:
            if inst._code_error is None:
                inst._code_error = e
            return
    inst._add_command(body, (_CMD_COMPLETE, info.id))


EVENTS: dict[str, EventHandler] = {}

COMMAND_EVENTS = (
    CommandEvent(EV_ACCEPTED, _CMD_ACCEPT, lambda attrs: (_CMD_ACCEPT, attrs["update_id"])),
    CommandEvent(
        EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED.value,
        _CMD_COMPLETE,
        lambda attrs: (_CMD_COMPLETE, attrs["update_id"]),
    ),
)
