-- Expiry: when an entry expires, NULL for never. Every read compares it
-- with the engine's clock, passed as a parameter (never the database's
-- now()), so an expired entry is gone at once and both dialects agree; the
-- sweeper deletes the rows later. The partial index serves the sweeper
-- (oldest first) and the count of expired rows not yet swept, which Status
-- and the capacity subtract from the namespaces' entry_count.

-- +goose Up
ALTER TABLE entries ADD COLUMN expires_at timestamptz;
CREATE INDEX entries_expires_at ON entries (expires_at, namespace_id) WHERE expires_at IS NOT NULL;

-- +goose Down
DROP INDEX entries_expires_at;
ALTER TABLE entries DROP COLUMN expires_at;
