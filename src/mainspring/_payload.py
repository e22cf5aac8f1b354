"""Temporal-shaped payloads and codecs, so a Temporal user's ``PayloadCodec`` ports unchanged.

``Payload.SerializeToString()`` writes the protobuf wire form of Temporal's
``temporal.api.common.v1.Payload`` (field 1: ``map<string, bytes> metadata``, field 2: ``bytes data``),
with metadata entries in sorted key order so equal payloads serialize to equal bytes. No protobuf
dependency: the two fields need only varints and length-delimited records.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import MainspringError

__all__ = ["Payload", "PayloadCodec", "PayloadDecodeError"]


class PayloadDecodeError(MainspringError):
    """Bytes given to ``Payload.FromString`` are not a serialized payload."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _record(field_number: int, data: bytes) -> bytes:
    return _varint(field_number << 3 | 2) + _varint(len(data)) + data


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise PayloadDecodeError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _records(buf: bytes) -> list[tuple[int, bytes]]:
    """The (field number, bytes) of each length-delimited record; other wire types are refused."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        if key & 7 != 2:
            raise PayloadDecodeError(f"unexpected wire type {key & 7} for field {key >> 3}")
        size, pos = _read_varint(buf, pos)
        if pos + size > len(buf):
            raise PayloadDecodeError("truncated record")
        out.append((key >> 3, buf[pos : pos + size]))
        pos += size
    return out


@dataclass
class Payload:
    """One encoded value: ``metadata`` (e.g. ``{"encoding": b"json/plain"}``) and ``data``."""

    metadata: dict[str, bytes] = field(default_factory=dict)
    data: bytes = b""

    def SerializeToString(self) -> bytes:  # Temporal's (protobuf's) name
        parts = [_record(1, _record(1, key.encode()) + _record(2, self.metadata[key])) for key in sorted(self.metadata)]
        if self.data:
            parts.append(_record(2, self.data))
        return b"".join(parts)

    @classmethod
    def FromString(cls, buf: bytes) -> Payload:  # Temporal's (protobuf's) name
        payload = cls()
        for number, value in _records(bytes(buf)):
            if number == 1:
                key, item = "", b""
                for sub, sub_value in _records(value):
                    if sub == 1:
                        try:
                            key = sub_value.decode()
                        except UnicodeDecodeError:
                            raise PayloadDecodeError("metadata key is not UTF-8") from None
                    elif sub == 2:
                        item = sub_value
                payload.metadata[key] = item
            elif number == 2:
                payload.data = value
        return payload


class PayloadCodec(abc.ABC):
    """Transforms payloads as a whole (encryption, compression); Temporal's interface."""

    @abc.abstractmethod
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encode ``payloads``; the result has one payload per input, in order."""

    @abc.abstractmethod
    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Undo ``encode``; the result has one payload per input, in order."""
