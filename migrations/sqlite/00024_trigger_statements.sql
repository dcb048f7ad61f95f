-- Nothing on SQLite: on PostgreSQL, 00024 cuts the statements per firing
-- of the write triggers (the insert trigger skips its index insert, and
-- the update trigger its read of index_fields, in a namespace that declares
-- no field; changes_notify calls pg_notify without a query). The number is
-- taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
