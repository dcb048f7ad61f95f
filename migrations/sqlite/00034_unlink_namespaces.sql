-- Nothing on SQLite: on PostgreSQL, 00034 adds the table unlinked, so
-- that Clear and a recursive DeleteNamespace unlink a namespace's entries
-- there too (SQLite has done so since 00033). The number is taken so that
-- both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
