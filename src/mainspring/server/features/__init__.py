"""The engine's features, each a module that registers what it adds to the transition core.

- ``workflow_tasks``: handing out workflow tasks, their completion with commands, failures, timeouts
- ``activity_tasks``: activity attempts, retries, heartbeats, the four timeouts; ``activities``: the
  ScheduleActivity and RequestCancelActivity commands
- ``timers``: StartTimer, CancelTimer, a timer firing
- ``cancellation``: cancelling and terminating a run from outside
- ``closing``: CompleteWorkflow, FailWorkflow, CancelWorkflow
- ``signals``: a signal recorded for a run, and the handlers workers announce (``HandlerSchemas``);
  ``signal_with_start``: a signal that starts its run if none is running
- ``queries``: a query asked of the worker that holds the run (or one that replays it)
- ``updates``: updates admitted, carried by workflow tasks (speculative ones if need be), accepted or
  rejected, completed; its AcceptUpdate and CompleteUpdate command kinds
- ``continue_as_new``: ContinueAsNewWorkflow closes the run and creates the next one in the same commit
- ``child_workflows``: StartChildWorkflow (the child's run made, linked to its parent, its outcome reported
  back, the parent close policy), SignalExternalWorkflow and RequestCancelExternalWorkflow
- ``markers``: RecordMarker, what a workflow task worked out itself (a local activity's outcome)
- ``search_attributes``: the registry of typed search attributes, their values at the start, and the
  UpsertWorkflowSearchAttributes command; ``memo``: the ModifyWorkflowProperties command (``ctx.upsert_memo``)

A command kind (``kinds.CommandKind``: its check, and the events and state it becomes) is listed once
in ``COMMAND_KINDS`` below, with its request model in ``api.models.Command``; a feature's operations,
timer callbacks and effects are a class or functions its module registers with the core
(``EngineCore.on_commit``, ``on_rearm``, ``on_close``, ``on_finish``; ``EngineCore.features`` finds a
feature's object, for its command kinds), put together in ``Engine.__init__``. The
worker's side (what its events mean during replay, and how they match the commands the workflow code
issues) registers beside the SDK's code, in ``mainspring.workflow._features``.
"""

from __future__ import annotations

from . import activities, child_workflows, closing, continue_as_new, markers, memo, search_attributes, timers, updates
from .kinds import CommandCheck, CommandKind, CommandKinds

__all__ = ["COMMAND_KINDS", "CommandCheck", "CommandKind", "CommandKinds"]

#: Every command kind the server accepts.
COMMAND_KINDS = CommandKinds(
    (
        *activities.KINDS,
        *timers.KINDS,
        *closing.KINDS,
        *updates.KINDS,
        *continue_as_new.KINDS,
        *child_workflows.KINDS,
        *markers.KINDS,
        *search_attributes.KINDS,
        *memo.KINDS,
    )
)
