-- Mainspring SQLite schema, version 4: a run's pending activities and timers as rows of their own.
-- Until now they were part of the run's `state` JSON, rewritten whole by every transition: a workflow
-- waiting on K activities wrote all K at each completion (O(K^2) for the lot). Now a transition
-- writes the items it changed. An activity's item no longer holds its input (the ActivityTaskScheduled
-- event does), nor does `state` hold a closed run's result or failure (its closing event does).
CREATE TABLE pending (
    run_id TEXT NOT NULL,
    kind   TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, kind, key)
) WITHOUT ROWID;
-- The items of rows written by earlier versions move here. Rows that are not valid JSON, or whose
-- "act"/"tmr" is not an object, are left as they are: the server sets such runs aside, as before.
-- (Every JSON function reads a row's state through CASE ... json_valid: one damaged row must not
-- make the migration, and so the server's start, fail.)
INSERT OR REPLACE INTO pending (run_id, kind, key, value)
    SELECT e.run_id, 'a', j.key,
           CASE WHEN j.type = 'object' THEN json_remove(j.value, '$.in') ELSE json_quote(j.value) END
    FROM executions AS e, json_each(CASE WHEN json_valid(e.state) THEN e.state ELSE '{}' END, '$.act') AS j
    WHERE json_type(CASE WHEN json_valid(e.state) THEN e.state ELSE '{}' END, '$.act') = 'object' AND e.status = 'RUNNING';
INSERT OR REPLACE INTO pending (run_id, kind, key, value)
    SELECT e.run_id, 't', j.key,
           CASE WHEN j.type IN ('object', 'array') THEN j.value ELSE json_quote(j.value) END
    FROM executions AS e, json_each(CASE WHEN json_valid(e.state) THEN e.state ELSE '{}' END, '$.tmr') AS j
    WHERE json_type(CASE WHEN json_valid(e.state) THEN e.state ELSE '{}' END, '$.tmr') = 'object' AND e.status = 'RUNNING';
UPDATE executions SET state = json_remove(state, '$.act')
    WHERE json_type(CASE WHEN json_valid(state) THEN state ELSE '{}' END, '$.act') = 'object';
UPDATE executions SET state = json_remove(state, '$.tmr')
    WHERE json_type(CASE WHEN json_valid(state) THEN state ELSE '{}' END, '$.tmr') = 'object';
UPDATE executions SET state = json_remove(state, '$.res', '$.fail')
    WHERE status != 'RUNNING' AND json_type(CASE WHEN json_valid(state) THEN state ELSE '{}' END) = 'object'
