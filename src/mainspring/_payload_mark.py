"""The wire form of an encoded payload: ``{"$payload": {"metadata": {key: base64}, "data": base64}}``.

What a payload codec's output travels and is stored as (see ``mainspring._codec``): the codec-server
protocol's JSON form of a payload, inside a one-key object like the ``$bytes`` mark. Without orjson or
anything else heavy, so the server's schema check and the CLI can recognise it at no cost.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ._payload import Payload
from .errors import MainspringError

__all__ = [
    "PAYLOAD_KEY",
    "CodecError",
    "encoding_of",
    "find_marks",
    "from_wire",
    "is_encoded",
    "marks_in",
    "payload_from_json",
    "payload_json",
    "to_wire",
]

#: The key of the one-key object that carries an encoded payload.
PAYLOAD_KEY = "$payload"


class CodecError(MainspringError):
    """A codec failed, returned the wrong number of payloads, or a codec server could not be reached."""


def is_encoded(value: Any) -> bool:
    """Whether ``value`` is an encoded payload (a ``$payload`` mark). Cheap: a type check and a lookup."""
    return type(value) is dict and len(value) == 1 and PAYLOAD_KEY in value


def to_wire(payload: Payload) -> dict[str, Any]:
    """``payload`` as its ``$payload`` mark."""
    return {PAYLOAD_KEY: payload_json(payload)}


def payload_json(payload: Payload) -> dict[str, Any]:
    """``payload`` in the codec-server protocol's JSON form: ``{"metadata": {k: base64}, "data": base64}``."""
    return {
        "metadata": {k: base64.b64encode(v).decode("ascii") for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode("ascii"),
    }


def payload_from_json(obj: Any) -> Payload:
    """The payload in the codec-server protocol's JSON form; raises ``CodecError`` for anything else."""
    if not isinstance(obj, dict):
        raise CodecError(f"a payload must be an object with metadata and data, got {type(obj).__name__}")
    metadata, data = obj.get("metadata") or {}, obj.get("data") or ""
    if not isinstance(metadata, dict) or not isinstance(data, str):
        raise CodecError("a payload's metadata must be an object of base64 strings and its data a base64 string")
    try:
        return Payload(
            metadata={str(k): base64.b64decode(v, validate=True) for k, v in metadata.items()},
            data=base64.b64decode(data, validate=True),
        )
    except (binascii.Error, ValueError, TypeError):
        raise CodecError("a payload's metadata values and data must be base64") from None


def from_wire(value: Any) -> Payload | None:
    """The payload a ``$payload`` mark carries, or None if ``value`` is not one."""
    return payload_from_json(value[PAYLOAD_KEY]) if is_encoded(value) else None


def encoding_of(value: Any) -> str | None:
    """The ``encoding`` metadata of a ``$payload`` mark (e.g. ``binary/encrypted``), if it says one."""
    if not is_encoded(value):
        return None
    inner = value[PAYLOAD_KEY]
    raw = inner.get("metadata", {}).get("encoding") if isinstance(inner, dict) else None
    try:
        return base64.b64decode(raw).decode() if isinstance(raw, str) else None
    except (binascii.Error, ValueError):
        return None


def marks_in(value: Any) -> list[Any]:
    """Every ``$payload`` mark in ``value`` (a parsed message), in order."""
    slots: list[tuple[Any, Any]] = []
    find_marks(value, slots)
    return [value if container is None else container[key] for container, key in slots]


def find_marks(value: Any, slots: list[tuple[Any, Any]], container: Any = None, key: Any = None) -> None:
    """Append ``(container, key)`` of every mark in ``value`` to ``slots`` (``(None, None)``: ``value`` is one)."""
    if type(value) is dict:
        if is_encoded(value):
            slots.append((container, key))
            return
        for k, v in value.items():
            if type(v) is dict or type(v) is list:
                find_marks(v, slots, value, k)
    elif type(value) is list:
        for i, v in enumerate(value):
            if type(v) is dict or type(v) is list:
                find_marks(v, slots, value, i)
