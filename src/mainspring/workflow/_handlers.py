"""A class workflow's methods: ``@workflow.run``, ``@workflow.init``, and its message handlers
``@workflow.signal``, ``@workflow.query``, ``@workflow.update`` (with ``@<update>.validator``).

Each decorator marks the function (the definition is built by ``@workflow.defn`` on the class, once
the class exists, so that type hints naming the class resolve) and gives it a static type of its own
(``RunMethod``, ``SignalMethod``, ``QueryMethod``, ``UpdateMethod``). The client's methods take those
types, so the type checker knows each message's payload and result, and tells a query from a signal
and one workflow class's handler from another's. Those types keep the workflow class, the payload's
parameters (``[]`` or ``[A]``; the context a handler may take first is not part of them) and the result.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Protocol, TypeVar, overload

from .._validation import NO_INPUT_SCHEMA
from ..api.names import check_id
from ..converter import json_schema, type_hints

if TYPE_CHECKING:
    from ._context import Context

__all__ = [
    "HandlerDefinition",
    "QueryMethod",
    "RunMethod",
    "SignalMethod",
    "UpdateMethod",
    "handler_of",
    "init",
    "query",
    "run",
    "signal",
    "update",
]

S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)
A = TypeVar("A")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
P = ParamSpec("P")

#: The attribute each decorator sets on the function it marks.
MARK = "__mainspring_handler__"
RUN_MARK = "__mainspring_run__"
INIT_MARK = "__mainspring_init__"
#: Set by ``@workflow.defn`` on each handler, once the class's definition is built.
DEFINITION = "__mainspring_handler_definition__"

SIGNAL = "signal"
QUERY = "query"
UPDATE = "update"


@dataclass
class _Mark:
    """What a decorator knows before the class exists: the kind, the name asked for, the options."""

    kind: str
    name: str | None
    dynamic: bool
    validator: Callable[..., Any] | None = None


@dataclass(frozen=True)
class HandlerDefinition:
    """One message handler of a class workflow, as its worker runs it and a client addresses it."""

    kind: str
    #: The message name it answers to (None for the dynamic handler, which answers to the rest).
    name: str | None
    fn: Callable[..., Any]
    takes_context: bool
    takes_input: bool
    input_type: Any
    result_type: Any
    is_async: bool
    validator: Callable[..., Any] | None = None
    validator_takes_context: bool = False

    @property
    def dynamic(self) -> bool:
        return self.name is None

    def input_schema(self) -> dict[str, Any] | None:
        """The JSON schema of the payload, announced to the server so it can check messages."""
        if self.dynamic:
            return None
        if not self.takes_input:
            return NO_INPUT_SCHEMA
        return json_schema(self.input_type)

    def announce(self) -> dict[str, Any]:
        """What a worker tells the server of this handler."""
        return {"kind": self.kind, "name": self.name, "input_schema": self.input_schema()}


@dataclass(frozen=True)
class ClassParts:
    """What ``@workflow.defn`` finds on a class: its run method, its ``__init__``'s input, its handlers."""

    run: Callable[..., Any]
    init_takes_input: bool
    handlers: dict[str, dict[str | None, HandlerDefinition]] = field(default_factory=dict)


# --- the static types ----------------------------------------------------------------------------------
# Each is the function itself, marked; the type checker sees a callable of the workflow class and the
# payload (not the context), so that ``handle.signal(Cls.method, arg)`` can check ``arg``.


class RunMethod(Protocol[S_contra, P, R_co]):
    """The static type of a method decorated with ``@workflow.run``: start the class's workflow with it."""

    __name__: str
    __qualname__: str

    def __call__(self, instance: S_contra, ctx: Context, /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R_co]:
        """The method itself; only a worker calls it."""
        ...


class SignalMethod(Protocol[S_contra, P]):
    """The static type of a method decorated with ``@workflow.signal``."""

    __name__: str

    def __call__(self, instance: S_contra, /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[None] | None:
        """The method itself; only a worker calls it."""
        ...


class QueryMethod(Protocol[S_contra, P, R_co]):
    """The static type of a method decorated with ``@workflow.query``."""

    __name__: str
    #: Set on every query method (``_decorate``): what tells a query apart, to the type checker, from a
    #: signal or update method of the same shape, so that ``handle.query`` takes neither.
    _mainspring_query: Literal[True]

    def __call__(self, instance: S_contra, /, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """The method itself; only a worker calls it."""
        ...


class UpdateMethod(Protocol[S_contra, P, R_co]):
    """The static type of a method decorated with ``@workflow.update``; ``.validator`` marks its check."""

    __name__: str

    def __call__(self, instance: S_contra, /, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """The method itself; only a worker calls it."""
        ...

    def validator(self, fn: Callable[..., None], /) -> Callable[..., None]:
        """Mark ``fn`` as this update's validator: it runs before the update is accepted, with the same
        payload, and rejects the update by raising (a rejected update leaves no trace in history)."""
        ...


# --- run and init ----------------------------------------------------------------------------------------


@overload
def run(fn: Callable[[S, Context], Coroutine[Any, Any, R]], /) -> RunMethod[S, [], R]: ...


@overload
def run(fn: Callable[[S, Context, A], Coroutine[Any, Any, R]], /) -> RunMethod[S, [A], R]: ...


def run(fn: Callable[..., Any], /) -> Any:
    """Mark the class workflow's entry point: ``async def run(self, ctx: workflow.Context[, input])``.

    The workflow runs while it does, and its return value is the workflow's result. Start it with
    ``client.start_workflow(MyWorkflow.run, input, id=..., task_queue=...)``.
    """
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"@workflow.run method {fn.__qualname__!r} must be an `async def` method")
    setattr(fn, RUN_MARK, True)
    return fn


F = TypeVar("F", bound=Callable[..., Any])


def init(fn: F, /) -> F:
    """Mark ``__init__`` as taking the workflow's input (the same input ``run`` gets), so the
    instance's state can be set from it before any signal or update handler runs."""
    if fn.__name__ != "__init__":
        raise TypeError(f"@workflow.init goes on __init__, not on {fn.__qualname__!r}")
    setattr(fn, INIT_MARK, True)
    return fn


# --- handlers --------------------------------------------------------------------------------------------
# (An async shape comes before the plain one, which would also take it with R the awaitable: mypy calls that
# an overlap, and it is the intended reading.)
# One overload per shape: the context first or not, a payload or none; sync or async where both are allowed
# (signals: returning None or an awaitable of None covers both). An overload with the context comes before
# the one without, so that ``(self, ctx)`` is read as "the context" and not as a payload of type Context.


class _SignalDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[[S, Context], Awaitable[None] | None], /) -> SignalMethod[S, []]: ...
    @overload
    def __call__(self, fn: Callable[[S, Context, A], Awaitable[None] | None], /) -> SignalMethod[S, [A]]: ...
    @overload
    def __call__(self, fn: Callable[[S], Awaitable[None] | None], /) -> SignalMethod[S, []]: ...
    @overload
    def __call__(self, fn: Callable[[S, A], Awaitable[None] | None], /) -> SignalMethod[S, [A]]: ...


@overload
def signal(fn: Callable[[S, Context], Awaitable[None] | None], /) -> SignalMethod[S, []]: ...
@overload
def signal(fn: Callable[[S, Context, A], Awaitable[None] | None], /) -> SignalMethod[S, [A]]: ...
@overload
def signal(fn: Callable[[S], Awaitable[None] | None], /) -> SignalMethod[S, []]: ...
@overload
def signal(fn: Callable[[S, A], Awaitable[None] | None], /) -> SignalMethod[S, [A]]: ...
@overload
def signal(*, name: str) -> _SignalDecorator: ...
@overload
def signal(*, dynamic: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...


def signal(fn: Callable[..., Any] | None = None, /, *, name: str | None = None, dynamic: bool = False) -> Any:
    """Mark a method as a signal handler: ``def submit(self[, ctx][, payload]) -> None`` (or ``async def``).

    A signal is recorded in the workflow's history before the sender's call returns, and delivered to its
    handler in order; one that arrives before its handler exists waits for it. ``name=`` sets the signal's
    name (the method's name by default); ``dynamic=True`` makes the handler answer every signal that has no
    handler of its own, as ``(self[, ctx], name: str, payload: Any)``.
    """
    return _decorate(SIGNAL, fn, name, dynamic)


class _QueryDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[[S], R], /) -> QueryMethod[S, [], R]: ...
    @overload
    def __call__(self, fn: Callable[[S, A], R], /) -> QueryMethod[S, [A], R]: ...


@overload
def query(fn: Callable[[S], R], /) -> QueryMethod[S, [], R]: ...
@overload
def query(fn: Callable[[S, A], R], /) -> QueryMethod[S, [A], R]: ...
@overload
def query(*, name: str) -> _QueryDecorator: ...
@overload
def query(*, dynamic: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...


def query(fn: Callable[..., Any] | None = None, /, *, name: str | None = None, dynamic: bool = False) -> Any:
    """Mark a method as a query handler: ``def progress(self[, arg]) -> Progress`` (plain ``def``).

    A query reads the workflow's state without changing it: it runs on a worker, is not recorded in
    history, and may not start activities or timers. ``name=`` and ``dynamic=`` as for signals.
    """
    return _decorate(QUERY, fn, name, dynamic)


class _UpdateDecorator(Protocol):
    @overload
    def __call__(self, fn: Callable[[S, Context], Awaitable[R]], /) -> UpdateMethod[S, [], R]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: Callable[[S, Context, A], Awaitable[R]], /) -> UpdateMethod[S, [A], R]: ...
    @overload
    def __call__(self, fn: Callable[[S], Awaitable[R]], /) -> UpdateMethod[S, [], R]: ...
    @overload
    def __call__(self, fn: Callable[[S, A], Awaitable[R]], /) -> UpdateMethod[S, [A], R]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: Callable[[S, Context], R], /) -> UpdateMethod[S, [], R]: ...
    @overload
    def __call__(self, fn: Callable[[S, Context, A], R], /) -> UpdateMethod[S, [A], R]: ...
    @overload
    def __call__(self, fn: Callable[[S], R], /) -> UpdateMethod[S, [], R]: ...
    @overload
    def __call__(self, fn: Callable[[S, A], R], /) -> UpdateMethod[S, [A], R]: ...


@overload
def update(fn: Callable[[S, Context], Awaitable[R]], /) -> UpdateMethod[S, [], R]: ...  # type: ignore[overload-overlap]
@overload
def update(fn: Callable[[S, Context, A], Awaitable[R]], /) -> UpdateMethod[S, [A], R]: ...
@overload
def update(fn: Callable[[S], Awaitable[R]], /) -> UpdateMethod[S, [], R]: ...
@overload
def update(fn: Callable[[S, A], Awaitable[R]], /) -> UpdateMethod[S, [A], R]: ...  # type: ignore[overload-overlap]
@overload
def update(fn: Callable[[S, Context], R], /) -> UpdateMethod[S, [], R]: ...
@overload
def update(fn: Callable[[S, Context, A], R], /) -> UpdateMethod[S, [A], R]: ...
@overload
def update(fn: Callable[[S], R], /) -> UpdateMethod[S, [], R]: ...
@overload
def update(fn: Callable[[S, A], R], /) -> UpdateMethod[S, [A], R]: ...
@overload
def update(*, name: str) -> _UpdateDecorator: ...
@overload
def update(*, dynamic: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...


def update(fn: Callable[..., Any] | None = None, /, *, name: str | None = None, dynamic: bool = False) -> Any:
    """Mark a method as an update handler: ``async def add_item(self[, ctx][, item]) -> Cart`` (or plain
    ``def``). An update may change the workflow's state and run activities; its caller waits for its
    result. ``@add_item.validator`` marks a plain method taking the same payload that runs first and
    rejects the update by raising. ``name=`` and ``dynamic=`` as for signals.
    """
    return _decorate(UPDATE, fn, name, dynamic)


def _decorate(kind: str, fn: Callable[..., Any] | None, name: str | None, dynamic: bool) -> Any:
    if name is not None:
        problem = check_id(f"{kind} name", name)
        if problem:
            raise ValueError(problem)
        if dynamic:
            raise ValueError(f"a dynamic {kind} handler has no name: give name= or dynamic=True, not both")

    def mark(f: Callable[..., Any]) -> Any:
        if not callable(f):
            raise TypeError(f"@workflow.{kind} goes on a method, not on {f!r}")
        if kind == QUERY and inspect.iscoroutinefunction(f):
            raise TypeError(f"query {f.__qualname__!r} must be a plain `def`: a query only reads the workflow's state")
        m = _Mark(kind, name, dynamic)
        setattr(f, MARK, m)
        if kind == QUERY:
            f._mainspring_query = True  # type: ignore[attr-defined]
        if kind == UPDATE:

            def validator(v: Callable[..., Any]) -> Callable[..., Any]:
                if inspect.iscoroutinefunction(v):
                    raise TypeError(f"validator {v.__qualname__!r} must be a plain `def`: it may not wait")
                m.validator = v
                return v

            f.validator = validator  # type: ignore[attr-defined]
        return f

    return mark(fn) if fn is not None else mark


# --- reading a class -------------------------------------------------------------------------------------


def _takes_context(fn: Callable[..., Any], params: list[inspect.Parameter], hints: dict[str, Any]) -> bool:
    """Whether the parameter after ``self`` is the workflow context (by its annotation, or named ``ctx``)."""
    if len(params) < 2:
        return False
    from ._context import Context

    second = params[1]
    hint = hints.get(second.name)
    return hint is Context or (hint is None and second.name in ("ctx", "context"))


def _positional(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    return [
        p for p in inspect.signature(fn).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def _handler(cls_name: str, attr: str, fn: Callable[..., Any], mark: _Mark) -> HandlerDefinition:
    what = f"{mark.kind} {cls_name}.{attr}"
    params = _positional(fn)
    hints = type_hints(fn)
    ctx = mark.kind != QUERY and _takes_context(fn, params, hints)
    rest = params[1 + ctx :]
    wanted = 2 if mark.dynamic else 1
    if len(rest) > wanted or not params:
        shape = "(self[, ctx], name: str, payload)" if mark.dynamic else "(self[, ctx][, payload])"
        if mark.kind == QUERY:
            shape = shape.replace("[, ctx]", "")
        raise TypeError(
            f"{what} takes {shape}: bundle several values into a dataclass or pydantic model "
            f"(it has {len(params)} positional parameters)"
        )
    validator = mark.validator
    v_ctx = False
    if validator is not None:
        v_params = _positional(validator)
        v_ctx = _takes_context(validator, v_params, type_hints(validator))
        if len(v_params) - v_ctx != len(params) - ctx:
            raise TypeError(f"the validator of {what} must take the same payload as the update")
    takes_input = bool(rest) if not mark.dynamic else True
    return HandlerDefinition(
        kind=mark.kind,
        name=None if mark.dynamic else (mark.name or attr),
        fn=fn,
        takes_context=ctx,
        takes_input=takes_input,
        input_type=hints.get(rest[-1].name, Any) if rest else None,
        result_type=hints.get("return", Any),
        is_async=inspect.iscoroutinefunction(fn),
        validator=validator,
        validator_takes_context=v_ctx,
    )


def class_parts(cls: type, workflow_name: str) -> ClassParts:
    """The run method, ``__init__``'s input and the handlers of a class decorated with ``@workflow.defn``."""
    run_fns = [
        (attr, value)
        for klass in reversed(cls.__mro__)
        for attr, value in vars(klass).items()
        if callable(value) and getattr(value, RUN_MARK, False)
    ]
    names = {attr for attr, _ in run_fns}
    if len(names) != 1:
        found = ", ".join(sorted(names)) or "none"
        raise TypeError(
            f"workflow class {cls.__qualname__!r} needs exactly one `@workflow.run async def run(self, ctx[, input])` "
            f"method (found: {found})"
        )
    run_fn = getattr(cls, next(iter(names)))
    run_params = _positional(run_fn)
    if len(run_params) < 2 or len(run_params) > 3:
        raise TypeError(
            f"workflow {workflow_name!r}: its @workflow.run method must take the workflow context and at most "
            "one input: `async def run(self, ctx: workflow.Context, input: MyInput) -> MyResult`"
        )
    init_fn = cls.__init__  # type: ignore[misc]
    init_takes_input = bool(getattr(init_fn, INIT_MARK, False))
    if init_takes_input and len(_positional(init_fn)) != len(run_params) - 1:
        raise TypeError(f"workflow {workflow_name!r}: @workflow.init __init__ must take the same input as run")
    handlers: dict[str, dict[str | None, HandlerDefinition]] = {SIGNAL: {}, QUERY: {}, UPDATE: {}}
    seen: set[str] = set()
    for klass in cls.__mro__:
        for attr, value in vars(klass).items():
            mark = getattr(value, MARK, None)
            if not isinstance(mark, _Mark) or attr in seen:
                continue
            seen.add(attr)
            h = _handler(cls.__qualname__, attr, value, mark)
            table = handlers[h.kind]
            if h.name in table:
                what = "dynamic handler" if h.name is None else f"handler named {h.name!r}"
                raise TypeError(f"workflow {workflow_name!r} has two {h.kind} {what}s")
            table[h.name] = h
    return ClassParts(run=run_fn, init_takes_input=init_takes_input, handlers=handlers)


def handler_of(method: Any, kind: str) -> HandlerDefinition | None:
    """The handler definition behind ``method`` (a decorated method of a ``@workflow.defn`` class), or None."""
    d = getattr(method, DEFINITION, None)
    if isinstance(d, HandlerDefinition):
        return d if d.kind == kind else None
    return None
