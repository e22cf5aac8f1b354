"""``@activity.defn``: attach an activity definition to a function."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, Self, TypeVar, cast, overload

from ..api.names import check_id
from ..converter import type_hints

__all__ = ["ActivityDefinition", "ActivityFunction", "defn", "get_definition"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R2 = TypeVar("R2")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")

_ATTR = "__mainspring_activity__"


@dataclass(frozen=True)
class ActivityDefinition:
    """What a worker needs to run an activity, and a workflow to call it."""

    name: str
    #: What the worker calls: the function, or for a method the worker was given bound (``repo.save``),
    #: that bound method.
    fn: Callable[..., Any]
    is_async: bool
    #: It takes at least one argument (its first is ``input_type``).
    takes_input: bool
    input_type: Any
    result_type: Any
    #: The type of each positional parameter (``self`` left out), and how many have no default.
    param_types: tuple[Any, ...] = ()
    required_params: int = 0
    #: Defined in a class, with ``self`` first: the worker needs it bound to an instance.
    is_method: bool = False

    @property
    def arg_count(self) -> int:
        """How many arguments it takes at most."""
        return len(self.param_types)


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

    # A method decorated in its class binds like any method: ``Repo.save`` keeps ``self`` (for
    # ``ctx.execute_activity_method``), ``repo.save`` drops it (for ``Worker(activities=[repo.save])``
    # and ``ctx.execute_activity``).
    @overload
    def __get__(self, obj: None, owner: Any, /) -> Self: ...

    @overload
    def __get__(self: ActivityFunction[Concatenate[S, P2], R2], obj: S, owner: Any, /) -> ActivityFunction[P2, R2]: ...

    def __get__(self, obj: Any, owner: Any, /) -> Any:
        """Bind a method activity to its instance, as a function binds."""
        ...


def _in_class(fn: Callable[..., Any]) -> bool:
    """Defined in a class body (``Repo.save``), not in a module or a function (``f.<locals>.g``)."""
    parts = getattr(fn, "__qualname__", "").split(".")
    return len(parts) > 1 and parts[-2] != "<locals>"


def _build(fn: Callable[..., Any], name: str | None) -> ActivityDefinition:
    activity_name = name or fn.__name__
    problem = check_id("activity name", activity_name)
    if problem:
        raise ValueError(problem)
    params = list(inspect.signature(fn).parameters.values())
    is_method = bool(params) and params[0].name == "self" and _in_class(fn)
    if is_method:
        params = params[1:]
    for p in params:
        # Arguments travel by position (``args=[a, b]``), so a parameter that only a keyword can fill
        # would never get a value: refused here rather than left to fail on every attempt.
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            raise TypeError(
                f"activity {activity_name!r} has the keyword-only parameter {p.name!r} with no default; "
                "activity arguments are passed by position (ctx.execute_activity(fn, args=[...])): make it "
                "an ordinary parameter, or give it a default"
            )
        if p.kind is p.VAR_POSITIONAL:
            raise TypeError(
                f"activity {activity_name!r} takes *{p.name}; an activity's arguments are decoded to the types "
                "of its parameters, so it must name each of them"
            )
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    hints = type_hints(fn)
    types = tuple(hints.get(p.name, Any) for p in positional)
    return ActivityDefinition(
        name=activity_name,
        fn=fn,
        is_async=inspect.iscoroutinefunction(fn),
        takes_input=bool(positional),
        input_type=types[0] if types else None,
        result_type=hints.get("return", Any),
        param_types=types,
        required_params=sum(1 for p in positional if p.default is p.empty),
        is_method=is_method,
    )


@overload
def defn(fn: Callable[P, R], /) -> ActivityFunction[P, R]: ...


@overload
def defn(*, name: str | None = None) -> Callable[[Callable[P, R]], ActivityFunction[P, R]]: ...


def defn(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> ActivityFunction[..., Any] | Callable[[Callable[..., Any]], ActivityFunction[..., Any]]:
    """Mark a function as an activity. Use as ``@activity.defn`` or ``@activity.defn(name="...")``.

    The function takes any number of positional arguments (dataclasses, pydantic models or
    JSON-compatible values; one is passed as ``ctx.execute_activity(fn, arg)``, several as
    ``args=[a, b]``) and may be ``async def`` (run on the worker's event loop) or plain ``def`` (run
    by the worker's ``activity_executor``, a thread pool by default). A keyword-only parameter
    needs a default (it always gets it). A method of a class is an activity too: give the worker
    the method of an instance (``Worker(activities=[repo.save])``), whose state it then keeps, and
    call it as ``ctx.execute_activity_method(Repo.save, ...)``. The function itself is returned,
    unchanged and still callable; its static type is ``ActivityFunction``, which keeps its
    parameters and result type for the type checker.
    """

    def wrap(f: Callable[P, R]) -> ActivityFunction[P, R]:
        setattr(f, _ATTR, _build(f, name))
        return cast("ActivityFunction[P, R]", f)

    return wrap(fn) if fn is not None else wrap


def get_definition(fn: Any) -> ActivityDefinition:
    """The definition attached by ``@activity.defn``; TypeError if there is none.

    For a method bound to an instance (``repo.save``), the definition calls that bound method."""
    d = getattr(fn, _ATTR, None)
    if not isinstance(d, ActivityDefinition):
        raise TypeError(f"{getattr(fn, '__qualname__', fn)!r} is not an activity: decorate it with @activity.defn")
    if d.is_method and inspect.ismethod(fn):
        return dataclasses.replace(d, fn=fn)
    return d
