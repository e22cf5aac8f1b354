"""The engine's features, each a module that registers what it adds: here, the kinds of command a
workflow task may carry (``kinds.CommandKind``: its check, and the events and state it becomes).

- ``activities``: ScheduleActivity, RequestCancelActivity
- ``timers``: StartTimer, CancelTimer
- ``closing``: CompleteWorkflow, FailWorkflow, CancelWorkflow

A new command (a signal to another workflow, a child workflow, continue-as-new) is one module here
with its ``KINDS``, one line in ``COMMAND_KINDS`` below, and its request model in
``api.models.Command``. The worker's side (what its events mean during replay, and how they match
the commands the workflow code issues) registers beside the SDK's code, in
``mainspring.workflow._features``.
"""

from __future__ import annotations

from . import activities, closing, timers
from .kinds import CommandCheck, CommandKind, CommandKinds

__all__ = ["COMMAND_KINDS", "CommandCheck", "CommandKind", "CommandKinds"]

#: Every command kind the server accepts.
COMMAND_KINDS = CommandKinds((*activities.KINDS, *timers.KINDS, *closing.KINDS))
