"""Updates: a message a running workflow validates, accepts or rejects, handles, and answers.

1. **Admitted.** ``update`` keeps the request in memory (``ExecutionState.requested_updates``) and sees
   that a workflow task will carry it: the one scheduled, else a *speculative* one (``WorkflowTaskInfo.
   speculative``), made without writing anything. A request that finds the update id known answers as
   that update stands: an update id is applied once.
2. **Accepted or rejected.** The worker runs the validator at the task's start. A rejection comes back
   with the task's completion (``rejected_updates``) and is written nowhere; a speculative task that
   ends with no command is dropped whole, its Scheduled and Started events too, so a rejected update
   leaves no trace in history. An acceptance is an AcceptUpdate command: WorkflowExecutionUpdateAccepted,
   and the update becomes a pending item of the run (``UpdateItem``), so it survives a restart.
3. **Completed.** The handler's outcome is a CompleteUpdate command: WorkflowExecutionUpdateCompleted,
   which is where the outcome is stored; the item notes its event id, so the outcome can be read again
   by update id, after a server restart too.

Callers wait for a stage (``wait_for_stage``) on futures answered once each stage is durable. Admitted
updates live in memory only: if the server restarts first, the caller's repeated request (same update
id) admits it again. The exception is an update a reset reapplied (``features.reset``), which no caller will
send again: it is an item of the new run until the workflow accepts or rejects it.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ...api import messages as msg
from ...api import models as m
from ...api.enums import CommandType, EventType, UpdateStage
from ...errors import InvalidArgumentError, NotFoundError
from .._state import RequestedUpdate, UpdateItem, WorkflowTaskInfo
from .kinds import CommandCheck, CommandKind

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._execution import Execution
    from .._transition import Transition
    from .signals import HandlerSchemas

__all__ = ["KINDS", "Updates"]

log = logging.getLogger("mainspring.server")

_ORDER = {UpdateStage.ADMITTED: 0, UpdateStage.ACCEPTED: 1, UpdateStage.COMPLETED: 2}
#: Rejections are remembered (in memory) for callers that come back for them: at most this many.
_REJECTIONS_KEPT = 10_000


def _closed_failure() -> dict[str, Any]:
    return {"message": "the workflow closed before the update completed", "type": "WorkflowClosed", "kind": "server"}


class Updates:
    """The update operations, command kinds and task hooks of one engine."""

    def __init__(self, core: EngineCore, schemas: HandlerSchemas) -> None:
        self.core = core
        self.schemas = schemas
        #: (run id, update id) -> callers waiting for its next stage.
        self._waiters: dict[tuple[str, str], list[asyncio.Future[None]]] = {}
        #: (run id, update id) -> the failure of a rejected update, for callers that come back for it.
        self._rejections: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        core.on_finish(self._finish)
        core.on_close(self._closing)
        core.features[Updates] = self  # for the command kinds below, which tell it of each update's progress

    # --- the operations -----------------------------------------------------------------------------------

    async def update(self, namespace: str, req: msg.UpdateWorkflowRequest, identity: str) -> dict[str, Any]:
        """Admit the update (unless its id is known), then wait for ``req.wait_for_stage`` (at most ``wait``)."""
        core = self.core
        core._check_payload(f"the payload of update {req.name!r}", req.input)
        if req.header is not None:
            core._check_payload("the header", req.header)
        ex = await core._execution(namespace, req.workflow_id, req.run_id, action="updated")
        rec = ex.record
        if self._known(ex, req.update_id) is None and not ex.running:
            # The run may have closed in a transition still being written: its history is read after it.
            async with ex.lock:
                await core._written(ex)
        if self._known(ex, req.update_id) is None:
            if not ex.running and await self._find_completed(rec.run_id, rec.next_event_id - 1, req.update_id):
                # Sent again (a client waiting for its result) after the run completed it and closed: a
                # closed run keeps no items, its history has the outcome.
                return await self._wait(ex, req.update_id, req.wait_for_stage, req.wait)
            core._check_running(ex, "updated")
            await self.schemas.check(namespace, rec.task_queue, rec.workflow_type, "update", req.name, req.input)
            await self._check_name(namespace, rec.task_queue, rec.workflow_type, req.name)
            async with core.transition(ex) as t:
                if self._known(ex, req.update_id) is None:
                    core._check_running(ex, "updated")
                    ex.state.requested_updates[req.update_id] = RequestedUpdate(req.name, req.input, header=req.header)
                    log.debug("update %r (%s) of %s admitted", req.name, req.update_id, rec.workflow_id)
                    self._speculate(t)
        return await self._wait(ex, req.update_id, req.wait_for_stage, req.wait)

    async def poll(self, namespace: str, req: msg.PollWorkflowUpdateRequest) -> dict[str, Any]:
        """An update's stage (and outcome, once completed), waiting up to ``wait`` for ``wait_for_stage``."""
        ex = await self.core._execution(namespace, req.workflow_id, req.run_id, action="polled", even_set_aside=True)
        return await self._wait(ex, req.update_id, req.wait_for_stage, req.wait)

    async def _check_name(self, namespace: str, task_queue: str, workflow_type: str, name: str) -> None:
        table = await self.schemas.of(namespace, task_queue, workflow_type)
        if table is None or ("update", name) in table or ("update", None) in table:
            return
        known = sorted(n for k, n in table if k == "update" and n is not None)
        close = difflib.get_close_matches(name, known, n=1)
        listed = ", ".join(repr(n) for n in known[:20]) if known else "none"
        guess = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidArgumentError(
            f"workflow {workflow_type!r} has no update handler named {name!r} (its updates: {listed}).{guess}",
            code="unknown_update",
            details={"known": known},
        )

    # --- answering -----------------------------------------------------------------------------------------

    def _known(self, ex: Execution, update_id: str) -> UpdateStage | None:
        st = ex.state
        item = st.updates.get(update_id)
        if item is not None:
            return UpdateStage.COMPLETED if item.completed_event_id else UpdateStage.ACCEPTED
        if update_id in st.requested_updates:
            return UpdateStage.ADMITTED
        if (ex.record.run_id, update_id) in self._rejections:
            return UpdateStage.COMPLETED
        return None

    async def _answer(self, ex: Execution, update_id: str) -> dict[str, Any]:
        """Where the update stands, as durably recorded (read under the run's lock, after its writes)."""
        core = self.core
        rec = ex.record
        async with ex.lock:
            await core._written(ex)
            stage = self._known(ex, update_id)
            item = ex.state.updates.get(update_id)
        answer: dict[str, Any] = {"update_id": update_id, "workflow_id": rec.workflow_id, "run_id": rec.run_id}
        rejection = self._rejections.get((rec.run_id, update_id))
        if rejection is not None:
            return {**answer, "stage": UpdateStage.COMPLETED, "rejected": True, "failure": rejection}
        completed_event = 0
        if item is not None:
            completed_event = item.completed_event_id
        elif stage is None and not ex.running:
            # A closed run keeps no items: its history says whether the update completed.
            completed_event = await self._find_completed(rec.run_id, rec.next_event_id - 1, update_id)
        if completed_event:
            events = await core.store.read_history(rec.run_id, completed_event, completed_event)
            attrs = events[0].attributes if events else {}
            if attrs.get("failure") is not None:
                return {**answer, "stage": UpdateStage.COMPLETED, "failure": attrs["failure"]}
            return {**answer, "stage": UpdateStage.COMPLETED, "result": attrs.get("result")}
        if stage is None:
            if not ex.running:
                return {**answer, "stage": UpdateStage.COMPLETED, "failure": _closed_failure()}
            raise NotFoundError(
                f"workflow {rec.workflow_id!r} (run {rec.run_id}) has no update {update_id!r}: it was never sent, "
                "or the server restarted before the workflow accepted it (send it again with the same id)",
                code="update_not_found",
            )
        return {**answer, "stage": stage}

    async def _find_completed(self, run_id: str, last: int, update_id: str) -> int:
        first = 1
        while first <= last:
            events = await self.core.store.read_history(run_id, first, min(last, first + 999))
            if not events:
                break
            for e in events:
                if e.event_type is EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED and (
                    e.attributes.get("update_id") == update_id
                ):
                    return e.event_id
            first = events[-1].event_id + 1
        return 0

    async def _wait(self, ex: Execution, update_id: str, wanted: UpdateStage, wait: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, self.core.config.max_poll_wait.total_seconds())
        key = (ex.record.run_id, update_id)
        while True:
            answer = await self._answer(ex, update_id)
            left = deadline - loop.time()
            if _ORDER[answer["stage"]] >= _ORDER[wanted] or left <= 0:
                return answer
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(key, []).append(fut)
            try:
                await asyncio.wait_for(fut, left)
            except TimeoutError:
                pass
            finally:
                waiters = self._waiters.get(key)
                if waiters is not None and fut in waiters:
                    waiters.remove(fut)
                    if not waiters:
                        del self._waiters[key]

    def _moved(self, run_id: str, update_id: str) -> None:
        """The update reached a new stage, durably: its waiters look again."""
        for fut in self._waiters.pop((run_id, update_id), ()):
            if not fut.done():
                fut.set_result(None)

    # --- workflow tasks -------------------------------------------------------------------------------------

    def _speculate(self, t: Transition) -> None:
        """Make sure a workflow task will carry the run's waiting updates: the one scheduled or out (whose
        completion comes back here), else a speculative one, which writes nothing until it completes."""
        ex = t.ex
        st = ex.state
        if st.wt is None and ex.running and st.requested_updates:
            st.wt = WorkflowTaskInfo(
                attempt=1, scheduled_time=t.now, speculative=True, speculative_from=ex.record.next_event_id
            )
            t.fx.offer_wt = True

    def _finish(self, t: Transition) -> None:
        if t.ex.state.requested_updates:
            self._speculate(t)

    def handed_out(self, ex: Execution, wt: WorkflowTaskInfo) -> list[dict[str, Any]]:
        """The updates a workflow task being handed out carries (noted on it)."""
        waiting = ex.state.requested_updates
        wt.update_ids = tuple(waiting)
        return [
            {"update_id": uid, "name": u.name, "input": u.input, **({"header": u.header} if u.header else {})}
            for uid, u in waiting.items()
        ]

    def answered(self, t: Transition, wt: WorkflowTaskInfo, rejected: list[m.RejectedUpdate]) -> None:
        """The task's completion: its rejections, and the updates it carried that it neither accepted nor
        rejected (a worker that does not know updates), which are rejected too."""
        st = t.ex.state
        run_id = t.ex.record.run_id
        refused = {r.update_id: r.failure.model_dump(exclude_none=True) for r in rejected}
        for uid in wt.update_ids:
            if uid in st.requested_updates and uid not in refused:
                refused[uid] = {
                    "message": "the worker did not handle the update (is it a version of Mainspring without updates?)",
                    "type": "UpdateNotHandled",
                    "kind": "server",
                }
        for uid, failure in refused.items():
            if st.drop_requested_update(uid) is None:
                continue
            self._rejections[(run_id, uid)] = failure
            while len(self._rejections) > _REJECTIONS_KEPT:
                self._rejections.popitem(last=False)
            t.then(self._moved, run_id, uid)

    @staticmethod
    def may_drop(ex: Execution, wt: WorkflowTaskInfo, req: m.CompleteWorkflowTaskRequest) -> bool:
        """Whether the completed task leaves nothing to write: a speculative task with no command, and no event
        appended since it was made (the worker, which evicts the run after such a task, saw nothing else)."""
        return (
            wt.speculative
            and not req.commands
            and not wt.started_written
            and ex.record.next_event_id == wt.speculative_from
        )

    # --- the run closing ------------------------------------------------------------------------------------

    def _closing(self, t: Transition) -> None:
        """Callers waiting on the run's updates look again once it closed (and learn it did)."""
        st = t.ex.state
        run_id = t.ex.record.run_id
        for uid in [*st.requested_updates, *(u for u, item in st.updates.items() if not item.completed_event_id)]:
            t.then(self._moved, run_id, uid)


# --- the commands -----------------------------------------------------------------------------------------


def _validate_accept(check: CommandCheck, cmd: m.AcceptUpdateCommand) -> str | None:
    if cmd.update_id in check.ex.state.updates or not check.claim("update", cmd.update_id):
        return f"update {cmd.update_id!r} was accepted already"
    return None


def _apply_accept(t: Transition, cmd: m.AcceptUpdateCommand, completed_id: int) -> None:
    st = t.ex.state
    e = t.append(
        EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        {
            "update_id": cmd.update_id,
            "name": cmd.name,
            "input": cmd.input,
            "workflow_task_completed_event_id": completed_id,
        },
    )
    st.drop_requested_update(cmd.update_id)
    st.updates[cmd.update_id] = UpdateItem(e.event_id)
    st.touch_update(cmd.update_id)
    t.then(t.core.feature(Updates)._moved, t.ex.record.run_id, cmd.update_id)


def _validate_complete(check: CommandCheck, cmd: m.CompleteUpdateCommand) -> str | None:
    item = check.ex.state.updates.get(cmd.update_id)
    accepted_now = cmd.update_id in check.claimed.get("update", ())
    if (item is None and not accepted_now) or (item is not None and item.completed_event_id):
        return f"update {cmd.update_id!r} is not an accepted update that has yet to complete"
    if not check.claim("update completed", cmd.update_id):
        return f"update {cmd.update_id!r} is completed twice"
    return None


def _apply_complete(t: Transition, cmd: m.CompleteUpdateCommand, completed_id: int) -> None:
    st = t.ex.state
    item = st.updates[cmd.update_id]
    attrs: dict[str, Any] = {"update_id": cmd.update_id, "accepted_event_id": item.accepted_event_id}
    if cmd.failure is not None:
        attrs["failure"] = cmd.failure.model_dump(exclude_none=True)
    else:
        attrs["result"] = cmd.result
    e = t.append(EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED, attrs)
    item.completed_event_id = e.event_id
    st.touch_update(cmd.update_id)
    t.then(t.core.feature(Updates)._moved, t.ex.record.run_id, cmd.update_id)


#: The update commands, registered in ``features.COMMAND_KINDS``.
KINDS: tuple[CommandKind[Any], ...] = (
    CommandKind(CommandType.ACCEPT_UPDATE, m.AcceptUpdateCommand, _validate_accept, _apply_accept),
    CommandKind(CommandType.COMPLETE_UPDATE, m.CompleteUpdateCommand, _validate_complete, _apply_complete),
)
