-- Nothing on SQLite: on PostgreSQL, 00016 rewrites storage_take_revisions
-- (revisions from sequences, 00010) with simple expressions. The number is
-- taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
