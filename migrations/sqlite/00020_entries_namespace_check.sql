-- Nothing on SQLite: on PostgreSQL, 00020 replaces the foreign key of
-- entries.namespace_id by a check in the insert trigger. The number is
-- taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
