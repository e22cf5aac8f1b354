-- How many runs each namespace holds in each status, kept by the commits (see
-- migrations/sqlite/0011_run_counts.sql): a count by status reads a few rows instead of every run.
--
-- One row per (namespace, status, slot), slot being the writing connection's backend pid, and the count the
-- sum over the slots. Why not one row per (namespace, status): a trigger's upsert keeps its row locked until
-- its transaction commits. A server has one writer connection (group commit: one transaction at a time, see
-- storage/postgres.py), so its own writes never wait on a counter; but several servers may write one database
-- at once (shard leases, storage/_pg_leases.py), and with one hot row per status their transactions would
-- queue behind each other's commits, and deadlock when two of them touched two statuses in opposite orders
-- (a close moves a run from Running to Completed, a start adds to Running). Live connections have distinct
-- pids, so each writer has rows of its own and no writer ever waits on another's counter. A slot's value may
-- go negative (a run started by one connection, closed by another): only the sum means anything. The rows
-- of connections that are gone are folded into the opening server's own (PostgresStore.open,
-- _FOLD_RUN_COUNTS), so the rows stay a few per status.
CREATE TABLE run_counts (
    namespace TEXT NOT NULL,
    status    TEXT NOT NULL,
    slot      INTEGER NOT NULL,
    runs      BIGINT NOT NULL,
    PRIMARY KEY (namespace, status, slot)
);
-- Writes of executions wait until this migration commits, so none is missed between the backfill and the
-- triggers (and none counted twice).
LOCK TABLE executions IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO run_counts (namespace, status, slot, runs)
    SELECT namespace, status, 0, COUNT(*) FROM executions GROUP BY namespace, status;
-- Statement-level triggers over transition tables: one grouped upsert per statement, whatever the number of
-- rows it wrote (a group commit's starts are one INSERT, its steps one UPDATE ... FROM: see _pg_writes), rather
-- than a function call and an upsert per row. An UPDATE that changes no status (most steps) upserts nothing.
-- (PostgreSQL takes no column list on a trigger with transition tables, so every UPDATE of executions
-- fires the changed trigger; the join of its old and new rows by run id finds the status changes.)
CREATE FUNCTION mainspring_run_counts_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_counts (namespace, status, slot, runs)
        SELECT namespace, status, pg_backend_pid(), COUNT(*) FROM new_runs GROUP BY namespace, status
        ON CONFLICT (namespace, status, slot) DO UPDATE SET runs = run_counts.runs + EXCLUDED.runs;
    RETURN NULL;
END
$$;
CREATE FUNCTION mainspring_run_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_counts (namespace, status, slot, runs)
        SELECT namespace, status, pg_backend_pid(), -COUNT(*) FROM old_runs GROUP BY namespace, status
        ON CONFLICT (namespace, status, slot) DO UPDATE SET runs = run_counts.runs + EXCLUDED.runs;
    RETURN NULL;
END
$$;
CREATE FUNCTION mainspring_run_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_counts (namespace, status, slot, runs)
        SELECT namespace, status, pg_backend_pid(), SUM(delta) FROM (
            SELECT o.namespace, o.status, -1 AS delta FROM old_runs AS o JOIN new_runs AS n ON n.run_id = o.run_id
                WHERE o.status <> n.status OR o.namespace <> n.namespace
            UNION ALL
            SELECT n.namespace, n.status, 1 FROM old_runs AS o JOIN new_runs AS n ON n.run_id = o.run_id
                WHERE o.status <> n.status OR o.namespace <> n.namespace
        ) AS moved GROUP BY namespace, status HAVING SUM(delta) <> 0
        ON CONFLICT (namespace, status, slot) DO UPDATE SET runs = run_counts.runs + EXCLUDED.runs;
    RETURN NULL;
END
$$;
CREATE TRIGGER run_counts_created AFTER INSERT ON executions REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION mainspring_run_counts_created();
CREATE TRIGGER run_counts_deleted AFTER DELETE ON executions REFERENCING OLD TABLE AS old_runs
    FOR EACH STATEMENT EXECUTE FUNCTION mainspring_run_counts_deleted();
CREATE TRIGGER run_counts_changed AFTER UPDATE ON executions REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION mainspring_run_counts_changed();
