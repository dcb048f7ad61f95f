-- Clear and a recursive DeleteNamespace unlink the namespace's entries
-- instead of deleting them (SQLite).
--
-- Deleting a namespace's entries in the statement of a Clear or a
-- DeleteNamespace held SQLite's one writer for the whole delete (5.5 s at
-- 100k entries with two indexes), so every other namespace's writes
-- waited. Now the namespace's row moves to a fresh id (Clear: the name,
-- metadata and index declarations go with it, its entry count is 0) or is
-- deleted (DeleteNamespace), in one short transaction, and the old id and
-- the name it had are recorded in unlinked. The engine's purger deletes the
-- old id's entries and index rows in short transactions of a few thousand
-- entries, writing the change_ends rows the delete trigger would have
-- written (it finds no namespace row for the old id), and removes the
-- unlinked row when nothing is left; Open resumes it.
--
-- entries' foreign key to namespaces(id) goes: an unlinked id's entries
-- outlive its namespace row. entries is rebuilt without it (SQLite cannot
-- drop a constraint); the rows keep their entry_id, and the index and the
-- triggers are created again exactly as they were at version 32.
--
-- Down deletes what is still unlinked (writing its change_ends, as the
-- purge would), rebuilds entries with the foreign key and drops unlinked.

-- +goose Up
CREATE TABLE unlinked (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    unlinked_at INTEGER NOT NULL
);
CREATE INDEX unlinked_name ON unlinked (name);

CREATE TABLE entries_new (
    entry_id        INTEGER PRIMARY KEY,
    namespace_id    INTEGER NOT NULL,
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
SELECT entry_id, namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision FROM entries ORDER BY entry_id;
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;
CREATE INDEX entries_expires_at ON entries (expires_at, namespace_id) WHERE expires_at IS NOT NULL;

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
CREATE TRIGGER changes_put_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at, new_entry)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version, NULL, NEW.updated_at, NEW.created_at, NEW.expires_at, 1);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_update AFTER UPDATE OF value, metadata, expires_at ON entries
WHEN (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
      OR OLD.value IS NOT NEW.value OR OLD.metadata IS NOT NEW.metadata)
 AND EXISTS (SELECT 1 FROM index_fields
             WHERE namespace_id = NEW.namespace_id
               AND (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
                    OR (CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END) -> path
                       IS NOT (CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END) -> path))
BEGIN
    DELETE FROM index_entries WHERE (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT OLD.namespace_id, field_id,
               CASE ot WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                       WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN ot IN ('integer', 'real') THEN CAST(ov AS REAL) ELSE 0 END,
               CASE WHEN ot = 'text' THEN ov ELSE '' END,
               OLD.key
        FROM (SELECT field_id, json_type(o, path) AS ot, json_extract(o, path) AS ov,
                     json_type(n, path) AS nt, json_extract(n, path) AS nv
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS o,
                           CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS n
                    FROM index_fields WHERE namespace_id = OLD.namespace_id)
              LIMIT -1 OFFSET 0)
        WHERE (OLD.key IS NOT NEW.key) OR (OLD.namespace_id IS NOT NEW.namespace_id) OR (ot IS NOT nt) OR (ov IS NOT nv));
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
        SELECT NEW.namespace_id, field_id,
               CASE nt WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                       WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN nt IN ('integer', 'real') THEN CAST(nv AS REAL) ELSE 0 END,
               CASE WHEN nt = 'text' THEN nv ELSE '' END,
               NEW.key, NEW.expires_at, NEW.entry_id
        FROM (SELECT field_id, json_type(o, path) AS ot, json_extract(o, path) AS ov,
                     json_type(n, path) AS nt, json_extract(n, path) AS nv
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS o,
                           CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS n
                    FROM index_fields WHERE namespace_id = NEW.namespace_id)
              LIMIT -1 OFFSET 0)
        WHERE (OLD.key IS NOT NEW.key) OR (OLD.namespace_id IS NOT NEW.namespace_id) OR (nt IS NOT ot) OR (nv IS NOT ov);
END;
-- +goose StatementEnd

-- +goose Down
INSERT OR IGNORE INTO change_ends (namespace, key, revision)
SELECT u.name, e.key, e.revision FROM entries e JOIN unlinked u ON u.id = e.namespace_id;
DELETE FROM index_entries WHERE ix_ns IN (SELECT id FROM unlinked);
DELETE FROM entries WHERE namespace_id IN (SELECT id FROM unlinked);
DROP TABLE unlinked;

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
SELECT entry_id, namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by, expires_at, revision, create_revision FROM entries ORDER BY entry_id;
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;
CREATE INDEX entries_expires_at ON entries (expires_at, namespace_id) WHERE expires_at IS NOT NULL;

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
CREATE TRIGGER changes_put_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at, new_entry)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version, NULL, NEW.updated_at, NEW.created_at, NEW.expires_at, 1);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER entries_index_update AFTER UPDATE OF value, metadata, expires_at ON entries
WHEN (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
      OR OLD.value IS NOT NEW.value OR OLD.metadata IS NOT NEW.metadata)
 AND EXISTS (SELECT 1 FROM index_fields
             WHERE namespace_id = NEW.namespace_id
               AND (OLD.key IS NOT NEW.key OR OLD.namespace_id IS NOT NEW.namespace_id
                    OR (CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END) -> path
                       IS NOT (CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END) -> path))
BEGIN
    DELETE FROM index_entries WHERE (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
        SELECT OLD.namespace_id, field_id,
               CASE ot WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                       WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN ot IN ('integer', 'real') THEN CAST(ov AS REAL) ELSE 0 END,
               CASE WHEN ot = 'text' THEN ov ELSE '' END,
               OLD.key
        FROM (SELECT field_id, json_type(o, path) AS ot, json_extract(o, path) AS ov,
                     json_type(n, path) AS nt, json_extract(n, path) AS nv
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS o,
                           CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS n
                    FROM index_fields WHERE namespace_id = OLD.namespace_id)
              LIMIT -1 OFFSET 0)
        WHERE (OLD.key IS NOT NEW.key) OR (OLD.namespace_id IS NOT NEW.namespace_id) OR (ot IS NOT nt) OR (ov IS NOT nv));
    INSERT INTO index_entries (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key, ix_exp, ix_entry)
        SELECT NEW.namespace_id, field_id,
               CASE nt WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
                       WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END,
               CASE WHEN nt IN ('integer', 'real') THEN CAST(nv AS REAL) ELSE 0 END,
               CASE WHEN nt = 'text' THEN nv ELSE '' END,
               NEW.key, NEW.expires_at, NEW.entry_id
        FROM (SELECT field_id, json_type(o, path) AS ot, json_extract(o, path) AS ov,
                     json_type(n, path) AS nt, json_extract(n, path) AS nv
              FROM (SELECT field_id, path, CASE col WHEN 1 THEN OLD.metadata ELSE OLD.value END AS o,
                           CASE col WHEN 1 THEN NEW.metadata ELSE NEW.value END AS n
                    FROM index_fields WHERE namespace_id = NEW.namespace_id)
              LIMIT -1 OFFSET 0)
        WHERE (OLD.key IS NOT NEW.key) OR (OLD.namespace_id IS NOT NEW.namespace_id) OR (nt IS NOT ot) OR (nv IS NOT ov);
END;
-- +goose StatementEnd
