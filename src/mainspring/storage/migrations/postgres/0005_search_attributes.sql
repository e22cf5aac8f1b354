-- Search attributes (see migrations/sqlite/0009_search_attributes.sql). kw compares in byte order (COLLATE "C"),
-- as SQLite's does, so one index serves equality and ranges.
CREATE TABLE search_attributes (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE TABLE search_attribute_values (
    run_id TEXT NOT NULL,
    name   TEXT NOT NULL,
    kw     TEXT COLLATE "C",
    num    NUMERIC
);
CREATE INDEX search_attribute_values_kw ON search_attribute_values (name, kw, run_id);
CREATE INDEX search_attribute_values_num ON search_attribute_values (name, num, run_id);
CREATE INDEX search_attribute_values_run ON search_attribute_values (run_id, name, kw, num);
CREATE FUNCTION mainspring_search_attribute_values_put() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_attribute_values WHERE run_id = NEW.run_id;
    INSERT INTO search_attribute_values (run_id, name, kw, num)
        SELECT NEW.run_id, a.key,
            CASE WHEN a.value->>0 IN ('Keyword', 'Text') THEN a.value->>1 END,
            CASE WHEN a.value->>0 IN ('Int', 'Double', 'Datetime') THEN (a.value->>1)::numeric
                 WHEN a.value->>0 = 'Bool' THEN CASE WHEN (a.value->>1)::boolean THEN 1 ELSE 0 END END
        FROM jsonb_each(NEW.value::jsonb) AS a
        WHERE a.value->>0 <> 'KeywordList';
    INSERT INTO search_attribute_values (run_id, name, kw, num)
        SELECT NEW.run_id, a.key, e.v, NULL
        FROM jsonb_each(NEW.value::jsonb) AS a, jsonb_array_elements_text(a.value->1) AS e(v)
        WHERE a.value->>0 = 'KeywordList';
    RETURN NULL;
END
$$;
CREATE TRIGGER search_attribute_values_put AFTER INSERT OR UPDATE ON pending
    FOR EACH ROW WHEN (NEW.kind = 'sa') EXECUTE FUNCTION mainspring_search_attribute_values_put();
CREATE FUNCTION mainspring_search_attribute_values_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_attribute_values WHERE run_id = OLD.run_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER search_attribute_values_gone AFTER DELETE ON executions
    FOR EACH ROW EXECUTE FUNCTION mainspring_search_attribute_values_gone();
