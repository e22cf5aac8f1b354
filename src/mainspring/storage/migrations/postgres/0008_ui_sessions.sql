-- The web UI's login sessions (see migrations/sqlite/0012_ui_sessions.sql): keyed by the SHA-256 of the
-- cookie's value, never the value itself.
CREATE TABLE ui_sessions (
    session_hash TEXT PRIMARY KEY,
    principal    TEXT NOT NULL,
    grants       TEXT NOT NULL,
    method       TEXT NOT NULL,
    key_id       TEXT,
    csrf_token   TEXT NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    expires_at   DOUBLE PRECISION NOT NULL
);
CREATE INDEX ui_sessions_by_expiry ON ui_sessions (expires_at);
CREATE INDEX ui_sessions_by_key ON ui_sessions (key_id);
