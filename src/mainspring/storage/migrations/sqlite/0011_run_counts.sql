-- How many runs each namespace holds in each status, kept by the commits themselves, so that a count by
-- status (`workflow count`, the UI's counts, count_workflows ... GROUP BY ExecutionStatus) reads a few rows
-- instead of every run (see storage/_visibility_sql.py, count_sql). The triggers below keep it in the
-- transaction of every write of executions, whoever writes (the engine's commits, retention's deletes, a
-- store copy): a run created adds one, a change of status moves one, a run deleted takes one away. Each is a
-- single-row upsert on this small table; a write that leaves the status alone (most steps) fires nothing.
-- A row may reach 0 (its runs deleted): the count skips those. Statements inside the triggers end with a
-- comment, so that the migration's split on ";" + newline leaves them whole.
CREATE TABLE run_counts (
    namespace TEXT NOT NULL,
    status    TEXT NOT NULL,
    runs      INTEGER NOT NULL,
    PRIMARY KEY (namespace, status)
) WITHOUT ROWID;
-- The migration's transaction holds the database's write lock: no write comes between the backfill and
-- the triggers.
INSERT INTO run_counts (namespace, status, runs)
    SELECT namespace, status, COUNT(*) FROM executions GROUP BY namespace, status;
CREATE TRIGGER run_counts_created AFTER INSERT ON executions
BEGIN
    INSERT INTO run_counts (namespace, status, runs) VALUES (NEW.namespace, NEW.status, 1)
        ON CONFLICT (namespace, status) DO UPDATE SET runs = runs + 1; -- one more
END;
CREATE TRIGGER run_counts_changed AFTER UPDATE OF namespace, status ON executions
    WHEN OLD.status IS NOT NEW.status OR OLD.namespace IS NOT NEW.namespace
BEGIN
    UPDATE run_counts SET runs = runs - 1 WHERE namespace = OLD.namespace AND status = OLD.status; -- left
    INSERT INTO run_counts (namespace, status, runs) VALUES (NEW.namespace, NEW.status, 1)
        ON CONFLICT (namespace, status) DO UPDATE SET runs = runs + 1; -- entered
END;
CREATE TRIGGER run_counts_deleted AFTER DELETE ON executions
BEGIN
    UPDATE run_counts SET runs = runs - 1 WHERE namespace = OLD.namespace AND status = OLD.status; -- gone
END;
