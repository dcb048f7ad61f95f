-- Nothing on SQLite: its times are integers (unix microseconds), finite by
-- nature. On PostgreSQL, 00031 reads infinite expiries as what they mean
-- and keeps entries' times finite. The number is taken so that both
-- dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
