"""``@workflow.defn``: attach a workflow definition to an async function, or to a class whose
``@workflow.run`` method is the workflow (its message handlers are read by ``_handlers``)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from .._validation import NO_INPUT_SCHEMA
from ..api.enums import VersioningBehavior
from ..api.names import check_id
from ..converter import json_schema, type_hints
from ._handlers import DEFINITION, QUERY, SIGNAL, UPDATE, HandlerDefinition, class_parts
from ._runtime_handlers import runtime_kinds

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["WorkflowDefinition", "WorkflowFunction", "defn", "get_definition"]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
T = TypeVar("T")

_ATTR = "__mainspring_workflow__"


@dataclass(frozen=True)
class WorkflowDefinition:
    """What a worker needs to run a workflow, and a client to start it."""

    name: str
    #: The function, or a class's ``run`` method (unbound: called with the instance first).
    fn: Callable[..., Any]
    takes_input: bool
    input_type: Any
    result_type: Any
    #: A class workflow's class (the worker makes one instance per run), None for a function.
    cls: type | None = None
    #: ``__init__`` takes the input too (``@workflow.init``).
    init_takes_input: bool = False
    #: A class workflow's message handlers: kind ("signal", "query", "update") -> name -> handler
    #: (the name None is the kind's dynamic handler).
    handlers: dict[str, dict[str | None, HandlerDefinition]] = field(default_factory=dict)
    #: Exceptions (and their subclasses) that fail the workflow when its code raises them, besides
    #: ``FailureError``; any other exception fails only the workflow task, which is retried.
    failure_exception_types: tuple[type[BaseException], ...] = ()
    #: PINNED or AUTO_UPGRADE for the runs a worker with a build starts (None: the worker's ``versioning``).
    versioning_behavior: VersioningBehavior | None = None

    def input_schema(self) -> dict[str, Any] | None:
        """The JSON schema of the input, announced to the server so it can check starts."""
        if not self.takes_input:
            return NO_INPUT_SCHEMA
        return json_schema(self.input_type)

    def handler(self, kind: str, name: str) -> HandlerDefinition | None:
        """The handler of ``kind`` for messages named ``name``: its own, else the dynamic one, else None."""
        table = self.handlers.get(kind)
        if not table:
            return None
        return table.get(name) or table.get(None)

    def handler_names(self, kind: str) -> list[str]:
        """The names of the handlers of ``kind`` (the dynamic one aside), sorted."""
        return sorted(n for n in self.handlers.get(kind, {}) if n is not None)

    def announce_handlers(self) -> list[dict[str, Any]]:
        """What a worker tells the server of the handlers: kind, name and payload schema of each; a kind whose
        handlers the code may set while it runs is open (a dynamic entry), as no name of it can be refused."""
        out = [h.announce() for kind in (SIGNAL, QUERY, UPDATE) for h in self.handlers.get(kind, {}).values()]
        if self.cls is not None:
            for kind in sorted(runtime_kinds(self.cls) - {k for k, t in self.handlers.items() if None in t}):
                out.append({"kind": kind, "name": None, "input_schema": None})
        return out


class WorkflowFunction(Protocol[P, R_co]):
    """The static type of a function decorated with ``@workflow.defn``.

    It is the function itself with its ``WorkflowDefinition`` attached. Since only the decorator
    produces it, handing an undecorated function (or an activity) to ``Client.start_workflow`` is a
    type error rather than a failure at run time.
    """

    __name__: str
    __qualname__: str

    @property
    def __mainspring_workflow__(self) -> WorkflowDefinition:
        """The definition the decorator attached."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """The function itself; only a worker calls it, with a workflow context."""
        ...


def _build_class(cls: type, name: str | None) -> WorkflowDefinition:
    workflow_name = name or cls.__name__
    problem = check_id("workflow name", workflow_name)
    if problem:
        raise ValueError(problem)
    parts = class_parts(cls, workflow_name)
    params = [
        p
        for p in inspect.signature(parts.run).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    hints = type_hints(parts.run)
    takes_input = len(params) == 3
    d = WorkflowDefinition(
        name=workflow_name,
        fn=parts.run,
        takes_input=takes_input,
        input_type=hints.get(params[2].name, Any) if takes_input else None,
        result_type=hints.get("return", Any),
        cls=cls,
        init_takes_input=parts.init_takes_input,
        handlers=parts.handlers,
    )
    # So that ``start_workflow(MyWorkflow.run, ...)`` and ``handle.signal(MyWorkflow.submit, ...)`` find them.
    setattr(parts.run, _ATTR, d)
    for table in parts.handlers.values():
        for h in table.values():
            setattr(h.fn, DEFINITION, h)
    return d


def _build(fn: Callable[..., Any], name: str | None) -> WorkflowDefinition:
    if inspect.isclass(fn):
        return _build_class(fn, name)
    workflow_name = name or fn.__name__
    problem = check_id("workflow name", workflow_name)
    if problem:
        raise ValueError(problem)
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"workflow {workflow_name!r} must be an `async def` function")
    params = [
        p for p in inspect.signature(fn).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not params or len(params) > 2:
        raise TypeError(
            f"workflow {workflow_name!r} must take the workflow context and at most one input: "
            "`async def my_workflow(ctx: workflow.Context, input: MyInput) -> MyResult`"
        )
    hints = type_hints(fn)
    return WorkflowDefinition(
        name=workflow_name,
        fn=fn,
        takes_input=len(params) == 2,
        input_type=hints.get(params[1].name, Any) if len(params) == 2 else None,
        result_type=hints.get("return", Any),
    )


# The signature a workflow must have: ``async def``, the context first. (At most one input after it
# is checked when the decorator runs, and again by the type checker wherever the workflow is started.)
_Fn = Callable[Concatenate["Context", P], Coroutine[Any, Any, R]]


class _Defn(Protocol):
    """``@workflow.defn(name=...)``: the decorator it returns, for a class or a function."""

    @overload
    def __call__(self, cls: type[T], /) -> type[T]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: _Fn[P, R], /) -> WorkflowFunction[Concatenate[Context, P], Coroutine[Any, Any, R]]: ...


@overload
def defn(cls: type[T], /) -> type[T]: ...  # type: ignore[overload-overlap]


@overload
def defn(fn: _Fn[P, R], /) -> WorkflowFunction[Concatenate[Context, P], Coroutine[Any, Any, R]]: ...


@overload
def defn(
    *,
    name: str | None = None,
    failure_exception_types: Sequence[type[Exception]] = (),
    versioning_behavior: VersioningBehavior | None = None,
) -> _Defn: ...


def defn(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    failure_exception_types: Sequence[type[Exception]] = (),
    versioning_behavior: VersioningBehavior | None = None,
) -> Any:
    """Mark an ``async def`` function, or a class, as a workflow.

    A class workflow has one ``@workflow.run`` method (``async def run(self, ctx[, input])``), which is
    the workflow, and may have message handlers (``@workflow.signal``, ``@workflow.query``,
    ``@workflow.update``); the worker makes one instance per run (``__init__`` takes no argument, or the
    workflow's input if marked ``@workflow.init``). The workflow's name is the class's unless ``name=``.

    It takes the workflow context and at most one input, and must be deterministic: given the same
    history it must make the same calls in the same order. Use ``ctx.now()``, ``ctx.random()``,
    ``ctx.uuid4()`` and ``ctx.sleep()`` instead of the clock, randomness and sleep; do I/O in
    activities. The function itself is returned, unchanged; its static type is ``WorkflowFunction``,
    which keeps its input and result types for the type checker.

    ``failure_exception_types``: exception classes that fail the workflow (WorkflowExecutionFailed, the
    exception's class and attributes in its failure) when the workflow's code raises one of them (or a
    subclass), as a ``FailureError`` does. By default (Temporal's) any other exception fails only the
    workflow task, which is retried until a fixed deploy makes it pass. ``Worker(
    workflow_failure_exception_types=...)`` adds types for every workflow of a worker. A bug the engine
    catches (non-determinism, a forbidden call) always fails the task.

    ``versioning_behavior``: on a worker with a ``build_id``, whether this workflow's runs stay on the build
    that started them (``VersioningBehavior.PINNED``) or move to the queue's newest build
    (``AUTO_UPGRADE``); by default the worker's ``versioning``.
    """
    failure_types = _failure_types(failure_exception_types)
    behavior = VersioningBehavior(versioning_behavior) if versioning_behavior is not None else None

    def wrap(f: Any) -> Any:
        d = _build(f, name)
        if failure_types or behavior is not None:
            d = dataclasses.replace(d, failure_exception_types=failure_types, versioning_behavior=behavior)
            if d.cls is not None:
                setattr(d.fn, _ATTR, d)
        setattr(f, _ATTR, d)
        return f

    return wrap(fn) if fn is not None else wrap


def _failure_types(types: Sequence[type[Exception]]) -> tuple[type[BaseException], ...]:
    if isinstance(types, (str, bytes, type)):
        raise TypeError("failure_exception_types takes a list of exception classes, e.g. [InsufficientFunds]")
    out = tuple(types)
    for t in out:
        if not (isinstance(t, type) and issubclass(t, Exception)):
            raise TypeError(f"failure_exception_types takes exception classes, got {t!r}")
    return out


def get_definition(fn: Any) -> WorkflowDefinition:
    """The definition attached by ``@workflow.defn``; TypeError if there is none."""
    d = getattr(fn, _ATTR, None)
    if not isinstance(d, WorkflowDefinition):
        raise TypeError(f"{getattr(fn, '__qualname__', fn)!r} is not a workflow: decorate it with @workflow.defn")
    return d
