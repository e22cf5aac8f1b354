import asyncio
from collections.abc import Sequence

import pytest

from mainspring.converter import Payload, PayloadCodec, PayloadDecodeError


def test_round_trip_and_known_protobuf_bytes() -> None:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'"hi"')
    raw = payload.SerializeToString()
    # Hand-computed protobuf encoding of temporal.api.common.v1.Payload.
    assert raw == b'\n\x16\n\x08encoding\x12\njson/plain\x12\x04"hi"'
    assert Payload.FromString(raw) == payload
    assert Payload.FromString(b"") == Payload()


def test_garbage_is_refused() -> None:
    with pytest.raises(PayloadDecodeError):
        Payload.FromString(b"\x0a\x05ab")


def test_codec_interface() -> None:
    class Reverse(PayloadCodec):
        async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
            return [Payload(p.metadata, p.data[::-1]) for p in payloads]

        async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
            return [Payload(p.metadata, p.data[::-1]) for p in payloads]

    codec = Reverse()
    out = asyncio.run(codec.decode(asyncio.run(codec.encode([Payload(data=b"abc")]))))
    assert out == [Payload(data=b"abc")]
