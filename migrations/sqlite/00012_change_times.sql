-- The entry's creation time and expiry in the change log (History, Get at
-- a past revision, Watch: storage.Event.CreatedAt and ExpiresAt).
--
-- changes.entry_created_at is the entry's created_at after a put or a
-- metadata change (the start of the key's current life; changes.created_at
-- stays the time of the change), changes.expires_at its expires_at then
-- (NULL: none). Both are NULL on the other kinds of change, and on the rows
-- logged before this version: old history reports a zero CreatedAt and
-- ExpiresAt (unknown, not "no expiry").
--
-- The put triggers of 00007 are rewritten to fill them; the engine fills
-- them for metadata changes (sqlstore).

-- +goose Up
ALTER TABLE changes ADD COLUMN entry_created_at INTEGER;
ALTER TABLE changes ADD COLUMN expires_at INTEGER;

DROP TRIGGER changes_put_insert;
DROP TRIGGER changes_put_update;

-- +goose StatementBegin
CREATE TRIGGER changes_put_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at,
                         entry_created_at, expires_at)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version, NULL, NEW.updated_at, NEW.created_at, NEW.expires_at);
END;
-- +goose StatementEnd

-- An overwrite of an expired row (not yet swept) has no previous revision:
-- the key did not exist.
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

-- +goose Down
DROP TRIGGER changes_put_insert;
DROP TRIGGER changes_put_update;

-- +goose StatementBegin
CREATE TRIGGER changes_put_insert AFTER INSERT ON entries
BEGIN
    INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, prev_revision, created_at)
    VALUES (NEW.revision, 'put', (SELECT name FROM namespaces WHERE id = NEW.namespace_id), NEW.key,
            NEW.value, NEW.metadata, NEW.version, NULL, NEW.updated_at);
END;
-- +goose StatementEnd

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

ALTER TABLE changes DROP COLUMN expires_at;
ALTER TABLE changes DROP COLUMN entry_created_at;
