-- Entries' times are finite. PostgreSQL's timestamptz has 'infinity' and
-- '-infinity', which no Go time.Time represents: a row given one by a
-- statement outside the engine could not be read (Get, Query, GetMany,
-- export failed with the driver's "cannot scan Infinity" text, an
-- internal error on the wire), and a KeepTTL overwrite copied it into the
-- change log, where Watch and History failed on it too.
--
-- Up reads the two as what they mean to the engine: an expiry at
-- 'infinity' is none (the entry lives until deleted), one at '-infinity'
-- is long past (the entry is expired: the Unix epoch, which the sweeper
-- removes as any other expired entry), in entries (through the expiry
-- index) and in the change log. Then a CHECK keeps every new or updated
-- entry's created_at, updated_at and expires_at finite: a statement
-- outside the engine that writes an infinite time fails with
-- check_violation (23514) instead of leaving a row the engine cannot
-- read. The engine's own writes always pass it. NOT VALID: the table is
-- not scanned (an infinite created_at or updated_at, which the engine
-- never writes, stays until the row is next written).

-- +goose Up
UPDATE entries SET expires_at = NULL WHERE expires_at = 'infinity'::timestamptz;
UPDATE entries SET expires_at = 'epoch'::timestamptz WHERE expires_at = '-infinity'::timestamptz;
UPDATE changes SET expires_at = NULL WHERE expires_at = 'infinity'::timestamptz;
UPDATE changes SET expires_at = 'epoch'::timestamptz WHERE expires_at = '-infinity'::timestamptz;
ALTER TABLE entries ADD CONSTRAINT entries_times_finite
    CHECK (isfinite(created_at) AND isfinite(updated_at) AND (expires_at IS NULL OR isfinite(expires_at))) NOT VALID;

-- +goose Down
ALTER TABLE entries DROP CONSTRAINT entries_times_finite;
