-- Search attributes (server/features/search_attributes.py): the custom ones registered in each namespace,
-- and the values of each run, one row per value (a KeywordList has a row per keyword), that list filters read.
CREATE TABLE search_attributes (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
-- kw: Keyword, KeywordList and Text values; num: Int, Double, Bool (0 or 1) and Datetime (Unix seconds).
-- A filter on one attribute reads one of the first two indexes (name, then value): `CustomerId = 'a'` is an
-- index range of a few rows whatever the number of runs, joined to executions by run id.
CREATE TABLE search_attribute_values (
    run_id TEXT NOT NULL,
    name   TEXT NOT NULL,
    kw     TEXT,
    num    NUMERIC
);
CREATE INDEX search_attribute_values_kw ON search_attribute_values (name, kw, run_id);
CREATE INDEX search_attribute_values_num ON search_attribute_values (name, num, run_id);
CREATE INDEX search_attribute_values_run ON search_attribute_values (run_id, name, kw, num);
-- The rows follow the run's pending item of kind 'sa' ({"Name": ["Type", value]}), whoever writes it (the
-- engine's commits, a store copy): each write of the item replaces the run's rows. Statements inside the
-- triggers end with a comment, so that the migration's split on ";" + newline leaves them whole.
CREATE TRIGGER search_attribute_values_put AFTER INSERT ON pending WHEN NEW.kind = 'sa'
BEGIN
    DELETE FROM search_attribute_values WHERE run_id = NEW.run_id; -- the run's old values
    INSERT INTO search_attribute_values (run_id, name, kw, num)
        SELECT NEW.run_id, a.key,
            CASE WHEN json_extract(a.value, '$[0]') IN ('Keyword', 'Text') THEN json_extract(a.value, '$[1]') END,
            CASE WHEN json_extract(a.value, '$[0]') IN ('Int', 'Double', 'Bool', 'Datetime')
                THEN json_extract(a.value, '$[1]') END
        FROM json_each(NEW.value) AS a
        WHERE json_extract(a.value, '$[0]') <> 'KeywordList'; -- scalars
    INSERT INTO search_attribute_values (run_id, name, kw, num)
        SELECT NEW.run_id, a.key, e.value, NULL
        FROM json_each(NEW.value) AS a, json_each(a.value, '$[1]') AS e
        WHERE json_extract(a.value, '$[0]') = 'KeywordList'; -- a row per keyword
END;
CREATE TRIGGER search_attribute_values_gone AFTER DELETE ON executions
BEGIN
    DELETE FROM search_attribute_values WHERE run_id = OLD.run_id; -- the run was deleted
END;
