-- When each worker build was first seen on a task queue: of the builds with a live worker, the one first
-- seen last gets the new runs. Kept here so that it outlives a server restart: otherwise a worker of an old
-- build that reconnects after the restart would look like the newest build.
CREATE TABLE worker_builds (
    namespace  TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    build_id   TEXT NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (namespace, task_queue, build_id)
);
