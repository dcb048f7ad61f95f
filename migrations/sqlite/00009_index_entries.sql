-- Declared indexes live in one table shared by every namespace, instead of
-- one partial index on entries per (namespace, declared field): a partial
-- index is maintained (its WHERE evaluated) by every write to entries and
-- considered by every plan, so a store whose namespaces declared many
-- indexes slowed every write and read of every namespace.
--
-- index_fields lists each namespace's declared fields: a small id per
-- namespace, the column (0 value, 1 metadata) and the JSON path the dialect
-- compiler writes for the field (sqlstore/indexes.go fills it).
-- index_entries holds one row per (entry, declared field) of an indexed
-- namespace: the type rank, the number (0 when not a number), the string
-- (the empty string when not a string) and the key, in one B-tree ordered
-- as Query sorts, which serves eq, in, ranges, startsWith and sorts on the
-- field. Triggers keep it; they do nothing for a namespace that declared
-- nothing (WHEN EXISTS on index_fields).
--
-- The partial indexes of versions 6-8 (entries_ns<id>_<hash>) are dropped, and
-- index_entries filled from namespaces.indexes, by the engine when it
-- opens the store (SQLite's SQL cannot drop an index it must look up, nor
-- write the JSON paths). Down drops the tables and triggers; an engine of
-- versions 6-8 builds its partial indexes from namespaces.indexes at open.

-- +goose Up
CREATE TABLE index_fields (
    namespace_id INTEGER NOT NULL REFERENCES namespaces (id),
    field_id     INTEGER NOT NULL,
    field        TEXT    NOT NULL,
    col          INTEGER NOT NULL,
    path         TEXT    NOT NULL,
    PRIMARY KEY (namespace_id, field_id),
    UNIQUE (namespace_id, field)
) WITHOUT ROWID;

CREATE TABLE index_entries (
    ix_ns    INTEGER NOT NULL,
    ix_field INTEGER NOT NULL,
    ix_rank  INTEGER NOT NULL,
    ix_num   REAL    NOT NULL,
    ix_str   TEXT    NOT NULL,
    ix_key   TEXT    NOT NULL,
    PRIMARY KEY (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key)
) WITHOUT ROWID;

-- +goose StatementBegin
CREATE TRIGGER entries_index_insert AFTER INSERT ON entries
WHEN EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = NEW.namespace_id)
BEGIN
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_delete AFTER DELETE ON entries
WHEN EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = OLD.namespace_id)
BEGIN
    DELETE FROM index_entries WHERE (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT OLD.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               OLD.key
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS c
                    FROM index_fields WHERE namespace_id = OLD.namespace_id)));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_update AFTER UPDATE OF value, metadata ON entries
WHEN EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = NEW.namespace_id)
BEGIN
    DELETE FROM index_entries WHERE (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT OLD.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               OLD.key
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS c
                    FROM index_fields WHERE namespace_id = OLD.namespace_id)));
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id));
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER entries_index_update;
DROP TRIGGER entries_index_delete;
DROP TRIGGER entries_index_insert;
DROP TABLE index_entries;
DROP TABLE index_fields;
