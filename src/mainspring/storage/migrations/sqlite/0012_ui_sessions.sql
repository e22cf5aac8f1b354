-- The web UI's login sessions (server/_auth.py), kept in the store so that every server of a store knows
-- them, and a restart logs no one out. The cookie's value is never stored: its SHA-256 is the key, so a copy
-- of the database opens no session. ``grants`` is the session's roles, a JSON object {namespace: role}.
CREATE TABLE ui_sessions (
    session_hash TEXT PRIMARY KEY,
    principal    TEXT NOT NULL,
    grants       TEXT NOT NULL,
    method       TEXT NOT NULL,
    key_id       TEXT,
    csrf_token   TEXT NOT NULL,
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL
);
CREATE INDEX ui_sessions_by_expiry ON ui_sessions (expires_at);
CREATE INDEX ui_sessions_by_key ON ui_sessions (key_id);
