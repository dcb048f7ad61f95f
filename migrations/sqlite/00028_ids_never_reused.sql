-- Namespace ids and declared fields' ids are never reused, so that an id
-- read and cached by a Store (nsInfo) can only name the namespace or field
-- it was read for: once that namespace is deleted or the field's index
-- dropped, the id selects no rows, whoever asks. Queries then need no check
-- of a cached id against the name in every statement (the engine reads the
-- ids again when a statement with cached ids finds nothing).
--
-- SQLite gives a new row the largest rowid plus one, so deleting the
-- namespace with the largest id let the next one take it again:
-- change_log_state.namespace_seq keeps the largest id ever given, and the
-- engine's inserts name the id (namespace_seq + 1); the trigger keeps
-- namespace_seq up to date whatever inserts. namespaces.field_seq keeps the
-- largest field id a namespace ever gave (they were the largest in use plus
-- one).

-- +goose Up
ALTER TABLE namespaces ADD COLUMN field_seq INTEGER NOT NULL DEFAULT 0;
UPDATE namespaces SET field_seq = COALESCE((SELECT max(field_id) FROM index_fields f WHERE f.namespace_id = namespaces.id), 0);
ALTER TABLE change_log_state ADD COLUMN namespace_seq INTEGER NOT NULL DEFAULT 0;
UPDATE change_log_state SET namespace_seq = COALESCE((SELECT max(id) FROM namespaces), 0);

-- +goose StatementBegin
CREATE TRIGGER namespaces_id_seq AFTER INSERT ON namespaces
BEGIN
    UPDATE change_log_state SET namespace_seq = max(namespace_seq, NEW.id) WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER namespaces_id_seq;
ALTER TABLE change_log_state DROP COLUMN namespace_seq;
ALTER TABLE namespaces DROP COLUMN field_seq;
