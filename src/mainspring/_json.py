"""Fast JSON for the hot path (every message and every stored transition), via orjson.

orjson refuses a few things the standard library accepts (integers beyond 64 bits, non-string keys);
for those rare values we fall back to the standard library, so behaviour never depends on the speed-up.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["RawJSON", "dumps", "dumps_str", "loads"]


class RawJSON:
    """JSON text that ``dumps`` embeds as it is, without parsing it (it must be valid JSON): a page of
    stored history events goes out as the store holds them, not parsed and encoded again."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _fragment(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.text)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _parsed(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return json.loads(value.text)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_std = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_parsed).encode


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value, default=_fragment)
    except TypeError:
        return _std(value).encode()


def dumps_str(value: Any) -> str:
    """``value`` as compact JSON text."""
    try:
        return orjson.dumps(value, default=_fragment).decode()
    except TypeError:
        return _std(value)


def loads(data: str | bytes) -> Any:
    """Parse JSON text."""
    return orjson.loads(data)
