-- Nothing on SQLite: on PostgreSQL, 00026 gives each store (schema) its own
-- revision lock key. A SQLite store is its own file, with its own write
-- lock. The number is taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
