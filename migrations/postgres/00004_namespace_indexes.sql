-- Declared indexes: the fields a namespace declared with storage.WithIndexes,
-- as a JSON array of field paths spelled as declared (e.g.
-- ["age","profile.city"]), so that export, import and copy can carry them.
-- The physical indexes on entries are shared by every namespace that
-- declares the same field; this column records which namespace asked.

-- +goose Up
ALTER TABLE namespaces ADD COLUMN indexes jsonb NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE namespaces DROP COLUMN indexes;
