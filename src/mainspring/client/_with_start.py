"""Update-with-start: start a workflow unless one of its id runs, and send it an update, in one call.

``WithStartWorkflowOperation`` describes the start (Temporal's shape); ``Client.execute_update_with_start_workflow``
and ``start_update_with_start_workflow`` start the run (or, with ``WorkflowIDConflictPolicy.USE_EXISTING``, the
default here, take the one running; ``mainspring.WorkflowIDConflictPolicy``, shared with every start) and then
send the update to it. Both steps are idempotent (the start by its request id,
the update by its id), so repeating the whole call after a failure applies each once.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Unpack, overload

from ..api.enums import WorkflowIDConflictPolicy
from ..errors import AlreadyStartedError

if TYPE_CHECKING:
    from ..options import StartWorkflowOptions
    from ..workflow._handlers import RunMethod
    from ._client import Client, WorkflowHandle

__all__ = ["WithStartWorkflowOperation", "WorkflowIDConflictPolicy"]

S = TypeVar("S")
A = TypeVar("A")
R = TypeVar("R")


class WithStartWorkflowOperation(Generic[S, R]):
    """The workflow to start for ``execute_update_with_start_workflow``: a class workflow's ``run`` method, its
    input, and the start options (``id`` and ``task_queue`` required). After the call, ``await
    op.workflow_handle()`` is the handle of the run the update went to."""

    @overload
    def __init__(
        self: WithStartWorkflowOperation[S, R],
        workflow: RunMethod[S, [], R],
        /,
        **options: Unpack[StartWorkflowOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: WithStartWorkflowOperation[S, R],
        workflow: RunMethod[S, [A], R],
        arg: A,
        /,
        **options: Unpack[StartWorkflowOptions],
    ) -> None: ...

    def __init__(
        self,
        workflow: Any,
        arg: Any = None,
        /,
        **options: Any,
    ) -> None:
        # USE_EXISTING unless told otherwise: the update goes to the run of the id that is running.
        id_conflict_policy = options.pop("id_conflict_policy", None) or WorkflowIDConflictPolicy.USE_EXISTING
        if not isinstance(id_conflict_policy, WorkflowIDConflictPolicy):
            raise TypeError(f"id_conflict_policy must be a WorkflowIDConflictPolicy, not {id_conflict_policy!r}")
        self.workflow = workflow
        self.arg = arg
        self.id_conflict_policy = id_conflict_policy
        # One request id for every attempt of the call: a repeated start gets the run the first one started.
        self.options: dict[str, Any] = {
            "request_id": str(uuid.uuid4()),
            **options,
            "id_conflict_policy": id_conflict_policy,  # applied by the server (start_policies)
        }
        self._handle: asyncio.Future[WorkflowHandle[S, R]] | None = None
        #: The update's id, fixed by the first call this operation is passed to.
        self._update_id: str | None = None

    async def workflow_handle(self) -> WorkflowHandle[S, R]:
        """The handle of the run the update was sent to (waits for the call to have started or found it)."""
        if self._handle is None:
            raise RuntimeError("this operation has not been passed to execute_update_with_start_workflow yet")
        return await asyncio.shield(self._handle)

    async def _start(self, client: Client) -> WorkflowHandle[S, R]:
        """Start the run, or (USE_EXISTING) take the running one; the handle."""
        loop = asyncio.get_running_loop()
        if self._handle is None or (self._handle.done() and self._handle.exception() is not None):
            self._handle = loop.create_future()
        try:
            # USE_EXISTING answers the running run's id; TERMINATE_EXISTING a new run's (the server applies both).
            handle: WorkflowHandle[S, R] = await client.start_workflow(self.workflow, self.arg, **self.options)
        except AlreadyStartedError as e:
            if not self._handle.done():
                self._handle.set_exception(e)
                self._handle.exception()  # raised to the caller here: workflow_handle() raises it again
            raise
        if not self._handle.done():
            self._handle.set_result(handle)
        return handle
