"""Catch calls that would make workflow code non-deterministic, with a message that says what to use.

While workflow code runs, a profile hook watches for calls to the wall clock, real sleep and the
process-wide random sources. These are caught wherever they are called from in user code, even when
imported by name (``from time import time``), which patching module attributes would miss. Calls
made by the standard logging machinery and by Mainspring itself are allowed.
"""

from __future__ import annotations

import datetime
import os
import random
import sys
import time
from types import FrameType
from typing import Any

from ..errors import NondeterministicCallError

__all__ = ["install", "uninstall"]

_FORBIDDEN: dict[Any, str] = {
    time.time: "time.time() reads the wall clock; use ctx.now()",
    time.time_ns: "time.time_ns() reads the wall clock; use ctx.now()",
    time.monotonic: "time.monotonic() reads a real clock; use ctx.now()",
    time.monotonic_ns: "time.monotonic_ns() reads a real clock; use ctx.now()",
    time.perf_counter: "time.perf_counter() reads a real clock; use ctx.now()",
    time.perf_counter_ns: "time.perf_counter_ns() reads a real clock; use ctx.now()",
    time.sleep: "time.sleep() blocks the worker and is not durable; use `await ctx.sleep(...)`",
    datetime.datetime.now: "datetime.now() reads the wall clock; use ctx.now()",
    datetime.datetime.utcnow: "datetime.utcnow() reads the wall clock; use ctx.now()",
    datetime.datetime.today: "datetime.today() reads the wall clock; use ctx.now()",
    datetime.date.today: "date.today() reads the wall clock; use ctx.now().date()",
    os.urandom: "os.urandom() (also behind uuid.uuid4() and secrets) is random; use ctx.uuid4() or ctx.random()",
    random._inst.random: "the random module's functions are random on every run; use ctx.random()",
    random._inst.getrandbits: "the random module's functions are random on every run; use ctx.random()",
}

_ALLOWED_MODULES = ("logging", "mainspring.", "asyncio.")


def _hook(frame: FrameType, event: str, arg: Any) -> None:
    if event == "c_call":
        try:
            reason = _FORBIDDEN.get(arg)
        except TypeError:  # unhashable callable
            return
        if reason is not None:
            module = frame.f_globals.get("__name__", "")
            if not module.startswith(_ALLOWED_MODULES):
                raise NondeterministicCallError(
                    f"workflow code must be deterministic so it can be replayed: {reason} "
                    f"(called at {frame.f_code.co_filename}:{frame.f_lineno})"
                )


def install() -> None:
    sys.setprofile(_hook)


def uninstall() -> None:
    sys.setprofile(None)
