"""``@activity.defn``: attach an activity definition to a function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar, cast, overload

from ..api.names import check_id
from ..converter import type_hints

__all__ = ["ActivityDefinition", "ActivityFunction", "defn", "get_definition"]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

_ATTR = "__mainspring_activity__"


@dataclass(frozen=True)
class ActivityDefinition:
    """What a worker needs to run an activity, and a workflow to call it."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    takes_input: bool
    input_type: Any
    result_type: Any


class ActivityFunction(Protocol[P, R_co]):
    """The static type of a function decorated with ``@activity.defn``.

    It is the function itself, called the same way, with its ``ActivityDefinition`` attached. Since
    only the decorator produces it, handing an undecorated function to ``ctx.execute_activity`` is a
    type error rather than a failure when the workflow runs.
    """

    __name__: str
    __qualname__: str

    @property
    def __mainspring_activity__(self) -> ActivityDefinition:
        """The definition the decorator attached."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the function directly (as a test would), not as an activity."""
        ...


def _build(fn: Callable[..., Any], name: str | None) -> ActivityDefinition:
    activity_name = name or fn.__name__
    problem = check_id("activity name", activity_name)
    if problem:
        raise ValueError(problem)
    params = [
        p for p in inspect.signature(fn).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) > 1:
        raise TypeError(
            f"activity {activity_name!r} takes {len(params)} arguments; activities take at most one. "
            "Bundle several values into a dataclass or pydantic model."
        )
    hints = type_hints(fn)
    return ActivityDefinition(
        name=activity_name,
        fn=fn,
        is_async=inspect.iscoroutinefunction(fn),
        takes_input=bool(params),
        input_type=hints.get(params[0].name, Any) if params else None,
        result_type=hints.get("return", Any),
    )


@overload
def defn(fn: Callable[P, R], /) -> ActivityFunction[P, R]: ...


@overload
def defn(*, name: str | None = None) -> Callable[[Callable[P, R]], ActivityFunction[P, R]]: ...


def defn(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> ActivityFunction[..., Any] | Callable[[Callable[..., Any]], ActivityFunction[..., Any]]:
    """Mark a function as an activity. Use as ``@activity.defn`` or ``@activity.defn(name="...")``.

    The function takes zero or one argument (a dataclass, pydantic model or JSON-compatible value)
    and may be ``async def`` (run on the worker's event loop) or plain ``def`` (run in a thread).
    The function itself is returned, unchanged and still callable; its static type is
    ``ActivityFunction``, which keeps its parameters and result type for the type checker.
    """

    def wrap(f: Callable[P, R]) -> ActivityFunction[P, R]:
        setattr(f, _ATTR, _build(f, name))
        return cast("ActivityFunction[P, R]", f)

    return wrap(fn) if fn is not None else wrap


def get_definition(fn: Any) -> ActivityDefinition:
    """The definition attached by ``@activity.defn``; TypeError if there is none."""
    d = getattr(fn, _ATTR, None)
    if not isinstance(d, ActivityDefinition):
        raise TypeError(f"{getattr(fn, '__qualname__', fn)!r} is not an activity: decorate it with @activity.defn")
    return d
