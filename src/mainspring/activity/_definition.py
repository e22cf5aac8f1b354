"""``@activity.defn``: attach an activity definition to a function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ..api.names import check_id
from ..converter import type_hints

__all__ = ["ActivityDefinition", "defn", "get_definition"]

F = TypeVar("F", bound=Callable[..., Any])

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
def defn(fn: F, /) -> F: ...


@overload
def defn(*, name: str | None = None) -> Callable[[F], F]: ...


def defn(fn: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Mark a function as an activity. Use as ``@activity.defn`` or ``@activity.defn(name="...")``.

    The function takes zero or one argument (a dataclass, pydantic model or JSON-compatible value)
    and may be ``async def`` (run on the worker's event loop) or plain ``def`` (run in a thread).
    The function itself is returned unchanged, so it stays callable and keeps its type.
    """

    def wrap(f: F) -> F:
        setattr(f, _ATTR, _build(f, name))
        return f

    return wrap(fn) if fn is not None else wrap


def get_definition(fn: Any) -> ActivityDefinition:
    """The definition attached by ``@activity.defn``; TypeError if there is none."""
    d = getattr(fn, _ATTR, None)
    if not isinstance(d, ActivityDefinition):
        raise TypeError(f"{getattr(fn, '__qualname__', fn)!r} is not an activity: decorate it with @activity.defn")
    return d
