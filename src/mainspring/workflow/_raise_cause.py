"""``workflow.raise_cause``: catch the error an activity raised as its own class, directly.

By default an activity that fails for good raises ``ActivityError`` in the workflow (Temporal's shape:
``except ActivityError as e`` then ``e.cause``), and ``e.cause`` is the activity's exception rebuilt as its
own class when the worker has that class (``mainspring.errors.exception_from_failure``). ``raise_cause``
unwraps it, so the class can be caught where the call is made::

    try:
        await workflow.raise_cause(ctx.execute_activity(withdraw, req, start_to_close_timeout=...))
    except InsufficientFunds as e:
        ...  # e.missing; the ActivityError is e.__context__

Explicit, so that code written for Temporal (which catches ``ActivityError``) keeps working unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from ..errors import ActivityError, ChildWorkflowError

__all__ = ["WRAPPING_ERRORS", "raise_cause"]

T = TypeVar("T")

#: The errors that wrap the error of the work they stand for, in its ``cause``.
WRAPPING_ERRORS: tuple[type[BaseException], ...] = (ActivityError, ChildWorkflowError)


async def raise_cause(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` (an activity, local activity or child workflow call); if it raises an
    ``ActivityError`` (or ``ChildWorkflowError``), raise its ``cause`` instead: the activity's own exception
    (``InsufficientFunds``, with its attributes) when this worker has its class, else the ``ApplicationError``
    standing for it, or the ``TimeoutError`` / ``CancelledError`` that ended it. The wrapping error stays
    reachable as the raised error's ``__context__`` (and in its traceback)."""
    try:
        return await awaitable
    except WRAPPING_ERRORS as wrapper:
        cause = getattr(wrapper, "cause", None)
        if cause is None:
            raise
        raise cause  # noqa: B904 -- implicitly chained: __context__ is the wrapper
