"""OIDC / JWT bearer tokens (``--auth oidc``): who a token's holder is, and its roles per namespace.

A token is accepted when PyJWT verifies it against a key of the JWKS (``--oidc-jwks``: a file, or the
issuer's https URL), signed with an asymmetric algorithm (RS*, PS*, ES*, EdDSA: never HS*, whose "key"
would be the public JWKS itself, the classic algorithm-confusion forgery), from the configured issuer,
for the configured audience, unexpired (30 s of clock skew allowed). Its roles come from one claim
(``--oidc-permissions-claim``, "permissions" by default), a list of ``"<namespace>:<role>"`` as Temporal's
default claim mapper reads them (``"default:writer"``, ``"*:admin"``; Temporal's ``read``/``write`` are
accepted for ``reader``/``writer``).

The JWKS is read at start and again when a token names a key id it does not hold (a rotated key), at most
once every 5 seconds: reading it is the only I/O here, and runs off the event loop.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .._answers import TOKEN_EXPIRED
from ..api.roles import ALL_NAMESPACES, Principal, Role
from ..errors import UnauthenticatedError

__all__ = ["CHANNEL_TOKEN_EXPIRED", "TOKEN_EXPIRED_AT_CALL", "OidcConfig", "OidcVerifier"]

_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
_ROLE_WORDS = {"read": Role.READER, "write": Role.WRITER, **{r.value: r for r in Role}}
_JWKS_REREAD = 5.0
_LEEWAY = 30


@dataclass(frozen=True)
class OidcConfig:
    """Where tokens come from and what they must say."""

    issuer: str
    audience: str
    #: A JWKS file, or an http(s) URL serving one (the issuer's ``jwks_uri``).
    jwks: str
    permissions_claim: str = "permissions"
    #: The claim that names the holder (shown in the UI and the audit log).
    name_claim: str = "sub"
    #: The web UI's login (authorization code flow with PKCE, ``_oidc_login``): the client id the issuer
    #: knows the UI by (None: the UI logs in with API keys only), its secret if it is a confidential client,
    #: and the callback URL registered with the issuer (None: the UI's own ``/api/v1/auth/oidc/callback``).
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    redirect_url: str | None = None


#: What a 401 (code ``TOKEN_EXPIRED``) answering a token that expired says, and the reason a channel opened with
#: one is closed with (1008): the client is to get a fresh token and connect again.
TOKEN_EXPIRED_AT_CALL = "the bearer token is not valid: it has expired; get a fresh one from the issuer"
CHANNEL_TOKEN_EXPIRED = "the bearer token expired: reconnect with a fresh one"


def _invalid(why: str) -> UnauthenticatedError:
    return UnauthenticatedError(f"the bearer token is not valid: {why}", code="invalid_credentials")


class OidcVerifier:
    """Verifies tokens against one issuer's keys."""

    def __init__(self, config: OidcConfig) -> None:
        try:
            import jwt  # noqa: F401  (PyJWT, with its cryptography extra)
        except ImportError:  # pragma: no cover - a dependency of the server
            raise ValueError("--auth oidc needs PyJWT: pip install 'pyjwt[crypto]'") from None
        self.config = config
        self._keys: dict[str, Any] = {}
        self._read_at = 0.0

    async def start(self) -> None:
        """Read the JWKS (ValueError if it cannot be read or holds no usable key)."""
        await self._reread()
        if not self._keys:
            raise ValueError(f"the JWKS {self.config.jwks} holds no signing key this server can use")

    def _fetch(self) -> dict[str, Any]:
        source = self.config.jwks
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=10) as answer:
                data: Any = json.loads(answer.read(1024 * 1024))
        else:
            with open(source, "rb") as f:
                data = json.loads(f.read(1024 * 1024))
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ValueError(f"{source} is not a JWKS (a JSON object with a 'keys' list)")
        return data

    async def _reread(self) -> None:
        import jwt

        try:
            data = await asyncio.to_thread(self._fetch)
        except (OSError, ValueError) as e:
            if not self._keys:
                raise ValueError(f"cannot read the JWKS {self.config.jwks}: {e}") from None
            return  # keep the keys known
        keys: dict[str, Any] = {}
        for entry in data["keys"]:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue
            keys[str(entry.get("kid", ""))] = key
        self._keys = keys
        self._read_at = time.monotonic()

    async def principal(self, token: str, *, audience: str | None = None, nonce: str | None = None) -> Principal:
        """The holder of ``token``; ``UnauthenticatedError`` saying what is wrong with it otherwise. An ID
        token of the UI's login is for ``audience`` (the client id) and carries the login's ``nonce``."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise _invalid("it is neither an API key nor a JWT") from None
        alg = header.get("alg")
        if alg not in _ALGORITHMS:
            raise _invalid(f"its algorithm {alg!r} is not accepted (only asymmetric signatures are)")
        kid = str(header.get("kid", ""))
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._read_at >= _JWKS_REREAD:
            await self._reread()  # a key rotated in since the JWKS was read?
            key = self._keys.get(kid)
        if key is None and not kid and len(self._keys) == 1:
            key = next(iter(self._keys.values()))
        if key is None:
            raise _invalid(f"it is signed with key {kid!r}, which the issuer's JWKS does not hold")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience or self.config.audience,
                issuer=self.config.issuer,
                leeway=_LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise UnauthenticatedError(TOKEN_EXPIRED_AT_CALL, code=TOKEN_EXPIRED) from None
        except jwt.InvalidAudienceError:
            raise _invalid(f"it is not for this server (audience {audience or self.config.audience!r})") from None
        except jwt.InvalidIssuerError:
            raise _invalid(f"it is not from {self.config.issuer!r}") from None
        except jwt.InvalidSignatureError:
            raise _invalid("its signature does not verify") from None
        except jwt.PyJWTError as e:
            raise _invalid(str(e)) from None
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise _invalid("its nonce is not the login's (a replayed or injected token)")
        # (``exp`` is required and PyJWT checked it is a number.) A channel the token opens is closed when it
        # ends, with the same skew allowed as here, so a token is accepted exactly as long as it keeps a channel.
        expires_at = float(claims["exp"]) + _LEEWAY
        return Principal(
            str(claims.get(self.config.name_claim, "?")), self._grants(claims), "oidc", expires_at=expires_at
        )

    def _grants(self, claims: dict[str, Any]) -> dict[str, Role]:
        raw = claims.get(self.config.permissions_claim, [])
        items = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
        grants: dict[str, Role] = {}
        for item in items:
            if not isinstance(item, str) or ":" not in item:
                continue
            namespace, _, word = item.rpartition(":")
            role = _ROLE_WORDS.get(word.lower())
            if role is None or not namespace:
                continue
            if namespace != ALL_NAMESPACES and len(namespace) > 255:
                continue
            # Several roles in one namespace: the one that allows most (admin over writer over reader).
            held = grants.get(namespace)
            if held is None or _RANK[role] > _RANK[held]:
                grants[namespace] = role
        return grants


_RANK = {Role.READER: 0, Role.WORKER: 1, Role.WRITER: 2, Role.ADMIN: 3}
