"""The workflow id policies of a start: may it make a new run of its workflow id, given the id's runs?

Two policies, Temporal's (``api.enums``): ``id_conflict_policy`` decides when a run of the id is running (FAIL,
USE_EXISTING, TERMINATE_EXISTING), ``id_reuse_policy`` when the id's newest run has closed (ALLOW_DUPLICATE,
ALLOW_DUPLICATE_FAILED_ONLY, REJECT_DUPLICATE; TERMINATE_IF_RUNNING is Temporal's older spelling of
ALLOW_DUPLICATE with TERMINATE_EXISTING).

A start with the defaults (ALLOW_DUPLICATE, FAIL) costs nothing here: the store refuses the creation if a run
of the id is running, as it always has. Any other start reads the id's newest run first, decides, and then
creates its run on the condition that the id's newest run is still the one it decided on
(``ExecutionWrite.if_current``): a start or a delete in between refuses the creation, and it decides again.

Terminating the running run (TERMINATE_EXISTING) is a termination like any other (``Cancellation.terminate``,
its reason naming the new start), committed before the new run is created: two writes, so a server that
stops between them leaves the old run terminated and no new one (the client's retry of the start, with its
request id, then makes it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ...api import models as m
from ...api.enums import WorkflowIDConflictPolicy, WorkflowIDReusePolicy, WorkflowStatus
from ...errors import AlreadyStartedError, InvalidArgumentError, NotFoundError
from ...storage import ConditionFailedError
from .._logs import about

if TYPE_CHECKING:
    from ...storage import ExecutionRecord
    from .._core import EngineCore
    from .._transition import Transition
    from .cancellation import Cancellation

__all__ = ["REFUSED_BY", "StartPolicies", "conflict_policy", "refused_running"]

log = logging.getLogger("mainspring.server")

#: ``AlreadyStartedError.details["refused_by"]``: which policy refused a start.
REFUSED_BY = "refused_by"
#: How many times a start decides again after losing a race (each needs another start or a delete of the
#: same id in between; more than a few in a row is an id started in a loop).
_ATTEMPTS = 4
#: The outcomes ALLOW_DUPLICATE_FAILED_ONLY lets a new run follow (Temporal's: not a success).
_FAILED = frozenset(
    {WorkflowStatus.FAILED, WorkflowStatus.CANCELED, WorkflowStatus.TERMINATED, WorkflowStatus.TIMED_OUT}
)

#: Creates the run: ``(namespace, request, also, if_current) -> (run id, created)`` (``Engine._create``).
Create = Callable[
    [str, m.StartWorkflowRequest, "Callable[[Transition], None] | None", "str | None"], Awaitable[tuple[str, bool]]
]


def conflict_policy(req: m.StartWorkflowRequest) -> WorkflowIDConflictPolicy:
    """The conflict policy a start asks for, with its default; InvalidArgumentError for a pair that says two
    things (TERMINATE_IF_RUNNING with another conflict policy than TERMINATE_EXISTING)."""
    given = req.id_conflict_policy
    if req.id_reuse_policy is WorkflowIDReusePolicy.TERMINATE_IF_RUNNING:
        if given is not None and given is not WorkflowIDConflictPolicy.TERMINATE_EXISTING:
            raise InvalidArgumentError(
                f"id_reuse_policy TERMINATE_IF_RUNNING already says what to do with a running run (terminate it), "
                f"and id_conflict_policy {given.value} says otherwise: give one of them (TERMINATE_IF_RUNNING is "
                "ALLOW_DUPLICATE with TERMINATE_EXISTING)",
                code="invalid_argument",
            )
        return WorkflowIDConflictPolicy.TERMINATE_EXISTING
    return given or WorkflowIDConflictPolicy.FAIL


def refused_running(workflow_id: str, run_id: str) -> AlreadyStartedError:
    """The refusal of a start whose workflow id has a running run (id_conflict_policy FAIL)."""
    return AlreadyStartedError(
        f"workflow {workflow_id!r} is already running (run id {run_id}); id_conflict_policy FAIL (the default) "
        "refuses a second run: pass id_conflict_policy USE_EXISTING to get the running run, or TERMINATE_EXISTING "
        "to terminate it and start a new one",
        code="already_started",
        details={"run_id": run_id, REFUSED_BY: "id_conflict_policy"},
    )


def _refused_closed(req: m.StartWorkflowRequest, rec: ExecutionRecord) -> AlreadyStartedError:
    policy = req.id_reuse_policy
    if policy is WorkflowIDReusePolicy.REJECT_DUPLICATE:
        why = "id_reuse_policy REJECT_DUPLICATE never starts a second run of a workflow id"
    else:
        why = (
            f"id_reuse_policy ALLOW_DUPLICATE_FAILED_ONLY starts a new run only after one that did not complete "
            f"successfully, and it is {rec.status.value}"
        )
    return AlreadyStartedError(
        f"workflow {req.workflow_id!r} already ran (run id {rec.run_id}, {rec.status.value}); {why}: pass "
        "id_reuse_policy ALLOW_DUPLICATE to start it again, or use another workflow id",
        code="already_started",
        details={"run_id": rec.run_id, "status": rec.status.value, REFUSED_BY: "id_reuse_policy"},
    )


class StartPolicies:
    """How the engine's starts apply the id policies (``start``), around the creation of the run."""

    def __init__(self, core: EngineCore, cancellation: Cancellation) -> None:
        self.core = core
        self.cancellation = cancellation
        core.features[StartPolicies] = self

    async def start(
        self,
        namespace: str,
        req: m.StartWorkflowRequest,
        also: Callable[[Transition], None] | None,
        create: Create,
    ) -> tuple[str, bool]:
        """Start the run ``req`` asks for as its policies allow: (run id, created). ``created`` is False for a
        start of this request id made before, and for the running run USE_EXISTING took."""
        conflict = conflict_policy(req)
        if req.id_reuse_policy is WorkflowIDReusePolicy.ALLOW_DUPLICATE and conflict is WorkflowIDConflictPolicy.FAIL:
            return await create(namespace, req, also, None)  # the store's own check is the policy
        for _ in range(_ATTEMPTS):
            rec = await self._newest(namespace, req.workflow_id)
            if rec is None:
                current = ""
            elif req.request_id is not None and rec.request_id == req.request_id:
                return rec.run_id, False  # this start, made before (a retry)
            elif rec.status is WorkflowStatus.RUNNING:
                if conflict is WorkflowIDConflictPolicy.FAIL:
                    raise refused_running(req.workflow_id, rec.run_id)
                if conflict is WorkflowIDConflictPolicy.USE_EXISTING:
                    return rec.run_id, False
                await self._terminate(namespace, req, rec)
                current = rec.run_id
            elif req.id_reuse_policy is WorkflowIDReusePolicy.REJECT_DUPLICATE or (
                req.id_reuse_policy is WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY and rec.status not in _FAILED
            ):
                raise _refused_closed(req, rec)
            else:
                current = rec.run_id
            try:
                return await create(namespace, req, also, current)
            except ConditionFailedError:
                continue  # another start (or a delete) of the id came in between: decide again
        raise AlreadyStartedError(
            f"runs of workflow {req.workflow_id!r} kept being started while this start decided whether it may "
            "make one: retry it (with the same request_id)",
            code="already_started",
            details={REFUSED_BY: "race"},
        )

    async def _newest(self, namespace: str, workflow_id: str) -> ExecutionRecord | None:
        """The workflow id's newest run, as the engine knows it (a cached run may be ahead of the store)."""
        try:
            return await self.core._find(namespace, workflow_id, None)
        except NotFoundError:
            return None

    async def _terminate(self, namespace: str, req: m.StartWorkflowRequest, rec: ExecutionRecord) -> None:
        why = "id_conflict_policy TERMINATE_EXISTING"
        if req.id_reuse_policy is WorkflowIDReusePolicy.TERMINATE_IF_RUNNING:
            why = "id_reuse_policy TERMINATE_IF_RUNNING"
        reason = f"terminated by a new start of workflow {req.workflow_id!r} ({why})"
        if req.request_id is not None:
            reason += f", request id {req.request_id}"
        try:
            await self.cancellation.terminate(
                namespace,
                m.TerminateWorkflowRequest(workflow_id=req.workflow_id, run_id=rec.run_id, reason=reason),
                "mainspring (a new start of the workflow id)",
            )
        except InvalidArgumentError as e:
            if e.code != "not_running":
                raise
            # It closed meanwhile: nothing to terminate, and the creation's condition still holds.
        log.info(
            "workflow %s (run %s) terminated to start a new run (%s)",
            req.workflow_id,
            rec.run_id,
            why,
            extra=about(rec),
        )
