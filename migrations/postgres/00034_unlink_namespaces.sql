-- Clear and a recursive DeleteNamespace unlink the namespace's entries
-- instead of deleting them (PostgreSQL; on SQLite since 00033).
--
-- Deleting a namespace's entries in the statement of a Clear or a
-- DeleteNamespace held the store's revision lock (sqlstore/revlock.go)
-- for the whole delete (2.9 s for a Clear of 100k entries with two
-- indexes, 1.0 s for a DeleteNamespace), so every other namespace's
-- writes waited. Now, in the operation's one short statement or
-- transaction, the namespace's row moves to a fresh id (Clear: UPDATE
-- namespaces SET id = DEFAULT, with its name, metadata and declared
-- fields, entry_count 0) or is deleted (DeleteNamespace), and the old id
-- and the name it had are recorded in unlinked. The engine's purger
-- deletes the old id's index rows and entries in short transactions of a
-- few thousand rows that take no revision, so not the revision lock, and
-- removes the unlinked row when nothing is left; Open resumes it. Several
-- stores on one database share the work: a purger holds the unlinked row
-- it works on FOR UPDATE SKIP LOCKED.
--
-- entries has had no foreign key to namespaces since 00020: its
-- namespaces_entries_check raises when a deleted namespace still has
-- entries; it now lets an unlinked id's row go with its entries left.
--
-- Down deletes what is still unlinked (index rows, then entries: their
-- delete trigger finds no namespace and no declared field for the old
-- id), drops unlinked and restores 00020's check.

-- +goose Up
CREATE TABLE unlinked (
    id          bigint PRIMARY KEY,
    name        text COLLATE "C" NOT NULL,
    unlinked_at timestamptz NOT NULL
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION namespaces_entries_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM unlinked WHERE id = OLD.id)
       AND EXISTS (SELECT 1 FROM entries WHERE namespace_id = OLD.id) THEN
        RAISE foreign_key_violation USING MESSAGE = 'delete from namespaces: the namespace still has entries',
            TABLE = 'namespaces', CONSTRAINT = 'entries_namespace_id_fkey';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
DELETE FROM index_entries WHERE ix_ns IN (SELECT id FROM unlinked);
DELETE FROM entries WHERE namespace_id IN (SELECT id FROM unlinked);
DROP TABLE unlinked;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION namespaces_entries_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM entries WHERE namespace_id = OLD.id) THEN
        RAISE foreign_key_violation USING MESSAGE = 'delete from namespaces: the namespace still has entries',
            TABLE = 'namespaces', CONSTRAINT = 'entries_namespace_id_fkey';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
