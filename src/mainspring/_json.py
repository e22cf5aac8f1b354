"""Fast JSON for the hot path (every message and every stored transition), via orjson.

orjson refuses a few things the standard library accepts (integers beyond 64 bits, non-string keys);
for those rare values we fall back to the standard library, so behaviour never depends on the speed-up.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "dumps_str", "loads"]

_std = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return _std(value).encode()


def dumps_str(value: Any) -> str:
    """``value`` as compact JSON text."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _std(value)


def loads(data: str | bytes) -> Any:
    """Parse JSON text."""
    return orjson.loads(data)
