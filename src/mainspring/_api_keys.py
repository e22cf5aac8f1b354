"""API keys: how one is made, written and checked.

A key reads ``msk_<id>_<secret>``: the id (12 hex digits) names its row in the store, the secret (43
URL-safe characters, 256 random bits) proves it. Only the secret's SHA-256 is stored. A slow password
hash (bcrypt, scrypt) buys nothing here: it protects guessable secrets, and these are random 256-bit
ones no one can guess from their hash; it would cost milliseconds on every request instead of a
microsecond. The ``msk_`` prefix lets secret scanners find a key pasted where it should not be.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["PREFIX", "hash_secret", "new_key", "parse_key", "secret_matches"]

PREFIX = "msk_"
_KEY = re.compile(r"msk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def new_key() -> tuple[str, str, str]:
    """A fresh key: (its id, the whole key to hand to its owner once, the hash to store)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{PREFIX}{key_id}_{secret}", hash_secret(secret)


def parse_key(text: str) -> tuple[str, str] | None:
    """(id, secret) of a key, or None if ``text`` is not shaped like one."""
    match = _KEY.fullmatch(text.strip())
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Whether ``secret`` is the one ``stored_hash`` was made from (in constant time)."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
