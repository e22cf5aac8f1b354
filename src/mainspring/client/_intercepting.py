"""The client's calls made through its interceptors (``mainspring.interceptors``): only when it has some."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from typing import Any

from ..interceptors import Call, Interceptor

__all__ = ["intercepted"]


async def intercepted(
    interceptors: Sequence[Interceptor],
    call: Call,
    body: dict[str, Any] | None,
    send: Callable[[], Awaitable[Any]],
) -> Any:
    """``send()`` within each interceptor's ``client_call`` context (the first outermost), with the header they
    made put in ``body`` (None: the request has no header field, as a query's, so it goes with nothing)."""
    with ExitStack() as stack:
        for interceptor in interceptors:
            stack.enter_context(interceptor.client_call(call))
        if body is not None and call.header:
            body["header"] = call.header
        return await send()
