-- Nothing on SQLite: its write triggers index every field recorded in
-- index_fields, declared or being built. On PostgreSQL, 00032 makes them
-- index a field whose index is being built too (namespaces.index_building).
-- The number is taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
