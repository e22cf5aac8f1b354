"""Signal-with-start: signal a workflow, starting it first if no run of its id is running.

If a run is running, the signal is recorded on it (``Signals``) and nothing is started. If none is, a run
is created with the signal in its creation: one write holds its WorkflowExecutionStarted and its
WorkflowExecutionSignaled (``Engine._start``'s ``also``), so there is no moment when the run exists
without its signal, and its first workflow task makes the class's instance and then runs the handler,
before ``run`` starts (``workflow._signals``).

The call's request id is that of the start and of the signal: a retried call finds the run it started (the
store keeps a start's request id with the run) or the signal it recorded (kept with the run, as any
signal's), and records nothing new. A call that loses a race (a run started, or the running one closed,
between looking and writing) looks again.

The start options are those of a start (``start_policies``, ``run_options``), as Temporal applies them: the id
reuse policy when no run is running; the conflict policy USE_EXISTING (signal the running run, the default) or
TERMINATE_EXISTING (terminate it and start a new run with the signal), never FAIL; a signal-with-start that
reaches a run in its start delay ends the delay.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ...api import messages as msg
from ...api import models as m
from ...api.enums import WorkflowIDConflictPolicy, WorkflowIDReusePolicy, WorkflowStatus
from ...errors import AlreadyStartedError, InvalidArgumentError, NotFoundError, RPCError
from . import run_options
from .signals import Signals, record_signal
from .start_policies import REFUSED_BY

if TYPE_CHECKING:
    from ...storage import ExecutionRecord
    from .._core import EngineCore
    from .._transition import Transition

__all__ = ["SIGNAL_EVENT_OF_A_START", "SignalWithStart"]

log = logging.getLogger("mainspring.server")

#: The event id of the signal in a run this operation started: its creation appends the start (1), then it.
SIGNAL_EVENT_OF_A_START = 2
#: How many times a call looks again after losing a race, before it gives up (each race needs another
#: caller to start or close the run in between: more than a few in a row is a run started and closed in a loop).
_ATTEMPTS = 4

Start = Callable[[str, m.StartWorkflowRequest, Callable[["Transition"], None]], Awaitable[tuple[str, bool]]]


class SignalWithStart:
    """The signal-with-start operation of one engine; ``start`` creates a run (``Engine._start``)."""

    def __init__(self, core: EngineCore, signals: Signals, start: Start) -> None:
        self.core = core
        self.signals = signals
        self.start = start

    async def signal_with_start(
        self, namespace: str, req: msg.SignalWithStartWorkflowRequest, identity: str
    ) -> dict[str, Any]:
        """Record the signal on the running run of the workflow id, or start one with it; the answer says
        which (``started``) and is given once it is durable."""
        core = self.core
        core.check_namespace(namespace)
        core._check_payload("the workflow input", req.input)
        core._check_payload(f"the payload of signal {req.signal_name!r}", req.signal_input)
        schemas = self.signals.schemas
        # Checked against the handlers of the type being started, before anything is written: a payload the
        # run would drop is refused whichever path is taken (the running run's type is checked again, below).
        await schemas.check(namespace, req.task_queue, req.workflow_type, "signal", req.signal_name, req.signal_input)
        terminate = _terminates_running(req)
        ticket = core.admission.admit("starts")
        try:
            last: RPCError | None = None
            for _ in range(_ATTEMPTS):
                rec = await self._running(namespace, req.workflow_id)
                retry = rec is not None and req.request_id is not None and rec.request_id == req.request_id
                if rec is not None and terminate and not retry:
                    rec = None  # TERMINATE_EXISTING: the start below terminates it (start_policies)
                if rec is not None:
                    if req.request_id is not None and rec.request_id == req.request_id:
                        # This call's run (a retry): the signal was recorded with its start, answered once
                        # that is durable (the first call may still be writing it).
                        ex = core._cache.get(rec.run_id)
                        if ex is not None:
                            await core._created(ex)
                        return self._answer(namespace, req.workflow_id, rec.run_id, started=True, duplicate=True)
                    try:
                        answer = await self._signal(namespace, req, rec, identity)
                        await run_options.end_delay(core, rec.run_id)  # as Temporal: its start delay ends
                        return answer
                    except InvalidArgumentError as e:
                        if e.code != "not_running" or rec.run_id in core.set_aside:
                            raise
                        last = e  # it closed since: start a new run
                        continue
                try:
                    run_id, created = await self.start(
                        namespace, self._start_request(req, terminate), self._recorder(req, identity)
                    )
                except AlreadyStartedError as e:
                    if isinstance(e.details, dict) and e.details.get(REFUSED_BY) == "id_reuse_policy":
                        raise  # the id's last run closed, and its policy allows no new one
                    last = e  # one was started since: signal it
                    continue
                answer = self._answer(namespace, req.workflow_id, run_id, started=True, duplicate=not created)
                warning = await schemas.unknown_name_warning(
                    namespace, req.task_queue, req.workflow_type, "signal", req.signal_name
                )
                if warning is not None:
                    answer["warning"] = warning + " The signal is recorded, and waits for a handler of that name."
                log.debug("workflow %s started (run %s) with signal %r", req.workflow_id, run_id, req.signal_name)
                return answer
            assert last is not None
            raise last
        finally:
            core.admission.done(ticket)

    async def _running(self, namespace: str, workflow_id: str) -> ExecutionRecord | None:
        """The running run of the workflow id, or None."""
        try:
            rec = await self.core._find(namespace, workflow_id, None)
        except NotFoundError:
            return None
        return rec if rec.status is WorkflowStatus.RUNNING else None

    async def _signal(
        self, namespace: str, req: msg.SignalWithStartWorkflowRequest, rec: ExecutionRecord, identity: str
    ) -> dict[str, Any]:
        signalled = await self.signals.signal(
            namespace,
            msg.SignalWorkflowRequest(
                workflow_id=req.workflow_id,
                run_id=rec.run_id,
                signal_name=req.signal_name,
                input=req.signal_input,
                request_id=req.request_id,
            ),
            identity,
        )
        answer = self._answer(
            namespace, req.workflow_id, signalled["run_id"], started=False, duplicate=signalled["duplicate"]
        )
        answer["event_id"] = signalled["event_id"]
        if signalled.get("warning"):
            answer["warning"] = signalled["warning"]
        return answer

    @staticmethod
    def _start_request(req: msg.SignalWithStartWorkflowRequest, terminate: bool) -> m.StartWorkflowRequest:
        # Without TERMINATE_EXISTING, a run started by another call meanwhile is refused (FAIL), and signalled.
        reuse = req.id_reuse_policy
        if reuse is WorkflowIDReusePolicy.TERMINATE_IF_RUNNING:
            reuse = WorkflowIDReusePolicy.ALLOW_DUPLICATE  # its "terminate" part is ``terminate``
        return m.StartWorkflowRequest(
            workflow_id=req.workflow_id,
            workflow_type=req.workflow_type,
            task_queue=req.task_queue,
            input=req.input,
            request_id=req.request_id,
            id_reuse_policy=reuse,
            id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING
            if terminate
            else WorkflowIDConflictPolicy.FAIL,
            start_delay=req.start_delay,
            memo=req.memo,
            task_timeout=req.task_timeout,
            header=req.header,
            search_attributes=req.search_attributes,
        )

    @staticmethod
    def _recorder(req: msg.SignalWithStartWorkflowRequest, identity: str) -> Callable[[Transition], None]:
        def record(t: Transition) -> None:
            e = record_signal(t, req.signal_name, req.signal_input, identity, req.request_id, req.header)
            assert e.event_id == SIGNAL_EVENT_OF_A_START

        return record

    @staticmethod
    def _answer(namespace: str, workflow_id: str, run_id: str, *, started: bool, duplicate: bool) -> dict[str, Any]:
        return {
            "workflow_id": workflow_id,
            "run_id": run_id,
            "namespace": namespace,
            "started": started,
            "event_id": SIGNAL_EVENT_OF_A_START,
            "duplicate": duplicate,
        }


def _terminates_running(req: msg.SignalWithStartWorkflowRequest) -> bool:
    """True if the call terminates a running run of its id and starts a new one (TERMINATE_EXISTING, or
    TERMINATE_IF_RUNNING), False if it signals the running run (USE_EXISTING, the default). FAIL is refused: a
    signal-with-start exists to reach the running run (Temporal refuses it too)."""
    conflict = req.id_conflict_policy
    if conflict is WorkflowIDConflictPolicy.FAIL:
        raise InvalidArgumentError(
            "id_conflict_policy FAIL does not apply to a signal-with-start (it signals the running run): leave it "
            "out (USE_EXISTING), or pass TERMINATE_EXISTING to start a new run in its place",
            code="invalid_argument",
        )
    if req.id_reuse_policy is WorkflowIDReusePolicy.TERMINATE_IF_RUNNING:
        if conflict is WorkflowIDConflictPolicy.USE_EXISTING:
            raise InvalidArgumentError(
                "id_reuse_policy TERMINATE_IF_RUNNING terminates the running run, and id_conflict_policy "
                "USE_EXISTING signals it: give one of them",
                code="invalid_argument",
            )
        return True
    return conflict is WorkflowIDConflictPolicy.TERMINATE_EXISTING
