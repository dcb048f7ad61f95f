-- The primary key of entries carries expires_at (INCLUDE), so that List and
-- Has read the index alone.
--
-- Their statements test each row's expiry (expires_at IS NULL OR
-- expires_at > now): with the primary key on (namespace_id, key) alone,
-- PostgreSQL read every listed entry's heap tuple for that one column (an
-- Index Scan with a Filter), where a hand-written program's key listing
-- is an Index Only Scan. With expires_at in the index's leaf tuples (not
-- a key column: uniqueness, ON CONFLICT (namespace_id, key) and the
-- joins by key are those of before), both are Index Only Scans, which
-- read no heap page for a page of the visibility map marked all-visible
-- (VACUUM, autovacuum). A write that changes an entry's expiry was
-- already not a HOT update (entries_expires_at indexes the column).
--
-- The index is built again (a lock on entries for the time it takes, as
-- any migration that rewrites an index); Down builds the plain one.

-- +goose Up
CREATE UNIQUE INDEX entries_key_expiry ON entries (namespace_id, key) INCLUDE (expires_at);
ALTER TABLE entries DROP CONSTRAINT entries_pkey,
    ADD CONSTRAINT entries_pkey PRIMARY KEY USING INDEX entries_key_expiry;

-- +goose Down
CREATE UNIQUE INDEX entries_key_plain ON entries (namespace_id, key);
ALTER TABLE entries DROP CONSTRAINT entries_pkey,
    ADD CONSTRAINT entries_pkey PRIMARY KEY USING INDEX entries_key_plain;
