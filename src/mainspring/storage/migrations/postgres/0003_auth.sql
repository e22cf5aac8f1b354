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

-- The audit log (see migrations/sqlite/0007_auth.sql).
CREATE TABLE audit_log (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         DOUBLE PRECISION NOT NULL,
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
