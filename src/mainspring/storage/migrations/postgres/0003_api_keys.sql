-- API keys (see migrations/sqlite/0007_api_keys.sql): the SHA-256 of each key's secret, never the secret.
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    role        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    created_by  TEXT NOT NULL,
    revoked_at  DOUBLE PRECISION
);
