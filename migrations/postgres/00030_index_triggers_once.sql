-- Nothing on PostgreSQL: on SQLite, 00030 makes the declared-index update
-- trigger compute each declared field's JSON type and value once per row
-- (PostgreSQL's entries_index_update, 00024, extracts each field of OLD
-- and NEW once into variables already). The number is taken so that both
-- dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
