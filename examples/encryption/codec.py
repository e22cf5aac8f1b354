"""Payload codecs for the encryption example: AES-256-GCM encryption and zlib compression.

The port of Temporal's ``samples-python/encryption``: ``EncryptionCodec`` ports both ways unchanged (only
the imports differ). The key comes from ``$MAINSPRING_ENCRYPTION_KEY`` (base64 of 32 bytes) and never
reaches the server: the client and the worker hold it, and so does the codec server
(``mainspring codec-server --codec codec:EncryptionCodec``) for the people allowed to read clear text.

Each encrypted payload names its key (``encryption-key-id``), so keys can be rotated: a new key id for
what is written from now on, the old key kept to read what was written before.
"""

from __future__ import annotations

import base64
import os
import zlib
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mainspring.converter import Payload, PayloadCodec

__all__ = ["CompressThenEncrypt", "CompressionCodec", "EncryptionCodec"]

#: The environment variable holding the key, base64; and one for the tests and the demo (never in production).
KEY_ENV = "MAINSPRING_ENCRYPTION_KEY"
DEMO_KEY = base64.b64encode(b"mainspring-demo-key-32-bytes-lng").decode()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each serialized payload: ``encoding: binary/encrypted``, the key id in metadata."""

    def __init__(self, key_id: str = "demo-key", key: bytes | None = None) -> None:
        super().__init__()
        self.key_id = key_id
        if key is None:
            key = base64.b64decode(os.environ.get(KEY_ENV, DEMO_KEY))
        self.encryptor = AESGCM(key)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": b"binary/encrypted", "encryption-key-id": self.key_id.encode()},
                data=self.encrypt(p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out: list[Payload] = []
        for p in payloads:
            # Payloads that are not ours (written before encryption was turned on) pass through.
            if p.metadata.get("encoding", b"").decode() != "binary/encrypted":
                out.append(p)
                continue
            key_id = p.metadata.get("encryption-key-id", b"").decode()
            if key_id != self.key_id:
                raise ValueError(f"unrecognized key id {key_id!r}")
            out.append(Payload.FromString(self.decrypt(p.data)))
        return out

    def encrypt(self, data: bytes) -> bytes:
        nonce = os.urandom(12)  # unique per message: GCM's one rule
        return nonce + self.encryptor.encrypt(nonce, data, None)

    def decrypt(self, data: bytes) -> bytes:
        return self.encryptor.decrypt(data[:12], data[12:], None)


class CompressionCodec(PayloadCodec):
    """zlib over each serialized payload (``encoding: binary/zlib``); put it before encryption in a chain
    (encrypted data does not compress)."""

    def __init__(self, level: int = 6) -> None:
        super().__init__()
        self.level = level

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(metadata={"encoding": b"binary/zlib"}, data=zlib.compress(p.SerializeToString(), self.level))
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload.FromString(zlib.decompress(p.data)) if p.metadata.get("encoding") == b"binary/zlib" else p
            for p in payloads
        ]


class CompressThenEncrypt(PayloadCodec):
    """Compression, then encryption: one codec for both (decoding undoes them in the reverse order)."""

    def __init__(self) -> None:
        super().__init__()
        self.compress = CompressionCodec()
        self.encrypt = EncryptionCodec()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.encrypt.encode(await self.compress.encode(payloads))

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.compress.decode(await self.encrypt.decode(payloads))
