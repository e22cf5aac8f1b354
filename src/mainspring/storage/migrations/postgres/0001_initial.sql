-- Mainspring PostgreSQL schema, version 1: the SQLite schema's tables (see migrations/sqlite), in one step,
-- plus the lease tables (storage/_pg_leases.py). Attributes, state and item values are JSON text, as there:
-- the store hands them on as they are, and `store copy` moves them between the two unchanged.
CREATE TABLE namespaces (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  DOUBLE PRECISION NOT NULL
);
CREATE TABLE executions (
    run_id        TEXT PRIMARY KEY,
    namespace     TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    task_queue    TEXT NOT NULL,
    status        TEXT NOT NULL,
    start_time    DOUBLE PRECISION NOT NULL,
    close_time    DOUBLE PRECISION,
    next_event_id BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    request_id    TEXT,
    state         TEXT NOT NULL
);
CREATE INDEX executions_newest ON executions (namespace, start_time DESC, run_id DESC);
CREATE INDEX executions_by_id ON executions (namespace, workflow_id, start_time DESC);
CREATE INDEX executions_open ON executions (run_id) WHERE status = 'RUNNING';
CREATE INDEX executions_by_status ON executions (namespace, status, start_time DESC, run_id DESC);
CREATE INDEX executions_by_type ON executions (namespace, workflow_type, start_time DESC, run_id DESC);
CREATE TABLE current_executions (
    namespace   TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    status      TEXT NOT NULL,
    request_id  TEXT,
    PRIMARY KEY (namespace, workflow_id)
);
CREATE TABLE history (
    run_id     TEXT NOT NULL,
    event_id   BIGINT NOT NULL,
    event_time DOUBLE PRECISION NOT NULL,
    event_type TEXT NOT NULL,
    attributes TEXT NOT NULL,
    PRIMARY KEY (run_id, event_id)
);
CREATE TABLE workflow_schemas (
    namespace     TEXT NOT NULL,
    task_queue    TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    input_schema  TEXT,
    updated_at    DOUBLE PRECISION NOT NULL,
    handlers      TEXT,
    PRIMARY KEY (namespace, task_queue, workflow_type)
);
CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY,
    key        BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE pending (
    run_id TEXT NOT NULL,
    kind   TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, key)
);
CREATE TABLE shard_leases (
    shard      INTEGER PRIMARY KEY,
    owner      TEXT,
    epoch      BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ,
    address    TEXT
);
CREATE TABLE cluster_nodes (
    node       TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL,
    draining   BOOLEAN NOT NULL DEFAULT FALSE
);
