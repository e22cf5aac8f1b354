-- When each worker build was first seen on a task queue (see migrations/sqlite/0006_worker_builds.sql):
-- the newest build with a live worker gets the new runs, across server restarts and takeovers.
CREATE TABLE worker_builds (
    namespace  TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    build_id   TEXT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, task_queue, build_id)
);
