-- API keys (see mainspring/_api_keys.py): only the SHA-256 of each key's secret is kept. A revoked key keeps
-- its row, so that the audit of who did what can still name it.
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    role        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  REAL NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  REAL
);

-- The audit log: every call that changes something, made by a caller the server checked (--auth): who,
-- what, when, from where, and how it ended. Appended in batches (server/_audit.py), read newest first.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         REAL NOT NULL,
    namespace  TEXT NOT NULL,
    principal  TEXT NOT NULL,
    method     TEXT NOT NULL,
    operation  TEXT NOT NULL,
    target     TEXT NOT NULL,
    peer       TEXT NOT NULL,
    status     INTEGER NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX audit_log_by_namespace ON audit_log (namespace, seq);
