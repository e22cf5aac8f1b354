"""Errors that keep their type across history: an exception's class and public state, as JSON.

When user code raises an exception of its own class (``InsufficientFunds(missing=30)``), its failure JSON
gets an ``exception`` entry: ``{"module", "qualname", "args", "attrs"}`` (``attrs`` are the instance's
public attributes that have a JSON form). Whoever reads the failure back (the workflow that awaited the
activity) rebuilds an instance of that class if it can, else the usual ``ApplicationError(type=...)``.

A failure dict comes from history, which anyone with access to the API can write into (an activity
completion is just a request), so rebuilding must be harmless whatever the dict says:

- nothing is imported: the class must be in a module already in ``sys.modules`` (the worker imported it,
  as it imports the activities and workflows it runs), found by a plain attribute walk of its qualname;
- it must be a class and a subclass of ``Exception`` (not ``SystemExit``, not ``os.system``), not one of
  Python's builtins (those keep the Temporal shape, ``ApplicationError(type="ValueError")``, which code
  ported from Temporal checks) and not one of Mainspring's own (those have their own kinds), except a
  user's subclass of ``ApplicationError``;
- the instance is made with ``BaseException.__new__`` (the class's ``__init__`` and ``__new__`` do not run:
  they might do anything, or want arguments the JSON does not have), ``args`` set from JSON, and the
  attributes written straight into its ``__dict__`` (no property setters run), skipping any name the
  class defines as a descriptor. No pickle, no eval.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

__all__ = ["exception_info", "rebuild_exception"]

#: Attributes of ``FailureError`` (and ``ApplicationError``) that the failure JSON carries already.
_FAILURE_FIELDS = frozenset({"message", "cause", "stack", "type", "details", "non_retryable"})
#: A qualname part is a plain identifier (never ``<locals>``, never a dunder such as ``__class__``).
_MAX_QUALNAME = 300


def _json(value: Any) -> tuple[bool, Any]:
    from .converter import PayloadError, encode

    try:
        return True, encode(value)
    except (PayloadError, RecursionError, ValueError, TypeError):
        return False, None


def _is_own(cls: type) -> bool:
    return cls.__module__ == "mainspring" or cls.__module__.startswith("mainspring.")


def exception_info(err: BaseException) -> dict[str, Any] | None:
    """The ``exception`` entry of ``err``'s failure JSON; None for a builtin or Mainspring class (or one
    defined inside a function, which no reader could find)."""
    from .errors import ApplicationError

    cls = type(err)
    module = cls.__module__
    if module == "builtins" or "<" in cls.__qualname__ or not isinstance(err, Exception) or _is_own(cls):
        return None
    is_app = isinstance(err, ApplicationError)
    args: list[Any] = []
    if not is_app:  # an ApplicationError's args are its message, which the failure JSON has
        for a in err.args:
            ok, value = _json(a)
            args.append(value if ok else repr(a))
    attrs: dict[str, Any] = {}
    for name, value in getattr(err, "__dict__", {}).items():
        if name.startswith("_") or (is_app and name in _FAILURE_FIELDS):
            continue
        ok, encoded = _json(value)
        if ok:
            attrs[name] = encoded
    return {"module": module, "qualname": cls.__qualname__, "args": args, "attrs": attrs}


def _find_class(module: Any, qualname: Any) -> type[Exception] | None:
    from .errors import ApplicationError

    if not isinstance(module, str) or not isinstance(qualname, str) or len(qualname) > _MAX_QUALNAME:
        return None
    if module == "builtins":
        return None
    obj: Any = sys.modules.get(module)
    if obj is None:
        return None  # never imported here: not imported now either
    for part in qualname.split("."):
        if not part.isidentifier() or part.startswith("__"):
            return None
        try:
            # The object's own namespace only: no module ``__getattr__`` (which may import) or metaclass runs.
            obj = vars(obj).get(part)
        except TypeError:
            return None
        if obj is None:
            return None
    if not isinstance(obj, type) or not issubclass(obj, Exception):
        return None
    if obj.__module__ != module or obj.__qualname__ != qualname:
        return None  # an alias (``from os import error``): only a class under its own name
    if _is_own(obj) or (issubclass(obj, _mainspring_root()) and not issubclass(obj, ApplicationError)):
        return None
    return obj


def _mainspring_root() -> type[Exception]:
    from .errors import MainspringError

    return MainspringError


def rebuild_exception(info: Any, base: BaseException) -> BaseException | None:
    """An instance of the class ``info`` names (an ``exception`` entry of a failure), with its JSON state;
    None if the class cannot be found here or the entry is malformed. ``base`` is what the failure was
    rebuilt as without its class (an ``ApplicationError``): a user's subclass of ``ApplicationError``
    starts from its state (message, type, details, cause)."""
    from .errors import ApplicationError

    if not isinstance(info, dict):
        return None
    cls = _find_class(info.get("module"), info.get("qualname"))
    if cls is None:
        return None
    args = info.get("args")
    attrs = info.get("attrs")
    if not isinstance(args, list) or not isinstance(attrs, dict):
        return None
    is_app = issubclass(cls, ApplicationError)
    try:
        err = BaseException.__new__(cls, *([] if is_app else args))
    except TypeError:
        return None  # a class whose C layout wants its own __new__ (never one of ours)
    state = getattr(err, "__dict__", None)
    if state is None:
        return None
    if is_app:
        state.update(base.__dict__)
        err.args = base.args
    else:
        err.args = tuple(args)
    for name, value in attrs.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            continue
        if is_app and name in _FAILURE_FIELDS:
            continue
        if hasattr(type(inspect.getattr_static(cls, name, None)), "__get__"):
            continue  # a method or property of the class: never shadowed by JSON from history
        state[name] = value
    return err
