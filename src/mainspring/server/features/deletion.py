"""Deleting a run: its row, its history and its pending items go from the store, as Temporal's
DeleteWorkflowExecution. A running run is terminated first (``Cancellation.terminate``, recorded in its
history like any termination), then deleted: a run is never deleted while its code could still change it.

The delete is made under the run's lock, after every write of it submitted so far is done, and the run is then
dropped from the execution cache: whatever still refers to it (a timer, a task in a queue, a worker's report)
loads it from the store, finds nothing, and does nothing. The workflow id's newest remaining run, if any,
becomes its current one (so its id policies see that run next; see ``Store.delete_execution``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import WorkflowStatus
from ...errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from .._core import EngineCore
    from .cancellation import Cancellation

__all__ = ["Deletion"]

log = logging.getLogger("mainspring.server")


class Deletion:
    """The delete operation of one engine."""

    def __init__(self, core: EngineCore, cancellation: Cancellation) -> None:
        self.core = core
        self.cancellation = cancellation
        core.features[Deletion] = self

    async def delete(self, namespace: str, req: m.DeleteWorkflowRequest, identity: str) -> dict[str, Any]:
        """Delete the run (the workflow id's newest when ``run_id`` is omitted), terminating it first if it runs."""
        core = self.core
        rec = await core._find(namespace, req.workflow_id, req.run_id)
        terminated = False
        if rec.status is WorkflowStatus.RUNNING:
            reason = req.reason or "deleted"
            try:
                await self.cancellation.terminate(
                    namespace,
                    m.TerminateWorkflowRequest(
                        workflow_id=req.workflow_id, run_id=rec.run_id, reason=reason, identity=identity
                    ),
                    identity,
                )
                terminated = True
            except InvalidArgumentError as e:
                if e.code != "not_running":
                    raise  # it closed meanwhile: deleted as it is
        run_id = rec.run_id
        ex = await core._load(run_id)
        if ex is None:  # not in memory and not loadable (set aside): deleted from the store alone
            deleted = await core.store.delete_execution(run_id)
        else:
            async with ex.lock:
                await core._written(ex)
                deleted = await core.store.delete_execution(run_id)
                core._cache.pop(run_id, None)
        core.set_aside.pop(run_id, None)
        if not deleted:
            raise NotFoundError(
                f"workflow {req.workflow_id!r} run {run_id} not found in namespace {namespace!r}", code="not_found"
            )
        log.info(
            "workflow %s (run %s) deleted by %s",
            req.workflow_id,
            run_id,
            identity,
            extra={"namespace": namespace, "workflow_id": req.workflow_id, "run_id": run_id},
        )
        return {"workflow_id": req.workflow_id, "run_id": run_id, "terminated": terminated}
