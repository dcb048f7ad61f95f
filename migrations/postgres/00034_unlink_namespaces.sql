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
-- A repeatable-read or serializable transaction whose snapshot predates a
-- Clear still sees the namespace's old id. Its writes that create or
-- delete an entry update the namespace's row (entry_count) and those that
-- change a value, metadata or expiry lock it (entries_index_update, FOR
-- KEY SHARE): the row's id changed, so they fail with a serialization
-- failure, as they did when the Clear deleted the entries. A write of an
-- entry's same value, metadata and expiry fired no trigger, and would have
-- written the unlinked row and reported success: entries_index_update now
-- fires when the revision changes too (every write of the entry), and its
-- lock fails such a write the same way; for the rest it finds no field
-- whose value changed and does nothing.
--
-- Down deletes what is still unlinked (index rows, then entries: their
-- delete trigger finds no namespace and no declared field for the old
-- id), drops unlinked, restores 00020's check and 00018's trigger.

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

DROP TRIGGER entries_index_update ON entries;
CREATE TRIGGER entries_index_update AFTER UPDATE ON entries FOR EACH ROW
    WHEN (OLD.value IS DISTINCT FROM NEW.value OR OLD.metadata IS DISTINCT FROM NEW.metadata
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at OR OLD.revision IS DISTINCT FROM NEW.revision)
    EXECUTE FUNCTION entries_index_update();

-- +goose Down
DROP TRIGGER entries_index_update ON entries;
CREATE TRIGGER entries_index_update AFTER UPDATE ON entries FOR EACH ROW
    WHEN (OLD.value IS DISTINCT FROM NEW.value OR OLD.metadata IS DISTINCT FROM NEW.metadata
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
    EXECUTE FUNCTION entries_index_update();

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
