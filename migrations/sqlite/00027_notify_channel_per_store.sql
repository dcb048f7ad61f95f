-- Nothing on SQLite: on PostgreSQL, 00027 gives each store (schema) its own
-- notification channel for the change feed's wake-ups. SQLite wakes the
-- watchers of its process directly and polls the file for other processes'
-- writes. The number is taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
