"""``client.get_async_activity_handle(...)``: finish an activity that called ``activity.raise_complete_async()``.

The handle names one activity attempt, by its task token (``activity.info().task_token``, handed by the
activity to whatever does the work) or by its workflow id, activity id and optionally run id (the
attempt current when each call arrives). Each call is one HTTP request to the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..converter import PayloadError, encode
from ..errors import CancelledError, InvalidArgumentError
from ..workflow._lifecycle import failure_payload

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["AsyncActivityHandle"]


class AsyncActivityHandle:
    """Heartbeat, complete, fail or report cancelled one activity attempt from outside its worker.

    The server checks each call: a task token that is not its own (altered, or of another namespace)
    or whose attempt is no longer current (it timed out and was retried, or the workflow closed) is
    refused with ``NotFoundError`` (code ``task_not_found``), as is an activity id the run does not have
    pending (``activity_not_found``).
    """

    def __init__(
        self,
        client: Client,
        *,
        task_token: str | None = None,
        workflow_id: str | None = None,
        run_id: str | None = None,
        activity_id: str | None = None,
    ) -> None:
        if task_token is not None:
            if workflow_id is not None or run_id is not None or activity_id is not None:
                raise TypeError(
                    "get_async_activity_handle(): pass task_token, or workflow_id and activity_id, not both"
                )
            self._target: dict[str, Any] = {"task_token": task_token}
        elif workflow_id is None or activity_id is None:
            raise TypeError(
                "get_async_activity_handle() needs task_token=..., or workflow_id=... and activity_id=... "
                "(and optionally run_id=...)"
            )
        else:
            self._target = {"workflow_id": workflow_id, "run_id": run_id, "activity_id": activity_id}
        self._client = client
        self.task_token = task_token
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.activity_id = activity_id

    async def _post(self, action: str, **body: Any) -> Any:
        # A heartbeat may go again to another server after a failover; an outcome may not (a repeat of
        # one recorded is refused, so the caller hears that its outcome is unknown instead).
        return await self._client._call(
            "POST", f"/activities/{action}", body={**self._target, **body}, repeatable=action == "heartbeat"
        )

    @staticmethod
    def _encode(what: str, value: Any) -> Any:
        try:
            return encode(value)
        except PayloadError as e:
            raise InvalidArgumentError(f"the {what} cannot be sent: {e}") from None

    async def heartbeat(self, details: Any = None) -> None:
        """Record that the work goes on (required every ``heartbeat_timeout``, when the activity has one),
        with optional progress ``details``. Raises ``mainspring.CancelledError`` once the workflow
        cancelled the activity: stop, and call ``report_cancellation()``."""
        answer = await self._post("heartbeat", details=self._encode("heartbeat details", details))
        if isinstance(answer, dict) and answer.get("cancel_requested"):
            raise CancelledError("the workflow cancelled this activity: stop it and call report_cancellation()")

    async def complete(self, result: Any = None) -> None:
        """The activity succeeded with ``result`` (any value with a JSON form, as an activity returns)."""
        await self._post("complete", result=self._encode("activity result", result))

    async def fail(self, error: BaseException) -> None:
        """The attempt failed with ``error`` (an ``ApplicationError`` keeps its type, details,
        ``non_retryable`` and ``next_retry_delay``); the activity is retried per its retry policy."""
        await self._post("fail", failure=failure_payload(error, with_stack=False))

    async def report_cancellation(self, details: Any = None) -> None:
        """The work stopped because the workflow cancelled the activity: it ends cancelled."""
        await self._post("report-cancellation", details=self._encode("cancellation details", details))
