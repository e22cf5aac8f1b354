"""Updates from the client's side: send one and wait for a stage, and the handle that waits for its outcome."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..api.enums import UpdateStage
from ..converter import PayloadError, decode
from ..errors import WorkflowUpdateFailedError, failure_from_dict

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["WorkflowUpdateHandle", "WorkflowUpdateStage"]

R = TypeVar("R")

#: How far an update must get before ``start_update`` returns (Temporal's name).
WorkflowUpdateStage = UpdateStage

_ORDER = {UpdateStage.ADMITTED: 0, UpdateStage.ACCEPTED: 1, UpdateStage.COMPLETED: 2}


class WorkflowUpdateHandle(Generic[R]):
    """An update sent to a workflow: ``await handle.result()`` waits for its outcome (it can be made again, for
    an update sent earlier, with ``WorkflowHandle.get_update_handle(id)``)."""

    def __init__(
        self,
        client: Client,
        workflow_id: str,
        run_id: str | None,
        update_id: str,
        result_type: Any = None,
        *,
        request: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self.workflow_run_id = run_id
        self.id = update_id
        self._result_type = result_type
        #: The request that sent it, when this handle did: sent again if the server lost it (a restart
        #: before the workflow accepted it), which is safe, as an update id is applied once.
        self._request = request
        self._known: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"WorkflowUpdateHandle(workflow_id={self.workflow_id!r}, id={self.id!r})"

    async def result(self, *, timeout: float | None = None) -> R:
        """Wait for the update's outcome: its handler's result; ``WorkflowUpdateFailedError`` if it was rejected,
        its handler failed, or the workflow closed first; ``TimeoutError`` after ``timeout`` seconds."""
        answer = await wait_for(self, UpdateStage.COMPLETED, timeout)
        value: R = outcome(answer, self._result_type)
        return value


async def send(client: Client, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    from ._retry import retrying as _retrying

    async def call() -> Any:
        data = await client._channel_call("update_workflow", body, timeout)
        if data is NotImplemented:
            data = await client._call("POST", "/workflows/update", body=body, timeout=timeout)
        return data

    data: dict[str, Any] = await _retrying(call)
    return data


async def wait_for(handle: WorkflowUpdateHandle[Any], stage: UpdateStage, timeout: float | None) -> dict[str, Any]:
    """Ask (again) until the update reaches ``stage``; the server's answer. The server answers as soon as the
    stage is reached, or after a long-poll's wait with the stage as it is."""
    import time

    from ._retry import retrying as _retrying

    client = handle.client
    deadline = None if timeout is None else time.monotonic() + timeout
    answer = handle._known
    while answer is None or _ORDER[UpdateStage(answer["stage"])] < _ORDER[stage]:
        if deadline is not None and answer is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"update {handle.id!r} did not reach {stage.value} within {timeout}s")
        wait = 30.0 if deadline is None else max(0.0, min(30.0, deadline - time.monotonic()))
        if handle._request is not None:
            answer = await send(client, {**handle._request, "wait_for_stage": stage.value, "wait": wait}, wait + 10)
        else:
            body = {
                "workflow_id": handle.workflow_id,
                "run_id": handle.workflow_run_id,
                "update_id": handle.id,
                "wait_for_stage": stage.value,
                "wait": wait,
            }
            answer = await _retrying(functools.partial(_poll, client, body, wait + 10))
        handle._known = answer
        if handle.workflow_run_id is None:
            handle.workflow_run_id = answer.get("run_id")
    return answer


async def _poll(client: Client, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    data = await client._channel_call("poll_workflow_update", body, timeout)
    if data is NotImplemented:
        data = await client._call("POST", "/workflows/update/poll", body=body, timeout=timeout)
    answer: dict[str, Any] = data
    return answer


def outcome(answer: dict[str, Any], result_type: Any) -> Any:
    """The result of a completed update's answer, or its failure raised as ``WorkflowUpdateFailedError``."""
    failure = answer.get("failure")
    if failure:
        cause = failure_from_dict(failure)
        what = "was rejected" if answer.get("rejected") else "failed"
        raise WorkflowUpdateFailedError(
            f"update {answer['update_id']!r} of workflow {answer['workflow_id']!r} {what}: {cause.message}",
            cause=cause,
            rejected=bool(answer.get("rejected")),
        )
    try:
        return decode(answer.get("result"), result_type)
    except PayloadError as e:
        raise PayloadError(f"the update's result does not fit the expected type: {e}") from None
