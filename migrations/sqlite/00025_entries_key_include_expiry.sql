-- Nothing on SQLite: on PostgreSQL, 00025 adds expires_at to the primary
-- key's index (INCLUDE) so that List and Has read the index alone; SQLite's
-- List already reads its index alone (listLiveCond in sqlstore/query.go).
-- The number is taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
