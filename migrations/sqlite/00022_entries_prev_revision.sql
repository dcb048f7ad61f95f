-- Nothing on SQLite: on PostgreSQL, 00022 adds entries.prev_revision, which
-- the upsert of a single Set fills with the revision it overwrites instead
-- of reading it with a probe of its own. The number is taken so that both
-- dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
