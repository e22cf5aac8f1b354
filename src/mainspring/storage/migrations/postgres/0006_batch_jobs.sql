-- Batch operations (see migrations/sqlite/0010_batch_jobs.sql).
CREATE TABLE batch_jobs (
    namespace   TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    operation   TEXT NOT NULL,
    args        TEXT NOT NULL,
    query       TEXT NOT NULL,
    rps         DOUBLE PRECISION NOT NULL,
    state       TEXT NOT NULL,
    matched     BIGINT NOT NULL,
    done        BIGINT NOT NULL,
    skipped     BIGINT NOT NULL,
    failed      BIGINT NOT NULL,
    cursor      TEXT,
    started_at  DOUBLE PRECISION NOT NULL,
    closed_at   DOUBLE PRECISION,
    note        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (namespace, job_id)
);
CREATE INDEX batch_jobs_by_state ON batch_jobs (state);
