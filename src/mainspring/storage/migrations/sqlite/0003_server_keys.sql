-- Mainspring SQLite schema, version 3: the server's secret keys, each made once (random bytes from
-- the operating system) at the first start that needs it and kept from then on. The one key so far,
-- "task_tokens", signs the task tokens handed to workers, so that tokens handed out before a restart
-- still verify after it. Anyone who can read this file can forge task tokens: protect it as the data.
CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY,
    key        BLOB NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
