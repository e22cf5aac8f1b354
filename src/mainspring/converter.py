"""Payload conversion: Python values <-> JSON, validated against the declared types.

Dataclasses, pydantic models, tuples, lists, dicts and primitives all work, by way of pydantic.
Decoding is strict in the JSON sense ("3" is not an int), so a value decoded by a worker means the
same as it does to the server's schema check.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

import pydantic
import pydantic_core

from ._json import dumps
from .errors import MainspringError

__all__ = ["PayloadError", "decode", "encode", "json_schema"]


class PayloadError(MainspringError):
    """A payload could not be converted to or from JSON; the message names the field."""


@functools.lru_cache(maxsize=1024)
def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(tp)


def encode(value: Any) -> Any:
    """A Python value as a JSON-compatible value (dicts, lists, strings, numbers, bools, None)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return pydantic_core.to_jsonable_python(value)
    except pydantic_core.PydanticSerializationError as e:
        raise PayloadError(f"cannot convert {type(value).__name__} to JSON: {e}") from None


def decode(data: Any, tp: Any) -> Any:
    """A JSON value as an instance of ``tp``; raises ``PayloadError`` naming the offending field."""
    if tp is Any or tp is None or (tp is type(None) and data is None):
        return data
    if tp is str and type(data) is str:
        # What strict validation of a JSON string as ``str`` gives: the string itself. (The general
        # path encodes the value to JSON and parses it again: ~4 ms for 1 MB of ordinary text.)
        return data
    try:
        adapter = _adapter(tp)
    except TypeError:  # unhashable or unknown annotation: pass the value through
        return data
    try:
        return adapter.validate_json(dumps(data), strict=True)
    except pydantic.ValidationError as e:
        raise PayloadError(format_validation_error(e)) from None


def format_validation_error(err: pydantic.ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"]
    if first["type"] == "missing":
        text = f"field '{loc}' is required"
    elif loc:
        text = f"field '{loc}': {msg}"
    else:
        text = msg
    extra = err.error_count() - 1
    return text + (f" (and {extra} more problem(s))" if extra else "")


def json_schema(tp: Any) -> dict[str, Any] | None:
    """The JSON schema of ``tp``, or None if it has none (e.g. ``Any``)."""
    if tp is Any:
        return None
    try:
        schema: dict[str, Any] = _adapter(tp).json_schema()
    except (TypeError, pydantic.PydanticUserError, pydantic.errors.PydanticSchemaGenerationError):
        return None
    return schema


def type_hints(fn: Any) -> dict[str, Any]:
    """The resolved annotations of a function (strings from ``from __future__ import annotations`` too)."""
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return dict(getattr(fn, "__annotations__", {}))
