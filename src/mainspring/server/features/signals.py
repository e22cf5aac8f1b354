"""Signals: a message to a running workflow, recorded in its history (WorkflowExecutionSignaled) before the
sender is answered, and delivered to the workflow's handler at its next workflow task.

A signal's payload is checked against the schema its workflow's workers announced for the handler of that
name (``HandlerSchemas``), as a start's input is against the workflow's: the sender learns of a wrong field
at once instead of the workflow dropping the signal later. A name no handler has is recorded all the same
(the workflow may register one later, or have a dynamic handler). Each signal carries a request id, kept
with the run (a pending item of its own), so a retried call is recorded once.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from typing import TYPE_CHECKING, Any

from ..._validation import schema_error
from ...api import messages as msg
from ...api import models as m
from ...api.enums import EventType
from ...errors import InvalidArgumentError

if TYPE_CHECKING:
    from ...storage import HistoryEvent, Store
    from .._core import EngineCore
    from .._transition import Transition

__all__ = ["HandlerSchemas", "Signals", "record_signal"]

log = logging.getLogger("mainspring.server")


class HandlerSchemas:
    """The message handlers each workflow type's workers announced (kind, name, payload schema), by namespace,
    task queue and workflow type: kept in memory, and in the store for after a restart."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._known: dict[tuple[str, str, str], dict[tuple[str, str | None], dict[str, Any] | None] | None] = {}

    def announced(
        self, namespace: str, task_queue: str, workflow_type: str, handlers: list[m.HandlerInfo] | None
    ) -> bool:
        """A worker announced ``handlers`` for the type (None: it announces none, an older SDK's worker);
        whether that is news (to be stored)."""
        if handlers is None:
            return False
        key = (namespace, task_queue, workflow_type)
        table: dict[tuple[str, str | None], dict[str, Any] | None] = {
            (h.kind, h.name): h.input_schema for h in handlers
        }
        if self._known.get(key) == table:
            return False
        self._known[key] = table
        return True

    async def of(
        self, namespace: str, task_queue: str, workflow_type: str
    ) -> dict[tuple[str, str | None], dict[str, Any] | None] | None:
        """The handlers announced for the type, or None if no worker announced any."""
        key = (namespace, task_queue, workflow_type)
        if key not in self._known:
            stored = await self.store.get_workflow_handlers(namespace, task_queue, workflow_type)
            self._known[key] = (
                None if stored is None else {(h["kind"], h.get("name")): h.get("input_schema") for h in stored}
            )
        return self._known[key]

    async def names(self, namespace: str, task_queue: str, workflow_type: str, kind: str) -> list[str]:
        """The names of the handlers of ``kind`` announced for the type (sorted; the dynamic one aside)."""
        table = await self.of(namespace, task_queue, workflow_type) or {}
        return sorted(name for k, name in table if k == kind and name is not None)

    async def unknown_name_warning(
        self, namespace: str, task_queue: str, workflow_type: str, kind: str, name: str
    ) -> str | None:
        """A warning for a message to a handler name the type's workers did not announce (often a typo), naming
        the ones they did and the closest; None if it has a handler (or a dynamic one), or nothing was announced."""
        table = await self.of(namespace, task_queue, workflow_type)
        if table is None or (kind, name) in table or (kind, None) in table:
            return None
        known = sorted(n for k, n in table if k == kind and n is not None)
        close = difflib.get_close_matches(name, known, n=1)
        listed = ", ".join(repr(n) for n in known[:20]) if known else "none"
        guess = f" Did you mean {close[0]!r}?" if close else ""
        return f"workflow {workflow_type!r} has no {kind} handler named {name!r} (its {kind}s: {listed}).{guess}"

    async def check(
        self, namespace: str, task_queue: str, workflow_type: str, kind: str, name: str, payload: Any
    ) -> None:
        """Refuse ``payload`` for the ``kind`` handler ``name`` if it does not fit the schema announced for it
        (400 ``invalid_input``, naming the field). Nothing is checked for a name no handler announced."""
        table = await self.of(namespace, task_queue, workflow_type)
        if not table or (kind, name) not in table:
            return
        schema = table[(kind, name)]
        if schema is None:
            return
        problem = schema_error(payload, schema)
        if problem is not None:
            raise InvalidArgumentError(
                f"the payload of {kind} {name!r} of workflow {workflow_type!r} does not fit its handler: {problem}",
                code="invalid_input",
            )


class Signals:
    """The signal operation of one engine."""

    def __init__(self, core: EngineCore, schemas: HandlerSchemas) -> None:
        self.core = core
        self.schemas = schemas

    async def signal(self, namespace: str, req: msg.SignalWorkflowRequest, identity: str) -> dict[str, Any]:
        """Record the signal in the run's history (the answer comes after the commit), and schedule a workflow
        task to deliver it."""
        core = self.core
        core._check_payload(f"the payload of signal {req.signal_name!r}", req.input)
        ex = await core._execution(namespace, req.workflow_id, req.run_id, action="signalled")
        rec = ex.record
        core._check_running(ex, "signalled")
        await self.schemas.check(namespace, rec.task_queue, rec.workflow_type, "signal", req.signal_name, req.input)
        warning = await self.schemas.unknown_name_warning(
            namespace, rec.task_queue, rec.workflow_type, "signal", req.signal_name
        )
        async with core.transition(ex) as t:
            core._check_running(ex, "signalled")
            st = ex.state
            answer: dict[str, Any] = {"accepted": True, "workflow_id": rec.workflow_id, "run_id": rec.run_id}
            if warning is not None:
                # Recorded all the same: the workflow may register a handler of that name later.
                answer["warning"] = warning + " The signal is recorded, and waits for a handler of that name."
            if req.request_id is not None and req.request_id in st.signal_requests:
                # Recorded by a transition whose write may still be in flight (see below): answered once it
                # is durable (if it fails, so does this call, and its retry records the signal afresh).
                if ex.writing is not None:
                    await asyncio.shield(ex.writing)
                return {**answer, "event_id": st.signal_requests[req.request_id], "duplicate": True}
            e = record_signal(t, req.signal_name, req.input, identity, req.request_id, req.header)
            t.wake()
            # A burst of signals to one run shares group commits: each is answered once durable, but the
            # next is recorded while the one before is being written.
            t.release_before_durable()
        log.debug("signal %r recorded for workflow %s (run %s)", req.signal_name, rec.workflow_id, rec.run_id)
        return {**answer, "event_id": e.event_id, "duplicate": False}


def record_signal(
    t: Transition,
    name: str,
    payload: Any,
    identity: str,
    request_id: str | None,
    header: dict[str, Any] | None = None,
) -> HistoryEvent:
    """Append the WorkflowExecutionSignaled event of a signal, and keep its request id with the run (the
    caller wakes the workflow). ``header``: the signal's (``api.headers``), recorded only if it has one."""
    attrs: dict[str, Any] = {"signal_name": name, "input": payload, "identity": identity}
    if request_id is not None:
        attrs["request_id"] = request_id
    if header is not None:
        attrs["header"] = header
    e = t.append(EventType.WORKFLOW_EXECUTION_SIGNALED, attrs)
    if request_id is not None:
        t.ex.state.add_signal_request(request_id, e.event_id)
    return e
