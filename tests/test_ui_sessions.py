"""UI login sessions kept in the store (``ui_sessions``), against real server processes and real stores:

- with SQLite, a session outlives a server restart (cookie and CSRF token as they were), and its logout holds
  after the next restart too;
- with PostgreSQL, a session made on one server works on a second server of the same store, and a logout on
  the second ends it on the first;
- a forged cookie and an expired session are refused (401), expired rows are purged at start;
- only the SHA-256 of the cookie's value is stored: the value itself is nowhere in the database file;
- the store's methods, on both stores: put, get (not once expired), delete, delete by key, purge.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from mainspring.storage import SQLiteStore, Store, StoredUiSession, store_from_url
from support import ServerProcess, first_api_key, make_api_key

COOKIE = "mainspring_session"


def _log_in(server: ServerProcess, key: str) -> tuple[str, str]:
    """Log in with ``key`` as the UI does; the session cookie's value and the CSRF token."""
    r = httpx.post(f"{server.ui_url}/api/v1/auth/login", json={"api_key": key})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie, cookie
    sid = cookie.split(";", 1)[0].split("=", 1)[1]
    return sid, str(r.json()["csrf_token"])


def _me(server: ServerProcess, sid: str) -> dict[str, object]:
    r = httpx.get(f"{server.ui_url}/api/v1/auth/me", headers={"cookie": f"{COOKIE}={sid}"})
    assert r.status_code == 200, r.text
    answer: dict[str, object] = r.json()
    return answer


def _list(server: ServerProcess, sid: str) -> httpx.Response:
    return httpx.get(f"{server.ui_url}/api/v1/namespaces/default/workflows", headers={"cookie": f"{COOKIE}={sid}"})


def _start(server: ServerProcess, sid: str, csrf: str, wid: str) -> httpx.Response:
    return httpx.post(
        f"{server.ui_url}/api/v1/namespaces/default/workflows",
        json={"workflow_id": wid, "workflow_type": "t", "task_queue": "q"},
        headers={"cookie": f"{COOKIE}={sid}", "x-csrf-token": csrf},
    )


def _log_out(server: ServerProcess, sid: str) -> None:
    r = httpx.post(f"{server.ui_url}/api/v1/auth/logout", headers={"cookie": f"{COOKIE}={sid}"})
    assert r.status_code == 200, r.text


def test_a_sqlite_session_outlives_a_restart_and_its_logout_too(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    server = ServerProcess(db, extra_args=["--auth", "api-key"]).start()
    try:
        admin = first_api_key(server)
        writer = make_api_key(server, admin, "default", "writer")
        sid, csrf = _log_in(server, writer)
        assert _me(server, sid)["authenticated"] is True
        server.stop()
        server.start()
        me = _me(server, sid)
        assert me["authenticated"] is True and me["csrf_token"] == csrf, me
        assert me["grants"] == [{"namespace": "default", "role": "writer"}]
        assert _list(server, sid).status_code == 200
        assert _start(server, sid, csrf, "after-restart").status_code == 201
        assert _start(server, sid, "not-the-token", "forged-csrf").status_code == 403
        # A forged cookie (or one of another store) opens nothing.
        forged = _list(server, sid[:-2] + ("AA" if not sid.endswith("AA") else "BB"))
        assert forged.status_code == 401 and forged.json()["code"] == "session_expired", forged.text
        _log_out(server, sid)
        assert _list(server, sid).status_code == 401
        server.stop()
        server.start()
        assert _list(server, sid).status_code == 401
        assert _me(server, sid)["authenticated"] is False
    finally:
        server.stop()
    # Only the hash was ever stored: the cookie's value appears nowhere in the file (nor its WAL).
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("s.db"))
    assert sid.encode() not in raw
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM ui_sessions").fetchone() == (0,)  # the logout deleted it


def test_an_expired_session_is_refused_and_purged(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    server = ServerProcess(db, extra_args=["--auth", "api-key"]).start()
    try:
        admin = first_api_key(server)
        sid, _ = _log_in(server, admin)
        server.stop()
        # Age it past its end, as twelve hours would.
        digest = hashlib.sha256(sid.encode()).hexdigest()
        with sqlite3.connect(db) as conn:
            changed = conn.execute(
                "UPDATE ui_sessions SET expires_at=? WHERE session_hash=?", (time.time() - 1, digest)
            ).rowcount
        assert changed == 1
        server.start()
        refused = _list(server, sid)
        assert refused.status_code == 401 and refused.json()["code"] == "session_expired", refused.text
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM ui_sessions").fetchone() == (0,)  # purged at start


@pytest.mark.timeout(120)
def test_a_postgres_session_works_on_another_server_and_logs_out_everywhere(tmp_path: Path, postgres_url: str) -> None:
    a = ServerProcess(postgres_url, extra_args=["--auth", "api-key"], log_path=tmp_path / "a.log")
    b = ServerProcess(postgres_url, extra_args=["--auth", "api-key"], log_path=tmp_path / "b.log")
    try:
        a.start()
        admin = first_api_key(a)
        sid, csrf = _log_in(a, admin)
        assert _list(a, sid).status_code == 200
        a.stop()
        b.start()  # another server of the store: it never saw the login
        me = _me(b, sid)
        assert me["authenticated"] is True and me["csrf_token"] == csrf, me
        assert _start(b, sid, csrf, "on-b").status_code == 201
        _log_out(b, sid)
        assert _list(b, sid).status_code == 401
        b.stop()
        a.start()
        assert _list(a, sid).status_code == 401  # the logout on B ended it on A
    finally:
        a.stop()
        b.stop()


def _session(digest: str, expires_at: float, key_id: str | None = None) -> StoredUiSession:
    return StoredUiSession(
        digest, "someone", '{"default": "reader"}', "session (api-key)", key_id, "csrf", 1.0, expires_at
    )


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_the_store_keeps_ui_sessions(tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    store: Store = (
        SQLiteStore(str(tmp_path / "u.db"))
        if kind == "sqlite"
        else store_from_url(request.getfixturevalue("postgres_url"))
    )
    await store.open()
    try:
        now = time.time()
        await store.put_ui_session(_session("live", now + 60, "k1"))
        await store.put_ui_session(_session("old", now - 1))
        await store.put_ui_session(_session("other", now + 60, "k2"))
        assert await store.get_ui_session("live", now) == _session("live", now + 60, "k1")
        assert await store.get_ui_session("old", now) is None  # expired: never answered
        assert await store.get_ui_session("nope", now) is None
        assert await store.purge_ui_sessions(now) == 1
        assert await store.delete_ui_sessions_of_keys(["k2", "k3"]) == 1
        assert await store.get_ui_session("other", now) is None
        assert await store.delete_ui_session("live") is True
        assert await store.delete_ui_session("live") is False
        assert await store.get_ui_session("live", now) is None
    finally:
        await store.close()
