-- The message handlers (signals, queries, updates: kind, name, payload schema) each workflow type
-- announced, beside its input schema: the server checks a message's payload against them.
ALTER TABLE workflow_schemas ADD COLUMN handlers TEXT;
