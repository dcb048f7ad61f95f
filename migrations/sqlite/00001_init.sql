-- The base schema: namespaces and their entries.
-- Timestamps are unix microseconds (UTC). JSON columns hold SQLite JSONB
-- blobs: jsonb() on the way in, json() on the way out.
-- entry_count is kept by triggers so that Status never counts rows.

-- +goose Up
CREATE TABLE namespaces (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    owner       TEXT,
    metadata    BLOB    NOT NULL,
    entry_count INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

INSERT INTO namespaces (name, metadata, created_at)
VALUES ('default', jsonb('{}'), CAST(unixepoch('subsec') * 1000000 AS INTEGER));

CREATE TABLE entries (
    namespace_id INTEGER NOT NULL REFERENCES namespaces (id),
    key          TEXT    NOT NULL,
    value        BLOB    NOT NULL,
    metadata     BLOB    NOT NULL,
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, key)
);

-- +goose StatementBegin
CREATE TRIGGER entries_count_insert AFTER INSERT ON entries
BEGIN
    UPDATE namespaces SET entry_count = entry_count + 1 WHERE id = NEW.namespace_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_count_delete AFTER DELETE ON entries
BEGIN
    UPDATE namespaces SET entry_count = entry_count - 1 WHERE id = OLD.namespace_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER entries_count_delete;
DROP TRIGGER entries_count_insert;
DROP TABLE entries;
DROP TABLE namespaces;
