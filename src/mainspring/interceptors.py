"""Interceptors: code of the user's that the client and its workers call around the calls that cross a
workflow's boundary, to carry context with them (a trace's: ``mainspring.contrib.opentelemetry``).

A reduced form of Temporal's interceptors. Give them to the client::

    client = await Client.connect(address, interceptors=[TracingInterceptor()])

and every ``Worker`` built on that client uses them too (as Temporal's workers use a client's interceptors
that are also worker interceptors). Each hook is told of one ``Call``:

- ``Interceptor.client_call``: around a client's start, signal-with-start, signal, query, update and
  update-with-start (the calls whose ``header`` travels with them; an update-with-start is one call, its
  header sent with both its start and its update).
- ``Interceptor.activity_call``: around one attempt of an activity on a worker (``header``: the one its
  ScheduleActivity command carried), local activities' too (``header``: the one their START_ACTIVITY call
  was given; it stays in the worker).
- ``Interceptor.workflow_interceptor``: a ``WorkflowInterceptor`` per workflow run a worker holds. It is told,
  after each workflow task's code has run live (never while history is replayed, so a run's start is told
  once however often a worker rebuilds it), of the run's start, the signals and updates it handled (an
  update's validator too), the activities and local activities it scheduled, the children it started, the
  signals it sent other workflows and its continue-as-new, in that order; and of each query it answered
  (when the query came with a header). It runs outside the workflow's code: what it does (make spans, read
  clocks) cannot make the workflow non-deterministic, and the only thing it may change is the header of an
  activity's, a child's, an outgoing signal's or a continue-as-new's command (the next run's start
  header), which the replay does not compare.

Headers are small JSON objects (``mainspring.api.headers``). Without interceptors none is sent or stored,
and nothing here runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (not at run time: the workflow package imports this module)
    from .workflow import WorkflowInfo as _WorkflowInfo

__all__ = ["Call", "CallKind", "Interceptor", "WorkflowInterceptor"]


class CallKind(StrEnum):
    """What a ``Call`` is; the value is the name Temporal's tracing gives its spans (``StartWorkflow:<type>``)."""

    START_WORKFLOW = "StartWorkflow"
    SIGNAL_WITH_START_WORKFLOW = "SignalWithStartWorkflow"
    SIGNAL_WORKFLOW = "SignalWorkflow"
    QUERY_WORKFLOW = "QueryWorkflow"
    START_WORKFLOW_UPDATE = "StartWorkflowUpdate"
    #: A client's update-with-start: one call (and one span, as Temporal's) whose ``header`` goes with both
    #: the start and the update; ``name`` is the workflow type.
    UPDATE_WITH_START_WORKFLOW = "UpdateWithStartWorkflow"
    RUN_WORKFLOW = "RunWorkflow"
    HANDLE_SIGNAL = "HandleSignal"
    HANDLE_QUERY = "HandleQuery"
    VALIDATE_UPDATE = "ValidateUpdate"
    HANDLE_UPDATE = "HandleUpdate"
    START_ACTIVITY = "StartActivity"
    RUN_ACTIVITY = "RunActivity"
    START_CHILD_WORKFLOW = "StartChildWorkflow"
    #: The run signals another workflow (``ctx.get_external_workflow_handle(...).signal``): ``header`` goes
    #: with the command and into the signal the other run receives; ``extra``: ``target_workflow_id``.
    SIGNAL_EXTERNAL_WORKFLOW = "SignalExternalWorkflow"
    #: The same, sent through a child's handle (``child_handle.signal``), as Temporal names it.
    SIGNAL_CHILD_WORKFLOW = "SignalChildWorkflow"
    #: The run continues as new: ``header`` goes with the command and becomes the next run's start header
    #: (Temporal's tracing makes no span of it, only carries the context on).
    CONTINUE_AS_NEW = "ContinueAsNew"


#: The kinds whose ``header`` goes out with the call (an interceptor may add to it); the others' came in.
_OUTGOING = frozenset(
    {
        CallKind.START_WORKFLOW,
        CallKind.SIGNAL_WITH_START_WORKFLOW,
        CallKind.SIGNAL_WORKFLOW,
        CallKind.QUERY_WORKFLOW,
        CallKind.START_WORKFLOW_UPDATE,
        CallKind.UPDATE_WITH_START_WORKFLOW,
        CallKind.START_ACTIVITY,
        CallKind.START_CHILD_WORKFLOW,
        CallKind.SIGNAL_EXTERNAL_WORKFLOW,
        CallKind.SIGNAL_CHILD_WORKFLOW,
        CallKind.CONTINUE_AS_NEW,
    }
)


@dataclass(slots=True)
class Call:
    """One call an interceptor is told of."""

    #: What it is.
    kind: CallKind
    #: The workflow type (starts, runs, children), signal or query name, or activity type.
    name: str
    #: The workflow it is about: the one started, signalled or queried, or the one that runs the call.
    workflow_id: str
    #: That workflow's run, where it is known (not for a start before the server answers).
    run_id: str | None = None
    #: For the kinds that go out (``outgoing``): starts empty, and what an interceptor puts in it travels with
    #: the call. For the others: what came with the call (the start's, the signal's, the activity's); read it
    #: only. Entries are JSON values.
    header: dict[str, Any] = field(default_factory=dict)
    #: Of a RunActivity call: ``activity_id`` (and ``local``: True for a local activity). Of an update's:
    #: ``update_id``. Of a workflow's calls (``WorkflowInterceptor``): ``start_header``,
    #: the header of the run's start (for a copy of the run rebuilt from history, which made no RUN_WORKFLOW).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def outgoing(self) -> bool:
        """True if the ``header`` goes out with the call (an interceptor may add to it)."""
        return self.kind in _OUTGOING


class WorkflowInterceptor:
    """Told of one workflow run's calls, live only (see the module's docstring); the default does nothing.

    A worker makes one per run it holds in memory (``Interceptor.workflow_interceptor``), and a new one each
    time it rebuilds the run from its history: state kept here lasts as long as the worker's cached copy.
    """

    def workflow_call(self, call: Call) -> None:
        """The run started (RUN_WORKFLOW, told once: on its first workflow task), handled a signal, an update
        or a query (HANDLE_SIGNAL, VALIDATE_UPDATE then HANDLE_UPDATE, HANDLE_QUERY: ``header`` is the one
        that came with it), or scheduled an activity, started a child, signalled another workflow or
        continued as new (START_ACTIVITY,
        START_CHILD_WORKFLOW, SIGNAL_EXTERNAL_WORKFLOW or SIGNAL_CHILD_WORKFLOW, CONTINUE_AS_NEW, whose
        ``header`` goes with the command). Called outside the
        workflow's code; must not raise."""


class Interceptor:
    """Hooks around the calls that cross workflows' boundaries; every one by default does nothing.

    Subclass it and override what you need; give instances to ``Client.connect(interceptors=[...])``. With
    several interceptors, each hook of the first is outermost.
    """

    def client_call(self, call: Call) -> AbstractContextManager[object]:
        """A context the client's call ``call`` (a start, signal-with-start, signal, query or update) is made in; it
        may add to ``call.header`` on entry. An error the call raises passes through it."""
        return nullcontext()

    def activity_call(self, call: Call) -> AbstractContextManager[object]:
        """A context one attempt of an activity runs in (its code, on the worker's event loop); ``call.header``
        is the one its ScheduleActivity command carried."""
        return nullcontext()

    def workflow_interceptor(self, info: _WorkflowInfo) -> WorkflowInterceptor | None:
        """The interceptor of the run ``info`` describes, for a worker that holds it in memory; None: none."""
        return None
