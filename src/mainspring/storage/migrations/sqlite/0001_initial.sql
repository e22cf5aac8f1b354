-- Mainspring SQLite schema, version 1.
CREATE TABLE namespaces (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL
);

-- One row per workflow run. `state` is the engine's mutable state as JSON; the other columns are
-- what listing and lookups filter on.
CREATE TABLE executions (
    run_id        TEXT PRIMARY KEY,
    namespace     TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    task_queue    TEXT NOT NULL,
    status        TEXT NOT NULL,
    start_time    REAL NOT NULL,
    close_time    REAL,
    next_event_id INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    request_id    TEXT,
    state         TEXT NOT NULL
);
CREATE INDEX executions_newest ON executions (namespace, start_time DESC, run_id DESC);
CREATE INDEX executions_by_id ON executions (namespace, workflow_id, start_time DESC);
CREATE INDEX executions_open ON executions (status) WHERE status = 'RUNNING';

-- The run a workflow id currently refers to, so "already running" is one indexed lookup.
CREATE TABLE current_executions (
    namespace   TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    status      TEXT NOT NULL,
    request_id  TEXT,
    PRIMARY KEY (namespace, workflow_id)
) WITHOUT ROWID;

CREATE TABLE history (
    run_id     TEXT NOT NULL,
    event_id   INTEGER NOT NULL,
    event_time REAL NOT NULL,
    event_type TEXT NOT NULL,
    attributes TEXT NOT NULL,
    PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;

-- The input schema each workflow type announced by the workers of a task queue.
CREATE TABLE workflow_schemas (
    namespace     TEXT NOT NULL,
    task_queue    TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    input_schema  TEXT,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (namespace, task_queue, workflow_type)
) WITHOUT ROWID;
