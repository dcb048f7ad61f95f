-- entries gets a stable rowid, and index_entries carries it (SQLite).
--
-- Up to version 20 entries was a rowid table whose primary key
-- (namespace_id, key) was a separate index, and index_entries held the
-- entry's key: a Query or Count driven by a declared index sought
-- index_entries, then the entry's (namespace_id, key) in that index, then
-- the row by its rowid, three B-tree descents per row where an expression
-- index ending in the key costs two. The implicit rowid could not be
-- stored elsewhere: VACUUM may renumber the rowids of a table without an
-- INTEGER PRIMARY KEY.
--
-- entries is rebuilt with entry_id INTEGER PRIMARY KEY, an alias of the
-- rowid that VACUUM keeps (the rows keep the rowids they had), and
-- (namespace_id, key) UNIQUE, the same index as before: Get, Set, List and
-- their ON CONFLICT clauses are unchanged. index_entries is rebuilt with
-- ix_entry, the entry's entry_id (not in its primary key), filled by the
-- insert and update triggers and by the engine's fill when a field is
-- declared; statements join entries by entry_id = ix_entry, one descent.
-- Dropping entries drops its triggers and index, so both are created
-- again as they were at version 20, with ix_entry added to the index rows
-- the insert and update triggers write. Nothing references entries by
-- foreign key. PostgreSQL has nothing to do (its index rows join entries'
-- primary key; the number keeps both dialects at one version).
--
-- The migration rewrites both tables in its transaction: its time, and the
-- file's temporary growth, are in proportion to the store's entries and
-- index rows.
--
-- Down rebuilds entries as it was (primary key (namespace_id, key), the
-- rowids kept), drops ix_entry and creates the triggers of version 20.

-- +goose Up
CREATE TABLE entries_new (
    entry_id        INTEGER PRIMARY KEY,
    namespace_id    INTEGER NOT NULL REFERENCES namespaces (id),
    key             TEXT    NOT NULL,
    value           BLOB    NOT NULL,
    metadata        BLOB    NOT NULL,
    version         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    created_by      TEXT,
    updated_by      TEXT,
    expires_at      INTEGER,
    revision        INTEGER NOT NULL DEFAULT 0,
    create_revision INTEGER NOT NULL DEFAULT 0,
    UNIQUE (namespace_id, key)
);
INSERT INTO entries_new (entry_id, namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
SELECT rowid, namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision FROM entries ORDER BY rowid;
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;
CREATE INDEX entries_expires_at ON entries (expires_at, namespace_id) WHERE expires_at IS NOT NULL;

CREATE TABLE index_entries_new (
    ix_ns    INTEGER NOT NULL,
    ix_field INTEGER NOT NULL,
    ix_rank  INTEGER NOT NULL,
    ix_num   REAL    NOT NULL,
    ix_str   TEXT    NOT NULL,
    ix_key   TEXT    NOT NULL,
    ix_exp   INTEGER,
    ix_entry INTEGER NOT NULL,
    PRIMARY KEY (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key)
) WITHOUT ROWID;
INSERT INTO index_entries_new (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
SELECT x.ix_ns, x.ix_field, x.ix_rank, x.ix_num, x.ix_str, x.ix_key, x.ix_exp, e.entry_id
FROM index_entries x JOIN entries e ON e.namespace_id = x.ix_ns AND e.key = x.ix_key;
DROP TABLE index_entries;
ALTER TABLE index_entries_new RENAME TO index_entries;

-- +goose StatementBegin
CREATE TRIGGER change_ends_delete AFTER DELETE ON entries
BEGIN
    INSERT OR IGNORE INTO change_ends (namespace, key, revision)
    SELECT name, OLD.key, OLD.revision FROM namespaces WHERE id = OLD.namespace_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER change_ends_overwrite AFTER UPDATE OF value ON entries
WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at <= NEW.updated_at
BEGIN
    INSERT OR IGNORE INTO change_ends (namespace, key, revision)
    SELECT name, OLD.key, OLD.revision FROM namespaces WHERE id = OLD.namespace_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_put_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version, NULL, NEW.updated_at, NEW.created_at, NEW.expires_at);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_put_update AFTER UPDATE OF value ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version,
            CASE WHEN OLD.expires_at IS NULL OR OLD.expires_at > NEW.updated_at THEN OLD.revision END,
            NEW.updated_at, NEW.created_at, NEW.expires_at);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_count_delete AFTER DELETE ON entries
BEGIN
    UPDATE namespaces SET entry_count = entry_count - 1 WHERE id = OLD.namespace_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_count_insert AFTER INSERT ON entries
BEGIN
    UPDATE namespaces SET entry_count = entry_count + 1 WHERE id = NEW.namespace_id;
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
CREATE TRIGGER entries_index_expiry AFTER UPDATE OF expires_at ON entries
WHEN OLD.expires_at IS NOT NEW.expires_at AND EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = NEW.namespace_id)
BEGIN
    UPDATE index_entries SET ix_exp = NEW.expires_at
    WHERE ix_exp IS NOT NEW.expires_at AND (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id)));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_insert AFTER INSERT ON entries
WHEN EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = NEW.namespace_id)
BEGIN
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key, NEW.expires_at, NEW.entry_id
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_update AFTER UPDATE OF value, metadata, expires_at ON entries
WHEN EXISTS (SELECT 1 FROM index_fields
             WHERE namespace_id = NEW.namespace_id
               AND (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
                    OR json_type(CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END, path)
                       IS NOT json_type(CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END, path)
                    OR json_extract(CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END, path)
                       IS NOT json_extract(CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END, path)))
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
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key, NEW.expires_at, NEW.entry_id
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id));
END;
-- +goose StatementEnd

-- +goose Down
CREATE TABLE entries_old (
    namespace_id INTEGER NOT NULL REFERENCES namespaces (id),
    key          TEXT    NOT NULL,
    value        BLOB    NOT NULL,
    metadata     BLOB    NOT NULL,
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    created_by   TEXT,
    updated_by   TEXT,
    expires_at   INTEGER,
    revision     INTEGER NOT NULL DEFAULT 0,
    create_revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace_id, key)
);
INSERT INTO entries_old (rowid, namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision)
SELECT entry_id, namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision FROM entries ORDER BY entry_id;
DROP TABLE entries;
ALTER TABLE entries_old RENAME TO entries;
CREATE INDEX entries_expires_at ON entries (expires_at, namespace_id) WHERE expires_at IS NOT NULL;
ALTER TABLE index_entries DROP COLUMN ix_entry;

-- +goose StatementBegin
CREATE TRIGGER change_ends_delete AFTER DELETE ON entries
BEGIN
    INSERT OR IGNORE INTO change_ends (namespace, key, revision)
    SELECT name, OLD.key, OLD.revision FROM namespaces WHERE id = OLD.namespace_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER change_ends_overwrite AFTER UPDATE OF value ON entries
WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at <= NEW.updated_at
BEGIN
    INSERT OR IGNORE INTO change_ends (namespace, key, revision)
    SELECT name, OLD.key, OLD.revision FROM namespaces WHERE id = OLD.namespace_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_put_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version, NULL, NEW.updated_at, NEW.created_at, NEW.expires_at);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_put_update AFTER UPDATE OF value ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version,
            CASE WHEN OLD.expires_at IS NULL OR OLD.expires_at > NEW.updated_at THEN OLD.revision END,
            NEW.updated_at, NEW.created_at, NEW.expires_at);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_count_delete AFTER DELETE ON entries
BEGIN
    UPDATE namespaces SET entry_count = entry_count - 1 WHERE id = OLD.namespace_id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_count_insert AFTER INSERT ON entries
BEGIN
    UPDATE namespaces SET entry_count = entry_count + 1 WHERE id = NEW.namespace_id;
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
CREATE TRIGGER entries_index_expiry AFTER UPDATE OF expires_at ON entries
WHEN OLD.expires_at IS NOT NEW.expires_at AND EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = NEW.namespace_id)
BEGIN
    UPDATE index_entries SET ix_exp = NEW.expires_at
    WHERE ix_exp IS NOT NEW.expires_at AND (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id)));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_insert AFTER INSERT ON entries
WHEN EXISTS (SELECT 1 FROM index_fields WHERE namespace_id = NEW.namespace_id)
BEGIN
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key, NEW.expires_at
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_update AFTER UPDATE OF value, metadata, expires_at ON entries
WHEN EXISTS (SELECT 1 FROM index_fields
             WHERE namespace_id = NEW.namespace_id
               AND (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
                    OR json_type(CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END, path)
                       IS NOT json_type(CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END, path)
                    OR json_extract(CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END, path)
                       IS NOT json_extract(CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END, path)))
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
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp)
        SELECT NEW.namespace_id, field_id,
               CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                      WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0 END,
               CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END,
               NEW.key, NEW.expires_at
        FROM (SELECT field_id, path, c, json_type(c, path) AS t
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS c
                    FROM index_fields WHERE namespace_id = NEW.namespace_id));
END;
-- +goose StatementEnd
