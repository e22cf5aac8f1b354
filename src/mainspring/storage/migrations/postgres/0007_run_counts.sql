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
CREATE FUNCTION mainspring_run_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO run_counts (namespace, status, slot, runs) VALUES (OLD.namespace, OLD.status, pg_backend_pid(), -1)
            ON CONFLICT (namespace, status, slot) DO UPDATE SET runs = run_counts.runs - 1;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO run_counts (namespace, status, slot, runs) VALUES (NEW.namespace, NEW.status, pg_backend_pid(), 1)
            ON CONFLICT (namespace, status, slot) DO UPDATE SET runs = run_counts.runs + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER run_counts_created_deleted AFTER INSERT OR DELETE ON executions
    FOR EACH ROW EXECUTE FUNCTION mainspring_run_counts();
CREATE TRIGGER run_counts_changed AFTER UPDATE OF namespace, status ON executions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.namespace IS DISTINCT FROM NEW.namespace)
    EXECUTE FUNCTION mainspring_run_counts();
