-- Nothing on PostgreSQL. On SQLite, 00015 replaces the per-key index of
-- the change log (changes_key) by prev_revision chains and two small
-- structures written when a key's life ends, because the index's random
-- insert on every put cost SQLite's write path about two WAL pages of
-- three and a half. PostgreSQL's write path already meets the target
-- with the index (issue 17: set and setMany with the log at 0.8x or more
-- of without), and its History and AtRevision reads keep using it. The
-- number is taken so that both dialects stay at the same version.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
