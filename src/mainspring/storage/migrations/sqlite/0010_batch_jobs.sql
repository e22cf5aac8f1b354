-- Batch operations (server/features/batch.py): a cancel, terminate, signal or reset applied to every run a
-- list filter selects, walked page by page. ``cursor`` is the page token of the listing after the last page
-- done (NULL before the first), written with the counts in one conditional write on ``version``, so a server
-- restarted mid-job goes on from there. ``args`` holds the operation's arguments as JSON.
CREATE TABLE batch_jobs (
    namespace   TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    operation   TEXT NOT NULL,
    args        TEXT NOT NULL,
    query       TEXT NOT NULL,
    rps         REAL NOT NULL,
    state       TEXT NOT NULL,
    matched     INTEGER NOT NULL,
    done        INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    cursor      TEXT,
    started_at  REAL NOT NULL,
    closed_at   REAL,
    note        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (namespace, job_id)
);
CREATE INDEX batch_jobs_by_state ON batch_jobs (state);
