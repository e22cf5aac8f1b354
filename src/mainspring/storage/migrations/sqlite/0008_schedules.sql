-- Schedules (server/features/schedules.py): each one's whole description (spec, action, policy, state and
-- what it has done) as one JSON document, rewritten on the condition of its version.
CREATE TABLE schedules (
    namespace   TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    body        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (namespace, schedule_id)
);
