"""The web UI's login through the OIDC issuer: the authorization code flow with PKCE (RFC 7636).

1. ``GET /api/v1/auth/oidc/login?return_to=/namespaces/...``: the server makes a ``state``, a ``nonce`` and
   a PKCE verifier, keeps them (in memory, ten minutes), and redirects the browser to the issuer's
   authorization endpoint with the verifier's S256 challenge.
2. The issuer sends the browser back to ``/api/v1/auth/oidc/callback?code=...&state=...``. The server takes
   the login the state names (once: a state is used a single time), redeems the code at the token endpoint
   with the verifier (so a code intercepted on the way is useless to anyone else), verifies the ID token
   (signed by the issuer's JWKS, for the UI's client id, carrying the login's nonce), makes a UI session
   from its claims (the same ``permissions`` claim as bearer tokens) and redirects to ``return_to``.

The issuer's endpoints come from its discovery document (``<issuer>/.well-known/openid-configuration``),
read at start. The token request is the only other I/O, made off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..api.roles import Principal
from ..errors import UnauthenticatedError
from ._oidc import OidcConfig, OidcVerifier

__all__ = ["CALLBACK_PATH", "LOGIN_PATH", "OidcLogin"]

LOGIN_PATH = "/api/v1/auth/oidc/login"
CALLBACK_PATH = "/api/v1/auth/oidc/callback"
#: A login not finished within this many seconds is forgotten.
_PENDING_SECONDS = 600
_MAX_PENDING = 10_000


@dataclass(frozen=True, slots=True)
class _Pending:
    verifier: str
    nonce: str
    redirect_uri: str
    return_to: str
    expires: float


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def safe_return(path: str | None) -> str:
    """Where to go after the login: a path of the UI's own, never another site (an open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


class OidcLogin:
    """The logins under way, and how to finish them."""

    def __init__(self, config: OidcConfig, verifier: OidcVerifier) -> None:
        assert config.client_id is not None
        self.config = config
        self.client_id: str = config.client_id
        self.verifier = verifier
        self._pending: dict[str, _Pending] = {}
        self.authorization_endpoint = ""
        self.token_endpoint = ""

    async def start(self) -> None:
        """Read the issuer's discovery document (ValueError if it cannot be read or lacks the endpoints)."""
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"

        def fetch() -> Any:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return json.loads(answer.read(1024 * 1024))

        try:
            doc = await asyncio.to_thread(fetch)
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read the OIDC discovery document {url}: {e}") from None
        if not isinstance(doc, dict) or not doc.get("authorization_endpoint") or not doc.get("token_endpoint"):
            raise ValueError(f"{url} names no authorization_endpoint and token_endpoint")
        self.authorization_endpoint = str(doc["authorization_endpoint"])
        self.token_endpoint = str(doc["token_endpoint"])

    def begin(self, origin: str, return_to: str | None) -> str:
        """A new login from the UI at ``origin``: the issuer's URL to send the browser to."""
        now = time.monotonic()
        if len(self._pending) >= _MAX_PENDING:
            self._pending = {k: p for k, p in self._pending.items() if p.expires > now}
            while len(self._pending) >= _MAX_PENDING:  # a flood of logins never finished: the oldest go
                self._pending.pop(next(iter(self._pending)))
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        redirect_uri = self.config.redirect_url or origin.rstrip("/") + CALLBACK_PATH
        self._pending[state] = _Pending(verifier, nonce, redirect_uri, safe_return(return_to), now + _PENDING_SECONDS)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
        joiner = "&" if "?" in self.authorization_endpoint else "?"
        return self.authorization_endpoint + joiner + urllib.parse.urlencode(query)

    async def finish(self, code: str, state: str) -> tuple[Principal, str]:
        """The user the issuer vouches for, and where to send them; ``UnauthenticatedError`` if the login is
        unknown, expired or refused."""
        pending = self._pending.pop(state, None)
        if pending is None or pending.expires <= time.monotonic():
            raise UnauthenticatedError(
                "this login is unknown or expired (each lasts 10 minutes and is used once): log in again",
                code="login_expired",
            )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": pending.verifier,
        }
        if self.config.client_secret:
            form["client_secret"] = self.config.client_secret
        tokens = await asyncio.to_thread(self._redeem, form)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise UnauthenticatedError("the issuer's answer holds no ID token", code="login_refused")
        principal = await self.verifier.principal(id_token, audience=self.client_id, nonce=pending.nonce)
        return principal, pending.return_to

    def _redeem(self, form: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.token_endpoint,
            data=urllib.parse.urlencode(form).encode(),
            headers={"content-type": "application/x-www-form-urlencoded", "accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                data = json.loads(answer.read(1024 * 1024))
        except urllib.error.HTTPError as e:
            raise UnauthenticatedError(
                f"the issuer refused the login ({e.code}): {e.read(2000).decode('utf-8', 'replace')}",
                code="login_refused",
            ) from None
        except (OSError, ValueError) as e:
            raise UnauthenticatedError(f"the issuer could not be asked: {e}", code="login_refused") from None
        if not isinstance(data, dict):
            raise UnauthenticatedError("the issuer's answer is not a JSON object", code="login_refused")
        return data
