"""Replaying recorded histories against workflow code, without a server: ``Replayer`` (Temporal's shape).

Before deploying changed workflow code, replay the histories of runs it must carry on: a history exported by
``mainspring workflow show -o json`` or the web UI's download (``WorkflowHistory.from_json``), or fetched from
a server (``handle.fetch_history()``). The code runs as a worker would run it, deterministic guard included,
and a disagreement comes back as the ``NondeterminismError`` a worker would raise, naming the event and the
command that differ. Nothing is sent anywhere: activities are not run (their results are in the history).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NondeterminismError
from ..workflow import WorkflowDefinition, WorkflowFunction, get_definition
from ._workflows import replay_instance

if TYPE_CHECKING:
    from ..converter import DataConverter

__all__ = ["Replayer", "WorkflowHistory", "WorkflowReplayResult", "WorkflowReplayResults"]

#: The events that close a run: a replay of a closed history must end with the code's last command matched.
_CLOSED = frozenset(
    {
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
        "WorkflowExecutionCanceled",
        "WorkflowExecutionContinuedAsNew",
    }
)


@dataclass(frozen=True)
class WorkflowHistory:
    """A run's history: its workflow id and its events (as ``workflow show -o json`` writes them)."""

    workflow_id: str
    events: Sequence[dict[str, Any]]
    run_id: str = "replay"

    @staticmethod
    def from_json(workflow_id: str, history: str | bytes | dict[str, Any] | list[Any]) -> WorkflowHistory:
        """Read an exported history: the JSON text (or its parsed form) of ``{"events": [...]}`` or of the list."""
        data = json.loads(history) if isinstance(history, str | bytes) else history
        events = data.get("events") if isinstance(data, dict) else data
        if not isinstance(events, list) or not events or not all(isinstance(e, dict) for e in events):
            raise ValueError('a history is a JSON object {"events": [...]} (or the list of events), not empty')
        first = events[0]
        if first.get("event_type") != "WorkflowExecutionStarted" or first.get("event_id") != 1:
            raise ValueError("a history starts with event 1, WorkflowExecutionStarted")
        return WorkflowHistory(workflow_id, events)


@dataclass(frozen=True)
class WorkflowReplayResult:
    """How the replay of one history went: ``replay_failure`` is None if the code fits it."""

    history: WorkflowHistory
    replay_failure: Exception | None = None


@dataclass
class WorkflowReplayResults:
    """How the replay of several histories went: the failures by run (workflow id if the run id is unknown)."""

    replay_failures: dict[str, Exception] = field(default_factory=dict)


class Replayer:
    """Replays histories against ``workflows`` (functions or classes, as given to ``Worker``)."""

    def __init__(
        self,
        *,
        workflows: Sequence[WorkflowFunction[..., Any] | type[Any]],
        namespace: str = "default",
        data_converter: DataConverter | None = None,
    ):
        """``data_converter``: with a ``payload_codec``, the payloads of histories exported from the server
        (encoded) are decoded before the replay, as a worker with that codec decodes them."""
        if not workflows:
            raise ValueError("a replayer needs at least one workflow")
        self.namespace = namespace
        self.data_converter = data_converter
        self._workflows: dict[str, WorkflowDefinition] = {}
        for fn in workflows:
            d = get_definition(fn)
            self._workflows[d.name] = d

    async def replay_workflow(
        self, history: WorkflowHistory, *, raise_on_replay_failure: bool = True
    ) -> WorkflowReplayResult:
        """Replay one history; raises its failure (``NondeterminismError``, or the workflow code's error)
        unless ``raise_on_replay_failure=False``, which returns it in the result instead."""
        failure = self._replay(await self._decoded(history))
        if failure is not None and raise_on_replay_failure:
            raise failure
        return WorkflowReplayResult(history, failure)

    async def replay_workflows(
        self,
        histories: Iterable[WorkflowHistory] | AsyncIterable[WorkflowHistory],
        *,
        raise_on_replay_failure: bool = False,
    ) -> WorkflowReplayResults:
        """Replay each history; the failures by run (the first one raised with ``raise_on_replay_failure``)."""
        results = WorkflowReplayResults()
        if isinstance(histories, AsyncIterable):
            async for h in histories:
                await self._one(h, results, raise_on_replay_failure)
        else:
            for h in histories:
                await self._one(h, results, raise_on_replay_failure)
        return results

    async def _decoded(self, history: WorkflowHistory) -> WorkflowHistory:
        codec = self.data_converter.payload_codec if self.data_converter is not None else None
        if codec is None:
            return history
        from .._codec import WireCodec

        # A copy: the caller's history keeps its encoded payloads.
        events = await WireCodec(codec).decode_body(copy.deepcopy(list(history.events)))
        return dataclasses.replace(history, events=events)

    async def _one(self, h: WorkflowHistory, results: WorkflowReplayResults, raise_first: bool) -> None:
        failure = self._replay(await self._decoded(h))
        if failure is not None:
            if raise_first:
                raise failure
            results.replay_failures[h.run_id if h.run_id != "replay" else h.workflow_id] = failure

    def _replay(self, history: WorkflowHistory) -> Exception | None:
        events = list(history.events)
        first = events[0]
        attrs = first.get("attributes", {})
        task = {
            "namespace": self.namespace,
            "workflow_id": history.workflow_id,
            "run_id": history.run_id,
            "workflow_type": attrs.get("workflow_type"),
            "task_queue": attrs.get("task_queue"),
        }
        inst = replay_instance(task, first, self._workflows, guard=True)
        if inst is None:
            known = ", ".join(sorted(self._workflows)) or "none"
            return ValueError(f"the history is of workflow type {task['workflow_type']!r}; this replayer runs {known}")
        try:
            commands = inst.activate(events)
            if commands and events[-1].get("event_type") in _CLOSED:
                return NondeterminismError(
                    f"non-determinism in workflow {task['workflow_type']!r} (id {history.workflow_id!r}): the "
                    f"history ends with the run closed (event {events[-1].get('event_id')} "
                    f"{events[-1].get('event_type')}), but the workflow code issued {commands[0].get('type')} "
                    "after it. Was the workflow code changed while this execution was running?"
                )
            return None
        except Exception as e:
            return e
        finally:
            inst.dispose()
