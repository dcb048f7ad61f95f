-- Namespace ids and declared fields' ids are never reused, so that an id
-- read and cached by a Store (nsInfo) can only name the namespace or field
-- it was read for: once that namespace is deleted or the field's index
-- dropped, the id selects no rows, whoever asks. Queries then need no check
-- of a cached id against the name in every statement (the engine reads the
-- ids again when a statement with cached ids finds nothing).
--
-- Namespace ids come from an identity column and are not reused.
-- namespaces.field_seq keeps the largest field id a namespace ever gave
-- (they were the largest in use plus one, so dropping the index with the
-- largest id let the next declaration take it again).

-- +goose Up
ALTER TABLE namespaces ADD COLUMN field_seq integer NOT NULL DEFAULT 0;
UPDATE namespaces n SET field_seq = COALESCE((SELECT max(f.field_id) FROM index_fields f WHERE f.namespace_id = n.id), 0);

-- +goose Down
ALTER TABLE namespaces DROP COLUMN field_seq;
