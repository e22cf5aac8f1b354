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
