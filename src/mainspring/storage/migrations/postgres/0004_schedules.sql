-- Schedules (see migrations/sqlite/0008_schedules.sql).
CREATE TABLE schedules (
    namespace   TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    body        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (namespace, schedule_id)
);
