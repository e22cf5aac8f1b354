"""Async activity completion: an activity attempt heartbeated, completed, failed or reported cancelled
from outside its worker (a client, the CLI), named by its task token or by workflow and activity id.

The attempt's worker let go of it (``ActivityTasks.release``, after ``activity.raise_complete_async()``),
so no session holds it and the report is taken from whoever makes it; a token is still checked for
being this server's, for this namespace, and for the attempt that is current. What the report does is
``ActivityTasks``' (the same as a worker's report), under the same transition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...api.activity_completion import (
    ActivityTarget,
    CompleteActivityRequest,
    FailActivityRequest,
    HeartbeatActivityRequest,
    ReportActivityCancellationRequest,
)
from ...api.enums import ActivityState
from ...errors import InvalidArgumentError, NotFoundError
from .._execution import Execution
from .._state import ActivityInfo

if TYPE_CHECKING:
    from .._core import EngineCore
    from .activity_tasks import ActivityTasks

__all__ = ["AsyncCompletion"]


class AsyncCompletion:
    """Reports on activity attempts from outside their workers."""

    def __init__(self, core: EngineCore, tasks: ActivityTasks) -> None:
        self.core = core
        self.tasks = tasks

    async def _target(self, namespace: str, req: ActivityTarget) -> tuple[Execution, Callable[[], ActivityInfo]]:
        """The run, and what finds the named attempt in it once its lock is held (refusing a stale one)."""
        core = self.core
        if req.task_token is not None:
            ex, sched_id, attempt, token_session = await self.tasks._current(namespace, req.task_token)
            return ex, lambda: self.tasks._check(ex, sched_id, attempt, token_session, None)
        assert req.workflow_id is not None and req.activity_id is not None  # the model's validator
        workflow_id, activity_id = req.workflow_id, req.activity_id
        ex = await core._execution(namespace, workflow_id, req.run_id, action="reported on")
        run_id = ex.record.run_id

        def find() -> ActivityInfo:
            sched_id = ex.state.activity_ids.get(activity_id) if ex.running else None
            act = ex.state.activities.get(sched_id) if sched_id is not None else None
            if act is None:
                raise NotFoundError(
                    f"workflow {workflow_id!r} (run {run_id}) has no pending activity {activity_id!r}"
                    + ("" if ex.running else f": the run is {ex.record.status.value}"),
                    code="activity_not_found",
                    details={"workflow_id": workflow_id, "run_id": run_id, "activity_id": activity_id},
                )
            if act.state is not ActivityState.STARTED:
                waiting = "between retries" if act.state is ActivityState.BACKOFF else "for a worker"
                raise InvalidArgumentError(
                    f"activity {activity_id!r} of workflow {workflow_id!r} has no attempt running now (it is "
                    f"{act.state.value}: waiting {waiting}); report on it once a worker started it",
                    code="activity_not_started",
                    details={"workflow_id": workflow_id, "run_id": run_id, "activity_id": activity_id},
                )
            return act

        return ex, find

    async def complete(self, namespace: str, req: CompleteActivityRequest) -> dict[str, Any]:
        self.core._check_payload("the activity result", req.result)
        ex, find = await self._target(namespace, req)
        async with self.core.transition(ex) as t:
            await self.tasks.completed(t, find(), req.result)
        return {"accepted": True}

    async def fail(self, namespace: str, req: FailActivityRequest) -> dict[str, Any]:
        failure = req.failure.model_dump(exclude_none=True)
        self.core._check_payload("the activity failure", failure)
        ex, find = await self._target(namespace, req)
        async with self.core.transition(ex) as t:
            self.tasks.failed(t, find(), failure)
        return {"accepted": True}

    async def heartbeat(self, namespace: str, req: HeartbeatActivityRequest) -> dict[str, Any]:
        self.core._check_payload("the heartbeat details", req.details)
        ex, find = await self._target(namespace, req)
        async with self.core.transition(ex) as t:
            return self.tasks.beat(t, find(), req.details)

    async def report_cancellation(self, namespace: str, req: ReportActivityCancellationRequest) -> dict[str, Any]:
        """The attempt stopped because the workflow cancelled the activity: it ends cancelled."""
        self.core._check_payload("the cancellation details", req.details)
        ex, find = await self._target(namespace, req)
        async with self.core.transition(ex) as t:
            act = find()
            if not act.cancel_requested:
                raise InvalidArgumentError(
                    f"the workflow did not ask to cancel activity {act.activity_id!r}: complete it or fail it "
                    "instead (a cancellation is reported once a heartbeat answers cancel_requested)",
                    code="not_cancel_requested",
                )
            self.tasks.canceled(t, act, req.details)
        return {"accepted": True}
