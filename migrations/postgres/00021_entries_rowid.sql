-- Nothing on PostgreSQL: on SQLite, 00021 gives entries a stable rowid
-- (entry_id INTEGER PRIMARY KEY) that index_entries carries, so that a
-- query driven by a declared index reads each entry by rowid. The number is
-- taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
