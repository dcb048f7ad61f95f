-- Nothing on SQLite: on PostgreSQL, 00018 makes the index update trigger
-- of entries a row trigger with a WHEN clause (SQLite's triggers are per
-- row already). The number is taken so that both dialects stay at the same
-- version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
