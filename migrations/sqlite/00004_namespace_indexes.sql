-- Declared indexes: the fields a namespace declared with storage.WithIndexes,
-- as a JSON array of field paths spelled as declared (e.g.
-- ["age","profile.city"]), so that export, import and copy can carry them.
-- The physical indexes on entries are shared by every namespace that
-- declares the same field; this column records which namespace asked.
-- It is JSON text, not a JSONB blob: ALTER TABLE ADD COLUMN takes only a
-- constant default, and the engine reads it whole.

-- +goose Up
ALTER TABLE namespaces ADD COLUMN indexes TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE namespaces DROP COLUMN indexes;
