"""Retrying a call that is safe to repeat while the server sheds load or cannot write."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import ResourceExhaustedError, ServerUnavailableError

__all__ = ["RETRY_FOR", "retrying"]

T = TypeVar("T")

#: How long a call that is safe to repeat is retried while the server sheds load or cannot write.
RETRY_FOR = 30.0


def _worth_retrying(e: ServerUnavailableError) -> bool:
    # Overloaded (429), storage unavailable (503) or no answer in time: the server is there and the
    # call may be repeated. Nothing listening at the address is not retried: that is a wrong address
    # or a stopped server, and the caller should hear it at once.
    return e.status in (429, 503) or e.code == "timeout"


async def retrying(call: Callable[[], Awaitable[T]], retry_for: float = RETRY_FOR) -> T:
    """``call()``, again after a pause while the server asks for one (with jitter, so refused callers
    do not all come back at once), for up to ``retry_for`` seconds."""
    deadline = time.monotonic() + retry_for
    delay = 0.05
    while True:
        try:
            return await call()
        except ServerUnavailableError as e:
            if not _worth_retrying(e):
                raise
            wait = (e.retry_after if isinstance(e, ResourceExhaustedError) else delay) * random.uniform(1.0, 1.5)
            if time.monotonic() + wait > deadline:
                raise
            await asyncio.sleep(wait)
            delay = min(delay * 2, 2.0)
