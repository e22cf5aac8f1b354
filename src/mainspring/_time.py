"""RFC 3339 timestamps, as history and the API carry them: formatted on the hot path of every step, so the
date-and-second part is cached (consecutive events almost always share it)."""

from __future__ import annotations

import datetime
import functools
import time

__all__ = ["rfc3339", "rfc3339_now"]

#: The last second RFC 3339 can write (its years have four digits).
_LAST = 253402300799.0
#: The first (0001-01-01T00:00:00Z).
_FIRST = -62135596800.0
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@functools.lru_cache(maxsize=64)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def rfc3339(t: float) -> str:
    """Unix seconds as an RFC 3339 UTC string with microseconds. A time outside what RFC 3339 can write
    (or not a number) is written as the nearest one it can: a stored far-future time must not make a
    read of it fail."""
    if not 0.0 <= t <= _LAST:
        return _outside(t)
    micros = round(t * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{_second(seconds)}.{fraction:06d}Z"


def _outside(t: float) -> str:
    t = min(max(t, _FIRST), _LAST) if t == t else _FIRST  # NaN compares false with everything
    when = _EPOCH + datetime.timedelta(microseconds=round(t * 1_000_000))
    return when.isoformat(timespec="microseconds")[:26] + "Z"  # four-digit years, unlike strftime's %Y


def rfc3339_now() -> str:
    """The wall clock now, as ``rfc3339``."""
    return rfc3339(time.time())
