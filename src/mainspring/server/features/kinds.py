"""What a feature registers on the server: the kinds of command a workflow task may carry.

A ``CommandKind`` says how one command type is checked (``validate``) and what it becomes once the
task's commands are accepted (``apply``: history events, pending state, effects after the commit).
``_commands`` runs them: every command of a task is validated first, in order, and only if all pass
are they applied, in order, inside the transition that completes the task (``_transition``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from .._core import EngineCore
    from .._execution import Execution
    from .._transition import Transition

__all__ = ["CommandCheck", "CommandKind", "CommandKinds"]

C = TypeVar("C", bound=BaseModel)


@dataclass(slots=True)
class CommandCheck:
    """What validating one workflow task's commands needs, and what the commands checked so far claimed."""

    core: EngineCore
    ex: Execution
    #: An activity about to close together with these commands (a worker's continuation, see
    #: ``ActivityTasks``): its id is free for them to reuse.
    closing_activity: int | None = None
    #: Ids taken by earlier commands of this task, by kind of id ("activity", "timer"): a new item's id
    #: must be unique among the pending items and these.
    claimed: dict[str, set[str]] = field(default_factory=dict)

    def claim(self, kind: str, item_id: str) -> bool:
        """Take ``item_id`` for this task; False if an earlier command of the task took it already."""
        taken = self.claimed.get(kind)
        if taken is None:
            taken = self.claimed[kind] = set()
        elif item_id in taken:
            return False
        taken.add(item_id)
        return True


@dataclass(frozen=True, slots=True)
class CommandKind(Generic[C]):
    """One command type: its request model, its check, and what it becomes."""

    #: The command's ``type`` field (a ``CommandType`` for the built-in kinds).
    command_type: str
    #: Its request model (one member of ``api.models.Command``).
    model: type[C]
    #: Why this command cannot be applied after the ones checked before it (the message follows
    #: "command N (type): "), or None. Ids, names and durations are checked by the model already.
    validate: Callable[[CommandCheck, C], str | None]
    #: Record it: ``apply(t, cmd, completed_event_id)`` appends its events to the transition ``t``,
    #: changes the run's state, and notes in ``t.fx`` what to do once the transition is durable.
    apply: Callable[[Transition, C, int], None]
    #: It closes the workflow: no command may follow it, and the limits on growth don't apply.
    closes: bool = False
    #: Run once after every command of the task was applied, if one of them was of this kind:
    #: ``finish(t)``, for what must come after all the task's command events.
    finish: Callable[[Transition], None] | None = None


class CommandKinds:
    """The command kinds a server accepts, each registered once."""

    def __init__(self, kinds: Iterable[CommandKind[Any]] = ()) -> None:
        #: Kind by request model: what the engine looks each command up in (read it, don't change it).
        self.by_model: dict[type[BaseModel], CommandKind[Any]] = {}
        #: The models of the commands that close the workflow.
        self.closing: frozenset[type[BaseModel]] = frozenset()
        self._by_type: dict[str, CommandKind[Any]] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: CommandKind[Any]) -> None:
        """Add ``kind``; ValueError if its type or model is registered already."""
        if kind.command_type in self._by_type or kind.model in self.by_model:
            raise ValueError(f"command kind {kind.command_type!r} is registered twice")
        self._by_type[kind.command_type] = kind
        self.by_model[kind.model] = kind
        if kind.closes:
            self.closing = self.closing | {kind.model}

    def of(self, cmd: BaseModel) -> CommandKind[Any]:
        """The kind of ``cmd`` (looked up by its model class)."""
        return self.by_model[type(cmd)]

    def __iter__(self) -> Iterator[CommandKind[Any]]:
        return iter(self._by_type.values())

    def __len__(self) -> int:
        return len(self._by_type)
