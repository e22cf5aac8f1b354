"""``@workflow.defn``: attach a workflow definition to an async function."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, cast, overload

from .._validation import NO_INPUT_SCHEMA
from ..api.names import check_id
from ..converter import json_schema, type_hints

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["WorkflowDefinition", "WorkflowFunction", "defn", "get_definition"]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

_ATTR = "__mainspring_workflow__"


@dataclass(frozen=True)
class WorkflowDefinition:
    """What a worker needs to run a workflow, and a client to start it."""

    name: str
    fn: Callable[..., Any]
    takes_input: bool
    input_type: Any
    result_type: Any

    def input_schema(self) -> dict[str, Any] | None:
        """The JSON schema of the input, announced to the server so it can check starts."""
        if not self.takes_input:
            return NO_INPUT_SCHEMA
        return json_schema(self.input_type)


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


def _build(fn: Callable[..., Any], name: str | None) -> WorkflowDefinition:
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


@overload
def defn(fn: _Fn[P, R], /) -> WorkflowFunction[Concatenate[Context, P], Coroutine[Any, Any, R]]: ...


@overload
def defn(
    *, name: str | None = None
) -> Callable[[_Fn[P, R]], WorkflowFunction[Concatenate[Context, P], Coroutine[Any, Any, R]]]: ...


def defn(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> WorkflowFunction[..., Any] | Callable[[Callable[..., Any]], WorkflowFunction[..., Any]]:
    """Mark an ``async def`` function as a workflow.

    It takes the workflow context and at most one input, and must be deterministic: given the same
    history it must make the same calls in the same order. Use ``ctx.now()``, ``ctx.random()``,
    ``ctx.uuid4()`` and ``ctx.sleep()`` instead of the clock, randomness and sleep; do I/O in
    activities. The function itself is returned, unchanged; its static type is ``WorkflowFunction``,
    which keeps its input and result types for the type checker.
    """

    def wrap(f: Callable[P, R]) -> WorkflowFunction[P, R]:
        setattr(f, _ATTR, _build(f, name))
        return cast("WorkflowFunction[P, R]", f)

    return wrap(fn) if fn is not None else wrap


def get_definition(fn: Any) -> WorkflowDefinition:
    """The definition attached by ``@workflow.defn``; TypeError if there is none."""
    d = getattr(fn, _ATTR, None)
    if not isinstance(d, WorkflowDefinition):
        raise TypeError(f"{getattr(fn, '__qualname__', fn)!r} is not a workflow: decorate it with @workflow.defn")
    return d
