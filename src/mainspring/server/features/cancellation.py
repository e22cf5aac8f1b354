"""Ending a run from outside: a cancellation request (the workflow's code sees it at its next workflow
task, and decides how to end) and termination (the run ends at once; no more of its code runs)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ...api import models as m
from ...api.enums import EventType, WorkflowStatus
from .._execution import iso, terminated_failure
from .._logs import about

if TYPE_CHECKING:
    from .._core import EngineCore

__all__ = ["Cancellation"]

log = logging.getLogger("mainspring.server")


class Cancellation:
    """The cancel and terminate operations of one engine."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core

    async def request_cancel(self, namespace: str, req: m.CancelWorkflowRequest, identity: str) -> dict[str, Any]:
        """Record a cancellation request; the workflow's code sees it at its next workflow task."""
        core = self.core
        ex = await core._execution(namespace, req.workflow_id, req.run_id, action="cancelled")
        async with core.transition(ex) as t:
            core._check_running(ex, "cancelled")
            rec = ex.record
            st = ex.state
            answer = {"accepted": True, "workflow_id": rec.workflow_id, "run_id": rec.run_id}
            if st.cancel_request is not None:
                return {**answer, "already_requested": True}
            e = t.append(EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED, {"reason": req.reason, "identity": identity})
            st.cancel_request = {"event_id": e.event_id, "time": iso(t.now), "reason": req.reason, "identity": identity}
            t.wake()
        log.info(
            "cancellation of workflow %s (run %s) requested by %s",
            rec.workflow_id,
            rec.run_id,
            identity,
            extra=about(rec),
        )
        return {**answer, "already_requested": False}

    async def terminate(self, namespace: str, req: m.TerminateWorkflowRequest, identity: str) -> dict[str, Any]:
        """End a run at once: no more of its code runs; its pending work is dropped."""
        core = self.core
        ex = await core._execution(namespace, req.workflow_id, req.run_id, action="terminated", even_set_aside=True)
        async with core.transition(ex) as t:
            core._check_running(ex, "terminated")
            rec = ex.record
            # Not append: a workflow task that is out will never complete, so its Started event is
            # not written (its reserved id goes to this event, and the worker's answer is refused).
            t.append_raw(EventType.WORKFLOW_EXECUTION_TERMINATED, {"reason": req.reason, "identity": identity})
            ex.state.outcome = (None, terminated_failure(req.reason))
            t.close(WorkflowStatus.TERMINATED)
            t.then(self._not_set_aside, rec.run_id)
        log.info("workflow %s (run %s) terminated by %s", rec.workflow_id, rec.run_id, identity, extra=about(rec))
        return {"accepted": True, "workflow_id": rec.workflow_id, "run_id": rec.run_id}

    def _not_set_aside(self, run_id: str) -> None:
        """A set-aside run that was terminated is closed: it is described as any other closed run."""
        self.core.set_aside.pop(run_id, None)
