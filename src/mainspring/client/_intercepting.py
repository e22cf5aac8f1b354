"""The client's calls made through its interceptors (``mainspring.interceptors``): only when it has some."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from contextvars import ContextVar
from typing import Any, TypeVar

from ..interceptors import Call, Interceptor

__all__ = ["intercepted", "joined"]

T = TypeVar("T")

#: Within a call made of others (an update-with-start: a start, then an update), the outer call's header: the
#: inner calls send it and are not told to the interceptors again (one span, as Temporal's).
_outer_header: ContextVar[dict[str, Any] | None] = ContextVar("mainspring_outer_header", default=None)


async def intercepted(
    interceptors: Sequence[Interceptor],
    call: Call,
    body: dict[str, Any] | None,
    send: Callable[[], Awaitable[Any]],
) -> Any:
    """``send()`` within each interceptor's ``client_call`` context (the first outermost), with the header they
    made put in ``body`` (None: the request has no header field, as a query's, so it goes with nothing)."""
    outer = _outer_header.get()
    if outer is not None:  # part of a ``joined`` call: its header, and no hook of its own
        if body is not None and outer:
            body["header"] = dict(outer)
        return await send()
    with ExitStack() as stack:
        for interceptor in interceptors:
            stack.enter_context(interceptor.client_call(call))
        if body is not None and call.header:
            body["header"] = call.header
        return await send()


async def joined(interceptors: Sequence[Interceptor], call: Call, send: Callable[[], Awaitable[T]]) -> T:
    """``send()`` (which makes several intercepted calls) within each interceptor's ``client_call`` context for
    the one ``call``: the calls it makes carry the header they made, and are not told of on their own."""
    with ExitStack() as stack:
        for interceptor in interceptors:
            stack.enter_context(interceptor.client_call(call))
        token = _outer_header.set(dict(call.header))
        try:
            return await send()
        finally:
            _outer_header.reset(token)
