-- Revisions and the change log.
--
-- Every committed change gets a revision from one store-wide sequence,
-- kept in revision_counter (the last revision given). SQLite has one
-- writer, so revisions become visible in commit order by construction.
-- entries.revision is the revision of the entry's last change,
-- create_revision that of its creation; namespaces.revision that of the
-- namespace's creation (or its last metadata change by an import).
--
-- changes holds one row per change (kind: put, delete, expire, clear,
-- namespace_create, namespace_delete, namespace_metadata, metadata), with
-- the namespace by name, the key (NULL for namespace-level events), the
-- value (puts only), the entry's metadata and version, and the key's
-- previous revision (NULL when the key did not exist, or had expired).
--
-- Who writes the rows: the triggers below for puts (an INSERT into
-- entries, or an UPDATE that sets value) and for namespace creation,
-- deletion and metadata changes; the engine for deletes, expiries,
-- metadata changes and clears (sqlstore). Every insert into changes moves
-- revision_counter forward.
--
-- Existing rows get revisions: namespaces first, in name order, then
-- entries in rowid order (distinct, not necessarily consecutive); the
-- change log starts empty.

-- +goose Up
CREATE TABLE revision_counter (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    current INTEGER NOT NULL
);

CREATE TABLE changes (
    revision      INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (kind IN ('put', 'delete', 'expire', 'clear', 'namespace_create',
                                                   'namespace_delete', 'namespace_metadata', 'metadata')),
    namespace     TEXT    NOT NULL,
    key           TEXT,
    value         BLOB,
    metadata      BLOB,
    version       INTEGER,
    prev_revision INTEGER,
    created_at    INTEGER NOT NULL
);

ALTER TABLE entries ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN create_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE namespaces ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

UPDATE namespaces SET revision = (SELECT count(*) FROM namespaces m WHERE m.name <= namespaces.name);

UPDATE entries SET revision = (SELECT count(*) FROM namespaces) + rowid,
                   create_revision = (SELECT count(*) FROM namespaces) + rowid;

INSERT INTO revision_counter (id, current)
VALUES (1, (SELECT count(*) FROM namespaces) + (SELECT COALESCE(max(rowid), 0) FROM entries));

-- +goose StatementBegin
CREATE TRIGGER changes_counter AFTER INSERT ON changes
BEGIN
    UPDATE revision_counter SET current = NEW.revision WHERE id = 1 AND current < NEW.revision;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_put_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version, NULL, NEW.updated_at);
END;
-- +goose StatementEnd

-- An overwrite of an expired row (not yet swept) has no previous revision:
-- the key did not exist.
-- +goose StatementBegin
CREATE TRIGGER changes_put_update AFTER UPDATE OF value ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version,
            CASE WHEN OLD.expires_at IS NULL OR OLD.expires_at > NEW.updated_at THEN OLD.revision END,
            NEW.updated_at);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_namespace_insert AFTER INSERT ON namespaces
BEGIN
    INSERT INTO changes (revision, kind, namespace, metadata, created_at)
    VALUES ((SELECT current + 1 FROM revision_counter WHERE id = 1), 'namespace_create', NEW.name, NEW.metadata, NEW.created_at);
    UPDATE namespaces SET revision = (SELECT current FROM revision_counter WHERE id = 1) WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_namespace_delete AFTER DELETE ON namespaces
BEGIN
    INSERT INTO changes (revision, kind, namespace, prev_revision, created_at)
    VALUES ((SELECT current + 1 FROM revision_counter WHERE id = 1), 'namespace_delete', OLD.name, OLD.revision,
            CAST(unixepoch('subsec') * 1000000 AS INTEGER));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER changes_namespace_metadata AFTER UPDATE OF metadata ON namespaces
BEGIN
    INSERT INTO changes (revision, kind, namespace, metadata, prev_revision, created_at)
    VALUES ((SELECT current + 1 FROM revision_counter WHERE id = 1), 'namespace_metadata', NEW.name, NEW.metadata, OLD.revision,
            CAST(unixepoch('subsec') * 1000000 AS INTEGER));
    UPDATE namespaces SET revision = (SELECT current FROM revision_counter WHERE id = 1) WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER changes_namespace_metadata;
DROP TRIGGER changes_namespace_delete;
DROP TRIGGER changes_namespace_insert;
DROP TRIGGER changes_put_update;
DROP TRIGGER changes_put_insert;
DROP TRIGGER changes_counter;
ALTER TABLE namespaces DROP COLUMN revision;
ALTER TABLE entries DROP COLUMN create_revision;
ALTER TABLE entries DROP COLUMN revision;
DROP TABLE changes;
DROP TABLE revision_counter;
