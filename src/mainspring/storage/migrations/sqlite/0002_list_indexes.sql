-- Mainspring SQLite schema, version 2: listing by status or by type, newest first, without sorting
-- every matching run (the web UI and `workflow list --status` page through these).
CREATE INDEX executions_by_status ON executions (namespace, status, start_time DESC, run_id DESC);
CREATE INDEX executions_by_type ON executions (namespace, workflow_type, start_time DESC, run_id DESC);
