"""RFC 3339 timestamps, as history and the API carry them: formatted on the hot path of every step, so the
date-and-second part is cached (consecutive events almost always share it)."""

from __future__ import annotations

import functools
import time

__all__ = ["rfc3339", "rfc3339_now"]


@functools.lru_cache(maxsize=64)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def rfc3339(t: float) -> str:
    """Unix seconds as an RFC 3339 UTC string with microseconds."""
    micros = round(t * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{_second(seconds)}.{fraction:06d}Z"


def rfc3339_now() -> str:
    """The wall clock now, as ``rfc3339``."""
    return rfc3339(time.time())
