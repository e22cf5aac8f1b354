"""Message handlers set while the workflow runs: ``ctx.set_signal_handler(name, fn)``, ``set_query_handler``,
``set_update_handler`` (with ``validator=``) and their ``set_dynamic_*`` forms, as Temporal's
``workflow.set_*_handler`` do.

A handler set at run time answers to its name ahead of the class's own (None removes it again); a dynamic one
answers to the names no handler has. Signals that waited in the buffer for a handler of their name (``_signals``)
are delivered to it at once, in order. The handler is any callable: a bound method, a closure, a lambda; it
takes the payload (a dynamic one: the name and the payload's JSON), not the context.

The server refuses a query or update to a name the type's workers did not announce (``unknown_query``). A
class whose code sets handlers (``set_query_handler`` and the rest appear among the names its methods use, read
from their code objects once) announces the kind as open, so such messages reach the worker, which answers
for the handlers the run has.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..converter import type_hints
from ._handlers import QUERY, SIGNAL, UPDATE, HandlerDefinition

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["lookup", "names", "runtime_kinds", "set_handler"]

#: The method names of ``Context`` that set handlers of each kind.
_SETTERS = {
    SIGNAL: ("set_signal_handler", "set_dynamic_signal_handler"),
    QUERY: ("set_query_handler", "set_dynamic_query_handler"),
    UPDATE: ("set_update_handler", "set_dynamic_update_handler"),
}


def lookup(inst: WorkflowInstance, kind: str, name: str) -> HandlerDefinition | None:
    """The handler of ``kind`` for ``name``: set at run time, the class's, a dynamic one set at run time, the
    class's dynamic one; None if there is none."""
    table = inst.runtime_handlers.get(kind)
    if table:
        h = table.get(name)
        if h is not None:
            return h
    d = inst.definition.handlers.get(kind)
    if d:
        h = d.get(name)
        if h is not None:
            return h
    if table and None in table:
        return table[None]
    return d.get(None) if d else None


def names(inst: WorkflowInstance, kind: str) -> list[str]:
    """The names the run's handlers of ``kind`` answer to (the class's and those set at run time), sorted."""
    own = inst.definition.handlers.get(kind, {})
    return sorted({n for n in (*own, *inst.runtime_handlers.get(kind, {})) if n is not None})


def set_handler(
    inst: WorkflowInstance,
    kind: str,
    name: str | None,
    fn: Callable[..., Any] | None,
    validator: Callable[..., Any] | None = None,
) -> None:
    """Set (``fn``) or remove (None) the run's handler of ``kind`` for ``name`` (None: the dynamic one)."""
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"a {kind} handler's name must be a non-empty str, got {name!r}")
    table = inst.runtime_handlers.setdefault(kind, {})
    if fn is None:
        table.pop(name, None)
        return
    if not callable(fn):
        raise TypeError(f"the {kind} handler must be callable, got {type(fn).__name__}")
    if validator is not None and not callable(validator):
        raise TypeError(f"the validator must be callable, got {type(validator).__name__}")
    table[name] = _definition(kind, name, fn, validator)
    if kind == SIGNAL:
        _deliver_buffered(inst, name)


def _definition(
    kind: str, name: str | None, fn: Callable[..., Any], validator: Callable[..., Any] | None
) -> HandlerDefinition:
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    hints = type_hints(fn)
    takes_input = name is None or bool(params)
    # Called as the class's handlers are, with the workflow's object first: the callable is bound already.
    return HandlerDefinition(
        kind=kind,
        name=name,
        fn=lambda _obj, *args: fn(*args),
        takes_context=False,
        takes_input=takes_input,
        input_type=hints.get(params[0].name, Any) if params and name is not None else None,
        result_type=hints.get("return", Any),
        is_async=inspect.iscoroutinefunction(fn),
        validator=None if validator is None else (lambda _obj, *args: validator(*args)),
    )


def _deliver_buffered(inst: WorkflowInstance, name: str | None) -> None:
    from ._signals import deliver

    buffer = inst._signal_buffer
    names = [name] if name is not None else list(buffer)
    for n in names:
        for raw in buffer.pop(n, ()):
            inst.call_soon(deliver, inst, n, raw)


def runtime_kinds(code_of: Callable[..., Any] | type) -> frozenset[str]:
    """The kinds of handler the workflow's code may set at run time (its methods name a setter)."""
    names: set[str] = set()
    for code in _codes(code_of):
        names.update(code.co_names)
    return frozenset(kind for kind, setters in _SETTERS.items() if names.intersection(setters))


def _codes(obj: Callable[..., Any] | type) -> Iterator[types.CodeType]:
    values = [v for klass in obj.__mro__[:-1] for v in vars(klass).values()] if isinstance(obj, type) else [obj]
    stack: list[types.CodeType] = []
    for v in values:
        f = getattr(v, "__func__", v)  # staticmethod, classmethod
        code = getattr(f, "__code__", None)
        if isinstance(code, types.CodeType):
            stack.append(code)
    while stack:
        code = stack.pop()
        yield code
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
