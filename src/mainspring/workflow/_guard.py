"""Catch calls that would make workflow code non-deterministic, with a message that says what to use.

While workflow code runs, a profile hook watches for calls to the wall clock, real sleep and the
process-wide random sources. These are caught wherever they are called from in user code, even when
imported by name (``from time import time``), which patching module attributes would miss, and also
when a standard library function makes them on the code's behalf (``uuid.uuid4()`` reads
``os.urandom()``). Calls made by the standard logging machinery and by Mainspring itself are allowed.

A caught call raises ``NondeterministicCallError`` in the workflow code, and is also remembered
(``take_violation``), so code that catches the error (say, with ``except Exception``) still fails its
workflow task.
"""

from __future__ import annotations

import datetime
import os
import random
import sys
import sysconfig
import threading
import time
from types import FrameType
from typing import Any, NamedTuple

from ..errors import NondeterministicCallError

__all__ = ["install", "take_violation", "uninstall"]


class _Rule(NamedTuple):
    name: str
    problem: str
    use: str


_CLOCK = "reads the wall clock"
_REAL_CLOCK = "reads a real clock"
_RANDOM = "is random on every run"

_FORBIDDEN: dict[Any, _Rule] = {
    time.time: _Rule("time.time()", _CLOCK, "ctx.now()"),
    time.time_ns: _Rule("time.time_ns()", _CLOCK, "ctx.now()"),
    time.monotonic: _Rule("time.monotonic()", _REAL_CLOCK, "ctx.now()"),
    time.monotonic_ns: _Rule("time.monotonic_ns()", _REAL_CLOCK, "ctx.now()"),
    time.perf_counter: _Rule("time.perf_counter()", _REAL_CLOCK, "ctx.now()"),
    time.perf_counter_ns: _Rule("time.perf_counter_ns()", _REAL_CLOCK, "ctx.now()"),
    time.sleep: _Rule("time.sleep()", "blocks the worker and is not durable", "`await ctx.sleep(...)`"),
    datetime.datetime.now: _Rule("datetime.now()", _CLOCK, "ctx.now()"),
    datetime.datetime.utcnow: _Rule("datetime.utcnow()", _CLOCK, "ctx.now()"),
    datetime.datetime.today: _Rule("datetime.today()", _CLOCK, "ctx.now()"),
    datetime.date.today: _Rule("date.today()", _CLOCK, "ctx.now().date()"),
    os.urandom: _Rule("os.urandom()", _RANDOM, "ctx.uuid4() or ctx.random()"),
    random._inst.random: _Rule("random.random()", _RANDOM, "ctx.random()"),
    random._inst.getrandbits: _Rule("random.getrandbits()", _RANDOM, "ctx.random()"),
}

#: What to use instead, when the call was made by a function of one of these standard modules.
_USE_INSTEAD_OF_MODULE = {"uuid": "ctx.uuid4()", "random": "ctx.random()", "secrets": "ctx.random()"}

_ALLOWED_MODULES = ("logging", "mainspring.", "asyncio.")

_paths = sysconfig.get_paths()
_STDLIB = tuple({_paths["stdlib"], _paths["platstdlib"]})


def _in_stdlib(frame: FrameType) -> bool:
    filename = frame.f_code.co_filename
    if filename.startswith("<frozen"):
        return True
    return filename.startswith(_STDLIB) and "-packages" not in filename


def _message(rule: _Rule, frame: FrameType) -> str:
    # Step out of the standard library to the code that called it: that is what to change.
    entry: FrameType | None = None
    caller: FrameType | None = frame
    while caller is not None and _in_stdlib(caller):
        entry, caller = caller, caller.f_back
    where = caller or frame
    if entry is None:
        what = f"{rule.name} {rule.problem}; use {rule.use} instead"
    else:
        module = str(entry.f_globals.get("__name__", "?"))
        qualname = entry.f_code.co_qualname
        if module == "random" and qualname.startswith("Random."):
            qualname = qualname.removeprefix("Random.")  # random.randint is a method of a hidden instance
        use = _USE_INSTEAD_OF_MODULE.get(module, rule.use)
        what = f"{module}.{qualname}() calls {rule.name}, which {rule.problem}; use {use} instead"
    return (
        f"workflow code must be deterministic so it can be replayed: {what} "
        f"(called at {where.f_code.co_filename}:{where.f_lineno})"
    )


_state = threading.local()


def _hook(frame: FrameType, event: str, arg: Any) -> None:
    if event != "c_call":
        return
    try:
        rule = _FORBIDDEN.get(arg)
    except TypeError:  # unhashable callable
        return
    if rule is None:
        return
    module = frame.f_globals.get("__name__", "")
    if module.startswith(_ALLOWED_MODULES):
        return
    err = NondeterministicCallError(_message(rule, frame))
    if getattr(_state, "violation", None) is None:
        _state.violation = err
    # Raised before the call is made (so time.sleep() does not sleep). CPython removes a profile
    # hook that raises; the violation is remembered all the same.
    raise err


def install() -> None:
    _state.violation = None
    sys.setprofile(_hook)


def uninstall() -> None:
    sys.setprofile(None)


def take_violation() -> NondeterministicCallError | None:
    """The first forbidden call made since ``install()``, if any (then forgotten)."""
    err: NondeterministicCallError | None = getattr(_state, "violation", None)
    _state.violation = None
    return err
