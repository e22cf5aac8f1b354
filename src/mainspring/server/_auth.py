"""Who is calling: API keys and the web UI's sessions, checked on every request and channel.

With ``--auth api-key`` (or ``oidc``, which takes the issuer's JWTs besides keys: ``_oidc``) every request
but a few public ones (the health check, the API's description, the
UI's own files and its login) must carry credentials:

- ``Authorization: Bearer msk_...``, an API key (``mainspring._api_keys``): what the CLI, the SDK and
  workers send;
- or, from the web UI, the session cookie its login set (``HttpOnly; Secure; SameSite=Strict``), and on
  every request that changes something an ``X-CSRF-Token`` header with the session's token. A cookie is
  never enough for a WebSocket: the channels take bearer keys only.

``AuthGate`` is the ASGI middleware that finds the caller (a ``Principal``) and puts it in the request's
scope, or answers 401; what the caller may do is decided where the operation is known (``authorize``: the
HTTP endpoints and the channels, from each operation's declared ``Access``), a 403 naming the role needed.

Keys live in the store (only their secrets' hashes) and in memory here: every request is checked without
a database read. The table is read again every few seconds (keys made offline with ``api-key create
--db``, or revoked on another server, count within ``REFRESH`` seconds), and at once when an unknown key
id arrives (at most once a second, so a flood of forged keys costs no more than that).

UI sessions live in the store (``ui_sessions``), keyed by the SHA-256 of the cookie's value (the value itself
is stored nowhere): every server of a store knows them, a restart logs no one out, and a logout or a key's
revocation ends them on every server at once, as each request with a cookie reads its session from the store
(a UI's requests are few). Expired ones are purged now and then.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._api_keys import PREFIX as API_KEY_PREFIX
from .._api_keys import new_key, parse_key, secret_matches
from .._json import dumps, dumps_str, loads
from ..api.roles import ALL_NAMESPACES, Access, Principal, Role, needed_role
from ..errors import InvalidArgumentError, NotFoundError, PermissionDeniedError, UnauthenticatedError
from ..storage import StorageError, Store, StoredApiKey, StoredUiSession
from ._execution import iso
from ._oidc import OidcConfig, OidcVerifier
from ._oidc_login import CALLBACK_PATH, LOGIN_PATH, OidcLogin

if TYPE_CHECKING:
    from ._audit import AuditLog

__all__ = [
    "AUTH_MODES",
    "NO_CREDENTIALS",
    "SESSION_COOKIE",
    "AuthGate",
    "Authenticator",
    "authorize",
    "check_key_name",
    "key_view",
    "make_key",
    "me",
]

log = logging.getLogger("mainspring.server")

#: The values of ``--auth``.
AUTH_MODES = ("none", "api-key", "oidc")
#: Seconds between two reads of the key table.
REFRESH = 3.0
#: An unknown key id reads the table again, at most this often (seconds).
_MISS_REFRESH = 1.0
#: A UI session ends this long after its login (seconds).
SESSION_SECONDS = 12 * 3600
SESSION_COOKIE = "mainspring_session"
#: Expired sessions are deleted from the store this often (seconds), by each server.
_PURGE_EVERY = 300.0
_CSRF_HEADER = b"x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[MutableMapping[str, Any]], Any]

NO_CREDENTIALS = (
    "this server requires authentication: pass an API key (--api-key or MAINSPRING_API_KEY for the CLI, "
    "Client.connect(api_key=...) for the SDK), as the header 'Authorization: Bearer <key>'; an admin "
    "makes one with `mainspring operator api-key create`"
)


def make_key(name: str, namespace: str, role: Role, created_by: str, now: float) -> tuple[StoredApiKey, str]:
    """A new key to store, and the key itself (to show once)."""
    key_id, text, secret_hash = new_key()
    return StoredApiKey(key_id, name, namespace, role.value, secret_hash, now, created_by), text


def key_view(key: StoredApiKey) -> dict[str, Any]:
    """A key as the API and the CLI show it (never its secret or its hash)."""
    return {
        "key_id": key.key_id,
        "name": key.name,
        "namespace": key.namespace,
        "role": key.role,
        "created_at": iso(key.created_at),
        "created_by": key.created_by,
        "revoked_at": iso(key.revoked_at) if key.revoked_at is not None else None,
    }


def _principal(key: StoredApiKey, method: str = "api-key") -> Principal:
    return Principal(f"{key.name} ({key.key_id})", {key.namespace: Role(key.role)}, method, key.key_id)


@dataclass(slots=True)
class _Session:
    principal: Principal
    csrf: str
    #: When it ends (Unix seconds).
    expires: float


def _session_hash(sid: str) -> str:
    """What the store keys a session by: a copy of the database (or a backup) opens no session."""
    return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()


def _stored(sid: str, session: _Session, now: float) -> StoredUiSession:
    p = session.principal
    grants = dumps_str({ns: role.value for ns, role in p.grants.items()})
    return StoredUiSession(_session_hash(sid), p.name, grants, p.method, p.key_id, session.csrf, now, session.expires)


def _loaded(row: StoredUiSession) -> _Session | None:
    """The session a row holds; None for a row this server cannot read (roles it does not know)."""
    try:
        raw = loads(row.grants)
        grants = {str(ns): Role(role) for ns, role in raw.items()}
    except (ValueError, TypeError, AttributeError):
        log.warning("a UI session in the store has unreadable grants: refused")
        return None
    return _Session(Principal(row.principal, grants, row.method, row.key_id), row.csrf_token, row.expires_at)


class Authenticator:
    """The API keys a server knows, and its UI sessions."""

    def __init__(self, store: Store, mode: str = "api-key", oidc: OidcConfig | None = None) -> None:
        if mode not in AUTH_MODES:
            raise ValueError(f"--auth must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
        if mode == "oidc" and oidc is None:
            raise ValueError("--auth oidc needs --oidc-issuer, --oidc-audience and --oidc-jwks")
        self.store = store
        self.mode = mode
        #: With ``--auth oidc``: bearer tokens that are not API keys are JWTs of this issuer.
        self.oidc = OidcVerifier(oidc) if mode == "oidc" and oidc is not None else None
        #: And with a client id, the UI logs in through the issuer too (``_oidc_login``).
        self.oidc_login = (
            OidcLogin(oidc, self.oidc) if self.oidc is not None and oidc is not None and oidc.client_id else None
        )
        self._keys: dict[str, StoredApiKey] = {}
        self._read_at = 0.0
        self._reading: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._purged_at = 0.0
        #: key id -> what to call when it is revoked (the open channels it authenticated close).
        self._watchers: dict[str, set[Callable[[], None]]] = {}

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    async def start(self) -> str | None:
        """Read the keys and keep them fresh. On a store with no key at all, make a first admin key and
        return it (to print once: it is the way in)."""
        await self._read()
        if self.oidc is not None:
            await self.oidc.start()
        if self.oidc_login is not None:
            await self.oidc_login.start()
        first: str | None = None
        if self.mode == "api-key" and not self._keys:
            key, first = make_key("first-admin", ALL_NAMESPACES, Role.ADMIN, "server", time.time())
            await self.store.put_api_key(key)
            self._keys[key.key_id] = key
        if self.enabled:  # (with no checks, nothing reads the keys but their listing, kept up to date here)
            await self.purge_sessions()
            self._refresher = asyncio.get_running_loop().create_task(self._refresh(), name="mainspring-api-keys")
        return first

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH)
            try:
                await self._read()
            except StorageError as e:  # keep the keys known; a store that fails says so elsewhere too
                log.warning("could not read the API keys again: %s", e)
            if time.monotonic() - self._purged_at >= _PURGE_EVERY:
                await self.purge_sessions()

    async def purge_sessions(self) -> int:
        """Delete the expired UI sessions from the store (every server does, now and then); how many."""
        self._purged_at = time.monotonic()
        try:
            return await self.store.purge_ui_sessions(time.time())
        except StorageError as e:
            log.warning("could not purge the expired UI sessions: %s", e)
            return 0

    async def _read(self) -> None:
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read_now())
        reading = self._reading
        try:
            await asyncio.shield(reading)
        finally:
            if self._reading is reading and reading.done():
                self._reading = None

    async def _read_now(self) -> None:
        keys = await self.store.list_api_keys()
        self._keys = {k.key_id: k for k in keys}
        self._read_at = time.monotonic()
        revoked = {k.key_id for k in keys if k.revoked_at is not None}
        if revoked & self._watchers.keys():
            self._end_channels(revoked)

    # --- the keys ------------------------------------------------------------------------------------------

    async def principal_for_key(self, text: str) -> Principal:
        """The caller an API key stands for; ``UnauthenticatedError`` for anything else."""
        parsed = parse_key(text)
        if parsed is None:
            raise UnauthenticatedError(
                "the credentials are not an API key (one reads msk_<id>_<secret>): check --api-key / "
                "MAINSPRING_API_KEY",
                code="invalid_credentials",
            )
        key_id, secret = parsed
        key = self._keys.get(key_id)
        if key is None:
            key = await self._look_again(key_id)
        if key is None or not secret_matches(secret, key.secret_hash):
            raise UnauthenticatedError(
                "the API key is not valid: no such key, or a mistyped secret", code="invalid_credentials"
            )
        if key.revoked_at is not None:
            raise UnauthenticatedError(f"the API key {key.key_id} was revoked", code="invalid_credentials")
        return _principal(key)

    async def _look_again(self, key_id: str) -> StoredApiKey | None:
        """Read the table again for a key id it did not hold (made a moment ago, offline or on another
        server?), in a read begun after the miss: at most one read a second, shared by all that missed
        meanwhile, so unknown ids (forged keys) cost the store little, and their senders wait."""
        missed_at = time.monotonic()
        pause = self._read_at + _MISS_REFRESH - missed_at
        if pause > 0:
            await asyncio.sleep(pause)
        if self._read_at < missed_at:
            try:
                await self._read()
            except StorageError:
                pass
        return self._keys.get(key_id)

    async def create_key(self, by: Principal | None, name: str, namespace: str, role: Role) -> tuple[StoredApiKey, str]:
        """Make a key (the caller must be an admin of ``namespace``, or of every namespace for a key of
        every namespace); the stored key and the key itself."""
        _check_admin(by, namespace)
        key, text = make_key(name, namespace, role, by.name if by is not None else "server", time.time())
        await self.store.put_api_key(key)
        self._keys[key.key_id] = key
        return key, text

    def visible_keys(self, by: Principal | None) -> list[StoredApiKey]:
        """The keys ``by`` administers: every key for an admin of every namespace."""
        return [k for k in sorted(self._keys.values(), key=lambda k: k.created_at) if _administers(by, k.namespace)]

    async def revoke_key(self, by: Principal | None, key_id: str) -> StoredApiKey:
        key = self._keys.get(key_id)
        if key is None or not _administers(by, key.namespace):
            raise NotFoundError(f"no API key {key_id!r} (see `mainspring operator api-key list`)", code="not_found")
        revoked = await self.store.revoke_api_key(key_id, time.time())
        if revoked is None:
            raise NotFoundError(f"no API key {key_id!r}", code="not_found")
        self._keys[key_id] = revoked
        await self.store.delete_ui_sessions_of_keys([key_id])
        self._end_channels({key_id})
        return revoked

    # --- UI sessions ---------------------------------------------------------------------------------------

    async def log_in(self, text: str) -> tuple[str, _Session]:
        """A session for the holder of an API key: (its cookie value, the session)."""
        return await self.open_session(await self.principal_for_key(text))

    async def open_session(self, principal: Principal) -> tuple[str, _Session]:
        """A UI session for ``principal`` (who logged in with a key, or through the issuer), stored."""
        now = time.time()
        sid = secrets.token_urlsafe(32)
        session = _Session(
            Principal(principal.name, principal.grants, f"session ({principal.method})", principal.key_id),
            secrets.token_urlsafe(24),
            now + SESSION_SECONDS,
        )
        await self.store.put_ui_session(_stored(sid, session, now))
        return sid, session

    async def log_out(self, sid: str) -> None:
        """End the session (on every server of the store)."""
        await self.store.delete_ui_session(_session_hash(sid))

    async def session(self, sid: str) -> _Session | None:
        """The session a cookie's value opens: None if there is none (forged, logged out), it expired, or the
        key it was opened with was revoked since."""
        row = await self.store.get_ui_session(_session_hash(sid), time.time())
        if row is None:
            return None
        if row.key_id is not None:
            key = self._keys.get(row.key_id)
            if key is not None and key.revoked_at is not None:
                return None
        return _loaded(row)

    def _end_channels(self, key_ids: Iterable[str]) -> None:
        for key_id in set(key_ids):
            for callback in self._watchers.pop(key_id, ()):
                try:
                    callback()
                except Exception:  # one channel's close must not keep the others open
                    log.exception("closing a channel of a revoked key failed")

    def watch(self, key_id: str, on_revoked: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_revoked`` when the key is revoked (here, or seen revoked in the store); returns the
        call that stops watching."""
        self._watchers.setdefault(key_id, set()).add(on_revoked)

        def unwatch() -> None:
            callbacks = self._watchers.get(key_id)
            if callbacks is not None:
                callbacks.discard(on_revoked)
                if not callbacks:
                    del self._watchers[key_id]

        return unwatch


def _administers(by: Principal | None, namespace: str) -> bool:
    if by is None:  # no authentication: the operator of the server
        return True
    if by.grants.get(ALL_NAMESPACES) is Role.ADMIN:
        return True
    return namespace != ALL_NAMESPACES and by.grants.get(namespace) is Role.ADMIN


def _check_admin(by: Principal | None, namespace: str) -> None:
    if not _administers(by, namespace):
        where = "every namespace" if namespace == ALL_NAMESPACES else f"namespace {namespace!r}"
        raise PermissionDeniedError(
            f"making or revoking keys of {where} needs the admin role there"
            + (f"; {by.name} is not an admin of it" if by is not None else ""),
            code="permission_denied",
            details={"needed_role": Role.ADMIN.value, "namespace": namespace},
        )


def authorize(principal: Principal, access: Access, namespace: str, what: str) -> None:
    """Refuse (403, naming the role needed) a call ``principal`` may not make."""
    if principal.may(access, namespace):
        return
    role = needed_role(access)
    if access is Access.SOME_ADMIN:
        raise PermissionDeniedError(
            f"{what} needs the admin role in some namespace; {principal.name} holds none",
            code="permission_denied",
            details={"needed_role": role.value, "namespace": ALL_NAMESPACES},
        )
    where = f"namespace {namespace!r}" if namespace else "every namespace"
    has = principal.role_in(namespace) if namespace else principal.grants.get(ALL_NAMESPACES)
    holds = f"holds the {has.value} role there" if has is not None else "has no role there"
    raise PermissionDeniedError(
        f"{what} needs the {role.value} role in {where}; {principal.name} {holds}",
        code="permission_denied",
        details={"needed_role": role.value, "namespace": namespace or ALL_NAMESPACES},
    )


# --- the middleware ----------------------------------------------------------------------------------------


def _public(path: str) -> bool:
    """Paths anyone may fetch: the health check, the API's description, the UI's page and files, login."""
    if not path.startswith("/api/"):
        return True  # the UI's page and its static files: what they show comes from the API
    return path in ("/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs.css")


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    found: str = v
                    return found
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


class AuthGate:
    """ASGI middleware: the caller of each request (``scope["mainspring.principal"]``), or a 401; and the
    UI's login, logout and who-am-I (``/api/v1/auth/...``)."""

    def __init__(self, app: Any, auth: Authenticator, audit: AuditLog | None = None) -> None:
        self.app = app
        self.auth = auth
        #: Logins and logouts go in the audit log too.
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if kind == "http" and path.startswith("/api/v1/auth/"):
            await self._auth_route(scope, receive, send, path)
            return
        try:
            principal = await self._principal(scope, kind)
        except (UnauthenticatedError, PermissionDeniedError) as e:
            if _public(path):  # bad credentials on a public path: served as to anyone
                await self.app(scope, receive, send)
                return
            await _refuse(scope, receive, send, 401 if isinstance(e, UnauthenticatedError) else 403, e)
            return
        if principal is None and not _public(path):
            await _refuse(scope, receive, send, 401, UnauthenticatedError(NO_CREDENTIALS, code="unauthenticated"))
            return
        scope["mainspring.principal"] = principal
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope, kind: str) -> Principal | None:
        authorization = _header(scope, b"authorization")
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise UnauthenticatedError(
                    "the Authorization header must read 'Bearer <API key>'", code="invalid_credentials"
                )
            token = token.strip()
            if self.auth.oidc is not None and not token.startswith(API_KEY_PREFIX):
                return await self.auth.oidc.principal(token)
            return await self.auth.principal_for_key(token)
        sid = _cookie(scope, SESSION_COOKIE)
        if sid is None or kind != "http":
            return None
        session = await self.auth.session(sid)
        if session is None:
            raise UnauthenticatedError("your session ended: log in again", code="session_expired")
        if scope.get("method", "GET") not in _SAFE_METHODS and not secrets.compare_digest(
            _header(scope, _CSRF_HEADER) or "", session.csrf
        ):
            raise PermissionDeniedError(
                "this request changes something and lacks the session's CSRF token (header X-CSRF-Token)",
                code="csrf_token_missing",
            )
        return session.principal

    def _audit(self, scope: Scope, principal: Principal | None, what: str, status: int, target: str) -> None:
        if self.audit is not None:
            client = scope.get("client")
            peer = str(client[0]) if client else None
            self.audit.record(principal, what, "", None, status, peer, target=target)

    async def _auth_route(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        method = scope.get("method", "GET")
        if path == "/api/v1/auth/login" and method == "POST":
            await self._login(scope, receive, send)
        elif path == "/api/v1/auth/logout" and method == "POST":
            sid = _cookie(scope, SESSION_COOKIE)
            if sid is not None:
                session = await self.auth.session(sid)
                if session is not None:
                    self._audit(scope, session.principal, "logout", 200, session.principal.key_id or "")
                await self.auth.log_out(sid)
            await _answer(send, 200, {"logged_out": True}, cookie=_cookie_header("", 0))
        elif path in (LOGIN_PATH, CALLBACK_PATH) and method == "GET" and self.auth.oidc_login is not None:
            await self._oidc_route(scope, send, path, self.auth.oidc_login)
        elif path == "/api/v1/auth/me" and method == "GET":
            try:
                principal = await self._principal(scope, "http")
            except (UnauthenticatedError, PermissionDeniedError):
                principal = None
            sid = _cookie(scope, SESSION_COOKIE)
            session = await self.auth.session(sid) if sid is not None else None
            answer = me(self.auth.mode, principal, session.csrf if session else None)
            answer["oidc_login"] = self.auth.oidc_login is not None
            await _answer(send, 200, answer)
        else:
            await _answer(send, 404, {"code": "not_found", "message": f"no such endpoint: {method} {path}"})

    async def _oidc_route(self, scope: Scope, send: Send, path: str, login: OidcLogin) -> None:
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))

        def arg(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        if path == LOGIN_PATH:
            host = _header(scope, b"host") or "localhost"
            origin = f"{scope.get('scheme', 'http')}://{host}"
            await _redirect(send, login.begin(origin, arg("return_to")))
            return
        try:
            if arg("error"):
                raise UnauthenticatedError(
                    f"the issuer refused the login: {arg('error')} {arg('error_description') or ''}".strip(),
                    code="login_refused",
                )
            code, state = arg("code"), arg("state")
            if not code or not state:
                raise UnauthenticatedError("the issuer's answer lacks its code or state", code="login_refused")
            principal, return_to = await login.finish(code, state)
        except UnauthenticatedError as e:
            self._audit(scope, None, "login", 401, "oidc")
            message = urllib.parse.quote(e.message[:300])
            await _redirect(send, f"/namespaces/default/workflows?login_error={message}")
            return
        sid, session = await self.auth.open_session(principal)
        self._audit(scope, session.principal, "login", 200, "oidc")
        await _redirect(send, return_to, cookie=_cookie_header(sid, SESSION_SECONDS))

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > 64 * 1024:
                await _answer(send, 413, {"code": "payload_too_large", "message": "a login is a small JSON body"})
                return
            if not message.get("more_body"):
                break
        try:
            data = loads(body)
            key = data["api_key"]
            if not isinstance(key, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            await _answer(
                send, 400, {"code": "invalid_argument", "message": 'a login is {"api_key": "msk_..."} as JSON'}
            )
            return
        parsed = parse_key(key)
        target = parsed[0] if parsed is not None else ""
        try:
            sid, session = await self.auth.log_in(key)
        except UnauthenticatedError as e:
            self._audit(scope, None, "login", 401, target)
            await _answer(send, 401, {"code": e.code, "message": e.message})
            return
        self._audit(scope, session.principal, "login", 200, target)
        await _answer(
            send,
            200,
            me(self.auth.mode, session.principal, session.csrf),
            cookie=_cookie_header(sid, SESSION_SECONDS),
        )


def me(mode: str, principal: Principal | None, csrf: str | None) -> dict[str, Any]:
    """Who the caller is, as ``GET /api/v1/auth/me`` answers (the UI hides what the grants do not allow)."""
    if mode == "none":
        return {"auth": mode, "authenticated": True, "name": None, "grants": [{"namespace": "*", "role": "admin"}]}
    if principal is None:
        return {"auth": mode, "authenticated": False, "name": None, "grants": []}
    answer: dict[str, Any] = {
        "auth": mode,
        "authenticated": True,
        "name": principal.name,
        "method": principal.method,
        "grants": [{"namespace": ns, "role": role.value} for ns, role in sorted(principal.grants.items())],
    }
    if csrf is not None:
        answer["csrf_token"] = csrf
    return answer


def _cookie_header(value: str, max_age: int) -> bytes:
    return f"{SESSION_COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; Secure; SameSite=Strict".encode("latin-1")


async def _redirect(send: Send, location: str, *, cookie: bytes | None = None) -> None:
    headers = [(b"location", location.encode("latin-1", "replace")), (b"cache-control", b"no-store")]
    headers.append((b"content-length", b"0"))
    if cookie is not None:
        headers.append((b"set-cookie", cookie))
    await send({"type": "http.response.start", "status": 302, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _answer(send: Send, status: int, body: dict[str, Any], *, cookie: bytes | None = None) -> None:
    data = dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if cookie is not None:
        headers.append((b"set-cookie", cookie))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, e: UnauthenticatedError | PermissionDeniedError
) -> None:
    from ._guard import Refusal, refuse_handshake

    if scope["type"] == "websocket":
        await refuse_handshake(Refusal(status, e.code, e.message), scope, receive, send)
        return
    body = {"code": e.code, "message": e.message}
    data = dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mainspring"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def check_key_name(name: str) -> None:
    """Refuse a key name that is empty or long (names are for people to tell keys apart)."""
    if not name.strip() or len(name) > 200:
        raise InvalidArgumentError("a key's name must be 1 to 200 characters", code="invalid_argument")
